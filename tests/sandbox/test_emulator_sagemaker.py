"""The sandbox's SageMaker, observed the way the control plane sees it: through boto3 over HTTP.

Virtual time runs WARP times faster than the wall clock, so a 180 s endpoint creation takes 0.36 s; tests poll
with a bounded real-time loop and then check the exact virtual timestamps the emulator recorded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator import MotoDrift
from mlrollout_sandbox.emulator import sagemaker as sagemaker_emulator
from mlrollout_sandbox.emulator._patching import Patcher
from mlrollout_sandbox.emulator.sagemaker import (
    DEFAULT_CREATE_SECONDS,
    DEFAULT_DELETE_SECONDS,
    DEFAULT_DURATIONS,
    DEFAULT_UPDATE_SECONDS,
    SageMakerService,
)
from mlrollout_sandbox.server import EmbeddedAws
from support import wait_while

pytestmark = pytest.mark.sandbox

WARP = 500.0
ROLE = "arn:aws:iam::123456789012:role/sandbox-sagemaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1.4"
POLL_SECONDS = 5.0


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=WARP)) as embedded:
        yield embedded


# ------------------------------------------------------------------------------------------- helpers


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_config(sm: Any, weights: dict[str, float], *, capture: bool = False, count: int = 1) -> str:
    name = unique("cfg")
    variants = []
    for variant, weight in weights.items():
        model = unique("model")
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
        variants.append(
            {
                "VariantName": variant,
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": count,
                "InitialVariantWeight": weight,
            }
        )
    extra: dict[str, Any] = {}
    if capture:
        extra["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 25,
            "DestinationS3Uri": "s3://sandbox-capture/churn",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **extra)
    return name


@contextmanager
def watching(service: SageMakerService) -> Iterator[None]:
    """Sandbox time at wall-clock speed while a test looks at a state that lasts seconds of virtual time (a few
    milliseconds at WARP, too few on a loaded machine); WARP again afterwards, so the waits stay short."""
    service.clock.set_warp(1.0)
    try:
        yield
    finally:
        service.clock.set_warp(WARP)


def ready_endpoint(sm: Any, service: SageMakerService, weights: dict[str, float], **config: Any) -> tuple[str, str]:
    """An InService endpoint, created quickly (creation itself is not under test here)."""
    service.create_seconds = 10
    config_name = make_config(sm, weights, **config)
    endpoint = unique("ep")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config_name)
    assert wait_while(sm, endpoint, "Creating")["EndpointStatus"] == "InService"
    service.create_seconds = DEFAULT_CREATE_SECONDS
    return endpoint, config_name


def error_of(call: Callable[[], Any]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def weights_of(described: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"]) for v in described["ProductionVariants"]}


def endpoint_arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"


# --------------------------------------------------------------------------------- endpoint lifecycle


def test_durations_default_to_what_sagemaker_typically_takes(service: SageMakerService) -> None:
    durations = (service.create_seconds, service.update_seconds, service.weights_seconds, service.delete_seconds)
    assert durations == (180.0, 180.0, 30.0, 60.0)
    assert service.data_plane is None
    # Every figure says what it rests on: an AWS page, or that none was found.
    for operation, duration in DEFAULT_DURATIONS.items():
        assert "https://docs.aws.amazon.com/" in duration.source or "no reference found" in duration.source, operation
    # A client polling as the SDK's EndpointDeleted waiter does (every 30 s) sees Deleting at least once.
    assert service.delete_seconds > 30


def wait_until_gone(sm: Any, endpoint: str) -> tuple[str, str, int]:
    """Poll DescribeEndpoint (bounded in real time) until it answers that the endpoint does not exist."""
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        try:
            described = sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            error = exc.response
            return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]
        assert described["EndpointStatus"] == "Deleting", described["EndpointStatus"]
        if time.monotonic() > deadline:
            raise AssertionError(f"{endpoint} still Deleting after {POLL_SECONDS}s real time")
        time.sleep(0.02)


def test_delete_endpoint_is_deleting_then_not_found(
    aws: EmbeddedAws, sm: Any, strict_sm: Any, runtime: Any, service: SageMakerService
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    service.data_plane = lambda _e, variant, _b, _c, _a: (200, b"{}", "application/json", variant or "")
    with watching(service):
        deleted_at = aws.clock.now()
        sm.delete_endpoint(EndpointName=endpoint)
        described = sm.describe_endpoint(EndpointName=endpoint)
        assert described["EndpointStatus"] == "Deleting"
        listed = sm.list_endpoints(StatusEquals="Deleting", NameContains=endpoint)["Endpoints"]
        assert [e["EndpointName"] for e in listed] == [endpoint]
        # Deleting is an operation in progress: nothing else can start, and nothing is served any more.
        in_progress = ("ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(endpoint)}".', 400)
        assert error_of(lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == (
            in_progress
        )
        assert error_of(lambda: strict_sm.delete_endpoint(EndpointName=endpoint)) == in_progress
        code, message, _ = error_of(lambda: strict_sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config))
        assert (code, message) == (
            "ValidationException",
            f'Cannot create already existing endpoint "{endpoint_arn(endpoint)}".',
        )
        code, _, _ = error_of(
            lambda: runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", ContentType="application/json")
        )
        assert code == "ValidationError"

    assert wait_until_gone(sm, endpoint) == (
        "ValidationException",
        f'Could not find endpoint "{endpoint_arn(endpoint)}".',
        400,
    )
    gone_seen_at = aws.clock.now()
    assert (gone_seen_at - deleted_at).total_seconds() >= DEFAULT_DELETE_SECONDS
    assert service.endpoint_state(endpoint) is None and service.transitions(endpoint) == []
    assert sm.list_endpoints(NameContains=endpoint)["Endpoints"] == []
    # The name is free again once the deletion has finished.
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating"


def test_the_sdk_waiter_for_a_deleted_endpoint_succeeds_once_it_is_gone(sm: Any, service: SageMakerService) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    sm.delete_endpoint(EndpointName=endpoint)
    # botocore's EndpointDeleted waiter succeeds on ValidationException and fails on Failed: the emulated
    # deletion ends the way the SDK expects a real one to.
    sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    code, _, _ = error_of(lambda: sm.describe_endpoint(EndpointName=endpoint))
    assert code == "ValidationException"


def test_create_endpoint_is_creating_for_180_virtual_seconds_then_in_service(
    sm: Any, service: SageMakerService
) -> None:
    config = make_config(sm, {"AllTraffic": 1.0}, capture=True)
    endpoint = unique("ep")
    with watching(service):
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        creating = sm.describe_endpoint(EndpointName=endpoint)
        assert creating["EndpointStatus"] == "Creating"
        # Nothing is deployed yet: only the desired side of each variant is known.
        assert creating["ProductionVariants"] == [
            {"VariantName": "AllTraffic", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}
        ]
        listed = sm.list_endpoints(StatusEquals="Creating")["Endpoints"]
        assert endpoint in {e["EndpointName"] for e in listed}

    ready = wait_while(sm, endpoint, "Creating")
    assert ready["EndpointStatus"] == "InService"
    assert ready["EndpointConfigName"] == config
    assert "FailureReason" not in ready
    (variant,) = ready["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 1.0)
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (1, 1)
    (image,) = variant["DeployedImages"]
    assert image["SpecifiedImage"] == IMAGE
    assert image["ResolvedImage"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/churn@sha256:")
    assert ready["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 25,
        "DestinationS3Uri": "s3://sandbox-capture/churn",
    }
    assert ready["LastModifiedTime"] - ready["CreationTime"] == timedelta(seconds=180)

    history = service.transitions(endpoint)
    assert [(t.operation, t.status) for t in history] == [
        ("CreateEndpoint", "Creating"),
        ("CreateEndpoint", "InService"),
    ]
    assert history[1].at - history[0].at == timedelta(seconds=180)


def test_create_endpoint_refuses_a_duplicate_name_and_a_missing_config(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    assert error_of(lambda: strict_sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == (
        "ValidationException",
        f'Cannot create already existing endpoint "{endpoint_arn(endpoint)}".',
        400,
    )
    code, message, _ = error_of(lambda: strict_sm.create_endpoint(EndpointName=unique("ep"), EndpointConfigName="nope"))
    assert code == "ValidationException"
    assert (
        message
        == 'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/nope".'
    )


def test_update_endpoint_is_updating_then_serves_the_new_config(sm: Any, service: SageMakerService) -> None:
    endpoint, old_config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    new_config = make_config(sm, {"champion": 0.9, "challenger": 0.1})

    with watching(service):
        arn = sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)["EndpointArn"]
        assert arn == endpoint_arn(endpoint)
        updating = sm.describe_endpoint(EndpointName=endpoint)
        assert updating["EndpointStatus"] == "Updating"
        assert updating["EndpointConfigName"] == old_config  # swaps only when the update completes
        assert weights_of(updating) == {"AllTraffic": (1.0, 1.0)}
        pending = updating["PendingDeploymentSummary"]
        assert pending["EndpointConfigName"] == new_config
        assert [v["VariantName"] for v in pending["ProductionVariants"]] == ["champion", "challenger"]

    done = wait_while(sm, endpoint, "Updating")
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == new_config
    assert weights_of(done) == {"champion": (0.9, 0.9), "challenger": (0.1, 0.1)}
    assert "PendingDeploymentSummary" not in done
    assert "FailureReason" not in done

    history = service.transitions(endpoint)
    assert [(t.operation, t.status, t.endpoint_config_name) for t in history[2:]] == [
        ("UpdateEndpoint", "Updating", old_config),
        ("UpdateEndpoint", "InService", new_config),
    ]
    assert history[3].at - history[2].at == timedelta(seconds=DEFAULT_UPDATE_SECONDS)
    assert abs(done["LastModifiedTime"] - history[3].at) < timedelta(milliseconds=1)  # the wire keeps ms

    state = service.endpoint_state(endpoint)
    assert state is not None
    assert (state.status, state.endpoint_config_name, state.weights) == (
        "InService",
        new_config,
        {"champion": 0.9, "challenger": 0.1},
    )


def test_updates_and_deletes_are_refused_while_an_operation_is_in_progress(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    config = make_config(sm, {"AllTraffic": 1.0})
    endpoint = unique("ep")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    in_progress = ("ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(endpoint)}".', 400)

    assert error_of(lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == in_progress
    assert (
        error_of(
            lambda: strict_sm.update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 2}]
            )
        )
        == in_progress
    )
    assert error_of(lambda: strict_sm.delete_endpoint(EndpointName=endpoint)) == in_progress

    wait_while(sm, endpoint, "Creating")
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    assert error_of(lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == in_progress
    # The refused calls left no trace: one create, one update.
    assert [t.status for t in service.transitions(endpoint)] == ["Creating", "InService", "Updating"]


def test_update_endpoint_needs_an_existing_endpoint_and_config(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    code, message, _ = error_of(lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName="ghost"))
    assert (code, message) == (
        "ValidationException",
        'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/ghost".',
    )
    code, message, _ = error_of(lambda: strict_sm.update_endpoint(EndpointName="ghost", EndpointConfigName=config))
    assert (code, message) == ("ValidationException", f'Could not find endpoint "{endpoint_arn("ghost")}".')
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_update_options_the_sandbox_does_not_emulate_are_refused_not_ignored(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    options: dict[str, Any]
    for options in (
        {"ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}]},
        {"DeploymentConfig": {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}},
    ):
        code, message, status = error_of(
            partial(strict_sm.update_endpoint, EndpointName=endpoint, EndpointConfigName=config, **options)
        )
        assert (code, status) == ("SandboxUnsupportedOperation", 400)
        assert "sandbox" in message
    with watching(service):
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config, RetainAllVariantProperties=False)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"


def test_weights_update_takes_30_virtual_seconds_and_stores_weights_as_given(
    sm: Any, service: SageMakerService
) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"champion": 1.0, "challenger": 0.0})
    service.weights_seconds = 120
    with watching(service):
        sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": "champion", "DesiredWeight": 3.0},
                {"VariantName": "challenger", "DesiredWeight": 1.0, "DesiredInstanceCount": 2},
            ],
        )
        updating = sm.describe_endpoint(EndpointName=endpoint)
        assert updating["EndpointStatus"] == "Updating"
        assert weights_of(updating) == {"champion": (1.0, 3.0), "challenger": (0.0, 1.0)}

    done = wait_while(sm, endpoint, "Updating")
    assert done["EndpointStatus"] == "InService"
    assert weights_of(done) == {"champion": (3.0, 3.0), "challenger": (1.0, 1.0)}  # not normalised
    challenger = next(v for v in done["ProductionVariants"] if v["VariantName"] == "challenger")
    assert (challenger["CurrentInstanceCount"], challenger["DesiredInstanceCount"]) == (2, 2)
    last_two = service.transitions(endpoint)[-2:]
    assert [(t.operation, t.status) for t in last_two] == [
        ("UpdateEndpointWeightsAndCapacities", "Updating"),
        ("UpdateEndpointWeightsAndCapacities", "InService"),
    ]
    assert last_two[1].at - last_two[0].at == timedelta(seconds=120)
    assert last_two[1].weights == {"champion": 3.0, "challenger": 1.0}


def test_weights_update_rejects_unknown_variants_and_negative_weights(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"champion": 1.0})

    def update(*desired: dict[str, Any]) -> Callable[[], Any]:
        return lambda: strict_sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=list(desired)
        )

    code, message, _ = error_of(
        update({"VariantName": "champion", "DesiredWeight": 1}, {"VariantName": "ghost", "DesiredWeight": 1})
    )
    assert code == "ValidationException"
    assert message == f'The variant name(s) "ghost" is/are not present within endpoint configuration "{config}".'
    code, message, _ = error_of(update({"VariantName": "champion", "DesiredWeight": -1}))
    assert code == "ValidationException"
    assert "greater than or equal to 0" in message
    # A refused request changes nothing.
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert (described["EndpointStatus"], weights_of(described)) == ("InService", {"champion": (1.0, 1.0)})


# ------------------------------------------------------------------------------------------------ faults


def test_create_fault_fail_leaves_a_failed_endpoint_that_can_only_be_deleted(
    aws: EmbeddedAws, sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    service.create_seconds = 10
    config = make_config(sm, {"AllTraffic": 1.0})
    endpoint = unique("ep")
    aws.emulator.faults.arm("sagemaker.create_endpoint", "fail", endpoint=endpoint)
    with watching(service):
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating"

    failed = wait_while(sm, endpoint, "Creating")
    assert failed["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in failed["FailureReason"]
    assert error_of(lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)) == (
        "ValidationException",
        f'Cannot update failed endpoint "{endpoint_arn(endpoint)}".',
        400,
    )
    sm.delete_endpoint(EndpointName=endpoint)
    # Deleting, as for any endpoint, then gone; only then is it forgotten.
    assert [t.status for t in service.transitions(endpoint)] == ["Creating", "Failed", "Deleting"]
    code, message, _ = wait_until_gone(strict_sm, endpoint)
    assert (code, message) == ("ValidationException", f'Could not find endpoint "{endpoint_arn(endpoint)}".')
    assert service.endpoint_state(endpoint) is None
    assert service.transitions(endpoint) == []


def test_update_fault_fail_fails_the_endpoint_on_its_old_config(
    aws: EmbeddedAws, sm: Any, service: SageMakerService
) -> None:
    endpoint, old_config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    new_config = make_config(sm, {"candidate": 1.0})
    aws.emulator.faults.arm(
        "sagemaker.update_endpoint", "fail", endpoint=endpoint, params={"failure_reason": "image pull failed"}
    )
    with watching(service):
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"

    failed = wait_while(sm, endpoint, "Updating")
    assert (failed["EndpointStatus"], failed["FailureReason"]) == ("Failed", "image pull failed")
    assert failed["EndpointConfigName"] == old_config
    assert weights_of(failed) == {"AllTraffic": (1.0, 1.0)}
    assert service.transitions(endpoint)[-1].status == "Failed"


def test_update_fault_silent_rollback_returns_in_service_on_the_old_config(
    aws: EmbeddedAws, sm: Any, service: SageMakerService
) -> None:
    endpoint, old_config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    new_config = make_config(sm, {"candidate": 1.0})
    aws.emulator.faults.arm("sagemaker.update_endpoint", "silent_rollback", endpoint=endpoint)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)

    rolled_back = wait_while(sm, endpoint, "Updating")
    # Looks healthy; only the unchanged config name and FailureReason reveal that the update never happened.
    assert rolled_back["EndpointStatus"] == "InService"
    assert rolled_back["EndpointConfigName"] == old_config
    assert "rolled back" in rolled_back["FailureReason"]
    assert weights_of(rolled_back) == {"AllTraffic": (1.0, 1.0)}

    # The next update works and clears FailureReason.
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config)
    done = wait_while(sm, endpoint, "Updating")
    assert (done["EndpointStatus"], done["EndpointConfigName"]) == ("InService", new_config)
    assert "FailureReason" not in done


@pytest.mark.parametrize(("mode", "status"), [("fail", "Failed"), ("silent_rollback", "InService")])
def test_weights_faults_leave_the_weights_unchanged(
    aws: EmbeddedAws, sm: Any, service: SageMakerService, mode: str, status: str
) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"champion": 0.9, "challenger": 0.1})
    aws.emulator.faults.arm("sagemaker.update_endpoint_weights", mode, endpoint=endpoint)
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "challenger", "DesiredWeight": 0.5}]
    )
    after = wait_while(sm, endpoint, "Updating")
    assert after["EndpointStatus"] == status
    assert after["FailureReason"]
    assert weights_of(after) == {"champion": (0.9, 0.9), "challenger": (0.1, 0.1)}


def test_throttle_fault_fails_only_the_named_action_before_it_runs(
    aws: EmbeddedAws, sm: Any, strict_sm: Any, runtime: Any, service: SageMakerService
) -> None:
    model = unique("model")
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    config = unique("cfg")
    aws.emulator.faults.arm("sagemaker.api", "throttle", action="CreateEndpointConfig")

    def create_config() -> Any:
        return strict_sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {"VariantName": "v", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
            ],
        )

    assert error_of(create_config) == ("ThrottlingException", "Rate exceeded", 400)
    code, _, _ = error_of(lambda: strict_sm.describe_endpoint_config(EndpointConfigName=config))
    assert code == "ValidationException"  # the throttled call did nothing
    create_config()  # the fault fired once
    assert strict_sm.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigName"] == config

    aws.emulator.faults.arm("sagemaker.api", "throttle", action="InvokeEndpoint")
    assert error_of(lambda: runtime.invoke_endpoint(EndpointName="any", Body=b"{}")) == (
        "ThrottlingException",
        "Rate exceeded",
        400,
    )


@pytest.mark.parametrize("action", ["UpdateEndpoint", "UpdateEndpointWeightsAndCapacities"])
def test_a_scaling_activity_fault_scales_the_first_variant_out_and_the_call_is_refused(
    aws: EmbeddedAws, sm: Any, strict_sm: Any, service: SageMakerService, action: str
) -> None:
    endpoint, config = ready_endpoint(sm, service, {"champion": 1.0}, count=2)
    spec = aws.emulator.faults.arm("sagemaker.scaling_activity", "scale_out", action=action, endpoint=endpoint)
    calls = {
        "UpdateEndpoint": lambda: strict_sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config),
        "UpdateEndpointWeightsAndCapacities": lambda: strict_sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "champion", "DesiredWeight": 1.0}]
        ),
    }
    with watching(service):
        refused = error_of(calls[action])
        described = sm.describe_endpoint(EndpointName=endpoint)
    assert refused == ("ValidationException", f'Cannot update in-progress endpoint "{endpoint_arn(endpoint)}".', 400)
    assert spec.fired == 1
    (variant,) = described["ProductionVariants"]
    assert (described["EndpointStatus"], variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (
        "Updating",
        2,
        3,
    )
    done = wait_while(sm, endpoint, "Updating")
    assert (done["EndpointStatus"], done["ProductionVariants"][0]["CurrentInstanceCount"]) == ("InService", 3)
    calls[action]()  # fired once: the next call is accepted
    assert [t.operation for t in service.transitions(endpoint)][-3:] == [
        "UpdateEndpointWeightsAndCapacities",
        "UpdateEndpointWeightsAndCapacities",
        action,
    ]


def test_a_retrying_client_rides_out_a_single_throttle(aws: EmbeddedAws, sm: Any, service: SageMakerService) -> None:
    aws.emulator.faults.arm("sagemaker.api", "throttle", action="ListEndpoints")
    response = sm.list_endpoints()
    assert response["ResponseMetadata"]["RetryAttempts"] == 1


def test_deleting_a_missing_endpoint_config_raises_the_real_error(strict_sm: Any) -> None:
    assert error_of(lambda: strict_sm.delete_endpoint_config(EndpointConfigName="never-created")) == (
        "ValidationException",
        'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/'
        'never-created".',
        400,
    )


def test_endpoint_config_names_are_unique(sm: Any, strict_sm: Any) -> None:
    config = make_config(sm, {"AllTraffic": 1.0})
    spec = sm.describe_endpoint_config(EndpointConfigName=config)
    code, message, _ = error_of(
        lambda: strict_sm.create_endpoint_config(
            EndpointConfigName=config, ProductionVariants=spec["ProductionVariants"]
        )
    )
    assert code == "ValidationException"
    assert message.startswith("Cannot create already existing endpoint configuration")


def test_concurrent_readers_see_one_transition(aws: EmbeddedAws, sm: Any, service: SageMakerService) -> None:
    service.create_seconds = 60
    config = make_config(sm, {"AllTraffic": 1.0})
    endpoint = unique("ep")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    time.sleep(service.clock.real_seconds(60) + 0.05)  # due, but nobody has looked yet
    seen: list[str] = []

    def read() -> None:
        client = aws.client("sagemaker")
        seen.append(client.describe_endpoint(EndpointName=endpoint)["EndpointStatus"])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == ["InService"] * 8
    assert [t.status for t in service.transitions(endpoint)] == ["Creating", "InService"]


# ------------------------------------------------------------------------------------ EventBridge events


ENDPOINT_EVENT_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def endpoint_events_queue(aws: EmbeddedAws, endpoint: str) -> str:
    """An SQS queue that a rule fills with the endpoint's "SageMaker Endpoint State Change" events."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=unique("endpoint-events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint State Change"],
        "detail": {"EndpointName": [endpoint]},
    }
    rule = unique("endpoint-events")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"]
    # EventBridge delivers to a queue only when the queue's policy lets the rule send to it.
    delivery = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(delivery)})
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(url)


