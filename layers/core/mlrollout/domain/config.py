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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from mlrollout.domain.errors import ConfigInvalid
from mlrollout.domain.naming import SAGEMAKER_NAME_RULE, config_key, sagemaker_name_problem

# A container image reference as SageMaker pulls it: an explicit registry host, a repository, and a tag and/or a
# digest, at most 255 characters. The registry must be Amazon ECR unless `image_access: vpc`: CreateModel without
# ImageConfig means RepositoryAccessMode Platform, "the model image is hosted in Amazon ECR"; `Vpc` means "a private
# Docker registry in your VPC", which the model must reach through its VpcConfig
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ImageConfig.html,
# https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-containers-inference-private.html).
IMAGE_EXAMPLE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-model:1.4"
MAX_IMAGE = 255
REGISTRY = re.compile(r"^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)(:[0-9]+)?$")
# A private ECR registry: <account>.dkr.ecr[-fips].<region>.amazonaws.com (.com.cn in the China regions).
ECR_REGISTRY = re.compile(r"^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z]{2}(-[a-z]+)+-[0-9]\.amazonaws\.com(\.cn)?$")
REPOSITORY_PART = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
# ml.<family>.<size>: families may carry a suffix (ml.p6-b200.48xlarge, ml.m7i-flex.large), sizes are few.
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+(-[a-z0-9]+)*\.(medium|large|xlarge|[1-9][0-9]*xlarge)$")
INSTANCE_SIZES = ("medium", "large", "xlarge")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
SCHEDULE = re.compile(r"^cron\(.+\)$")
# EC2 resource ids as DescribeSubnets / DescribeSecurityGroups print them (8 or 17 hex digits).
SUBNET_ID = r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"
SECURITY_GROUP_ID = r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$"
# A KMS key ARN. SageMaker also takes a key id or an alias, but the stack's SageMaker role is granted each key by its
# ARN (template parameter ModelKmsKeyArns): only an ARN names the key the role may use.
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:key/[a-zA-Z0-9-]{1,128}$")
KMS_KEY_EXAMPLE = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# ProductionVariant limits (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html):
# ModelDataDownloadTimeoutInSeconds and ContainerStartupHealthCheckTimeoutInSeconds 60-3600, VolumeSizeInGB 1-512.
MIN_VARIANT_TIMEOUT, MAX_VARIANT_TIMEOUT = 60, 3600
MIN_VOLUME_GB, MAX_VOLUME_GB = 1, 512
# ProductionVariantServerlessConfig (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html):
# MemorySizeInMB in 1 GB steps from 1024 to 6144; MaxConcurrency 1-200; ProvisionedConcurrency 1-200 and at most
# MaxConcurrency.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
MAX_SERVERLESS_CONCURRENCY = 200
# What a serverless endpoint cannot have: "GPUs, AWS marketplace model packages, private Docker registries,
# Multi-Model Endpoints, VPC configuration, network isolation, data capture, multiple production variants, Model
# Monitor, and inference pipelines", and an instance-based endpoint cannot be updated to serverless.
SERVERLESS_EXCLUSIONS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions"

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


# A phase still undecided after this many bakes is rolled back (or held). 4, not 3: in the benchmark a canary exactly
# at the error tolerance at 50 rps met the 30-minute deadline in 1.4% of runs and the 40-minute one in 0.4%, and a
# clear regression fails long before either (bench/results/judge.md).
DEADLINE_BAKES = 4
# Judged against the endpoint's history (a serverless endpoint), a version is compared with other minutes, whose
# bursts and drifts it does not share, so its proof needs more of them. With 4 bakes, even with Plan's deadline
# grown for the history's error dispersion, a version exactly at the error tolerance was rolled back at the deadline
# in 4.7% of runs at 50 rps and 5.7% at 500; with 12, 0.3% and 0% (300 runs each; bench/results/judge.md has the
# benchmark's). A healthy version is proven in one or two bakes; only a borderline one waits longer.
HISTORY_DEADLINE_BAKES = 12


