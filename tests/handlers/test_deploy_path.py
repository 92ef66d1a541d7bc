"""Register, plan, deploy, pre-traffic check, promote and finalize against the embedded SageMaker."""

import time
import uuid
from typing import Any

import pytest

from mlrollout.domain.errors import (
    ConfigInvalid,
    EndpointChanging,
    PreTrafficCheckFailed,
    RollbackAlarmFiring,
)
from support import IMAGE, hold_lease

NOW = "2026-11-25T12:00:00Z"


def wait_in_service(stack: Any, endpoint: str, timeout: float = 10.0) -> dict[str, Any]:
    sm = stack.client("sagemaker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] not in {"Creating", "Updating"}:
            return dict(described)
        time.sleep(0.05)
    raise AssertionError(f"{endpoint} still changing after {timeout} s")


@pytest.fixture
def model() -> str:
    """A model (and endpoint) name of this test's own: the embedded AWS is shared by the session."""
    return f"fraud-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def rollout_of(stack: Any, upload: Any, handler: Any, model: str) -> Any:
    default_model = model

    def make(version: str, config: str = f"image: {IMAGE}\n", model: str = default_model) -> tuple[dict, dict]:
        event = upload(model=model, version=version, config=config, metadata={"git-sha": f"sha-{version}"})
        rollout = handler("validate_artifact")(
            {"event": event, "execution_id": f"arn:aws:states:us-east-1:123456789012:execution:m:{version}", "now": NOW}
        )
        registration = handler("register_model")({"rollout": rollout, "now": NOW})
        hold_lease(stack, rollout)
        return rollout, registration

    return make


def deploy(handler: Any, rollout: dict, registration: dict) -> dict:
    deployment = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    handler("deploy_candidate")(
        {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
    )
    return deployment


def promote(stack: Any, handler: Any, rollout: dict, registration: dict, deployment: dict) -> None:
    if not deployment["first_deployment"]:
        handler("promote_candidate")({"rollout": rollout, "deployment": deployment, "now": NOW})
        wait_in_service(stack, deployment["endpoint_name"])
    handler("finalize_promotion")(
        {"rollout": rollout, "registration": registration, "deployment": deployment, "now": NOW}
    )


def test_registration_is_pending_with_the_upload_metadata(stack: Any, rollout_of: Any, model: str) -> None:
    rollout, registration = rollout_of("v1")
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=registration["package_arn"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ModelPackageGroupName"] == model
    metadata = package["CustomerMetadataProperties"]
    assert metadata["upload:git-sha"] == "sha-v1"
    assert metadata["mlrollout:sha256"] == rollout["artifact"]["sha256"]
    artifact = rollout["artifact"]
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == f"s3://{artifact['bucket']}/{artifact['key']}"
    assert container["Image"] == IMAGE
    second = rollout_of("v2")[1]
    assert second["package_version"] == registration["package_version"] + 1


def test_first_deployment_creates_the_endpoint_with_data_capture(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    rollout, registration = rollout_of("v1")
    deployment = deploy(handler, rollout, registration)
    assert deployment["first_deployment"] is True
    assert deployment["expected"] == {
        "config_name": deployment["final_config"],
        "weights": {deployment["candidate_variant"]: 1.0},
        "wait_seconds": None,  # an ordinary model: the stack's EndpointWaitMinutes
    }
    described = wait_in_service(stack, model)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == deployment["final_config"]
    config = stack.client("sagemaker").describe_endpoint_config(EndpointConfigName=deployment["final_config"])
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["DestinationS3Uri"] == f"s3://{stack.bucket}/capture/{model}"
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}

    promote(stack, handler, rollout, registration, deployment)
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=registration["package_arn"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert f"created endpoint {model}" in package["ApprovalDescription"]


def test_a_new_version_joins_the_current_one_at_weight_zero_then_takes_over(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    v1, reg1 = rollout_of("v1")
    d1 = deploy(handler, v1, reg1)
    wait_in_service(stack, model)
    promote(stack, handler, v1, reg1, d1)

    v2, reg2 = rollout_of("v2")
    d2 = handler("plan_deployment")({"rollout": v2, "registration": reg2, "now": NOW})
    assert d2["first_deployment"] is False
    assert d2["current_variant"] == f"v{reg1['package_version']}"
    assert d2["candidate_variant"] == f"v{reg2['package_version']}"
    assert d2["previous_config"] == d1["final_config"]
    expected = handler("deploy_candidate")({"rollout": v2, "registration": reg2, "deployment": d2, "now": NOW})
    weights = {d2["current_variant"]: 1.0, d2["candidate_variant"]: 0.0}
    assert expected == {"config_name": d2["canary_config"], "weights": weights, "wait_seconds": None}
    described = wait_in_service(stack, model)
    assert described["EndpointConfigName"] == d2["canary_config"]
    assert {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]} == weights

    promote(stack, handler, v2, reg2, d2)
    described = stack.client("sagemaker").describe_endpoint(EndpointName=model)
    assert described["EndpointConfigName"] == d2["final_config"]
    assert [v["VariantName"] for v in described["ProductionVariants"]] == [d2["candidate_variant"]]
    sm = stack.client("sagemaker")
    remaining = {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    assert d1["final_config"] not in remaining  # superseded
    assert d2["canary_config"] not in remaining
    assert d2["final_config"] in remaining
    assert d1["candidate_model"] not in {m["ModelName"] for m in sm.list_models()["Models"]}


SHADOWED = f"image: {IMAGE}\nstrategy:\n  shadow: {{}}\n"


def test_a_shadow_phase_deploys_the_candidate_as_the_shadow_of_the_current_variant(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    v1, reg1 = rollout_of("v1", SHADOWED)
    d1 = deploy(handler, v1, reg1)
    assert d1["shadow_config"] is None  # a first deployment has nothing to shadow
    wait_in_service(stack, model)
    promote(stack, handler, v1, reg1, d1)

    v2, reg2 = rollout_of("v2", SHADOWED)
    d2 = handler("plan_deployment")({"rollout": v2, "registration": reg2, "now": NOW})
    expected = handler("deploy_candidate")({"rollout": v2, "registration": reg2, "deployment": d2, "now": NOW})
    assert expected == {
        "config_name": d2["shadow_config"],
        "weights": {d2["current_variant"]: 1.0},
        "wait_seconds": None,
    }
    sm = stack.client("sagemaker")
    shadow = sm.describe_endpoint_config(EndpointConfigName=d2["shadow_config"])
    assert [v["VariantName"] for v in shadow["ProductionVariants"]] == [d2["current_variant"]]
    [copy] = shadow["ShadowProductionVariants"]
    # the production variant's weight: every request is copied (AWS documents no other share for these configs)
    assert (copy["VariantName"], copy["InitialVariantWeight"]) == (d2["candidate_variant"], 1.0)
    # the canary config the steps use after Leave Shadow is ready beside it
    canary = sm.describe_endpoint_config(EndpointConfigName=d2["canary_config"])
    assert {v["VariantName"]: v["InitialVariantWeight"] for v in canary["ProductionVariants"]} == d2["expected"][
        "weights"
    ]
    described = wait_in_service(stack, model)
    assert described["EndpointConfigName"] == d2["shadow_config"]
    assert [v["VariantName"] for v in described["ShadowProductionVariants"]] == [d2["candidate_variant"]]

    promote(stack, handler, v2, reg2, d2)
    remaining = {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]}
    assert not {d2["shadow_config"], d2["canary_config"]} & remaining and d2["final_config"] in remaining


def test_an_endpoint_in_the_middle_of_a_change_is_not_a_starting_point(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    # A creation that lasts an hour of sandbox time (6 s of wall time): the next version's steps run within it even
    # on a loaded machine (the default 180 s is 0.3 s of wall time).
    sagemaker = stack.aws.emulator.services["sagemaker"]
    created, sagemaker.create_seconds = sagemaker.create_seconds, 3600
    try:
        v1, reg1 = rollout_of("v1")
        deploy(handler, v1, reg1)  # the endpoint is Creating
        v2, reg2 = rollout_of("v2")
        # Another change in progress: the ASL retries EndpointChanging until it ends, instead of refusing the upload.
        with pytest.raises(EndpointChanging, match=f"{model} is Creating: another change"):
            handler("plan_deployment")({"rollout": v2, "registration": reg2, "now": NOW})
    finally:
        sagemaker.create_seconds = created


def test_a_rollout_does_not_start_while_a_rollback_alarm_fires(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    cw = stack.client("cloudwatch")
    for name in (f"{model}-orders-low", f"{model}-payments"):
        cw.put_metric_alarm(
            AlarmName=name,
            Namespace="Shop",
            MetricName=name,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=50,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="ignore",
        )
    cw.set_alarm_state(AlarmName=f"{model}-orders-low", StateValue="ALARM", StateReason="3 orders in a minute")
    config = f"image: {IMAGE}\njudge:\n  rollback_alarms: [{model}-payments, {model}-orders-low]\n"
    rollout, registration = rollout_of("v1", config)
    with pytest.raises(RollbackAlarmFiring) as refused:
        handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    assert refused.value.reason.startswith(
        f"not rolling out to endpoint {model}: rollback alarm {model}-orders-low is in ALARM since "
    )
    assert refused.value.reason.endswith("(3 orders in a minute)")
    assert "wait for it to return to OK" in (refused.value.fix or "")

    cw.set_alarm_state(AlarmName=f"{model}-orders-low", StateValue="OK", StateReason="orders are back")
    planned = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    assert planned["first_deployment"] is True


def test_a_rollback_alarm_that_does_not_exist_is_a_configuration_error(
    stack: Any, rollout_of: Any, handler: Any, model: str
) -> None:
    rollout, registration = rollout_of("v1", f"image: {IMAGE}\njudge:\n  rollback_alarms: [{model}-typo]\n")
    with pytest.raises(ConfigInvalid, match=f"judge.rollback_alarms names {model}-typo, which CloudWatch does not"):
        handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})


def test_pre_traffic_check_is_skipped_without_a_sample(stack: Any, rollout_of: Any, handler: Any, model: str) -> None:
    rollout, registration = rollout_of("v1")
    deployment = deploy(handler, rollout, registration)
    wait_in_service(stack, model)
    result = handler("pre_traffic_check")({"rollout": rollout, "deployment": deployment, "now": NOW})
    assert result["status"] == "skipped"


SAMPLE = f"""image: {IMAGE}
pre_traffic:
  sample_request:
    body: '{{"amount": 3}}'
"""


def test_pre_traffic_check_invokes_the_candidate_variant(stack: Any, rollout_of: Any, handler: Any, model: str) -> None:
    calls: list[tuple[str, str | None, bytes]] = []

    def serve(
        endpoint: str, variant: str | None, body: bytes, content_type: str, accept: str
    ) -> tuple[int, bytes, str, str]:
        calls.append((endpoint, variant, body))
        if b"boom" in body:
            return 500, b'{"error": "division by zero"}', "application/json", variant or ""
        return 200, b'{"score": 0.1}', "application/json", variant or ""

    service = stack.aws.emulator.services["sagemaker"]
    service.data_plane = serve
    try:
        rollout, registration = rollout_of("v1", config=SAMPLE)
        deployment = deploy(handler, rollout, registration)
        wait_in_service(stack, model)
        result = handler("pre_traffic_check")({"rollout": rollout, "deployment": deployment, "now": NOW})
        assert result["status"] == "passed"
        assert calls == [(model, deployment["candidate_variant"], b'{"amount": 3}')]

        rollout["config"]["pre_traffic"]["sample_request"]["body"] = "boom"
        with pytest.raises(PreTrafficCheckFailed, match="HTTP 500"):
            handler("pre_traffic_check")({"rollout": rollout, "deployment": deployment, "now": NOW})
    finally:
        service.data_plane = None
