"""EventBridge Scheduler: schedules created through moto's scheduler API fire on sandbox time.

moto 5.2.5 stores schedules and never runs them. Here the emulator's Ticker evaluates every schedule:
- `rate(value unit)`: without a StartDate the first invocation is immediate (at creation or last update), as
  AWS documents, then every period; `cron(min hour day-of-month month day-of-week year)` with the six-field
  AWS syntax, including `?`, `L`, `W`, `#` and names (JAN, MON), evaluated in ScheduleExpressionTimezone;
  `at(yyyy-mm-ddThh:mm:ss)` once, in that time zone;
- StartDate/EndDate bound recurring schedules (ignored for at(), as in AWS); State DISABLED skips
  invocations; FlexibleTimeWindow FLEXIBLE delays each invocation by a random offset within the window
  (`service.rng`, seedable); ActionAfterCompletion DELETE removes the schedule after its last invocation;
- targets: Lambda (asynchronous invoke, the Input as the event, then Lambda's own retries and dead-letter
  queue), Step Functions (StartExecution), SQS and SNS, with the context attributes
  (<aws.scheduler.schedule-arn>, <aws.scheduler.scheduled-time>, <aws.scheduler.execution-id>,
  <aws.scheduler.attempt-number>) substituted into the Input; a failed invocation is retried per the target's
  RetryPolicy on sandbox time (a missing target or a bad input is not retried) and then sent to the target's
  DeadLetterConfig queue with ERROR_CODE, ERROR_MESSAGE, EXECUTION_ID, SCHEDULE_ARN, SCHEDULED_TIME and
  TARGET_ARN attributes;
- CreateSchedule/UpdateSchedule reject expressions, time zones and target types the sandbox cannot run, with a
  ValidationException that says why, instead of storing a schedule that would never fire.
The cron parser also serves EventBridge scheduled rules (mlrollout_sandbox.emulator.events).
"""

from __future__ import annotations

import calendar
import copy
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    target_kind,
)

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher
    from mlrollout_sandbox.emulator.iam import Iam

log = logging.getLogger(__name__)

# The newest year AWS cron accepts; a cron that matches nothing before it never fires.
_LAST_YEAR = 2199
# The most firings one evaluation catches up on (a schedule or a rule after a long warp of the clock).
CATCH_UP_LIMIT = 1000


class InvalidScheduleExpression(ValueError):
    """An expression AWS would reject, or one the sandbox cannot evaluate (the message says which)."""


# --- expressions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateExpression:
    seconds: int

    def next_after(self, moment: datetime, anchor: datetime) -> datetime:
        """The first occurrence strictly after `moment` of anchor, anchor + period, ..."""
        if moment < anchor:
            return anchor
        periods = int((moment - anchor).total_seconds() // self.seconds) + 1
        return anchor + timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True)
class AtExpression:
    when: datetime

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        return self.when if self.when > moment else None


@dataclass(frozen=True)
class _DaysOfMonth:
    days: frozenset[int]
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: frozenset[int] = frozenset()

    def matches(self, day: date) -> bool:
        last_day = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.days or (self.last and day.day == last_day):
            return True
        if self.last_weekday and day.day == _nearest_weekday(day.year, day.month, last_day, last_day):
            return True
        return any(
            n <= last_day and day.day == _nearest_weekday(day.year, day.month, n, last_day)
            for n in self.nearest_weekday
        )


