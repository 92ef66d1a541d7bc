"""`mlrollout cost DEPLOYMENT`: what one rollout cost the control plane, and the instance-hours its canary added.

Everything is counted from what the rollout left behind, never estimated from its configuration:
- Step Functions: every state the execution (and a restore execution, if one ran) entered, plus every retried
  task attempt; both are billed state transitions (Standard workflows).
- Lambda: one request per `lambda:invoke` attempt in the history, plus each invocation of the Endpoint Changed
  function (SageMaker's state-change events, outside the execution) whose log lines name this rollout's endpoint
  within the execution's time; each attempt's billed duration is the
  function's own REPORT log line (Billed Duration, else Duration rounded up to the next millisecond), found by
  the request id the history carries or, when it carries none (the sandbox), as the function's REPORT line
  written while that task ran; memory and architecture come from the function's configuration. An attempt
  with no REPORT line is billed for its history span (TaskStarted to its end): an upper bound, and in the
  sandbox a span on the warped clock, so the output says how many attempts were billed that way.
- CloudWatch: the metrics each judge look requested with GetMetricData (its decision record's `queries`), those
  Plan Deployment requested to estimate the rollout's duration (when its estimate carries the traffic it read),
  and one DescribeAlarms request for each look that checked rollback alarms.
- S3: one PUT per decision record; SNS: one publish per distinct message the Notify steps sent.
- The canary: from the end of Deploy Candidate until the endpoint was verified on one config again (Finalize
  Promotion after the promotion's update, or Reject Version after the rollback), times the configured
  instance count (what Deploy Candidate puts in the endpoint config's candidate variant). Zero for a first
  deployment: there is no current variant to run beside. Reported in instance-hours of the configured type and
  priced at SageMaker's on-demand real-time inference rate (`INSTANCE_PRICES`); SageMaker hosting, so never in
  the control-plane total.

Prices are us-east-1 list prices without free tiers, in one table (`PRICES`) with where and when they were
read. The computation is pure (`breakdown`); `gather` reads its inputs from AWS through injected clients.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from mlrollout_cli.context import from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.output import Column, show_table

if TYPE_CHECKING:
    from mlrollout.contracts import DecisionRecord

PRICES_TAKEN = "2026-12-04"


@dataclass(frozen=True)
class Price:
    service: str
    item: str
    usd: float  # for `per` units
    per: int
    unit: str
    source: str
    confirmed: str

    @property
    def each(self) -> float:
        return self.usd / self.per


# us-east-1 list prices, read on PRICES_TAKEN; free tiers are ignored (an account past them pays these).
PRICES: dict[str, Price] = {
    "sfn_transition": Price(
        "Step Functions", "state transitions (Standard)", 0.025, 1_000, "transition",
        "https://aws.amazon.com/step-functions/pricing/",
        "confirmed: the pricing page's table, US East (N. Virginia) $0.0250 per 1,000; retries billed as transitions",
    ),
    "lambda_request": Price(
        "Lambda", "requests", 0.20, 1_000_000, "request",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed: 'How AWS Pricing Works' (docs.aws.amazon.com whitepaper), $0.20 per 1 million requests",
    ),
    "lambda_gb_second_x86_64": Price(
        "Lambda", "compute, x86 (first tier)", 0.0000166667, 1, "GB-second",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed: the whitepaper ($0.00001667) and a us-east-1 tier table ($0.0000166667 for the first 6 billion)",
    ),
    "lambda_gb_second_arm64": Price(
        "Lambda", "compute, Arm (first tier)", 0.0000133334, 1, "GB-second",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed from a us-east-1 tier table (first 7.5 billion GB-s); unused while the stack is x86_64",
    ),
    "cw_metrics_requested": Price(
        "CloudWatch", "GetMetricData metrics requested", 0.01, 1_000, "metric",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "confirmed by secondary sources quoting the pricing page; the page itself did not show the figure",
    ),
    "cw_requests": Price(
        "CloudWatch", "API requests (DescribeAlarms)", 0.01, 1_000, "request",
        "https://aws.amazon.com/cloudwatch/pricing/",
        "not confirmed: the long-standing figure for API requests other than GetMetricData",
    ),
    "s3_put": Price(
        "S3", "PUT requests (decision records)", 0.005, 1_000, "request",
        "https://aws.amazon.com/s3/pricing/",
        "confirmed by a secondary source: S3 Standard PUT, COPY, POST, LIST $0.005 per 1,000",
    ),
    "sns_publish": Price(
        "SNS", "publishes (standard topic)", 0.50, 1_000_000, "request",
        "https://aws.amazon.com/sns/pricing/",
        "confirmed by a secondary source: $0.50 per million publishes (each 64 KB chunk is one request)",
    ),
}  # fmt: skip

# SageMaker real-time inference, on-demand, us-east-1, per instance-hour (billed per second), read on
# PRICES_TAKEN. What the candidate's instances cost while it ran beside the current variant: not a control-plane
# charge, so never in the total, but the larger cost a faster decision saves. A type missing here is reported in
# instance-hours only.
SAGEMAKER_PRICING = "https://aws.amazon.com/sagemaker-ai/pricing/"
_QUOTED = (
    "secondary sources quoting the pricing page's Real-Time Inference table for US East (N. Virginia), not the page "
    "itself"
)
INSTANCE_PRICES: dict[str, Price] = {
    name: Price("SageMaker", f"real-time inference, {name}", usd, 1, "instance-hour", SAGEMAKER_PRICING, confirmed)
    for name, usd, confirmed in (
        ("ml.t2.medium", 0.056, f"confirmed by {_QUOTED}; the figure `make smoke` falls back to"),
        ("ml.m5.large", 0.115, f"confirmed by several {_QUOTED}; one lists $0.112"),
        ("ml.m5.xlarge", 0.23, f"confirmed by several {_QUOTED}; one lists $0.224"),
        ("ml.c5.large", 0.102, f"confirmed by {_QUOTED}"),
        ("ml.c5.xlarge", 0.204, f"confirmed by {_QUOTED}"),
        ("ml.g4dn.xlarge", 0.736, f"confirmed by several {_QUOTED}; one lists $0.752"),
    )
}

NOT_COUNTED = (
    "DynamoDB request units for the deployment record, lease and idempotency writes (on-demand; a few dozen per "
    "rollout, well under $0.0001)",
    "Lambda invocations outside the execution other than Endpoint Changed's: the execution-ended settle check and "
    "the Slack notifier (one per message), and deliveries to email",
    "EventBridge: SageMaker's state-change events on the default bus are AWS service events (no charge)",
    "S3 GETs of the artifact and configuration, CloudWatch Logs ingestion, the embedded-format metrics and the "
    "drift alarms (monthly charges, not per rollout); EventBridge delivers S3 events at no charge",
)

# What the Endpoint Changed function's invocations are listed as among the attempts (they are in no state).
EVENT_STATE = "Endpoint Changed (event)"

# States the candidate variant stops running beside the current one at (the endpoint is on one config again).
CANARY_ENDS = ("Finalize Promotion", "Reject Version", "Rollback Failed", "Settle Stopped")
_ENDED = {"TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskStartFailed", "TaskSubmitFailed"}
_REPORT = re.compile(r"REPORT RequestId:\s*(?P<request>\S+)\s+Duration:\s*(?P<duration>[\d.]+)\s*ms")
_BILLED = re.compile(r"Billed Duration:\s*(?P<billed>\d+)\s*ms")
_INIT = re.compile(r"Init Duration:\s*(?P<init>[\d.]+)\s*ms")
REPORT_SLACK = timedelta(seconds=1)  # a REPORT line's timestamp and the task's history events come from two clocks


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    memory_mb: int
    architecture: str = "x86_64"
    log_group: str | None = None


@dataclass(frozen=True)
class Report:
    """A Lambda REPORT log line: what Lambda measured and billed for one invocation."""

    function: str
    request_id: str
    at: datetime
    duration_ms: float
    billed_ms: int


@dataclass(frozen=True)
class Inputs:
    """Everything the cost of one deployment is computed from, as read from AWS."""

    deployment_id: str
    histories: dict[str, list[dict[str, Any]]]  # execution ARN -> its events, oldest first
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    looks: list[DecisionRecord | None] = field(default_factory=list)  # each decision's record (None: unreadable)
    # Invocations outside the execution that worked for it: the Endpoint Changed function's, for this endpoint.
    event_reports: list[Report] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    """One Lambda invocation the state machine made."""

    state: str
    function: str
    billed_ms: int
    source: str  # "report" (Lambda's own REPORT line) or "history" (the task's span in the execution history)
    request_id: str | None = None
    memory_mb: int = 0  # the function's configured memory (filled in by `breakdown`)


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float  # USD per `per` units
    per: int
    cost: float


@dataclass(frozen=True)
class CanaryTime:
    first_deployment: bool
    instance_type: str | None
    instance_count: int
    started: str | None
    ended: str | None
    hours: float
    instance_hours: float
    note: str
    usd_per_instance_hour: float | None = None  # None: the type has no price in INSTANCE_PRICES
    usd: float | None = None  # instance-hours x that price; not part of the control-plane total


@dataclass(frozen=True)
class Breakdown:
    deployment_id: str
    executions: list[str]
    states_entered: int
    retries: int
    state_transitions: int
    lambda_requests: int
    lambda_gb_seconds: float
    lambda_billed_from: dict[str, int]
    looks: int
    looks_with_metrics: int  # a look before the step's first complete minute requests nothing
    metrics_requested: int  # by the judge's looks
    plan_metrics_requested: int  # by Plan Deployment's read of the current variant's recent traffic
    items: list[LineItem]
    total_usd: float
    dominant: str
    canary: CanaryTime
    attempts: list[Attempt]
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "prices_taken": PRICES_TAKEN,
            "prices": {key: asdict(price) for key, price in PRICES.items()},
            "instance_prices": {key: asdict(price) for key, price in INSTANCE_PRICES.items()},
            "not_counted": list(NOT_COUNTED),
        }


# the computation ---------------------------------------------------------------------------------------------
def breakdown(inputs: Inputs) -> Breakdown:
    events = [e for arn in inputs.histories for e in inputs.histories[arn]]
    entered, retries = count_transitions(events)
    attempts: list[Attempt] = []
    used: set[str] = set()
    gb_seconds: dict[str, float] = {}
    for history in inputs.histories.values():
        for attempt in lambda_attempts(history, inputs.reports, used):
            info = inputs.functions.get(attempt.function)
            memory = info.memory_mb if info else 128
            architecture = info.architecture if info and info.architecture == "arm64" else "x86_64"
            gb_seconds[architecture] = gb_seconds.get(architecture, 0.0) + attempt.billed_ms / 1000 * memory / 1024
            attempts.append(replace(attempt, memory_mb=memory))
    for report in inputs.event_reports:
        info = inputs.functions.get(report.function)
        memory = info.memory_mb if info else 128
        architecture = info.architecture if info and info.architecture == "arm64" else "x86_64"
        gb_seconds[architecture] = gb_seconds.get(architecture, 0.0) + report.billed_ms / 1000 * memory / 1024
        attempts.append(Attempt(EVENT_STATE, report.function, report.billed_ms, "report", report.request_id, memory))
    records = [r for r in inputs.looks if r is not None]
    metrics = sum(len(r.queries) for r in records)
    plan_metrics = plan_metrics_requested(events)
    alarm_checks = sum(1 for r in records if r.rollback_alarms is not None or r.rollback_alarms_error is not None)
    publishes = len(sns_messages(events))

    def item(key: str, quantity: float) -> LineItem:
        price = PRICES[key]
        return LineItem(price.service, price.item, quantity, price.unit, price.usd, price.per, quantity * price.each)

    items = [
        item("sfn_transition", entered + retries),
        item("lambda_request", len(attempts)),
        *(item(f"lambda_gb_second_{arch}", round(gbs, 6)) for arch, gbs in sorted(gb_seconds.items())),
        item("cw_metrics_requested", metrics + plan_metrics),
        item("cw_requests", alarm_checks),
        item("s3_put", len(records)),
        item("sns_publish", publishes),
    ]
    total = sum(i.cost for i in items)
    top = max(items, key=lambda i: i.cost)
    billed_from = {"report": 0, "history": 0}
    for attempt in attempts:
        billed_from[attempt.source] += 1
    notes = []
    if billed_from["history"]:
        notes.append(
            f"{billed_from['history']} of {len(attempts)} Lambda attempts had no REPORT line and are billed for their "
            "span in the execution history (an upper bound; on the sandbox's warped clock a large one)"
        )
    unreadable = len(inputs.looks) - len(records)
    if unreadable:
        notes.append(f"decision records that could not be read: {unreadable} (their metrics are not counted)")
    missing = sorted({a.function for a in attempts if a.function not in inputs.functions})
    if missing:
        notes.append(f"no configuration for {', '.join(missing)}: billed at 128 MB")
    return Breakdown(
        deployment_id=inputs.deployment_id,
        executions=list(inputs.histories),
        states_entered=entered,
        retries=retries,
        state_transitions=entered + retries,
        lambda_requests=len(attempts),
        lambda_gb_seconds=round(sum(gb_seconds.values()), 6),
        lambda_billed_from=billed_from,
        looks=len(inputs.looks),
        looks_with_metrics=sum(1 for r in records if r.queries),
        metrics_requested=metrics,
        plan_metrics_requested=plan_metrics,
        items=items,
        total_usd=total,
        dominant=f"{top.service} {top.item}" if total else "nothing",
        canary=canary_time(inputs.histories),
        attempts=attempts,
        notes=notes,
    )


def count_transitions(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(states entered, retried task attempts): each is a billed state transition."""
    entered = retries = 0
    scheduled = 0
    for event in events:
        if event["type"].endswith("StateEntered"):
            entered += 1
            scheduled = 0
        elif event["type"] == "TaskScheduled":
            scheduled += 1
            if scheduled > 1:
                retries += 1
    return entered, retries


