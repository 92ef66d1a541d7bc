"""The emulated EventBridge Scheduler: expressions, sandbox-time firing, targets, retries, dead letters."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator._delivery import DEAD_LETTERED, DELIVERED
from mlrollout_sandbox.emulator.lambda_runtime import LocalFunction
from mlrollout_sandbox.emulator.scheduler import (
    AtExpression,
    InvalidScheduleExpression,
    RateExpression,
    parse_schedule_expression,
)
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

START = datetime(2025, 3, 3, 8, 0, 30, tzinfo=UTC)  # a Monday


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    embedded = EmbeddedAws(SandboxClock(warp=600, start=START))
    with embedded:
        yield embedded
        for service in list(embedded.emulator.services.values()):
            close = getattr(service, "close", None)
            if callable(close):
                close()


@pytest.fixture
def scheduler(aws: EmbeddedAws) -> Any:
    return aws.emulator.services["scheduler"]


def trust(*services: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def role(aws: EmbeddedAws) -> str:
    """The schedules' execution role: Scheduler assumes it to call the target (IAM is enforced)."""
    iam = aws.client("iam")
    arn = iam.create_role(
        RoleName="scheduler", AssumeRolePolicyDocument=trust("scheduler.amazonaws.com", "states.amazonaws.com")
    )
    targets = ["lambda:InvokeFunction", "states:StartExecution", "sqs:SendMessage", "sns:Publish"]
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": targets, "Resource": "*"}]}
    iam.put_role_policy(RoleName="scheduler", PolicyName="targets", PolicyDocument=json.dumps(document))
    return str(arn["Role"]["Arn"])


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def function(aws: EmbeddedAws, tmp_path: Path, name: str, source: str) -> str:
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(source)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", source)
    role_arn = aws.client("iam").create_role(
        RoleName=f"fn-{name}", AssumeRolePolicyDocument=trust("lambda.amazonaws.com")
    )["Role"]["Arn"]
    arn = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )["FunctionArn"]
    aws.emulator.services["lambda_runtime"].register(
        LocalFunction(name=name, code_dir=code_dir, handler="app.lambda_handler")
    )
    return str(arn)


def queue(aws: EmbeddedAws, name: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def state_machine(aws: EmbeddedAws, role: str) -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    return str(
        aws.client("stepfunctions").create_state_machine(name="drift", definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
    )


def invocations(aws: EmbeddedAws, name: str) -> list[Any]:
    return [i for i in aws.emulator.services["lambda_runtime"].invocations if i.function_name == name]


def schedule(aws: EmbeddedAws, name: str, expression: str, target: dict[str, Any], **extra: Any) -> str:
    return str(
        aws.client("scheduler").create_schedule(
            Name=name,
            ScheduleExpression=expression,
            FlexibleTimeWindow=extra.pop("FlexibleTimeWindow", {"Mode": "OFF"}),
            Target=target,
            **extra,
        )["ScheduleArn"]
    )


def at(moment: datetime) -> str:
    return f"at({moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


# --- expressions -------------------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        ("cron(0 12 * * ? *)", "UTC", utc(2025, 3, 1, 12, 0), utc(2025, 3, 2, 12, 0)),
        ("cron(0/15 * * * ? *)", "UTC", utc(2025, 3, 1, 10, 7), utc(2025, 3, 1, 10, 15)),
        ("cron(0 9 ? * MON-FRI *)", "UTC", utc(2025, 3, 7, 10, 0), utc(2025, 3, 10, 9, 0)),
        ("cron(0 0 L * ? *)", "UTC", utc(2025, 2, 10), utc(2025, 2, 28)),
        ("cron(0 0 LW * ? *)", "UTC", utc(2025, 8, 1), utc(2025, 8, 29)),
        ("cron(0 0 15W * ? *)", "UTC", utc(2025, 3, 1), utc(2025, 3, 14)),
        ("cron(0 0 1W * ? *)", "UTC", utc(2025, 1, 31), utc(2025, 2, 3)),
        ("cron(0 10 ? * 3#2 *)", "UTC", utc(2025, 3, 1), utc(2025, 3, 11, 10, 0)),
        ("cron(0 10 ? * 6L *)", "UTC", utc(2025, 3, 1), utc(2025, 3, 28, 10, 0)),
        ("cron(30 6 1 JAN,JUL ? 2030)", "UTC", utc(2025, 3, 1), utc(2030, 1, 1, 6, 30)),
        ("cron(0 9 * * ? *)", "Europe/Berlin", utc(2025, 7, 1), utc(2025, 7, 1, 7, 0)),
        ("cron(0 9 * * ? *)", "Europe/Berlin", utc(2025, 1, 10), utc(2025, 1, 10, 8, 0)),
    ],
)
def test_cron_next_occurrence(expression: str, timezone: str, after: datetime, expected: datetime) -> None:
    parsed = parse_schedule_expression(expression, timezone)
    assert parsed.next_after(after, after) == expected


