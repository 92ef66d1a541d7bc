"""Notify Slack: every SNS message on the alerts topic, in the common schema, as one Slack message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlrollout.domain.alerts import Alert, Severity, alert_from_document, severity_rank
from mlrollout.domain.slack import slack_message
from mlrollout.ports import Guard, SlackPoster


@dataclass(frozen=True)
class Delivery:
    message_id: str
    outcome: str
    subject: str | None = None


def parse_notification(message: str) -> Alert | None:
    """Our own alerts (schema_version); anything else on the topic is not for Slack."""
    try:
        document = json.loads(message)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if "schema_version" in document and "event" in document:
        return alert_from_document(document)
    return None


def relay(event: dict[str, Any], *, poster: SlackPoster, minimum: Severity, guard: Guard) -> list[Delivery]:
    """SNS delivers at least once: a message id already posted is not posted again."""
    deliveries = []
    for record in event.get("Records", []):
        sns = record.get("Sns", {})
        message_id = str(sns.get("MessageId", "?"))
        alert = parse_notification(str(sns.get("Message", "")))
        if alert is None:
            deliveries.append(Delivery(message_id, "ignored: not an mlrollout alert"))
            continue
        if severity_rank(alert.severity) < severity_rank(minimum):
            deliveries.append(Delivery(message_id, f"below the {minimum.value} minimum", alert.subject()))
            continue
        body = slack_message(alert)
        ran: list[bool] = []

        def post(body: dict[str, Any] = body, ran: list[bool] = ran) -> dict[str, Any]:
            ran.append(True)
            return {"status": poster.post(body)}

        guard.run({"sns_message": message_id}, post)
        outcome = "posted" if ran else "duplicate: already posted"
        deliveries.append(Delivery(message_id, outcome, alert.subject()))
    return deliveries