def received(aws: EmbeddedAws, url: str, count: int) -> list[dict[str, Any]]:
    """Exactly `count` events from the queue: waits (bounded, real time) for them, then for any extra."""
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + POLL_SECONDS
    while len(out) < count and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in batch:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if not batch:
            time.sleep(0.02)
    assert aws.emulator.services["events"].drain(POLL_SECONDS)
    extra = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert extra == [], f"more events than the {count} expected: {[json.loads(m['Body']) for m in extra]}"
    assert len(out) == count, f"{len(out)} events arrived, {count} expected"
    return out


def millis(moment: datetime) -> float:
    return float(round(moment.timestamp() * 1000))


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_endpoint_status_names_in_events_are_sagemakers() -> None:
    statuses = [
        "OutOfService",
        "Creating",
        "Updating",
        "SystemUpdating",
        "RollingBack",
        "InService",
        "Deleting",
        "Failed",
        "UpdateRollbackFailed",
    ]
    assert [sagemaker_emulator.event_status(s) for s in statuses] == [
        "OUT_OF_SERVICE",
        "CREATING",
        "UPDATING",
        "SYSTEM_UPDATING",
        "ROLLING_BACK",
        "IN_SERVICE",
        "DELETING",
        "FAILED",
        "UPDATE_ROLLBACK_FAILED",
    ]