def test_rate_and_at_expressions() -> None:
    anchor = utc(2025, 3, 1, 10, 0)
    rate = parse_schedule_expression("rate(5 minutes)")
    assert rate == RateExpression(300)
    assert rate.next_after(anchor, anchor) == anchor + timedelta(minutes=5)
    assert rate.next_after(anchor + timedelta(minutes=12), anchor) == anchor + timedelta(minutes=15)
    one_time = parse_schedule_expression("at(2025-05-01T10:00:00)", "America/New_York")
    assert one_time == AtExpression(utc(2025, 5, 1, 14, 0))


@pytest.mark.parametrize(
    ("expression", "timezone", "reason"),
    [
        ("cron(* * * * * *)", "UTC", "exactly one of day-of-month and day-of-week"),
        ("cron(0 25 * * ? *)", "UTC", "outside 0-23"),
        ("cron(0 12 * * ? * *)", "UTC", "six fields"),
        ("cron(0 12 * * ? FOO)", "UTC", "not a number"),
        ("rate(0 minutes)", "UTC", "positive"),
        ("every(5 minutes)", "UTC", "not a schedule expression"),
        ("at(2025-05-01 10:00)", "UTC", "yyyy-mm-ddThh:mm:ss"),
        ("rate(5 minutes)", "Mars/Olympus_Mons", "not a time zone"),
    ],
)
def test_invalid_expressions_say_why(expression: str, timezone: str, reason: str) -> None:
    with pytest.raises(InvalidScheduleExpression, match=reason):
        parse_schedule_expression(expression, timezone)


def test_create_schedule_refuses_what_the_sandbox_cannot_run(aws: EmbeddedAws, role: str) -> None:
    with pytest.raises(ClientError, match="exactly one of day-of-month"):
        schedule(aws, "bad", "cron(0 12 * * * *)", {"Arn": state_machine(aws, role), "RoleArn": role})
    with pytest.raises(ClientError, match="cannot invoke"):
        schedule(aws, "ecs", "rate(1 hour)", {"Arn": "arn:aws:ecs:us-east-1:123456789012:cluster/c", "RoleArn": role})


# --- firing on sandbox time --------------------------------------------------------------------------------


def test_rate_schedule_invokes_lambda_once_per_minute(
    aws: EmbeddedAws, scheduler: Any, tmp_path: Path, role: str
) -> None:
    arn = function(aws, tmp_path, "drift", "def lambda_handler(event, context):\n    return event\n")
    schedule_arn = schedule(
        aws,
        "drift-churn",
        "rate(1 minute)",
        {
            "Arn": arn,
            "RoleArn": role,
            "Input": json.dumps(
                {
                    "endpoint": "churn",
                    "at": "<aws.scheduler.scheduled-time>",
                    "schedule": "<aws.scheduler.schedule-arn>",
                    "attempt": "<aws.scheduler.attempt-number>",
                }
            ),
        },
    )
    created = datetime.fromtimestamp(
        aws.client("scheduler").get_schedule(Name="drift-churn")["CreationDate"].timestamp(), UTC
    ).replace(microsecond=0)  # scheduled times are reported to the second
    minutes = 4

    wait_for(lambda: aws.clock.now() > created + timedelta(minutes=minutes, seconds=20), timeout=15)
    scheduler.run_due()
    assert scheduler.drain(10)

    # Without a StartDate the first invocation is immediate, then one per period.
    in_window = [
        f
        for f in scheduler.firings
        if datetime.fromisoformat(f.context["scheduled_time"]) < created + timedelta(minutes=minutes)
    ]
    assert len(in_window) == minutes
    assert all(f.outcome == DELIVERED and f.attempts == 1 for f in in_window)
    events = [i.event for i in invocations(aws, "drift")][:minutes]
    assert [e["endpoint"] for e in events] == ["churn"] * minutes
    assert events[0]["schedule"] == schedule_arn
    assert events[0]["attempt"] == "1"
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert [(b - a).total_seconds() for a, b in pairwise(times)] == [60.0] * (minutes - 1)


