"""The sandbox's Step Functions, seen through boto3: an execution an operator stops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

WAITING = {
    "QueryLanguage": "JSONata",
    "StartAt": "Bake",
    "States": {"Bake": {"Type": "Wait", "Seconds": 3600, "End": True}},
}


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=600)) as embedded:
        yield embedded


def started(aws: EmbeddedAws, name: str) -> str:
    sfn = aws.client("stepfunctions")
    role = aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(name=name, definition=json.dumps(WAITING), roleArn=role)["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=machine)["executionArn"])


def ended(aws: EmbeddedAws, execution: str) -> dict[str, Any]:
    sfn, deadline = aws.client("stepfunctions"), time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return dict(described)


def status_events(aws: EmbeddedAws, execution: str) -> list[dict[str, Any]]:
    events = aws.emulator.services["events"]
    assert events.drain(10)
    return [
        e["detail"]
        for e in events.emitted
        if e["detail-type"] == "Step Functions Execution Status Change" and e["detail"]["executionArn"] == execution
    ]


def test_stop_execution_keeps_its_error_and_cause_and_stops_on_sandbox_time(aws: EmbeddedAws) -> None:
    execution = started(aws, "stopped-by-operator")
    before = aws.clock.now()

    aws.client("stepfunctions").stop_execution(
        executionArn=execution, error="OperatorStop", cause="checkout errors rising"
    )

    described = ended(aws, execution)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED",
        "OperatorStop",
        "checkout errors rising",
    )
    stopped = described["stopDate"].astimezone(UTC)
    assert before - timedelta(seconds=1) <= stopped <= aws.clock.now()
    aborted = status_events(aws, execution)[-1]
    assert (aborted["status"], aborted["error"], aborted["cause"]) == (
        "ABORTED",
        "OperatorStop",
        "checkout errors rising",
    )


def test_stop_execution_without_a_reason_reports_none(aws: EmbeddedAws) -> None:
    execution = started(aws, "stopped-silently")
    aws.client("stepfunctions").stop_execution(executionArn=execution)
    described = ended(aws, execution)
    assert described["status"] == "ABORTED"
    assert "error" not in described and "cause" not in described
    aborted = status_events(aws, execution)[-1]
    assert (aborted["status"], aborted["error"], aborted["cause"]) == ("ABORTED", None, None)


def test_the_machines_timeout_is_sandbox_time_when_the_clock_slows_down(aws: EmbeddedAws) -> None:
    sfn = aws.client("stepfunctions")
    role = aws.client("iam").create_role(RoleName="times-out", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    definition = {**WAITING, "TimeoutSeconds": 300}
    machine = sfn.create_state_machine(name="times-out", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    aws.clock.throttle(0.25)  # 300 s of sandbox time: 0.5 s real at warp 600, 2 s once throttled
    try:
        sfn, deadline = aws.client("stepfunctions"), time.monotonic() + 10
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        aws.clock.throttle(1.0)
    assert described["status"] == "TIMED_OUT"
    lasted = (described["stopDate"] - described["startDate"]).total_seconds()
    assert lasted >= 300 - 1, lasted
    [listed] = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert (listed["status"], listed["stopDate"]) == ("TIMED_OUT", described["stopDate"])


def test_execution_history_pages_in_the_order_asked_for(aws: EmbeddedAws) -> None:
    sfn = aws.client("stepfunctions")
    role = aws.client("iam").create_role(RoleName="many-states", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(60)}
    states["S60"] = {"Type": "Succeed"}
    definition = {"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}
    machine = sfn.create_state_machine(name="many-states", definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    assert ended(aws, execution)["status"] == "SUCCEEDED"

    def entered(reverse: bool, size: int | None = None) -> tuple[list[str], int]:
        pages = sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution, reverseOrder=reverse, **({"PaginationConfig": {"PageSize": size}} if size else {})
        )
        names, count = [], 0
        for page in pages:
            count += 1
            names += [e["stateEnteredEventDetails"]["name"] for e in page["events"] if "stateEnteredEventDetails" in e]
        return names, count

    oldest_first, pages = entered(False)
    assert oldest_first[:2] == ["S0", "S1"] and len(oldest_first) == 61
    assert pages == 2  # 100 events a page by default; this execution has more
    newest_first, _ = entered(True, size=7)
    assert newest_first == oldest_first[::-1]
