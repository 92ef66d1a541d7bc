"""Drift alarms as operators should hear about them: once per episode, with a cooldown, recovery said once.

CloudWatch publishes every alarm state change as an EventBridge event; mlrollout's alarms carry a JSON
description that says what they watch. This module turns such an event into the common alert schema and
decides whether it is news, given what was last reported for that alarm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlrollout.domain.alerts import Alert, EventType, Evidence
from mlrollout.domain.naming import SCHEMA_FEATURE

MARKER = "mlrollout"
LIMIT = 1024  # CloudWatch's AlarmDescription maximum


@dataclass(frozen=True)
class AlarmInfo:
    """What one of our alarms watches, from its description."""

    kind: str  # "drift"
    endpoint: str
    feature: str
    backend: str
    cooldown_minutes: int
    text: str
    thresholds: dict[str, float] = field(default_factory=dict)
    model: str | None = None
    version: str | None = None
    deployment_id: str | None = None

    def describe(self) -> str:
        """The alarm's AlarmDescription (CloudWatch keeps at most 1024 characters)."""
        document = {
            MARKER: self.kind,
            "endpoint": self.endpoint,
            "feature": self.feature,
            "backend": self.backend,
            "cooldown_minutes": self.cooldown_minutes,
            "thresholds": self.thresholds,
            "model": self.model,
            "version": self.version,
            "deployment_id": self.deployment_id,
            "text": self.text,
        }
        text = json.dumps(document, separators=(",", ":"))
        if len(text) > LIMIT:  # the prose goes first, then long labels are cut: the JSON must stay whole
            document["text"] = ""
            for key in ("model", "version", "deployment_id", "endpoint", "feature"):
                value = document[key]
                if isinstance(value, str) and len(json.dumps(document, separators=(",", ":"))) > LIMIT:
                    document[key] = value[:64]
            text = json.dumps(document, separators=(",", ":"))
        return text

    @classmethod
    def parse(cls, description: str | None) -> AlarmInfo | None:
        try:
            document = json.loads(description or "")
        except ValueError:
            return None
        if not isinstance(document, dict) or document.get(MARKER) != "drift":
            return None
        return cls(
            kind="drift",
            endpoint=str(document.get("endpoint", "")),
            feature=str(document.get("feature", "")),
            backend=str(document.get("backend", "")),
            cooldown_minutes=int(document.get("cooldown_minutes", 0)),
            text=str(document.get("text", "")),
            thresholds={k: float(v) for k, v in dict(document.get("thresholds") or {}).items()},
            model=document.get("model"),
            version=document.get("version"),
            deployment_id=document.get("deployment_id"),
        )


@dataclass(frozen=True)
class AlarmChange:
    alarm: str
    arn: str | None
    state: str
    previous: str
    reason: str
    at: datetime
    info: AlarmInfo
    value: float | None


def parse_alarm_event(event: dict[str, Any]) -> AlarmChange | None:
    """An EventBridge "CloudWatch Alarm State Change" event about one of our alarms; None otherwise."""
    if event.get("detail-type") != "CloudWatch Alarm State Change":
        return None
    detail = event.get("detail") or {}
    info = AlarmInfo.parse((detail.get("configuration") or {}).get("description"))
    if info is None:
        return None
    state = detail.get("state") or {}
    value = None
    try:
        reason_data = json.loads(state.get("reasonData") or "{}")
        points = reason_data.get("recentDatapoints") or []
        value = float(points[-1]) if points else None
    except (ValueError, TypeError):
        value = None
    stamp = str(state.get("timestamp") or event.get("time"))
    return AlarmChange(
        alarm=str(detail.get("alarmName")),
        arn=(event.get("resources") or [None])[0],
        state=str(state.get("value")),
        previous=str((detail.get("previousState") or {}).get("value")),
        reason=str(state.get("reason", "")),
        at=datetime.fromisoformat(stamp.replace("+0000", "+00:00").replace("Z", "+00:00")),
        info=info,
        value=value,
    )


@dataclass(frozen=True)
class ReportDecision:
    report: bool
    why: str


def should_report(change: AlarmChange, reported_state: str | None, alarm_reported_at: float | None) -> ReportDecision:
    """ALARM: report unless ALARM was reported for this alarm within its cooldown, even if a recovery was reported
    since (a flapping feature pages once per cooldown). OK: report a recovery once, and only from an ALARM
    operators were told about; a re-drift kept quiet by the cooldown leaves them at "recovered", so its own return
    to OK is not news either. INSUFFICIENT_DATA is never news."""
    now = change.at.timestamp()
    if change.state == "ALARM":
        quiet = change.info.cooldown_minutes * 60
        if alarm_reported_at is not None and now - alarm_reported_at < quiet:
            ago = int((now - alarm_reported_at) // 60)
            return ReportDecision(False, f"reported {ago} min ago (cooldown {change.info.cooldown_minutes} min)")
        return ReportDecision(True, "drift detected")
    if change.state == "OK":
        if reported_state == "ALARM":
            return ReportDecision(True, "recovered")
        return ReportDecision(False, "no drift alert to resolve")
    return ReportDecision(False, f"{change.state} is not news")


def drift_alert(
    change: AlarmChange, evidence: list[Evidence], links: dict[str, str], *, detail: str | None = None
) -> Alert:
    """`detail`: what crossed, in words, when the caller knows (else the alarm's own description of its test)."""
    info = change.info
    drifted = change.state == "ALARM"
    what = "The input schema" if info.feature == SCHEMA_FEATURE else f"Feature {info.feature}"
    if drifted and info.feature == SCHEMA_FEATURE:
        reason = f"Live requests to endpoint {info.endpoint} no longer match the baseline's schema ({info.text})."
    elif drifted:
        reason = f"{what} of endpoint {info.endpoint} drifted from its training baseline"
        reason += f": {detail}." if detail else (f" ({info.text})." if info.text else ".")
    else:
        reason = f"{what} of endpoint {info.endpoint} is back within its baseline."
    return Alert(
        event=EventType.DRIFT_DETECTED if drifted else EventType.DRIFT_RESOLVED,
        reason=reason,
        model=info.model,
        version=info.version,
        deployment_id=info.deployment_id,
        endpoint=info.endpoint,
        occurred_at=change.at.isoformat(),
        evidence=evidence,
        links=links,
    )


def violations_alert(
    endpoint: str, schedule: str, violations: int, exit_message: str, at: str, links: dict[str, str]
) -> Alert:
    """A Model Monitor run that completed with constraint violations."""
    return Alert(
        event=EventType.DRIFT_DETECTED,
        reason=f"Model Monitor's data-quality run on endpoint {endpoint} found "
        + (
            f"{violations} constraint violation{'s' if violations != 1 else ''}."
            if violations
            else "constraint violations."
        ),
        endpoint=endpoint,
        occurred_at=at,
        evidence=[Evidence("monitoring schedule", schedule), Evidence("job result", exit_message)],
        links=links,
    )