@dataclass(frozen=True)
class _DaysOfWeek:
    days: frozenset[int]  # 1 = Sunday ... 7 = Saturday, as in AWS cron
    last_of_month: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()

    def matches(self, day: date) -> bool:
        weekday = (day.weekday() + 1) % 7 + 1
        if weekday in self.days:
            return True
        last_day = calendar.monthrange(day.year, day.month)[1]
        if weekday in self.last_of_month and day.day + 7 > last_day:
            return True
        return (weekday, (day.day - 1) // 7 + 1) in self.nth


def _nearest_weekday(year: int, month: int, target: int, last_day: int) -> int:
    """`nW`: the weekday nearest to day n, never leaving the month."""
    weekday = date(year, month, target).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when the 1st is a Saturday
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when the month ends on a Sunday
        return target + 1 if target < last_day else target - 2
    return target


@dataclass(frozen=True)
class CronExpression:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: _DaysOfMonth | None
    months: frozenset[int]
    days_of_week: _DaysOfWeek | None
    years: frozenset[int]
    timezone: str = "UTC"

    def day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return self.days_of_month.matches(day)
        return self.days_of_week is not None and self.days_of_week.matches(day)

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first time strictly after `moment` (UTC) that the expression names, or None."""
        zone = ZoneInfo(self.timezone)
        earliest = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = earliest.astimezone(zone).date() - timedelta(days=1)  # DST shifts can move a match a day back
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        while day.year <= _LAST_YEAR:
            if day.year not in self.years:
                day = date(day.year + 1, 1, 1)
                continue
            if day.month not in self.months:
                day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
                continue
            if self.day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        candidate = local.astimezone(UTC)
                        if candidate >= earliest:
                            return candidate
            day += timedelta(days=1)
        return None


ScheduleExpression = RateExpression | AtExpression | CronExpression

_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
_DAY_NAMES = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_schedule_expression(
    expression: str, timezone: str = "UTC", *, allow_at: bool = True, strict_units: bool = False
) -> ScheduleExpression:
    """Parse rate(), cron() or at() as EventBridge does.

    `strict_units` demands "1 minute" / "5 minutes", as EventBridge rules do (Scheduler accepts either).
    """
    text = (expression or "").strip()
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidScheduleExpression(f"{timezone!r} is not a time zone name (e.g. UTC, Europe/Berlin)") from exc
    if match := _RATE.match(text):
        value, unit = int(match.group(1)), match.group(2)
        if value <= 0:
            raise InvalidScheduleExpression(f"{text}: the rate must be a positive integer")
        if strict_units and (value == 1) == unit.endswith("s"):
            raise InvalidScheduleExpression(
                f"{text}: EventBridge rules want a singular unit for 1 and a plural one otherwise"
            )
        return RateExpression(value * _UNIT_SECONDS[unit.rstrip("s")])
    if text.startswith("at(") and text.endswith(")"):
        if not allow_at:
            raise InvalidScheduleExpression(f"{text}: at() is an EventBridge Scheduler expression, not a rule's")
        try:
            local = datetime.strptime(text[3:-1], "%Y-%m-%dT%H:%M:%S")
        except ValueError as exc:
            raise InvalidScheduleExpression(f"{text}: at() takes yyyy-mm-ddThh:mm:ss") from exc
        return AtExpression(local.replace(tzinfo=zone).astimezone(UTC))
    if text.startswith("cron(") and text.endswith(")"):
        return _parse_cron(text, text[5:-1].split(), timezone or "UTC")
    raise InvalidScheduleExpression(
        f"{text!r} is not a schedule expression: use rate(value unit), cron(six fields)"
        + (" or at(yyyy-mm-ddThh:mm:ss)" if allow_at else "")
    )


def _parse_cron(text: str, fields: list[str], timezone: str) -> CronExpression:
    if len(fields) != 6:
        raise InvalidScheduleExpression(
            f"{text}: AWS cron has six fields (minutes hours day-of-month month day-of-week year), not {len(fields)}"
        )
    minutes, hours, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleExpression(
            f"{text}: exactly one of day-of-month and day-of-week must be '?' (AWS cannot combine them)"
        )
    try:
        return CronExpression(
            minutes=_numbers(minutes, 0, 59),
            hours=_numbers(hours, 0, 23),
            days_of_month=None if dom == "?" else _days_of_month(dom),
            months=_numbers(month, 1, 12, _MONTH_NAMES),
            days_of_week=None if dow == "?" else _days_of_week(dow),
            years=_numbers(year, 1970, _LAST_YEAR),
            timezone=timezone,
        )
    except (ValueError, KeyError) as exc:
        raise InvalidScheduleExpression(f"{text}: {exc}") from exc


def _value(token: str, low: int, high: int, names: dict[str, int] | None) -> int:
    if names and token in names:
        return names[token]
    if not token.isdigit():
        raise ValueError(f"{token!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high}")
    return number


def _numbers(field_text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in field_text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{part!r}: the increment after '/' must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, low, high, names), _value(last, low, high, names)
            if start > end:
                raise ValueError(f"{part!r}: ranges that wrap around are not supported by the sandbox")
        else:
            start = _value(base, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _days_of_month(field_text: str) -> _DaysOfMonth:
    days: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for part in field_text.split(","):
        if part == "L":
            last = True
        elif part == "LW":
            last_weekday = True
        elif part.endswith("W") and part[:-1].isdigit():
            nearest.add(_value(part[:-1], 1, 31, None))
        else:
            days |= _numbers(part, 1, 31)
    return _DaysOfMonth(frozenset(days), last, last_weekday, frozenset(nearest))


def _days_of_week(field_text: str) -> _DaysOfWeek:
    days: set[int] = set()
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for part in field_text.split(","):
        if part == "L":
            days.add(7)  # L alone is the last day of the week: Saturday
        elif part.endswith("L"):
            last_of.add(_value(part[:-1], 1, 7, _DAY_NAMES))
        elif "#" in part:
            day, _, occurrence = part.partition("#")
            nth.add((_value(day, 1, 7, _DAY_NAMES), _value(occurrence, 1, 5, None)))
        else:
            days |= _numbers(part, 1, 7, _DAY_NAMES)
    return _DaysOfWeek(frozenset(days), frozenset(last_of), frozenset(nth))


def _to_datetime(value: Any) -> datetime | None:
    """StartDate/EndDate as moto stores them (epoch seconds from boto3, or an ISO string)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the service ------------------------------------------------------------------------------------------


@dataclass
class _ScheduleState:
    version: tuple[Any, ...]
    expression: ScheduleExpression
    anchor: datetime
    next_fire: datetime | None
    completed: bool = False


@dataclass(kw_only=True)
class _Firing(TargetJob):
    group: str
    scheduled: datetime
    execution_id: str


class SchedulerService(TargetDispatcher[_Firing]):
    """EventBridge Scheduler's invocations, on sandbox time.

    `firings` holds one Delivery per invocation (context: schedule, group, scheduled_time, execution_id).
    `rng` draws the flexible time window's offsets and the retries' jitter. Scheduler calls every target with
    the schedule's execution role, which it assumes as scheduler.amazonaws.com (TargetDispatcher's
    authorize_target; https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).
    """

    source_kind = "schedule"
    principal = "scheduler.amazonaws.com"

    def __init__(self, emulator: Emulator, delivery: AsyncDelivery) -> None:
        super().__init__(emulator, delivery)
        self.firings: list[Delivery] = []
        self._states: dict[str, _ScheduleState] = {}
        self._lock = threading.RLock()

    # evaluation ---------------------------------------------------------------------------------------------
    def run_due(self) -> int:
        """Invoke every schedule whose time has come (the Ticker calls this; tests may too). Returns how many."""
        from moto.scheduler.models import scheduler_backends

        now = self.clock.now()
        fired = 0
        with self._lock:
            seen: set[str] = set()
            for _, regions in list(scheduler_backends.items()):
                for _, backend in list(regions.items()):
                    for group in list(backend.schedule_groups.values()):
                        for schedule in list(group.schedules.values()):
                            seen.add(schedule.arn)
                            fired += self._evaluate(group, schedule, now)
            for arn in set(self._states) - seen:
                del self._states[arn]
        return fired

    def tick(self) -> None:
        self.run_due()

    def next_firing(self, schedule_arn: str) -> datetime | None:
        """When the schedule invokes its target next, as last evaluated (None when it is done)."""
        with self._lock:
            state = self._states.get(schedule_arn)
            return None if state is None or state.completed else state.next_fire

    def _state(self, schedule: Any) -> _ScheduleState:
        start = _to_datetime(schedule.start_date)
        end = _to_datetime(schedule.end_date)
        version = (
            schedule.schedule_expression,
            schedule.schedule_expression_timezone,
            start,
            end,
            schedule.last_modified_date,
        )
        state = self._states.get(schedule.arn)
        if state is not None and state.version == version:
            return state
        expression = parse_schedule_expression(schedule.schedule_expression, schedule.schedule_expression_timezone)
        # Creation and update times are sandbox time (moto's unix_time is patched in this module).
        anchor = datetime.fromtimestamp(float(schedule.last_modified_date), UTC)
        if isinstance(expression, RateExpression):
            anchor = start or anchor
            next_fire: datetime | None = anchor
        elif isinstance(expression, AtExpression):
            next_fire = expression.when
        else:
            base = max(anchor, start) if start else anchor
            next_fire = expression.next_after(base - timedelta(microseconds=1))
        state = _ScheduleState(version, expression, anchor, next_fire)
        self._states[schedule.arn] = state
        return state

    def _evaluate(self, group: Any, schedule: Any, now: datetime) -> int:
        try:
            state = self._state(schedule)
        except InvalidScheduleExpression as exc:
            log.error("schedule %s cannot run: %s", schedule.arn, exc)
            return 0
        if state.completed:
            return 0
        end = None if isinstance(state.expression, AtExpression) else _to_datetime(schedule.end_date)
        enabled = (schedule.state or "ENABLED") == "ENABLED"
        fired = steps = 0
        while state.next_fire is not None and state.next_fire <= now and steps < CATCH_UP_LIMIT:
            steps += 1
            moment = state.next_fire
            if end is not None and moment > end:
                break
            if enabled:
                self._fire(group, schedule, moment)
                fired += 1
            state.next_fire = state.expression.next_after(moment, state.anchor)
        if state.next_fire is None or (end is not None and state.next_fire > end):
            state.completed = True
            if (schedule.action_after_completion or "NONE") == "DELETE":
                log.info("schedule %s completed; ActionAfterCompletion=DELETE removes it", schedule.arn)
                group.schedules.pop(schedule.name, None)
                self._states.pop(schedule.arn, None)
        return fired

    # invocation ---------------------------------------------------------------------------------------------
    def _fire(self, group: Any, schedule: Any, scheduled: datetime) -> None:
        target = copy.deepcopy(schedule.target)
        execution_id = uuid.uuid4().hex[:16]
        delivery = Delivery(
            service="scheduler",
            source=schedule.arn,
            target=str(target.get("Arn")),
            protocol=target_kind(str(target.get("Arn"))),
            payload=str(target.get("Input") or "{}"),
            created_at=self.clock.now(),
            role_arn=target.get("RoleArn"),
            context={
                "schedule": schedule.name,
                "group": group.name,
                "scheduled_time": iso_seconds(scheduled),
                "execution_id": execution_id,
            },
        )
        firing = _Firing(
            source_arn=schedule.arn,
            source_name=schedule.name,
            target=target,
            delivery=delivery,
            label=f"schedule {schedule.name}",
            group=group.name,
            scheduled=scheduled,
            execution_id=execution_id,
        )
        self.firings.append(delivery)
        window = schedule.flexible_time_window or {}
        offset = 0.0
        if window.get("Mode") == "FLEXIBLE":
            offset = self.rng.uniform(0, float(window.get("MaximumWindowInMinutes") or 0) * 60)
        delivery.context["flexible_offset_seconds"] = offset
        self.submit(firing, offset)

    # what Scheduler does its own way (TargetDispatcher does the rest) -------------------------------------
    def prepare(self, job: _Firing) -> str:
        if job.calls == 1:
            job.delivery.context["invoked_at"] = iso_seconds(self.clock.now())
        text = str(job.target.get("Input") or "{}")
        context = {
            "<aws.scheduler.schedule-arn>": job.source_arn,
            "<aws.scheduler.scheduled-time>": iso_seconds(job.scheduled),
            "<aws.scheduler.execution-id>": job.execution_id,
            "<aws.scheduler.attempt-number>": str(job.calls),
        }
        for placeholder, value in context.items():
            text = text.replace(placeholder, value)
        job.delivery.payload = text
        fault = self.emulator.faults.take("scheduler:Invoke", schedule=job.source_name, group=job.group)
        if fault is not None:
            raise fault_failure(fault)
        return text

    def new_execution_name(self, job: _Firing) -> str:
        return f"{job.execution_id}-{uuid.uuid4().hex[:12]}"

    def authorize_dead_letter(self, iam: Iam, job: _Firing, queue_arn: str) -> None:
        """Scheduler sends to the dead-letter queue with the execution role too: it needs sqs:SendMessage (and
        the key of an encrypted queue), or the invocation is lost
        (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html)."""
        role = str(job.target.get("RoleArn") or "")
        iam.authorize_role(role, iam.delivery_checks("sqs:SendMessage", queue_arn, job.source_arn))

    def dead_letter_message(
        self, job: _Firing, failure: DeliveryFailure, exhausted: str | None
    ) -> tuple[str, dict[str, str | int]]:
        """The invocation's input, with Scheduler's attributes."""
        attributes: dict[str, str | int] = {
            "ERROR_CODE": failure.code,
            "ERROR_MESSAGE": failure.message,
            "EXECUTION_ID": job.execution_id,
            "SCHEDULE_ARN": job.source_arn,
            "SCHEDULED_TIME": iso_seconds(job.scheduled),
            "TARGET_ARN": job.delivery.target,
        }
        return job.delivery.payload, attributes


def _validate(expression: str | None, timezone: str | None, target: dict[str, Any] | None) -> None:
    from moto.scheduler.exceptions import ValidationException

    try:
        parse_schedule_expression(expression or "", timezone or "UTC")
    except InvalidScheduleExpression as exc:
        raise ValidationException(f"Invalid Schedule Expression {expression}. {exc}") from exc
    arn = str((target or {}).get("Arn", ""))
    if target_kind(arn) not in TARGET_ACTIONS:
        raise ValidationException(
            f"The sandbox's EventBridge Scheduler invokes Lambda, Step Functions, SQS and SNS targets; "
            f"it cannot invoke {arn!r}"
        )


def install(emulator: Emulator, patcher: Patcher) -> SchedulerService:
    from moto.core.utils import unix_time as moto_unix_time
    from moto.scheduler import models as scheduler_models
    from moto.scheduler.exceptions import ValidationException
    from moto.scheduler.responses import EventBridgeSchedulerResponse

    clock = emulator.clock
    service = SchedulerService(emulator, _delivery.shared(emulator, patcher))

    def unix_time(dt: datetime | None = None) -> float:
        return clock.time() if dt is None else float(moto_unix_time(dt))

    # Creation and modification dates anchor rate() schedules, so they must be sandbox time.
    patcher.replace(scheduler_models, "unix_time", unix_time)

    def _validate_start_date(self: Any, start_date: Any) -> Any:
        # AWS refuses a recurring schedule's StartDate more than five minutes in the past (of sandbox time).
        start = _to_datetime(start_date)
        if (
            start is not None
            and not str(self.schedule_expression).startswith("at(")
            and start < clock.now() - timedelta(minutes=5)
        ):
            raise ValidationException("The StartDate you specify cannot be earlier than 5 minutes ago.")
        return start_date

    patcher.replace(scheduler_models.Schedule, "_validate_start_date", _validate_start_date)

    backend_class = scheduler_models.EventBridgeSchedulerBackend
    original_create = backend_class.create_schedule
    original_update = backend_class.update_schedule

    def create_schedule(self: Any, **kwargs: Any) -> Any:
        _validate(kwargs.get("schedule_expression"), kwargs.get("schedule_expression_timezone"), kwargs.get("target"))
        return original_create(self, **kwargs)

    def update_schedule(self: Any, **kwargs: Any) -> Any:
        _validate(kwargs.get("schedule_expression"), kwargs.get("schedule_expression_timezone"), kwargs.get("target"))
        return original_update(self, **kwargs)

    patcher.replace(backend_class, "create_schedule", create_schedule)
    patcher.replace(backend_class, "update_schedule", update_schedule)

    original_update_response = EventBridgeSchedulerResponse.update_schedule

    def update_schedule_response(self: Any) -> str:
        # moto's UpdateSchedule drops ActionAfterCompletion; AWS replaces it like every other field.
        result = str(original_update_response(self))
        name = self.uri.split("?")[0].split("/")[-1]
        schedule = self.scheduler_backend.get_schedule(self._get_param("GroupName"), name)
        schedule.action_after_completion = self._get_param("ActionAfterCompletion")
        return result

    patcher.replace(EventBridgeSchedulerResponse, "update_schedule", update_schedule_response)

    emulator.ticker.every("scheduler.schedules", 1.0, service.tick)
    return service
