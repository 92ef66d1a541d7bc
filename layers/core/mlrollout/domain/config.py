"""`models/<model>/rollout.yaml`: each model's rollout configuration, validated once, with defaults.

Every field except `image` has a default. Stack parameters (bake time, canary steps, thresholds) override the
built-in defaults for every model; a model's rollout.yaml overrides both. docs/configuration.md documents
each field from the descriptions below.
"""

from __future__ import annotations

import difflib
import itertools
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlrollout.domain.errors import ConfigInvalid
from mlrollout.domain.naming import SAGEMAKER_NAME_RULE, config_key, sagemaker_name_problem

IMAGE_URI = re.compile(
    r"^(?P<registry>[a-z0-9][a-z0-9.-]*(:[0-9]+)?)/(?P<repository>[a-z0-9][a-z0-9._/-]*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@sha256:[a-f0-9]{64})$"
)
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
SCHEDULE = re.compile(r"^cron\(.+\)$")

Percent = Annotated[float, Field(gt=0, lt=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class SampleRequest(_Section):
    content_type: str = Field("application/json", description="Content-Type of the sample request.")
    accept: str = Field("application/json", description="Accept header of the sample request.")
    body: str = Field(description="The request body sent to the candidate variant before it gets traffic.")


class PreTraffic(_Section):
    sample_request: SampleRequest | None = Field(
        None, description="Invoke the candidate variant directly (TargetVariant) with this request first."
    )


class Strategy(_Section):
    type: Literal["canary", "linear", "all_at_once"] = Field(
        "canary",
        description="canary: the `steps` percentages in turn; linear: `increment_percent` steps; "
        "all_at_once: straight to 100% after the pre-traffic check.",
    )
    steps: list[Percent] = Field(
        default_factory=lambda: [10.0, 50.0],
        description="Candidate traffic percentages for canary, ascending, each below 100 (promotion is the 100%).",
    )
    increment_percent: Percent = Field(25.0, description="Step size for the linear strategy.")
    bake_minutes: float = Field(10.0, gt=0, le=720, description="How long each step bakes before advancing.")
    evaluation_interval_seconds: int = Field(
        60, ge=60, le=3600, description="How often the judge looks during a bake (a multiple of 60)."
    )
    max_bake_minutes: float | None = Field(
        None,
        gt=0,
        description="Deadline per step while the verdict stays inconclusive (default: 3 x bake_minutes).",
    )
    on_deadline: Literal["rollback", "hold"] = Field(
        "rollback",
        description="What an inconclusive step does at its deadline: roll back, or hold at the current weights "
        "and alert until `hold_minutes` pass (then roll back).",
    )
    hold_minutes: float = Field(60.0, gt=0, description="How long a held rollout waits before rolling back.")
    advance_early: bool = Field(
        False, description="Advance to the next step as soon as the judge passes, before the bake ends."
    )

    @field_validator("evaluation_interval_seconds")
    @classmethod
    def _whole_minutes(cls, value: int) -> int:
        if value % 60:
            raise ValueError("must be a multiple of 60 (CloudWatch periods for SageMaker metrics are minutes)")
        return value

    @field_validator("steps")
    @classmethod
    def _ascending(cls, steps: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("must be strictly ascending, e.g. [10, 50]")
        return steps

    @model_validator(mode="after")
    def _deadline_after_bake(self) -> Strategy:
        if self.max_bake_minutes is not None and self.max_bake_minutes < self.bake_minutes:
            raise ValueError(
                f"max_bake_minutes ({self.max_bake_minutes}) must be at least bake_minutes ({self.bake_minutes})"
            )
        return self

    def traffic_steps(self) -> list[float]:
        if self.type == "all_at_once":
            return []
        if self.type == "linear":
            count = int((100 - 1e-9) // self.increment_percent)
            return [round(self.increment_percent * (i + 1), 4) for i in range(count)]
        return list(self.steps)

    @property
    def deadline_minutes(self) -> float:
        return self.max_bake_minutes if self.max_bake_minutes is not None else 3 * self.bake_minutes


class ExtraMetric(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="Short name used in verdicts and records.")
    namespace: str = Field(description="CloudWatch namespace of the metric.")
    metric_name: str = Field(description="CloudWatch metric name.")
    statistic: str = Field("Average", description="CloudWatch statistic per period (Average, Sum, p90, ...).")
    dimensions: dict[str, str] = Field(
        default_factory=dict,
        description="Extra dimensions; EndpointName and VariantName are added for each variant.",
    )
    direction: Literal["higher_is_worse", "lower_is_worse"] = Field(
        "higher_is_worse", description="Which way is a regression."
    )
    tolerance: float = Field(0.1, gt=0, description="Tolerated relative change against the current variant.")


class Judge(_Section):
    min_requests: int = Field(
        200, ge=1, description="Fewer canary requests than this in a step is inconclusive, never a pass."
    )
    min_periods: int = Field(3, ge=1, le=60, description="Complete periods a step needs before it can pass.")
    max_error_rate: float = Field(
        0.05, gt=0, lt=1, description="Hard cap on the canary's error rate; above it (beyond doubt) it fails at once."
    )
    max_p99_latency_ms: float = Field(
        2000.0, gt=0, description="Hard cap on the canary's p99 ModelLatency in a period, in milliseconds."
    )
    max_error_rate_ratio: float = Field(
        1.25, ge=1, description="Tolerated error rate as a multiple of the current variant's (1.25 = 25% more)."
    )
    max_error_rate_increase: float = Field(
        0.002,
        ge=0,
        lt=1,
        description="Absolute slack on top of the ratio (0.002 = 0.2 points), so a near-zero baseline is not a trap.",
    )
    max_latency_increase: float = Field(
        0.25, ge=0, description="Tolerated relative increase of p99 and mean latency (0.25 = +25%)."
    )
    include_4xx: bool = Field(
        False, description="Count 4XX errors as errors too (a new model may reject inputs the old one accepted)."
    )
    confidence: float = Field(
        0.99,
        gt=0.5,
        lt=1,
        description="Confidence of every verdict, at every look together (anytime-valid): 0.99 = 1% false rollbacks.",
    )
    pass_confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="Confidence a PASS needs that the canary is within tolerance (0.95 = a regression right at the "
        "tolerance passes at most 5% of the time).",
    )
    extra_metrics: list[ExtraMetric] = Field(
        default_factory=list, description="More CloudWatch metrics to judge, per variant, with their direction."
    )


class DataCapture(_Section):
    sampling_percentage: int = Field(100, ge=1, le=100, description="Share of requests captured.")
    destination: str | None = Field(
        None, description="S3 URI for captured data (default: s3://<artifact bucket>/capture/<endpoint>/)."
    )

    @field_validator("destination")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not S3_URI.match(value):
            raise ValueError("must be an S3 URI like s3://my-bucket/capture/")
        return value


RATE = re.compile(r"^rate\((?P<n>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")


class Monitoring(_Section):
    backend: Literal["builtin", "model-monitor"] = Field(
        "builtin",
        description="builtin: mlrollout's scheduled drift Lambda (no Model Monitor needed); model-monitor: a "
        "SageMaker Model Monitor data-quality schedule (for accounts that have Model Monitor).",
    )
    schedule: str | None = Field(
        None,
        description="How often drift is computed: builtin takes rate(...) or cron(...) (default rate(1 hour)); "
        "model-monitor takes SageMaker's cron (default cron(0 * ? * * *), hourly).",
    )
    baseline_statistics: str = Field(description="S3 URI of the baseline statistics.json (`mlrollout baseline`).")
    baseline_constraints: str | None = Field(
        None, description="S3 URI of the baseline constraints.json (required by model-monitor)."
    )
    features: list[str] | None = Field(
        None, description="Features to alarm on (default: every feature in the baseline statistics)."
    )
    drift_threshold: float = Field(
        0.1, gt=0, description="model-monitor: alarm when a feature's baseline drift (distance) exceeds this."
    )
    psi_threshold: float = Field(0.2, gt=0, description="builtin: alarm when a numeric feature's PSI exceeds this.")
    js_threshold: float = Field(
        0.1, gt=0, le=1, description="builtin: alarm when a categorical feature's Jensen-Shannon distance exceeds this."
    )
    missing_rate_threshold: float = Field(
        0.05, gt=0, le=1, description="builtin: alarm when a feature's missing-value rate rises by more than this."
    )
    min_records: int = Field(
        100, ge=1, description="builtin: a window with fewer captured records is not judged (its distances are noise)."
    )
    cooldown_minutes: int = Field(
        360, ge=0, description="A drift alert for the same feature is not repeated within this many minutes."
    )
    instance_type: str = Field("ml.m5.large", description="model-monitor: instance type of the monitoring job.")
    max_runtime_seconds: int = Field(1800, ge=60, le=86400, description="model-monitor: monitoring job time limit.")

    @field_validator("baseline_statistics", "baseline_constraints")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not S3_URI.match(value):
            raise ValueError("must be an S3 URI like s3://my-bucket/baselines/statistics.json")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _instance_type(value)

    @model_validator(mode="after")
    def _backend_needs(self) -> Monitoring:
        if self.schedule is not None:
            if self.backend == "model-monitor" and not SCHEDULE.match(self.schedule):
                raise ValueError("schedule: model-monitor takes a SageMaker cron expression, e.g. cron(0 * ? * * *)")
            if self.backend == "builtin" and not (SCHEDULE.match(self.schedule) or RATE.match(self.schedule)):
                raise ValueError("schedule: builtin takes rate(1 hour) or a cron(...) expression")
        if self.backend == "model-monitor" and self.baseline_constraints is None:
            raise ValueError("baseline_constraints: required by the model-monitor backend")
        return self

    @property
    def schedule_expression(self) -> str:
        if self.schedule:
            return self.schedule
        return "rate(1 hour)" if self.backend == "builtin" else "cron(0 * ? * * *)"

    @property
    def period_seconds(self) -> int:
        """How much data one run covers, and the period of the alarms on its metrics."""
        rate = RATE.match(self.schedule_expression)
        if rate:
            unit = rate.group("unit").rstrip("s")
            return int(rate.group("n")) * {"minute": 60, "hour": 3600, "day": 86400}[unit]
        fields = self.schedule_expression.removeprefix("cron(").removesuffix(")").split()
        return 3600 if len(fields) >= 2 and fields[1] == "*" else 86400


def _instance_type(value: str) -> str:
    if not INSTANCE_TYPE.match(value):
        raise ValueError("must be a SageMaker instance type like ml.m5.large (family and size after 'ml.')")
    return value


class RolloutConfig(_Section):
    image: str = Field(description="Serving container image URI (ECR or another registry), with a tag or digest.")
    endpoint_name: str | None = Field(None, description="Endpoint to roll out to (default: the model name).")
    instance_type: str = Field("ml.m5.large", description="Instance type of the candidate variant.")
    instance_count: int = Field(1, ge=1, le=100, description="Instance count of the candidate variant.")
    environment: dict[str, str] = Field(default_factory=dict, description="Environment of the serving container.")
    framework: Literal["custom", "sklearn", "pytorch", "xgboost", "tensorflow"] = Field(
        "custom", description="Decides which files the artifact must contain."
    )
    content_types: list[str] = Field(
        default_factory=lambda: ["application/json"], description="Request content types (model registry)."
    )
    response_types: list[str] = Field(
        default_factory=lambda: ["application/json"], description="Response MIME types (model registry)."
    )
    strategy: Strategy = Field(default_factory=Strategy, description="How traffic moves to the candidate.")
    judge: Judge = Field(default_factory=Judge, description="Thresholds of the canary judge.")
    pre_traffic: PreTraffic = Field(default_factory=PreTraffic, description="Checks before any traffic.")
    data_capture: DataCapture = Field(default_factory=DataCapture, description="Data capture on every config.")
    monitoring: Monitoring | None = Field(None, description="Drift monitoring attached after promotion.")
    approval: Literal["auto"] = Field(
        "auto", description="auto: the judge decides; the version is Approved on promotion."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags for the SageMaker resources created.")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not IMAGE_URI.match(value):
            raise ValueError(
                "must be a container image URI with a tag or digest, e.g. "
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model:1.4"
            )
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _instance_type(value)

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and sagemaker_name_problem(value):
            raise ValueError(SAGEMAKER_NAME_RULE)
        return value

    def endpoint_for(self, model_name: str) -> str:
        return self.endpoint_name or model_name


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _known_fields(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        current = next((a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)), annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def describe_errors(error: ValidationError, model: type[BaseModel] = RolloutConfig) -> list[str]:
    """Every problem, one line each, with its field path and a suggestion where we can make one."""
    lines = []
    for item in error.errors():
        location = item["loc"]
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in location).replace(".[", "[")
        if item["type"] == "extra_forbidden":
            unknown = str(location[-1])
            close = difflib.get_close_matches(unknown, _known_fields(model, location[:-1]), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{path}: unknown field{hint}")
        elif item["type"] == "missing":
            lines.append(f"{path}: required field is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {message} (got {item.get('input')!r})")
    return lines


def parse_config(document: Any, *, model_name: str, stack_defaults: dict[str, Any] | None = None) -> RolloutConfig:
    """Validate a parsed rollout.yaml (a mapping) on top of the stack's defaults."""
    where = config_key(model_name)
    if not isinstance(document, dict):
        raise ConfigInvalid(
            f"{where} must be a YAML mapping of settings, got {type(document).__name__}",
            fix="start from the example in docs/configuration.md; at least `image:` is required",
        )
    try:
        return RolloutConfig.model_validate(_deep_merge(stack_defaults or {}, document))
    except ValidationError as exc:
        problems = describe_errors(exc)
        raise ConfigInvalid(
            f"{where} has {len(problems)} problem{'s' if len(problems) != 1 else ''}: " + "; ".join(problems),
            fix="correct the fields named above (docs/configuration.md lists every field)",
        ) from None


def load_config_text(text: str, *, model_name: str, stack_defaults: dict[str, Any] | None = None) -> RolloutConfig:
    import yaml  # only the validation step parses YAML; keep it off the other functions' import path

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigInvalid(
            f"{config_key(model_name)} is not valid YAML{where}: {getattr(exc, 'problem', exc)}",
            fix="fix the YAML syntax (indentation, colons, quotes) and upload rollout.yaml again",
        ) from None
    return parse_config(document, model_name=model_name, stack_defaults=stack_defaults)
