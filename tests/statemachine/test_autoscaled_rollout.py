"""One rollout end to end through the real template and state machine on an auto-scaled endpoint (issue 12): v1's
variant scales with the traffic under a target tracking policy; v2 is promoted (SageMaker would refuse a Promote
that left v1 registered), the canary config kept v1 at its live instance count, and v2's variant carries the same
scalable target and policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# 10 requests a second is 600 a minute: against 200 invocations per instance a minute, target tracking wants three
# instances where v1's config has one.
TARGET = 200.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=17) as running:
        yield running


def resource(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def registration(aas: Any, endpoint: str, variant: str) -> tuple[list[tuple[int, int]], list[dict[str, Any]]]:
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint, variant)])
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint, variant))
    return [(t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]], policies["ScalingPolicies"]


def live_count(sm: Any, endpoint: str, variant: str) -> int:
    described = sm.describe_endpoint(EndpointName=endpoint)
    return int(next(v for v in described["ProductionVariants"] if v["VariantName"] == variant)["CurrentInstanceCount"])


def test_a_rollout_on_an_auto_scaled_endpoint_carries_the_scaling_to_the_promoted_variant(sandbox: Sandbox) -> None:
    model = f"as-{uuid.uuid4().hex[:6]}"
    sm, aas = sandbox.client("sagemaker"), sandbox.client("application-autoscaling")
    sandbox.put_config(model, f"image: {IMAGE}\n")
    sandbox.send_traffic(model, TrafficProfile(rps=10))
    try:
        first = sandbox.wait_for_rollout(
            sandbox.upload(model, "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1")), timeout=180
        )
        assert first.outcome == "promoted", first.cause
        v1 = sm.describe_endpoint(EndpointName=model)["ProductionVariants"][0]["VariantName"]
        aas.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource(model, v1), ScalableDimension=DIMENSION,
            MinCapacity=1, MaxCapacity=6,
        )  # fmt: skip
        policy = {"TargetValue": TARGET, "PredefinedMetricSpecification": {
            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}  # fmt: skip
        aas.put_scaling_policy(
            PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=resource(model, v1),
            ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=policy,
        )  # fmt: skip
        for _ in range(60):  # the traffic above the target scales v1 out
            if live_count(sm, model, v1) >= 2 and sm.describe_endpoint(EndpointName=model)["EndpointStatus"] == (
                "InService"
            ):
                break
            sandbox.advance(60)
        grown = live_count(sm, model, v1)
        assert grown >= 2

        upload = sandbox.upload(model, "v2", package_model(DEMO_MODELS / "fraud-scorer" / "v2"))
        canary: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not canary and time.monotonic() < deadline:  # the canary config, before Finalize deletes it
            described = sm.describe_endpoint(EndpointName=model)
            if len(described["ProductionVariants"]) == 2:
                config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
                canary = config["ProductionVariants"]
            time.sleep(0.02)
        outcome = sandbox.wait_for_rollout(upload, timeout=240)
    finally:
        assert sandbox.dataplane is not None
        sandbox.dataplane.stop_traffic(model)
    assert outcome.outcome == "promoted", outcome.cause

    [planned] = outcome.task_results("Plan Deployment")
    scaling = planned["scaling"]
    assert (scaling["variant"], scaling["min_capacity"], scaling["max_capacity"]) == (v1, 1, 6)
    assert scaling["live_instance_count"] >= 2
    # the canary config kept v1 at its live count, not at the one instance of its original config
    counts = {v["VariantName"]: v["InitialInstanceCount"] for v in canary}
    v2 = planned["candidate_variant"]
    assert counts[v1] >= scaling["live_instance_count"] >= 2
    assert counts[v2] == -(-counts[v1] * 50 // 100)  # sized for its largest step, 50%, rounded up

    [finalized] = outcome.task_results("Finalize Promotion")
    assert finalized["scaling"].startswith(f"variant {v2} registered for auto scaling (1-6 instances, invocations)")
    assert registration(aas, model, v1) == ([], [])
    bounds, policies = registration(aas, model, v2)
    assert bounds == [(1, 6)]
    assert [(p["PolicyName"], p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]) for p in policies] == [
        ("invocations", TARGET)
    ]
    described = sm.describe_endpoint(EndpointName=model)
    assert [v["VariantName"] for v in described["ProductionVariants"]] == [v2]
