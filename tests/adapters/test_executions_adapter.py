"""The Step Functions executions adapter on plain moto: a restore started by name once (a retried event gets the
first execution), and the executions that ended since a time, across ListExecutions pages. What a run's states
returned, and task tokens, need moto to run the ASL: test_executions_run_adapter.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlrollout.adapters.executions import StepFunctionsExecutions

ROLE = "arn:aws:iam::123456789012:role/rollout"
WAITING = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 3600, "End": True}}}


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("stepfunctions", region_name="us-east-1")


def machine(sfn: Any, definition: dict[str, Any] = WAITING, name: str = "rollout") -> str:
    arn: str = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    return arn


def calls(client: Any) -> list[str]:
    made: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: made.append(model.name))
    return made


def test_start_runs_an_execution_with_the_document_as_input(sfn: Any) -> None:
    executions = StepFunctionsExecutions(sfn, machine(sfn))

    arn = executions.start("restore-d-1", {"deployment_id": "d-1", "at": datetime(2026, 11, 25, tzinfo=UTC)})

    described = sfn.describe_execution(executionArn=arn)
    assert described["name"] == "restore-d-1"
    assert json.loads(described["input"]) == {"deployment_id": "d-1", "at": "2026-11-25 00:00:00+00:00"}


def test_the_same_name_again_answers_the_first_execution_and_starts_nothing(sfn: Any) -> None:
    state_machine = machine(sfn)
    executions = StepFunctionsExecutions(sfn, state_machine)
    first = executions.start("restore-d-1", {"deployment_id": "d-1"})

    same = executions.start("restore-d-1", {"deployment_id": "d-1"})  # a retried event, the same input
    other = executions.start("restore-d-1", {"deployment_id": "d-1", "retry": 2})  # ExecutionAlreadyExists
    sfn.stop_execution(executionArn=first)
    ended = executions.start("restore-d-1", {"deployment_id": "d-1"})  # ExecutionAlreadyExists: it has ended

    assert same == other == ended == first
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=state_machine)["executions"]] == [first]


def test_start_on_a_missing_state_machine_raises(sfn: Any) -> None:
    missing = machine(sfn).replace(":rollout", ":deleted")
    with pytest.raises(ClientError) as refused:
        StepFunctionsExecutions(sfn, missing).start("restore-d-1", {})
    assert refused.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def tick() -> datetime:
    """Moves the clock on past ListExecutions' millisecond dates, and tells the time."""
    time.sleep(0.005)
    now = datetime.now(UTC)
    time.sleep(0.005)
    return now


def test_ended_since_lists_executions_that_stopped_since_and_stops_at_the_oldest_possible(sfn: Any) -> None:
    state_machine = machine(sfn)

    def start(name: str) -> str:
        arn: str = sfn.start_execution(stateMachineArn=state_machine, name=name)["executionArn"]
        return arn

    longest_ago = start("older-than-the-longest-run")
    tick()
    cutoff = tick()
    ended_before = start("ended-before")
    sfn.stop_execution(executionArn=ended_before)
    since = tick()
    ended_after = start("ended-after")
    sfn.stop_execution(executionArn=ended_after)
    start("still-running")
    sfn.stop_execution(executionArn=longest_ago)  # stopped after `since`, but started before since - longest

    made = calls(sfn)
    found = StepFunctionsExecutions(sfn, state_machine).ended_since(since, since - cutoff)

    assert [e["name"] for e in found] == ["ended-after"]
    assert found[0]["executionArn"] == ended_after and found[0]["status"] == "ABORTED"
    fields = {"executionArn", "stateMachineArn", "name", "status", "input", "output", "error", "cause"}
    assert set(found[0]) == fields
    assert made == ["ListExecutions", "DescribeExecution"]  # nothing older than the cutoff is described

    everything = StepFunctionsExecutions(sfn, state_machine).ended_since(since, timedelta(days=1))
    assert sorted(e["name"] for e in everything) == ["ended-after", "older-than-the-longest-run"]


def test_ended_since_reads_on_past_a_full_page(sfn: Any) -> None:
    state_machine = machine(sfn)
    since = tick()
    for n in range(105):  # ListExecutions pages hold 100 executions by default
        sfn.stop_execution(
            executionArn=sfn.start_execution(stateMachineArn=state_machine, name=f"e-{n}")["executionArn"]
        )
    made = calls(sfn)

    found = StepFunctionsExecutions(sfn, state_machine).ended_since(since, timedelta(hours=1))

    assert len(found) == 105
    assert made.count("ListExecutions") == 2