def test_each_endpoint_status_change_sends_one_event_on_time_without_anyone_describing(
    aws: EmbeddedAws, sm: Any, service: SageMakerService
) -> None:
    service.create_seconds, service.weights_seconds = 30, 20
    config = make_config(sm, {"champion": 1.0, "challenger": 0.0})
    endpoint = unique("ep")
    queue = endpoint_events_queue(aws, endpoint)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config, Tags=[{"Key": "team", "Value": "risk"}])

    # Nobody reads the endpoint: the ticker settles the creation and its IN_SERVICE event goes out.
    creating, in_service = received(aws, queue, 2)
    history = service.transitions(endpoint)
    assert [(t.status, t.at - history[0].at) for t in history] == [
        ("Creating", timedelta(0)),
        ("InService", timedelta(seconds=30)),
    ]
    created_at, ready_at = history[0].at, history[1].at
    assert set(creating) == ENDPOINT_EVENT_KEYS
    assert creating["id"] != in_service["id"]
    assert {k: v for k, v in creating.items() if k != "id"} == {
        "version": "0",
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": iso_seconds(created_at),
        "region": "us-east-1",
        "resources": [endpoint_arn(endpoint)],
        "detail": {
            "EndpointName": endpoint,
            "EndpointArn": endpoint_arn(endpoint),
            "EndpointConfigName": config,
            "ProductionVariants": [
                {"VariantName": "champion", "DesiredWeight": 1.0, "DesiredInstanceCount": 1},
                {"VariantName": "challenger", "DesiredWeight": 0.0, "DesiredInstanceCount": 1},
            ],
            "EndpointStatus": "CREATING",
            "CreationTime": millis(created_at),
            "LastModifiedTime": millis(created_at),
            "Tags": {"team": "risk"},
        },
    }
    assert in_service["time"] == iso_seconds(ready_at)  # the moment it completed, not when it was noticed
    assert in_service["detail"] == {
        **creating["detail"],
        "ProductionVariants": [
            {
                "VariantName": "champion",
                "CurrentWeight": 1.0,
                "DesiredWeight": 1.0,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
            },
            {
                "VariantName": "challenger",
                "CurrentWeight": 0.0,
                "DesiredWeight": 0.0,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
            },
        ],
        "EndpointStatus": "IN_SERVICE",
        "LastModifiedTime": millis(ready_at),
    }

    # Readers racing the ticker for the weight shift's completion still make one IN_SERVICE event.
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint,
        DesiredWeightsAndCapacities=[
            {"VariantName": "champion", "DesiredWeight": 0.9},
            {"VariantName": "challenger", "DesiredWeight": 0.1},
        ],
    )

    def read() -> None:
        wait_while(aws.client("sagemaker"), endpoint, "Updating")

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=POLL_SECONDS)
    updating, shifted = received(aws, queue, 2)
    assert [e["detail"]["EndpointStatus"] for e in (updating, shifted)] == ["UPDATING", "IN_SERVICE"]
    assert [(v["CurrentWeight"], v["DesiredWeight"]) for v in updating["detail"]["ProductionVariants"]] == [
        (1.0, 0.9),
        (0.0, 0.1),
    ]
    assert [(v["CurrentWeight"], v["DesiredWeight"]) for v in shifted["detail"]["ProductionVariants"]] == [
        (0.9, 0.9),
        (0.1, 0.1),
    ]
    history = service.transitions(endpoint)
    assert [t.status for t in history] == ["Creating", "InService", "Updating", "InService"]
    assert (updating["time"], shifted["time"]) == (iso_seconds(history[2].at), iso_seconds(history[3].at))
    assert shifted["detail"]["LastModifiedTime"] == millis(history[3].at)

    # Reads alone change nothing, so they send nothing; deleting sends DELETING.
    for _ in range(3):
        sm.describe_endpoint(EndpointName=endpoint)
    sm.list_endpoints()
    before = aws.clock.now()
    sm.delete_endpoint(EndpointName=endpoint)
    (deleting,) = received(aws, queue, 1)
    assert deleting["detail"]["EndpointStatus"] == "DELETING"
    assert deleting["detail"]["CreationTime"] == millis(created_at)
    assert deleting["detail"]["LastModifiedTime"] >= millis(before)
    assert deleting["resources"] == [endpoint_arn(endpoint)]


