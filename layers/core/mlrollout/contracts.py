"""The data the state machine passes between states: one definition shared by handlers, ASL and tests.

Every Lambda's input is one of the `*Input` models (built by the ASL's JSONata `Payload`), and its output is
the model the ASL stores in a variable. Field names are snake_case because the ASL reads them as
`$rollout.deployment_id`, `$deployment.endpoint_name`, and so on.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from mlrollout.domain.alerts import EventType
from mlrollout.domain.config import RolloutConfig
from mlrollout.domain.errors import ArtifactInvalid
from mlrollout.domain.judge import Verdict
from mlrollout.domain.policy import Action


class Contract(BaseModel):
    # Schemas are built on first use, so a function pays only for the contracts it reads.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Upload(Contract):
    """The object an S3 "Object Created" EventBridge event is about."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    event_time: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Upload:
        detail = event.get("detail") if isinstance(event, dict) else None
        try:
            assert isinstance(detail, dict)
            return cls(
                bucket=detail["bucket"]["name"],
                key=detail["object"]["key"],
                version_id=detail["object"].get("version-id"),
                size=detail["object"].get("size"),
                event_time=str(event.get("time")) if event.get("time") is not None else None,
            )
        except (AssertionError, KeyError, TypeError) as exc:
            raise ArtifactInvalid(
                f"the execution input is not an S3 'Object Created' EventBridge event (missing {exc})",
                fix="start rollouts by uploading to the artifact bucket, or pass a copy of such an event",
            ) from None


class Artifact(Contract):
    bucket: str
    key: str
    version_id: str | None
    size: int
    sha256: str
    files: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Rollout(Contract):
    deployment_id: str
    execution_id: str
    model_name: str
    version_label: str
    endpoint_name: str
    artifact: Artifact
    config: RolloutConfig
    steps: list[float] = Field(description="Candidate traffic percentage of each canary step, resolved from config")
    metadata: dict[str, str] = Field(default_factory=dict)
    started_at: datetime


class Registration(Contract):
    group_name: str
    package_arn: str
    package_version: int


class Expectation(Contract):
    """What the endpoint must look like when SageMaker reports InService: config and traffic shares."""

    config_name: str
    weights: dict[str, float]
    # The longest the change may take before it counts as stuck; None: the stack's EndpointWaitMinutes.
    wait_seconds: int | None = None


class PhasePlan(Contract):
    """One phase of the plan's estimate (domain/estimate.py): expected minutes to its decision for a healthy
    candidate, None if not within a day."""

    phase: str
    kind: Literal["shadow", "step", "history"]
    percent: float
    minutes: float | None
    # The deadline the phase runs with: the config's, or longer at low traffic (domain/estimate.traffic_deadline).
    deadline_minutes: float
    within_deadline: bool
    why: str
    # The config's deadline, when the plan extended it for this traffic.
    default_deadline_minutes: float | None = None

    def describe(self) -> str:
        took = f"~{self.minutes:g} min" if self.minutes is not None else "more than a day"
        late = "" if self.within_deadline else f", past its {self.deadline_minutes:g}-minute deadline"
        extended = (
            f"; deadline {self.deadline_minutes:g} min at this traffic (default {self.default_deadline_minutes:g})"
            if self.default_deadline_minutes is not None
            else ""
        )
        return f"{took} ({self.why}{late}{extended})"


class EstimateOption(Contract):
    change: str
    total_minutes: float | None
    decides_in_time: bool


class PlanEstimate(Contract):
    """How long Plan expects the rollout to take at the current variant's recent traffic, or why it could not say
    (`unavailable`: the rollout goes on without an estimate)."""

    requests_per_minute: float | None = None
    error_rate: float | None = None
    traffic_minutes: int | None = None
    phases: list[PhasePlan] = Field(default_factory=list)
    total_minutes: float | None = None
    decides_in_time: bool | None = None
    warning: str | None = None
    options: list[EstimateOption] = Field(default_factory=list)
    unavailable: str | None = None

    def summary(self) -> str:
        if self.unavailable:
            return f"no estimate: {self.unavailable}"
        total = f"~{self.total_minutes:g} min" if self.total_minutes is not None else "no promotion expected"
        return (
            f"{total} to promote a healthy candidate at {self.requests_per_minute or 0:.0f} requests/minute "
            f"({self.error_rate or 0:.2%} errors, last {self.traffic_minutes} min)"
        )

    def deadline_for(self, *, shadow: bool, step_index: int, history: bool = False) -> float | None:
        """The deadline Plan set for the shadow phase, a step or the judgement against history (None: no estimate,
        or no such phase in it)."""
        kind = "history" if history else "shadow" if shadow else "step"
        phases = [p for p in self.phases if p.kind == kind]
        index = 0 if shadow or history else step_index
        return phases[index].deadline_minutes if 0 <= index < len(phases) else None

    def lines(self) -> list[str]:
        """The estimate in a few lines, as the CLI shows it: the summary, each phase, the warning."""
        lines = [self.summary()] + [f"{phase.phase}: {phase.describe()}" for phase in self.phases]
        return lines + ([f"WARNING: {self.warning}"] if self.warning else [])


