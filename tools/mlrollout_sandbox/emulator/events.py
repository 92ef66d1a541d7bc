"""EventBridge: the targets, events and schedules moto 5.2.5 leaves out, delivered as AWS delivers them.

What changes on moto:
- Rule.send_to_targets hands Step Functions (StartExecution with a fresh execution name per delivery, kept
  across that delivery's retries), Lambda (asynchronous invocation, then Lambda's own two retries and
  dead-letter queue), SNS and SQS targets to the shared delivery worker: never inside the caller's request,
  with the target's Input / InputPath / InputTransformer, retried per its RetryPolicy on sandbox time
  (exponential backoff with jitter; a missing target or invalid input goes straight to the dead-letter queue,
  as AWS documents) and finally sent to its DeadLetterConfig queue with RULE_ARN, TARGET_ARN, ERROR_CODE,
  ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS. CloudWatch Logs, archive, event-bus and
  API-destination targets stay with moto. Armed faults `events:Deliver` (match rule=, target=) fail a
  delivery with their mode as the error code, except mode "duplicate": a Step Functions target then gets the
  event twice (a second execution, as EventBridge's at-least-once delivery allows).
- Only ENABLED rules that have an event pattern match events (moto also fed DISABLED rules and, through their
  empty pattern, matched every event to schedule-only rules). Targets receive the event as AWS sends it: an
  ISO-8601 "time" on sandbox time and no moto-internal "ingestion-time".
- S3 "Object Created"/"Object Deleted" events are built as S3 sends them (unique id, sandbox time,
  detail.object.etag, size, version-id on versioned buckets, an increasing sequencer, reason PutObject /
  POST Object / CopyObject / CompleteMultipartUpload / DeleteObject, request-id, requester) and go to the
  default bus only, for buckets whose notification configuration enables EventBridge (moto's own check).
- Step Functions puts "Step Functions Execution Status Change" events (source aws.states) on the default bus
  when a STANDARD execution starts (RUNNING) and when it ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED).
- Rules with a ScheduleExpression (rate() or the six-field cron(), validated on PutRule) fire "Scheduled Event"
  events (source aws.events) at their targets on sandbox time; rate() rules first fire one period after
  PutRule.
- PutTargets refuses a Step Functions target without RoleArn, as EventBridge does.
moto's wildcard, prefix and suffix matching already follows AWS ("*" spans "/" too), so the matcher is kept.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import secrets
import string
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlrollout_sandbox.emulator import _delivery
from mlrollout_sandbox.emulator._delivery import (
    TARGET_ACTIONS,
    AsyncDelivery,
    Delivery,
    DeliveryFailure,
    TargetDispatcher,
    TargetJob,
    fault_failure,
    iso_seconds,
    json_path,
    render_input,
    target_kind,
)
from mlrollout_sandbox.emulator.scheduler import (
    CATCH_UP_LIMIT,
    AtExpression,
    CronExpression,
    InvalidScheduleExpression,
    RateExpression,
    parse_schedule_expression,
)

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher
    from mlrollout_sandbox.emulator.iam import Iam

log = logging.getLogger(__name__)

# Fault mode for events:Deliver: deliver the event twice (EventBridge delivers at least once).
DUPLICATE = "duplicate"

# S3's "reason" for each notification event it reports to EventBridge.
_S3_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}


def faithful_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge hands it to targets: ISO time, no moto-internal fields."""
    result = copy.deepcopy(dict(event))
    if isinstance(result.get("time"), int | float):
        result["time"] = iso_seconds(float(result["time"]))
    result.pop("ingestion-time", None)
    return result


def _compact(value: Any) -> str:
    # EventBridge serialises events without whitespace.
    return json.dumps(value, separators=(",", ":"))


@dataclass(kw_only=True)
class _Job(TargetJob):
    event: dict[str, Any]
    duplicate: bool = False  # this attempt's "duplicate" fault


@dataclass
class _RuleSchedule:
    expression_text: str
    expression: RateExpression | CronExpression
    anchor: datetime
    next_fire: datetime | None


