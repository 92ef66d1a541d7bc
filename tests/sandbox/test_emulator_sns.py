"""The emulated SNS: asynchronous Lambda delivery, Lambda's retries and DLQ, the email outbox, filters."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator._delivery import DEAD_LETTERED, DELIVERED, DROPPED, FILTERED
from mlrollout_sandbox.emulator.lambda_runtime import LocalFunction
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

RECORDER = "def lambda_handler(event, context):\n    return {'ok': True}\n"
FAILING = "def lambda_handler(event, context):\n    raise ValueError('model registry unreachable')\n"
PUBLISHER = """import os

import boto3


def lambda_handler(event, context):
    boto3.client("sns").publish(TopicArn=os.environ["TOPIC_ARN"], Message="from a Lambda", Subject="relay")
    return {"published": True}
"""


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    embedded = EmbeddedAws(SandboxClock(warp=600))
    with embedded:
        yield embedded
        for service in list(embedded.emulator.services.values()):
            close = getattr(service, "close", None)
            if callable(close):
                close()


@pytest.fixture
def sns(aws: EmbeddedAws) -> Any:
    return aws.emulator.services["sns"]


@pytest.fixture
def topic(aws: EmbeddedAws) -> str:
    return str(aws.client("sns").create_topic(Name="rollout-events")["TopicArn"])


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def function(
    aws: EmbeddedAws,
    tmp_path: Path,
    name: str,
    source: str,
    *,
    dead_letter_arn: str | None = None,
    environment: dict[str, str] | None = None,
    invokable: bool = True,
) -> str:
    code_dir = tmp_path / name
    code_dir.mkdir()
    (code_dir / "app.py").write_text(source)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", source)
    trust = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role_arn = aws.client("iam").create_role(
        RoleName=f"fn-{name}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]["Arn"]
    extra: dict[str, Any] = {"DeadLetterConfig": {"TargetArn": dead_letter_arn}} if dead_letter_arn else {}
    arn = aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn,
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
        **extra,
    )["FunctionArn"]
    aws.emulator.services["lambda_runtime"].register(
        LocalFunction(name=name, code_dir=code_dir, handler="app.lambda_handler", environment=environment or {})
    )
    if invokable:  # SNS invokes a function through its resource-based policy (IAM is enforced)
        aws.client("lambda").add_permission(
            FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com"
        )
    return str(arn)


def queue(aws: EmbeddedAws, name: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def invocations(aws: EmbeddedAws, name: str) -> list[Any]:
    return [i for i in aws.emulator.services["lambda_runtime"].invocations if i.function_name == name]


def subscribe(aws: EmbeddedAws, topic: str, protocol: str, endpoint: str, **attributes: str) -> str:
    return str(
        aws.client("sns").subscribe(
            TopicArn=topic, Protocol=protocol, Endpoint=endpoint, Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
    )


def test_publish_reaches_a_lambda_with_the_sns_event_and_an_email_outbox(
    aws: EmbeddedAws, sns: Any, topic: str, tmp_path: Path
) -> None:
    arn = function(aws, tmp_path, "slack-notifier", RECORDER)
    lambda_subscription = subscribe(aws, topic, "lambda", arn)
    email_subscription = subscribe(aws, topic, "email", "ops@example.com")
    published_at = aws.clock.now()

    message_id = aws.client("sns").publish(
        TopicArn=topic,
        Message="churn v7 promoted",
        Subject="Rollout succeeded",
        MessageAttributes={"model": {"DataType": "String", "StringValue": "churn"}},
    )["MessageId"]
    assert sns.drain(10)

    [invocation] = invocations(aws, "slack-notifier")
    [record] = invocation.event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == lambda_subscription
    message = record["Sns"]
    assert message["Type"] == "Notification"
    assert message["MessageId"] == message_id
    assert message["TopicArn"] == topic
    assert message["Subject"] == "Rollout succeeded"
    assert message["Message"] == "churn v7 promoted"
    assert message["MessageAttributes"] == {"model": {"Type": "String", "Value": "churn"}}
    assert message["SignatureVersion"] == "1"
    assert message["UnsubscribeUrl"].endswith(f"SubscriptionArn={lambda_subscription}")
    timestamp = datetime.fromisoformat(message["Timestamp"].replace("Z", "+00:00"))
    assert abs(timestamp - published_at) < timedelta(minutes=5)  # sandbox time, not the wall clock

    [mail] = sns.outbox
    assert (mail.to, mail.subject, mail.subscription_arn) == (
        "ops@example.com",
        "Rollout succeeded",
        email_subscription,
    )
    assert mail.body.startswith("churn v7 promoted\n\n--\n")
    assert f"SubscriptionArn={email_subscription}" in mail.body
    assert mail.sender.endswith("<no-reply@sns.amazonaws.com>")
    assert {d.protocol: d.outcome for d in sns.deliveries} == {"lambda": DELIVERED, "email": DELIVERED}


def test_a_function_whose_policy_does_not_allow_sns_is_not_invoked(
    aws: EmbeddedAws, sns: Any, topic: str, tmp_path: Path
) -> None:
    # https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-services.html: the function's resource-based policy.
    function(aws, tmp_path, "no-permission", RECORDER, invokable=False)
    subscribe(aws, topic, "lambda", "arn:aws:lambda:us-east-1:123456789012:function:no-permission")
    aws.client("sns").publish(TopicArn=topic, Message="hello")
    assert sns.drain(10)

    assert invocations(aws, "no-permission") == []
    [delivery] = sns.deliveries
    assert (delivery.outcome, delivery.error_code) == (DROPPED, "NO_PERMISSIONS")


def test_email_json_and_default_subject(aws: EmbeddedAws, sns: Any, topic: str) -> None:
    subscribe(aws, topic, "email-json", "bot@example.com")
    message_id = aws.client("sns").publish(TopicArn=topic, Message='{"status": "ok"}')["MessageId"]

    [mail] = sns.outbox
    assert mail.subject == "AWS Notification Message"
    body = json.loads(mail.body)
    assert (body["Type"], body["MessageId"], body["TopicArn"]) == ("Notification", message_id, topic)
    assert body["Message"] == '{"status": "ok"}'
    assert "Subject" not in body


def test_a_failing_lambda_is_retried_twice_then_dead_lettered(
    aws: EmbeddedAws, sns: Any, topic: str, tmp_path: Path
) -> None:
    dlq_url, dlq_arn = queue(aws, "notifier-dlq")
    arn = function(aws, tmp_path, "broken-notifier", FAILING, dead_letter_arn=dlq_arn)
    assert aws.client("lambda").get_function(FunctionName="broken-notifier")["Configuration"]["DeadLetterConfig"] == {
        "TargetArn": dlq_arn
    }
    subscribe(aws, topic, "lambda", arn)

    started = time.monotonic()
    aws.client("sns").publish(TopicArn=topic, Message="rollback")
    assert time.monotonic() - started < 2  # the publisher never waits for the subscriber
    assert sns.drain(10)

    attempts = invocations(aws, "broken-notifier")
    assert len(attempts) == 3
    gaps = [b.started_at - a.started_at for a, b in pairwise(attempts)]
    assert gaps[0] >= 60 and gaps[1] >= 120  # Lambda waits one, then two minutes (sandbox time)
    [delivery] = sns.deliveries
    assert (delivery.outcome, delivery.attempts, delivery.dead_letter_arn) == (DEAD_LETTERED, 3, dlq_arn)
    assert delivery.error_code == "ValueError"
    [message] = aws.client("sqs").receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RequestID"] == attempts[-1].request_id
    assert attributes["ErrorCode"] == "200"
    assert attributes["ErrorMessage"] == "model registry unreachable"
    assert json.loads(message["Body"])["Records"][0]["Sns"]["Message"] == "rollback"


def test_a_lambda_publishing_to_a_topic_with_a_lambda_subscriber_does_not_deadlock(
    aws: EmbeddedAws, sns: Any, topic: str, tmp_path: Path
) -> None:
    subscriber = function(aws, tmp_path, "subscriber", RECORDER)
    subscribe(aws, topic, "lambda", subscriber)
    function(aws, tmp_path, "publisher", PUBLISHER, environment={"TOPIC_ARN": topic})

    response = aws.client("lambda", read_timeout=15).invoke(FunctionName="publisher", Payload=b"{}")

    assert json.loads(response["Payload"].read()) == {"published": True}
    wait_for(lambda: invocations(aws, "subscriber"), timeout=10)
    [invocation] = invocations(aws, "subscriber")
    assert invocation.event["Records"][0]["Sns"]["Message"] == "from a Lambda"


def test_filter_policies_are_honoured(aws: EmbeddedAws, sns: Any, topic: str, tmp_path: Path) -> None:
    arn = function(aws, tmp_path, "alerts-only", RECORDER)
    subscribe(aws, topic, "lambda", arn, FilterPolicy=json.dumps({"severity": ["alert"]}))
    subscribe(aws, topic, "email", "ops@example.com", FilterPolicy=json.dumps({"severity": ["alert"]}))
    client = aws.client("sns")

    client.publish(
        TopicArn=topic, Message="fyi", MessageAttributes={"severity": {"DataType": "String", "StringValue": "info"}}
    )
    client.publish(
        TopicArn=topic, Message="page", MessageAttributes={"severity": {"DataType": "String", "StringValue": "alert"}}
    )
    assert sns.drain(10)

    assert [i.event["Records"][0]["Sns"]["Message"] for i in invocations(aws, "alerts-only")] == ["page"]
    assert [m.body.split("\n")[0] for m in sns.outbox] == ["page"]
    assert sorted(d.outcome for d in sns.deliveries) == [DELIVERED, DELIVERED, FILTERED, FILTERED]


def test_sqs_subscriptions_stay_moto_and_missing_subscribers_do_not_fail_the_publisher(
    aws: EmbeddedAws, sns: Any, topic: str
) -> None:
    url, queue_arn = queue(aws, "fanout")
    subscribe(aws, topic, "sqs", queue_arn)
    subscribe(aws, topic, "sqs", "arn:aws:sqs:us-east-1:123456789012:deleted")
    dlq_url, dlq_arn = queue(aws, "redrive")
    subscribe(
        aws,
        topic,
        "lambda",
        "arn:aws:lambda:us-east-1:123456789012:function:gone",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn}),
    )

    aws.client("sns").publish(TopicArn=topic, Message="hello")
    assert sns.drain(10)

    [delivered] = aws.client("sqs").receive_message(QueueUrl=url)["Messages"]
    assert json.loads(delivered["Body"])["Message"] == "hello"
    [redriven] = aws.client("sqs").receive_message(QueueUrl=dlq_url)["Messages"]
    assert json.loads(redriven["Body"])["Message"] == "hello"
    outcomes = {d.target: d.outcome for d in sns.deliveries}
    assert outcomes[queue_arn] == DELIVERED
    assert outcomes["arn:aws:sqs:us-east-1:123456789012:deleted"] == "dropped"
    assert outcomes["arn:aws:lambda:us-east-1:123456789012:function:gone"] == DEAD_LETTERED