def test_failed_and_rolled_back_operations_send_their_failure_reason(
    aws: EmbeddedAws, sm: Any, service: SageMakerService
) -> None:
    service.create_seconds = service.update_seconds = 20
    config = make_config(sm, {"AllTraffic": 1.0})
    broken = unique("ep")
    broken_queue = endpoint_events_queue(aws, broken)
    aws.emulator.faults.arm("sagemaker.create_endpoint", "fail", endpoint=broken)
    sm.create_endpoint(EndpointName=broken, EndpointConfigName=config)
    creating, failed = received(aws, broken_queue, 2)
    reason = sm.describe_endpoint(EndpointName=broken)["FailureReason"]
    assert "did not pass the ping health check" in reason
    assert (creating["detail"]["EndpointStatus"], "FailureReason" in creating["detail"]) == ("CREATING", False)
    assert (failed["detail"]["EndpointStatus"], failed["detail"]["FailureReason"]) == ("FAILED", reason)

    endpoint, old_config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    queue = endpoint_events_queue(aws, endpoint)
    aws.emulator.faults.arm("sagemaker.update_endpoint", "silent_rollback", endpoint=endpoint)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=make_config(sm, {"candidate": 1.0}))
    updating, rolled_back = received(aws, queue, 2)
    assert [e["detail"]["EndpointStatus"] for e in (updating, rolled_back)] == ["UPDATING", "IN_SERVICE"]
    assert rolled_back["detail"]["EndpointConfigName"] == old_config
    assert rolled_back["detail"]["FailureReason"] == sm.describe_endpoint(EndpointName=endpoint)["FailureReason"]


