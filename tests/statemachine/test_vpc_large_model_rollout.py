"""One rollout end to end through the real template and state machine with a model in a VPC, isolated, on its
own KMS keys, with a large model's variant options (issue 12): the settings reach SageMaker's model and endpoint
config. The stack lists the VPC and the keys (ModelVpcIds, ModelKmsKeyArns), as an operator would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import mlrollout_sandbox.deployer as deployer
from mlrollout_files.package import package_model
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
NETWORK: dict[str, Any] = {}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    original = deployer.deploy_template

    def with_network(aws: Any, *args: Any, parameters: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        # The VPC and the key exist before the stack that lists them, as in an account.
        ec2, kms = aws.client("ec2"), aws.client("kms")
        vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"][
                "SubnetId"
            ]
            for i, zone in enumerate("ab", start=1)
        ]
        group = ec2.create_security_group(GroupName="model", Description="model", VpcId=vpc)["GroupId"]
        key = kms.create_key(Description="endpoint volumes and capture")["KeyMetadata"]["Arn"]
        NETWORK.update(vpc=vpc, subnets=subnets, group=group, key=key)
        listed = {**(parameters or {}), "ModelVpcIds": vpc, "ModelKmsKeyArns": key}
        return original(aws, *args, parameters=listed, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deployer, "deploy_template", with_network)
        with Sandbox(warp=600, seed=11) as running:
            yield running


def test_a_vpc_isolated_encrypted_large_model_reaches_sagemaker_as_configured(sandbox: Sandbox) -> None:
    model = f"llm-{uuid.uuid4().hex[:6]}"
    sandbox.put_config(
        model,
        f"""image: {IMAGE}
instance_type: ml.g5.12xlarge
vpc:
  subnets: [{", ".join(NETWORK["subnets"])}]
  security_groups: [{NETWORK["group"]}]
network_isolation: true
kms_key: {NETWORK["key"]}
data_capture:
  kms_key: {NETWORK["key"]}
volume_size_gb: 300
model_data_download_timeout: 1800
container_startup_health_check_timeout: 1200
""",
    )
    upload = sandbox.upload(model, "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1"))
    outcome = sandbox.wait_for_rollout(upload, timeout=180)
    assert outcome.outcome == "promoted", outcome.cause

    sm = sandbox.client("sagemaker")
    config_name = sm.describe_endpoint(EndpointName=model)["EndpointConfigName"]
    config = sm.describe_endpoint_config(EndpointConfigName=config_name)
    assert config["KmsKeyId"] == NETWORK["key"]
    assert config["DataCaptureConfig"]["KmsKeyId"] == NETWORK["key"]
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g5.12xlarge"
    assert (
        variant["VolumeSizeInGB"],
        variant["ModelDataDownloadTimeoutInSeconds"],
        variant["ContainerStartupHealthCheckTimeoutInSeconds"],
    ) == (300, 1800, 1200)
    described = sm.describe_model(ModelName=variant["ModelName"])
    assert described["VpcConfig"] == {"Subnets": NETWORK["subnets"], "SecurityGroupIds": [NETWORK["group"]]}
    assert described["EnableNetworkIsolation"] is True
