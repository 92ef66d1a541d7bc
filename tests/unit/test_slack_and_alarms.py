import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mlrollout.domain.alarms import AlarmInfo, drift_alert, parse_alarm_event, should_report, violations_alert
from mlrollout.domain.alerts import Alert, EventType, Evidence, Severity
from mlrollout.domain.naming import SCHEMA_FEATURE
from mlrollout.domain.slack import COLOURS, slack_message
from mlrollout.services.relay import _count
from mlrollout.services.slack import Delivery, parse_notification, relay

INFO = AlarmInfo(
    kind="drift",
    endpoint="fraud-scorer",
    feature="amount",
    backend="builtin",
    cooldown_minutes=60,
    text="PSI above 0.2",
    thresholds={"psi": 0.2, "js": 0.1, "missing_rate": 0.05},
    model="fraud-scorer",
    version="v2",
    deployment_id="fraud-scorer-abc",
)


def alarm_event(state: str, previous: str, at: str = "2026-11-25T13:01:00.000+0000", info: AlarmInfo = INFO) -> dict:
    """The shape CloudWatch sends to EventBridge (detail-type "CloudWatch Alarm State Change")."""
    return {
        "version": "0",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "time": at,
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:mlrollout-fraud-scorer.drift.amount"],
        "detail": {
            "alarmName": "mlrollout-fraud-scorer.drift.amount",
            "state": {
                "value": state,
                "reason": "Threshold Crossed",
                "reasonData": json.dumps({"recentDatapoints": [2.26]}),
                "timestamp": at,
            },
            "previousState": {"value": previous},
            "configuration": {"description": info.describe()},
        },
    }


def test_an_alarm_description_round_trips_and_fits_cloudwatch() -> None:
    assert AlarmInfo.parse(INFO.describe()) == INFO
    assert len(INFO.describe()) <= 1024
    assert AlarmInfo.parse("someone else's alarm") is None
    assert AlarmInfo.parse(json.dumps({"mlrollout": "other"})) is None


def test_an_alarm_event_is_parsed_with_its_value_and_time() -> None:
    change = parse_alarm_event(alarm_event("ALARM", "OK"))
    assert change is not None
    assert (change.alarm, change.state, change.previous, change.value) == (
        "mlrollout-fraud-scorer.drift.amount",
        "ALARM",
        "OK",
        2.26,
    )
    assert change.at == datetime(2026, 11, 25, 13, 1, tzinfo=UTC)
    assert change.info.feature == "amount"


def test_events_that_are_not_our_alarms_are_ignored() -> None:
    foreign = alarm_event("ALARM", "OK")
    foreign["detail"]["configuration"]["description"] = "CPU high"
    assert parse_alarm_event(foreign) is None
    assert parse_alarm_event({**alarm_event("ALARM", "OK"), "detail-type": "Something Else"}) is None


@pytest.mark.parametrize(
    ("state", "reported_state", "alarm_minutes_ago", "report"),
    [
        ("ALARM", None, None, True),  # first time
        ("ALARM", "ALARM", 10, False),  # within the 60 min cooldown
        ("ALARM", "ALARM", 61, True),  # after it
        ("ALARM", "OK", 5, False),  # a flap: drifted again soon after a reported recovery
        ("ALARM", "OK", 61, True),  # a new episode after the cooldown
        ("OK", "ALARM", 5, True),  # recovery of a reported alarm: once
        ("OK", "OK", 5, False),  # recovery already reported (or a quiet flap's return)
        ("OK", None, None, False),  # a new alarm settling to OK is not news
        ("INSUFFICIENT_DATA", "ALARM", 5, False),
    ],
)
def test_should_report(state: str, reported_state: str | None, alarm_minutes_ago: int | None, report: bool) -> None:
    change = parse_alarm_event(alarm_event(state, "OK"))
    assert change is not None
    at = None if alarm_minutes_ago is None else change.at.timestamp() - alarm_minutes_ago * 60
    assert should_report(change, reported_state, at).report is report


def test_a_description_too_long_for_cloudwatch_is_shortened_not_broken() -> None:
    long = AlarmInfo(**{**INFO.__dict__, "version": "v" * 900, "text": "t" * 300})
    described = long.describe()
    assert len(described) <= 1024
    parsed = AlarmInfo.parse(described)
    assert parsed is not None
    assert (parsed.feature, parsed.endpoint, parsed.version, parsed.text) == ("amount", "fraud-scorer", "v" * 64, "")


def test_drift_alerts_name_the_feature_model_and_deployment() -> None:
    change = parse_alarm_event(alarm_event("ALARM", "OK"))
    assert change is not None
    alert = drift_alert(change, [Evidence("PSI of amount", "0.452", "0.2")], {"alarm": "https://x"})
    assert alert.event is EventType.DRIFT_DETECTED
    assert (alert.model, alert.version, alert.deployment_id, alert.endpoint) == (
        "fraud-scorer",
        "v2",
        "fraud-scorer-abc",
        "fraud-scorer",
    )
    assert alert.reason == "Feature amount of endpoint fraud-scorer drifted from its training baseline (PSI above 0.2)."
    assert alert.subject() == "[mlrollout] fraud-scorer version v2 input drifted on fraud-scorer"
    recovered = parse_alarm_event(alarm_event("OK", "ALARM"))
    assert recovered is not None
    resolved = drift_alert(recovered, [], {})
    assert resolved.event is EventType.DRIFT_RESOLVED
    assert resolved.severity is Severity.INFO
    assert "back within its baseline" in resolved.reason