class VariantScaling(Contract):
    """The current variant's Application Auto Scaling registration as Plan found it: what Promote carries over to
    the promoted variant and Roll Back restores. `policies` are as PutScalingPolicy takes them (no ARN, alarms or
    resource ids); `live_instance_count` is DescribeEndpoint's CurrentInstanceCount at Plan."""

    variant: str
    instance_type: str | None = None
    min_capacity: int
    max_capacity: int
    suspended_state: dict[str, bool] | None = None
    policies: list[dict[str, Any]] = Field(default_factory=list)
    live_instance_count: int | None = None


class Deployment(Contract):
    endpoint_name: str
    first_deployment: bool
    candidate_variant: str
    candidate_model: str
    canary_config: str
    final_config: str
    # The config of the shadow phase (the current variant serving, the candidate as its shadow), when there is one.
    shadow_config: str | None = None
    previous_config: str | None = None
    current_variant: str | None = None
    current_model: str | None = None
    expected: Expectation
    estimate: PlanEstimate | None = None
    # The current variant's auto scaling, when it is a scalable target; None for a fixed-size variant.
    scaling: VariantScaling | None = None
    # The candidate replaces the current variant at once (a serverless endpoint serves one variant) and is judged
    # against the endpoint's own history: its minutes since the switch against the current variant's before it.
    against_history: bool = False

    @property
    def rollout_configs(self) -> tuple[str, ...]:
        """Every endpoint config this rollout creates."""
        return tuple(c for c in (self.canary_config, self.final_config, self.shadow_config) if c)


class Failure(Contract):
    """A caught error as the ASL hands it over: Step Functions' Error and Cause, and the failing state."""

    error: str
    cause: str | None = None
    state: str | None = None

    @property
    def reason(self) -> str:
        """The human sentence: a Lambda's error message, an AWS error text, or the error name."""
        if self.cause:
            try:
                payload = json.loads(self.cause)
            except ValueError:
                return self.cause
            if isinstance(payload, dict) and payload.get("errorMessage"):
                return str(payload["errorMessage"])
            return self.cause
        return f"{self.error} in {self.state}" if self.state else self.error


class ValidateInput(Contract):
    event: dict[str, Any]
    execution_id: str
    now: datetime


class RegisterInput(Contract):
    rollout: Rollout
    now: datetime


class PlanInput(Contract):
    rollout: Rollout
    registration: Registration
    now: datetime


class DeployInput(Contract):
    rollout: Rollout
    registration: Registration
    deployment: Deployment
    now: datetime


class PreTrafficInput(Contract):
    rollout: Rollout
    deployment: Deployment
    now: datetime


class PreTrafficResult(Contract):
    status: Literal["passed", "skipped"]
    detail: str
    latency_ms: float | None = None


class JudgeOutput(Contract):
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    # advance/continue/hold/rollback: the judge's; promote/abort: an operator's request, read at this look.
    action: Literal["advance", "continue", "hold", "rollback", "promote", "abort"]
    reason: str
    step_index: int
    weight: float
    elapsed_seconds: float
    held_since_seconds: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    looks: int = 1
    checks: list[dict[str, Any]] = Field(default_factory=list)
    record_uri: str | None = None
    shadow: bool = False  # a look of the shadow phase (step_index 0, weight 0: the candidate serves no user)


class JudgeInput(Contract):
    rollout: Rollout
    deployment: Deployment
    step_index: int
    shadow: bool = False  # the shadow phase, before step 0
    step_started_at: datetime
    # When the evidence began (the shadow phase's start, or the first step's): every look judges all of it since
    # (None: this step's own).
    evidence_started_at: datetime | None = None
    # Judged against the endpoint's history (Deployment.against_history): when the switch was requested, the end
    # of the current variant's minutes the candidate's are compared with.
    history_before: datetime | None = None
    previous: JudgeOutput | None = None
    now: datetime


class ApprovalInput(Contract):
    """Request Approval (manual approval): the task token Step Functions waits on, and what the operator is asked."""

    rollout: Rollout
    registration: Registration | None = None
    deployment: Deployment
    task_token: str = Field(min_length=1)
    execution_id: str
    now: datetime