# ----------------------------------------------------------------------------------- data plane


def test_invoke_without_a_data_plane_keeps_motos_canned_answer(
    sm: Any, runtime: Any, service: SageMakerService
) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    assert runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3")["Body"].read() == b"body"


def echo_plane(calls: list[tuple[str, str | None, bytes, str, str | None]]) -> Any:
    def plane(endpoint: str, variant: str | None, body: bytes, content_type: str, accept: str | None) -> Any:
        calls.append((endpoint, variant, body, content_type, accept))
        if body == b"poison":
            return 400, b"cannot parse row", "text/plain", variant or ""
        return 200, f"{variant}:".encode() + body, "application/json", variant or ""

    return plane


def test_invoke_routes_in_proportion_to_current_weight(sm: Any, runtime: Any, service: SageMakerService) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"champion": 3.0, "challenger": 1.0})
    calls: list[Any] = []
    service.data_plane = echo_plane(calls)
    service.rng.seed(20240611)

    picked = Counter(
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", ContentType="application/json")[
            "InvokedProductionVariant"
        ]
        for _ in range(400)
    )
    assert set(picked) == {"champion", "challenger"}
    assert 0.68 <= picked["champion"] / 400 <= 0.82  # expected 0.75
    assert calls[0][0] == endpoint
    assert calls[0][2:] == (b"{}", "application/json", None)


