"""Model Monitor's baselining job, emulated: a processing job that really reads its dataset and writes a baseline.

moto 5.2.5 stores every CreateProcessingJob as `Completed` the moment it is created and runs nothing, so
`DefaultModelMonitor.suggest_baseline` (the sagemaker SDK) finds no statistics.json afterwards. Here a
CreateProcessingJob that is a Model Monitor baselining job, recognised the way the analyzer container
recognises its work:

- AppSpecification.ImageUri names the analyzer (`sagemaker-model-monitor-analyzer`), and
- Environment holds the baselining contract the SDK writes: `dataset_format`, `dataset_source` (the LocalPath
  of one ProcessingInput, /opt/ml/processing/input/baseline_dataset_input) and `output_path` (the LocalPath of
  one ProcessingOutput, /opt/ml/processing/output), and no monitoring schedule names (those belong to the
  executions of a schedule, which mlrollout_sandbox.emulator.monitor runs),

runs as SageMaker runs it, on sandbox time:

1. CreateProcessingJob checks what SageMaker checks before accepting it: a unique job name, a role that exists
   and trusts sagemaker.amazonaws.com. The job is `InProgress` from its CreationTime; it gets a
   ProcessingStartTime once its instance is provisioned (`startup_seconds`, default 2 minutes) and ends
   `run_seconds` (default 2 minutes) later. DescribeProcessingJob and ListProcessingJobs show every time on the
   sandbox clock, and what moto drops (Environment, ProcessingResources).
2. At its end the job reads the dataset: every object under the input's S3Uri (S3DataType S3Prefix: the URI of
   one object is also the prefix of that object), decodes and checks each as `mlrollout baseline` checks a
   sample (mlrollout_files.samples: UTF-8, a CSV header row naming every column once, one JSON object per
   line), and builds the baseline from all of them with `mlrollout.domain.drift.build_baseline`.
3. It writes statistics.json and constraints.json under the output's S3Uri and ends `Completed` with the
   analyzer's ExitMessage ("Completed: Job completed successfully with no violations.").
4. A dataset that cannot be read or parsed ends the job `Failed` with a FailureReason that says why:
   "ClientError: No S3 objects found under S3 URL ..." (SageMaker's own words) when nothing is under the input
   URI, "AlgorithmError: <object>: <the problem and the fix>" when an object is not a usable sample,
   "ClientError: ..." when the output cannot be written. Nothing is written for a failed job.
5. Each status change puts a "SageMaker Processing Job State Change" event on the default EventBridge bus: its
   detail is what DescribeProcessingJob shows, times in epoch milliseconds.
6. StopProcessingJob stops a job in progress (`Stopped`, nothing written) and refuses one that has ended.

Jobs are settled lazily whenever one is described or listed, and by a ticker job, so the outputs appear
within a tick of sandbox time even when nobody looks. Every other processing job keeps moto's behaviour.

What is not emulated, named:
- Options of the baselining job the sandbox cannot honour are refused at CreateProcessingJob with
  SandboxUnsupportedOperation rather than ignored: CSV without a header row, JSON that is not JSON lines,
  Parquet, a record preprocessor or post-analytics script, an analysis other than data quality (model quality
  baselines), ManifestFile inputs, Pipe mode, Gzip input, a dataset from Athena or Redshift.
- The statistics are the drift module's: exact equal-width histograms (10 buckets) instead of KLL sketches,
  and JSON lines read as `mlrollout baseline` reads them (a record's "features" object, when it has one, is
  the record). Each object under the prefix must be a valid sample on its own (its own header row).
- The job reads and writes S3 with the sandbox's credentials, not the role's: the role's own policies are not
  evaluated. No CloudWatch logs, metrics or instance limits; StoppingCondition is shown, not enforced.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeProcessingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.utils import get_partition

from mlrollout.adapters.artifacts import S3Artifacts, split_uri
from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.drift import DEFAULT_BINS
from mlrollout_files.samples import SampleBaseline, SampleInvalid, baseline_from_sample, decode
from mlrollout_sandbox.emulator.monitor import NO_VIOLATIONS, PROCESSING_JOB_STATE_CHANGE
from mlrollout_sandbox.emulator.sagemaker import SandboxUnsupported

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

__all__ = [
    "ANALYZER_REPOSITORY",
    "DEFAULT_RUN_SECONDS",
    "DEFAULT_STARTUP_SECONDS",
    "BaseliningSpec",
    "ProcessingService",
    "baselining_spec",
    "install",
]

log = logging.getLogger(__name__)

ANALYZER_REPOSITORY = "sagemaker-model-monitor-analyzer"
DEFAULT_STARTUP_SECONDS = 120.0
DEFAULT_RUN_SECONDS = 120.0
SETTLE_JOB = "sagemaker:processing-jobs"
IN_PROGRESS = "InProgress"
_BASELINING_ENVIRONMENT = ("dataset_format", "dataset_source", "output_path")
# Set by Model Monitor on the processing jobs of a schedule's executions, never by a baselining job.
_SCHEDULE_ENVIRONMENT = ("sagemaker_monitoring_schedule_name", "sagemaker_endpoint_name")
_DATA_QUALITY = "DATA_QUALITY"
_MAX_FAILURE_REASON = 1024
_SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"

SampleFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class BaseliningSpec:
    """What a baselining job reads and where it writes, from its CreateProcessingJob request."""

    dataset_format: SampleFormat
    dataset_uri: str | None  # the S3Uri of the input mounted at dataset_source; None when no input is
    dataset_source: str
    output_uri: str | None  # the S3Uri of the output uploaded from output_path; None when no output is


@dataclass
class _Job:
    name: str
    arn: str
    role_arn: str
    spec: BaseliningSpec
    fake: Any  # moto's FakeProcessingJob, given the attributes DescribeProcessingJob shows and moto lacks
    created: float
    starts: float
    due: float
    status: str = IN_PROGRESS
    lock: threading.Lock = field(default_factory=threading.Lock)


class _JobFailed(Exception):
    """A failure the real job would also have: the job ends Failed with this FailureReason."""


class ProcessingService:
    """The baselining jobs the sandbox runs; durations are virtual seconds, for jobs created later."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.clock: SandboxClock = emulator.clock
        self.startup_seconds = DEFAULT_STARTUP_SECONDS
        self.run_seconds = DEFAULT_RUN_SECONDS
        self.errors: list[tuple[str, str]] = []  # (job name, "ErrorType: message") for failures of the sandbox
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # by job ARN (carries account and region)

    # ------------------------------------------------------------------------------------------- requests

    def create(
        self, response: SageMakerResponse, moto: Callable[[SageMakerResponse], ActionResult], spec: BaseliningSpec
    ) -> ActionResult:
        backend = response.sagemaker_backend
        name = str(response._get_param("ProcessingJobName"))
        role_arn = str(response._get_param("RoleArn") or "")
        arn = FakeProcessingJob.arn_formatter(name, backend.account_id, backend.region_name)
        with self._lock:
            if arn in self._jobs or name in backend.processing_jobs:
                raise ValidationError(
                    "Job name must be unique within an AWS account and region, and a job with this name already "
                    f"exists ({arn})"
                )
            _check_role(backend, role_arn)
            result = moto(response)
            fake: Any = backend.processing_jobs[name]
            now = self.clock.time()
            created = _naive(now)
            fake.creation_time = fake.last_modified_time = created
            fake.processing_end_time = None
            fake.processing_job_status = IN_PROGRESS
            # moto drops these; DescribeProcessingJob shows them.
            fake.environment = dict(response._get_param("Environment") or {})
            fake.processing_resources = response._get_param("ProcessingResources")
            job = _Job(
                name=name,
                arn=arn,
                role_arn=role_arn,
                spec=spec,
                fake=fake,
                created=now,
                starts=now + self.startup_seconds,
                due=now + self.startup_seconds + self.run_seconds,
            )
            self._jobs[arn] = job
        with job.lock:
            self._emit(job)
        return result

    def describe(self, backend: SageMakerModelBackend, name: str, moto: Callable[..., Any]) -> Any:
        job = self._find(backend, name)
        if job is None:
            return moto(backend, name)
        with job.lock:
            self._settle(job)
            return moto(backend, name)

    def list_jobs(self, backend: SageMakerModelBackend, moto: Callable[..., Any], **kwargs: Any) -> Any:
        # StatusEquals must see settled statuses.
        for job in self._jobs_of(backend):
            with job.lock:
                self._settle(job)
        return moto(backend, **kwargs)

    def stop(self, backend: SageMakerModelBackend, name: str, moto: Callable[..., Any]) -> None:
        job = self._find(backend, name)
        if job is None:
            moto(backend, name)
            return
        with job.lock:
            self._settle(job)
            if job.status != IN_PROGRESS:
                raise ValidationError(f"The request was rejected because the processing job is in status {job.status}.")
            self._end(job, "Stopped", self.clock.time(), exit_message=None, failure_reason=None)

    # -------------------------------------------------------------------------------------------- settling

    def settle_due(self) -> None:
        """Ends every job whose time has come (the ticker's job; also callable from tests)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            with job.lock:
                self._settle(job)

    def _settle(self, job: _Job) -> None:
        """Under job.lock: applies what sandbox time has brought (start, then the end and its outputs)."""
        if job.status != IN_PROGRESS:
            return
        now = self.clock.time()
        if now >= job.starts and getattr(job.fake, "processing_start_time", None) is None:
            job.fake.processing_start_time = job.fake.last_modified_time = _naive(job.starts)
        if now < job.due:
            return
        try:
            self._analyse(job)
        except _JobFailed as failure:
            self._end(job, "Failed", job.due, exit_message=None, failure_reason=str(failure))
            return
        except Exception as exc:  # the sandbox's own failure: recorded, and the job fails saying so
            log.exception("sandbox baselining job %s failed", job.name)
            self.errors.append((job.name, f"{type(exc).__name__}: {exc}"))
            reason = f"InternalServerError: the sandbox analyzer failed: {type(exc).__name__}: {exc}"
            self._end(job, "Failed", job.due, exit_message=None, failure_reason=reason)
            return
        self._end(job, "Completed", job.due, exit_message=NO_VIOLATIONS, failure_reason=None)

    def _end(self, job: _Job, status: str, at: float, *, exit_message: str | None, failure_reason: str | None) -> None:
        job.status = status
        fake = job.fake
        fake.processing_job_status = status
        fake.processing_end_time = fake.last_modified_time = _naive(at)
        fake.exit_message = exit_message
        fake.failure_reason = failure_reason[:_MAX_FAILURE_REASON] if failure_reason else None
        self._emit(job)

    # ----------------------------------------------------------------------------------------- the analyzer

    def _analyse(self, job: _Job) -> None:
        spec = job.spec
        if spec.dataset_uri is None:
            raise _JobFailed(
                f"AlgorithmError: dataset_source {spec.dataset_source} is not the LocalPath of any ProcessingInput: "
                "the analyzer found no dataset there"
            )
        texts = self._read_dataset(spec.dataset_uri, job.role_arn)
        # Each object is checked on its own, so that a failure names the object and its own line numbers.
        results = [_sample_baseline(uri, text, spec.dataset_format) for uri, text in texts]
        result = results[0]
        if len(texts) > 1:
            result = _sample_baseline(spec.dataset_uri, _combine(texts, spec.dataset_format), spec.dataset_format)
        if spec.output_uri is None:
            return  # the container wrote its files where no ProcessingOutput uploads them from
        bucket, prefix = split_uri(spec.output_uri)
        folder = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        artifacts = S3Artifacts(self._client("s3"))
        try:
            artifacts.put_json(bucket, f"{folder}statistics.json", result.statistics)
            artifacts.put_json(bucket, f"{folder}constraints.json", result.constraints)
        except ClientError as exc:
            raise _JobFailed(
                f"ClientError: Failed to upload the output to {spec.output_uri} ({error_code(exc)}: "
                f"{error_message(exc)}); the role {job.role_arn} needs s3:PutObject on it"
            ) from exc

    def _read_dataset(self, uri: str, role_arn: str) -> list[tuple[str, str]]:
        """(object URI, text) of every object under the input URI, in key order."""
        bucket, prefix = split_uri(uri)
        artifacts = S3Artifacts(self._client("s3"))
        try:
            keys = [key for key in sorted(artifacts.keys(bucket, prefix)) if not key.endswith("/")]
        except ClientError as exc:
            if error_code(exc) != "NoSuchBucket":
                raise _JobFailed(f"ClientError: Cannot list {uri} ({error_code(exc)}: {error_message(exc)})") from exc
            keys = []
        if not keys:
            raise _JobFailed(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure '
                f"that the bucket exists in the selected region ({self.emulator.region}), that objects exist under "
                f'that S3 prefix, and that the role "{role_arn}" has "s3:ListBucket" permissions on bucket '
                f'"{bucket}".'
            )
        texts: list[tuple[str, str]] = []
        for key in keys:
            object_uri = f"s3://{bucket}/{key}"
            try:
                data = artifacts.open(bucket, key).read()
            except (ClientError, BotoCoreError) as exc:
                raise _JobFailed(f"ClientError: Cannot read {object_uri}: {exc}") from exc
            try:
                texts.append((object_uri, decode(data)))
            except SampleInvalid as exc:
                raise _JobFailed(f"AlgorithmError: {object_uri}: {exc}") from exc
        return texts

    # --------------------------------------------------------------------------------------------- helpers

    def _find(self, backend: SageMakerModelBackend, name: str) -> _Job | None:
        arn = FakeProcessingJob.arn_formatter(name, backend.account_id, backend.region_name)
        with self._lock:
            return self._jobs.get(arn)

    def _jobs_of(self, backend: SageMakerModelBackend) -> list[_Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.fake is backend.processing_jobs.get(job.name)]

    def _emit(self, job: _Job) -> None:
        events = self.emulator.services.get("events")  # looked up per event: installed after this module
        if events is None:
            return
        detail = {key: _event_value(value) for key, value in job.fake.response_object.items() if key != "Tags"}
        _, _, _, region, account, _ = job.arn.split(":", 5)
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": PROCESSING_JOB_STATE_CHANGE,
            "source": "aws.sagemaker",
            "account": account,
            "time": job.fake.last_modified_time.replace(tzinfo=UTC).timestamp(),
            "region": region,
            "resources": [job.arn],
            "detail": detail,
        }
        try:
            events.emit(event, account=account, region=region)
        except Exception as exc:  # the job ran either way; the sandbox's failure is recorded
            log.exception("state change event of %s not sent", job.name)
            self.errors.append((job.name, f"{type(exc).__name__}: {exc}"))

    def _client(self, service: str) -> Any:
        return self.emulator.client(service)


# ------------------------------------------------------------------------------------------- the request


def baselining_spec(params: Mapping[str, Any]) -> BaseliningSpec | None:
    """The baselining job a CreateProcessingJob request asks for; None when it is not a Model Monitor baselining
    job (moto keeps it). Raises SandboxUnsupported for a baselining option the sandbox does not emulate."""
    image = str((params.get("AppSpecification") or {}).get("ImageUri") or "")
    environment = params.get("Environment") or {}
    if ANALYZER_REPOSITORY not in image or any(name not in environment for name in _BASELINING_ENVIRONMENT):
        return None
    if any(name in environment for name in _SCHEDULE_ENVIRONMENT):
        return None
    analysis = str(environment.get("analysis_type") or _DATA_QUALITY)
    if analysis != _DATA_QUALITY:
        raise SandboxUnsupported(f"the sandbox's Model Monitor baselines data quality only, not {analysis}")
    for script in ("record_preprocessor_script", "post_analytics_processor_script"):
        if script in environment:
            raise SandboxUnsupported(f"the sandbox's Model Monitor baselining job does not run a {script}")
    dataset_source = str(environment["dataset_source"]).rstrip("/")
    output_path = str(environment["output_path"]).rstrip("/")
    dataset_uri = None
    for processing_input in params.get("ProcessingInputs") or []:
        s3_input = processing_input.get("S3Input")
        local_path = str((s3_input or processing_input.get("DatasetDefinition") or {}).get("LocalPath") or "")
        if local_path.rstrip("/") != dataset_source:
            continue
        if s3_input is None:
            raise SandboxUnsupported("the sandbox's baselining job reads its dataset from S3, not Athena or Redshift")
        _check_s3_input(s3_input)
        dataset_uri = str(s3_input["S3Uri"])
    output_uri = None
    for output in (params.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        s3_output = output.get("S3Output") or {}
        if str(s3_output.get("LocalPath") or "").rstrip("/") == output_path:
            output_uri = str(s3_output["S3Uri"])
    return BaseliningSpec(
        dataset_format=_dataset_format(environment["dataset_format"]),
        dataset_uri=dataset_uri,
        dataset_source=dataset_source,
        output_uri=output_uri,
    )


def _dataset_format(text: Any) -> SampleFormat:
    try:
        described = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"Environment dataset_format is not JSON: {text!r}") from exc
    if isinstance(described, dict) and isinstance(described.get("csv"), dict):
        if described["csv"].get("header") is not True:
            raise SandboxUnsupported("the sandbox's baselining job reads CSV with a header row (csv.header true)")
        return "csv"
    if isinstance(described, dict) and isinstance(described.get("json"), dict):
        if described["json"].get("lines") is not True:
            raise SandboxUnsupported("the sandbox's baselining job reads JSON lines (json.lines true) only")
        return "jsonl"
    raise SandboxUnsupported(f"the sandbox's baselining job reads CSV or JSON lines, not dataset_format {text}")


def _check_s3_input(s3_input: Mapping[str, Any]) -> None:
    unsupported = {
        "S3DataType": ("S3Prefix", "ManifestFile inputs"),
        "S3InputMode": ("File", "Pipe mode"),
        "S3CompressionType": ("None", "compressed input"),
    }
    for name, (supported, what) in unsupported.items():
        if s3_input.get(name, supported) != supported:
            raise SandboxUnsupported(f"the sandbox's baselining job does not read {what} ({name} {s3_input[name]})")


def _check_role(backend: SageMakerModelBackend, role_arn: str) -> None:
    """SageMaker refuses a job whose role it cannot assume."""
    refusal = ValidationError(
        f"Could not assume role {role_arn}. Please ensure that the role exists and allows principal "
        f"'{_SAGEMAKER_PRINCIPAL}' to assume the role."
    )
    iam = iam_backends[backend.account_id][get_partition(backend.region_name)]
    try:
        role = iam.get_role_by_arn(role_arn)
    except Exception as exc:  # moto's IAM NotFoundException
        raise refusal from exc
    try:
        trust = json.loads(role.assume_role_policy_document or "{}")
    except ValueError as exc:
        raise refusal from exc
    statements = trust.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (statement.get("Principal") or {}).get("Service", [])
        actions = statement.get("Action", [])
        if (
            statement.get("Effect") == "Allow"
            and _SAGEMAKER_PRINCIPAL in (services if isinstance(services, list) else [services])
            and "sts:AssumeRole" in (actions if isinstance(actions, list) else [actions])
        ):
            return
    raise refusal


def _sample_baseline(uri: str, text: str, dataset_format: SampleFormat) -> SampleBaseline:
    try:
        return baseline_from_sample(text, dataset_format, bins=DEFAULT_BINS)
    except SampleInvalid as exc:
        raise _JobFailed(f"AlgorithmError: {uri}: {exc}") from exc


def _combine(texts: list[tuple[str, str]], dataset_format: SampleFormat) -> str:
    """One sample of every object: CSV keeps the first header row (each object's must be the same)."""
    if dataset_format == "jsonl":
        return "\n".join(text for _, text in texts)
    first_uri, first = texts[0]
    header, _, _ = first.partition("\n")
    parts = [first.rstrip("\n")]
    for uri, text in texts[1:]:
        own, _, rows = text.partition("\n")
        if own.strip() != header.strip():
            raise _JobFailed(
                f"AlgorithmError: {uri}: its header row ({own.strip()}) is not the header row of {first_uri} "
                f"({header.strip()}); the objects of one dataset must have the same columns"
            )
        if rows.strip():
            parts.append(rows.rstrip("\n"))
    return "\n".join(parts) + "\n"


def _naive(ts: float) -> datetime:
    """moto keeps naive UTC datetimes; SageMaker's times have millisecond precision (the API's and the events')."""
    return datetime.fromtimestamp(round(ts, 3), UTC).replace(tzinfo=None)


def _event_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return round(value.replace(tzinfo=UTC).timestamp() * 1000)
    return value


# ------------------------------------------------------------------------------------------------ install


def install(emulator: Emulator, patcher: Patcher) -> ProcessingService:
    service = ProcessingService(emulator)
    moto: dict[str, Callable[..., Any]] = {}  # what each patch replaced, to delegate to

    def create_processing_job(self: SageMakerResponse) -> ActionResult:
        params = {
            name: self._get_param(name)
            for name in ("AppSpecification", "Environment", "ProcessingInputs", "ProcessingOutputConfig")
        }
        spec = baselining_spec(params)
        if spec is None:
            result: ActionResult = moto["create"](self)
            return result
        return service.create(self, moto["create"], spec)

    def describe_processing_job(backend: SageMakerModelBackend, processing_job_name: str) -> Any:
        return service.describe(backend, processing_job_name, moto["describe"])

    def list_processing_jobs(backend: SageMakerModelBackend, **kwargs: Any) -> Any:
        return service.list_jobs(backend, moto["list"], **kwargs)

    def stop_processing_job(backend: SageMakerModelBackend, processing_job_name: str) -> None:
        service.stop(backend, processing_job_name, moto["stop"])

    moto["create"] = patcher.replace(SageMakerResponse, "create_processing_job", create_processing_job)
    moto["describe"] = patcher.replace(SageMakerModelBackend, "describe_processing_job", describe_processing_job)
    moto["list"] = patcher.replace(SageMakerModelBackend, "list_processing_jobs", list_processing_jobs)
    moto["stop"] = patcher.replace(SageMakerModelBackend, "stop_processing_job", stop_processing_job)
    emulator.ticker.every(SETTLE_JOB, 5.0, service.settle_due)
    return service
