"""Model Monitor's data-quality analyzer, emulated on sandbox time.

moto 5.2.5 stores data quality job definitions, and the sandbox's SageMaker emulator keeps monitoring schedules
and executions, but nothing ever runs a schedule. `install(emulator)` registers a ticker job that does, once a
virtual minute: for every DataQuality schedule that is `Scheduled` and whose cron expression came due since
the last look, it runs one execution the way Model Monitor's analyzer container would:

1. reads the job definition (DescribeDataQualityJobDefinition, or the schedule's inline definition): baseline
   statistics and constraints S3 URIs, the endpoint, the output S3 URI;
2. reads the endpoint's data capture (the endpoint config's DataCaptureConfig.DestinationS3Uri): every object
   under <destination>/<endpoint>/ whose hour folder can hold records of the window, keeping the records
   whose eventMetadata.inferenceTime falls in the window (the previous schedule period: for an hourly schedule
   at 14:00, [13:00, 14:00));
3. computes a `DriftReport` against the baseline (mlrollout.domain.drift);
4. publishes `feature_baseline_drift_<feature>` for every baseline feature to aws/sagemaker/Endpoints/data-metrics
   with dimensions Endpoint and MonitoringSchedule, timestamped at the execution time;
5. writes statistics.json and constraint_violations.json under
   <output S3 URI>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/ (the scheduled hour);
6. records the execution with the SageMaker emulator: Completed, CompletedWithViolations, or Failed with
   Model Monitor's FailureReason "Job inputs had no data" when the window holds no captured record;
7. puts the "SageMaker Processing Job State Change" event its processing job would send on the default
   EventBridge bus: ProcessingJobStatus Completed with the analyzer's ExitMessage ("Completed: Job completed
   successfully with no violations." / "CompletedWithViolations: Job completed successfully with N
   violations."), or Failed with the FailureReason; the Environment Model Monitor gives the container
   (sagemaker_monitoring_schedule_name, sagemaker_endpoint_name, start_time, end_time, ...), the schedule's
   MonitoringScheduleArn, and the job's start and end on sandbox time.

Choices where Model Monitor is unspecified or the sandbox is simpler, named:
- An occurrence at T runs at the first tick at or after T + `start_delay_seconds` (default 0: hourly means minute
  0). Its scheduled time and window stay those of T. A delay of at least the data plane's capture flush interval
  (CAPTURE_FLUSH_SECONDS, 300 s) lets the window's last records reach S3 before they are read.
- A schedule seen for the first time is looked at from max(its LastModifiedTime, now - one tick): occurrences
  before the sandbox saw it are not run. When several occurrences passed between two looks (a stalled ticker),
  only the latest runs, as Model Monitor does not backfill missed hours.
- A one-time schedule (ScheduleExpression NOW) runs once, with its DataAnalysisStartTime/EndTime offsets
  (-PT1H style) taken relative to the time the sandbox first sees it Scheduled.
- Without a baseline statistics resource the job only profiles the data: no drift metrics, no violations.
- Distances are the drift module's approximations of Model Monitor's (see `baseline_drift` there).
- The processing job goes straight to its end state: only the final state change event is sent (a real job
  also sends InProgress). The event carries what DescribeProcessingJob would show and the sandbox knows
  (AppSpecification.ImageUri, RoleArn, ProcessingResources, StoppingCondition, Environment), not the
  ProcessingInputs/ProcessingOutputConfig Model Monitor generates, and no Tags. The baseline local paths in
  Environment are the analyzer's usual /opt/ml/processing/baseline/... locations.
- Job failures Model Monitor would also have (no data, a baseline that cannot be read, an endpoint without
  capture) are recorded as Failed executions; anything else is an error of the sandbox, kept in `errors` (and
  also recorded as a Failed execution), never raised into the ticker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from mlrollout.domain.drift import (
    Baseline,
    BaselineInvalid,
    DriftAnalyzer,
    DriftReport,
    MonitoringConfig,
    read_baseline,
)
from mlrollout.domain.drift_metrics import DATA_METRICS_NAMESPACE
from mlrollout_sandbox.emulator.scheduler import CronExpression, InvalidScheduleExpression, parse_schedule_expression

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator

__all__ = [
    "NO_DATA",
    "NO_VIOLATIONS",
    "PROCESSING_JOB_STATE_CHANGE",
    "ModelMonitorEmulator",
    "MonitoringExecution",
    "exit_message",
    "install",
]

log = logging.getLogger(__name__)

NO_DATA = "Job inputs had no data"
PROCESSING_JOB_STATE_CHANGE = "SageMaker Processing Job State Change"
NO_VIOLATIONS = "Completed: Job completed successfully with no violations."
TICK_SECONDS = 60.0
TICKER_JOB = "sagemaker:monitoring-executions"
ONE_TIME = "NOW"
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_KEEP_RECORDS = 1000
_MAX_FAILURE_REASON = 1024  # DescribeMonitoringSchedule's FailureReason is at most 1024 characters
_METRICS_PER_PUT = 1000
_OFFSET = re.compile(r"^-P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
# The container contract's defaults (Model Monitor's "Container Contract Inputs").
_CAPTURE_FORMAT = '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput","endpointOutput"]}}'
_INPUT_PATH = "/opt/ml/processing/input/endpoint"
_OUTPUT_PATH = "/opt/ml/processing/output"
_BASELINE_CONSTRAINTS_PATH = "/opt/ml/processing/baseline/constraints/constraints.json"
_BASELINE_STATISTICS_PATH = "/opt/ml/processing/baseline/stats/statistics.json"

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class MonitoringExecution:
    """What one emulated execution did (also recorded with the SageMaker emulator)."""

    schedule_name: str
    endpoint_name: str | None
    job_definition_name: str | None
    scheduled_time: datetime
    executed_at: datetime
    window: Window
    status: str
    processing_job_arn: str
    failure_reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    statistics_uri: str | None = None
    violations_uri: str | None = None
    capture_objects: int = 0
    records: int = 0
    malformed_lines: int = 0
    report: DriftReport | None = None


@dataclass(frozen=True)
class _JobSpec:
    """A data-quality job definition, from a named definition or a schedule's inline one."""

    name: str | None
    endpoint: str | None
    statistics_uri: str | None
    constraints_uri: str | None
    output_uri: str | None
    environment: dict[str, str]
    input_path: str = _INPUT_PATH
    output_path: str = _OUTPUT_PATH
    image_uri: str | None = None
    role_arn: str | None = None
    cluster_config: dict[str, Any] | None = None
    stopping_condition: dict[str, Any] | None = None