class AwaitInput(Contract):
    """An Await state (lambda:invoke.waitForTaskToken): the change it waits for and the token that ends the wait.

    `changed_at` is when the change was requested: the wait's time limit runs from there, across the re-checks."""

    rollout: Rollout
    deployment: Deployment
    expected: Expectation
    task_token: str = Field(min_length=1)
    changed_at: datetime


class AwaitResult(Contract):
    endpoint: str
    state: Literal["ready", "waiting", "failed"]
    cause: str = ""
    # False when the task no longer waited for this token (a re-check or an event answered it first).
    answered: bool = False


class ApprovalRequest(Contract):
    deployment_id: str
    expires_at: datetime
    recorded: bool
    message_id: str | None = None


class PromoteInput(Contract):
    rollout: Rollout
    deployment: Deployment
    now: datetime


class FinalizeInput(Contract):
    rollout: Rollout
    registration: Registration
    deployment: Deployment
    judgement: JudgeOutput | None = None
    now: datetime


class FinalizeResult(Contract):
    approved: bool
    summary: str
    deleted: list[str] = Field(default_factory=list)
    # What became of the current variant's auto scaling on the promoted variant (None: it had none).
    scaling: str | None = None


class MonitoringInput(Contract):
    rollout: Rollout
    registration: Registration
    deployment: Deployment
    now: datetime


class MonitoringResult(Contract):
    status: Literal["attached", "skipped"]
    detail: str
    schedule: str | None = None
    job_definition: str | None = None
    alarms: list[str] = Field(default_factory=list)


class RollbackResult(Contract):
    status: Literal["waiting", "done", "failed"]
    step: str
    reason: str
    verified: bool = False
    observed: dict[str, Any] = Field(default_factory=dict)


class RollbackInput(Contract):
    rollout: Rollout
    registration: Registration | None = None
    deployment: Deployment
    failure: Failure
    previous: RollbackResult | None = None
    now: datetime


class RejectInput(Contract):
    rollout: Rollout | None = None
    registration: Registration | None = None
    failure: Failure
    now: datetime


class NotifyInput(Contract):
    event: EventType
    execution_id: str
    now: datetime
    upload_event: dict[str, Any] | None = None
    rollout: Rollout | None = None
    registration: Registration | None = None
    deployment: Deployment | None = None
    failure: Failure | None = None
    judgement: JudgeOutput | None = None
    monitoring: MonitoringResult | None = None
    rollback: RollbackResult | None = None
    step: int | None = Field(None, description="The canary step (0-based) a step_shifted event is about")

    def dedupe_key(self) -> dict[str, Any]:
        """What makes this notification the same one again: the deployment (of this upload of the artifact:
        a re-upload is a new S3 version), the event and the step. A retry or a duplicate delivery of the same
        upload repeats it; a deliberate re-upload does not."""
        if self.rollout is not None:
            about = {"deployment": self.rollout.deployment_id, "upload": self.rollout.artifact.version_id}
        else:
            upload = (self.upload_event or {}).get("detail") or {}
            about = {"upload": json.dumps(upload, sort_keys=True, default=str)} if upload else {}
            about = about or {"execution": self.execution_id}
        return {**about, "event": self.event.value, "step": self.step}


class NotifyResult(Contract):
    message_id: str
    subject: str


class DriftThresholds(Contract):
    psi: float
    js: float
    missing_rate: float


class DriftRunInput(Contract):
    """What the builtin backend's schedule sends the Detect Drift function each run (set by Attach Monitoring)."""

    endpoint: str
    model_name: str
    version_label: str
    deployment_id: str
    baseline_statistics: str
    baseline_constraints: str | None = None
    capture_uri: str = Field(description="The endpoint config's capture destination (s3://bucket/prefix)")
    period_seconds: int = Field(gt=0)
    thresholds: DriftThresholds
    features: list[str] | None = None
    min_records: int = Field(100, ge=1)
    scheduled_time: datetime | None = Field(
        None, description="EventBridge Scheduler's <aws.scheduler.scheduled-time>: the window ends here"
    )


class DriftRunResult(Contract):
    endpoint: str
    window_start: datetime
    window_end: datetime
    files: int
    records: int
    malformed: int
    drifted: list[str]
    schema_violations: int
    report_uri: str | None
    published: int


class ClaimInput(Contract):
    rollout: Rollout
    now: datetime


class ClaimResult(Contract):
    duplicate: bool
    deployment_id: str
    first_execution: str | None = None
    state: str | None = None


