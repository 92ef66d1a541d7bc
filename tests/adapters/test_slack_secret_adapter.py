"""The Slack notifier's Secrets Manager side on plain moto, posting to the sandbox's Slack stand-in (a real HTTP
server on 127.0.0.1): the webhook URL is the secret's value, read once per `secret_max_age` (a rotated URL is used
after that, not before), and a secret that cannot be read fails before anything is posted. What Slack's answers do
(retries, refusals) is tests/handlers/test_notify_slack.py's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from moto import mock_aws

from mlrollout.adapters.slack import SlackPostFailed, SlackWebhook
from mlrollout_sandbox.slack import SlackStandIn

SECRET = "mlrollout/slack-webhook"
BODY = {"text": "fraud-scorer version v12 rolled back on fraud"}


@dataclass
class Aws:
    secretsmanager: Any
    slack: SlackStandIn
    reads: list[str]  # the GetSecretValue calls made


@pytest.fixture(scope="module")
def stand_in() -> Iterator[SlackStandIn]:
    with SlackStandIn() as slack:  # one server per module: stopping one takes up to its 0.5 s poll interval
        yield slack


@pytest.fixture
def aws(stand_in: SlackStandIn) -> Iterator[Aws]:
    stand_in.reset()
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        reads: list[str] = []
        client.meta.events.register(
            "before-parameter-build.secrets-manager.GetSecretValue",
            lambda params, **_: reads.append(params["SecretId"]),
        )
        yield Aws(client, stand_in, reads)


def rotated(url: str) -> str:
    return url.replace("/sandbox-webhook", "/rotated-webhook")


def test_a_post_goes_to_the_url_the_secret_holds(aws: Aws) -> None:
    aws.secretsmanager.create_secret(Name=SECRET, SecretString=f"  {aws.slack.url}\n")  # pasted with a newline

    assert SlackWebhook(aws.secretsmanager, SECRET).post(BODY) == 200

    [post] = aws.slack.posts
    assert post.path == "/services/T0SANDBOX/B0SANDBOX/sandbox-webhook"
    assert post.body == BODY
    assert aws.reads == [SECRET]


def test_the_secret_is_read_once_per_max_age(aws: Aws) -> None:
    aws.secretsmanager.create_secret(Name=SECRET, SecretString=aws.slack.url)
    webhook = SlackWebhook(aws.secretsmanager, SECRET)  # the default max age, 300 s
    webhook.post(BODY)
    aws.secretsmanager.put_secret_value(SecretId=SECRET, SecretString=rotated(aws.slack.url))

    webhook.post(BODY)

    assert aws.reads == [SECRET]  # a warm container keeps the value it read
    assert [p.path.rsplit("/", 1)[1] for p in aws.slack.posts] == ["sandbox-webhook", "sandbox-webhook"]


def test_a_rotated_url_is_used_once_the_cached_value_is_too_old(aws: Aws) -> None:
    aws.secretsmanager.create_secret(Name=SECRET, SecretString=aws.slack.url)
    webhook = SlackWebhook(aws.secretsmanager, SECRET, secret_max_age=0)
    webhook.post(BODY)
    aws.secretsmanager.put_secret_value(SecretId=SECRET, SecretString=rotated(aws.slack.url))

    webhook.post(BODY)

    assert aws.reads == [SECRET, SECRET]
    assert [p.path.rsplit("/", 1)[1] for p in aws.slack.posts] == ["sandbox-webhook", "rotated-webhook"]


def test_a_missing_or_deleted_secret_fails_before_anything_is_posted(aws: Aws) -> None:
    with pytest.raises(GetParameterError, match="ResourceNotFoundException"):
        SlackWebhook(aws.secretsmanager, SECRET).post(BODY)
    aws.secretsmanager.create_secret(Name=SECRET, SecretString=aws.slack.url)
    aws.secretsmanager.delete_secret(SecretId=SECRET, RecoveryWindowInDays=7)  # scheduled for deletion
    with pytest.raises(GetParameterError, match="InvalidRequestException"):
        SlackWebhook(aws.secretsmanager, SECRET).post(BODY)
    assert aws.slack.posts == [] and aws.slack.rejected == []


def test_a_post_slack_refuses_raises_slack_post_failed(aws: Aws) -> None:
    # An injected 404: a 4xx the client does not retry, so the notifier raises and Lambda retries the event (its
    # dead-letter queue keeps it).
    aws.secretsmanager.create_secret(Name=SECRET, SecretString=aws.slack.url)
    aws.slack.fail_next(1, status=404)
    with pytest.raises(SlackPostFailed, match="HTTP 404"):
        SlackWebhook(aws.secretsmanager, SECRET).post(BODY)
    assert aws.slack.rejected == [404] and aws.slack.posts == []
