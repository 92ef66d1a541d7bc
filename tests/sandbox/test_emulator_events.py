"""The emulated EventBridge: targets moto drops, S3 and Step Functions events, retries, DLQs, schedules."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator._delivery import DEAD_LETTERED, DELIVERED, DROPPED, render_input
from mlrollout_sandbox.emulator.lambda_runtime import LocalFunction
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

BUCKET = "model-artifacts"
MODEL_KEY_PATTERN = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"wildcard": "models/*/*/model.tar.gz"}]}},
}
ISO_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def close_services(aws: EmbeddedAws) -> None:
    # Emulator.uninstall does not call the services' close() yet; the fixture does, so no thread leaks.
    for service in list(aws.emulator.services.values()):
        close = getattr(service, "close", None)
        if callable(close):
            close()


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    embedded = EmbeddedAws(SandboxClock(warp=600))
    with embedded:
        yield embedded
        close_services(embedded)


@pytest.fixture
def events(aws: EmbeddedAws) -> Any:
    return aws.emulator.services["events"]


def trust(*services: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(*actions: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}
    )


@pytest.fixture
def role(aws: EmbeddedAws) -> str:
    """A Step Functions target's role: EventBridge assumes it and starts executions with it (IAM is enforced)."""
    iam = aws.client("iam")
    arn = iam.create_role(
        RoleName="events", AssumeRolePolicyDocument=trust("events.amazonaws.com", "states.amazonaws.com")
    )
    iam.put_role_policy(RoleName="events", PolicyName="start", PolicyDocument=allow("states:StartExecution"))
    return str(arn["Role"]["Arn"])


