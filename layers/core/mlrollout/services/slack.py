"""Notify Slack: every SNS message on the alerts topic, in the common schema, as one Slack message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from mlrollout.domain.alerts import Alert, Severity, alert_from_alarm, alert_from_document, severity_rank
from mlrollout.domain.slack import slack_message


class SlackPoster(Protocol):
    def post(self, body: dict[str, Any]) -> int: ...


@dataclass(frozen=True)
class Delivery:
    message_id: str
    outcome: str
    subject: str | None = None


def parse_notification(message: str, region: str) -> Alert | None:
    """Our own alerts (schema_version) and CloudWatch drift alarms; anything else is not for Slack."""
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if "schema_version" in document and "event" in document:
        return alert_from_document(document)
    if "AlarmName" in document and "NewStateValue" in document:
        return alert_from_alarm(document, region)
    return None


def relay(event: dict[str, Any], *, poster: SlackPoster, minimum: Severity, region: str) -> list[Delivery]:
    deliveries = []
    for record in event.get("Records", []):
        sns = record.get("Sns", {})
        message_id = str(sns.get("MessageId", "?"))
        alert = parse_notification(str(sns.get("Message", "")), region)
        if alert is None:
            deliveries.append(Delivery(message_id, "ignored: not an mlrollout alert or drift alarm"))
            continue
        if severity_rank(alert.severity) < severity_rank(minimum):
            deliveries.append(Delivery(message_id, f"below the {minimum.value} minimum", alert.subject()))
            continue
        poster.post(slack_message(alert))
        deliveries.append(Delivery(message_id, "posted", alert.subject()))
    return deliveries