def test_invoke_honours_target_variant_and_reports_model_errors(
    sm: Any, runtime: Any, service: SageMakerService
) -> None:
    endpoint, _ = ready_endpoint(sm, service, {"champion": 1.0, "challenger": 0.0})
    calls: list[Any] = []
    service.data_plane = echo_plane(calls)

    answer = runtime.invoke_endpoint(
        EndpointName=endpoint,
        Body=b"[1]",
        ContentType="application/json",
        Accept="application/json",
        TargetVariant="challenger",
    )
    assert answer["InvokedProductionVariant"] == "challenger"  # weight 0, but targeted
    assert answer["Body"].read() == b"challenger:[1]"
    assert answer["ContentType"] == "application/json"
    assert calls[-1] == (endpoint, "challenger", b"[1]", "application/json", "application/json")

    code, message, status = error_of(
        lambda: runtime.invoke_endpoint(EndpointName=endpoint, Body=b"[1]", TargetVariant="ghost")
    )
    assert (code, status) == ("ValidationError", 400)
    assert "ghost" in message

    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"poison")
    response: dict[str, Any] = dict(info.value.response)
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"] == "cannot parse row"
    assert response["LogStreamArn"].endswith(f":log-group:/aws/sagemaker/Endpoints/{endpoint}")
    assert response["Error"]["Message"].startswith(
        'Received client error (400) from model with message "cannot parse row"'
    )