def test_the_schema_alarm_reads_as_a_schema_problem() -> None:
    schema = AlarmInfo(
        kind="drift", endpoint="e", feature=SCHEMA_FEATURE, backend="builtin", cooldown_minutes=0, text="new fields"
    )
    change = parse_alarm_event(alarm_event("ALARM", "OK", info=schema))
    assert change is not None
    assert (
        drift_alert(change, [], {}).reason
        == "Live requests to endpoint e no longer match the baseline's schema (new fields)."
    )


def test_violations_alerts_count_what_model_monitor_found() -> None:
    message = "CompletedWithViolations: Job completed successfully with 3 violations."
    assert _count(message) == 3
    assert _count("CompletedWithViolations: see the report") == 0
    alert = violations_alert("e", "e-data-quality", 3, message, "2026-11-25T13:00:00+00:00", {})
    assert alert.reason == "Model Monitor's data-quality run on endpoint e found 3 constraint violations."
    unknown = violations_alert("e", "e-data-quality", 0, "CompletedWithViolations", "t", {})
    assert unknown.reason.endswith("found constraint violations.")


def test_slack_message_has_colour_fields_and_buttons() -> None:
    alert = Alert(
        event=EventType.ROLLED_BACK,
        reason="Canary v2 errors 4% vs 0.5%.",
        model="fraud-scorer",
        version="v2",
        endpoint="fraud-scorer",
        evidence=[Evidence("error_rate", "0.04", "0.01")],
        links={"execution": "https://console.example/x"},
    )
    message = slack_message(alert)
    [attachment] = message["attachments"]
    assert attachment["color"] == COLOURS[Severity.WARNING]
    types = [block["type"] for block in attachment["blocks"]]
    assert types == ["header", "section", "context", "section", "actions"]
    fields = attachment["blocks"][3]["fields"]
    assert {"type": "mrkdwn", "text": "*error_rate*\n0.04 (limit 0.01)"} in fields
    assert attachment["blocks"][4]["elements"][0]["url"] == "https://console.example/x"
    assert "Canary v2 errors" in message["text"]


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def post(self, body: dict) -> int:
        self.bodies.append(body)
        return 200


class FirstRunOnly:
    """The Guard contract (the real one is Powertools idempotency, exercised on moto in tests/handlers)."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def run(self, key: dict[str, Any], action: Any) -> dict[str, Any]:
        name = json.dumps(key, sort_keys=True)
        if name not in self.results:
            self.results[name] = action()
        return self.results[name]


def sns_event(*messages: str, ids: list[str] | None = None) -> dict:
    ids = ids or [f"m{i}" for i in range(len(messages))]
    return {"Records": [{"Sns": {"MessageId": i, "Message": m}} for i, m in zip(ids, messages, strict=True)]}


def test_relay_posts_our_alerts_and_ignores_the_rest() -> None:
    ours = Alert(event=EventType.PROMOTED, reason="passed", model="m").as_dict()
    recorder = Recorder()
    deliveries = relay(
        sns_event(json.dumps(ours), "plain text", json.dumps({"AlarmName": "x", "NewStateValue": "ALARM"})),
        poster=recorder,
        minimum=Severity.INFO,
        guard=FirstRunOnly(),
    )
    assert [d.outcome for d in deliveries] == [
        "posted",
        "ignored: not an mlrollout alert",
        "ignored: not an mlrollout alert",
    ]
    assert len(recorder.bodies) == 1


def test_a_message_delivered_twice_is_posted_once() -> None:
    ours = json.dumps(Alert(event=EventType.PROMOTED, reason="passed", model="m").as_dict())
    recorder, guard = Recorder(), FirstRunOnly()
    first = relay(sns_event(ours, ids=["same"]), poster=recorder, minimum=Severity.INFO, guard=guard)
    again = relay(sns_event(ours, ids=["same"]), poster=recorder, minimum=Severity.INFO, guard=guard)
    assert [d.outcome for d in first + again] == ["posted", "duplicate: already posted"]
    assert len(recorder.bodies) == 1


def test_relay_respects_the_minimum_severity() -> None:
    recorder = Recorder()
    ours = Alert(event=EventType.PROMOTED, reason="passed").as_dict()
    deliveries = relay(sns_event(json.dumps(ours)), poster=recorder, minimum=Severity.WARNING, guard=FirstRunOnly())
    assert deliveries == [Delivery("m0", "below the warning minimum", "[mlrollout] upload promoted")]
    assert recorder.bodies == []


def test_parse_notification_reads_back_the_published_document() -> None:
    alert = Alert(event=EventType.REJECTED, reason="not gzip", evidence=[Evidence("failed step", "Validate Artifact")])
    assert parse_notification(json.dumps(alert.as_dict())) == alert