class EventsService(TargetDispatcher[_Job]):
    """EventBridge's deliveries, the events the emulated services emit, and scheduled rules.

    `deliveries`: one Delivery per (event, target), context holding rule, event_id, source and detail_type.
    `emitted`: every event the sandbox's own services put on a bus (S3, Step Functions, scheduled rules).
    """

    source_kind = "rule"
    principal = "events.amazonaws.com"

    def __init__(self, emulator: Emulator, delivery: AsyncDelivery) -> None:
        super().__init__(emulator, delivery)
        self.deliveries: list[Delivery] = []
        self.emitted: list[dict[str, Any]] = []
        self.duplicates: list[str] = []  # execution ARNs started by a "duplicate" delivery fault
        self._moto_send_to_targets: Any = None
        self._anchors: dict[str, tuple[str, datetime]] = {}
        self._schedules: dict[str, _RuleSchedule] = {}
        self._lock = threading.RLock()
        self._sequencer = 0

    # events in ----------------------------------------------------------------------------------------------
    def emit(self, event: dict[str, Any], *, account: str | None = None, region: str | None = None) -> None:
        """Put an AWS service's event on the default bus of `account`/`region` (rules match, targets queue)."""
        from moto.events.models import events_backends

        backend = events_backends[account or self.emulator.account_id][region or self.emulator.region]
        self.emitted.append(faithful_event(event))
        for rule in list(backend.event_buses["default"].rules.values()):
            rule.send_to_targets(copy.deepcopy(event))  # type: ignore[arg-type]

    def send_to_targets(
        self, rule: Any, original_event: dict[str, Any], transform_input: bool = True, *, scheduled: bool = False
    ) -> None:
        """Rule.send_to_targets: match, then hand each target to the worker or, for the rest, to moto."""
        accepts_events = str(rule.state or "ENABLED").startswith("ENABLED") and rule.event_pattern.get_pattern()
        if not scheduled and not accepts_events:
            return
        event = faithful_event(original_event)
        if not scheduled and not rule.event_pattern.matches_event(event):
            return
        moto_targets = []
        for target in list(rule.targets):
            if (
                target_kind(str(target.get("Arn", ""))) in TARGET_ACTIONS
            ):  # the targets the sandbox calls; the rest stay with moto
                self._queue(rule, target, event)
            else:
                moto_targets.append(target)
        if moto_targets and self._moto_send_to_targets is not None:
            from moto.events.models import EventPattern

            clone = copy.copy(rule)
            clone.targets = moto_targets
            clone.event_pattern = EventPattern(None, {})
            self._moto_send_to_targets(clone, original_event, transform_input)

    # delivery -----------------------------------------------------------------------------------------------
    def _queue(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        delivery = Delivery(
            service="events",
            source=rule.arn,
            target=arn,
            protocol=target_kind(arn),
            payload="",
            created_at=self.clock.now(),
            target_id=target.get("Id"),
            role_arn=target.get("RoleArn"),
            context={
                "rule": rule.name,
                "event_bus": rule.event_bus_name,
                "event_id": event.get("id"),
                "source": event.get("source"),
                "detail_type": event.get("detail-type"),
            },
        )
        self.deliveries.append(delivery)
        job = _Job(
            source_arn=rule.arn,
            source_name=rule.name,
            target=copy.deepcopy(target),
            delivery=delivery,
            label=f"events {rule.name} -> {target.get('Id')}",
            age_from=self.clock.time(),
            event=event,
        )
        self.submit(job)

    def target_input(self, rule_arn: str, rule_name: str, target: dict[str, Any], event: dict[str, Any]) -> str:
        """What EventBridge sends a target: Input, InputPath, InputTransformer, or the whole event."""
        if target.get("Input") is not None:
            return str(target["Input"])
        if target.get("InputPath"):
            return _compact(json_path(str(target["InputPath"]), event))
        transformer = target.get("InputTransformer")
        if transformer:
            values: dict[str, Any] = {
                name: json_path(str(path), event) for name, path in (transformer.get("InputPathsMap") or {}).items()
            }
            values.update(
                {
                    "aws.events.rule-arn": rule_arn,
                    "aws.events.rule-name": rule_name,
                    "aws.events.event.ingestion-time": event.get("time"),
                    "aws.events.event": event,
                    "aws.events.event.json": event,
                }
            )
            return render_input(str(transformer.get("InputTemplate", "")), values)
        return _compact(event)

    # what EventBridge does its own way (TargetDispatcher does the rest) -----------------------------------
    def prepare(self, job: _Job) -> str:
        fault = self.emulator.faults.take("events:Deliver", rule=job.source_name, target=str(job.target.get("Id")))
        job.duplicate = fault is not None and fault.mode == DUPLICATE
        if fault is not None and not job.duplicate:
            raise fault_failure(fault)
        job.delivery.payload = self.target_input(job.source_arn, job.source_name, job.target, job.event)
        return job.delivery.payload

    def new_execution_name(self, job: _Job) -> str:
        name = str(uuid.uuid4())
        job.delivery.context["execution_name"] = name
        return name

    def call(self, job: _Job, payload: str) -> bool:
        delivered = super().call(job, payload)
        if job.duplicate and job.delivery.protocol == "states":
            # At-least-once delivery: the same event reaches the target a second time.
            self.duplicates.append(self.delivery.start_execution(job.delivery.target, str(uuid.uuid4()), payload))
        return delivered

    def authorize_target(self, iam: Iam, job: _Job, action: str) -> None:
        """IAM decides delivery as on AWS: a Step Functions target with the target's role (assumed by
        events.amazonaws.com, so its trust policy and its identity policies both count); Lambda, SNS and SQS
        targets with their resource policies, and an encrypted topic or queue's key policy, granting
        events.amazonaws.com (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html)."""
        if job.delivery.protocol == "states":
            super().authorize_target(iam, job, action)
        else:
            iam.authorize_service(self.principal, iam.delivery_checks(action, job.delivery.target, job.source_arn))

    def authorize_dead_letter(self, iam: Iam, job: _Job, queue_arn: str) -> None:
        """EventBridge sends to a dead-letter queue as events.amazonaws.com: the queue policy (and the key
        policy of an encrypted queue) must allow it, or the event is lost
        (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-event-delivery.html#eb-rule-dlq)."""
        iam.authorize_service(self.principal, iam.delivery_checks("sqs:SendMessage", queue_arn, job.source_arn))

    def dead_letter_message(
        self, job: _Job, failure: DeliveryFailure, exhausted: str | None
    ) -> tuple[str, dict[str, str | int]]:
        """The event itself, with EventBridge's attributes (EXHAUSTED_RETRY_CONDITION once retries ran out)."""
        attributes: dict[str, str | int] = {
            "RULE_ARN": job.source_arn,
            "TARGET_ARN": job.delivery.target,
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": failure.message,
            "RETRY_ATTEMPTS": job.calls - 1,
        }
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        return _compact(job.event), attributes

    # S3 ------------------------------------------------------------------------------------------------------
    def s3_event(self, account_id: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
        from moto.s3.notifications import _detail_type

        detail_type = _detail_type(event_name)
        obj: dict[str, Any] = {"key": key.name}
        if detail_type == "Object Created":
            obj["size"] = key.size
            obj["etag"] = str(key.etag).replace('"', "")
        version_id = getattr(key, "version_id", None)
        if bucket.is_versioned and version_id and str(version_id) != "null":
            obj["version-id"] = str(version_id)
        obj["sequencer"] = self._next_sequencer()
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
        }
        if event_name in _S3_REASONS:
            detail["reason"] = _S3_REASONS[event_name]
        if event_name == "s3:ObjectRemoved:Delete":
            detail["deletion-type"] = "Permanently Deleted"
        elif event_name == "s3:ObjectRemoved:DeleteMarkerCreated":
            detail["deletion-type"] = "Delete Marker Created"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": account_id,
            "time": self.clock.time(),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": detail,
        }

    def _next_sequencer(self) -> str:
        # S3's sequencer orders the events of one key; sandbox nanoseconds, never repeating, do that.
        with self._lock:
            self._sequencer = max(self._sequencer + 1, int(self.clock.time() * 1e9))
            return f"{self._sequencer:016x}"

    # Step Functions ------------------------------------------------------------------------------------------
    def status_event(
        self, execution: Any, status: str, *, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        """A "Step Functions Execution Status Change" event as AWS documents it."""
        start = execution.start_date
        stop = execution.stop_date if status != "RUNNING" else None
        succeeded = status == "SUCCEEDED"
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": int(start.timestamp() * 1000),
            "stopDate": int(stop.timestamp() * 1000) if stop is not None else None,
            "input": execution.execution_input,
            "output": _compact(execution.output) if succeeded else None,
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if succeeded else None,
            "error": (error or execution.error) if status != "RUNNING" else None,
            "cause": (cause or execution.cause) if status != "RUNNING" else None,
            "redriveCount": 0,
            "redriveDate": None,
            "redriveStatus": "REDRIVABLE" if status in ("FAILED", "TIMED_OUT", "ABORTED") else "NOT_REDRIVABLE",
            "redriveStatusReason": (
                f"Execution is {status} and can be redriven"
                if status in ("FAILED", "TIMED_OUT", "ABORTED")
                else f"Execution is {status} and cannot be redriven"
            ),
        }
        moment = stop if stop is not None else start
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": execution.account_id,
            "time": moment.timestamp(),
            "region": execution.region_name,
            "resources": [execution.exec_arn],
            "detail": detail,
        }

    def execution_status_changed(
        self, execution: Any, status: str, *, error: str | None = None, cause: str | None = None
    ) -> None:
        if str(getattr(execution.sm_type, "value", execution.sm_type)) != "STANDARD":
            return  # AWS sends status-change events for Standard workflows only
        event = self.status_event(execution, status, error=error, cause=cause)
        # Emitted from the worker: the execution's thread never waits on rule matching, and RUNNING, queued
        # first, always reaches targets before the end status.
        self.delivery.worker.submit(
            f"states status {status}",
            lambda: self.emit(event, account=execution.account_id, region=execution.region_name),
        )

    # scheduled rules -----------------------------------------------------------------------------------------
    def rule_put(self, rule: Any) -> None:
        """Remember when a rule's schedule started: rate() counts its periods from PutRule."""
        if not rule.scheduled_expression:
            self._anchors.pop(rule.arn, None)
            return
        with self._lock:
            known = self._anchors.get(rule.arn)
            if known is None or known[0] != rule.scheduled_expression:
                self._anchors[rule.arn] = (rule.scheduled_expression, self.clock.now())

    def run_due(self) -> int:
        """Fire every scheduled rule whose time has come (the Ticker calls this; tests may too)."""
        from moto.events.models import events_backends

        now = self.clock.now()
        fired = 0
        with self._lock:
            seen: set[str] = set()
            for _, regions in list(events_backends.items()):
                for _, backend in list(regions.items()):
                    bus = backend.event_buses.get("default")
                    if bus is None:
                        continue
                    for rule in list(bus.rules.values()):
                        if rule.scheduled_expression:
                            seen.add(rule.arn)
                            fired += self._evaluate_rule(rule, now)
            for arn in set(self._schedules) - seen:
                del self._schedules[arn]
        return fired

    def tick(self) -> None:
        self.run_due()

    def next_firing(self, rule_arn: str) -> datetime | None:
        with self._lock:
            schedule = self._schedules.get(rule_arn)
            return schedule.next_fire if schedule else None

    def _evaluate_rule(self, rule: Any, now: datetime) -> int:
        schedule = self._schedules.get(rule.arn)
        if schedule is None or schedule.expression_text != rule.scheduled_expression:
            anchor = self._anchors.get(rule.arn, (rule.scheduled_expression, now))[1]
            try:
                expression = parse_schedule_expression(rule.scheduled_expression, allow_at=False, strict_units=True)
            except InvalidScheduleExpression as exc:
                log.error("rule %s cannot be scheduled: %s", rule.arn, exc)
                return 0
            if isinstance(expression, AtExpression):  # parse_schedule_expression refused at() already
                return 0
            schedule = _RuleSchedule(
                rule.scheduled_expression, expression, anchor, expression.next_after(anchor, anchor)
            )
            self._schedules[rule.arn] = schedule
        enabled = str(rule.state or "ENABLED").startswith("ENABLED")
        fired = steps = 0
        while schedule.next_fire is not None and schedule.next_fire <= now and steps < CATCH_UP_LIMIT:
            steps += 1
            if enabled:
                self._fire_rule(rule, schedule.next_fire)
                fired += 1
            schedule.next_fire = schedule.expression.next_after(schedule.next_fire, schedule.anchor)
        return fired

    def _fire_rule(self, rule: Any, moment: datetime) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": rule.account_id,
            "time": moment.astimezone(UTC).timestamp(),
            "region": rule.region_name,
            "resources": [rule.arn],
            "detail": {},
        }
        self.emitted.append(faithful_event(event))
        self.send_to_targets(rule, event, scheduled=True)


