import json

from mlrollout.domain.alerts import Alert, EventType, Evidence, Severity, alert_from_alarm
from mlrollout.domain.slack import COLOURS, slack_message
from mlrollout.services.slack import Delivery, parse_notification, relay

ALARM = {
    "AlarmName": "mlrollout-fraud-scorer-drift-amount",
    "NewStateValue": "ALARM",
    "OldStateValue": "OK",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [0.4521 (25/11/26 13:00:00)] was greater than the threshold (0.2) (minimum 1 datapoint for OK -> ALARM transition).",
    "StateChangeTime": "2026-11-25T13:01:00.000+0000",
    "Trigger": {
        "MetricName": "feature_baseline_drift_amount",
        "Namespace": "aws/sagemaker/Endpoints/data-metrics",
        "Threshold": 0.2,
        "Dimensions": [
            {"value": "fraud-scorer", "name": "Endpoint"},
            {"value": "fraud-scorer-data-quality", "name": "MonitoringSchedule"},
        ],
    },
}


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def post(self, body: dict) -> int:
        self.bodies.append(body)
        return 200


def test_a_drift_alarm_becomes_an_alert_with_the_feature_and_value() -> None:
    alert = alert_from_alarm(ALARM, "us-east-1")
    assert alert is not None
    assert alert.event is EventType.DRIFT_DETECTED
    assert alert.endpoint == "fraud-scorer"
    assert "Feature amount" in alert.reason
    assert alert.evidence[0] == Evidence("baseline drift of amount", "0.452", "0.2")
    assert alert.subject() == "[mlrollout] endpoint fraud-scorer: input drifted"
    ok = alert_from_alarm({**ALARM, "NewStateValue": "OK", "OldStateValue": "ALARM"}, "us-east-1")
    assert ok is not None
    assert ok.event is EventType.DRIFT_RESOLVED
    assert ok.severity is Severity.INFO


def test_a_new_alarm_settling_to_ok_is_not_news() -> None:
    assert alert_from_alarm({**ALARM, "NewStateValue": "OK", "OldStateValue": "INSUFFICIENT_DATA"}, "us-east-1") is None


def test_alarms_on_other_metrics_are_not_drift() -> None:
    other = {**ALARM, "Trigger": {**ALARM["Trigger"], "MetricName": "CPUUtilization"}}
    assert alert_from_alarm(other, "us-east-1") is None


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


def sns_event(*messages: str) -> dict:
    return {"Records": [{"Sns": {"MessageId": f"m{i}", "Message": m}} for i, m in enumerate(messages)]}


def test_relay_posts_our_alerts_and_drift_alarms_and_ignores_the_rest() -> None:
    ours = Alert(event=EventType.PROMOTED, reason="passed", model="m").as_dict()
    recorder = Recorder()
    deliveries = relay(
        sns_event(json.dumps(ours), json.dumps(ALARM), "plain text", json.dumps({"x": 1})),
        poster=recorder,
        minimum=Severity.INFO,
        region="us-east-1",
    )
    assert [d.outcome for d in deliveries] == [
        "posted",
        "posted",
        "ignored: not an mlrollout alert or drift alarm",
        "ignored: not an mlrollout alert or drift alarm",
    ]
    assert len(recorder.bodies) == 2


def test_relay_respects_the_minimum_severity() -> None:
    recorder = Recorder()
    ours = Alert(event=EventType.PROMOTED, reason="passed").as_dict()
    deliveries = relay(sns_event(json.dumps(ours)), poster=recorder, minimum=Severity.WARNING, region="us-east-1")
    assert deliveries == [Delivery("m0", "below the warning minimum", "[mlrollout] upload promoted")]
    assert recorder.bodies == []


def test_parse_notification_reads_back_the_published_document() -> None:
    alert = Alert(event=EventType.REJECTED, reason="not gzip", evidence=[Evidence("failed step", "Validate Artifact")])
    assert parse_notification(json.dumps(alert.as_dict()), "us-east-1") == alert
