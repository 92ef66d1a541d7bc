"""The Step Functions adapters that need a running execution, on plain moto with `execute_state_machine` (moto runs
the ASL): what named states returned, read from the execution's history, and the answers to a task that waits for
its token (`TaskTokens`), which raise TokenExpired once the task no longer waits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.executions import StepFunctionsExecutions, TaskTokens
from mlrollout.domain.errors import TokenExpired

ROLE = "arn:aws:iam::123456789012:role/rollout"
# moto runs the state machine in a thread of its own; a loaded machine may take seconds to reach a state.
PATIENCE_SECONDS = 30


@dataclass
class Aws:
    sfn: Any
    sqs: Any
    queue: str

    def run(self, definition: dict[str, Any], name: str = "x-1") -> str:
        machine = self.sfn.create_state_machine(name="rollout", definition=json.dumps(definition), roleArn=ROLE)
        arn: str = self.sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=name, input="{}")[
            "executionArn"
        ]
        return arn

    def ended(self, execution: str) -> dict[str, Any]:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.01)
        raise AssertionError(f"{execution} still runs")

    def token(self) -> str:
        """The token the waiting task sent to the queue (as Await Approval sends its token to the operator)."""
        deadline = time.monotonic() + PATIENCE_SECONDS
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue).get("Messages", [])
            if messages:
                return str(json.loads(messages[0]["Body"])["token"])
            time.sleep(0.01)
        raise AssertionError("no task token was sent")


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="tokens")["QueueUrl"]
        yield Aws(boto3.client("stepfunctions", region_name="us-east-1"), sqs, queue)


STATES = {
    "StartAt": "Plan Deployment",
    "States": {
        # As a Lambda task returns its answer: under Payload, beside the invocation's metadata.
        "Plan Deployment": {
            "Type": "Pass",
            "Result": {"Payload": {"candidate_variant": "v2"}, "StatusCode": 200},
            "Next": "Judge Canary",
        },
        "Judge Canary": {"Type": "Pass", "Result": {"verdict": "PASS", "step": 0}, "Next": "Count Steps"},
        "Count Steps": {"Type": "Pass", "Result": [10, 50, 100], "Next": "Label"},
        "Label": {"Type": "Pass", "Result": "not a document", "End": True},
    },
}


def test_outputs_reads_each_named_states_payload_from_the_history(aws: Aws) -> None:
    execution = aws.run(STATES)
    assert aws.ended(execution)["status"] == "SUCCEEDED"
    executions = StepFunctionsExecutions(aws.sfn, "arn:aws:states:us-east-1:123456789012:stateMachine:rollout")

    found = executions.outputs(execution, ["Plan Deployment", "Judge Canary", "Count Steps", "Label", "Missing"])

    assert found == {
        "Plan Deployment": {"candidate_variant": "v2"},  # the Payload, not the invocation around it
        "Judge Canary": {"verdict": "PASS", "step": 0},  # a state that is not a Lambda task: its output
    }  # a list, a string and a state that never ran are left out


def awaiting(queue: str) -> dict[str, Any]:
    return {
        "StartAt": "Await Approval",
        "States": {
            "Await Approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "End": True,
            }
        },
    }


def test_succeed_hands_the_output_to_the_waiting_task_once(aws: Aws) -> None:
    execution = aws.run(awaiting(aws.queue))
    token = aws.token()
    tokens = TaskTokens(aws.sfn)

    tokens.succeed(token, {"approved_by": "alice", "note": "looks good"})

    ended = aws.ended(execution)
    assert ended["status"] == "SUCCEEDED"
    assert json.loads(ended["output"]) == {"approved_by": "alice", "note": "looks good"}
    with pytest.raises(TokenExpired):  # `mlrollout approve` run twice: the task no longer waits
        tokens.succeed(token, {"approved_by": "bob"})


def test_fail_ends_the_waiting_task_with_the_named_error(aws: Aws) -> None:
    execution = aws.run(awaiting(aws.queue))
    token = aws.token()

    TaskTokens(aws.sfn).fail(token, "Rejected", "rejected by alice: latency")

    ended = aws.ended(execution)
    assert (ended["status"], ended["error"]) == ("FAILED", "Rejected")


def test_a_token_no_task_waits_for_is_token_expired(aws: Aws) -> None:
    tokens = TaskTokens(aws.sfn)
    with pytest.raises(TokenExpired, match="InvalidToken"):
        tokens.succeed("AQCEAAAAKgAAAAMAAAAAAAAAAdoes-not-exist", {})
    with pytest.raises(TokenExpired, match="InvalidToken"):
        tokens.fail("AQCEAAAAKgAAAAMAAAAAAAAAAdoes-not-exist", "Rejected", "r")