def install(emulator: Emulator, patcher: Patcher) -> EventsService:
    service = EventsService(emulator, _delivery.shared(emulator, patcher))
    _patch_rules(service, patcher)
    _patch_s3(service, patcher)
    _patch_stepfunctions(service, patcher)
    emulator.ticker.every("events.scheduled-rules", 1.0, service.tick)
    return service


def _patch_rules(service: EventsService, patcher: Patcher) -> None:
    from moto.core.utils import unix_time as moto_unix_time
    from moto.events import models as events_models
    from moto.events.exceptions import ValidationException

    clock = service.clock

    def unix_time(dt: datetime | None = None) -> float:
        return clock.time() if dt is None else float(moto_unix_time(dt))

    # put_events stamps "time" and "ingestion-time" with moto's unix_time: make that sandbox time.
    patcher.replace(events_models, "unix_time", unix_time)

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        service.send_to_targets(self, original_event, transform_input)

    service._moto_send_to_targets = patcher.replace(events_models.Rule, "send_to_targets", send_to_targets)

    backend_class = events_models.EventsBackend
    original_put_rule = backend_class.put_rule
    put_rule_signature = inspect.signature(original_put_rule)

    def put_rule(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = put_rule_signature.bind(self, *args, **kwargs)
        expression = bound.arguments.get("scheduled_expression")
        if expression:
            try:
                parse_schedule_expression(expression, allow_at=False, strict_units=True)
            except InvalidScheduleExpression as exc:
                raise ValidationException(f"Parameter ScheduleExpression is not valid. ({exc})") from exc
        rule = original_put_rule(self, *args, **kwargs)
        service.rule_put(rule)
        return rule

    patcher.replace(backend_class, "put_rule", put_rule)

    original_put_targets = backend_class.put_targets

    def put_targets(self: Any, name: str, event_bus_arn: str | None, targets: list[dict[str, Any]]) -> None:
        for target in targets:
            arn = str(target.get("Arn", ""))
            if target_kind(arn) == "states" and not target.get("RoleArn"):
                raise ValidationException(f"RoleArn is required for target {arn}.")
        original_put_targets(self, name, event_bus_arn, targets)

    patcher.replace(backend_class, "put_targets", put_targets)


def _patch_s3(service: EventsService, patcher: Patcher) -> None:
    from moto.s3 import notifications as s3_notifications
    from moto.s3.responses import S3Response

    # moto tags every new object through put_object_tagging, which would add an "Object Tags Added" event to
    # each PutObject, CopyObject and CompleteMultipartUpload; S3 sends those only for the tagging APIs.
    tagging_api = threading.local()

    def through_tagging_api(original: Any) -> Any:
        def handler(self: Any) -> Any:
            tagging_api.active = True
            try:
                return original(self)
            finally:
                tagging_api.active = False

        return handler

    for name in ("put_object_tagging", "delete_object_tagging"):
        patcher.replace(S3Response, name, through_tagging_api(getattr(S3Response, name)))

    def send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        if event_name.startswith("s3:ObjectTagging:") and not getattr(tagging_api, "active", False):
            return
        # S3 never fails a request because EventBridge delivery failed; the sandbox logs instead of hiding it.
        try:
            service.emit(
                service.s3_event(account_id, bucket, event_name, key), account=account_id, region=bucket.region_name
            )
        except Exception:
            log.exception("S3 event %s for s3://%s/%s not sent to EventBridge", event_name, bucket.name, key.name)

    patcher.replace(s3_notifications, "_send_event_bridge_message", send_event_bridge_message)


def _patch_stepfunctions(service: EventsService, patcher: Patcher) -> None:
    from moto.stepfunctions.parser.backend import execution as sfn_execution

    original_start = sfn_execution.Execution.start

    def start(self: Any) -> None:
        if self.exec_worker is None:
            service.execution_status_changed(self, "RUNNING")
        original_start(self)

    patcher.replace(sfn_execution.Execution, "start", start)

    communication = sfn_execution.BaseExecutionWorkerCommunication
    original_terminated = communication.terminated

    def terminated(self: Any) -> None:
        # Every way an execution ends (success, failure, timeout, StopExecution) passes here once.
        original_terminated(self)
        execution = self.execution
        status = str(getattr(execution.exec_status, "value", execution.exec_status))
        # moto keeps no error for aborted and timed-out executions; AWS reports StopExecution's error and
        # cause, and States.Timeout.
        error, cause = execution.error, execution.cause
        program_state = execution.exec_worker.env.program_state() if execution.exec_worker else None
        if status == "ABORTED" and error is None:
            error, cause = getattr(program_state, "error", None), getattr(program_state, "cause", None)
        elif status == "TIMED_OUT" and error is None:
            error = "States.Timeout"
        service.execution_status_changed(execution, status, error=error, cause=cause)

    patcher.replace(communication, "terminated", terminated)