def test_one_time_schedule_starts_one_execution_and_deletes_itself(aws: EmbeddedAws, scheduler: Any, role: str) -> None:
    machine = state_machine(aws, role)
    when = aws.clock.now() + timedelta(minutes=2)
    schedule(
        aws,
        "once",
        at(when),
        {"Arn": machine, "RoleArn": role, "Input": '{"reason": "<aws.scheduler.execution-id>"}'},
        ActionAfterCompletion="DELETE",
    )
    assert scheduler.run_due() == 0

    wait_for(lambda: scheduler.firings, timeout=10)
    assert scheduler.drain(10)
    wait_for(lambda: scheduler.run_due() == 0 and not _exists(aws, "once"))

    [firing] = scheduler.firings
    assert firing.outcome == DELIVERED
    assert firing.context["scheduled_time"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sfn = aws.client("stepfunctions")
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert execution["executionArn"] == firing.execution_arn
    started_input = json.loads(sfn.describe_execution(executionArn=firing.execution_arn)["input"])
    assert started_input == {"reason": firing.context["execution_id"]}


def _exists(aws: EmbeddedAws, name: str) -> bool:
    try:
        aws.client("scheduler").get_schedule(Name=name)
    except ClientError:
        return False
    return True


def test_disabled_schedules_and_start_and_end_dates(aws: EmbeddedAws, scheduler: Any, role: str) -> None:
    _, queue_arn = queue(aws, "ticks")
    now = aws.clock.now()
    target = {"Arn": queue_arn, "RoleArn": role, "Input": "tick"}
    schedule(aws, "off", "rate(1 minute)", target, State="DISABLED")
    schedule(aws, "later", "rate(1 minute)", target, StartDate=now + timedelta(minutes=10))
    end = now + timedelta(minutes=2, seconds=30)
    schedule(aws, "short", "rate(1 minute)", target, EndDate=end, ActionAfterCompletion="DELETE")
    created = aws.client("scheduler").get_schedule(Name="short")["CreationDate"]

    wait_for(lambda: aws.clock.now() > now + timedelta(minutes=4), timeout=15)
    scheduler.run_due()
    assert scheduler.drain(10)

    by_name: dict[str, int] = {}
    for firing in scheduler.firings:
        by_name[firing.context["schedule"]] = by_name.get(firing.context["schedule"], 0) + 1
    # At creation, then every minute until EndDate stops the rest: 3 when the schedule is created at once, 2 when
    # a busy machine let more than 30 sandbox seconds pass before it was.
    expected = int((end - created).total_seconds() // 60) + 1
    assert expected in {2, 3}
    assert by_name == {"short": expected}
    assert not _exists(aws, "short")
    later_arn = aws.client("scheduler").get_schedule(Name="later")["Arn"]
    first = scheduler.next_firing(later_arn)
    assert first is not None
    assert abs((first - (now + timedelta(minutes=10))).total_seconds()) < 1


def test_start_date_more_than_five_minutes_ago_is_refused(aws: EmbeddedAws, role: str) -> None:
    _, queue_arn = queue(aws, "q")
    with pytest.raises(ClientError, match="cannot be earlier than 5 minutes ago"):
        schedule(
            aws,
            "old",
            "rate(1 hour)",
            {"Arn": queue_arn, "RoleArn": role},
            StartDate=aws.clock.now() - timedelta(hours=1),
        )


def test_flexible_time_window_delays_within_the_window(aws: EmbeddedAws, scheduler: Any, role: str) -> None:
    _, queue_arn = queue(aws, "q")
    scheduler.rng.seed(7)
    schedule(
        aws,
        "flex",
        "rate(1 hour)",
        {"Arn": queue_arn, "RoleArn": role},
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5},
    )
    scheduler.run_due()

    [firing] = scheduler.firings
    assert 0 < firing.context["flexible_offset_seconds"] <= 300
    wait_for(lambda: firing.done, timeout=10)
    invoked = datetime.fromisoformat(firing.context["invoked_at"])
    scheduled = datetime.fromisoformat(firing.context["scheduled_time"])
    assert timedelta(0) < invoked - scheduled <= timedelta(minutes=5, seconds=10)


# --- failures ------------------------------------------------------------------------------------------------


def test_missing_target_goes_to_the_dead_letter_queue_with_attributes(
    aws: EmbeddedAws, scheduler: Any, role: str
) -> None:
    url, dlq_arn = queue(aws, "scheduler-dlq")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"
    schedule_arn = schedule(
        aws,
        "broken",
        "rate(1 hour)",
        {
            "Arn": missing,
            "RoleArn": role,
            "Input": '{"endpoint": "churn"}',
            "DeadLetterConfig": {"Arn": dlq_arn},
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        },
    )
    scheduler.run_due()
    assert scheduler.drain(10)

    [message] = aws.client("sqs").receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    [firing] = scheduler.firings
    assert json.loads(message["Body"]) == {"endpoint": "churn"}
    assert attributes["SCHEDULE_ARN"] == schedule_arn
    assert attributes["TARGET_ARN"] == missing
    assert attributes["EXECUTION_ID"] == firing.context["execution_id"]
    assert attributes["SCHEDULED_TIME"] == firing.context["scheduled_time"]
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert "StateMachineDoesNotExist" in attributes["ERROR_MESSAGE"]
    assert (firing.outcome, firing.attempts) == (DEAD_LETTERED, 1)


def test_a_role_without_the_targets_permission_is_no_permissions_and_not_retried(
    aws: EmbeddedAws, scheduler: Any, role: str
) -> None:
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
    url, dlq_arn = queue(aws, "scheduler-dlq")
    machine = state_machine(aws, role)
    iam = aws.client("iam")
    iam.create_role(RoleName="cannot-start", AssumeRolePolicyDocument=trust("scheduler.amazonaws.com"))
    dead_letters = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq_arn}  # the DLQ, nothing else
    document = json.dumps({"Version": "2012-10-17", "Statement": [dead_letters]})
    iam.put_role_policy(RoleName="cannot-start", PolicyName="dlq", PolicyDocument=document)
    target = {
        "Arn": machine,
        "RoleArn": "arn:aws:iam::123456789012:role/cannot-start",
        "DeadLetterConfig": {"Arn": dlq_arn},
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
    }
    schedule(aws, "denied", "rate(1 hour)", target)
    scheduler.run_due()
    assert scheduler.drain(10)

    assert aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
    [message] = aws.client("sqs").receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
    assert "states:StartExecution" in attributes["ERROR_MESSAGE"]
    [firing] = scheduler.firings
    assert (firing.outcome, firing.attempts) == (DEAD_LETTERED, 1)


def test_retriable_failures_follow_the_retry_policy(aws: EmbeddedAws, scheduler: Any, role: str) -> None:
    url, dlq_arn = queue(aws, "scheduler-dlq")
    machine = state_machine(aws, role)
    # Armed before the schedule exists: the Ticker may invoke it the moment it is created.
    aws.emulator.faults.arm("scheduler:Invoke", "THROTTLING", times=5, schedule="flaky")
    schedule(
        aws,
        "flaky",
        "rate(1 hour)",
        {
            "Arn": machine,
            "RoleArn": role,
            "DeadLetterConfig": {"Arn": dlq_arn},
            "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 600},
        },
    )
    scheduler.run_due()
    assert scheduler.drain(10)

    [firing] = scheduler.firings
    assert (firing.outcome, firing.attempts, firing.error_code) == (DEAD_LETTERED, 2, "THROTTLING")
    assert len(aws.client("sqs").receive_message(QueueUrl=url)["Messages"]) == 1
    assert aws.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
