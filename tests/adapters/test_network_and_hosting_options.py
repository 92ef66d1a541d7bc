"""The EC2 network adapter on plain moto, and the hosting adapters' VPC, isolation and key parameters against the
embedded SageMaker (issue 12)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.endpoints import SageMakerEndpoints
from mlrollout.adapters.monitoring import SageMakerMonitoring
from mlrollout.adapters.network import Ec2Network
from mlrollout.ports import DataQualityJob, ModelNetwork
from support import IMAGE

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def test_the_network_adapter_reports_the_subnets_and_groups_that_exist_with_their_vpc(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1b")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="model", Description="model", VpcId=vpc)["GroupId"]
    network = Ec2Network(ec2)
    missing_subnet, missing_group = "subnet-0123456789abcdef0", "sg-0123456789abcdef0"

    subnets = network.subnets([a, b, missing_subnet])  # an unknown id is absent, not an error for the whole call
    assert set(subnets) == {a, b}
    assert {s.vpc_id for s in subnets.values()} == {vpc}
    assert {s.availability_zone for s in subnets.values()} == {"us-east-1a", "us-east-1b"}
    groups = network.security_groups([group, missing_group])
    assert set(groups) == {group}
    assert groups[group].vpc_id == vpc


def test_create_model_sends_the_vpc_isolation_and_private_registry(stack: Any) -> None:
    sm = stack.client("sagemaker")
    endpoints = SageMakerEndpoints(sm)
    name = f"m-{uuid.uuid4().hex[:8]}"
    network = ModelNetwork(
        subnets=("subnet-0123456789abcdef0", "subnet-0123456789abcdef1"),
        security_groups=("sg-0123456789abcdef0",),
        isolated=True,
        private_registry=True,
    )
    role = "arn:aws:iam::123456789012:role/sm"
    endpoints.create_model(name, "registry.corp.example/llm:1", "s3://b/k", {}, role, {}, network=network)
    described = sm.describe_model(ModelName=name)
    assert described["VpcConfig"] == {
        "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }
    assert described["EnableNetworkIsolation"] is True
    assert described["PrimaryContainer"]["ImageConfig"] == {"RepositoryAccessMode": "Vpc"}

    plain = f"m-{uuid.uuid4().hex[:8]}"
    endpoints.create_model(plain, IMAGE, "s3://b/k", {}, role, {})
    described = sm.describe_model(ModelName=plain)
    assert "ImageConfig" not in described["PrimaryContainer"] and not described.get("VpcConfig")

    config = f"c-{uuid.uuid4().hex[:8]}"
    variant = {"VariantName": "v1", "ModelName": plain, "InstanceType": "ml.g5.12xlarge", "InitialInstanceCount": 1,
               "InitialVariantWeight": 1.0, "ContainerStartupHealthCheckTimeoutInSeconds": 1200}  # fmt: skip
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b/c",
               "CaptureOptions": [{"CaptureMode": "Input"}], "KmsKeyId": KEY}  # fmt: skip
    endpoints.create_config(config, [variant], capture, {}, kms_key=KEY)
    described = sm.describe_endpoint_config(EndpointConfigName=config)
    assert described["KmsKeyId"] == KEY
    assert described["ProductionVariants"][0]["ContainerStartupHealthCheckTimeoutInSeconds"] == 1200


def test_the_monitoring_job_runs_in_the_models_network_with_its_volume_key(stack: Any) -> None:
    sm = stack.client("sagemaker")
    name = f"dq-{uuid.uuid4().hex[:8]}"
    job = DataQualityJob(
        name=name,
        endpoint="ep",
        image_uri=IMAGE,
        role_arn="arn:aws:iam::123456789012:role/sm",
        statistics_uri="s3://b/baselines/statistics.json",
        constraints_uri="s3://b/baselines/constraints.json",
        output_uri="s3://b/monitoring/ep",
        instance_type="ml.m5.large",
        max_runtime_seconds=1800,
        tags={},
        subnets=("subnet-0123456789abcdef0",),
        security_groups=("sg-0123456789abcdef0",),
        network_isolation=True,
        volume_kms_key=KEY,
    )
    SageMakerMonitoring(sm).create_data_quality_job(job)
    described = sm.describe_data_quality_job_definition(JobDefinitionName=name)
    assert described["NetworkConfig"] == {
        "EnableNetworkIsolation": True,
        "VpcConfig": {"Subnets": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"]},
    }
    assert described["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
