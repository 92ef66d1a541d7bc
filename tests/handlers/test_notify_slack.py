"""The Slack notifier against Secrets Manager in the embedded AWS and a real HTTP Slack stand-in."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mlrollout.adapters.slack import SlackPostFailed
from mlrollout.domain.alerts import Alert, EventType, Evidence
from mlrollout_sandbox.slack import SlackStandIn


@pytest.fixture
def slack(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        name = f"slack-{uuid.uuid4().hex[:8]}"
        stack.client("secretsmanager").create_secret(Name=name, SecretString=stand_in.url)
        monkeypatch.setenv("SLACK_SECRET_NAME", name)
        yield stand_in


def sns(alert: Alert) -> dict[str, Any]:
    return {
        "Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m-1", "Message": json.dumps(alert.as_dict())}}]
    }


ALERT = Alert(
    event=EventType.ROLLED_BACK,
    reason="Canary v2 has 9.00% errors against 0.10% on v1.",
    model="fraud-scorer",
    version="v2",
    endpoint="fraud-scorer",
    evidence=[Evidence("error_rate_cap", "canary 0.09 (fail)", "0.05")],
)


def test_an_alert_reaches_slack_as_block_kit(
    slack: SlackStandIn, handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = handler("notify_slack")(sns(ALERT))
    assert result["deliveries"] == [{"message_id": "m-1", "outcome": "posted", "subject": ALERT.subject()}]
    [post] = slack.posts
    assert post.path == "/services/T0SANDBOX/B0SANDBOX/sandbox-webhook"
    assert post.body["attachments"][0]["color"] == "#ECB22E"
    assert "9.00% errors" in post.all_text()
    assert slack.url not in capsys.readouterr().out  # the webhook URL is never logged


def test_server_errors_are_retried_by_the_client(slack: SlackStandIn, handler: Any) -> None:
    slack.fail_next(2, status=500)
    handler("notify_slack")(sns(ALERT))
    assert slack.rejected == [500, 500]
    assert len(slack.posts) == 1


def test_a_post_slack_keeps_refusing_raises_so_lambda_retries(slack: SlackStandIn, handler: Any) -> None:
    slack.fail_next(5, status=503)
    with pytest.raises(SlackPostFailed, match="HTTP 503"):
        handler("notify_slack")(sns(ALERT))
    assert slack.posts == []


def test_a_message_sns_delivers_twice_is_posted_once(slack: SlackStandIn, handler: Any, stack: Any) -> None:
    first = handler("notify_slack")(sns(ALERT))
    again = handler("notify_slack")(sns(ALERT))
    assert [d["outcome"] for d in first["deliveries"] + again["deliveries"]] == ["posted", "duplicate: already posted"]
    assert len(slack.posts) == 1
    # The record is Powertools idempotency's, in the stack's state table.
    items = stack.client("dynamodb").scan(TableName=stack.state_table)["Items"]
    assert [item["status"]["S"] for item in items if item["id"]["S"].startswith("slack#")] == ["COMPLETED"]


def test_a_failed_post_leaves_no_record_so_the_retry_posts(slack: SlackStandIn, handler: Any) -> None:
    slack.fail_next(5, status=503)
    with pytest.raises(SlackPostFailed):
        handler("notify_slack")(sns(ALERT))
    result = handler("notify_slack")(sns(ALERT))  # Lambda's retry of the same event
    assert [d["outcome"] for d in result["deliveries"]] == ["posted"]
    assert len(slack.posts) == 1