class _JobFailed(Exception):
    """A failure Model Monitor's job would also have: recorded as a Failed execution with this reason."""


class ModelMonitorEmulator:
    """Runs data-quality monitoring executions for the emulated SageMaker; thread-safe.

    `tick()` is the ticker's job (callable from tests); `run_now()` runs one execution on demand. `executions`
    and `errors` are records for tests and the sandbox report.
    """

    def __init__(
        self, emulator: Emulator, *, tick_seconds: float = TICK_SECONDS, start_delay_seconds: float = 0.0
    ) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.tick_seconds = tick_seconds
        self.start_delay_seconds = start_delay_seconds
        self._state_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one execution at a time: the ticker and run_now never interleave
        self._checked: dict[str, datetime] = {}
        self._one_time_done: set[tuple[str, datetime]] = set()
        self._executions: list[MonitoringExecution] = []
        self._errors: list[tuple[datetime, str | None, str]] = []

    # ------------------------------------------------------------------------------------------- records

    @property
    def executions(self) -> list[MonitoringExecution]:
        with self._state_lock:
            return list(self._executions)

    @property
    def errors(self) -> list[tuple[datetime, str | None, str]]:
        """(sandbox time, schedule name or None, "ErrorType: message") for every error of the emulator."""
        with self._state_lock:
            return list(self._errors)

    def _error(self, schedule: str | None, exc: BaseException) -> None:
        log.error("model monitor emulator: schedule %s: %s", schedule, exc, exc_info=exc)
        with self._state_lock:
            self._errors.append((self.clock.now(), schedule, f"{type(exc).__name__}: {exc}"))
            del self._errors[:-_KEEP_RECORDS]  # a schedule that fails every tick must not grow this forever

    # --------------------------------------------------------------------------------------------- ticking

    def tick(self) -> list[MonitoringExecution]:
        """Run every execution that came due since the last look; never raises (errors go to `errors`)."""
        now = self.clock.now()
        try:
            schedules = list(self._scheduled())
        except Exception as exc:  # the embedded AWS may be stopping; the next tick tries again
            self._error(None, exc)
            return []
        ran: list[MonitoringExecution] = []
        for described in schedules:
            name = str(described.get("MonitoringScheduleName"))
            try:
                due = self._due(described, now)
                if due is not None:
                    ran.append(self._execute(described, *due))
            except Exception as exc:  # one broken schedule must not stop the others
                self._error(name, exc)
        return ran

    def _scheduled(self) -> Iterator[dict[str, Any]]:
        sm = self._client("sagemaker")
        token: str | None = None
        while True:
            page = sm.list_monitoring_schedules(
                StatusEquals="Scheduled", MonitoringTypeEquals="DataQuality", MaxResults=100, **_token(token)
            )
            for summary in page.get("MonitoringScheduleSummaries", []):
                try:
                    yield sm.describe_monitoring_schedule(MonitoringScheduleName=summary["MonitoringScheduleName"])
                except ClientError:
                    continue  # deleted between the list and the describe
            token = page.get("NextToken")
            if not token:
                return

    def _due(self, described: dict[str, Any], now: datetime) -> tuple[datetime, Window] | None:
        """(scheduled time, window) of the latest occurrence since the last look, or None."""
        name = str(described["MonitoringScheduleName"])
        schedule_config = described.get("MonitoringScheduleConfig", {}).get("ScheduleConfig", {})
        modified = _utc(described["LastModifiedTime"])
        with self._state_lock:
            previous = self._checked.get(name)
            self._checked[name] = now
        since = max(previous, modified) if previous else max(modified, now - timedelta(seconds=self.tick_seconds))
        expression = str(schedule_config.get("ScheduleExpression", ""))
        if expression == ONE_TIME:
            with self._state_lock:
                if (name, modified) in self._one_time_done:
                    return None
                self._one_time_done.add((name, modified))
            return now, _one_time_window(schedule_config, now)
        cron = _cron(expression)
        delay = timedelta(seconds=self.start_delay_seconds)
        latest: datetime | None = None
        # Occurrences T whose run time T + delay falls in (since, now].
        moment = cron.next_after(since - delay)
        while moment is not None and moment + delay <= now:
            latest, moment = moment, cron.next_after(moment)
        if latest is None:
            return None
        return latest, (_previous_occurrence(cron, latest), latest)

    # --------------------------------------------------------------------------------------------- running

    def run_now(
        self, schedule_name: str, window: Window | None = None, *, scheduled_time: datetime | None = None
    ) -> MonitoringExecution:
        """Run one execution of `schedule_name` now, whatever its status.

        `window` (start inclusive, end exclusive) defaults to the schedule period that ended last; the
        execution's scheduled time defaults to the window's end.
        """
        described = self._client("sagemaker").describe_monitoring_schedule(MonitoringScheduleName=schedule_name)
        now = self.clock.now()
        if window is None:
            schedule_config = described.get("MonitoringScheduleConfig", {}).get("ScheduleConfig", {})
            expression = str(schedule_config.get("ScheduleExpression", ""))
            if expression == ONE_TIME:
                window = _one_time_window(schedule_config, now)
            else:
                cron = _cron(expression)
                end = _latest_at_or_before(cron, now)
                window = (_previous_occurrence(cron, end), end)
        start, end = _utc(window[0]), _utc(window[1])
        if start >= end:
            raise ValueError(f"the window must start before it ends, got {start.isoformat()} .. {end.isoformat()}")
        return self._execute(described, _utc(scheduled_time) if scheduled_time else end, (start, end))

    def _execute(self, described: dict[str, Any], scheduled: datetime, window: Window) -> MonitoringExecution:
        name = str(described["MonitoringScheduleName"])
        job_name = _processing_job_name(name, scheduled)
        arn = f"arn:aws:sagemaker:{self.emulator.region}:{self.emulator.account_id}:processing-job/{job_name}"
        with self._run_lock:
            started = self.clock.now()
            spec: _JobSpec | None = None
            try:
                spec = self._job_spec(described)
                execution = self._analyse(name, spec, scheduled, window, arn)
            except _JobFailed as failure:
                execution = self._failed(name, spec, described, scheduled, window, arn, str(failure))
            except Exception as exc:
                self._error(name, exc)
                reason = f"InternalServerError: the sandbox analyzer failed: {type(exc).__name__}: {exc}"
                execution = self._failed(name, spec, described, scheduled, window, arn, reason)
            self._record(execution)
            self._emit(processing_job_event(execution, spec, described, started))
            return execution

    def _failed(
        self,
        name: str,
        spec: _JobSpec | None,
        described: dict[str, Any],
        scheduled: datetime,
        window: Window,
        arn: str,
        reason: str,
    ) -> MonitoringExecution:
        return MonitoringExecution(
            schedule_name=name,
            endpoint_name=spec.endpoint if spec else described.get("EndpointName"),
            job_definition_name=spec.name if spec else None,
            scheduled_time=scheduled,
            executed_at=self.clock.now(),
            window=window,
            status="Failed",
            processing_job_arn=arn,
            failure_reason=reason[:_MAX_FAILURE_REASON],
        )

    def _analyse(self, name: str, spec: _JobSpec, scheduled: datetime, window: Window, arn: str) -> MonitoringExecution:
        if not spec.endpoint:
            raise _JobFailed("The monitoring job definition names no EndpointInput.EndpointName.")
        baseline = self._baseline(spec)
        analyzer = DriftAnalyzer(baseline)
        objects = 0
        for lines in self._capture(spec.endpoint, window):
            objects += 1
            analyzer.add_capture(lines, window=window)
        if analyzer.records == 0:
            raise _JobFailed(NO_DATA)
        report = analyzer.report()
        executed_at = self.clock.now()
        statistics_uri = violations_uri = None
        if spec.output_uri:
            folder = f"{spec.output_uri.rstrip('/')}/{spec.endpoint}/{name}/{scheduled:%Y/%m/%d/%H}"
            statistics_uri = self._put_json(f"{folder}/statistics.json", report.statistics())
            if baseline.config.evaluate_constraints:
                violations_uri = self._put_json(f"{folder}/constraint_violations.json", report.violations())
        metrics = report.metrics()
        publish = spec.environment.get("publish_cloudwatch_metrics", "Enabled").lower() != "disabled"
        if publish and baseline.config.emit_metrics and metrics:
            self._publish(spec.endpoint, name, metrics, executed_at)
        return MonitoringExecution(
            schedule_name=name,
            endpoint_name=spec.endpoint,
            job_definition_name=spec.name,
            scheduled_time=scheduled,
            executed_at=executed_at,
            window=window,
            status="CompletedWithViolations" if report.has_violations else "Completed",
            processing_job_arn=arn,
            metrics=metrics,
            statistics_uri=statistics_uri,
            violations_uri=violations_uri,
            capture_objects=objects,
            records=report.records,
            malformed_lines=report.malformed_lines,
            report=report,
        )

    def _record(self, execution: MonitoringExecution) -> None:
        statistics: dict[str, Any] = {
            "item_count": execution.records,
            "malformed_lines": execution.malformed_lines,
            "capture_objects": execution.capture_objects,
        }
        if execution.report is not None:
            statistics["violations"] = len(execution.report.violations()["violations"])
        for key, uri in (("statistics_uri", execution.statistics_uri), ("violations_uri", execution.violations_uri)):
            if uri:
                statistics[key] = uri
        statistics.update(execution.metrics)
        try:
            self.emulator.services["sagemaker"].record_execution(
                execution.schedule_name,
                status=execution.status,
                scheduled_time=execution.scheduled_time,
                failure_reason=execution.failure_reason,
                processing_job_arn=execution.processing_job_arn,
                monitoring_statistics=statistics,
            )
        except KeyError as exc:  # the schedule was deleted while its execution ran
            self._error(execution.schedule_name, exc)
        with self._state_lock:
            self._executions.append(execution)
            del self._executions[:-_KEEP_RECORDS]

    def _emit(self, event: dict[str, Any]) -> None:
        events = self.emulator.services.get("events")
        if events is None:
            return
        try:
            events.emit(event, account=self.emulator.account_id, region=self.emulator.region)
        except Exception as exc:  # SageMaker's job ran either way; the sandbox's failure is recorded
            self._error(event["detail"]["Environment"].get("sagemaker_monitoring_schedule_name"), exc)

    # ------------------------------------------------------------------------------------------ job inputs

    def _job_spec(self, described: dict[str, Any]) -> _JobSpec:
        config = described.get("MonitoringScheduleConfig", {})
        definition_name = config.get("MonitoringJobDefinitionName")
        if definition_name:
            try:
                job = self._client("sagemaker").describe_data_quality_job_definition(JobDefinitionName=definition_name)
            except ClientError as exc:
                raise _JobFailed(f"The job definition {definition_name} cannot be read: {exc}") from exc
            baseline = job.get("DataQualityBaselineConfig") or {}
            job_input = (job.get("DataQualityJobInput") or {}).get("EndpointInput") or {}
            output = ((job.get("DataQualityJobOutputConfig") or {}).get("MonitoringOutputs") or [{}])[0]
            app = job.get("DataQualityAppSpecification") or {}
            return _JobSpec(
                name=str(definition_name),
                endpoint=job_input.get("EndpointName") or described.get("EndpointName"),
                statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
                constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
                output_uri=(output.get("S3Output") or {}).get("S3Uri"),
                environment=dict(app.get("Environment") or {}),
                input_path=job_input.get("LocalPath") or _INPUT_PATH,
                output_path=(output.get("S3Output") or {}).get("LocalPath") or _OUTPUT_PATH,
                image_uri=app.get("ImageUri"),
                role_arn=job.get("RoleArn"),
                cluster_config=(job.get("JobResources") or {}).get("ClusterConfig"),
                stopping_condition=job.get("StoppingCondition"),
            )
        inline = config.get("MonitoringJobDefinition") or {}
        baseline = inline.get("BaselineConfig") or {}
        endpoint_input = ((inline.get("MonitoringInputs") or [{}])[0]).get("EndpointInput") or {}
        output = ((inline.get("MonitoringOutputConfig") or {}).get("MonitoringOutputs") or [{}])[0]
        return _JobSpec(
            name=None,
            endpoint=endpoint_input.get("EndpointName") or described.get("EndpointName"),
            statistics_uri=(baseline.get("StatisticsResource") or {}).get("S3Uri"),
            constraints_uri=(baseline.get("ConstraintsResource") or {}).get("S3Uri"),
            output_uri=(output.get("S3Output") or {}).get("S3Uri"),
            environment=dict(inline.get("Environment") or {}),
            input_path=endpoint_input.get("LocalPath") or _INPUT_PATH,
            output_path=(output.get("S3Output") or {}).get("LocalPath") or _OUTPUT_PATH,
            image_uri=(inline.get("MonitoringAppSpecification") or {}).get("ImageUri"),
            role_arn=inline.get("RoleArn"),
            cluster_config=(inline.get("MonitoringResources") or {}).get("ClusterConfig"),
            stopping_condition=inline.get("StoppingCondition"),
        )

    def _baseline(self, spec: _JobSpec) -> Baseline:
        if not spec.statistics_uri:
            # Without a baseline Model Monitor only profiles the data; nothing to compare, nothing to violate.
            return Baseline(features={}, config=MonitoringConfig(evaluate_constraints=False))
        statistics = self._get_json(spec.statistics_uri, "baseline statistics")
        constraints = self._get_json(spec.constraints_uri, "baseline constraints") if spec.constraints_uri else None
        try:
            return read_baseline(statistics, constraints)
        except BaselineInvalid as exc:
            raise _JobFailed(f"The baseline at {spec.statistics_uri} is not usable: {exc}") from exc

    def _capture(self, endpoint: str, window: Window) -> Iterator[Iterator[bytes]]:
        """The line iterators of every capture object that can hold records of the window."""
        destination = self._capture_destination(endpoint)
        bucket, prefix = _split_s3(destination)
        root = "/".join(p for p in (prefix.strip("/"), endpoint) if p) + "/"
        s3 = self._client("s3")
        token: str | None = None
        while True:
            try:
                page = s3.list_objects_v2(Bucket=bucket, Prefix=root, **_continuation(token))
            except ClientError as exc:
                raise _JobFailed(f"The capture destination {destination} cannot be listed: {exc}") from exc
            for item in page.get("Contents", []):
                if _may_hold(item["Key"], window):
                    yield s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].iter_lines()
            token = page.get("NextContinuationToken")
            if not token:
                return

    def _capture_destination(self, endpoint: str) -> str:
        sm = self._client("sagemaker")
        try:
            described = sm.describe_endpoint(EndpointName=endpoint)
            config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        except ClientError as exc:
            raise _JobFailed(f"The endpoint {endpoint} cannot be described: {exc}") from exc
        capture = config.get("DataCaptureConfig") or described.get("DataCaptureConfig") or {}
        destination = capture.get("DestinationS3Uri")
        if not destination:
            raise _JobFailed(NO_DATA)  # no capture configured: the job finds no input at all
        return str(destination)

    # ------------------------------------------------------------------------------------------------ I/O

    def _client(self, service: str) -> Any:
        return self.emulator.client(service)

    def _get_json(self, uri: str, what: str) -> Any:
        bucket, key = _split_s3(uri)
        try:
            body = self._client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
            return json.loads(body)
        except ClientError as exc:
            raise _JobFailed(f"The {what} at {uri} cannot be read: {exc}") from exc
        except ValueError as exc:
            raise _JobFailed(f"The {what} at {uri} is not JSON: {exc}") from exc

    def _put_json(self, uri: str, document: Any) -> str:
        bucket, key = _split_s3(uri)
        self._client("s3").put_object(
            Bucket=bucket, Key=key, Body=json.dumps(document, indent=1).encode(), ContentType="application/json"
        )
        return uri

    def _publish(self, endpoint: str, schedule: str, metrics: dict[str, float], when: datetime) -> None:
        dimensions = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]
        data = [
            {"MetricName": metric, "Dimensions": dimensions, "Timestamp": when, "Value": float(value), "Unit": "None"}
            for metric, value in metrics.items()
        ]
        cloudwatch = self.emulator.services.get("cloudwatch")
        for start in range(0, len(data), _METRICS_PER_PUT):
            chunk = data[start : start + _METRICS_PER_PUT]
            if cloudwatch is not None:
                cloudwatch.put_metric_data(DATA_METRICS_NAMESPACE, chunk)
            else:
                self._client("cloudwatch").put_metric_data(Namespace=DATA_METRICS_NAMESPACE, MetricData=chunk)

    def _tick_job(self) -> None:
        self.tick()  # tick() records its own errors; the ticker's catch-all is never reached


