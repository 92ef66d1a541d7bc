"""A rollout on an auto-scaled endpoint, step by step through the handlers against the embedded AWS (issue 12): Plan
reads the current variant's scaling, Deploy keeps the live fleet, Promote deregisters the current variant so
SageMaker accepts the update, Finalize registers the promoted variant the same way, Roll Back restores it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from support import IMAGE, hold_lease

NOW = "2026-11-25T12:00:00Z"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY = {
    "TargetValue": 70.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
}


def settle(stack: Any, endpoint: str) -> dict[str, Any]:
    sm = stack.client("sagemaker")
    for _ in range(500):
        described: dict[str, Any] = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in {"Creating", "Updating", "Deleting"}:
            return described
        time.sleep(0.02)
    raise AssertionError(f"{endpoint} did not settle")


def resource(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def registration(stack: Any, endpoint: str, variant: str) -> tuple[tuple[int, int] | None, list[dict[str, Any]]]:
    """What DescribeScalableTargets and DescribeScalingPolicies show for the variant."""
    aas = stack.client("application-autoscaling")
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint, variant)])
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint, variant))
    bounds = [(t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]]
    return (bounds[0] if bounds else None), policies["ScalingPolicies"]


def variants(stack: Any, config: str) -> dict[str, int]:
    found = stack.client("sagemaker").describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    return {v["VariantName"]: v["InitialInstanceCount"] for v in found}


@pytest.fixture
def scaled(stack: Any, upload: Any, handler: Any) -> dict[str, Any]:
    """v1 promoted, its variant registered for auto scaling within 3-6 instances (which grows it from its config's
    one instance to three) with a target tracking policy; v2 validated and registered, its rollout holding the
    endpoint."""
    model = f"as-{uuid.uuid4().hex[:8]}"
    state: dict[str, Any] = {"model": model}
    for version in ("v1", "v2"):
        event = upload(model=model, version=version, config=f"image: {IMAGE}\n")
        rollout = handler("validate_artifact")({"event": event, "execution_id": f"x:{version}", "now": NOW})
        registered = handler("register_model")({"rollout": rollout, "now": NOW})
        hold_lease(stack, rollout)
        state[version] = {"rollout": rollout, "registration": registered}
        if version == "v1":
            request = {**state["v1"], "now": NOW}
            deployment = handler("plan_deployment")(request)
            handler("deploy_candidate")({**request, "deployment": deployment})
            settle(stack, model)
            handler("finalize_promotion")({**request, "deployment": deployment})
            state["v1_variant"] = deployment["candidate_variant"]
            aas = stack.client("application-autoscaling")
            ids = {"ServiceNamespace": "sagemaker", "ResourceId": resource(model, deployment["candidate_variant"])}
            aas.register_scalable_target(**ids, ScalableDimension=DIMENSION, MinCapacity=3, MaxCapacity=6)
            aas.put_scaling_policy(
                **ids,
                ScalableDimension=DIMENSION,
                PolicyName="invocations",
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration=POLICY,
            )
            described = settle(stack, model)
            assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 3
    return state


def canary(stack: Any, handler: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Plan Deployment and Deploy Candidate for `request`, the endpoint settled on the canary config: the plan."""
    deployment: dict[str, Any] = handler("plan_deployment")(request)
    handler("deploy_candidate")({**request, "deployment": deployment})
    settle(stack, deployment["endpoint_name"])
    return deployment