def lambda_attempts(events: list[dict[str, Any]], reports: list[Report], used: set[str] | None = None) -> list[Attempt]:
    """Each lambda:invoke attempt of one execution, with the duration Lambda billed for it."""
    used = set() if used is None else used
    by_function: dict[str, list[Report]] = {}
    for report in reports:
        by_function.setdefault(report.function, []).append(report)
    attempts: list[Attempt] = []
    state = ""
    task: dict[str, Any] | None = None
    for event in events:
        kind, at = event["type"], event["timestamp"]
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        elif kind == "TaskScheduled":
            details = event["taskScheduledEventDetails"]
            task = None
            if details.get("resourceType") == "lambda":
                parameters = _json(details.get("parameters"))
                task = {"function": function_name(str(parameters.get("FunctionName", ""))), "started": at}
        elif kind == "TaskStarted" and task is not None:
            task["started"] = at
        elif kind == "TaskSubmitted" and task is not None:
            # A callback task (waitForTaskToken): the invocation ended here; the task then waits for its token.
            task["submitted"], task["request_id"] = at, _request_id(event, "taskSubmittedEventDetails")
        elif kind in _ENDED and task is not None:
            request_id = task.get("request_id") or (_request_id(event) if kind == "TaskSucceeded" else None)
            at = task.get("submitted", at)
            found = _match(by_function.get(task["function"], []), request_id, task["started"], at, used)
            if found is not None:
                used.add(found.request_id)
                attempts.append(Attempt(state, task["function"], found.billed_ms, "report", found.request_id))
            else:
                span = math.ceil((at - task["started"]).total_seconds() * 1000)
                attempts.append(Attempt(state, task["function"], max(1, span), "history", request_id))
            task = None
    return attempts


