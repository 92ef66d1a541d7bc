"""The SNS adapter on plain moto: one publish per alert, the JSON document an SQS subscriber receives, a subject
within SNS's limits, and message attributes that subscription filter policies select on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from mlrollout.adapters.notifications import SnsNotifier
from mlrollout.domain.alerts import Alert, EventType, Evidence, alert_from_document


@dataclass
class Topic:
    sns: Any
    sqs: Any
    arn: str

    def subscribe(self, name: str, filter_policy: dict[str, Any] | None = None) -> str:
        url: str = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes)
        return url

    def received(self, url: str) -> list[dict[str, Any]]:
        """The SNS envelopes an SQS subscriber received."""
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in messages]


@pytest.fixture
def topic() -> Iterator[Topic]:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        yield Topic(sns, sqs, sns.create_topic(Name="alerts")["TopicArn"])


ROLLED_BACK = Alert(
    event=EventType.ROLLED_BACK,
    reason="p99 latency 412 ms over the 250 ms limit",
    model="fraud-scorer",
    version="v12",
    endpoint="fraud",
    deployment_id="fraud-scorer-3f6",
    evidence=[Evidence("p99 latency", "412 ms", "250 ms")],
    links={"execution": "https://console.aws.amazon.com/states/home#/executions/details/x"},
)


def test_an_alert_reaches_an_sqs_subscriber_as_its_json_document(topic: Topic) -> None:
    inbox = topic.subscribe("inbox")

    message_id = SnsNotifier(topic.sns, topic.arn).publish(ROLLED_BACK)

    [envelope] = topic.received(inbox)
    assert envelope["MessageId"] == message_id
    assert envelope["Subject"] == "[mlrollout] fraud-scorer version v12 rolled back on fraud"
    document = json.loads(envelope["Message"])  # the "sqs" body of the JSON message structure, not the email
    assert document == ROLLED_BACK.as_dict()
    assert alert_from_document(document) == ROLLED_BACK
    assert envelope["MessageAttributes"] == {
        "event": {"Type": "String", "Value": "rolled_back"},
        "severity": {"Type": "String", "Value": "warning"},
    }


def test_subscribers_filter_alerts_on_their_severity_attribute(topic: Topic) -> None:
    pager = topic.subscribe("pager", {"severity": ["critical"]})
    everything = topic.subscribe("everything")
    notifier = SnsNotifier(topic.sns, topic.arn)

    notifier.publish(ROLLED_BACK)
    notifier.publish(Alert(event=EventType.ROLLBACK_FAILED, reason="the previous config is gone", endpoint="fraud"))

    [paged] = topic.received(pager)
    assert json.loads(paged["Message"])["event"] == "rollback_failed"
    assert paged["Subject"] == "[mlrollout] endpoint fraud: ROLLBACK FAILED"
    assert len(topic.received(everything)) == 2


def test_a_long_non_ascii_subject_is_published_as_the_alert_words_it(topic: Topic) -> None:
    inbox = topic.subscribe("inbox")
    alert = Alert(event=EventType.PROMOTED, reason="r", model="modèle-" + "x" * 120, version="v1")

    SnsNotifier(topic.sns, topic.arn).publish(alert)

    [envelope] = topic.received(inbox)
    assert envelope["Subject"] == alert.subject()
    assert len(envelope["Subject"]) < 100  # SNS Publish: "less than 100 characters long"


def test_a_topic_that_does_not_exist_is_an_error_not_a_lost_alert(topic: Topic) -> None:
    missing = topic.arn.replace(":alerts", ":deleted")
    with pytest.raises(ClientError) as refused:
        SnsNotifier(topic.sns, missing).publish(ROLLED_BACK)
    assert refused.value.response["Error"]["Code"] == "NotFound"