class Shadow(_Section):
    percent: float = Field(
        100.0,
        gt=0,
        le=100,
        description="Share of production requests SageMaker copies to the candidate, a shadow variant whose answers "
        "are discarded: evidence with no user impact. Only 100 for now (see the validator).",
    )

    @field_validator("percent")
    @classmethod
    def _every_request(cls, value: float) -> float:
        # SageMaker documents a sampling percentage only for shadow tests (InferenceExperiment's
        # ShadowModelVariantConfig.SamplingPercentage); for an endpoint config's ShadowProductionVariants it shows
        # equal weights and says nothing of a share: mlrollout uses only what is documented.
        if value != 100:
            raise ValueError(
                "only 100 is supported: SageMaker documents how to copy a share of requests to a shadow variant only "
                "for its shadow tests, so mlrollout copies every request (give the shadow a shorter bake to save time)"
            )
        return value

    bake_minutes: float | None = Field(
        None,
        gt=0,
        le=720,
        description="Least time in shadow (default: strategy.bake_minutes); the candidate leaves the shadow only "
        f"once the judge proves it is not a regression, and is rolled back if that takes {DEADLINE_BAKES} times this "
        "long.",
    )


class Strategy(_Section):
    type: Literal["canary", "linear", "all_at_once"] = Field(
        "canary",
        description="canary: the `steps` percentages in turn; linear: `increment_percent` steps; "
        "all_at_once: straight to 100% after the pre-traffic check (on a serverless endpoint, then judged against the "
        "endpoint's own minutes before the switch).",
    )
    steps: list[Percent] = Field(
        default_factory=lambda: [10.0, 50.0],
        description="Candidate traffic percentages for canary, ascending, each below 100 (promotion is the 100%).",
    )
    increment_percent: Percent = Field(25.0, description="Step size for the linear strategy.")
    bake_minutes: float = Field(10.0, gt=0, le=720, description="How long each step bakes before advancing.")
    evaluation_interval_seconds: int = Field(
        300,
        ge=60,
        le=3600,
        description="How often the judge looks during a bake (a multiple of 60); every look reads all the per-minute "
        "data since the first step, and its bounds stay valid however often it looks.",
    )
    max_bake_minutes: float | None = Field(
        None,
        gt=0,
        description=f"Deadline per step while the verdict stays inconclusive (default: {DEADLINE_BAKES} x "
        f"bake_minutes, {HISTORY_DEADLINE_BAKES} x on a serverless endpoint judged against its history; grown at low "
        "traffic to what Plan estimates the proof of a candidate exactly at the error tolerance needs in 1 run in "
        "100, at most 360 minutes; a value set here is never changed).",
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
    shadow: Shadow | None = Field(
        None,
        description="A shadow phase before the canary steps (on an endpoint that already serves a version): the "
        "candidate gets a copy of production requests, and takes live traffic only after the judge's proof.",
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
        return self.max_bake_minutes if self.max_bake_minutes is not None else DEADLINE_BAKES * self.bake_minutes

    def history_phase(self) -> Strategy:
        """The strategy a version judged against the endpoint's history runs with: a final step's, with a deadline of
        HISTORY_DEADLINE_BAKES bakes unless `max_bake_minutes` sets one."""
        if self.max_bake_minutes is not None:
            return self
        return self.model_copy(update={"max_bake_minutes": HISTORY_DEADLINE_BAKES * self.bake_minutes})

    def shadow_phase(self) -> Strategy:
        """The strategy the shadow phase is judged by: its own bake, its deadline, no early advance."""
        if self.shadow is None:
            raise ValueError("this strategy has no shadow phase")
        bake = self.shadow.bake_minutes or self.bake_minutes
        return self.model_copy(
            update={"bake_minutes": bake, "max_bake_minutes": DEADLINE_BAKES * bake, "advance_early": False}
        )


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

    @property
    def higher_is_worse(self) -> bool:
        return self.direction == "higher_is_worse"


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
        description="Confidence promotion needs that the canary is not a regression (0.95 = a canary right at "
        "`regression_multiple` times the tolerated increase is promoted at most 5% of the time).",
    )
    regression_multiple: float = Field(
        2.0,
        gt=1,
        le=10,
        description="Where a regression starts, in multiples of the tolerated increase (2 = errors above the current "
        "rate plus twice the tolerated excess, latency above +2 x max_latency_increase). A canary beyond the tolerance "
        "is rolled back once that is beyond doubt; promotion needs proof it is below this. Between the two the judge "
        "may do either; a multiple closer to 1 needs more traffic to decide.",
    )
    extra_metrics: list[ExtraMetric] = Field(
        default_factory=list, description="More CloudWatch metrics to judge, per variant, with their direction."
    )
    rollback_alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list,
        max_length=100,
        description="CloudWatch alarm names (this account and region) that mean stop: a rollout does not start "
        "while any is in ALARM, and a canary fails as soon as one is.",
    )


