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


# ------------------------------------------------------------------------------------ aws-sdk error names

TRUST_STATES = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def run(
    aws: EmbeddedAws, name: str, definition: dict[str, Any], payload: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create a machine whose role may call SageMaker, run it once and return DescribeExecution at its end."""
    iam, sfn = aws.client("iam"), aws.client("stepfunctions")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_STATES)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="sagemaker-reads",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeMonitoringSchedule"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(payload or {}))
    return ended(aws, execution["executionArn"])


def sdk_task(resource: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Call",
        "States": {"Call": {"Type": "Task", "Resource": resource, "Arguments": arguments, "End": True}},
    }


def test_aws_sdk_task_errors_are_named_service_dot_exception(aws: EmbeddedAws) -> None:
    # An error SageMaker's model declares keeps its name, with the Exception suffix Step Functions adds.
    missing_schedule = run(
        aws,
        "sdk-modelled-error",
        sdk_task("arn:aws:states:::aws-sdk:sagemaker:describeMonitoringSchedule", {"MonitoringScheduleName": "ghost"}),
    )
    assert (missing_schedule["status"], missing_schedule["error"]) == ("FAILED", "SageMaker.ResourceNotFoundException")
    assert "Monitoring Schedule" in missing_schedule["cause"] and "Service: SageMaker" in missing_schedule["cause"]

    # ValidationException is not in SageMaker's model: the SDK's base exception, the code only in the cause.
    missing_endpoint = run(
        aws,
        "sdk-unmodelled-error",
        sdk_task("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "ghost"}),
    )
    assert (missing_endpoint["status"], missing_endpoint["error"]) == ("FAILED", "SageMaker.SageMakerException")
    assert "Could not find endpoint" in missing_endpoint["cause"]

    # A throttle is not in SageMaker's model either, so it is not SageMaker.ThrottlingException.
    aws.emulator.faults.arm("sagemaker.api", "throttle", action="DescribeEndpoint")
    throttled = run(
        aws,
        "sdk-throttled",
        sdk_task("arn:aws:states:::aws-sdk:sagemaker:describeEndpoint", {"EndpointName": "ghost"}),
    )
    assert (throttled["status"], throttled["error"]) == ("FAILED", "SageMaker.SageMakerException")
    assert "Rate exceeded" in throttled["cause"] and "ThrottlingException" in throttled["cause"]


@pytest.mark.parametrize(
    ("service", "code", "expected"),
    [
        ("sagemaker", "ResourceLimitExceeded", "SageMaker.ResourceLimitExceededException"),  # suffix added
        ("sagemaker", "ConflictException", "SageMaker.ConflictException"),  # never doubled
        ("sagemaker", "ThrottlingException", "SageMaker.SageMakerException"),  # not in SageMaker's model
        ("s3", "NoSuchKey", "S3.NoSuchKeyException"),
        ("s3", "SlowDown", "S3.S3Exception"),
        ("dynamodb", "ConditionalCheckFailedException", "DynamoDb.ConditionalCheckFailedException"),
        ("dynamodb", "UnrecognizedClientException", "DynamoDb.DynamoDbException"),
        ("sns", "NotFound", "Sns.NotFoundException"),
    ],
)
def test_aws_sdk_error_names_follow_the_exception_suffix_rule(service: str, code: str, expected: str) -> None:
    from botocore.exceptions import ClientError

    from mlrollout_sandbox.emulator.stepfunctions import aws_sdk_error_name

    error = ClientError({"Error": {"Code": code, "Message": "refused"}}, "Operation")
    assert aws_sdk_error_name(service, error) == expected


# ------------------------------------------------------------------------------ JSONata undefined results


def rollback_failed(rollback: Any) -> dict[str, Any]:
    """The shape of the rollout's "Rollout Rollback Failed": a Fail state whose Cause reads $rollback.reason."""
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Plan Restore",
        "States": {
            "Plan Restore": {"Type": "Pass", "Assign": {"rollback": rollback}, "Next": "Rollout Rollback Failed"},
            "Rollout Rollback Failed": {"Type": "Fail", "Error": "RollbackFailed", "Cause": "{% $rollback.reason %}"},
        },
    }


def test_jsonata_undefined_result_is_a_query_evaluation_error(aws: EmbeddedAws) -> None:
    planned = run(aws, "undefined-not-hit", rollback_failed({"reason": "the endpoint did not come back"}))
    assert (planned["status"], planned["error"], planned["cause"]) == (
        "FAILED",
        "RollbackFailed",
        "the endpoint did not come back",
    )
    # $rollback is null: $rollback.reason is undefined, and a field whose value is undefined fails the state.
    unplanned = run(aws, "undefined-cause", rollback_failed(None))
    assert (unplanned["status"], unplanned["error"]) == ("FAILED", "States.QueryEvaluationError")
    assert "$rollback.reason" in unplanned["cause"]


@pytest.mark.parametrize("field", ["Output", "Assign"])
def test_an_undefined_field_in_output_or_assign_fails_the_state(aws: EmbeddedAws, field: str) -> None:
    value = {"reason": "{% $states.input.rollback.reason %}"}
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Report",
        "States": {"Report": {"Type": "Pass", field: value, "End": True}},
    }
    described = run(aws, f"undefined-{field.lower()}", definition, {"rollback": None})
    assert (described["status"], described["error"]) == ("FAILED", "States.QueryEvaluationError")


def test_inside_one_expression_an_undefined_value_only_drops_its_key(aws: EmbeddedAws) -> None:
    # JSONata's own rule, which Step Functions keeps: an object constructor leaves out a key whose value is
    # undefined; $exists() tests for it without failing.
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Report",
        "States": {
            "Report": {
                "Type": "Pass",
                "Output": "{% {'step': 'plan', 'reason': $states.input.rollback.reason, "
                "'known': $exists($states.input.rollback.reason)} %}",
                "End": True,
            }
        },
    }
    described = run(aws, "undefined-in-constructor", definition, {"rollback": None})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"step": "plan", "known": False}
