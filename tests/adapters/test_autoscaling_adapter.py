"""The Application Auto Scaling adapter on plain moto (issue 12, auto-scaled endpoints): a variant's scalable target
and policies read back as PutScalingPolicy takes them, registration, policies and deregistration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.autoscaling import ApplicationAutoScaling, ScalableTarget, resource_id

POLICY = {
    "PolicyName": "invocations",
    "PolicyType": "TargetTrackingScaling",
    "TargetTrackingScalingPolicyConfiguration": {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    },
}


@pytest.fixture
def aas() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("application-autoscaling", region_name="us-east-1")


def test_a_variant_nobody_registered_has_no_target_and_no_policies(aas: Any) -> None:
    scaling = ApplicationAutoScaling(aas)
    assert scaling.target("fraud", "v1") is None
    assert scaling.policies("fraud", "v1") == []
    assert scaling.deregister("fraud", "v1") is False  # nothing to deregister is not an error


def test_register_put_a_policy_read_them_back_and_deregister(aas: Any) -> None:
    scaling = ApplicationAutoScaling(aas)
    scaling.register("fraud", "v1", ScalableTarget(2, 6))
    scaling.put_policy("fraud", "v1", POLICY)
    # another variant of the same endpoint, and one whose name starts the same, are not this variant
    scaling.register("fraud", "v1-b", ScalableTarget(1, 3))
    scaling.put_policy("fraud", "v1-b", {**POLICY, "PolicyName": "other"})

    assert scaling.target("fraud", "v1") == ScalableTarget(2, 6)
    described = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id("fraud", "v1")])
    assert described["ScalableTargets"][0]["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    [policy] = scaling.policies("fraud", "v1")
    assert policy == POLICY  # without PolicyARN, Alarms, CreationTime and the old variant's resource id

    # what the adapter reads is what it writes: the policy carried to another variant is the same policy
    scaling.register("fraud", "v2", ScalableTarget(2, 6))
    scaling.put_policy("fraud", "v2", policy)
    assert scaling.policies("fraud", "v2") == [POLICY]

    assert scaling.deregister("fraud", "v1") is True
    assert scaling.target("fraud", "v1") is None
    assert scaling.target("fraud", "v1-b") == ScalableTarget(1, 3)


def test_suspended_scaling_is_carried_and_a_target_nobody_suspended_reads_as_none(aas: Any) -> None:
    scaling = ApplicationAutoScaling(aas)
    suspended = {
        "DynamicScalingInSuspended": True,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }
    scaling.register("fraud", "v1", ScalableTarget(1, 4, suspended))
    assert scaling.target("fraud", "v1") == ScalableTarget(1, 4, suspended)
    scaling.register("fraud", "v2", ScalableTarget(1, 4))
    assert scaling.target("fraud", "v2") == ScalableTarget(1, 4, None)