class DataCapture(_Section):
    sampling_percentage: int = Field(100, ge=1, le=100, description="Share of requests captured.")
    destination: str | None = Field(
        None, description="S3 URI for captured data (default: s3://<artifact bucket>/capture/<endpoint>/)."
    )

    kms_key: str | None = Field(
        None,
        description="ARN of the KMS key SageMaker encrypts captured data with (S3 server-side encryption, "
        "DataCaptureConfig.KmsKeyId); the stack must list it in ModelKmsKeyArns. Default: the bucket's encryption.",
    )

    @field_validator("destination")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not S3_URI.match(value):
            raise ValueError("must be an S3 URI like s3://my-bucket/capture/")
        return value

    @field_validator("kms_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _kms_key(value)


class Vpc(_Section):
    subnets: list[str] = Field(
        min_length=1,
        max_length=16,
        description="Subnet ids (1-16) of one VPC the model's network interfaces are placed in; SageMaker asks for "
        "subnets in at least two Availability Zones.",
    )
    security_groups: list[str] = Field(min_length=1, max_length=5, description="Security group ids (1-5) of that VPC.")

    @field_validator("subnets", "security_groups")
    @classmethod
    def _ids(cls, value: list[str], info: ValidationInfo) -> list[str]:
        prefix, pattern = ("subnet", SUBNET_ID) if info.field_name == "subnets" else ("sg", SECURITY_GROUP_ID)
        wrong = [v for v in value if not re.match(pattern, v)]
        if wrong:
            raise ValueError(
                f"{', '.join(map(repr, wrong))} {'is' if len(wrong) == 1 else 'are'} not EC2 ids: {prefix}- and 8 or "
                f"17 hex digits, e.g. {prefix}-0123456789abcdef0"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists an id twice; name each once")
        return value


class Serverless(_Section):
    memory_mb: int = Field(
        description="Memory of the serverless endpoint in MB (MemorySizeInMB): 1024, 2048, 3072, 4096, 5120 or 6144; "
        "SageMaker gives it vCPUs in proportion. At least the model's size."
    )
    max_concurrency: int = Field(
        ge=1,
        le=MAX_SERVERLESS_CONCURRENCY,
        description="Concurrent invocations the endpoint processes at most (MaxConcurrency, 1-200); more are "
        "throttled. All serverless endpoints of a region share the account's concurrency quota.",
    )
    provisioned_concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_SERVERLESS_CONCURRENCY,
        description="Invocations kept warm, without cold starts (ProvisionedConcurrency, 1-200, at most "
        "max_concurrency); billed while provisioned. Default: none, on demand only.",
    )

    @field_validator("memory_mb")
    @classmethod
    def _memory(cls, value: int) -> int:
        if value not in SERVERLESS_MEMORY_MB:
            raise ValueError(
                f"must be one of {', '.join(map(str, SERVERLESS_MEMORY_MB))} (1 GB steps from 1 to 6 GB, as "
                "SageMaker's MemorySizeInMB takes)"
            )
        return value

    @model_validator(mode="after")
    def _provisioned_within_max(self) -> Serverless:
        if self.provisioned_concurrency is not None and self.provisioned_concurrency > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) must be at most max_concurrency "
                f"({self.max_concurrency}): SageMaker keeps warm only invocations the endpoint may run"
            )
        return self

    def as_api(self) -> dict[str, int]:
        """The variant's ServerlessConfig."""
        provisioned = {"ProvisionedConcurrency": self.provisioned_concurrency} if self.provisioned_concurrency else {}
        return {"MemorySizeInMB": self.memory_mb, "MaxConcurrency": self.max_concurrency, **provisioned}


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
    baseline_statistics: str = Field(
        description="S3 URI of the baseline statistics.json (`mlrollout baseline`), under baselines/ in the "
        "artifact bucket."
    )
    baseline_constraints: str | None = Field(
        None, description="S3 URI of the baseline constraints.json (required by model-monitor), also under baselines/."
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
    max_runtime_seconds: int = Field(
        1800,
        ge=60,
        le=86400,
        description="model-monitor: monitoring job time limit, at most the schedule's period (3600 for hourly).",
    )

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
        # SageMaker refuses a monitoring job that may outrun its schedule: "MaxRuntimeInSeconds cannot exceed the
        # frequency of the job" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_MonitoringStoppingCondition.html).
        if self.backend == "model-monitor" and self.max_runtime_seconds > self.period_seconds:
            raise ValueError(
                f"max_runtime_seconds: {self.max_runtime_seconds} is longer than the schedule's period of "
                f"{self.period_seconds} seconds ({self.schedule_expression}); SageMaker refuses a monitoring job "
                f"that may outrun its schedule: set it to at most {self.period_seconds}, or schedule less often"
            )
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
        hours = fields[1] if len(fields) >= 2 else ""
        every = re.fullmatch(r"(\*|0)/(?P<n>[1-9][0-9]?)", hours)  # every n hours: cron(0 */6 ? * * *)
        if every:
            return 3600 * int(every["n"])
        return 3600 if hours == "*" else 86400


def _instance_type(value: str) -> str:
    if not INSTANCE_TYPE.match(value):
        guess = _instance_guess(value)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise ValueError(
            "must be a SageMaker instance type ml.<family>.<size>, where size is medium, large, xlarge or "
            f"<n>xlarge, e.g. ml.m5.large or ml.g5.2xlarge{hint}"
        )
    return value


def _kms_key(value: str | None) -> str | None:
    if value is not None and not KMS_KEY_ARN.match(value):
        raise ValueError(
            f"must be a KMS key ARN like {KMS_KEY_EXAMPLE} (not a key id or alias: the stack grants its SageMaker "
            "role each key by ARN, in ModelKmsKeyArns)"
        )
    return value


def _instance_guess(value: str) -> str | None:
    """The well-formed instance type closest to `value` (a missing 'ml.', a misspelt size), if one is near."""
    text = value.strip().lower()
    parts = (text if text.startswith("ml.") else f"ml.{text}").split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    found = re.fullmatch(r"(?P<count>[1-9][0-9]*)?(?P<size>.+)", parts[2])
    if found is None:
        return None
    sizes = INSTANCE_SIZES[2:] if found["count"] else INSTANCE_SIZES
    close = difflib.get_close_matches(found["size"], sizes, n=1, cutoff=0.6)
    guess = f"ml.{parts[1]}.{found['count'] or ''}{close[0]}" if close else ""
    return guess if INSTANCE_TYPE.match(guess) and guess != value else None


def image_problem(value: str, *, private_registry: bool = False) -> str | None:
    """What is wrong with a serving image reference, in words an uploader can act on (None: nothing).

    `private_registry`: the image is pulled from a Docker registry in the model's VPC (`image_access: vpc`), so any
    registry host is allowed."""
    if len(value) > MAX_IMAGE:
        return f"is {len(value)} characters; SageMaker accepts image URIs of at most {MAX_IMAGE}"
    if not value or any(c.isspace() for c in value):
        return "must be one image URI without spaces"
    registry, slash, rest = value.partition("/")
    if not slash or not REGISTRY.match(registry):
        return (
            "has no registry host: SageMaker pulls <registry>/<repository>:<tag> from Amazon ECR (Docker Hub short "
            f"names do not work), e.g. {IMAGE_EXAMPLE}"
        )
    if not private_registry and not ECR_REGISTRY.match(registry):
        where = "ECR Public" if registry == "public.ecr.aws" else f"registry {registry}"
        return (
            f"is in {where}, not a private Amazon ECR registry: SageMaker pulls a model's image from ECR "
            "(<account>.dkr.ecr.<region>.amazonaws.com); copy the image into an ECR repository of this account and "
            f"region (docker pull, docker tag, docker push) and name that, e.g. {IMAGE_EXAMPLE}; or, for a private "
            "registry your VPC reaches, set `image_access: vpc` and `vpc`"
        )
    rest, at, digest = rest.partition("@")
    repository, colon, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if at and not DIGEST.match(digest):
        return f"has a malformed digest {digest!r}: it must be sha256: and 64 lowercase hex digits"
    if colon and not TAG.match(tag):
        return f"has a malformed tag {tag!r}: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    if not (colon or at):
        return (
            "has no tag or digest: add :<tag> or @sha256:<digest> so the registered version always runs the same "
            f"image, e.g. {IMAGE_EXAMPLE}"
        )
    if not all(REPOSITORY_PART.match(part) for part in repository.split("/")):
        return (
            f"has a malformed repository name {repository!r}: lowercase letters and digits, with '.', '_' or '-' "
            "between them and '/' between path parts"
        )
    return None


class RolloutConfig(_Section):
    image: str = Field(description="Serving container image URI in Amazon ECR, with a tag or digest.")
    endpoint_name: str | None = Field(None, description="Endpoint to roll out to (default: the model name).")
    instance_type: str = Field("ml.m5.large", description="Instance type of the candidate variant.")
    instance_count: int = Field(1, ge=1, le=100, description="Instance count of the candidate variant.")
    candidate_sizing: Literal["share", "instance_count"] = Field(
        "share",
        description="On an endpoint whose current variant is auto-scaled: `share` sizes the candidate for its largest "
        "traffic share of the current variant's live instances (rounded up, at least 1); `instance_count` uses "
        "`instance_count` as on any other endpoint. The promoted variant always starts at what serves all the "
        "traffic, within the registered bounds.",
    )
    serverless: Serverless | None = Field(
        None,
        description="A serverless endpoint (ProductionVariant ServerlessConfig) instead of instances: no "
        "instance_type or instance_count. SageMaker serves it with one variant and without data capture, VPC, "
        "network isolation, private registries or Model Monitor, so it takes `strategy.type: all_at_once` and no "
        "`data_capture`, `monitoring`, `vpc`, `network_isolation`, `image_access: vpc`, `volume_size_gb`, shadow or "
        "manual approval. An existing endpoint keeps its kind: instance-based and serverless do not change into each "
        "other.",
    )
    image_access: Literal["ecr", "vpc"] = Field(
        "ecr",
        description="ecr: the image is in Amazon ECR (RepositoryAccessMode Platform). vpc: a private Docker registry "
        "reached through the model's `vpc` (RepositoryAccessMode Vpc); it must allow the security groups in.",
    )
    vpc: Vpc | None = Field(
        None,
        description="Run the model's containers in your VPC (CreateModel VpcConfig). The stack must list the VPC "
        "in ModelVpcIds; validation checks that the subnets and security groups exist and share that VPC.",
    )
    network_isolation: bool = Field(
        False,
        description="No inbound or outbound network calls from the model container (CreateModel "
        "EnableNetworkIsolation); the model monitoring job, if any, is isolated too.",
    )
    kms_key: str | None = Field(
        None,
        description="ARN of the KMS key for the endpoint instances' storage volume (CreateEndpointConfig KmsKeyId); "
        "the stack must list it in ModelKmsKeyArns. On instance types with local NVMe storage (ml.g5, ml.p4d, "
        "...) it does not encrypt that storage, which the instance's hardware encrypts.",
    )
    volume_size_gb: int | None = Field(
        None,
        ge=MIN_VOLUME_GB,
        le=MAX_VOLUME_GB,
        description="Size of each instance's EBS storage volume in GB (ProductionVariant VolumeSizeInGB, 1-512); "
        "for a model over 30 GB on an instance type without a local disk, a little more than the model.",
    )
    model_data_download_timeout: int | None = Field(
        None,
        ge=MIN_VARIANT_TIMEOUT,
        le=MAX_VARIANT_TIMEOUT,
        description="Seconds SageMaker allows to download and extract the model from S3 on each instance "
        "(ModelDataDownloadTimeoutInSeconds, 60-3600). The rollout's wait for InService grows to match.",
    )
    container_startup_health_check_timeout: int | None = Field(
        None,
        ge=MIN_VARIANT_TIMEOUT,
        le=MAX_VARIANT_TIMEOUT,
        description="Seconds the container has to pass its first /ping health check "
        "(ContainerStartupHealthCheckTimeoutInSeconds, 60-3600). The rollout's wait for InService grows to match.",
    )
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
    approval: Literal["auto", "manual"] = Field(
        "auto",
        description="auto: the judge decides from the first step on. manual: the rollout waits, with the candidate "
        "deployed and no traffic on it, until an operator runs `mlrollout approve` (or `reject`); for a first "
        "deployment it waits before the endpoint is created.",
    )
    approval_timeout_minutes: float = Field(
        60,
        ge=1,
        le=720,
        description="manual approval: how long to wait for `mlrollout approve`; then the rollout is rolled back "
        "(or, before a first deployment, rejected).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags for the SageMaker resources created.")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        # The registry is checked with `image_access` in _combinations; here only what holds for every registry.
        problem = image_problem(value, private_registry=True)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("kms_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return _kms_key(value)

    @model_validator(mode="wrap")
    @classmethod
    def _combinations(cls, data: Any, handler: ModelWrapValidatorHandler[RolloutConfig]) -> RolloutConfig:
        """What SageMaker refuses or cannot run although each field may be valid alone. Checked on the raw mapping
        around the field validation, so a file with both kinds of problem hears of all of them at once."""
        found = [
            InitErrorDetails(type=PydanticCustomError("combination", message), loc=(field,), input=value)
            for field, message, value in combination_problems(data if isinstance(data, dict) else {})
        ]
        try:
            config = handler(data)
        except ValidationError as exc:
            if not found:
                raise
            earlier = [
                InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
                for e in exc.errors()
            ]
            raise ValidationError.from_exception_data(exc.title, [*earlier, *found]) from None
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return config

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _instance_type(value)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Every field, except on a serverless config the defaults it must not set (`_SERVERLESS_DEFAULTS`): each
        step re-validates the config it is handed, and those defaults would read as set."""
        dumped: dict[str, Any] = handler(self)
        if self.serverless is not None:
            for name in _SERVERLESS_DEFAULTS:
                dumped.pop(name, None)
        return dumped

    @field_validator("endpoint_name")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and sagemaker_name_problem(value):
            raise ValueError(SAGEMAKER_NAME_RULE)
        return value

    def endpoint_for(self, model_name: str) -> str:
        return self.endpoint_name or model_name


def change_wait_seconds(config: RolloutConfig, default_seconds: int) -> int:
    """The longest a create or update of `config`'s variant may take before the rollout counts it as stuck.

    `default_seconds` (the stack's endpoint wait) covers an ordinary change: instances provisioned, the image pulled,
    the model downloaded and the container answering /ping within SageMaker's own default timeouts. A large model
    raises those timeouts (ModelDataDownloadTimeoutInSeconds, ContainerStartupHealthCheckTimeoutInSeconds, up to an
    hour each) and SageMaker keeps the endpoint Creating or Updating as long as they allow, one after the other: the
    wait adds both, so a model that is only slow to load is never rolled back as broken."""
    extra = (config.model_data_download_timeout or 0) + (config.container_startup_health_check_timeout or 0)
    return default_seconds + extra


def combination_problems(document: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(field, problem, value) for each combination of rollout.yaml fields that cannot work together."""
    problems = []
    access, image = document.get("image_access", "ecr"), document.get("image")
    if access == "ecr" and isinstance(image, str) and image_problem(image, private_registry=True) is None:
        problem = image_problem(image)
        if problem:
            problems.append(("image", problem, image))
    if access == "vpc" and document.get("vpc") is None:
        # "Models that you create based on the images stored in your private Docker registry must be configured to
        # connect to the same VPC where the private Docker registry is accessible."
        problems.append(
            (
                "image_access",
                "`vpc` pulls the image from a private registry through the model's VPC, and the config has no "
                "`vpc`: add `vpc: {subnets: [...], security_groups: [...]}` for the VPC that reaches the registry, "
                "or keep the image in Amazon ECR and remove `image_access`",
                access,
            )
        )
    problems.extend(serverless_problems(document))
    return problems


# The fields a serverless endpoint cannot have, each with SageMaker's reason (SERVERLESS_EXCLUSIONS_PAGE; the 5 GB
# disk from its "Memory size" section). `instance_type`, `instance_count` and `candidate_sizing` are refused only when
# the file sets them: their defaults describe an instance-based endpoint and are ignored for a serverless one.
_SERVERLESS_REFUSED: tuple[tuple[str, str], ...] = (
    ("instance_type", "a serverless endpoint has no instances (its size is `serverless.memory_mb`)"),
    (
        "instance_count",
        "a serverless endpoint has no instances (SageMaker scales it up to `serverless.max_concurrency`)",
    ),
    ("candidate_sizing", "a serverless endpoint has no instances to size for a share of the traffic"),
    ("data_capture", "SageMaker does not capture data on a serverless endpoint"),
    (
        "monitoring",
        "drift monitoring reads captured requests, and SageMaker does not capture data (nor run Model "
        "Monitor) on a serverless endpoint",
    ),
    ("vpc", "SageMaker does not run a serverless endpoint's model in a VPC"),
    (
        "volume_size_gb",
        "a serverless endpoint has no instance storage volume to size (SageMaker gives it 5 GB of ephemeral "
        "disk whatever its memory)",
    ),
)


# The refused fields whose defaults are not None: a serverless config's dump leaves them out (RolloutConfig._dump).
_SERVERLESS_DEFAULTS = ("instance_type", "instance_count", "candidate_sizing", "data_capture")


def serverless_problems(document: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(field, problem, value) for each setting a serverless endpoint cannot have (SERVERLESS_EXCLUSIONS_PAGE)."""
    if document.get("serverless") is None:
        return []
    problems = []
    drop = "remove it, or remove `serverless` to roll out to an instance-based endpoint"
    for field, why in _SERVERLESS_REFUSED:
        if document.get(field) is not None:
            problems.append((field, f"{why}: {drop}", document[field]))
    if document.get("network_isolation"):
        problems.append(
            ("network_isolation", f"SageMaker does not isolate a serverless endpoint's container: {drop}", True)
        )
    if document.get("image_access") == "vpc":
        problems.append(
            (
                "image_access",
                "SageMaker pulls a serverless endpoint's image from Amazon ECR only (no private registries): push the "
                f"image to ECR and remove `image_access`, or {drop.removeprefix('remove it, or ')}",
                "vpc",
            )
        )
    # One variant only: a candidate cannot take part of the traffic beside the live variant. The file must say
    # `all_at_once` itself rather than have it implied, so no one believes a canary protects a serverless endpoint.
    given = document.get("strategy")
    strategy: dict[str, Any] = given if isinstance(given, dict) else {}
    kind = strategy.get("type", "canary")
    if kind != "all_at_once":
        problems.append(
            (
                "strategy.type",
                "a serverless endpoint serves exactly one variant, so a candidate cannot take part of its traffic "
                "beside the live one: set `strategy.type: all_at_once` (the new version takes all traffic at once, "
                "is judged against the endpoint's minutes before the switch, and a failed check or verdict rolls the "
                "endpoint back to the previous config)",
                kind,
            )
        )
    if strategy.get("shadow") is not None:
        problems.append(
            (
                "strategy.shadow",
                "a shadow variant is a second variant, which a serverless endpoint cannot have: remove "
                "`strategy.shadow`",
                strategy["shadow"],
            )
        )
    if document.get("approval") == "manual":
        problems.append(
            (
                "approval",
                "manual approval holds the candidate deployed without traffic beside the live variant, which a "
                "serverless endpoint (one variant) cannot do: use `approval: auto`, or an instance-based endpoint",
                "manual",
            )
        )
    return problems


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


def _field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of `model` and of its sections, as dotted paths (strategy.bake_minutes, ...)."""
    paths = []
    for name, field in model.model_fields.items():
        paths.append(prefix + name)
        for arg in getattr(field.annotation, "__args__", (field.annotation,)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                paths.extend(_field_paths(arg, f"{prefix}{name}."))
    return paths


def _unknown_field_hint(model: type[BaseModel], location: tuple[str | int, ...]) -> str:
    """A did-you-mean: a near name in the same section, else the same name in another section, else the choices."""
    unknown = str(location[-1])
    known = _known_fields(model, location[:-1])
    close = difflib.get_close_matches(unknown, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    elsewhere = [path for path in _field_paths(model) if path.rsplit(".", 1)[-1] == unknown]
    if elsewhere:
        return f"; did you mean {elsewhere[0]!r}? (it belongs in that section)"
    return f"; the fields here are {', '.join(known)}" if known else ""


def describe_errors(error: ValidationError, model: type[BaseModel] = RolloutConfig) -> list[str]:
    """Every problem, one line each, with its field path and a suggestion where we can make one."""
    lines = []
    for item in error.errors():
        location = item["loc"]
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in location).replace(".[", "[")
        if item["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown field{_unknown_field_hint(model, location)}")
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
        kinds = {type(None): "an empty file", list: "a list", str: "plain text", bool: "a boolean"}
        got = kinds.get(type(document), "a single value")
        raise ConfigInvalid(
            f"{where} must be a YAML mapping of settings (`key: value` lines), got {got}",
            fix="start rollout.yaml from the example in docs/configuration.md (at least `image:` is required), then "
            "upload the artifact again",
        )
    try:
        return RolloutConfig.model_validate(_deep_merge(stack_defaults or {}, document))
    except ValidationError as exc:
        problems = describe_errors(exc)
        raise ConfigInvalid(
            f"{where} has {len(problems)} problem{'s' if len(problems) != 1 else ''}: " + "; ".join(problems),
            fix="correct the fields named above in rollout.yaml (docs/configuration.md lists every field), then upload "
            "the artifact again",
        ) from None


def load_config_text(text: str, *, model_name: str, stack_defaults: dict[str, Any] | None = None) -> RolloutConfig:
    import yaml  # only the validation step parses YAML; keep it off the other functions' import path

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        # An unclosed bracket or quote is only noticed where the file ends: name where it was opened too.
        context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        started = f" ({context} that starts at line {opened.line + 1}, column {opened.column + 1})" if opened else ""
        raise ConfigInvalid(
            f"{config_key(model_name)} is not valid YAML{where}: {getattr(exc, 'problem', exc)}{started}",
            fix="correct the YAML syntax of rollout.yaml (indentation, colons, quotes, closing brackets), then upload "
            "the artifact again",
        ) from None
    return parse_config(document, model_name=model_name, stack_defaults=stack_defaults)