def test_invoke_needs_a_serving_endpoint(sm: Any, runtime: Any, service: SageMakerService) -> None:
    service.data_plane = echo_plane([])
    config = make_config(sm, {"AllTraffic": 1.0})
    endpoint = unique("ep")
    with watching(service):
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        not_found = ("ValidationError", f"Endpoint {endpoint} of account 123456789012 not found.", 400)
        assert error_of(lambda: runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x")) == not_found
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Creating"
    assert error_of(lambda: runtime.invoke_endpoint(EndpointName="ghost", Body=b"x"))[1] == (
        "Endpoint ghost of account 123456789012 not found."
    )
    wait_while(sm, endpoint, "Creating")
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    # An updating endpoint keeps serving on its current variants.
    assert runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x")["InvokedProductionVariant"] == "AllTraffic"


# ---------------------------------------------------------------------------------- monitoring


def make_job_definition(sm: Any, endpoint: str) -> str:
    name = unique("dq")
    sm.create_data_quality_job_definition(
        JobDefinitionName=name,
        DataQualityAppSpecification={"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/model-monitor"},
        DataQualityJobInput={"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": "s3://sandbox-monitoring/reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        RoleArn=ROLE,
    )
    return name


def schedule_config(definition: str, expression: str = "cron(0 * ? * * *)") -> dict[str, Any]:
    return {
        "ScheduleConfig": {"ScheduleExpression": expression},
        "MonitoringJobDefinitionName": definition,
        "MonitoringType": "DataQuality",
    }


def wait_schedule(sm: Any, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        described: dict[str, Any] = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
        if described["MonitoringScheduleStatus"] == status:
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not {status} after {POLL_SECONDS}s real time")
        time.sleep(0.02)


def test_monitoring_schedule_lifecycle(sm: Any, strict_sm: Any, service: SageMakerService) -> None:
    endpoint = unique("ep")
    definition = make_job_definition(sm, endpoint)
    name = unique("sched")
    with watching(service):
        arn = sm.create_monitoring_schedule(
            MonitoringScheduleName=name,
            MonitoringScheduleConfig=schedule_config(definition),
            Tags=[{"Key": "team", "Value": "ml-platform"}],
        )["MonitoringScheduleArn"]
        pending = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{name}"
    assert pending["MonitoringScheduleStatus"] == "Pending"
    assert (pending["EndpointName"], pending["MonitoringType"]) == (endpoint, "DataQuality")
    assert pending["MonitoringScheduleConfig"] == schedule_config(definition)
    assert "LastMonitoringExecutionSummary" not in pending
    assert wait_schedule(sm, name, "Scheduled")["MonitoringScheduleArn"] == arn
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml-platform"}]

    with watching(service):
        sm.update_monitoring_schedule(
            MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition, "cron(0 0/6 ? * * *)")
        )
        updated = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert updated["MonitoringScheduleStatus"] == "Pending"
    assert updated["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 0/6 ? * * *)"
    wait_schedule(sm, name, "Scheduled")

    sm.stop_monitoring_schedule(MonitoringScheduleName=name)
    assert sm.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"] == "Stopped"
    sm.start_monitoring_schedule(MonitoringScheduleName=name)
    wait_schedule(sm, name, "Scheduled")

    sm.delete_monitoring_schedule(MonitoringScheduleName=name)
    code, _, _ = error_of(lambda: strict_sm.describe_monitoring_schedule(MonitoringScheduleName=name))
    assert code == "ResourceNotFound"
    code, _, _ = error_of(lambda: strict_sm.delete_monitoring_schedule(MonitoringScheduleName=name))
    assert code == "ResourceNotFound"


@pytest.mark.parametrize(
    "expression", ["cron(0 * ? * * *)", "cron(0 12 ? * * *)", "cron(0 0 ? * * *)", "cron(0 17/12 ? * * *)"]
)
def test_schedule_accepts_the_cron_forms_model_monitor_supports(sm: Any, expression: str) -> None:
    definition = make_job_definition(sm, unique("ep"))
    sm.create_monitoring_schedule(
        MonitoringScheduleName=unique("sched"), MonitoringScheduleConfig=schedule_config(definition, expression)
    )


def test_schedule_validation(sm: Any, strict_sm: Any) -> None:
    definition = make_job_definition(sm, unique("ep"))

    def create(name: str, config: dict[str, Any]) -> Callable[[], Any]:
        return lambda: strict_sm.create_monitoring_schedule(
            MonitoringScheduleName=name, MonitoringScheduleConfig=config
        )

    for expression in ("cron(*/5 * * * ? *)", "rate(1 hour)", "cron(0 24 ? * * *)", "cron(0 0/25 ? * * *)"):
        code, message, _ = error_of(create(unique("sched"), schedule_config(definition, expression)))
        assert code == "ValidationException"
        assert "ScheduleExpression" in message

    code, message, _ = error_of(create(unique("sched"), schedule_config(definition, "NOW")))
    assert (code, "DataAnalysisStartTime" in message) == ("ValidationException", True)
    one_time = schedule_config(definition, "NOW")
    one_time["ScheduleConfig"].update(DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    strict_sm.create_monitoring_schedule(MonitoringScheduleName=unique("sched"), MonitoringScheduleConfig=one_time)

    code, message, _ = error_of(create(unique("sched"), schedule_config("no-such-definition")))
    assert code == "ValidationException"
    assert "no-such-definition" in message

    code, message, _ = error_of(create("bad_name!", schedule_config(definition)))
    assert code == "ValidationException"
    assert "monitoringScheduleName" in message

    name = unique("sched")
    create(name, schedule_config(definition))()
    code, _, _ = error_of(create(name, schedule_config(definition)))
    assert code == "ResourceInUse"


def test_list_monitoring_schedules_filters_and_pages(sm: Any, service: SageMakerService) -> None:
    service.schedule_pending_seconds = 10_000  # keep them Pending so status filters are deterministic
    tag = uuid.uuid4().hex[:6]
    endpoint_a, endpoint_b = unique("epa"), unique("epb")
    definition_a, definition_b = make_job_definition(sm, endpoint_a), make_job_definition(sm, endpoint_b)
    names = [f"list-{tag}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        definition = definition_a if i < 3 else definition_b
        sm.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition))
    sm.stop_monitoring_schedule(MonitoringScheduleName=names[0])

    def listed(**filters: Any) -> list[str]:
        filters.setdefault("NameContains", tag)
        return [
            s["MonitoringScheduleName"]
            for s in sm.list_monitoring_schedules(SortBy="Name", SortOrder="Ascending", **filters)[
                "MonitoringScheduleSummaries"
            ]
        ]

    assert listed() == names
    assert listed(NameContains=tag.upper()) == names
    assert listed(EndpointName=endpoint_a) == names[:3]
    assert listed(MonitoringJobDefinitionName=definition_b) == names[3:]
    assert listed(StatusEquals="Stopped") == names[:1]
    assert listed(StatusEquals="Pending") == names[1:]
    assert listed(MonitoringTypeEquals="DataQuality") == names
    assert listed(MonitoringTypeEquals="ModelQuality") == []
    summary = sm.list_monitoring_schedules(NameContains=names[4])["MonitoringScheduleSummaries"][0]
    assert summary["EndpointName"] == endpoint_b
    assert summary["MonitoringJobDefinitionName"] == definition_b

    seen: list[str] = []
    token: str | None = None
    while True:
        page = sm.list_monitoring_schedules(
            NameContains=tag,
            SortBy="Name",
            SortOrder="Ascending",
            MaxResults=2,
            **({"NextToken": token} if token else {}),
        )
        seen += [s["MonitoringScheduleName"] for s in page["MonitoringScheduleSummaries"]]
        assert len(page["MonitoringScheduleSummaries"]) <= 2
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names


def test_record_execution_feeds_list_and_describe(sm: Any, service: SageMakerService) -> None:
    endpoint = unique("ep")
    definition = make_job_definition(sm, endpoint)
    name = unique("sched")
    sm.create_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=schedule_config(definition))
    hour = datetime(2025, 3, 1, 10, tzinfo=UTC)
    first = service.record_execution(
        name,
        status="Completed",
        scheduled_time=hour,
        processing_job_arn="arn:aws:sagemaker:us-east-1:123456789012:processing-job/mm-1",
        monitoring_statistics={"feature_baseline_drift_age": 0.02},
    )
    assert first["EndpointName"] == endpoint
    service.record_execution(
        name, status="CompletedWithViolations", scheduled_time=hour + timedelta(hours=1), failure_reason=None
    )

    executions = sm.list_monitoring_executions(MonitoringScheduleName=name)["MonitoringExecutionSummaries"]
    assert [e["MonitoringExecutionStatus"] for e in executions] == ["CompletedWithViolations", "Completed"]
    assert {e["MonitoringJobDefinitionName"] for e in executions} == {definition}
    assert executions[1]["ProcessingJobArn"].endswith("processing-job/mm-1")
    assert executions[1]["ScheduledTime"] == hour
    only_violations = sm.list_monitoring_executions(MonitoringScheduleName=name, StatusEquals="CompletedWithViolations")
    assert len(only_violations["MonitoringExecutionSummaries"]) == 1
    by_endpoint = sm.list_monitoring_executions(EndpointName=endpoint, SortBy="ScheduledTime", SortOrder="Ascending")
    assert [e["ScheduledTime"] for e in by_endpoint["MonitoringExecutionSummaries"]] == [
        hour,
        hour + timedelta(hours=1),
    ]

    last = sm.describe_monitoring_schedule(MonitoringScheduleName=name)["LastMonitoringExecutionSummary"]
    assert (last["MonitoringExecutionStatus"], last["ScheduledTime"]) == (
        "CompletedWithViolations",
        hour + timedelta(hours=1),
    )
    assert service.executions(name)[0]["MonitoringStatistics"] == {"feature_baseline_drift_age": 0.02}

    with pytest.raises(KeyError):
        service.record_execution("no-such-schedule", status="Completed", scheduled_time=hour)
    with pytest.raises(ValueError, match="status"):
        service.record_execution(name, status="Done", scheduled_time=hour)


# ------------------------------------------------------------------------------------------ models


@pytest.mark.parametrize(
    "image",
    [
        "docker.io/library/python:3.12",
        "ghcr.io/acme/churn:1.4",
        "public.ecr.aws/acme/churn:1.4",
        "churn:1.4",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/churn:1.4",
    ],
)
def test_create_model_refuses_an_image_outside_ecr(sm: Any, strict_sm: Any, image: str) -> None:
    name = unique("model")
    code, message, status = error_of(
        lambda: strict_sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    )
    assert (code, message, status) == (
        "ValidationException",
        f'Using non-ECR image "{image}" without Vpc repository access mode is not supported.',
        400,
    )
    # Platform is what no ImageConfig means: ECR only, so it is refused the same way; nothing is created.
    code, _, _ = error_of(
        lambda: strict_sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": image, "ImageConfig": {"RepositoryAccessMode": "Platform"}},
        )
    )
    assert code == "ValidationException"
    assert error_of(lambda: sm.describe_model(ModelName=name))[0] == "ValidationException"


def test_create_model_checks_every_container_and_accepts_ecr_and_vpc_registries(sm: Any, strict_sm: Any) -> None:
    ecr = [
        IMAGE,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/churn@sha256:" + "a" * 64,
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/churn:2",
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/churn:2",
    ]
    for image in ecr:
        sm.create_model(ModelName=unique("model"), ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    private = {"Image": "registry.internal:5000/churn:1.4", "ImageConfig": {"RepositoryAccessMode": "Vpc"}}
    vpc = {"Subnets": ["subnet-0123456789abcdef0"], "SecurityGroupIds": ["sg-0123456789abcdef0"]}
    sm.create_model(ModelName=unique("model"), ExecutionRoleArn=ROLE, PrimaryContainer=private, VpcConfig=vpc)

    name = unique("pipeline")
    code, message, _ = error_of(
        lambda: strict_sm.create_model(
            ModelName=name, ExecutionRoleArn=ROLE, Containers=[{"Image": IMAGE}, {"Image": "quay.io/acme/post:1"}]
        )
    )
    assert (code, message) == (
        "ValidationException",
        'Using non-ECR image "quay.io/acme/post:1" without Vpc repository access mode is not supported.',
    )
    assert error_of(lambda: sm.describe_model(ModelName=name))[0] == "ValidationException"


# ------------------------------------------------------------------------------------------- drift


def test_installing_twice_is_reported_as_moto_drift(aws: EmbeddedAws, sm: Any, service: SageMakerService) -> None:
    second = Patcher()
    with pytest.raises(MotoDrift, match="update_endpoint"):
        sagemaker_emulator.install(aws.emulator, second)
    second.undo_all()
    # The first installation is untouched.
    endpoint, config = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    with watching(service):
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"


def test_a_moto_without_the_patched_attribute_is_reported_as_moto_drift(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch, sm: Any, runtime: Any, service: SageMakerService
) -> None:
    monkeypatch.delattr(SageMakerRuntimeResponse, "invoke_endpoint")
    fresh = Patcher()
    with pytest.raises(MotoDrift, match="no longer has 'invoke_endpoint'"):
        sagemaker_emulator.install(aws.emulator, fresh)
    fresh.undo_all()
    monkeypatch.undo()
    endpoint, _ = ready_endpoint(sm, service, {"AllTraffic": 1.0})
    service.data_plane = echo_plane([])
    assert runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x")["Body"].read() == b"AllTraffic:x"


def test_model_package_metadata_is_held_to_sagemakers_pattern(sm: Any) -> None:
    group = unique("g")
    sm.create_model_package_group(ModelPackageGroupName=group)
    spec = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    }
    with pytest.raises(sm.exceptions.ClientError, match="customerMetadataProperties"):
        sm.create_model_package(**spec, CustomerMetadataProperties={"decision": "errors 14% (fail)"})
    arn = sm.create_model_package(**spec, CustomerMetadataProperties={"decision": "errors 14 percent fail"})[
        "ModelPackageArn"
    ]
    with pytest.raises(sm.exceptions.ClientError, match="Map key"):
        sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"bad,key": "v"})
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"ünïcode key": "ok: s3://b/k @v=1+2"})
    stored = sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    assert stored["ünïcode key"] == "ok: s3://b/k @v=1+2"