def canary_time(histories: dict[str, list[dict[str, Any]]]) -> CanaryTime:
    """How long the candidate variant ran beside the current one, and on how many instances."""
    events = sorted((e for h in histories.values() for e in h), key=lambda e: e["timestamp"])
    config: dict[str, Any] = {}
    first: bool | None = None
    started: datetime | None = None
    ended: datetime | None = None
    state = ""
    for event in events:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
            if started is not None and ended is None and state in CANARY_ENDS:
                ended = event["timestamp"]
        elif event["type"] == "TaskSucceeded":
            payload = _payload(event)
            if not config and isinstance(payload.get("config"), dict):
                config = payload["config"]
            if "first_deployment" in payload:
                first = bool(payload["first_deployment"])
            if state == "Deploy Candidate":
                started, ended = event["timestamp"], None
    instance_type = config.get("instance_type")
    count = int(config.get("instance_count") or 1)
    price = INSTANCE_PRICES.get(str(instance_type))
    each = price.each if price else None
    if first or started is None:
        why = "a first deployment: no current variant ran beside it" if first else "no candidate was deployed"
        return CanaryTime(bool(first), instance_type, count, None, None, 0.0, 0.0, why, each, 0.0 if price else None)
    note = "until the endpoint was verified on one config again"
    if ended is None:
        ended = events[-1]["timestamp"]
        note = "the endpoint was never seen back on one config: counted until the execution's last event"
    hours = (ended - started).total_seconds() / 3600
    instance_hours = round(hours * count, 4)
    return CanaryTime(
        False, instance_type, count, started.isoformat(), ended.isoformat(), round(hours, 4), instance_hours,
        note, each, instance_hours * each if each is not None else None,
    )  # fmt: skip


