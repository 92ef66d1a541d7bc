"""Faults, each reproduced in the sandbox with fault injection and followed to the state it leaves behind.

One sandbox runs the real template, state machine and handlers for the whole module. Every test rolls a first
version out to its own endpoint, injects one fault into the second rollout, and asserts on state: the deployment
record, the model registry, the endpoint's config and weights, the endpoint lease, and what operators were told.

The stack is deployed with RollbackMaxPolls=30 (default 120): enough for the slowest rollback here (delete and
recreate an endpoint, about a dozen steps), and it lets a rollback that can never verify give up in seconds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout.domain import naming
from mlrollout.domain.config import Strategy
from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, TERMINAL, RolloutOutcome, Sandbox, Upload

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
# The shipped defaults: steps 10% and 50%, 10-minute bakes, a look every 5 minutes, the default judge.
FAST = """image: {image}
{extra}"""
ROLLBACK_MAX_POLLS = 30
# Every SageMaker action a second rollout (canary, shift, promote) makes, through a Lambda or an aws-sdk task.
ROLLOUT_ACTIONS = (
    "DescribeModelPackageGroup",
    "CreateModelPackage",
    "DescribeEndpoint",
    "DescribeEndpointConfig",
    "CreateModel",
    "CreateEndpointConfig",
    "UpdateEndpoint",
    "UpdateEndpointWeightsAndCapacities",
    "UpdateModelPackage",
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=11, parameters={"RollbackMaxPolls": str(ROLLBACK_MAX_POLLS)}) as running:
        yield running


@pytest.fixture
def model(sandbox: Sandbox) -> Iterator[str]:
    name = f"m-{uuid.uuid4().hex[:6]}"
    sandbox.send_traffic(name, TrafficProfile(rps=10))
    yield name
    assert sandbox.aws is not None and sandbox.dataplane is not None
    sandbox.aws.emulator.faults.clear()
    sandbox.dataplane.stop_traffic(name)


Roll = Callable[..., RolloutOutcome]


@pytest.fixture
def roll(sandbox: Sandbox, model: str) -> Roll:
    def run(version: str, directory: str | None = None, *, extra: str = "") -> RolloutOutcome:
        return sandbox.wait_for_rollout(upload(sandbox, model, version, directory, extra=extra), timeout=180)

    return run


def upload(sandbox: Sandbox, model: str, version: str, directory: str | None = None, *, extra: str = "") -> Upload:
    sandbox.put_config(model, FAST.format(image=IMAGE, extra=extra))
    return sandbox.upload(model, version, package_model(DEMO_MODELS / "fraud-scorer" / (directory or version)))


def faults(sandbox: Sandbox) -> Any:
    assert sandbox.aws is not None
    return sandbox.aws.emulator.faults


# --- state --------------------------------------------------------------------------------------------------------


def endpoint(sandbox: Sandbox, name: str) -> tuple[str, str, dict[str, float]]:
    described = sandbox.client("sagemaker").describe_endpoint(EndpointName=name)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    return described["EndpointStatus"], described["EndpointConfigName"], weights


def record(sandbox: Sandbox, model: str, version: str) -> dict[str, Any]:
    table = sandbox.stack.physical("DeploymentsTable")
    found = [
        r for r in DynamoDeployments(sandbox.client("dynamodb"), table).by_model(model) if r["version_label"] == version
    ]
    assert len(found) == 1, found
    return found[0]


def lease(sandbox: Sandbox, name: str) -> dict[str, Any] | None:
    table = sandbox.stack.physical("StateTable")
    item = sandbox.client("dynamodb").get_item(TableName=table, Key={"id": {"S": f"lease#{name}"}}, ConsistentRead=True)
    return item.get("Item")


def package_status(sandbox: Sandbox, deployment: dict[str, Any]) -> str:
    """The registry's approval status of the version a deployment record registered."""
    described = sandbox.client("sagemaker").describe_model_package(ModelPackageName=deployment["model_package_arn"])
    return str(described["ModelApprovalStatus"])


def alerts(sandbox: Sandbox, model: str) -> list[dict[str, Any]]:
    """The alert documents operators received about `model`, oldest first."""
    sandbox.drain()
    documents = [json.loads(a["Message"]) for a in sandbox.alerts() if a.get("Subject", "").startswith("[mlrollout]")]
    return [d for d in documents if d.get("model") == model]


