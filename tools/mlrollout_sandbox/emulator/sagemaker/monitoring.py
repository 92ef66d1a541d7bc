"""Model Monitor's schedules and executions, which moto 5.2.5 lacks: Create/Describe/Update/Delete/Start/Stop and
List of MonitoringSchedule (Pending, then Scheduled), the job definitions a schedule names (data quality and the
other monitoring types, stored by moto), and the executions the sandbox records for them."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import SageMakerModelBackend

from mlrollout_sandbox.emulator.sagemaker._common import ServiceCore, _naive, _to_naive

DEFAULT_SCHEDULE_PENDING_SECONDS = 60.0

_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_HOUR = r"(?:[01]?\d|2[0-3])"
# Model Monitor accepts only these cron shapes (hourly, daily at an hour, every N hours from an hour).
_SCHEDULE_CRON = re.compile(rf"^cron\(0 (?:\*|{_HOUR}|{_HOUR}/(?:0?[1-9]|1\d|2[0-4])) \? \* \* \*\)$")
_SCHEDULE_NOW = "NOW"

_MONITORING_TYPES: Mapping[str, tuple[str, str]] = {
    # MonitoringType -> (moto backend store, attribute holding the job input with the EndpointInput)
    "DataQuality": ("data_quality_job_definitions", "data_quality_job_input"),
    "ModelQuality": ("model_quality_job_definitions", "model_quality_job_input"),
    "ModelBias": ("model_bias_job_definitions", "model_bias_job_input"),
    "ModelExplainability": ("model_explainability_job_definitions", "model_explainability_job_input"),
}
_EXECUTION_STATUSES = frozenset(
    {"Pending", "Completed", "CompletedWithViolations", "InProgress", "Failed", "Stopping", "Stopped"}
)
_DEFAULT_PAGE = 10


def _check_name(value: Any, field_name: str) -> None:
    # botocore checks lengths client-side but never patterns, so only the server can refuse these.
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{field_name}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        )


@dataclass
class _Schedule:
    name: str
    arn: str
    config: dict[str, Any]
    monitoring_type: str
    job_definition_name: str | None
    endpoint_name: str | None
    status: str
    creation_time: datetime
    last_modified_time: datetime
    ready_at: float | None
    # moto's ListTags/AddTags/DeleteTags work on any object with a mutable `tags` list.
    tags: list[dict[str, str]] = field(default_factory=list)
    failure_reason: str | None = None


@dataclass
class _Execution:
    schedule_name: str
    scheduled_time: datetime
    creation_time: datetime
    last_modified_time: datetime
    status: str
    endpoint_name: str | None
    job_definition_name: str | None
    monitoring_type: str
    processing_job_arn: str | None = None
    failure_reason: str | None = None
    statistics: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MonitoringScheduleName": self.schedule_name,
            "ScheduledTime": self.scheduled_time,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "MonitoringExecutionStatus": self.status,
            "MonitoringType": self.monitoring_type,
        }
        optional = {
            "ProcessingJobArn": self.processing_job_arn,
            "EndpointName": self.endpoint_name,
            "FailureReason": self.failure_reason,
            "MonitoringJobDefinitionName": self.job_definition_name,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


class MonitoringSchedules(ServiceCore):
    """Monitoring schedules and their executions, kept by account and region."""

    schedule_pending_seconds: float
    _schedules: dict[tuple[str, str], dict[str, _Schedule]]
    _executions: dict[tuple[str, str], list[_Execution]]

    # ---------------------------------------------------------------------------- sandbox-facing reads

    def record_execution(
        self,
        schedule_name: str,
        *,
        status: str,
        scheduled_time: datetime,
        failure_reason: str | None = None,
        processing_job_arn: str | None = None,
        monitoring_statistics: dict[str, Any] | None = None,
        account_id: str | None = None,
        region: str | None = None,
    ) -> dict[str, Any]:
        """Append a monitoring execution (what a real schedule's processing job would leave behind).

        Returns the MonitoringExecutionSummary that ListMonitoringExecutions now shows.
        """
        if status not in _EXECUTION_STATUSES:
            raise ValueError(f"status must be one of {sorted(_EXECUTION_STATUSES)}, got {status!r}")
        backend = self._backend(account_id, region)
        with self._lock:
            schedule = self._schedule_store(backend).get(schedule_name)
            if schedule is None:
                raise KeyError(
                    f"no monitoring schedule named {schedule_name!r} in {backend.account_id}/{backend.region_name}"
                )
            now = _naive(self.clock.time())
            execution = _Execution(
                schedule_name=schedule_name,
                scheduled_time=_to_naive(scheduled_time),
                creation_time=now,
                last_modified_time=now,
                status=status,
                endpoint_name=schedule.endpoint_name,
                job_definition_name=schedule.job_definition_name,
                monitoring_type=schedule.monitoring_type,
                processing_job_arn=processing_job_arn,
                failure_reason=failure_reason,
                statistics=copy.deepcopy(monitoring_statistics),
            )
            self._executions.setdefault(self._key(backend), []).append(execution)
            return execution.summary()

    def executions(
        self, schedule_name: str, *, account_id: str | None = None, region: str | None = None
    ) -> list[dict[str, Any]]:
        """Recorded executions of a schedule, oldest first, each summary plus its MonitoringStatistics."""
        backend = self._backend(account_id, region)
        with self._lock:
            found = [e for e in self._executions.get(self._key(backend), []) if e.schedule_name == schedule_name]
            return [{**e.summary(), "MonitoringStatistics": copy.deepcopy(e.statistics)} for e in found]

    # ------------------------------------------------------------------------ monitoring schedules

    def _schedule_store(self, backend: SageMakerModelBackend) -> dict[str, _Schedule]:
        return self._schedules.setdefault(self._key(backend), {})

    def _schedule(self, backend: SageMakerModelBackend, name: str) -> _Schedule:
        schedule = self._schedule_store(backend).get(name)
        if schedule is None:
            arn = _schedule_arn(backend, name)
            raise ResourceNotFound(f"Monitoring Schedule {arn} does not exist.")
        self._settle_schedule(schedule)
        return schedule

    def _settle_schedule(self, schedule: _Schedule) -> None:
        if schedule.status == "Pending" and schedule.ready_at is not None and self.clock.time() >= schedule.ready_at:
            schedule.status = "Scheduled"
            schedule.ready_at = None

    def _create_schedule(
        self,
        backend: SageMakerModelBackend,
        name: str,
        config: dict[str, Any] | None,
        tags: list[dict[str, str]] | None,
    ) -> str:
        _check_name(name, "monitoringScheduleName")
        with self._lock:
            store = self._schedule_store(backend)
            arn = _schedule_arn(backend, name)
            if name in store:
                raise ResourceInUseException(f"Monitoring Schedule {arn} already exists.")
            monitoring_type, definition_name, endpoint_name = self._resolve_schedule_config(backend, config)
            now = self.clock.time()
            store[name] = _Schedule(
                name=name,
                arn=arn,
                config=copy.deepcopy(config or {}),
                monitoring_type=monitoring_type,
                job_definition_name=definition_name,
                endpoint_name=endpoint_name,
                status="Pending",
                creation_time=_naive(now),
                last_modified_time=_naive(now),
                ready_at=now + self.schedule_pending_seconds,
                tags=list(tags or []),
            )
            return arn

    def _update_schedule(self, backend: SageMakerModelBackend, name: str, config: dict[str, Any] | None) -> str:
        with self._lock:
            schedule = self._schedule(backend, name)
            monitoring_type, definition_name, endpoint_name = self._resolve_schedule_config(backend, config)
            now = self.clock.time()
            schedule.config = copy.deepcopy(config or {})
            schedule.monitoring_type = monitoring_type
            schedule.job_definition_name = definition_name
            schedule.endpoint_name = endpoint_name
            schedule.last_modified_time = _naive(now)
            if schedule.status != "Stopped":
                # A stopped schedule stays stopped; an update never silently restarts monitoring.
                schedule.status = "Pending"
                schedule.ready_at = now + self.schedule_pending_seconds
            return schedule.arn

    def _start_schedule(self, backend: SageMakerModelBackend, name: str) -> None:
        with self._lock:
            schedule = self._schedule(backend, name)
            if schedule.status in {"Stopped", "Failed"}:
                now = self.clock.time()
                schedule.status = "Pending"
                schedule.ready_at = now + self.schedule_pending_seconds
                schedule.last_modified_time = _naive(now)

    def _stop_schedule(self, backend: SageMakerModelBackend, name: str) -> None:
        with self._lock:
            schedule = self._schedule(backend, name)
            schedule.status = "Stopped"
            schedule.ready_at = None
            schedule.last_modified_time = _naive(self.clock.time())

    def _delete_schedule(self, backend: SageMakerModelBackend, name: str) -> None:
        with self._lock:
            self._schedule(backend, name)
            # Executions are kept: DeleteMonitoringSchedule "does not delete the job execution history".
            del self._schedule_store(backend)[name]

    def _describe_schedule(self, backend: SageMakerModelBackend, name: str) -> dict[str, Any]:
        with self._lock:
            schedule = self._schedule(backend, name)
            out: dict[str, Any] = {
                "MonitoringScheduleArn": schedule.arn,
                "MonitoringScheduleName": schedule.name,
                "MonitoringScheduleStatus": schedule.status,
                "MonitoringType": schedule.monitoring_type,
                "CreationTime": schedule.creation_time,
                "LastModifiedTime": schedule.last_modified_time,
                "MonitoringScheduleConfig": copy.deepcopy(schedule.config),
            }
            if schedule.failure_reason:
                out["FailureReason"] = schedule.failure_reason
            if schedule.endpoint_name:
                out["EndpointName"] = schedule.endpoint_name
            mine = [e for e in self._executions.get(self._key(backend), []) if e.schedule_name == name]
            if mine:
                latest = max(mine, key=lambda e: (e.scheduled_time, e.creation_time))
                out["LastMonitoringExecutionSummary"] = latest.summary()
            return out

    def _list_schedules(self, backend: SageMakerModelBackend, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            schedules = list(self._schedule_store(backend).values())
            for schedule in schedules:
                self._settle_schedule(schedule)
            name_contains = (params.get("NameContains") or "").lower()
            checks: list[Callable[[_Schedule], bool]] = [
                lambda s: name_contains in s.name.lower(),
                _equals("EndpointName", params, lambda s: s.endpoint_name),
                _equals("StatusEquals", params, lambda s: s.status),
                _equals("MonitoringJobDefinitionName", params, lambda s: s.job_definition_name),
                _equals("MonitoringTypeEquals", params, lambda s: s.monitoring_type),
                *_time_window("CreationTime", params, lambda s: s.creation_time),
                *_time_window("LastModifiedTime", params, lambda s: s.last_modified_time),
            ]
            sort_keys: dict[str, Callable[[_Schedule], Any]] = {
                "Name": lambda s: s.name,
                "Status": lambda s: s.status,
                "CreationTime": lambda s: s.creation_time,
            }
            page, token = _listed(schedules, checks, sort_keys, params)
            summaries = [_schedule_summary(s) for s in page]
            return {"MonitoringScheduleSummaries": summaries, "NextToken": token}

    def _list_executions(self, backend: SageMakerModelBackend, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            executions = list(self._executions.get(self._key(backend), []))
            checks: list[Callable[[_Execution], bool]] = [
                _equals("MonitoringScheduleName", params, lambda e: e.schedule_name),
                _equals("EndpointName", params, lambda e: e.endpoint_name),
                _equals("StatusEquals", params, lambda e: e.status),
                _equals("MonitoringJobDefinitionName", params, lambda e: e.job_definition_name),
                _equals("MonitoringTypeEquals", params, lambda e: e.monitoring_type),
                *_time_window("ScheduledTime", params, lambda e: e.scheduled_time),
                *_time_window("CreationTime", params, lambda e: e.creation_time),
                *_time_window("LastModifiedTime", params, lambda e: e.last_modified_time),
            ]
            sort_keys: dict[str, Callable[[_Execution], Any]] = {
                "CreationTime": lambda e: e.creation_time,
                "ScheduledTime": lambda e: e.scheduled_time,
                "Status": lambda e: e.status,
            }
            page, token = _listed(executions, checks, sort_keys, params)
            return {"MonitoringExecutionSummaries": [e.summary() for e in page], "NextToken": token}

    def _resolve_schedule_config(
        self, backend: SageMakerModelBackend, config: dict[str, Any] | None
    ) -> tuple[str, str | None, str | None]:
        """Validate a MonitoringScheduleConfig; returns (MonitoringType, job definition name, endpoint)."""
        config = config or {}
        _check_schedule_config(config.get("ScheduleConfig"))
        definition_name = config.get("MonitoringJobDefinitionName")
        inline = config.get("MonitoringJobDefinition")
        if bool(definition_name) == bool(inline):
            raise ValidationError(
                "MonitoringScheduleConfig must specify exactly one of MonitoringJobDefinition and "
                "MonitoringJobDefinitionName."
            )
        if inline:
            inputs = inline.get("MonitoringInputs") or [{}]
            endpoint = (inputs[0].get("EndpointInput") or {}).get("EndpointName")
            return config.get("MonitoringType") or "DataQuality", None, endpoint
        monitoring_type = config.get("MonitoringType") or "DataQuality"
        if monitoring_type not in _MONITORING_TYPES:
            raise ValidationError(
                f"Value '{monitoring_type}' at 'monitoringScheduleConfig.monitoringType' failed to satisfy "
                f"constraint: Member must satisfy enum value set: {sorted(_MONITORING_TYPES)}"
            )
        store_name, input_attr = _MONITORING_TYPES[monitoring_type]
        definition = getattr(backend, store_name).get(definition_name)
        if definition is None:
            raise ValidationError(
                f"Could not find {monitoring_type} job definition with name {definition_name}. Create it "
                "before referencing it from a monitoring schedule."
            )
        job_input = getattr(definition, input_attr, None) or {}
        endpoint = (job_input.get("EndpointInput") or {}).get("EndpointName")
        return monitoring_type, definition_name, endpoint


def _schedule_arn(backend: SageMakerModelBackend, name: str) -> str:
    return f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:monitoring-schedule/{name}"


def _schedule_summary(schedule: _Schedule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "MonitoringScheduleName": schedule.name,
        "MonitoringScheduleArn": schedule.arn,
        "CreationTime": schedule.creation_time,
        "LastModifiedTime": schedule.last_modified_time,
        "MonitoringScheduleStatus": schedule.status,
        "MonitoringType": schedule.monitoring_type,
    }
    if schedule.endpoint_name:
        out["EndpointName"] = schedule.endpoint_name
    if schedule.job_definition_name:
        out["MonitoringJobDefinitionName"] = schedule.job_definition_name
    return out


def _check_schedule_config(schedule_config: Mapping[str, Any] | None) -> None:
    if not schedule_config or not schedule_config.get("ScheduleExpression"):
        raise ValidationError("MonitoringScheduleConfig.ScheduleConfig.ScheduleExpression is required.")
    expression = schedule_config["ScheduleExpression"]
    if expression == _SCHEDULE_NOW:
        if not schedule_config.get("DataAnalysisStartTime") or not schedule_config.get("DataAnalysisEndTime"):
            raise ValidationError(
                "DataAnalysisStartTime and DataAnalysisEndTime are required when ScheduleExpression is NOW."
            )
        return
    if not _SCHEDULE_CRON.match(expression):
        raise ValidationError(
            f"Invalid ScheduleExpression {expression}. Supported expressions are hourly cron(0 * ? * * *), "
            "daily cron(0 [00-23] ? * * *), every few hours cron(0 [00-23]/[01-24] ? * * *), and NOW."
        )


def _equals(param: str, params: Mapping[str, Any], attribute: Callable[[Any], Any]) -> Callable[[Any], bool]:
    wanted = params.get(param)
    if wanted is None:
        return lambda _item: True
    return lambda item: attribute(item) == wanted


def _time_window(
    prefix: str, params: Mapping[str, Any], attribute: Callable[[Any], datetime]
) -> list[Callable[[Any], bool]]:
    checks: list[Callable[[Any], bool]] = []
    before, after = params.get(f"{prefix}Before"), params.get(f"{prefix}After")
    if before is not None:
        limit_before = _to_naive(before)
        checks.append(lambda item: attribute(item) < limit_before)
    if after is not None:
        limit_after = _to_naive(after)
        checks.append(lambda item: attribute(item) > limit_after)
    return checks


def _listed[T](
    items: list[T],
    checks: list[Callable[[T], bool]],
    sort_keys: dict[str, Callable[[T], Any]],
    params: dict[str, Any],
) -> tuple[list[T], str | None]:
    """A List operation's page: the items every filter keeps, in SortBy/SortOrder (CreationTime, Descending by
    default), from NextToken on."""
    selected = [item for item in items if all(check(item) for check in checks)]
    selected.sort(
        key=sort_keys[params.get("SortBy") or "CreationTime"],
        reverse=(params.get("SortOrder") or "Descending") == "Descending",
    )
    return _paginate(selected, params.get("NextToken"), params.get("MaxResults"))


def _paginate[T](items: list[T], next_token: str | None, max_results: int | None) -> tuple[list[T], str | None]:
    start = 0
    if next_token:
        try:
            start = int(next_token)
        except ValueError:
            start = -1
        if not 0 <= start <= len(items):
            raise ValidationError(f"Invalid pagination token {next_token}.")
    limit = int(max_results or _DEFAULT_PAGE)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else None)


_LIST_SCHEDULES_PARAMS = (
    "EndpointName",
    "SortBy",
    "SortOrder",
    "NextToken",
    "MaxResults",
    "NameContains",
    "CreationTimeBefore",
    "CreationTimeAfter",
    "LastModifiedTimeBefore",
    "LastModifiedTimeAfter",
    "StatusEquals",
    "MonitoringJobDefinitionName",
    "MonitoringTypeEquals",
)
_LIST_EXECUTIONS_PARAMS = (
    *_LIST_SCHEDULES_PARAMS,
    "MonitoringScheduleName",
    "ScheduledTimeBefore",
    "ScheduledTimeAfter",
)