# What Plan Deployment's read of the current variant's recent traffic requests (adapters/traffic.py): Invocations
# and 5XX, and 4XX when the judge counts them.
PLAN_TRAFFIC_METRICS = 2


def plan_metrics_requested(events: list[dict[str, Any]]) -> int:
    """Metrics Plan Deployment requested: an estimate that carries the traffic it read made one GetMetricData call
    (a first deployment, or a read that failed, made none that was billed)."""
    requested = 0
    include_4xx = False
    state = ""
    for event in events:
        if "stateEnteredEventDetails" in event:
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "TaskSucceeded":
            payload = _payload(event)
            config = payload.get("config")
            if isinstance(config, dict):
                include_4xx = bool((config.get("judge") or {}).get("include_4xx"))
            estimate = payload.get("estimate")
            if state == "Plan Deployment" and isinstance(estimate, dict) and estimate.get("traffic_minutes"):
                requested += PLAN_TRAFFIC_METRICS + (1 if include_4xx else 0)
    return requested


def sns_messages(events: list[dict[str, Any]]) -> set[str]:
    """Distinct SNS messages the execution's Lambda tasks published (a replayed Notify returns the same id)."""
    found = set()
    for event in events:
        if event["type"] == "TaskSucceeded" and event["taskSucceededEventDetails"].get("resourceType") == "lambda":
            message = _payload(event).get("message_id")
            if message:
                found.add(str(message))
    return found