def assert_ended_on(sandbox: Sandbox, model: str, config: str) -> None:
    """The endpoint serves the first version again, alone, and nobody holds its lease."""
    assert endpoint(sandbox, model) == ("InService", config, {"v1": 1.0})
    assert lease(sandbox, model) is None


def what_happened(sandbox: Sandbox, model: str, version: str) -> str:
    """For the reliability report: how the version's record, the registry, the endpoint and the lease ended."""
    found = record(sandbox, model, version)
    status, config, weights = endpoint(sandbox, model)
    reason = str(found.get("reason", ""))
    reason = reason if len(reason) <= 160 else reason[:157] + "..."
    return (
        f"{version} {found['outcome']} ({reason}); registry {package_status(sandbox, found)}; endpoint {status} on "
        f"{config} {weights}; lease {'free' if lease(sandbox, model) is None else 'held'}; alerts: "
        + ", ".join(a["event"] for a in alerts(sandbox, model))
    )


def promoted_v1(sandbox: Sandbox, model: str, roll: Roll) -> str:
    first = roll("v1")
    assert first.outcome == "promoted", first.cause
    return endpoint(sandbox, model)[1]


# --- SageMaker ------------------------------------------------------------------------------------------------------


def test_throttling_of_every_sagemaker_call_is_retried_with_backoff(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    promoted_v1(sandbox, model, roll)
    armed = [
        faults(sandbox).arm("sagemaker.api", "throttle", action=a, service="sagemaker", times=2)
        for a in ROLLOUT_ACTIONS
    ]

    outcome = roll("v2")

    assert outcome.outcome == "promoted", outcome.cause
    assert {spec.match["action"]: spec.fired for spec in armed} == dict.fromkeys(ROLLOUT_ACTIONS, 2)
    # The aws-sdk tasks: Step Functions' Retry (backoff, full jitter) under the name an aws-sdk task gives an error its
    # service does not model (SageMaker's model declares no ThrottlingException): SageMaker.SageMakerException.
    retried = [
        e["taskFailedEventDetails"]
        for e in outcome.history
        if e["type"] == "TaskFailed" and "ThrottlingException" in e["taskFailedEventDetails"].get("cause", "")
    ]
    assert retried and {r["error"] for r in retried} == {"SageMaker.SageMakerException"}
    assert outcome.output is not None
    assert endpoint(sandbox, model) == ("InService", outcome.output["config"], {"v2": 1.0})
    v2 = record(sandbox, model, "v2")
    assert (v2["outcome"], package_status(sandbox, v2)) == ("promoted", "Approved")
    assert lease(sandbox, model) is None
    assert [a["event"] for a in alerts(sandbox, model)][-1] == "promoted"
    observed(what_happened(sandbox, model, "v2"))


def test_throttling_that_outlasts_the_retries_is_handled_by_rolling_back(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    # Shift Traffic tries 7 times (MaxAttempts 6); the refusal sends it to a look at the endpoint, InService, which
    # earns it one more round (the change that refused it may have just ended), 7 tries again: every attempt is
    # throttled; the rollback's calls are not.
    faults(sandbox).arm("sagemaker.api", "throttle", action="UpdateEndpointWeightsAndCapacities", times=14)

    outcome = roll("v2")

    assert outcome.outcome == "rolled back"
    throttled = [e for e in outcome.history if e["type"] == "TaskFailed"]
    assert len(throttled) == 14
    assert outcome.states_entered().count("Describe Refused Endpoint") == 2
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rolled_back"
    assert "Error Code: ThrottlingException" in v2["reason"]
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    assert [a["event"] for a in alerts(sandbox, model)][-1] == "rolled_back"
    observed(what_happened(sandbox, model, "v2"))


@pytest.mark.parametrize(
    ("operation", "failed_state"),
    [("sagemaker.update_endpoint", "Deploy Candidate"), ("sagemaker.update_endpoint_weights", "Shift Traffic")],
)
def test_an_endpoint_update_that_fails_is_rolled_back_to_the_previous_config(
    sandbox: Sandbox, model: str, roll: Roll, operation: str, failed_state: str, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    faults(sandbox).arm(operation, "fail", endpoint=model, params={"failure_reason": "CapacityError: no ml.m5"})

    outcome = roll("v2")

    assert outcome.outcome == "rolled back"
    entered = outcome.states_entered()
    awaited = {"Deploy Candidate": "Await Deployed", "Shift Traffic": "Await Shift"}[failed_state]
    assert entered.index(failed_state) < entered.index(awaited) < entered.index("Roll Back")
    # The failure's event ended the wait: SageMaker's FAILED state change, not a re-check.
    assert not [e for e in outcome.history if e["type"] == "TaskTimedOut"]
    steps = [r["step"] for r in outcome.task_results("Roll Back")]
    assert "delete_endpoint" in steps and "recreate_endpoint" in steps and steps[-1] == "done"
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rolled_back"
    assert v2["reason"] == f"SageMaker reports endpoint {model} Failed: CapacityError: no ml.m5"
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    rolled_back = [a for a in alerts(sandbox, model) if a["event"] == "rolled_back"]
    assert [a["reason"] for a in rolled_back] == [v2["reason"]]
    observed(what_happened(sandbox, model, "v2"))


def test_an_update_sagemaker_rolled_back_while_reporting_in_service_is_caught(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    faults(sandbox).arm("sagemaker.update_endpoint", "silent_rollback", endpoint=model)

    outcome = roll("v2")

    assert outcome.outcome == "rolled back"
    assert "Shift Traffic" not in outcome.states_entered()
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rolled_back"
    assert f"endpoint {model} is InService on {config_before}" in v2["reason"]
    assert "SageMaker rolled the update back" in v2["reason"]
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    observed(what_happened(sandbox, model, "v2"))


# --- Lambda -----------------------------------------------------------------------------------------------------


def test_a_lambda_crash_after_it_changed_the_endpoint_is_rolled_back(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    promote = sandbox.stack.physical("PromoteCandidateFunction")
    # The runtime dies after Promote asked SageMaker for the final config: the change happened, its result is lost.
    faults(sandbox).arm("lambda:Invoke", "crash", function=promote, params={"at": "end"})

    outcome = roll("v2")

    assert outcome.outcome == "rolled back"
    [crash] = [e["taskFailedEventDetails"] for e in outcome.history if e["type"] == "TaskFailed"]
    assert crash["error"] == "Runtime.ExitError"  # not a transient Lambda error: not retried
    [plan] = outcome.task_results("Plan Deployment")
    seen = [(r["observed"]["status"], r["observed"]["config"]) for r in outcome.task_results("Roll Back")]
    assert seen[0][0] == "Updating"  # the crashed step's change was in flight, then found and undone
    assert ("InService", plan["final_config"]) in seen
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rolled_back"
    assert v2["reason"].endswith("Error: Runtime exited with error: exit status 1")
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    observed(what_happened(sandbox, model, "v2"))


# --- CloudWatch -----------------------------------------------------------------------------------------------------


def test_a_judge_metrics_call_that_fails_briefly_is_retried(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    promoted_v1(sandbox, model, roll)
    spec = faults(sandbox).arm("cloudwatch.api", "throttle", action="GetMetricData", times=3)

    outcome = roll("v2")

    assert outcome.outcome == "promoted", outcome.cause
    assert spec.fired == 3
    decisions = record(sandbox, model, "v2")["decisions"]
    assert not any("unavailable" in d["reason"] for d in decisions)
    assert lease(sandbox, model) is None
    observed(what_happened(sandbox, model, "v2"))


def test_judge_metrics_that_stay_unavailable_are_never_a_pass(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    faults(sandbox).arm("cloudwatch.api", "error", action="GetMetricData", times=100_000)

    outcome = roll("v2")

    assert outcome.outcome == "rolled back"
    v2 = record(sandbox, model, "v2")
    verdicts = {d["verdict"] for d in v2["decisions"]}
    assert verdicts == {"INCONCLUSIVE"}
    assert sum("Metrics unavailable" in d["reason"] for d in v2["decisions"]) >= 2
    assert v2["outcome"] == "rolled_back"
    deadline = Strategy().deadline_minutes
    assert v2["reason"].startswith(f"No verdict within the {deadline:g}-minute deadline: Metrics unavailable")
    assert "InternalServiceError" in v2["reason"]
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    observed(what_happened(sandbox, model, "v2"))


def put_rollback_alarm(sandbox: Sandbox, name: str) -> None:
    """A business alarm (orders per minute too low) that fires on one breaching datapoint and keeps its state."""
    sandbox.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="Shop",
        MetricName="OrdersPerMinute",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=50,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="ignore",
    )


def breach(sandbox: Sandbox, alarm: str) -> None:
    cloudwatch = sandbox.client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {"MetricName": "OrdersPerMinute", "Value": 3, "Timestamp": sandbox.clock.now() - timedelta(seconds=30)}
        ],
    )
    deadline = time.monotonic() + 10
    while cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] != "ALARM":
        assert time.monotonic() < deadline, "the alarm did not fire"
        time.sleep(0.05)


def test_a_rollback_alarm_already_firing_refuses_the_rollout_before_anything_changes(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    alarm = f"{model}-orders-low"
    put_rollback_alarm(sandbox, alarm)
    breach(sandbox, alarm)

    outcome = roll("v2", extra=f"judge:\n  rollback_alarms: [{alarm}]\n")

    assert outcome.outcome == "rejected"
    assert "Deploy Candidate" not in outcome.states_entered()
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rejected"
    assert v2["reason"].startswith(f"not rolling out to endpoint {model}: rollback alarm {alarm} is in ALARM since ")
    assert "Fix: find out why the alarm fires and wait for it to return to OK" in v2["reason"]
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    sm = sandbox.client("sagemaker")  # nothing of v2 was created: no model, no endpoint config
    created = [m["ModelName"] for page in sm.get_paginator("list_models").paginate() for m in page["Models"]]
    created += [
        c["EndpointConfigName"]
        for page in sm.get_paginator("list_endpoint_configs").paginate()
        for c in page["EndpointConfigs"]
    ]
    assert [name for name in created if name.startswith(f"{model}-v2")] == []
    [rejected] = [a for a in alerts(sandbox, model) if a["event"] == "rejected"]
    assert rejected["reason"] == v2["reason"]
    observed(what_happened(sandbox, model, "v2"))


def test_endpoint_changes_whose_events_never_come_are_seen_by_the_slow_re_check(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    """EventBridge may not deliver (a disabled rule, an outage): each Await state's TimeoutSeconds
    (EndpointRecheckSeconds) makes Step Functions run Await Endpoint again, which looks and answers itself."""
    promoted_v1(sandbox, model, roll)
    events, rule = sandbox.client("events"), sandbox.stack.physical("EndpointChangedFunctionEndpointStateChanged")
    assert sandbox.aws is not None
    sagemaker = sandbox.aws.emulator.services["sagemaker"]
    # UpdateEndpoint takes 30 sandbox minutes here: longer than EndpointRecheckSeconds (10 minutes), shorter than
    # EndpointWaitMinutes (60), so the deployment's and the promotion's waits each outlast Await Endpoint's first look
    # however loaded the machine (a weight shift's 30 s may already be over at it).
    updated, sagemaker.update_seconds = sagemaker.update_seconds, 1800
    events.disable_rule(Name=rule)
    try:
        outcome = roll("v2")
    finally:
        events.enable_rule(Name=rule)
        sagemaker.update_seconds = updated

    assert outcome.outcome == "promoted", outcome.cause
    awaited = [n for n in outcome.states_entered() if n.startswith("Await ")]
    assert awaited == ["Await Deployed", "Await Shift", "Await Shift", "Await Promoted"]
    # No event ended a wait: the two updates each ended at a re-check (at least 2 timed-out attempts each), and
    # nothing else failed.
    timed_out = [e for e in outcome.history if e["type"] == "TaskTimedOut"]
    assert len(timed_out) >= 4
    assert not [e for e in outcome.history if e["type"] == "TaskFailed"]
    [plan] = outcome.task_results("Plan Deployment")
    assert endpoint(sandbox, model) == ("InService", plan["final_config"], {"v2": 1.0})
    observed(what_happened(sandbox, model, "v2"))


def test_a_rollback_alarm_that_fires_during_the_bake_fails_the_canary(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    alarm = f"{model}-orders-low"
    put_rollback_alarm(sandbox, alarm)
    started = upload(sandbox, model, "v2", extra=f"judge:\n  rollback_alarms: [{alarm}]\n")
    execution = sandbox.find_execution(started)
    wait_for_state(sandbox, execution, "Wait Evaluation Interval")
    breach(sandbox, alarm)

    outcome = sandbox.wait_for_rollout(started, timeout=180)

    assert outcome.outcome == "rolled back"
    v2 = record(sandbox, model, "v2")
    assert v2["outcome"] == "rolled_back"
    assert v2["reason"].startswith(f"The canary fails: rollback alarm {alarm} is in ALARM since ")
    assert v2["decisions"][-1]["verdict"] == "FAIL"
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    [told] = [a for a in alerts(sandbox, model) if a["event"] == "rolled_back"]
    assert told["reason"] == v2["reason"]
    observed(what_happened(sandbox, model, "v2"))


def failed_with(outcome: RolloutOutcome, state: str) -> list[str]:
    """The errors of `state`'s failed attempts, in order."""
    errors, current = [], None
    for event in outcome.history:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "TaskFailed" and current == state:
            errors.append(event["taskFailedEventDetails"]["error"])
    return errors


def test_changes_refused_during_a_scaling_activity_wait_for_it_and_the_version_is_promoted(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    promoted_v1(sandbox, model, roll)
    # An auto scaling activity begins just before Deploy Candidate's UpdateEndpoint (the Lambda path), and one that
    # provisions for 20 minutes just before Shift Traffic's UpdateEndpointWeightsAndCapacities (the aws-sdk path:
    # it outlasts that task's short Retry).
    armed = [
        faults(sandbox).arm("sagemaker.scaling_activity", "scale_out", action="UpdateEndpoint", endpoint=model),
        faults(sandbox).arm(
            "sagemaker.scaling_activity", "scale_out", action="UpdateEndpointWeightsAndCapacities", endpoint=model,
            params={"seconds": 1200},
        ),
    ]  # fmt: skip
    started = upload(sandbox, model, "v2")
    execution = sandbox.find_execution(started)
    wait_for_state(sandbox, execution, "Announce Step")
    # and one just before Promote's UpdateEndpoint
    armed.append(
        faults(sandbox).arm("sagemaker.scaling_activity", "scale_out", action="UpdateEndpoint", endpoint=model)
    )

    outcome = sandbox.wait_for_rollout(started, timeout=180)

    assert outcome.outcome == "promoted", outcome.cause
    assert [spec.fired for spec in armed] == [1, 1, 1]
    # Refused once, or again while the activity lasts (FULL jitter may retry sooner than it ends).
    assert set(failed_with(outcome, "Deploy Candidate")) == {"EndpointChanging"}
    assert set(failed_with(outcome, "Promote")) == {"EndpointChanging"}
    assert set(failed_with(outcome, "Shift Traffic")) == {"SageMaker.SageMakerException"}
    entered = outcome.states_entered()
    assert "Describe Refused Endpoint" in entered and "Wait Then Shift Traffic" in entered
    assert "Roll Back" not in entered
    assert endpoint(sandbox, model)[0::2] == ("InService", {"v2": 1.0})
    assert record(sandbox, model, "v2")["outcome"] == "promoted"
    assert lease(sandbox, model) is None
    observed(what_happened(sandbox, model, "v2"))


def test_a_rollback_refused_during_a_scaling_activity_waits_for_it_and_verifies(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    sample = (
        'pre_traffic:\n  sample_request:\n    body: \'{"features": {"amount": 5, "merchant": "travel", "hour": 2}}\'\n'
    )
    # The faulty model fails its pre-traffic check; an auto scaling activity begins just before the restore.
    activity = faults(sandbox).arm(
        "sagemaker.scaling_activity", "scale_out", action="UpdateEndpoint", endpoint=model,
        endpoint_config=config_before,
    )  # fmt: skip

    outcome = roll("v3", "v3-faulty", extra=sample)

    assert outcome.outcome == "rolled back", outcome.cause
    assert activity.fired == 1
    steps = outcome.task_results("Roll Back")
    refused = [s for s in steps if "while it is Updating" in s["reason"]]
    assert len(refused) == 1 and refused[0]["status"] == "waiting"
    assert steps[-1]["status"] == "done" and steps[-1]["verified"]
    assert_ended_on(sandbox, model, config_before)
    assert record(sandbox, model, "v3")["outcome"] == "rolled_back"
    observed(what_happened(sandbox, model, "v3"))


# --- Step Functions ---------------------------------------------------------------------------------------------


def wait_for_state(sandbox: Sandbox, execution: str, state: str, timeout: float = 60) -> None:
    sfn, deadline = sandbox.client("stepfunctions"), time.monotonic() + timeout
    while True:
        events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        if any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events):
            return
        assert time.monotonic() < deadline, f"{execution} never entered {state}"
        time.sleep(0.05)


def history_tail(sandbox: Sandbox, execution: str, count: int = 12) -> str:
    """The execution's last events, one line each: what a failed assertion about its end shows."""
    events = sandbox.client("stepfunctions").get_execution_history(executionArn=execution, maxResults=1000)["events"]
    lines = []
    for event in events[-count:]:
        details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
        lines.append(f"{event['type']} {json.dumps(details, default=str)[:300]}")
    return "\n".join(lines)


def wait_for_execution(sandbox: Sandbox, execution: str, timeout: float = 120) -> dict[str, Any]:
    sfn, deadline = sandbox.client("stepfunctions"), time.monotonic() + timeout
    while True:
        try:
            described = sfn.describe_execution(executionArn=execution)
        except sfn.exceptions.ExecutionDoesNotExist:
            described = {"status": "NOT STARTED"}
        if described["status"] in TERMINAL:
            return dict(described)
        assert time.monotonic() < deadline, f"{execution} still {described['status']}"
        time.sleep(0.05)


def test_an_operator_stop_mid_bake_restores_the_endpoint_and_releases_the_lease(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    started = upload(sandbox, model, "v2")
    execution = sandbox.find_execution(started)
    wait_for_state(sandbox, execution, "Wait Evaluation Interval")
    assert endpoint(sandbox, model)[2] == {"v1": 90.0, "v2": 10.0}  # the first default step

    sandbox.client("stepfunctions").stop_execution(
        executionArn=execution, error="OperatorStop", cause="on-call stopped it: checkout errors"
    )

    ended = wait_for_execution(sandbox, execution)["status"]
    assert ended == "ABORTED", history_tail(sandbox, execution)  # seen FAILED once in CI: the tail says why next time
    name = f"restore-{naming.short_token(execution, 12)}"
    restore = sandbox.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
    restored = wait_for_execution(sandbox, restore)
    assert (restored["status"], restored.get("error")) == ("FAILED", "RolledBack")
    v2 = record(sandbox, model, "v2")
    assert (v2["outcome"], v2["restore_execution"]) == ("rolled_back", restore)
    stopped = (
        "the execution was stopped (by an operator or an API call): OperatorStop: on-call stopped it: checkout errors"
    )
    assert v2["reason"] == f"{stopped}, while it was changing endpoint {model}"
    assert package_status(sandbox, v2) == "Rejected"
    assert_ended_on(sandbox, model, config_before)
    [told] = [a for a in alerts(sandbox, model) if a["event"] == "rolled_back"]
    assert told["reason"] == v2["reason"]
    assert {"name": "rollback verified", "value": "yes", "limit": None} in told["evidence"]
    observed(what_happened(sandbox, model, "v2"))


# --- a rollback that cannot verify ----------------------------------------------------------------------------------


def test_a_rollback_whose_result_never_matches_is_a_critical_alert(
    sandbox: Sandbox, model: str, roll: Roll, observed: Callable[[str], None]
) -> None:
    config_before = promoted_v1(sandbox, model, roll)
    sample = (
        'pre_traffic:\n  sample_request:\n    body: \'{"features": {"amount": 5, "merchant": "travel", "hour": 2}}\'\n'
    )
    # The faulty model fails its pre-traffic check; every restore of the previous config, SageMaker rolls back.
    faults(sandbox).arm(
        "sagemaker.update_endpoint", "silent_rollback", endpoint=model, endpoint_config=config_before, times=1000
    )

    outcome = roll("v3", "v3-faulty", extra=sample)

    assert outcome.outcome == "rollback failed"
    steps = outcome.task_results("Roll Back")
    assert len(steps) == ROLLBACK_MAX_POLLS and not any(s["verified"] for s in steps)
    v3 = record(sandbox, model, "v3")
    assert v3["outcome"] == "rollback_failed"
    assert v3["reason"].startswith(
        f"the rollback did not complete: endpoint {model} was not verified back on {config_before} with all traffic on "
        f"v1 after {ROLLBACK_MAX_POLLS} rollback steps: it is "
    )
    assert "(it was rolling back after PreTrafficCheckFailed in Pre-Traffic Check)" in v3["reason"]
    status, config, _ = endpoint(sandbox, model)
    assert status == "InService" and config != config_before
    assert lease(sandbox, model) is None
    [critical] = [a for a in alerts(sandbox, model) if a["event"] == "rollback_failed"]
    assert critical["severity"] == "critical"
    assert critical["reason"].startswith("The rollback did not complete: endpoint ")
    assert {"name": "rollback verified", "value": "NO", "limit": None} in critical["evidence"]
    observed(what_happened(sandbox, model, "v3"))
