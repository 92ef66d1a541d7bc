"""Serverless endpoints (issue 12): the config's ranges and refusals, Plan's refusal to change an endpoint's kind, and
what Deploy Candidate and Promote send, against a small working fake of the Endpoints port."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fakes import FakeEndpoints, held_lease
from mlrollout.contracts import DeployInput, Deployment, Expectation, PlanInput, PromoteInput, Registration
from mlrollout.domain.config import RolloutConfig, parse_config
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.services.deploy import deploy_candidate, plan_deployment, promote_candidate
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.settings import Settings
from support import IMAGE, a_rollout

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
SERVERLESS = {"serverless": {"memory_mb": 2048, "max_concurrency": 20}, "strategy": {"type": "all_at_once"}}
REGISTRATION = Registration(
    group_name="ep", package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ep/2", package_version=2
)


def config(**fields: Any) -> RolloutConfig:
    return parse_config({"image": IMAGE, **SERVERLESS, **fields}, model_name="fraud")


def problems(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config({"image": IMAGE, **document}, model_name="fraud")
    return caught.value.reason


# ----------------------------------------------------------------------------------------- the config


def test_a_serverless_config_carries_sagemakers_serverless_config() -> None:
    parsed = config(serverless={"memory_mb": 6144, "max_concurrency": 200, "provisioned_concurrency": 200})
    assert parsed.serverless is not None
    assert parsed.serverless.as_api() == {"MemorySizeInMB": 6144, "MaxConcurrency": 200, "ProvisionedConcurrency": 200}
    on_demand = config()
    assert on_demand.serverless is not None
    assert on_demand.serverless.as_api() == {"MemorySizeInMB": 2048, "MaxConcurrency": 20}


@pytest.mark.parametrize(
    ("serverless", "expected"),
    [
        ({"memory_mb": 1000, "max_concurrency": 1}, "serverless.memory_mb: must be one of 1024, 2048, 3072"),
        ({"memory_mb": 7168, "max_concurrency": 1}, "serverless.memory_mb: must be one of"),
        ({"memory_mb": 1024, "max_concurrency": 0}, "serverless.max_concurrency: Input should be greater than"),
        ({"memory_mb": 1024, "max_concurrency": 201}, "serverless.max_concurrency: Input should be less than or"),
        (
            {"memory_mb": 1024, "max_concurrency": 5, "provisioned_concurrency": 0},
            "serverless.provisioned_concurrency: Input should be greater than or equal to 1",
        ),
        (
            {"memory_mb": 1024, "max_concurrency": 5, "provisioned_concurrency": 6},
            "provisioned_concurrency (6) must be at most max_concurrency (5)",
        ),
        ({"max_concurrency": 5}, "serverless.memory_mb: required field is missing"),
    ],
)
def test_the_serverless_ranges_are_sagemakers(serverless: dict[str, Any], expected: str) -> None:
    assert expected in problems({"serverless": serverless, "strategy": {"type": "all_at_once"}})


def test_every_setting_a_serverless_endpoint_cannot_have_is_refused_at_once() -> None:
    reason = problems(
        {
            "serverless": {"memory_mb": 1000, "max_concurrency": 5},  # a field error, reported with the rest
            "instance_type": "ml.m5.large",
            "instance_count": 2,
            "candidate_sizing": "instance_count",
            "data_capture": {"sampling_percentage": 50},
            "monitoring": {"baseline_statistics": "s3://my-bucket/baselines/statistics.json"},
            "vpc": {"subnets": ["subnet-0123456789abcdef0"], "security_groups": ["sg-0123456789abcdef0"]},
            "network_isolation": True,
            "image_access": "vpc",
            "volume_size_gb": 30,
            "approval": "manual",
            "strategy": {"type": "canary", "steps": [10, 50], "shadow": {}},
        }
    )
    assert reason.startswith("models/fraud/rollout.yaml has 13 problems: ")
    for field, why in [
        ("serverless.memory_mb", "must be one of"),
        ("instance_type", "a serverless endpoint has no instances"),
        ("instance_count", "a serverless endpoint has no instances"),
        ("candidate_sizing", "a serverless endpoint has no instances to size"),
        ("data_capture", "SageMaker does not capture data on a serverless endpoint"),
        ("monitoring", "drift monitoring reads captured requests"),
        ("vpc", "SageMaker does not run a serverless endpoint's model in a VPC"),
        ("network_isolation", "SageMaker does not isolate a serverless endpoint's container"),
        ("image_access", "SageMaker pulls a serverless endpoint's image from Amazon ECR only"),
        ("volume_size_gb", "a serverless endpoint has no instance storage volume"),
        ("approval", "manual approval holds the candidate deployed without traffic"),
        ("strategy.type", "a serverless endpoint serves exactly one variant"),
        ("strategy.shadow", "a shadow variant is a second variant"),
    ]:
        assert f"{field}: {why}" in reason, field
    assert "remove `serverless` to roll out to an instance-based endpoint" in reason  # the fix, either way


def test_a_serverless_endpoint_must_say_all_at_once_itself() -> None:
    reason = problems({"serverless": {"memory_mb": 1024, "max_concurrency": 5}})
    assert "strategy.type: a serverless endpoint serves exactly one variant" in reason
    assert "(got 'canary')" in reason


def test_an_instance_based_config_is_untouched_by_the_serverless_rules() -> None:
    parsed = parse_config({"image": IMAGE, "instance_type": "ml.m5.xlarge", "approval": "manual"}, model_name="m")
    assert parsed.serverless is None and parsed.strategy.type == "canary"


# ------------------------------------------------------------------------------------------ the port


SERVERLESS_V1 = {
    "VariantName": "v1",
    "ModelName": "ep-v1",
    "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 5},
    "InitialVariantWeight": 1.0,
}
INSTANCES_V1 = {
    "VariantName": "v1",
    "ModelName": "ep-v1",
    "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 2,
    "InitialVariantWeight": 1.0,
}
INSTANCE_BASED = parse_config({"image": IMAGE}, model_name="ep")


def plan(endpoints: FakeEndpoints, parsed: RolloutConfig) -> Deployment:
    return plan_deployment(
        PlanInput(rollout=a_rollout(parsed), registration=REGISTRATION, now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
    )


def settings() -> Settings:
    return Settings(artifact_bucket="b", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm")


def lease() -> LeaseKeeper:
    return held_lease("ep", "d", NOW)


# ------------------------------------------------------------------------------------------ Plan


def test_plan_refuses_to_make_an_instance_based_endpoint_serverless_before_touching_it() -> None:
    endpoints = FakeEndpoints(INSTANCES_V1)
    with pytest.raises(ConfigInvalid) as caught:
        plan(endpoints, config())
    assert "endpoint ep is instance-based (ml.m5.large)" in caught.value.reason
    assert "SageMaker cannot update an instance-based endpoint to serverless" in caught.value.reason
    assert caught.value.fix is not None and "endpoint_name: ep-serverless" in caught.value.fix
    assert endpoints.writes == [] and endpoints.endpoints == {"ep": "ep-v1"}


def test_plan_refuses_to_make_a_serverless_endpoint_instance_based_as_it_could_not_roll_back() -> None:
    endpoints = FakeEndpoints(SERVERLESS_V1)
    with pytest.raises(ConfigInvalid) as caught:
        plan(endpoints, INSTANCE_BASED)
    assert "endpoint ep is serverless" in caught.value.reason
    assert "could not be rolled back" in caught.value.reason
    assert caught.value.fix is not None and "endpoint_name: ep-instances" in caught.value.fix
    assert "add `serverless: {memory_mb, max_concurrency}`" in caught.value.fix
    assert endpoints.writes == []


def test_plan_expects_a_serverless_update_to_switch_to_the_final_config_at_once() -> None:
    deployment = plan(FakeEndpoints(SERVERLESS_V1), config())
    assert deployment.expected == Expectation(config_name=deployment.final_config, weights={"v2": 1.0})
    assert (deployment.current_variant, deployment.previous_config) == ("v1", "ep-v1")


def test_plan_keeps_the_canary_expectation_for_instance_based_endpoints() -> None:
    deployment = plan(FakeEndpoints(INSTANCES_V1), INSTANCE_BASED)
    assert deployment.expected == Expectation(config_name=deployment.canary_config, weights={"v1": 1.0, "v2": 0.0})


# ---------------------------------------------------------------------------------- Deploy, Promote


def test_a_first_serverless_deployment_creates_a_serverless_config_without_data_capture() -> None:
    endpoints = FakeEndpoints()
    parsed = config(serverless={"memory_mb": 3072, "max_concurrency": 10, "provisioned_concurrency": 2})
    deployment = plan(endpoints, parsed)
    deploy_candidate(
        DeployInput(rollout=a_rollout(parsed), registration=REGISTRATION, deployment=deployment, now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    assert endpoints.configs[deployment.final_config] == {
        "ProductionVariants": [
            {
                "VariantName": "v2",
                "ModelName": deployment.candidate_model,
                "ServerlessConfig": {"MemorySizeInMB": 3072, "MaxConcurrency": 10, "ProvisionedConcurrency": 2},
                "InitialVariantWeight": 1.0,
            }
        ]
    }
    assert endpoints.endpoints == {"ep": deployment.final_config}


def test_a_serverless_update_switches_all_at_once_and_promote_changes_nothing_more() -> None:
    endpoints = FakeEndpoints(SERVERLESS_V1)
    rollout = a_rollout(config())
    deployment = plan(endpoints, rollout.config)
    expected = deploy_candidate(
        DeployInput(rollout=rollout, registration=REGISTRATION, deployment=deployment, now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    # One variant at a time: no canary config beside the live variant, one update to the candidate's config.
    final = deployment.final_config
    assert endpoints.writes == [f"create_model {deployment.candidate_model}", f"create_config {final}",
                                f"update_endpoint ep {final}"]  # fmt: skip
    assert [v["VariantName"] for v in endpoints.configs[final]["ProductionVariants"]] == ["v2"]
    assert "DataCaptureConfig" not in endpoints.configs[final]
    assert expected.config_name == final and expected.weights == {"v2": 1.0}
    promoted = promote_candidate(
        PromoteInput(rollout=rollout, deployment=deployment, now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    assert promoted.config_name == final and promoted.weights == {"v2": 1.0}
    assert endpoints.writes[3:] == []  # already on the final config: no second update (and no cold start)


def test_promote_updates_a_serverless_endpoint_not_yet_on_the_final_config() -> None:
    endpoints = FakeEndpoints(SERVERLESS_V1)
    rollout = a_rollout(config())
    deployment = plan(endpoints, rollout.config)
    promote_candidate(
        PromoteInput(rollout=rollout, deployment=deployment, now=NOW),
        endpoints=endpoints,  # type: ignore[arg-type]
        settings=settings(),
        lease=lease(),
    )
    final = deployment.final_config
    assert endpoints.writes == [f"create_config {final}", f"update_endpoint ep {final}"]
    assert "ServerlessConfig" in endpoints.configs[final]["ProductionVariants"][0]


def test_a_serverless_config_survives_each_steps_revalidation() -> None:
    """Every step re-validates the config it is handed: the instance-only defaults must not come back as set."""
    parsed = config()
    for mode in ("python", "json"):
        dumped = parsed.model_dump(mode=mode)  # type: ignore[arg-type]
        assert not {"instance_type", "instance_count", "candidate_sizing", "data_capture"} & set(dumped)
        assert RolloutConfig.model_validate(dumped) == parsed
    assert RolloutConfig.model_validate_json(parsed.model_dump_json()) == parsed
    assert a_rollout(parsed).model_validate(a_rollout(parsed).model_dump()).config == parsed
    instance_based = parse_config({"image": IMAGE}, model_name="m").model_dump()
    assert instance_based["instance_type"] == "ml.m5.large" and "data_capture" in instance_based