def parse_report(function: str, message: str, timestamp_ms: int) -> Report | None:
    """A REPORT line of Lambda's text log format; None for any other line."""
    found = _REPORT.search(message)
    if found is None:
        return None
    duration = float(found["duration"])
    billed = _BILLED.search(message)
    init = _INIT.search(message)
    if billed is not None:
        billed_ms = int(billed["billed"])
    else:
        billed_ms = math.ceil(duration + (float(init["init"]) if init else 0.0))
    return Report(
        function, found["request"], datetime.fromtimestamp(timestamp_ms / 1000, UTC), duration, max(1, billed_ms)
    )


def function_name(arn_or_name: str) -> str:
    """A function's name from its ARN (or a name, partial ARN or name:qualifier)."""
    if ":function:" in arn_or_name:
        arn_or_name = arn_or_name.split(":function:", 1)[1]
    return arn_or_name.split(":", 1)[0]


def _match(
    reports: list[Report], request_id: str | None, started: datetime, ended: datetime, used: set[str]
) -> Report | None:
    if request_id:
        for report in reports:
            if report.request_id == request_id:
                return report
    during = [r for r in reports if r.request_id not in used and started - REPORT_SLACK <= r.at <= ended + REPORT_SLACK]
    # Several invocations of one function in the window (other executions at once): bill the longest.
    return max(during, key=lambda r: r.billed_ms) if during else None


def _request_id(event: dict[str, Any], details: str = "taskSucceededEventDetails") -> str | None:
    output = _json(event[details].get("output"))
    metadata = output.get("SdkResponseMetadata") or {}
    if metadata.get("RequestId"):
        return str(metadata["RequestId"])
    headers = (output.get("SdkHttpMetadata") or {}).get("HttpHeaders") or {}
    found = headers.get("x-amzn-RequestId") or headers.get("X-Amzn-RequestId")
    return str(found) if found else None


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    output = _json(event["taskSucceededEventDetails"].get("output"))
    payload = output.get("Payload", output)
    return payload if isinstance(payload, dict) else {}


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# reading it from AWS -----------------------------------------------------------------------------------------
class CostUnavailable(Exception):
    """The deployment cannot be costed; the message says why."""