class LeaseInput(Contract):
    rollout: Rollout
    attempt: int = 0
    now: datetime


class LeaseResult(Contract):
    status: Literal["acquired", "waiting", "superseded"]
    endpoint: str
    holder: str | None = Field(None, description="The deployment holding the endpoint (waiting)")
    newer: str | None = Field(None, description="The newer upload this one gives way to (superseded)")
    reason: str


class SettleInput(Contract):
    """The end of an execution's own path: the outcome for the record, and the endpoint's lease released."""

    outcome: Literal["promoted", "rolled_back", "rollback_failed", "rejected", "superseded", "aborted"]
    execution_id: str
    now: datetime
    deployment_id: str | None = Field(None, description="A restore's record (it has no rollout of its own)")
    reason: str | None = None
    rollout: Rollout | None = None
    registration: Registration | None = None
    failure: Failure | None = None
    judgement: JudgeOutput | None = None
    upload_event: dict[str, Any] | None = None


class RestoreInput(Contract):
    """A restore execution's input: roll back what a stopped (or timed-out) execution left on the endpoint."""

    execution: str
    status: str
    deployment_id: str
    now: datetime
    reason: str | None = Field(None, description="Why the execution ended (with a StopExecution's error and cause)")


class RestorePlan(Contract):
    restore: bool
    reason: str
    rollout: Rollout | None = None
    registration: Registration | None = None
    deployment: Deployment | None = None
    failure: Failure | None = None


# The decision record -------------------------------------------------------------------------------------------
# A look's record in S3 (decisions/<deployment>/<phase>/look-NNN.json), written by services/evaluate and read back
# by `mlrollout replay` and `mlrollout cost`. Times keep `datetime.isoformat()` ("+00:00", as every record so far);
# a field added after the first records carries a default, so those still read.

IsoTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json")]


class RecordPart(BaseModel):
    # A record is an audit trail that outlives the code that wrote it: a key this version does not know is ignored,
    # not fatal. Bounds can be infinite (no evidence yet), written as JSON's Infinity as json.dumps always did.
    model_config = ConfigDict(extra="ignore", defer_build=True, ser_json_inf_nan="constants")


class RecordWindow(RecordPart):
    start: IsoTime
    end: IsoTime


class RecordedCheck(RecordPart):
    """domain.judge.Check as a record keeps it."""

    name: str
    canary: float | None = None
    baseline: float | None = None
    limit: float | None = None
    outcome: str
    detail: str = ""
    unit: str = ""
    measure: str = ""


class RecordedBound(RecordPart):
    """domain.judge.SignalBound as a record keeps it."""

    name: str
    estimate: float
    lower: float
    upper: float
    margin: float
    periods: int
    pass_margin: float = 0.0


class RecordedHistory(RecordPart):
    """A look against the endpoint's own history (services/evaluate.look_series): what the current variant's
    minutes were and how they were paired."""

    window: RecordWindow
    timestamps: list[str] = Field(default_factory=list)
    pairing: str = ""
    dispersion_window: RecordWindow | None = None
    error_dispersion: float = 1.0


class DecisionRecord(RecordPart):
    """One look of the judge: what it fetched (queries, raw columns), against which thresholds, and what it decided.

    `thresholds` stays the config's judge section as written (a dict): `mlrollout replay --set` edits it, and
    `domain.config.Judge.model_validate` of it is the limits the look applied. `raw` is absent (None) when the look
    fetched nothing: before the first complete minute, on a rollback alarm, or when CloudWatch did not answer."""

    schema_version: Literal["1"] = "1"
    deployment_id: str
    endpoint: str
    baseline_variant: str | None = None
    canary_variant: str
    step_index: int
    shadow: bool = False
    against_history: bool = False
    weight: float
    look: int
    now: IsoTime
    window: RecordWindow
    thresholds: dict[str, Any]
    design_periods: int = 10
    deadline_minutes: float | None = None
    rollback_alarms: dict[str, str] | None = None
    rollback_alarms_error: str | None = None
    metrics_error: str | None = None
    queries: list[dict[str, Any]] = Field(default_factory=list)
    timestamps: list[str] = Field(default_factory=list)
    history: RecordedHistory | None = None
    raw: dict[str, dict[str, list[float | None]]] | None = None
    verdict: Verdict
    action: Action
    reason: str
    judge_reason: str | None = None
    checks: list[RecordedCheck] = Field(default_factory=list)
    bounds: list[RecordedBound] = Field(default_factory=list)
    baseline_unhealthy: bool = False
    looked: bool = False
    final_step: bool = False
    usable_periods: int = 0
    skipped_periods: int = 0
    elapsed_seconds: float = 0.0
