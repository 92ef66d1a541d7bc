"""Relay Alert: monitoring events from EventBridge, told to operators once, in the common alert schema.

Two kinds of event arrive:
- "CloudWatch Alarm State Change" of a drift alarm (builtin or Model Monitor): reported when it is news (see
  domain/alarms.should_report: cooldown per alarm, a recovery once), with the feature's latest metric values;
- "SageMaker Processing Job State Change" of a Model Monitor run that completed with violations: reported once
  per schedule per cooldown.
What was reported is remembered in DynamoDB with a conditional write first; if publishing then fails the memory
is restored and the error raised, so EventBridge's retry reports it (never lost, never twice).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlrollout.domain.alarms import (
    AlarmChange,
    AlarmInfo,
    drift_alert,
    parse_alarm_event,
    should_report,
    violations_alert,
)
from mlrollout.domain.alerts import Alert, Evidence
from mlrollout.domain.drift_metrics import NAMESPACE, SCHEMA_METRIC, SCORE_METRIC, feature_dimension
from mlrollout.domain.naming import SCHEMA_FEATURE, STACK_TAG
from mlrollout.ports import AlertState, MetricReader, Monitoring, Notifier

MEMORY_DAYS = 30
VALUES = ("PSI", "KSDistance", "JSDistance", "MissingRate", "TypeMismatchRate", SCORE_METRIC)
LIMIT_OF = {"PSI": "psi", "JSDistance": "js"}
LABEL = {
    "PSI": "PSI",
    "KSDistance": "KS distance",
    "JSDistance": "JS distance",
    "MissingRate": "missing rate",
    "TypeMismatchRate": "wrong-type rate",
    SCORE_METRIC: "drift score",
}


@dataclass(frozen=True)
class RelayOutcome:
    outcome: str
    subject: str | None = None
    message_id: str | None = None


def console_links(region: str, endpoint: str, alarm: str | None, dashboard: str | None) -> dict[str, str]:
    base = f"https://{region}.console.aws.amazon.com"
    links = {"endpoint": f"{base}/sagemaker/home?region={region}#/endpoints/{endpoint}"}
    if alarm:
        links["alarm"] = f"{base}/cloudwatch/home?region={region}#alarmsV2:alarm/{alarm}"
    if dashboard:
        links["dashboard"] = f"{base}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard}"
    return links


def evidence_for(change: AlarmChange, reader: MetricReader) -> list[Evidence]:
    info = change.info
    evidence: list[Evidence] = []
    window = (change.at - timedelta(days=1), change.at + timedelta(minutes=5))
    if info.backend == "builtin" and info.feature == SCHEMA_FEATURE:
        seen = reader.latest(NAMESPACE, [SCHEMA_METRIC, "Records"], {"Endpoint": info.endpoint}, *window)
        if SCHEMA_METRIC in seen:
            evidence.append(Evidence("schema violations", f"{seen[SCHEMA_METRIC]:g}", "0"))
        if "Records" in seen:
            evidence.append(Evidence("records in the window", f"{seen['Records']:g}"))
    elif info.backend == "builtin":
        dimensions = {"Endpoint": info.endpoint, "Feature": feature_dimension(info.feature)}
        seen = reader.latest(NAMESPACE, list(VALUES), dimensions, *window)
        # Both distances are published for every feature, but only one is judged: PSI for a numeric feature (the
        # only kind with a KS distance), JS for a categorical one. A limit beside the other would misread as crossed.
        judged = "PSI" if "KSDistance" in seen else "JSDistance"
        for metric in VALUES:
            if metric not in seen:
                continue
            limit = info.thresholds.get(LIMIT_OF[metric]) if metric == judged else None
            if metric == SCORE_METRIC:
                limit = 1.0
            evidence.append(
                Evidence(f"{LABEL[metric]} of {info.feature}", f"{seen[metric]:.3g}", f"{limit:g}" if limit else None)
            )
    elif change.value is not None:
        limit = info.thresholds.get("baseline_drift")
        evidence.append(
            Evidence(f"baseline drift of {info.feature}", f"{change.value:.3g}", f"{limit:g}" if limit else None)
        )
    evidence.append(Evidence("alarm", change.alarm))
    return evidence


def crossed(evidence: list[Evidence]) -> str | None:
    """The distances above their limits, in words ("PSI 8.37 is above 0.2"); None when none is."""
    over = []
    for item in evidence:
        if item.limit is None or item.name.startswith(LABEL[SCORE_METRIC]):
            continue
        try:
            if float(item.value) > float(item.limit):
                over.append(f"{item.name.split(' of ')[0]} {item.value} is above {item.limit}")
        except ValueError:
            continue
    return "; ".join(over) or None


def _tell(
    key: str,
    state_value: str,
    at: float,
    alert: Alert,
    memory: Any,
    *,
    state: AlertState,
    notifier: Notifier,
) -> RelayOutcome:
    expires = int(at + MEMORY_DAYS * 86400)
    if not state.remember(memory, state_value, at, expires):
        return RelayOutcome("duplicate: another delivery reported it", alert.subject())
    try:
        message_id = notifier.publish(alert)
    except Exception:
        state.forget(memory)
        raise
    return RelayOutcome("reported", alert.subject(), message_id)


def relay_alarm(
    event: dict[str, Any],
    *,
    state: AlertState,
    notifier: Notifier,
    reader: MetricReader,
    region: str,
    dashboard: str | None,
) -> RelayOutcome:
    change = parse_alarm_event(event)
    if change is None:
        return RelayOutcome("ignored: not an mlrollout drift alarm")
    memory = state.recall(change.alarm)
    decision = should_report(change, memory.reported_state, memory.alarm_reported_at)
    if not decision.report:
        return RelayOutcome(f"quiet: {decision.why}")
    evidence = evidence_for(change, reader)
    links = console_links(region, change.info.endpoint, change.alarm, dashboard)
    alert = drift_alert(change, evidence, links, detail=crossed(evidence) if change.state == "ALARM" else None)
    return _tell(change.alarm, change.state, change.at.timestamp(), alert, memory, state=state, notifier=notifier)


def relay_violations(
    event: dict[str, Any],
    *,
    state: AlertState,
    notifier: Notifier,
    monitoring: Monitoring,
    stack_name: str,
    region: str,
    dashboard: str | None,
    cooldown_minutes: int,
) -> RelayOutcome:
    detail = event.get("detail") or {}
    exit_message = str(detail.get("ExitMessage") or "")
    if detail.get("ProcessingJobStatus") != "Completed" or not exit_message.startswith("CompletedWithViolations"):
        return RelayOutcome("ignored: not a monitoring run with violations")
    environment = detail.get("Environment") or {}
    endpoint = str(environment.get("sagemaker_endpoint_name") or "")
    schedule_arn = str(detail.get("MonitoringScheduleArn") or "") or _schedule_arn(detail, environment)
    schedule = schedule_arn.rsplit("/", 1)[-1] or str(detail.get("ProcessingJobName"))
    if not endpoint:
        return RelayOutcome("ignored: the job names no endpoint")
    # The rule matches every data-quality schedule in the account; only this stack's schedules carry its tag.
    owner = (monitoring.schedule_tags(schedule_arn) or {}).get(STACK_TAG) if schedule_arn else None
    if owner != stack_name:
        return RelayOutcome(f"ignored: schedule {schedule} is not one of stack {stack_name}'s")
    at = datetime.fromisoformat(str(event.get("time")).replace("Z", "+00:00"))
    key = f"violations#{schedule}"
    info = AlarmInfo(
        kind="drift", endpoint=endpoint, feature="", backend="model-monitor", cooldown_minutes=cooldown_minutes, text=""
    )
    change = AlarmChange(key, schedule_arn, "ALARM", "OK", exit_message, at, info, None)
    memory = state.recall(key)
    decision = should_report(change, memory.reported_state, memory.alarm_reported_at)
    if not decision.report:
        return RelayOutcome(f"quiet: {decision.why}")
    violations = _count(exit_message)
    alert = violations_alert(
        endpoint, schedule, violations, exit_message, at.isoformat(), console_links(region, endpoint, None, dashboard)
    )
    return _tell(key, "ALARM", at.timestamp(), alert, memory, state=state, notifier=notifier)


def _schedule_arn(detail: dict[str, Any], environment: dict[str, Any]) -> str:
    """The schedule's ARN from the name Model Monitor passes its container, beside the job's own ARN (for an event
    whose detail lacks MonitoringScheduleArn: no AWS page shows that field in this event)."""
    name, job_arn = environment.get("sagemaker_monitoring_schedule_name"), str(detail.get("ProcessingJobArn") or "")
    if not name or ":processing-job/" not in job_arn:
        return ""
    return f"{job_arn.partition(':processing-job/')[0]}:monitoring-schedule/{str(name).lower()}"


def _count(exit_message: str) -> int:
    """Model Monitor's exit message: "CompletedWithViolations: Job completed successfully with 3 violations."."""
    words = exit_message.replace(".", " ").split()
    for before, word in itertools.pairwise(words):
        if word.startswith("violation") and before.isdigit():
            return int(before)
    return 0