def gather(client: Callable[[str], Any], record: dict[str, Any], endpoint_changed: str | None = None) -> Inputs:
    """Read a deployment's executions, functions, REPORT lines and decision records through `client(service)`;
    `endpoint_changed` names the stack's Endpoint Changed function (its invocations for this endpoint count too)."""
    from botocore.exceptions import ClientError

    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.contracts import DecisionRecord

    deployment_id = str(record.get("deployment_id"))
    arns = [str(a) for a in (record.get("execution_id"), record.get("restore_execution")) if a]
    if not arns:
        raise CostUnavailable(f"deployment {deployment_id} has no execution recorded: nothing ran to be costed")
    sfn = client("stepfunctions")
    histories: dict[str, list[dict[str, Any]]] = {}
    for arn in arns:
        events: list[dict[str, Any]] = []
        try:
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
                events.extend(page["events"])
        except ClientError as exc:
            raise CostUnavailable(f"cannot read the history of {arn}: {exc}") from exc
        histories[arn] = events

    every = [e for h in histories.values() for e in h]
    if not every:
        raise CostUnavailable(f"the executions of deployment {deployment_id} have no history events")
    names = sorted({a.function for h in histories.values() for a in lambda_attempts(h, [])})
    lam, logs = client("lambda"), client("logs")
    functions: dict[str, FunctionInfo] = {}
    for name in names:
        try:
            found = lam.get_function_configuration(FunctionName=name)
        except ClientError:
            continue  # billed at the smallest memory, and said so
        functions[name] = FunctionInfo(
            name,
            int(found.get("MemorySize") or 128),
            (found.get("Architectures") or ["x86_64"])[0],
            (found.get("LoggingConfig") or {}).get("LogGroup"),
        )
    start = min(e["timestamp"] for e in every) - timedelta(minutes=1)
    end = max(e["timestamp"] for e in every) + timedelta(minutes=1)
    reports: list[Report] = []
    for name in names:
        info = functions.get(name)
        group = (info.log_group if info else None) or f"/aws/lambda/{name}"
        try:
            for page in logs.get_paginator("filter_log_events").paginate(
                logGroupName=group,
                startTime=int(start.timestamp() * 1000),
                endTime=int(end.timestamp() * 1000),
                filterPattern='"REPORT RequestId"',
            ):
                for line in page.get("events", []):
                    report = parse_report(name, line["message"], line["timestamp"])
                    if report is not None:
                        reports.append(report)
        except ClientError:
            continue  # no log group or no access: these attempts are billed from the history, and said so

    event_reports = _endpoint_changed_reports(logs, endpoint_changed, str(record.get("endpoint") or ""), start, end)
    for function in {r.function for r in event_reports} - set(functions):
        with contextlib.suppress(ClientError):
            found = lam.get_function_configuration(FunctionName=function)
            functions[function] = FunctionInfo(
                function, int(found.get("MemorySize") or 128), (found.get("Architectures") or ["x86_64"])[0]
            )

    artifacts = S3Artifacts(client("s3"))
    looks: list[DecisionRecord | None] = []
    for uri in _look_records(artifacts, record):
        try:  # an unreadable record (pydantic's ValidationError is a ValueError) is counted as such, in the notes
            looks.append(DecisionRecord.model_validate(artifacts.read_json(uri)) if uri else None)
        except (ClientError, ValueError):
            looks.append(None)
    return Inputs(deployment_id, histories, functions, reports, looks, event_reports)


def _endpoint_changed_reports(
    logs: Any, function: str | None, endpoint: str, start: datetime, end: datetime
) -> list[Report]:
    """The Endpoint Changed function's invocations for `endpoint` between start and end: their log lines name the
    endpoint (Powertools' JSON lines carry the invocation's request id), their REPORT lines what Lambda billed."""
    from botocore.exceptions import ClientError

    if not endpoint or not function:
        return []
    window = {"logGroupName": f"/aws/lambda/{function}", "startTime": int(start.timestamp() * 1000)}
    window["endTime"] = int(end.timestamp() * 1000)
    requests: set[str] = set()
    reports: list[Report] = []
    try:
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(**window, filterPattern=f'"{endpoint}"'):
            for line in page.get("events", []):
                entry = _json(line["message"])
                if entry.get("endpoint") == endpoint and entry.get("function_request_id"):
                    requests.add(str(entry["function_request_id"]))
        for page in paginator.paginate(**window, filterPattern='"REPORT RequestId"'):
            for line in page.get("events", []):
                report = parse_report(function, line["message"], line["timestamp"])
                if report is not None and report.request_id in requests:
                    reports.append(report)
    except ClientError:
        return []
    return reports


