"""One message schema for everything operators are told, rendered for email and for machines."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "1"
# SNS Publish: a subject is "less than 100 characters long".
MAX_SUBJECT = 99


class EventType(StrEnum):
    STARTED = "started"
    STEP_SHIFTED = "step_shifted"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    HELD = "held"
    ROLLBACK_FAILED = "rollback_failed"
    SUPERSEDED = "superseded"
    MONITORING_FAILED = "monitoring_failed"
    DRIFT_DETECTED = "drift_detected"
    DRIFT_RESOLVED = "drift_resolved"
    APPROVAL_REQUESTED = "approval_requested"
    SCALING_NOT_RESTORED = "scaling_not_restored"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY = {
    EventType.STARTED: Severity.INFO,
    EventType.STEP_SHIFTED: Severity.INFO,
    EventType.PROMOTED: Severity.INFO,
    EventType.ROLLED_BACK: Severity.WARNING,
    EventType.REJECTED: Severity.WARNING,
    EventType.HELD: Severity.WARNING,
    EventType.ROLLBACK_FAILED: Severity.CRITICAL,
    EventType.SUPERSEDED: Severity.INFO,
    EventType.MONITORING_FAILED: Severity.WARNING,
    EventType.DRIFT_DETECTED: Severity.WARNING,
    EventType.DRIFT_RESOLVED: Severity.INFO,
    EventType.APPROVAL_REQUESTED: Severity.WARNING,
    EventType.SCALING_NOT_RESTORED: Severity.CRITICAL,
}

HEADLINE = {
    EventType.STARTED: "rollout started",
    EventType.STEP_SHIFTED: "canary traffic shifted",
    EventType.PROMOTED: "promoted",
    EventType.ROLLED_BACK: "rolled back",
    EventType.REJECTED: "rejected",
    EventType.HELD: "held without a verdict",
    EventType.ROLLBACK_FAILED: "ROLLBACK FAILED",
    EventType.SUPERSEDED: "superseded by a newer upload",
    EventType.MONITORING_FAILED: "promoted, monitoring not attached",
    EventType.DRIFT_DETECTED: "input drifted",
    EventType.DRIFT_RESOLVED: "drift resolved",
    EventType.APPROVAL_REQUESTED: "waiting for approval",
    EventType.SCALING_NOT_RESTORED: "promoted WITHOUT AUTO SCALING",
}

ACTION = {
    EventType.STARTED: "Nothing to do: the canary is judged automatically; you will hear the outcome.",
    EventType.STEP_SHIFTED: "Nothing to do: the canary is being judged at this traffic share.",
    EventType.PROMOTED: "Nothing to do. The version is Approved in the model registry.",
    EventType.ROLLED_BACK: "The endpoint is back on its previous version. See every look of the judge with "
    "`mlrollout replay DEPLOYMENT` (--set tries other thresholds), fix the model and upload a new version.",
    EventType.REJECTED: "Nothing was deployed. Fix what the reason names and upload again.",
    EventType.HELD: "Look at the canary's metrics and decide; the rollout rolls back when the hold ends.",
    EventType.SUPERSEDED: "Nothing to do: the newer version waiting for the endpoint is rolled out instead.",
    EventType.ROLLBACK_FAILED: "Act now: the endpoint may be serving the candidate. Check it in the console.",
    EventType.MONITORING_FAILED: "The new version serves traffic; attach monitoring once the reason is fixed.",
    EventType.DRIFT_DETECTED: "Compare live inputs with the training data; retrain or fix the upstream source.",
    EventType.DRIFT_RESOLVED: "Nothing to do: the feature is back within its baseline.",
    EventType.APPROVAL_REQUESTED: "Run `mlrollout approve DEPLOYMENT` to let traffic reach the candidate, or "
    "`mlrollout reject DEPLOYMENT`; without either, the rollout is undone when the wait ends.",
    EventType.SCALING_NOT_RESTORED: "Act now: the new version serves all traffic on a fixed instance count. Register "
    "its variant with Application Auto Scaling (the evidence lists the bounds and policies), or it cannot follow "
    "the traffic.",
}


def severity_rank(severity: Severity) -> int:
    return [Severity.INFO, Severity.WARNING, Severity.CRITICAL].index(severity)


@dataclass(frozen=True)
class Evidence:
    name: str
    value: str
    limit: str | None = None


@dataclass(frozen=True)
class Alert:
    event: EventType
    reason: str
    model: str | None = None
    version: str | None = None  # the label the user uploaded (the version folder), what every message names
    endpoint: str | None = None
    deployment_id: str | None = None
    artifact: str | None = None
    occurred_at: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    package: int | None = None  # the model registry's package number, shown beside the label, never instead of it

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.event]

    def subject(self) -> str:
        """The SNS subject: one line, printable ASCII, fewer than 100 characters (SNS Publish: "less than 100
        characters long", no line breaks or control characters)."""
        what = " ".join(p for p in (self.model, self.version and f"version {self.version}") if p)
        if what:
            text = f"[mlrollout] {what} {HEADLINE[self.event]}" + (f" on {self.endpoint}" if self.endpoint else "")
        elif self.endpoint:
            text = f"[mlrollout] endpoint {self.endpoint}: {HEADLINE[self.event]}"
        else:
            text = f"[mlrollout] upload {HEADLINE[self.event]}"
        ascii_only = re.sub(r"[^\x20-\x7e]", "?", text)
        return ascii_only if len(ascii_only) <= MAX_SUBJECT else ascii_only[: MAX_SUBJECT - 3] + "..."

    def version_fact(self) -> str | None:
        """The version as the facts show it: the uploaded label, with the registry's package number beside it."""
        if self.version and self.package is not None:
            return f"{self.version} (model registry package {self.package})"
        return self.version

    def what_to_do(self) -> str:
        """ACTION for this event, its commands naming this alert's deployment."""
        return ACTION[self.event].replace("DEPLOYMENT", self.deployment_id or "DEPLOYMENT")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event"] = self.event.value
        data["severity"] = self.severity.value
        data["subject"] = self.subject()
        data["schema_version"] = SCHEMA_VERSION
        return data

    def email_body(self) -> str:
        lines = [
            f"{self.subject().removeprefix('[mlrollout] ')}.",
            "",
            f"Why: {self.reason}",
            f"What to do: {self.what_to_do()}",
            "",
        ]
        facts = [
            ("Severity", self.severity.value),
            ("Model", self.model),
            ("Version", self.version_fact()),
            ("Endpoint", self.endpoint),
            ("Deployment", self.deployment_id),
            ("Artifact", self.artifact),
            ("When", self.occurred_at),
        ]
        lines += [f"{label}: {value}" for label, value in facts if value]
        if self.evidence:
            lines += ["", "Evidence:"]
            for item in self.evidence:
                lines.append(f"  - {item.name}: {item.value}" + (f" (limit {item.limit})" if item.limit else ""))
        if self.links:
            lines += ["", "Links:"]
            lines += [f"  {label}: {url}" for label, url in self.links.items()]
        return "\n".join(lines) + "\n"


def alert_from_document(document: dict[str, Any]) -> Alert:
    """An Alert back from its published JSON (`Alert.as_dict`)."""
    return Alert(
        event=EventType(document["event"]),
        reason=str(document["reason"]),
        model=document.get("model"),
        version=document.get("version"),
        endpoint=document.get("endpoint"),
        deployment_id=document.get("deployment_id"),
        artifact=document.get("artifact"),
        occurred_at=document.get("occurred_at"),
        evidence=[Evidence(e["name"], e["value"], e.get("limit")) for e in document.get("evidence", [])],
        links=dict(document.get("links", {})),
        package=document.get("package"),
    )