def install(emulator: Emulator, *, start_delay_seconds: float = 0.0) -> ModelMonitorEmulator:
    """Run data-quality monitoring schedules on the emulator's ticker, once a virtual minute."""
    monitor = ModelMonitorEmulator(emulator, start_delay_seconds=start_delay_seconds)
    emulator.ticker.every(TICKER_JOB, monitor.tick_seconds, monitor._tick_job)
    return monitor


# ------------------------------------------------------------------------------------ processing job event


def exit_message(execution: MonitoringExecution) -> str | None:
    """The ExitMessage Model Monitor's analyzer leaves on a completed job (None for a failed one)."""
    if execution.status == "Failed":
        return None
    violations = len(execution.report.violations()["violations"]) if execution.report is not None else 0
    if violations:
        return f"CompletedWithViolations: Job completed successfully with {violations} violations."
    return NO_VIOLATIONS


def _epoch_millis(moment: datetime) -> int:
    return round(_utc(moment).timestamp() * 1000)


def _iso_z(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_environment(
    execution: MonitoringExecution, spec: _JobSpec | None, described: dict[str, Any]
) -> dict[str, str]:
    """The environment Model Monitor gives its container (the contract's names), with the job's own on top."""
    start, end = execution.window
    environment = {
        "dataset_format": _CAPTURE_FORMAT,
        "dataset_source": spec.input_path if spec else _INPUT_PATH,
        "end_time": _iso_z(end),
        "output_path": spec.output_path if spec else _OUTPUT_PATH,
        "publish_cloudwatch_metrics": "Enabled",
        "sagemaker_endpoint_name": str(execution.endpoint_name or described.get("EndpointName") or ""),
        "sagemaker_monitoring_schedule_name": execution.schedule_name,
        "start_time": _iso_z(start),
    }
    if spec is not None:
        if spec.constraints_uri:
            environment["baseline_constraints"] = _BASELINE_CONSTRAINTS_PATH
        if spec.statistics_uri:
            environment["baseline_statistics"] = _BASELINE_STATISTICS_PATH
        environment.update(spec.environment)
    return environment


def processing_job_event(
    execution: MonitoringExecution, spec: _JobSpec | None, described: dict[str, Any], started: datetime
) -> dict[str, Any]:
    """The "SageMaker Processing Job State Change" event of the execution's processing job at its end."""
    _, _, _, region, account, resource = execution.processing_job_arn.split(":", 5)
    detail: dict[str, Any] = {"ProcessingJobName": resource.split("/", 1)[1]}
    if spec is not None and spec.cluster_config:
        detail["ProcessingResources"] = {"ClusterConfig": dict(spec.cluster_config)}
    if spec is not None and spec.stopping_condition:
        detail["StoppingCondition"] = dict(spec.stopping_condition)
    if spec is not None and spec.image_uri:
        detail["AppSpecification"] = {"ImageUri": spec.image_uri}
    detail["Environment"] = _container_environment(execution, spec, described)
    if spec is not None and spec.role_arn:
        detail["RoleArn"] = spec.role_arn
    detail["ProcessingJobArn"] = execution.processing_job_arn
    if execution.status == "Failed":
        detail["ProcessingJobStatus"] = "Failed"
        detail["FailureReason"] = execution.failure_reason or ""
    else:
        detail["ProcessingJobStatus"] = "Completed"
        detail["ExitMessage"] = exit_message(execution)
    ended = _epoch_millis(execution.executed_at)
    detail.update(
        {
            "ProcessingEndTime": ended,
            "ProcessingStartTime": _epoch_millis(started),
            "LastModifiedTime": ended,
            "CreationTime": _epoch_millis(started),
        }
    )
    if described.get("MonitoringScheduleArn"):
        detail["MonitoringScheduleArn"] = described["MonitoringScheduleArn"]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": PROCESSING_JOB_STATE_CHANGE,
        "source": "aws.sagemaker",
        "account": account,
        "time": _utc(execution.executed_at).timestamp(),
        "region": region,
        "resources": [execution.processing_job_arn],
        "detail": detail,
    }


