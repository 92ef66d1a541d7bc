"""Slack messages for alerts: Block Kit with a severity colour, the evidence as fields, and the links."""

from __future__ import annotations

from typing import Any

from mlrollout.domain.alerts import Alert, Severity

COLOURS = {Severity.INFO: "#2EB67D", Severity.WARNING: "#ECB22E", Severity.CRITICAL: "#E01E5A"}
MAX_FIELDS = 10  # Slack's limit per section
MAX_FIELD_TEXT = 2000


def _clip(text: str, limit: int = MAX_FIELD_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(alert: Alert) -> dict[str, Any]:
    """The webhook body: a plain-text fallback plus an attachment holding the blocks (for the colour)."""
    headline = alert.subject().removeprefix("[mlrollout] ")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(headline, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*Why:* {alert.reason}")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(f"*What to do:* {alert.what_to_do()}")}]},
    ]
    facts = [
        ("Severity", alert.severity.value),
        ("Model", alert.model),
        ("Version", alert.version_fact()),
        ("Endpoint", alert.endpoint),
        ("Deployment", alert.deployment_id),
    ]
    fields = [{"type": "mrkdwn", "text": f"*{label}*\n{value}"} for label, value in facts if value]
    fields += [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{item.name}*\n{item.value}" + (f" (limit {item.limit})" if item.limit else "")),
        }
        for item in alert.evidence
    ]
    for start in range(0, len(fields), MAX_FIELDS):
        blocks.append({"type": "section", "fields": fields[start : start + MAX_FIELDS]})
    if alert.links:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label.replace("_", " ").title()},
                        "url": url,
                    }
                    for label, url in list(alert.links.items())[:5]
                ],
            }
        )
    return {
        "text": f"{headline}: {alert.reason}",
        "attachments": [{"color": COLOURS[alert.severity], "blocks": blocks}],
    }