def roll_back(
    stack: Any, handler: Any, request: dict[str, Any], deployment: dict[str, Any], failure: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Roll Back step after step, as the state machine repeats it, until it is not waiting: its last result and the
    steps it took."""
    steps: list[str] = []
    previous = None
    for _ in range(15):
        result = handler("roll_back")({**request, "deployment": deployment, "failure": failure, "previous": previous})
        steps.append(result["step"])
        if result["status"] != "waiting":
            break
        previous = result
        settle(stack, deployment["endpoint_name"])
    return result, steps


def test_plan_reads_the_scaling_deploy_keeps_the_live_fleet_promote_carries_the_scaling(
    stack: Any, handler: Any, scaled: dict[str, Any]
) -> None:
    model, v1 = scaled["model"], scaled["v1_variant"]
    request = {**scaled["v2"], "now": NOW}
    deployment = handler("plan_deployment")(request)
    scaling = deployment["scaling"]
    assert (scaling["variant"], scaling["min_capacity"], scaling["max_capacity"]) == (v1, 3, 6)
    assert scaling["live_instance_count"] == 3
    assert scaling["instance_type"] == "ml.m5.large"
    assert scaling["policies"] == [
        {"PolicyName": "invocations", "PolicyType": "TargetTrackingScaling",
         "TargetTrackingScalingPolicyConfiguration": POLICY}
    ]  # fmt: skip

    handler("deploy_candidate")({**request, "deployment": deployment})
    settle(stack, model)
    v2 = deployment["candidate_variant"]
    # the current variant stays at the three instances auto scaling gave it (its config says one); the candidate
    # gets the fleet's size at its largest step, 50%: ceil(3 x 0.5) = 2
    assert variants(stack, deployment["canary_config"]) == {v1: 3, v2: 2}
    assert registration(stack, model, v1)[0] == (3, 6)  # a canary leaves the current variant's scaling alone

    handler("promote_candidate")({"rollout": request["rollout"], "deployment": deployment, "now": NOW})
    assert registration(stack, model, v1) == (None, [])  # deregistered, or SageMaker would refuse the update
    described = settle(stack, model)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == deployment["final_config"]
    # The whole traffic: what serves all of it at Promote (3 + 2 instances; more than Plan's 3, which auto scaling
    # may have scaled in during the canary), within the registered 3-6; auto scaling takes it from there.
    assert variants(stack, deployment["final_config"]) == {v2: 5}

    finalized = handler("finalize_promotion")({**request, "deployment": deployment})
    assert finalized["approved"] is True
    assert finalized["scaling"].startswith(f"variant {v2} registered for auto scaling (3-6 instances, invocations)")
    bounds, policies = registration(stack, model, v2)
    assert bounds == (3, 6)
    assert [(p["PolicyName"], p["TargetTrackingScalingPolicyConfiguration"]) for p in policies] == [
        ("invocations", POLICY)
    ]


def test_rollback_after_promote_restores_the_current_variants_registration(
    stack: Any, handler: Any, scaled: dict[str, Any]
) -> None:
    model, v1 = scaled["model"], scaled["v1_variant"]
    request = {**scaled["v2"], "now": NOW}
    deployment = canary(stack, handler, request)
    handler("promote_candidate")({"rollout": request["rollout"], "deployment": deployment, "now": NOW})
    assert registration(stack, model, v1)[0] is None
    settle(stack, model)

    failure = {"error": "EndpointNotReady", "cause": "the promotion failed", "state": "Await Promoted"}
    result, steps = roll_back(stack, handler, request, deployment, failure)
    assert result["status"] == "done", result
    assert result["verified"] is True
    assert steps[0] == "restore_config"
    # v1's config says one instance, and it served with three at Plan: it gets three again, then its registration.
    assert steps.index("restore_capacity") < steps.index("restore_scaling")
    [(variant, count)] = [
        (v["VariantName"], v["CurrentInstanceCount"])
        for v in stack.client("sagemaker").describe_endpoint(EndpointName=model)["ProductionVariants"]
    ]
    assert (variant, count) == (v1, 3)
    bounds, policies = registration(stack, model, v1)
    assert bounds == (3, 6)
    assert [(p["PolicyName"], p["TargetTrackingScalingPolicyConfiguration"]) for p in policies] == [
        ("invocations", POLICY)
    ]
    assert (
        stack.client("sagemaker").describe_endpoint(EndpointName=model)["EndpointConfigName"]
        == deployment["previous_config"]
    )


def test_a_rollback_during_the_canary_leaves_the_registration_as_it_is(
    stack: Any, handler: Any, scaled: dict[str, Any]
) -> None:
    model, v1 = scaled["model"], scaled["v1_variant"]
    request = {**scaled["v2"], "now": NOW}
    deployment = canary(stack, handler, request)
    failure = {"error": "CanaryFailed", "cause": "errors", "state": "Judge Canary"}
    result, steps = roll_back(stack, handler, request, deployment, failure)
    assert result["status"] == "done", result
    assert "restore_scaling" not in steps
    assert registration(stack, model, v1)[0] == (3, 6)
    # The current variant takes the traffic back at the count auto scaling gave it (3), not its config's 1: the
    # rollback's update retains the variant's properties (RetainAllVariantProperties).
    described = stack.client("sagemaker").describe_endpoint(EndpointName=model)
    assert described["EndpointConfigName"] == deployment["previous_config"]
    assert [(v["VariantName"], v["CurrentInstanceCount"]) for v in described["ProductionVariants"]] == [(v1, 3)]


def test_candidate_sizing_instance_count_gives_the_candidate_the_configs_count(
    stack: Any, upload: Any, handler: Any, scaled: dict[str, Any]
) -> None:
    model, v1 = scaled["model"], scaled["v1_variant"]
    config = f"image: {IMAGE}\ninstance_count: 4\ncandidate_sizing: instance_count\n"
    event = upload(model=model, version="v3", config=config)
    rollout = handler("validate_artifact")({"event": event, "execution_id": "x:v3", "now": NOW})
    request = {
        "rollout": rollout,
        "registration": handler("register_model")({"rollout": rollout, "now": NOW}),
        "now": NOW,
    }
    hold_lease(stack, rollout)
    deployment = canary(stack, handler, request)
    # the current variant still keeps its live three instances; the candidate gets rollout.yaml's four, not ceil(3 x 50%)
    assert variants(stack, deployment["canary_config"]) == {v1: 3, deployment["candidate_variant"]: 4}