# --------------------------------------------------------------------------------------------- helpers


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _token(token: str | None) -> dict[str, str]:
    return {"NextToken": token} if token else {}


def _continuation(token: str | None) -> dict[str, str]:
    return {"ContinuationToken": token} if token else {}


def _split_s3(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise _JobFailed(f"{uri} is not an s3:// URI")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _cron(expression: str) -> CronExpression:
    try:
        parsed = parse_schedule_expression(expression)
    except InvalidScheduleExpression as exc:
        raise _JobFailed(f"Invalid ScheduleExpression {expression}: {exc}") from exc
    if not isinstance(parsed, CronExpression):
        raise _JobFailed(f"Model Monitor schedules take cron() or NOW expressions, not {expression}")
    return parsed


def _latest_at_or_before(cron: CronExpression, moment: datetime) -> datetime:
    latest: datetime | None = None
    candidate = cron.next_after(moment - _DAY - _HOUR)
    while candidate is not None and candidate <= moment:
        latest, candidate = candidate, cron.next_after(candidate)
    if latest is None:
        raise _JobFailed("the schedule had no occurrence in the last day")
    return latest


def _previous_occurrence(cron: CronExpression, occurrence: datetime) -> datetime:
    """The occurrence before `occurrence` (Model Monitor's crons fire at least daily; a day back otherwise)."""
    previous = occurrence - _DAY
    candidate = cron.next_after(occurrence - _DAY - _HOUR)
    while candidate is not None and candidate < occurrence:
        previous, candidate = candidate, cron.next_after(candidate)
    return previous


def _offset(text: Any) -> timedelta:
    match = _OFFSET.match(str(text or ""))
    if match is None or not any(match.groups()):
        raise _JobFailed(f"{text!r} is not a negative ISO 8601 duration such as -PT1H")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return -timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _one_time_window(schedule_config: dict[str, Any], moment: datetime) -> Window:
    start = moment + _offset(schedule_config.get("DataAnalysisStartTime"))
    end = moment + _offset(schedule_config.get("DataAnalysisEndTime"))
    if start >= end:
        raise _JobFailed("DataAnalysisStartTime must be before DataAnalysisEndTime")
    return start, end


def _may_hold(key: str, window: Window) -> bool:
    """Whether a capture object's yyyy/mm/dd/hh folder can hold records of the window.

    A capture file is written at or after the inference time of its records (the sandbox data plane flushes every
    few minutes), so folders from the window's first hour through the hour the window ends in can hold its
    records; earlier folders cannot. A key without a readable hour is read. Unreadable lines are counted by every
    execution that reads their file.
    """
    parts = key.split("/")
    if len(parts) < 5:
        return True
    try:
        year, month, day, hour_of_day = (int(p) for p in parts[-5:-1])
        hour = datetime(year, month, day, hour_of_day, tzinfo=UTC)
    except ValueError:
        return True
    start, end = window
    return start.replace(minute=0, second=0, microsecond=0) <= hour <= end


def _processing_job_name(schedule: str, scheduled: datetime) -> str:
    digest = hashlib.sha256(f"{schedule}@{scheduled.isoformat()}".encode()).hexdigest()[:8]
    return f"model-monitoring-{scheduled:%Y%m%d%H%M}-{digest}"