def deliverable(aws: EmbeddedAws, queue_arn: str, url: str) -> None:
    """The queue policy EventBridge and SNS need to send to a queue (as on AWS)."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": ["events.amazonaws.com", "sns.amazonaws.com"]},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    aws.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def queue(aws: EmbeddedAws, name: str, *, policy: bool = True) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if policy:
        deliverable(aws, arn, url)
    return url, arn


def messages(aws: EmbeddedAws, url: str, expected: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(received) < expected and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        for message in batch.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            received.append(message)
        if len(received) < expected:
            time.sleep(0.02)
    return received


def state_machine(aws: EmbeddedAws, role: str, name: str = "rollout", definition: dict[str, Any] | None = None) -> str:
    definition = definition or {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    return str(
        aws.client("stepfunctions").create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
            "stateMachineArn"
        ]
    )


def executions(aws: EmbeddedAws, arn: str) -> list[dict[str, Any]]:
    return list(aws.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"])


def bucket_with_eventbridge(aws: EmbeddedAws, name: str = BUCKET, *, versioned: bool = False) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})


def rule(
    aws: EmbeddedAws,
    name: str,
    targets: list[dict[str, Any]],
    pattern: dict[str, Any] | None = None,
    schedule: str | None = None,
) -> str:
    client = aws.client("events")
    arguments: dict[str, Any] = {"Name": name}
    if pattern is not None:
        arguments["EventPattern"] = json.dumps(pattern)
    if schedule is not None:
        arguments["ScheduleExpression"] = schedule
    arn = str(client.put_rule(**arguments)["RuleArn"])
    client.put_targets(Rule=name, Targets=targets)
    return arn


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
    # EventBridge invokes a function through its resource-based policy.
    aws.client("lambda").add_permission(
        FunctionName=name, StatementId="events", Action="lambda:InvokeFunction", Principal="events.amazonaws.com"
    )
    return str(arn)


# --- S3 -> EventBridge -> Step Functions -------------------------------------------------------------------


def test_s3_upload_starts_one_execution_for_a_matching_key_and_none_otherwise(
    aws: EmbeddedAws, events: Any, role: str
) -> None:
    bucket_with_eventbridge(aws)
    machine = state_machine(aws, role)
    rule(aws, "model-uploaded", [{"Id": "rollout", "Arn": machine, "RoleArn": role}], MODEL_KEY_PATTERN)
    s3 = aws.client("s3")

    s3.put_object(Bucket=BUCKET, Key="models/churn/v7/model.tar.gz", Body=b"weights")
    s3.put_object(Bucket=BUCKET, Key="models/churn/model.tar.gz", Body=b"wrong depth")
    s3.put_object(Bucket=BUCKET, Key="data/train.csv", Body=b"a,b")
    assert events.drain(10)

    started = executions(aws, machine)
    assert len(started) == 1
    assert [d.outcome for d in events.deliveries] == [DELIVERED]
    assert events.deliveries[0].execution_arn == started[0]["executionArn"]
    assert events.deliveries[0].role_arn == role


def test_buckets_without_eventbridge_notifications_send_nothing(aws: EmbeddedAws, events: Any, role: str) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    machine = state_machine(aws, role)
    rule(aws, "model-uploaded", [{"Id": "rollout", "Arn": machine, "RoleArn": role}], MODEL_KEY_PATTERN)

    aws.client("s3").put_object(Bucket=BUCKET, Key="models/churn/v7/model.tar.gz", Body=b"weights")
    assert events.drain(10)

    assert executions(aws, machine) == []
    assert events.emitted == []


def test_execution_input_is_the_event_s3_sends(aws: EmbeddedAws, events: Any, role: str) -> None:
    bucket_with_eventbridge(aws)
    machine = state_machine(aws, role)
    rule(aws, "model-uploaded", [{"Id": "rollout", "Arn": machine, "RoleArn": role}], MODEL_KEY_PATTERN)
    s3 = aws.client("s3")
    etag = s3.put_object(Bucket=BUCKET, Key="models/churn/v7/model.tar.gz", Body=b"weights")["ETag"].strip('"')
    s3.put_object(Bucket=BUCKET, Key="models/churn/v8/model.tar.gz", Body=b"weights 2")
    assert events.drain(10)

    inputs = [
        json.loads(aws.client("stepfunctions").describe_execution(executionArn=e["executionArn"])["input"])
        for e in executions(aws, machine)
    ]
    event = next(i for i in inputs if i["detail"]["object"]["key"] == "models/churn/v7/model.tar.gz")
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["source"] == "aws.s3"
    assert event["detail-type"] == "Object Created"
    assert event["account"] == "123456789012"
    assert event["resources"] == [f"arn:aws:s3:::{BUCKET}"]
    assert ISO_SECONDS.match(event["time"])
    assert abs(aws.clock.now().timestamp() - _epoch(event["time"])) < 3600
    assert inputs[0]["id"] != inputs[1]["id"]
    detail = event["detail"]
    assert detail["bucket"] == {"name": BUCKET}
    assert detail["object"]["etag"] == etag
    assert detail["object"]["size"] == len(b"weights")
    assert "eTag" not in detail["object"]
    assert "version-id" not in detail["object"]  # an unversioned bucket has no version ids
    assert re.fullmatch(r"[0-9a-f]{16}", detail["object"]["sequencer"])
    assert detail["reason"] == "PutObject"
    assert detail["requester"] == "123456789012"
    assert re.fullmatch(r"[0-9A-Z]{16}", detail["request-id"])


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def test_s3_reasons_versions_and_sequencers(aws: EmbeddedAws, events: Any) -> None:
    bucket_with_eventbridge(aws, versioned=True)
    url, queue_arn = queue(aws, "s3-events")
    rule(aws, "all-s3", [{"Id": "q", "Arn": queue_arn}], {"source": ["aws.s3"]})
    s3 = aws.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"1")
    s3.copy_object(Bucket=BUCKET, Key="b.txt", CopySource={"Bucket": BUCKET, "Key": "a.txt"})
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big.bin")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="big.bin", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="big.bin",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"2")
    s3.put_object_tagging(Bucket=BUCKET, Key="b.txt", Tagging={"TagSet": [{"Key": "stage", "Value": "prod"}]})
    assert events.drain(10)

    received = [json.loads(m["Body"]) for m in messages(aws, url, 5)]
    assert messages(aws, url, 1, timeout=0.2) == []  # no "Object Tags Added" for uploads, unlike stock moto
    assert [e["detail"]["object"]["key"] for e in received if e["detail-type"] == "Object Tags Added"] == ["b.txt"]
    received = [e for e in received if e["detail-type"] == "Object Created"]
    reasons = {(e["detail"]["object"]["key"], e["detail"]["reason"]) for e in received}
    assert {("a.txt", "PutObject"), ("b.txt", "CopyObject"), ("big.bin", "CompleteMultipartUpload")} <= reasons
    first = next(e for e in received if e["detail"]["object"].get("version-id") == put["VersionId"])
    second = next(e for e in received if e["detail"]["object"]["key"] == "a.txt" and e is not first)
    assert second["detail"]["object"]["sequencer"] > first["detail"]["object"]["sequencer"]


def test_wildcard_matching_follows_aws() -> None:
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(MODEL_KEY_PATTERN))

    def matches(key: str) -> bool:
        event = {
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}},
        }
        return pattern.matches_event(event)  # type: ignore[arg-type]

    assert matches("models/churn/v7/model.tar.gz")
    assert matches("models/churn/team/v7/model.tar.gz")  # "*" matches any characters, "/" included
    assert not matches("models/churn/model.tar.gz")
    assert not matches("models/churn/v7/model.tar.gz.bak")
    prefix = EventPattern.load(json.dumps({"detail": {"key": [{"prefix": "models/"}, {"suffix": ".json"}]}}))
    assert prefix.matches_event({"detail": {"key": "models/x"}})  # type: ignore[typeddict-item]
    assert prefix.matches_event({"detail": {"key": "config/x.json"}})  # type: ignore[typeddict-item]
    assert not prefix.matches_event({"detail": {"key": "config/x.yaml"}})  # type: ignore[typeddict-item]


# --- other targets and inputs ----------------------------------------------------------------------------


def test_lambda_target_is_invoked_asynchronously_with_the_event(aws: EmbeddedAws, events: Any, tmp_path: Path) -> None:
    arn = function(aws, tmp_path, "on-event", "def lambda_handler(event, context):\n    return event['detail']\n")
    rule(aws, "custom", [{"Id": "fn", "Arn": arn}], {"source": ["mlrollout.test"]})

    aws.client("events").put_events(
        Entries=[{"Source": "mlrollout.test", "DetailType": "Ping", "Detail": json.dumps({"n": 1})}]
    )
    assert events.drain(10)

    [invocation] = aws.emulator.services["lambda_runtime"].invocations
    assert invocation.event["detail"] == {"n": 1}
    assert invocation.event["detail-type"] == "Ping"
    assert ISO_SECONDS.match(invocation.event["time"])
    assert events.deliveries[0].outcome == DELIVERED
    assert events.deliveries[0].attempts == 1


def test_input_input_path_and_input_transformer(aws: EmbeddedAws, events: Any) -> None:
    url, queue_arn = queue(aws, "inputs")
    rule(
        aws,
        "shapes",
        [
            {"Id": "constant", "Arn": queue_arn, "Input": '{"fixed": true}'},
            {"Id": "path", "Arn": queue_arn, "InputPath": "$.detail.model"},
            {
                "Id": "template",
                "Arn": queue_arn,
                "InputTransformer": {
                    "InputPathsMap": {"model": "$.detail.model", "version": "$.detail.version"},
                    "InputTemplate": '{"say": "deploy <model> v<version>", "version": <version>, "rule": "<aws.events.rule-name>"}',
                },
            },
        ],
        {"source": ["mlrollout.test"]},
    )

    aws.client("events").put_events(
        Entries=[
            {
                "Source": "mlrollout.test",
                "DetailType": "Registered",
                "Detail": json.dumps({"model": 'churn "v"', "version": 7}),
            }
        ]
    )
    assert events.drain(10)

    bodies = sorted(m["Body"] for m in messages(aws, url, 3))
    parsed = [json.loads(b) for b in bodies]
    assert {"fixed": True} in parsed
    assert 'churn "v"' in parsed
    assert {"say": 'deploy churn "v" v7', "version": 7, "rule": "shapes"} in parsed


def test_sns_and_fifo_queue_targets(aws: EmbeddedAws, events: Any) -> None:
    sqs = aws.client("sqs")
    fifo_url = sqs.create_queue(
        QueueName="ordered.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    fifo_arn = sqs.get_queue_attributes(QueueUrl=fifo_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    deliverable(aws, fifo_arn, fifo_url)
    topic = aws.client("sns").create_topic(Name="operators")["TopicArn"]
    publish = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic,
    }
    aws.client("sns").set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=json.dumps({"Version": "2012-10-17", "Statement": [publish]}),
    )
    aws.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
    rule(
        aws,
        "fan-out",
        [
            {"Id": "fifo", "Arn": fifo_arn, "SqsParameters": {"MessageGroupId": "rollouts"}},
            {"Id": "topic", "Arn": topic},
        ],
        {"source": ["mlrollout.test"]},
    )

    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)

    [message] = messages(aws, fifo_url, 1)
    assert json.loads(message["Body"])["source"] == "mlrollout.test"
    [mail] = aws.emulator.services["sns"].outbox
    assert json.loads(mail.body.split("\n\n--\n")[0])["detail-type"] == "x"
    assert [d.outcome for d in events.deliveries] == [DELIVERED, DELIVERED]


def test_render_input_text_templates() -> None:
    assert render_input("model <m> is <s>", {"m": "churn", "s": {"a": 1}}) == 'model churn is {"a": 1}'
    assert render_input('"<m> done"', {"m": "a\\b"}) == '"a\\\\b done"'
    assert render_input('{"x": <missing>}', {"missing": None}) == '{"x": null}'


def test_disabled_and_schedule_only_rules_do_not_match_events(aws: EmbeddedAws, events: Any) -> None:
    url, queue_arn = queue(aws, "nothing")
    client = aws.client("events")
    rule(aws, "disabled", [{"Id": "q", "Arn": queue_arn}], {"source": ["mlrollout.test"]})
    client.disable_rule(Name="disabled")
    # Twelve hours from sandbox time now: a fixed hour would fire when the test happens to run just before it.
    hour = (aws.clock.now().hour + 12) % 24
    rule(aws, "nightly", [{"Id": "q", "Arn": queue_arn}], schedule=f"cron(0 {hour} * * ? *)")

    client.put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)

    assert events.deliveries == []
    assert messages(aws, url, 1, timeout=0.2) == []


def test_step_functions_targets_need_a_role(aws: EmbeddedAws, role: str) -> None:
    machine = state_machine(aws, role)
    client = aws.client("events")
    client.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    with pytest.raises(ClientError, match="RoleArn is required"):
        client.put_targets(Rule="r", Targets=[{"Id": "sm", "Arn": machine}])


# --- failures, retries, dead-letter queues -------------------------------------------------------------------


def test_a_role_without_start_execution_is_no_permissions_and_not_retried(
    aws: EmbeddedAws, events: Any, role: str
) -> None:
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html: the target's role.
    machine = state_machine(aws, role)
    iam = aws.client("iam")
    iam.create_role(RoleName="no-start", AssumeRolePolicyDocument=trust("events.amazonaws.com"))
    dlq_url, dlq_arn = queue(aws, "rollout-dlq")
    target = {"Id": "rollout", "Arn": machine, "RoleArn": "arn:aws:iam::123456789012:role/no-start"}
    rule(aws, "model-uploaded", [{**target, "DeadLetterConfig": {"Arn": dlq_arn}}], {"source": ["mlrollout.test"]})

    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)

    assert executions(aws, machine) == []
    [message] = messages(aws, dlq_url, 1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert (attributes["ERROR_CODE"], attributes["RETRY_ATTEMPTS"]) == ("NO_PERMISSIONS", "0")
    assert "states:StartExecution" in attributes["ERROR_MESSAGE"]


def test_a_dead_letter_queue_without_a_queue_policy_loses_the_event(aws: EmbeddedAws, events: Any, role: str) -> None:
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-event-delivery.html#eb-rule-dlq: EventBridge sends to the DLQ as
    # events.amazonaws.com, which the queue's policy must allow.
    dlq_url, dlq_arn = queue(aws, "no-policy-dlq", policy=False)
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:deleted"
    target = {"Id": "rollout", "Arn": missing, "RoleArn": role, "DeadLetterConfig": {"Arn": dlq_arn}}
    rule(aws, "model-uploaded", [target], {"source": ["mlrollout.test"]})

    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)

    assert messages(aws, dlq_url, 1, timeout=0.5) == []
    [delivery] = events.deliveries
    assert (delivery.outcome, delivery.dead_letter_arn) == (DROPPED, None)
    assert "sqs:SendMessage" in delivery.context["dead_letter_error"]


def test_missing_state_machine_goes_straight_to_the_dead_letter_queue(aws: EmbeddedAws, events: Any, role: str) -> None:
    dlq_url, dlq_arn = queue(aws, "rollout-dlq")
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:deleted"
    rule_arn = rule(
        aws,
        "model-uploaded",
        [
            {
                "Id": "rollout",
                "Arn": missing,
                "RoleArn": role,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600},
            }
        ],
        {"source": ["mlrollout.test"]},
    )

    aws.client("events").put_events(
        Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": json.dumps({"k": "v"})}]
    )
    assert events.drain(10)

    [message] = messages(aws, dlq_url, 1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == rule_arn
    assert attributes["TARGET_ARN"] == missing
    assert attributes["ERROR_CODE"] == "NO_RESOURCE"
    assert "StateMachineDoesNotExist" in attributes["ERROR_MESSAGE"]
    assert attributes["RETRY_ATTEMPTS"] == "0"  # AWS does not retry a target that does not exist
    assert json.loads(message["Body"])["detail"] == {"k": "v"}
    [delivery] = events.deliveries
    assert (delivery.outcome, delivery.attempts, delivery.dead_letter_arn) == (DEAD_LETTERED, 1, dlq_arn)


def test_retriable_failures_are_retried_per_retry_policy_then_dead_lettered(
    aws: EmbeddedAws, events: Any, role: str
) -> None:
    dlq_url, dlq_arn = queue(aws, "rollout-dlq")
    machine = state_machine(aws, role)
    rule(
        aws,
        "flaky",
        [
            {
                "Id": "rollout",
                "Arn": machine,
                "RoleArn": role,
                "DeadLetterConfig": {"Arn": dlq_arn},
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            }
        ],
        {"source": ["mlrollout.test"]},
    )
    aws.emulator.faults.arm("events:Deliver", "THROTTLING", times=3, rule="flaky")

    started = time.monotonic()
    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert time.monotonic() - started < 2  # the caller never waits for retries
    assert events.drain(10)

    [message] = messages(aws, dlq_url, 1)
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "THROTTLING"
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert events.deliveries[0].attempts == 3
    assert executions(aws, machine) == []


def test_a_retried_delivery_starts_the_execution_once(aws: EmbeddedAws, events: Any, role: str) -> None:
    machine = state_machine(aws, role)
    rule(aws, "flaky", [{"Id": "rollout", "Arn": machine, "RoleArn": role}], {"source": ["mlrollout.test"]})
    aws.emulator.faults.arm("events:Deliver", "INTERNAL_ERROR", times=1, rule="flaky")

    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)

    [delivery] = events.deliveries
    assert (delivery.outcome, delivery.attempts) == (DELIVERED, 2)
    assert [e["executionArn"] for e in executions(aws, machine)] == [delivery.execution_arn]


def test_a_duplicate_delivery_starts_two_executions_with_the_same_input(
    aws: EmbeddedAws, events: Any, role: str
) -> None:
    machine = state_machine(aws, role)
    rule(aws, "twice", [{"Id": "rollout", "Arn": machine, "RoleArn": role}], {"source": ["mlrollout.test"]})
    aws.emulator.faults.arm("events:Deliver", "duplicate", times=1, rule="twice")

    aws.client("events").put_events(Entries=[{"Source": "mlrollout.test", "DetailType": "x", "Detail": '{"n": 1}'}])
    assert events.drain(10)

    [delivery] = events.deliveries
    assert delivery.outcome == DELIVERED
    started = executions(aws, machine)
    assert sorted(e["executionArn"] for e in started) == sorted([delivery.execution_arn, *events.duplicates])
    sfn = aws.client("stepfunctions")
    inputs = {
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["detail"]["n"] for e in started
    }
    assert (len(started), inputs) == (2, {1})


# --- Step Functions status changes ---------------------------------------------------------------------------


def test_status_change_events_reach_a_queue_through_a_rule(aws: EmbeddedAws, events: Any, role: str) -> None:
    url, queue_arn = queue(aws, "status")
    rule(
        aws,
        "status",
        [{"Id": "q", "Arn": queue_arn}],
        {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]},
    )
    ok = state_machine(aws, role, "ok")
    broken = state_machine(
        aws,
        role,
        "broken",
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "CanaryFailed", "Cause": "latency"}}},
    )
    sfn = aws.client("stepfunctions")

    ok_arn = sfn.start_execution(stateMachineArn=ok, input='{"a": 1}')["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=ok_arn)["status"] != "RUNNING")
    broken_arn = sfn.start_execution(stateMachineArn=broken)["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=broken_arn)["status"] != "RUNNING")
    wait_for(lambda: events.drain(0.1) and len(events.deliveries) == 4)

    received = [json.loads(m["Body"]) for m in messages(aws, url, 4)]
    by_execution = {
        arn: [e["detail"] for e in received if e["detail"]["executionArn"] == arn] for arn in (ok_arn, broken_arn)
    }
    assert [d["status"] for d in by_execution[ok_arn]] == ["RUNNING", "SUCCEEDED"]
    assert [d["status"] for d in by_execution[broken_arn]] == ["RUNNING", "FAILED"]
    running, succeeded = by_execution[ok_arn]
    assert running["stopDate"] is None and running["output"] is None
    assert succeeded["stateMachineArn"] == ok
    assert json.loads(succeeded["input"]) == {"a": 1}
    assert json.loads(succeeded["output"]) == {"a": 1}
    assert succeeded["stopDate"] >= succeeded["startDate"] == running["startDate"]
    failed = by_execution[broken_arn][1]
    assert (failed["error"], failed["cause"]) == ("CanaryFailed", "latency")
    assert all(e["source"] == "aws.states" and e["resources"] == [e["detail"]["executionArn"]] for e in received)


# --- scheduled rules ------------------------------------------------------------------------------------------


def test_rate_rule_fires_once_per_period_on_sandbox_time(aws: EmbeddedAws, events: Any) -> None:
    _, queue_arn = queue(aws, "ticks")
    minutes = 3
    t0 = aws.clock.time()
    rule_arn = rule(aws, "tick", [{"Id": "q", "Arn": queue_arn}], schedule="rate(1 minute)")

    wait_for(lambda: aws.clock.time() > t0 + minutes * 60 + 40, timeout=15)
    events.run_due()
    assert events.drain(10)

    fired = [e for e in events.emitted if e["resources"] == [rule_arn]]
    in_window = [e for e in fired if _epoch(e["time"]) <= t0 + minutes * 60 + 30]
    assert len(in_window) == minutes
    times = [_epoch(e["time"]) for e in in_window]
    assert [b - a for a, b in pairwise(times)] == [60.0] * (minutes - 1)
    assert all(e["detail-type"] == "Scheduled Event" and e["source"] == "aws.events" for e in fired)
    assert all(d.outcome == DELIVERED for d in events.deliveries)


def test_invalid_schedule_expressions_are_refused(aws: EmbeddedAws) -> None:
    client = aws.client("events")
    for expression in ("cron(0 12 * * * *)", "rate(1 minutes)", "rate(5 minute)", "cron(0 12 * *)"):
        with pytest.raises(ClientError, match="ScheduleExpression is not valid"):
            client.put_rule(Name="bad", ScheduleExpression=expression)


# --- lifecycle ------------------------------------------------------------------------------------------------


def test_close_stops_the_delivery_worker(events: Any, aws: EmbeddedAws) -> None:
    aws.client("events").put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
    _, queue_arn = queue(aws, "q")
    aws.client("events").put_targets(Rule="r", Targets=[{"Id": "q", "Arn": queue_arn}])
    aws.client("events").put_events(Entries=[{"Source": "x", "DetailType": "x", "Detail": "{}"}])
    assert events.drain(10)
    assert any(t.name == "sandbox-delivery" for t in threading.enumerate())

    close_services(aws)

    assert not any(t.name == "sandbox-delivery" for t in threading.enumerate())