def _look_records(artifacts: Any, record: dict[str, Any]) -> list[str | None]:
    """Every look's decision record: the record keeps only its last decisions, so when it counts more
    (decisions_total), they are listed from S3 (decisions/<deployment>/, where each look wrote its own)."""
    decisions = record.get("decisions") or []
    uris: list[str | None] = [decision.get("record") for decision in decisions]
    known = next((uri for uri in uris if uri), None)
    if int(record.get("decisions_total") or len(decisions)) <= len(decisions) or known is None:
        return uris
    from mlrollout.adapters.artifacts import split_uri
    from mlrollout.domain.naming import DECISIONS_PREFIX

    bucket, _ = split_uri(known)
    prefix = f"{DECISIONS_PREFIX}{record['deployment_id']}/"
    return [f"s3://{bucket}/{k}" for k in sorted(artifacts.keys(bucket, prefix)) if k.endswith(".json")]


# the command -------------------------------------------------------------------------------------------------
def cost(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id (in every alert and in the registry).")],
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What a rollout cost the control plane (Step Functions, Lambda, CloudWatch, S3, SNS) and its canary's
    extra instance-hours, from its execution history at us-east-1 list prices."""
    from mlrollout.adapters.ledger import DynamoDeployments

    aws = from_context(ctx)
    console = Console()
    record = DynamoDeployments(aws.client("dynamodb"), aws.deployments_table(table)).get(deployment)
    if record is None:
        raise CliError(
            f"no deployment {deployment} is recorded", "see `mlrollout history MODEL` for the ids", ExitCode.USAGE
        )
    endpoint_changed = aws.optional("EndpointChangedFunctionName")
    try:
        result = breakdown(gather(aws.client, record, endpoint_changed))
    except CostUnavailable as exc:
        raise CliError(str(exc), None, ExitCode.NOT_SUCCEEDED) from None
    if endpoint_changed is None:
        result.notes.append(
            "the Endpoint Changed function's invocations are not counted: the stack's EndpointChangedFunctionName "
            "output was not found (set MLROLLOUT_ENDPOINT_CHANGED_FUNCTION)"
        )
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    print_breakdown(console, result)


COST_COLUMNS = (
    Column("service"),
    Column("item", keep=True),
    Column("quantity", right=True),
    Column("unit price", right=True),
    Column("cost (USD)", keep=True, right=True),
)


def print_breakdown(console: Console, result: Breakdown) -> None:
    rows = [
        [
            line.service,
            line.item,
            f"{line.quantity:,.6g}",
            unit_price(line.unit_price, line.per, line.unit),
            usd(line.cost),
        ]
        for line in result.items
    ]
    rows.append(["", "total", "", "", usd(result.total_usd)])
    show_table(
        f"control-plane cost of {result.deployment_id} (us-east-1 list prices of {PRICES_TAKEN})",
        COST_COLUMNS,
        rows,
        console=console,
    )
    console.print(
        f"{result.state_transitions} state transitions ({result.states_entered} states entered, {result.retries} "
        f"retries); {result.looks} judge looks requesting {result.metrics_requested} metrics"
        + (f" and Plan's traffic read {result.plan_metrics_requested}" if result.plan_metrics_requested else "")
        + "; Lambda durations "
        f"from {result.lambda_billed_from['report']} REPORT lines and {result.lambda_billed_from['history']} history "
        f"spans. Largest: {result.dominant}.",
        soft_wrap=True,
    )
    canary = result.canary
    if canary.instance_hours:
        priced = (
            f" x ${canary.usd_per_instance_hour:g} = ${canary.usd:.4f} at the on-demand price"
            if canary.usd is not None
            else f" (no price for {canary.instance_type} in the table)"
        )
        console.print(
            f"canary: {canary.instance_count} x {canary.instance_type} beside the current variant for "
            f"{canary.hours:.2f} h = {canary.instance_hours:.2f} instance-hours{priced} ({canary.note}; SageMaker "
            "hosting, not part of the control-plane total)",
            soft_wrap=True,
        )
    else:
        console.print(f"canary: no extra instance-hours ({canary.note})", soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)
    console.print(f"not counted: {'; '.join(NOT_COUNTED)}", soft_wrap=True)


def unit_price(price: float, per: int, unit: str) -> str:
    """ "$0.025 / 1,000 transitions", "$0.0000166667 / GB-second"."""
    if per == 1:
        return f"${price:.10f}".rstrip("0") + f" / {unit}"
    return f"${price:g} / {per:,} {unit}s"


def usd(amount: float) -> str:
    """Six decimals, or three significant digits below a millionth of a dollar."""
    return f"{amount:.2e}" if 0 < amount < 1e-6 else f"{amount:.6f}"
