"""SageMaker for the sandbox: endpoints that take time, fail on demand and serve a pluggable data plane.

moto answers every endpoint call at once and leaves the endpoint "InService"; the rollout control plane is
mostly about what happens in between. This module makes endpoints move through Creating / Updating /
InService / Failed / Deleting on sandbox time (durations in DEFAULT_DURATIONS, each with its source; a deleted
endpoint stays Deleting, then DescribeEndpoint answers "Could not find endpoint"), refuses CreateModel with an
image outside Amazon ECR unless ImageConfig says Vpc (and Vpc without a VpcConfig), holds endpoint configs to
ProductionVariant's ranges and current instance types (and serverless variants to their ranges and exclusions:
one variant, no data capture, no update of an instance-based endpoint to serverless), adds what moto lacks
(UpdateEndpoint, shadow variants, monitoring schedules and executions), routes sagemaker-runtime InvokeEndpoint
to a data plane the sandbox supplies (a shadow variant gets a copy of the request, its answer discarded), and
injects the faults armed on `Emulator.faults`:

    operation                          matched on                                  modes
    sagemaker.create_endpoint          endpoint=<name>                             fail
    sagemaker.update_endpoint          endpoint=<name>, endpoint_config=<new>      fail, silent_rollback
    sagemaker.update_endpoint_weights  endpoint=<name>                             fail, silent_rollback
    sagemaker.api                      action=<Action>, service=<sagemaker|...>    throttle
    sagemaker.scaling_activity         action=<UpdateEndpoint|UpdateEndpoint       scale_out
                                       WeightsAndCapacities>, endpoint=<name>,
                                       endpoint_config=<new> (UpdateEndpoint)
`scale_out`: just before the call, an InService endpoint's first variant gets one instance more through
UpdateEndpointWeightsAndCapacities, as an Application Auto Scaling activity would make it; the call then meets
the endpoint Updating and is refused by the same rule as any change of an in-progress endpoint.

`params={"failure_reason": "..."}` on a fault replaces the default FailureReason.

State changes are computed lazily from the sandbox clock whenever an endpoint or schedule is read, under one
lock, so the moto server's request threads always agree. Each endpoint status change puts one "SageMaker
Endpoint State Change" event (source aws.sagemaker) on the default EventBridge bus: CREATING on
CreateEndpoint, UPDATING on UpdateEndpoint and UpdateEndpointWeightsAndCapacities, IN_SERVICE or FAILED when
the operation completes (stamped with the moment it completed), DELETING on DeleteEndpoint. A ticker job
settles due operations every tick, so a completion reaches EventBridge within a tick of sandbox time even when
nobody reads the endpoint; it is emitted where the change is applied, under the lock, hence exactly once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    SageMakerModelBackend,
    sagemaker_backends,
)
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Emulator, Faults
    from mlrollout_sandbox.emulator._patching import Patcher

__all__ = [
    "DEFAULT_CREATE_SECONDS",
    "DEFAULT_DELETE_SECONDS",
    "DEFAULT_DURATIONS",
    "DEFAULT_SCHEDULE_PENDING_SECONDS",
    "DEFAULT_UPDATE_SECONDS",
    "DEFAULT_WEIGHTS_SECONDS",
    "ENDPOINT_STATE_CHANGE",
    "DataPlane",
    "Duration",
    "EndpointState",
    "SageMakerService",
    "SandboxUnsupported",
    "Transition",
    "VariantState",
    "endpoint_state_change_event",
    "event_status",
    "install",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Duration:
    """How long one endpoint operation takes in virtual seconds, and what that figure rests on."""

    seconds: float
    source: str


# SageMaker publishes no typical durations, only that creation takes minutes; the SDK's waiters bound them
# (botocore data/sagemaker/2017-07-24/waiters-2.json: EndpointInService polls every 30 s up to 120 times,
# EndpointDeleted every 30 s up to 60 times). Each default sits inside what its source says; the sandbox's
# clock warp makes them cheap, so realism costs no wall time. docs/sandbox-fidelity.md repeats this table.
DEFAULT_DURATIONS: Mapping[str, Duration] = {
    "create": Duration(
        180.0,
        '"it can take a few minutes for the endpoint to become available" '
        "(https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-create-endpoint.html); "
        "at most 60 min by the EndpointInService waiter",
    ),
    "update": Duration(
        180.0,
        "UpdateEndpoint deploys the new configuration to a new fleet of instances, shifts traffic, then deletes "
        "the old instances (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html, "
        "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html): it provisions "
        "what a creation provisions, so it takes at least as long",
    ),
    "weights": Duration(
        30.0,
        "no reference found: UpdateEndpointWeightsAndCapacities provisions no new fleet for a weight-only "
        "change; one waiter poll interval (30 s)",
    ),
    "delete": Duration(
        60.0,
        "no reference found for a typical figure; at most 30 min by the EndpointDeleted waiter; two waiter poll "
        "intervals, so a client polling as the SDK waiter does sees Deleting before the endpoint is gone",
    ),
}
DEFAULT_CREATE_SECONDS = DEFAULT_DURATIONS["create"].seconds
DEFAULT_UPDATE_SECONDS = DEFAULT_DURATIONS["update"].seconds
DEFAULT_WEIGHTS_SECONDS = DEFAULT_DURATIONS["weights"].seconds
DEFAULT_DELETE_SECONDS = DEFAULT_DURATIONS["delete"].seconds
DEFAULT_SCHEDULE_PENDING_SECONDS = 60.0

DataPlane = Callable[[str, str | None, bytes, str, str | None], tuple[int, bytes, str, str]]
"""(endpoint, variant, body, content_type, accept) -> (status, body, content_type, invoked_variant).

The emulator has already resolved the variant (TargetVariant, or a pick weighted by CurrentWeight) when it
calls the data plane, so `variant` names the variant that should answer.
"""

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
"""Builds a patch from the moto function it replaces (so the patch can delegate to it)."""

CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
UPDATE_WEIGHTS = "UpdateEndpointWeightsAndCapacities"
DELETE_ENDPOINT = "DeleteEndpoint"

_SUCCEED = "succeed"
_FAIL = "fail"
_SILENT_ROLLBACK = "silent_rollback"
_THROTTLE = "throttle"
_SCALE_OUT = "scale_out"

_IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# Updating endpoints keep serving on their current variants (that is the point of a blue/green update).
_SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})

# A private Amazon ECR image: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag|@digest].
_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/\S+$")
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

ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
SETTLE_JOB = "sagemaker:endpoint-transitions"

EventSink = Callable[[dict[str, Any], str, str], None]
"""(event, account, region): puts an AWS service's event on that account's and region's default bus."""

_VARIANT_SUMMARY_KEYS = (
    "VariantName",
    "DeployedImages",
    "CurrentWeight",
    "DesiredWeight",
    "CurrentInstanceCount",
    "DesiredInstanceCount",
    "CurrentServerlessConfig",
    "DesiredServerlessConfig",
)
# Nothing is deployed yet while an endpoint is Creating, so only the desired side is known.
_CREATING_VARIANT_KEYS = ("VariantName", "DesiredWeight", "DesiredInstanceCount", "DesiredServerlessConfig")
# The documented endpoint events carry the variants' names, weights and capacities, not their images.
_EVENT_VARIANT_KEYS = tuple(k for k in _VARIANT_SUMMARY_KEYS if k != "DeployedImages")
_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


# --------------------------------------------------------------------------------------------------- errors


class SandboxUnsupported(HTTPException):
    """A real SageMaker option the sandbox does not emulate: refused loudly instead of silently ignored."""

    error_code = "SandboxUnsupportedOperation"

    def __init__(self, message: str) -> None:
        super().__init__(description=json.dumps({"__type": self.error_code, "message": message}))
        self.code = 400

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "application/x-amz-json-1.1"), ("X-Amzn-ErrorType", self.error_code)]


class _RuntimeValidationError(ServiceException):
    # sagemaker-runtime spells its validation error differently from the control plane.
    code = "ValidationError"


class _ModelError(ServiceException):
    code = "ModelError"

    def __init__(self, message: str, *, original_status: int, original_message: str, log_stream_arn: str) -> None:
        super().__init__(message)
        self.OriginalStatusCode = original_status
        self.OriginalMessage = original_message
        self.LogStreamArn = log_stream_arn


class _RuntimeInternalFailure(ServiceException):
    code = "InternalFailure"


def _endpoint_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


def _config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def _endpoint_not_found(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(f'Could not find endpoint "{_endpoint_arn(backend, name)}".')


def _config_not_found(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(f'Could not find endpoint configuration "{_config_arn(backend, name)}".')


def _image_problem(container: Mapping[str, Any]) -> str | None:
    """SageMaker pulls a model's image from Amazon ECR unless ImageConfig.RepositoryAccessMode is Vpc (a private
    registry reached through the model's VPC); any other image is refused at CreateModel, in these words."""
    image = container.get("Image")
    if not image:
        return None  # a container from a model package names no image of its own
    mode = (container.get("ImageConfig") or {}).get("RepositoryAccessMode", "Platform")
    if mode == "Vpc" or _ECR_IMAGE.match(str(image)):
        return None
    return f'Using non-ECR image "{image}" without Vpc repository access mode is not supported.'


def _vpc_access_problem(container: Mapping[str, Any], vpc_config: Mapping[str, Any] | None) -> str | None:
    """A private registry is reached through the model's VPC: "Models that you create based on the images stored in
    your private Docker registry must be configured to connect to the same VPC where the private Docker registry is
    accessible" (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-containers-inference-private.html).
    AWS does not document the refusal's wording; this is ours."""
    mode = (container.get("ImageConfig") or {}).get("RepositoryAccessMode")
    if mode == "Vpc" and not (vpc_config or {}).get("Subnets"):
        return (
            f'Image "{container.get("Image")}" uses Vpc repository access mode, which requires a VpcConfig on the '
            "model to reach the private registry."
        )
    return None


# ProductionVariant's integer ranges (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html).
# botocore checks only the minimum on the client; SageMaker answers the rest.
_VARIANT_LIMITS = {
    "VolumeSizeInGB": (1, 512),
    "ModelDataDownloadTimeoutInSeconds": (60, 3600),
    "ContainerStartupHealthCheckTimeoutInSeconds": (60, 3600),
}


# ProductionVariantServerlessConfig's ranges
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html); moto 5.2.5
# checks only MemorySizeInMB's values.
_SERVERLESS_LIMITS = {"MaxConcurrency": (1, 200), "ProvisionedConcurrency": (1, 200)}
# What a serverless endpoint cannot have, and that an instance-based endpoint cannot be updated to serverless.
_SERVERLESS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"


def _check_variant_limits(variants: list[dict[str, Any]], member: str = "productionVariants") -> list[str]:
    """One AWS-style constraint message per out-of-range value (members are numbered from 1, as AWS does)."""
    found = []
    for index, variant in enumerate(variants, start=1):
        checked = [(f"{member}.{index}.member", variant, _VARIANT_LIMITS)]
        if isinstance(variant.get("ServerlessConfig"), dict):
            checked.append(
                (f"{member}.{index}.member.serverlessConfig", variant["ServerlessConfig"], _SERVERLESS_LIMITS)
            )
        for prefix, values, limits in checked:
            for key, (low, high) in limits.items():
                value = values.get(key)
                if value is None:
                    continue
                field = f"{prefix}.{key[0].lower()}{key[1:]}"
                if value > high:
                    found.append(
                        f"Value '{value}' at '{field}' failed to satisfy constraint: Member must have value less than "
                        f"or equal to {high}"
                    )
                elif value < low:
                    found.append(
                        f"Value '{value}' at '{field}' failed to satisfy constraint: Member must have value greater "
                        f"than or equal to {low}"
                    )
    return found


def _serverless(variants: list[dict[str, Any]]) -> bool:
    return any(v.get("ServerlessConfig") for v in variants)


def _check_serverless_config(production: list[dict[str, Any]], data_capture: Mapping[str, Any] | None) -> None:
    """SageMaker's serverless exclusions that CreateEndpointConfig can see: "multiple production variants" and "data
    capture" (_SERVERLESS_PAGE, Feature exclusions), and ProvisionedConcurrency "less than or equal to
    MaxConcurrency" (API_ProductionVariantServerlessConfig). The pages do not quote SageMaker's refusals: the
    messages are the sandbox's own, as ValidationException."""
    if not _serverless(production):
        return
    if len(production) > 1:
        raise ValidationError(
            f"An endpoint configuration with a serverless variant must have exactly one production variant; got "
            f"{len(production)}. Serverless Inference does not support multiple production variants."
        )
    if data_capture and data_capture.get("EnableCapture", True) is not False:
        raise ValidationError(
            "DataCaptureConfig is not supported for an endpoint configuration with a serverless variant: Serverless "
            "Inference does not support data capture."
        )
    config = production[0]["ServerlessConfig"]
    provisioned, most = config.get("ProvisionedConcurrency"), config.get("MaxConcurrency")
    if provisioned is not None and most is not None and provisioned > most:
        raise ValidationError(
            f"ProvisionedConcurrency ({provisioned}) must be less than or equal to MaxConcurrency ({most})."
        )


def _constraint_error(messages: list[str]) -> ValidationError:
    count = len(messages)
    return ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(messages))


def _check_name(value: Any, field_name: str) -> None:
    # botocore checks lengths client-side but never patterns, so only the server can refuse these.
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{field_name}' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        )


# ------------------------------------------------------------------------------------------------ time


def _naive(ts: float) -> datetime:
    """moto keeps naive UTC datetimes (its request parser produces them too), so ours match."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


# --------------------------------------------------------------------------------------------- read models


@dataclass(frozen=True)
class Transition:
    """One status change of an endpoint, stamped with the sandbox time at which it happened."""

    at: datetime
    operation: str
    status: str
    endpoint_config_name: str
    weights: dict[str, float]
    failure_reason: str | None = None


@dataclass(frozen=True)
class VariantState:
    name: str
    model_name: str | None
    instance_type: str | None
    current_weight: float | None
    desired_weight: float | None
    current_instance_count: int | None
    desired_instance_count: int | None


@dataclass(frozen=True)
class EndpointState:
    name: str
    arn: str
    status: str
    endpoint_config_name: str
    failure_reason: str | None
    variants: tuple[VariantState, ...]
    pending_operation: str | None
    pending_endpoint_config_name: str | None
    creation_time: datetime
    last_modified_time: datetime
    shadow_variants: tuple[VariantState, ...] = ()

    @property
    def weights(self) -> dict[str, float]:
        """Production variants only: the callers' requests are split across these."""
        return {v.name: v.current_weight or 0.0 for v in self.variants}

    @property
    def shadow_sampling(self) -> dict[str, float]:
        """Each shadow variant's share of production requests copied to it: every request.

        A shadow variant receives "a percentage of the incoming requests, replicated from the production variant",
        which "receives and responds to 100 percent" of them (https://docs.aws.amazon.com/sagemaker/latest/dg/
        shadow-tests-create.html), but that percentage (ShadowModelVariantConfig.SamplingPercentage) belongs to
        shadow tests. For ShadowProductionVariants no AWS page says how a weight maps to it; AWS's own example gives
        both variants weight 1 (https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html). The
        sandbox emulates only that case (CreateEndpointConfig refuses other weights, UpdateEndpointWeightsAndCapacities
        a new weight on a shadow), read as every request copied.
        """
        return dict.fromkeys((v.name for v in self.shadow_variants), 1.0)


@dataclass
class _Pending:
    operation: str
    started: float
    due: float
    outcome: str
    failure_reason: str | None
    endpoint_config_name: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    shadow_variants: list[dict[str, Any]] = field(default_factory=list)
    data_capture_config: dict[str, Any] = field(default_factory=dict)
    # A deletion's last step: removes the endpoint from moto's backend when the Deleting phase ends.
    finish: Callable[[], None] | None = None


@dataclass
class _EndpointRuntime:
    pending: _Pending | None = None
    history: list[Transition] = field(default_factory=list)


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


# ------------------------------------------------------------------------------------------------ service


class SageMakerService:
    """The state the sandbox keeps beside moto's SageMaker backend, and the sandbox's handle on it.

    Durations are virtual seconds and may be changed at any time; they apply to operations started later.
    """

    def __init__(self, clock: SandboxClock, faults: Faults, *, account_id: str, region: str) -> None:
        self.clock = clock
        self.faults = faults
        self.account_id = account_id
        self.region = region
        self.create_seconds = DEFAULT_CREATE_SECONDS
        self.update_seconds = DEFAULT_UPDATE_SECONDS
        self.weights_seconds = DEFAULT_WEIGHTS_SECONDS
        self.delete_seconds = DEFAULT_DELETE_SECONDS
        self.schedule_pending_seconds = DEFAULT_SCHEDULE_PENDING_SECONDS
        self.data_plane: DataPlane | None = None
        # Where endpoint state change events go (install wires the emulated EventBridge); None sends none.
        self.events: EventSink | None = None
        self.rng = random.Random()
        # What another emulated service checks before UpdateEndpoint and DeleteEndpoint (Application Auto
        # Scaling's rules, emulator/autoscaling.py): (operation, endpoint, the new variants, shadows too, or None),
        # called under this service's lock; a check refuses the operation by raising.
        self.endpoint_checks: list[Callable[[str, FakeEndpoint, list[dict[str, Any]] | None], None]] = []
        self._lock = threading.RLock()
        self._endpoints: dict[str, _EndpointRuntime] = {}  # by endpoint ARN (carries account and region)
        self._schedules: dict[tuple[str, str], dict[str, _Schedule]] = {}
        self._executions: dict[tuple[str, str], list[_Execution]] = {}

    # ---------------------------------------------------------------------------- sandbox-facing reads

    def endpoint_state(
        self, name: str, *, account_id: str | None = None, region: str | None = None
    ) -> EndpointState | None:
        """The endpoint as DescribeEndpoint would show it now, or None when it does not exist."""
        backend = self._backend(account_id, region)
        with self._lock:
            endpoint = self._settled(backend, name)
            if endpoint is None:
                return None
            runtime = self._endpoints.get(endpoint.arn) or _EndpointRuntime()
            pending = runtime.pending
            return EndpointState(
                name=endpoint.endpoint_name,
                arn=endpoint.arn,
                status=endpoint.endpoint_status,
                endpoint_config_name=endpoint.endpoint_config_name,
                failure_reason=endpoint.failure_reason,
                variants=tuple(_variant_state(v) for v in endpoint.production_variants),
                pending_operation=pending.operation if pending else None,
                pending_endpoint_config_name=pending.endpoint_config_name if pending else None,
                creation_time=_aware(endpoint.creation_time),
                last_modified_time=_aware(endpoint.last_modified_time),
                shadow_variants=tuple(_variant_state(v) for v in _shadows(endpoint)),
            )

    def transitions(self, name: str, *, account_id: str | None = None, region: str | None = None) -> list[Transition]:
        """Every status change of the endpoint so far, oldest first (empty once it is deleted)."""
        backend = self._backend(account_id, region)
        with self._lock:
            endpoint = self._settled(backend, name)
            if endpoint is None:
                return []
            runtime = self._endpoints.get(endpoint.arn)
            return list(runtime.history) if runtime else []

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

    # ------------------------------------------------------------------------- endpoint lifecycle

    def _create_endpoint(
        self,
        backend: SageMakerModelBackend,
        original: Callable[..., FakeEndpoint],
        endpoint_name: str,
        endpoint_config_name: str,
        tags: list[dict[str, str]] | None,
    ) -> FakeEndpoint:
        with self._lock:
            if endpoint_name in backend.endpoints:
                raise ValidationError(
                    f'Cannot create already existing endpoint "{_endpoint_arn(backend, endpoint_name)}".'
                )
            config = self._config(backend, endpoint_config_name)
            now = self.clock.time()
            due = now + self.create_seconds
            variants = self._variants_from_config(backend, config.production_variants, due)
            shadows = self._variants_from_config(backend, _config_shadows(config), due)
            outcome, reason = self._outcome(
                "sagemaker.create_endpoint",
                {_FAIL},
                endpoint=endpoint_name,
                endpoint_config=endpoint_config_name,
            )
            endpoint = original(
                backend, endpoint_name=endpoint_name, endpoint_config_name=endpoint_config_name, tags=tags
            )
            endpoint.creation_time = endpoint.last_modified_time = _naive(now)
            endpoint.endpoint_status = "Creating"
            endpoint.failure_reason = None
            endpoint.production_variants = variants
            endpoint.shadow_production_variants = shadows  # type: ignore[attr-defined]
            endpoint.data_capture_config = copy.deepcopy(config.data_capture_config)
            runtime = _EndpointRuntime()
            runtime.pending = _Pending(
                operation=CREATE_ENDPOINT,
                started=now,
                due=due,
                outcome=outcome,
                failure_reason=reason or _health_check_reason(variants),
            )
            self._endpoints[endpoint.arn] = runtime
            self._record(runtime, endpoint, CREATE_ENDPOINT, now)
            return endpoint

    def _update_endpoint(
        self,
        backend: SageMakerModelBackend,
        *,
        endpoint_name: str,
        endpoint_config_name: str,
        retain_all_variant_properties: bool | None = None,
        exclude_retained_variant_properties: list[dict[str, str]] | None = None,
        deployment_config: dict[str, Any] | None = None,
        retain_deployment_config: bool | None = None,
    ) -> str:
        excluded = {str(p.get("VariantPropertyType")) for p in exclude_retained_variant_properties or []}
        if excluded and not retain_all_variant_properties:
            raise SandboxUnsupported(
                "ExcludeRetainedVariantProperties applies with RetainAllVariantProperties=true only; what SageMaker "
                "does with it alone is not documented, so the sandbox refuses it"
            )
        if "DataCaptureConfig" in excluded:
            raise SandboxUnsupported(
                "ExcludeRetainedVariantProperties DataCaptureConfig is '(Not currently supported.)' by SageMaker "
                "(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VariantProperty.html)"
            )
        if deployment_config or retain_deployment_config:
            raise SandboxUnsupported(
                "the sandbox does not emulate DeploymentConfig (blue/green or rolling deployment "
                "guardrails); shift traffic with UpdateEndpointWeightsAndCapacities instead"
            )
        with self._lock:
            endpoint = self._endpoint(backend, endpoint_name)
            config = self._config(backend, endpoint_config_name)
            self._scaling_activity_first(backend, endpoint, "UpdateEndpoint", endpoint_config=endpoint_config_name)
            self._require_updatable(backend, endpoint)
            if _serverless(config.production_variants) and not _serverless_endpoint(endpoint):
                # "If you try to update your real-time endpoint to serverless, you receive a ValidationError
                # message. You can convert a serverless endpoint to real-time, but once you make the update, you
                # cannot roll it back to serverless." (_SERVERLESS_PAGE, Feature exclusions; the message is ours.)
                raise ValidationError(
                    f'Cannot update endpoint "{endpoint.arn}" to serverless endpoint configuration '
                    f'"{endpoint_config_name}": an instance-based endpoint cannot be converted to a serverless '
                    "endpoint."
                )
            now = self.clock.time()
            due = now + self.update_seconds
            variants = self._variants_from_config(backend, config.production_variants, due)
            shadows = self._variants_from_config(backend, _config_shadows(config), due)
            if retain_all_variant_properties:
                _retain_variant_properties(endpoint, [*variants, *shadows], excluded)
            for check in self.endpoint_checks:
                check(UPDATE_ENDPOINT, endpoint, [*variants, *shadows])
            outcome, reason = self._outcome(
                "sagemaker.update_endpoint",
                {_FAIL, _SILENT_ROLLBACK},
                endpoint=endpoint_name,
                endpoint_config=endpoint_config_name,
            )
            if reason is None and outcome == _SILENT_ROLLBACK:
                reason = (
                    f"{_health_check_reason(variants)} The update to endpoint configuration "
                    f'"{endpoint_config_name}" was rolled back to "{endpoint.endpoint_config_name}".'
                )
            runtime = self._endpoints.setdefault(endpoint.arn, _EndpointRuntime())
            runtime.pending = _Pending(
                operation=UPDATE_ENDPOINT,
                started=now,
                due=due,
                outcome=outcome,
                failure_reason=reason or _health_check_reason(variants),
                endpoint_config_name=endpoint_config_name,
                variants=variants,
                shadow_variants=shadows,
                data_capture_config=copy.deepcopy(config.data_capture_config),
            )
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = _naive(now)
            self._record(runtime, endpoint, UPDATE_ENDPOINT, now)
            return str(endpoint.arn)

    def _update_weights(
        self,
        backend: SageMakerModelBackend,
        endpoint_name: str,
        desired_weights_and_capacities: list[dict[str, Any]],
        *,
        by_scaling_fault: bool = False,
    ) -> str:
        with self._lock:
            endpoint = self._endpoint(backend, endpoint_name)
            if not by_scaling_fault:  # the activity a fault starts is not itself preceded by one
                self._scaling_activity_first(backend, endpoint, "UpdateEndpointWeightsAndCapacities")
            self._require_updatable(backend, endpoint)
            changes = _validate_desired(endpoint, desired_weights_and_capacities or [])
            outcome, reason = self._outcome(
                "sagemaker.update_endpoint_weights", {_FAIL, _SILENT_ROLLBACK}, endpoint=endpoint_name
            )
            now = self.clock.time()
            # A shadow variant's capacity is scaled like any variant's ("configure autoscaling on your shadow
            # variants", https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-best-practices.html); what a
            # new weight on it would mean, no AWS page says, so the sandbox refuses that (`_validate_desired`).
            for variant in [*endpoint.production_variants, *_shadows(endpoint)]:
                change = changes.get(variant["VariantName"])
                if change is None:
                    continue
                if change.get("DesiredWeight") is not None:
                    variant["DesiredWeight"] = float(change["DesiredWeight"])
                if change.get("DesiredInstanceCount") is not None:
                    variant["DesiredInstanceCount"] = int(change["DesiredInstanceCount"])
            runtime = self._endpoints.setdefault(endpoint.arn, _EndpointRuntime())
            runtime.pending = _Pending(
                operation=UPDATE_WEIGHTS,
                started=now,
                due=now + self.weights_seconds,
                outcome=outcome,
                failure_reason=reason
                or "Unable to provision requested ML compute capacity. Please retry using a different ML "
                "instance type.",
            )
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = _naive(now)
            self._record(runtime, endpoint, UPDATE_WEIGHTS, now)
            return str(endpoint.arn)

    def _describe_endpoint(self, backend: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
        with self._lock:
            endpoint = self._endpoint(backend, endpoint_name)
            runtime = self._endpoints.get(endpoint.arn) or _EndpointRuntime()
            creating = endpoint.endpoint_status == "Creating"
            keys = _CREATING_VARIANT_KEYS if creating else _VARIANT_SUMMARY_KEYS
            out: dict[str, Any] = {
                "EndpointName": endpoint.endpoint_name,
                "EndpointArn": endpoint.arn,
                "EndpointConfigName": endpoint.endpoint_config_name,
                "ProductionVariants": [_summary(v, keys) for v in endpoint.production_variants],
                "EndpointStatus": endpoint.endpoint_status,
                "CreationTime": endpoint.creation_time,
                "LastModifiedTime": endpoint.last_modified_time,
            }
            if _shadows(endpoint):
                out["ShadowProductionVariants"] = [_summary(v, keys) for v in _shadows(endpoint)]
            if endpoint.failure_reason:
                out["FailureReason"] = endpoint.failure_reason
            capture = _data_capture_summary(endpoint.data_capture_config)
            if capture:
                out["DataCaptureConfig"] = capture
            pending = runtime.pending
            if pending is not None and pending.operation == UPDATE_ENDPOINT:
                out["PendingDeploymentSummary"] = _pending_deployment(pending)
            return out

    def _delete_endpoint(
        self, backend: SageMakerModelBackend, original: Callable[..., None], endpoint_name: str
    ) -> None:
        with self._lock:
            endpoint = self._endpoint(backend, endpoint_name)
            if endpoint.endpoint_status in _IN_PROGRESS:
                # SageMaker refuses to delete an endpoint mid-operation, with the same message as updates.
                raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            for check in self.endpoint_checks:
                check(DELETE_ENDPOINT, endpoint, None)
            # DescribeEndpoint reports Deleting ("DeleteEndpoint is executing") until the endpoint is gone; then
            # it answers ValidationException "Could not find endpoint", which is what the SDK's EndpointDeleted
            # waiter takes for success. moto removes the endpoint at once, so the removal waits for the due time.
            now = self.clock.time()
            runtime = self._endpoints.setdefault(endpoint.arn, _EndpointRuntime())
            runtime.pending = _Pending(
                operation=DELETE_ENDPOINT,
                started=now,
                due=now + self.delete_seconds,
                outcome=_SUCCEED,
                failure_reason=None,
                finish=partial(original, backend, endpoint_name),
            )
            endpoint.endpoint_status = "Deleting"
            endpoint.last_modified_time = _naive(now)
            self._record(runtime, endpoint, DELETE_ENDPOINT, now)

    def _settle_all(self, backend: SageMakerModelBackend) -> None:
        with self._lock:
            for endpoint in list(backend.endpoints.values()):
                self._settle(endpoint)

    def settle_due(self) -> None:
        """Apply every endpoint operation whose time has come, in every account and region (the ticker's job),
        so their state change events go out on time even when nobody describes the endpoints."""
        for _account, regions in list(sagemaker_backends.items()):
            for _region, backend in list(regions.items()):
                self._settle_all(backend)

    # ----------------------------------------------------------------------- endpoint configurations

    def _create_config(
        self, backend: SageMakerModelBackend, original: Callable[..., FakeEndpointConfig], **kwargs: Any
    ) -> FakeEndpointConfig:
        name = kwargs["endpoint_config_name"]
        shadows = kwargs.pop("shadow_production_variants", None)
        with self._lock:
            if name in backend.endpoint_configs:
                raise ValidationError(
                    f'Cannot create already existing endpoint configuration "{_config_arn(backend, name)}".'
                )
            if shadows is not None:
                _check_shadow_config(kwargs.get("production_variants") or [], shadows, kwargs)
            out_of_range = _check_variant_limits(kwargs.get("production_variants") or []) + _check_variant_limits(
                shadows or [], "shadowProductionVariants"
            )
            if out_of_range:
                raise _constraint_error(out_of_range)
            _check_serverless_config(kwargs.get("production_variants") or [], kwargs.get("data_capture_config"))
            config = original(backend, **kwargs)
            if shadows is not None:
                try:
                    # The shadow variants are ProductionVariant objects: held to the same rules moto applies to
                    # the production ones (an instance type or a serverless config; a model that exists).
                    config.validate_production_variants(shadows)
                    backend.validate_production_variants(shadows)
                except Exception:
                    del backend.endpoint_configs[name]
                    raise
                # moto's response object is built from the attributes, so DescribeEndpointConfig shows it.
                config.shadow_production_variants = copy.deepcopy(shadows)  # type: ignore[attr-defined]
            config.creation_time = _naive(self.clock.time())
            return config

    def _config(self, backend: SageMakerModelBackend, name: str) -> FakeEndpointConfig:
        config = backend.endpoint_configs.get(name)
        if config is None:
            raise _config_not_found(backend, name)
        return config

    # --------------------------------------------------------------------------------- internals

    def _backend(self, account_id: str | None, region: str | None) -> SageMakerModelBackend:
        return sagemaker_backends[account_id or self.account_id][region or self.region]

    @staticmethod
    def _key(backend: SageMakerModelBackend) -> tuple[str, str]:
        return (backend.account_id, backend.region_name)

    def _endpoint(self, backend: SageMakerModelBackend, name: str) -> FakeEndpoint:
        endpoint = self._settled(backend, name)
        if endpoint is None:
            raise _endpoint_not_found(backend, name)
        return endpoint

    def _settled(self, backend: SageMakerModelBackend, name: str) -> FakeEndpoint | None:
        """The endpoint after applying its due operation, or None (never existed, or its deletion finished)."""
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            return None
        self._settle(endpoint)
        return backend.endpoints.get(name)

    def _require_updatable(self, backend: SageMakerModelBackend, endpoint: FakeEndpoint) -> None:
        if endpoint.endpoint_status in _IN_PROGRESS:
            raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        if endpoint.endpoint_status == "Failed":
            # The DescribeEndpoint reference says of Failed: "DeleteEndpoint is the only operation that can
            # be performed on a failed endpoint." SageMaker answers UpdateEndpoint and
            # UpdateEndpointWeightsAndCapacities with this ValidationException; recovery is delete + create.
            raise ValidationError(f'Cannot update failed endpoint "{endpoint.arn}".')

    def _scaling_activity_first(
        self, backend: SageMakerModelBackend, endpoint: FakeEndpoint, action: str, **match: str
    ) -> None:
        """The `sagemaker.scaling_activity` fault: a capacity change of the endpoint's first variant starts just
        before `action`, as Application Auto Scaling makes one (callers hold the lock, an RLock). It lasts what a
        weight change lasts, or `params={"seconds": N}` (how long provisioning an instance takes: no AWS figure)."""
        if endpoint.endpoint_status != "InService":
            return
        fault = self.faults.take("sagemaker.scaling_activity", action=action, endpoint=endpoint.endpoint_name, **match)
        if fault is None:
            return
        if fault.mode != _SCALE_OUT:
            raise ValueError(f"fault 'sagemaker.scaling_activity' supports mode {_SCALE_OUT!r}, not {fault.mode!r}")
        variant = endpoint.production_variants[0]
        count = int(variant.get("DesiredInstanceCount") or variant.get("CurrentInstanceCount") or 1)
        self._update_weights(
            backend,
            endpoint.endpoint_name,
            [{"VariantName": variant["VariantName"], "DesiredInstanceCount": count + 1}],
            by_scaling_fault=True,
        )
        runtime = self._endpoints[endpoint.arn]
        if "seconds" in fault.params and runtime.pending is not None:
            runtime.pending.due = runtime.pending.started + float(fault.params["seconds"])

    def _outcome(self, operation: str, modes: set[str], **match: str) -> tuple[str, str | None]:
        fault = self.faults.take(operation, **match)
        if fault is None:
            return _SUCCEED, None
        if fault.mode not in modes:
            raise ValueError(f"fault {operation!r} supports modes {sorted(modes)}, not {fault.mode!r}")
        reason = fault.params.get("failure_reason")
        return fault.mode, str(reason) if reason else None

    def _settle(self, endpoint: Any) -> None:
        """Apply the endpoint's pending operation if its time has come (callers hold the lock)."""
        runtime = self._endpoints.get(endpoint.arn)
        if runtime is None or runtime.pending is None:
            return
        pending = runtime.pending
        if self.clock.time() < pending.due:
            return
        runtime.pending = None
        if pending.operation == DELETE_ENDPOINT:
            # Gone: no status to record and no event (SageMaker sends none after DELETING).
            if pending.finish is not None:
                pending.finish()
            self._endpoints.pop(endpoint.arn, None)
            return
        if pending.outcome == _SUCCEED:
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = None
            if pending.operation == UPDATE_ENDPOINT:
                endpoint.endpoint_config_name = pending.endpoint_config_name or endpoint.endpoint_config_name
                endpoint.production_variants = pending.variants
                endpoint.shadow_production_variants = pending.shadow_variants
                endpoint.data_capture_config = pending.data_capture_config
            elif pending.operation == UPDATE_WEIGHTS:
                _apply_desired([*endpoint.production_variants, *_shadows(endpoint)])
        else:
            # silent_rollback is what SageMaker does when an update fails its health checks: the endpoint is
            # back InService on the old configuration and only FailureReason says the update did not happen.
            endpoint.endpoint_status = "Failed" if pending.outcome == _FAIL else "InService"
            endpoint.failure_reason = pending.failure_reason
            if pending.operation == UPDATE_WEIGHTS:
                _revert_desired([*endpoint.production_variants, *_shadows(endpoint)])
        endpoint.last_modified_time = _naive(pending.due)
        self._record(runtime, endpoint, pending.operation, pending.due)

    def _record(self, runtime: _EndpointRuntime, endpoint: FakeEndpoint, operation: str, at: float) -> None:
        """Record a status change just applied (callers hold the lock) and send its event."""
        runtime.history.append(
            Transition(
                at=datetime.fromtimestamp(at, UTC),
                operation=operation,
                status=endpoint.endpoint_status,
                endpoint_config_name=endpoint.endpoint_config_name,
                weights={v["VariantName"]: v.get("CurrentWeight") or 0.0 for v in endpoint.production_variants},
                failure_reason=endpoint.failure_reason,
            )
        )
        self._emit(endpoint, at)

    def _emit(
        self, endpoint: FakeEndpoint, at: float, *, status: str | None = None, last_modified: float | None = None
    ) -> None:
        sink = self.events
        if sink is None:
            return
        event = endpoint_state_change_event(endpoint, at, status=status, last_modified=last_modified)
        # SageMaker never fails a request because EventBridge did; the sandbox logs instead of hiding it.
        try:
            sink(event, event["account"], event["region"])
        except Exception:
            log.exception("endpoint state change event for %s not sent to EventBridge", endpoint.endpoint_name)

    def _variants_from_config(
        self, backend: SageMakerModelBackend, specs: list[dict[str, Any]], ready_at: float
    ) -> list[dict[str, Any]]:
        variants = []
        for spec in specs:
            weight = float(spec.get("InitialVariantWeight", 1.0))
            variant: dict[str, Any] = {
                "VariantName": spec["VariantName"],
                "ModelName": spec.get("ModelName"),
                "InstanceType": spec.get("InstanceType"),
                "CurrentWeight": weight,
                "DesiredWeight": weight,
            }
            if spec.get("InitialInstanceCount") is not None:
                variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = int(spec["InitialInstanceCount"])
            if spec.get("ServerlessConfig"):
                variant["CurrentServerlessConfig"] = copy.deepcopy(spec["ServerlessConfig"])
                variant["DesiredServerlessConfig"] = copy.deepcopy(spec["ServerlessConfig"])
            images = _deployed_images(backend, spec.get("ModelName"), ready_at)
            if images:
                variant["DeployedImages"] = images
            variants.append(variant)
        return variants

    # --------------------------------------------------------------------------------- data plane

    def _invoke(self, response: SageMakerRuntimeResponse, original: Callable[[Any], TYPE_RESPONSE]) -> TYPE_RESPONSE:
        data_plane = self.data_plane
        if data_plane is None:
            return original(response)
        name = unquote(response.path.split("/")[2])
        headers = response.headers
        target = headers.get("X-Amzn-SageMaker-Target-Variant") or None
        content_type = headers.get("Content-Type") or "application/octet-stream"
        accept = headers.get("Accept") or None
        body = response.raw_body if isinstance(response.raw_body, bytes) else str(response.raw_body).encode()
        backend = sagemaker_backends[response.current_account][response.region]
        variant = self._route(backend, name, target)
        try:
            status, out_body, out_type, invoked = data_plane(name, variant, body, content_type, accept)
        except Exception as exc:
            log.exception("sandbox data plane failed for endpoint %s", name)
            raise _RuntimeInternalFailure(f"sandbox data plane raised {type(exc).__name__}: {exc}") from exc
        invoked = invoked or variant
        for shadow in self._shadow_copies(backend, name):
            # The shadow's answer is discarded and never fails the caller's request: only the production
            # variant "receives and responds to" it (https://docs.aws.amazon.com/sagemaker/latest/dg/
            # shadow-tests-create.html). Its own metrics record how it fared.
            try:
                data_plane(name, shadow, body, content_type, accept)
            except Exception:
                log.exception("sandbox data plane failed for shadow variant %s of endpoint %s", shadow, name)
        if status >= 400:
            raise _model_error(backend, name, status, out_body)
        return 200, {"Content-Type": out_type, "x-Amzn-Invoked-Production-Variant": invoked}, out_body

    def _shadow_copies(self, backend: SageMakerModelBackend, name: str) -> list[str]:
        """The shadow variants that receive a copy of this request: each of them (`EndpointState.shadow_sampling`)."""
        with self._lock:
            endpoint = self._settled(backend, name)
            return [str(v["VariantName"]) for v in _shadows(endpoint)] if endpoint is not None else []

    def _route(self, backend: SageMakerModelBackend, name: str, target: str | None) -> str:
        with self._lock:
            endpoint = self._settled(backend, name)
            if endpoint is None or endpoint.endpoint_status not in _SERVING:
                # Creating and Failed endpoints have no instances behind them; the runtime answers as if the
                # endpoint did not exist (observed wording of real SageMaker).
                raise _RuntimeValidationError(f"Endpoint {name} of account {backend.account_id} not found.")
            variants = [(v["VariantName"], float(v.get("CurrentWeight") or 0.0)) for v in endpoint.production_variants]
            if target is not None:
                if target not in {n for n, _ in variants}:
                    raise _RuntimeValidationError(
                        f'The variant name "{target}" is not present within endpoint "{name}".'
                    )
                return target
            live = [(n, w) for n, w in variants if w > 0]
            if not live:
                raise _RuntimeValidationError(f"Endpoint {name} has no production variant with a positive weight.")
            chosen: str = self.rng.choices([n for n, _ in live], weights=[w for _, w in live])[0]
            return chosen

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
            selected = [s for s in schedules if all(check(s) for check in checks)]
            sort_keys: dict[str, Callable[[_Schedule], Any]] = {
                "Name": lambda s: s.name,
                "Status": lambda s: s.status,
                "CreationTime": lambda s: s.creation_time,
            }
            selected.sort(
                key=sort_keys[params.get("SortBy") or "CreationTime"],
                reverse=(params.get("SortOrder") or "Descending") == "Descending",
            )
            page, token = _paginate(selected, params.get("NextToken"), params.get("MaxResults"))
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
            selected = [e for e in executions if all(check(e) for check in checks)]
            sort_keys: dict[str, Callable[[_Execution], Any]] = {
                "CreationTime": lambda e: e.creation_time,
                "ScheduledTime": lambda e: e.scheduled_time,
                "Status": lambda e: e.status,
            }
            selected.sort(
                key=sort_keys[params.get("SortBy") or "CreationTime"],
                reverse=(params.get("SortOrder") or "Descending") == "Descending",
            )
            page, token = _paginate(selected, params.get("NextToken"), params.get("MaxResults"))
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


# -------------------------------------------------------------------------------------- pure helpers


def event_status(status: str) -> str:
    """EndpointStatus as SageMaker's events spell it: InService -> IN_SERVICE, RollingBack -> ROLLING_BACK."""
    return _CAMEL_BOUNDARY.sub("_", status).upper()


def _millis(value: datetime | float) -> float:
    # The documented endpoint events carry epoch milliseconds as JSON numbers with a fraction (1592411992203.0).
    seconds = _aware(value).timestamp() if isinstance(value, datetime) else float(value)
    return float(round(seconds * 1000))


def endpoint_state_change_event(
    endpoint: FakeEndpoint, at: float, *, status: str | None = None, last_modified: float | None = None
) -> dict[str, Any]:
    """The "SageMaker Endpoint State Change" event for `endpoint` as it is now (or with `status`), at `at`."""
    status = status or endpoint.endpoint_status
    keys = _CREATING_VARIANT_KEYS if status == "Creating" else _EVENT_VARIANT_KEYS
    detail: dict[str, Any] = {
        "EndpointName": endpoint.endpoint_name,
        "EndpointArn": endpoint.arn,
        "EndpointConfigName": endpoint.endpoint_config_name,
        "ProductionVariants": [
            {k: copy.deepcopy(v[k]) for k in keys if v.get(k) is not None} for v in endpoint.production_variants
        ],
        "EndpointStatus": event_status(status),
    }
    if endpoint.failure_reason:
        detail["FailureReason"] = endpoint.failure_reason
    detail.update(
        {
            "CreationTime": _millis(endpoint.creation_time),
            "LastModifiedTime": _millis(last_modified if last_modified is not None else endpoint.last_modified_time),
            "Tags": {str(t["Key"]): str(t.get("Value", "")) for t in endpoint.tags or []},
        }
    )
    region, account = endpoint.arn.split(":")[3:5]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": ENDPOINT_STATE_CHANGE,
        "source": "aws.sagemaker",
        "account": account,
        "time": at,
        "region": region,
        "resources": [endpoint.arn],
        "detail": detail,
    }


def _serverless_endpoint(endpoint: FakeEndpoint) -> bool:
    """Whether the endpoint serves serverless variants now (their DescribeEndpoint shows a CurrentServerlessConfig)."""
    return any(v.get("CurrentServerlessConfig") for v in endpoint.production_variants)


def _variant_state(variant: Mapping[str, Any]) -> VariantState:
    return VariantState(
        name=variant["VariantName"],
        model_name=variant.get("ModelName"),
        instance_type=variant.get("InstanceType"),
        current_weight=variant.get("CurrentWeight"),
        desired_weight=variant.get("DesiredWeight"),
        current_instance_count=variant.get("CurrentInstanceCount"),
        desired_instance_count=variant.get("DesiredInstanceCount"),
    )


def _validate_desired(endpoint: FakeEndpoint, desired: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if not desired:
        raise ValidationError("DesiredWeightsAndCapacities must name at least one variant.")
    known = {v["VariantName"] for v in [*endpoint.production_variants, *_shadows(endpoint)]}
    changes: dict[str, dict[str, Any]] = {}
    for item in desired:
        name = str(item.get("VariantName"))
        if name in changes:
            raise ValidationError(f'The variant name "{name}" was non-unique within the request.')
        if name not in known:
            raise ValidationError(
                f'The variant name(s) "{name}" is/are not present within endpoint configuration '
                f'"{endpoint.endpoint_config_name}".'
            )
        weight, count = item.get("DesiredWeight"), item.get("DesiredInstanceCount")
        if item.get("ServerlessUpdateConfig"):
            raise SandboxUnsupported("the sandbox does not emulate ServerlessUpdateConfig")
        if weight is None and count is None:
            raise ValidationError(f'Variant "{name}" must specify DesiredWeight or DesiredInstanceCount.')
        if weight is not None and name in {str(v["VariantName"]) for v in _shadows(endpoint)}:
            raise SandboxUnsupported(
                f'a new weight for shadow variant "{name}" is not emulated: no AWS page says what a shadow '
                "variant's weight does once set (the share of requests copied is documented only for shadow tests, "
                f"InferenceExperiment; {_SHADOW_DEPLOYMENT_PAGE}). Change its DesiredInstanceCount only."
            )
        if weight is not None and float(weight) < 0:
            raise ValidationError(
                f"Value '{weight}' at 'desiredWeightsAndCapacities.{name}.desiredWeight' failed to satisfy "
                "constraint: Member must have value greater than or equal to 0"
            )
        if count is not None and int(count) < 0:
            raise ValidationError(
                f"Value '{count}' at 'desiredWeightsAndCapacities.{name}.desiredInstanceCount' failed to "
                "satisfy constraint: Member must have value greater than or equal to 0"
            )
        changes[name] = item
    return changes


def _retain_variant_properties(endpoint: FakeEndpoint, variants: list[dict[str, Any]], excluded: set[str]) -> None:
    """UpdateEndpoint with RetainAllVariantProperties: a variant of the new configuration named like a running one
    keeps that one's DesiredInstanceCount and DesiredWeight (from DescribeEndpoint), "regardless of the value of
    the InitialInstanceCount field in the new EndpointConfig", except the properties ExcludeRetainedVariantProperties
    names, which come from the configuration (https://docs.aws.amazon.com/sagemaker/latest/dg/
    endpoint-scaling-update.html, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VariantProperty.html).
    """
    running = {v["VariantName"]: v for v in [*endpoint.production_variants, *_shadows(endpoint)]}
    for variant in variants:
        old = running.get(variant["VariantName"])
        if old is None:
            continue
        if "DesiredInstanceCount" not in excluded and old.get("DesiredInstanceCount") is not None:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = int(old["DesiredInstanceCount"])
        if "DesiredWeight" not in excluded and old.get("DesiredWeight") is not None:
            variant["CurrentWeight"] = variant["DesiredWeight"] = float(old["DesiredWeight"])


def _apply_desired(variants: list[dict[str, Any]]) -> None:
    for variant in variants:
        if "DesiredWeight" in variant:
            variant["CurrentWeight"] = variant["DesiredWeight"]
        if "DesiredInstanceCount" in variant:
            variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"]


def _revert_desired(variants: list[dict[str, Any]]) -> None:
    for variant in variants:
        if "CurrentWeight" in variant:
            variant["DesiredWeight"] = variant["CurrentWeight"]
        if "CurrentInstanceCount" in variant:
            variant["DesiredInstanceCount"] = variant["CurrentInstanceCount"]


def _health_check_reason(variants: list[dict[str, Any]]) -> str:
    name = variants[0]["VariantName"] if variants else "AllTraffic"
    return (
        f"The primary container for production variant {name} did not pass the ping health check. "
        "Please check CloudWatch logs for this endpoint."
    )


def _deployed_images(
    backend: SageMakerModelBackend, model_name: str | None, resolved_at: float
) -> list[dict[str, Any]]:
    model = backend._models.get(model_name) if model_name else None
    if model is None:
        return []
    containers = [model.primary_container] if model.primary_container else list(model.containers)
    images = []
    for container in containers:
        image = (container or {}).get("Image")
        if not image:
            continue
        if "@sha256:" in image:
            resolved = image
        else:
            # A tag resolves to a digest at deploy time; a hash of the reference is a stable stand-in.
            repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
            resolved = f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
        images.append({"SpecifiedImage": image, "ResolvedImage": resolved, "ResolutionTime": _naive(resolved_at)})
    return images


def _data_capture_summary(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    enabled = bool(config.get("EnableCapture", True))
    summary: dict[str, Any] = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage", 0)),
        "DestinationS3Uri": config.get("DestinationS3Uri", ""),
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


def _pending_deployment(pending: _Pending) -> dict[str, Any]:
    started = _naive(pending.started)

    def pending_summary(variant: Mapping[str, Any]) -> dict[str, Any]:
        summary = _summary(variant, _CREATING_VARIANT_KEYS)
        if variant.get("InstanceType"):
            summary["InstanceType"] = variant["InstanceType"]
        summary["VariantStatus"] = [{"Status": "Creating", "StartTime": started}]
        return summary

    out: dict[str, Any] = {
        "EndpointConfigName": pending.endpoint_config_name,
        "ProductionVariants": [pending_summary(v) for v in pending.variants],
        "StartTime": started,
    }
    if pending.shadow_variants:
        out["ShadowProductionVariants"] = [pending_summary(v) for v in pending.shadow_variants]
    return out


def _summary(variant: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: copy.deepcopy(variant[k]) for k in keys if variant.get(k) is not None}


def _shadows(endpoint: FakeEndpoint) -> list[dict[str, Any]]:
    """The endpoint's shadow variants (moto's FakeEndpoint has no such attribute; the emulator adds it)."""
    shadows: list[dict[str, Any]] = getattr(endpoint, "shadow_production_variants", None) or []
    return shadows


def _config_shadows(config: FakeEndpointConfig) -> list[dict[str, Any]]:
    shadows: list[dict[str, Any]] = getattr(config, "shadow_production_variants", None) or []
    return shadows


_SHADOW_TESTS_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-create.html"
_SHADOW_DEPLOYMENT_PAGE = "https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html"


def _check_shadow_config(
    production: list[dict[str, Any]], shadows: list[dict[str, Any]], kwargs: Mapping[str, Any]
) -> None:
    """CreateEndpointConfig's rules for ShadowProductionVariants, before anything is stored."""
    if not shadows:
        # botocore checks the list's minimum length client-side; a client that skips validation hears it here.
        raise ValidationError(
            "1 validation error detected: Value '[]' at 'shadowProductionVariants' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    # "If you use this field, you can only specify one variant for ProductionVariants and one variant for
    # ShadowProductionVariants." (CreateEndpointConfig, ShadowProductionVariants). The wording of the refusal:
    # no reference found.
    if len(production) != 1 or len(shadows) != 1:
        raise ValidationError(
            f"An endpoint configuration with ShadowProductionVariants must have exactly one production variant and "
            f"one shadow variant; got {len(production)} production and {len(shadows)} shadow variants."
        )
    names = [str(v.get("VariantName")) for v in [*production, *shadows]]
    if len(set(names)) != len(names):
        raise SandboxUnsupported(
            f'variant name "{names[0]}" is used by both the production and the shadow variant. No AWS page states '
            "how SageMaker answers; the sandbox refuses because CloudWatch metrics and "
            "UpdateEndpointWeightsAndCapacities address a variant by its name. Give the shadow variant its own name."
        )
    production_weight = float(production[0].get("InitialVariantWeight", 1.0))
    shadow_weight = float(shadows[0].get("InitialVariantWeight", 1.0))
    if shadow_weight != production_weight:
        raise SandboxUnsupported(
            f"a shadow variant weighted {shadow_weight:g} beside a production variant weighted {production_weight:g} "
            "is not emulated: AWS documents the share of requests copied to a shadow (SamplingPercentage) only for "
            "shadow tests (InferenceExperiment), and its own ShadowProductionVariants example gives both variants the "
            f"same weight ({_SHADOW_DEPLOYMENT_PAGE}). Give the shadow the production variant's weight: every "
            "request is then copied to it."
        )
    if kwargs.get("async_inference_config") or any(v.get("ServerlessConfig") for v in [*production, *shadows]):
        raise SandboxUnsupported(
            "shadow variants with serverless or asynchronous inference are not emulated: AWS lists both among the "
            f"endpoint features incompatible with shadow tests ({_SHADOW_TESTS_PAGE}) but the CreateEndpointConfig "
            "reference does not say how it refuses them. Use instance-backed real-time variants for a shadow."
        )


def _model_error(backend: SageMakerModelBackend, name: str, status: int, body: bytes) -> _ModelError:
    region, account = backend.region_name, backend.account_id
    original = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    kind = "client" if status < 500 else "server"
    logs = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{name}"
    )
    return _ModelError(
        f'Received {kind} error ({status}) from model with message "{original}". See {logs} in account '
        f"{account} for more information.",
        original_status=status,
        original_message=original,
        log_stream_arn=f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}",
    )


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


def _paginate(items: list[Any], next_token: str | None, max_results: int | None) -> tuple[list[Any], str | None]:
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


_METADATA_CHARACTERS = "_.:/=+-@"


def _metadata_problem(response: Any) -> str | None:
    """SageMaker's CustomerMetadataProperties rules (moto checks none): keys 1-128 and values up to 256
    characters of ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$, at most 50 entries."""
    try:
        properties = json.loads(response.body or "{}").get("CustomerMetadataProperties") or {}
    except (ValueError, AttributeError):
        return None
    if len(properties) > 50:
        return f"CustomerMetadataProperties has {len(properties)} entries; the maximum is 50"
    for key, value in properties.items():
        for label, text, limit in (("key", key, 128), ("value", value, 256)):
            bad = sorted(
                {c for c in str(text) if not (c.isalpha() or c.isnumeric() or c.isspace() or c in _METADATA_CHARACTERS)}
            )
            if bad or len(str(text)) > limit or (label == "key" and not text):
                pattern = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
                return (
                    "1 validation error detected: Value at 'customerMetadataProperties' failed to satisfy constraint:"
                    f" Map {label} '{str(text)[:40]}' must satisfy the pattern {pattern} and length 1-{limit}"
                )
    return None


def _invalid(content_type: str, message: str) -> TYPE_RESPONSE:
    body = json.dumps({"__type": "ValidationException", "message": message})
    headers = {
        "Content-Type": content_type,
        "X-Amzn-ErrorType": "ValidationException",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return 400, headers, body


def _throttled(content_type: str) -> TYPE_RESPONSE:
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    headers = {
        "Content-Type": content_type,
        "X-Amzn-ErrorType": "ThrottlingException",
        "x-amzn-RequestId": str(uuid.uuid4()),
    }
    return 400, headers, body


# ------------------------------------------------------------------------------------------- patches


def install(emulator: Emulator, patcher: Patcher) -> SageMakerService:
    service = SageMakerService(emulator.clock, emulator.faults, account_id=emulator.account_id, region=emulator.region)
    # Replacements first, so a moto that lost an attribute is reported as such; additions last, so a
    # second install (or a moto that grew these APIs) stops at the first one.
    _patch_backend(service, patcher)
    _patch_dispatch(service, patcher)
    _add_actions(service, patcher)
    _patch_instance_types(patcher)

    def to_eventbridge(event: dict[str, Any], account: str, region: str) -> None:
        # Looked up per event: the EventBridge emulator is installed after this module.
        events = emulator.services.get("events")
        if events is not None:
            events.emit(event, account=account, region=region)

    service.events = to_eventbridge
    emulator.ticker.every(SETTLE_JOB, 1.0, service.settle_due)
    return service


@cache
def hosting_instance_types() -> tuple[str, ...]:
    """ProductionVariant.InstanceType's valid values as the API reference lists them, from botocore's copy of the
    SageMaker API model (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html)."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType")
    return tuple(getattr(shape, "enum"))  # noqa: B009  (a StringShape's; shape_for is typed as any Shape)


def _patch_instance_types(patcher: Patcher) -> None:
    """moto 5.2.5 checks an endpoint config's instance types against a list that predates ml.g5, ml.p4d, ml.inf2 and
    ml.trn1 (and the other accelerated families), so it refuses them; SageMaker accepts every value of the enum."""

    def validate_instance_type(_moto: Callable[..., None]) -> Callable[..., None]:
        def patched(config: FakeEndpointConfig, instance_type: str) -> None:
            allowed = hosting_instance_types()
            if instance_type not in allowed:
                raise ValidationError(
                    f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: Member must satisfy "
                    f"enum value set: [{', '.join(allowed)}]"
                )

        return patched

    _wrap(patcher, FakeEndpointConfig, "validate_instance_type", validate_instance_type)


def _wrap(patcher: Patcher, owner: Any, name: str, make: Wrapper) -> None:
    """Replace `owner.name` with `make(moto's version)`, so the patch can delegate to what it replaces."""
    patcher.replace(owner, name, make(getattr(owner, name, _missing)))


def _missing(*_args: Any, **_kwargs: Any) -> Any:  # pragma: no cover - patcher.replace raises MotoDrift first
    raise AssertionError("unreachable")


def _patch_backend(service: SageMakerService, patcher: Patcher) -> None:
    backend_cls = SageMakerModelBackend

    def create_endpoint_config(moto: Callable[..., FakeEndpointConfig]) -> Callable[..., FakeEndpointConfig]:
        def patched(backend: SageMakerModelBackend, **kwargs: Any) -> FakeEndpointConfig:
            return service._create_config(backend, moto, **kwargs)

        return patched

    def create_model(moto: Callable[..., Any]) -> Callable[..., Any]:
        def patched(backend: SageMakerModelBackend, **kwargs: Any) -> Any:
            for container in [kwargs.get("primary_container") or {}, *(kwargs.get("containers") or [])]:
                problem = _image_problem(container) or _vpc_access_problem(container, kwargs.get("vpc_config"))
                if problem is not None:
                    raise ValidationError(problem)
            return moto(backend, **kwargs)

        return patched

    def describe_endpoint_config(_moto: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        def patched(backend: SageMakerModelBackend, endpoint_config_name: str) -> dict[str, Any]:
            return dict(service._config(backend, endpoint_config_name).response_object)

        return patched

    def delete_endpoint_config(_moto: Callable[..., Any]) -> Callable[..., None]:
        def patched(backend: SageMakerModelBackend, endpoint_config_name: str) -> None:
            with service._lock:
                service._config(backend, endpoint_config_name)
                del backend.endpoint_configs[endpoint_config_name]

        return patched

    def create_endpoint(moto: Callable[..., FakeEndpoint]) -> Callable[..., FakeEndpoint]:
        def patched(
            backend: SageMakerModelBackend,
            endpoint_name: str,
            endpoint_config_name: str,
            tags: list[dict[str, str]] | None = None,
        ) -> FakeEndpoint:
            return service._create_endpoint(backend, moto, endpoint_name, endpoint_config_name, tags)

        return patched

    def describe_endpoint(_moto: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
        def patched(backend: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
            return service._describe_endpoint(backend, endpoint_name)

        return patched

    def delete_endpoint(moto: Callable[..., None]) -> Callable[..., None]:
        def patched(backend: SageMakerModelBackend, endpoint_name: str) -> None:
            service._delete_endpoint(backend, moto, endpoint_name)

        return patched

    def list_endpoints(moto: Callable[..., Any]) -> Callable[..., Any]:
        def patched(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
            # StatusEquals and sorting by status must see settled statuses, and moto iterates the
            # endpoints dict that other request threads may be changing.
            with service._lock:
                service._settle_all(backend)
                return moto(backend, *args, **kwargs)

        return patched

    def update_weights(_moto: Callable[..., Any]) -> Callable[..., str]:
        def patched(
            backend: SageMakerModelBackend,
            endpoint_name: str,
            desired_weights_and_capacities: list[dict[str, Any]],
        ) -> str:
            return service._update_weights(backend, endpoint_name, desired_weights_and_capacities)

        return patched

    def resource_from_arn(moto: Callable[..., Any]) -> Callable[..., Any]:
        # moto's tag APIs look resources up by ARN type; teach them monitoring schedules.
        def patched(backend: SageMakerModelBackend, arn: str) -> Any:
            resource_type, _, name = arn.rsplit(":", maxsplit=1)[-1].partition("/")
            if resource_type != "monitoring-schedule":
                return moto(backend, arn)
            with service._lock:
                schedule = service._schedule_store(backend).get(name)
            if schedule is None:
                raise ValidationError(f"Could not find monitoring-schedule with name {name}")
            return schedule

        return patched

    for name, make in {
        "create_model": create_model,
        "create_endpoint_config": create_endpoint_config,
        "describe_endpoint_config": describe_endpoint_config,
        "delete_endpoint_config": delete_endpoint_config,
        "create_endpoint": create_endpoint,
        "describe_endpoint": describe_endpoint,
        "delete_endpoint": delete_endpoint,
        "list_endpoints": list_endpoints,
        "update_endpoint_weights_and_capacities": update_weights,
        "_get_resource_from_arn": resource_from_arn,
    }.items():
        _wrap(patcher, backend_cls, name, make)


def _patch_dispatch(service: SageMakerService, patcher: Patcher) -> None:
    """One hook per response class sees every action before moto does (API-level faults)."""

    def hook(service_name: str, content_type: str) -> Wrapper:
        def make(moto: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
            def call_action(response: Any) -> TYPE_RESPONSE:
                action = response._get_action()
                if action in {"CreateModelPackage", "UpdateModelPackage"}:
                    problem = _metadata_problem(response)
                    if problem is not None:
                        return _invalid(content_type, problem)
                fault = service.faults.take("sagemaker.api", action=action or "", service=service_name)
                if fault is None:
                    return moto(response)
                if fault.mode != _THROTTLE:
                    raise ValueError(f"fault 'sagemaker.api' supports mode 'throttle', not {fault.mode!r}")
                return _throttled(content_type)

            return call_action

        return make

    def create_endpoint_config(_moto: Callable[..., ActionResult]) -> Callable[..., ActionResult]:
        # moto 5.2.5 reads every CreateEndpointConfig parameter except ShadowProductionVariants, which it drops.
        def patched(response: SageMakerResponse) -> ActionResult:
            backend: Any = response.sagemaker_backend  # typed as moto's, whose signature lacks the shadows
            config = backend.create_endpoint_config(
                endpoint_config_name=response._get_param("EndpointConfigName"),
                async_inference_config=response._get_param("AsyncInferenceConfig"),
                production_variants=response._get_param("ProductionVariants"),
                data_capture_config=response._get_param("DataCaptureConfig"),
                tags=response._get_param("Tags"),
                kms_key_id=response._get_param("KmsKeyId"),
                shadow_production_variants=response._get_param("ShadowProductionVariants"),
            )
            return ActionResult({"EndpointConfigArn": config.endpoint_config_arn})

        return patched

    _wrap(patcher, SageMakerResponse, "create_endpoint_config", create_endpoint_config)

    def create_model(moto: Callable[..., ActionResult]) -> Callable[..., ActionResult]:
        # moto 5.2.5 drops CreateModel's EnableNetworkIsolation; DescribeModel returns the model's setting
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModel.html). Kept as given: AWS does
        # not document what DescribeModel shows for a model created without it.
        def patched(response: SageMakerResponse) -> ActionResult:
            result = moto(response)
            isolated = response._get_param("EnableNetworkIsolation")
            if isolated is not None:
                model: Any = response.sagemaker_backend.describe_model(response._get_param("ModelName"))
                model.enable_network_isolation = bool(isolated)
            return result

        return patched

    _wrap(patcher, SageMakerResponse, "create_model", create_model)
    _wrap(patcher, SageMakerResponse, "call_action", hook("sagemaker", "application/x-amz-json-1.1"))
    _wrap(patcher, SageMakerRuntimeResponse, "call_action", hook("sagemaker-runtime", "application/json"))

    def invoke_endpoint(moto: Callable[..., TYPE_RESPONSE]) -> Callable[..., TYPE_RESPONSE]:
        def patched(response: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
            return service._invoke(response, moto)

        return patched

    _wrap(patcher, SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


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


def _add_actions(service: SageMakerService, patcher: Patcher) -> None:
    """The actions moto 5.2.5 lacks; `call_action` finds them by name on the response class."""

    def update_endpoint_backend(backend: SageMakerModelBackend, **kwargs: Any) -> str:
        return service._update_endpoint(backend, **kwargs)

    def update_endpoint(self: SageMakerResponse) -> ActionResult:
        backend: Any = self.sagemaker_backend  # typed as moto's class, which has no update_endpoint
        arn = backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            retain_all_variant_properties=self._get_param("RetainAllVariantProperties"),
            exclude_retained_variant_properties=self._get_param("ExcludeRetainedVariantProperties"),
            deployment_config=self._get_param("DeploymentConfig"),
            retain_deployment_config=self._get_param("RetainDeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})

    def create_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        arn = service._create_schedule(
            self.sagemaker_backend,
            self._get_param("MonitoringScheduleName"),
            self._get_param("MonitoringScheduleConfig"),
            self._get_param("Tags"),
        )
        return ActionResult({"MonitoringScheduleArn": arn})

    def describe_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        return ActionResult(
            service._describe_schedule(self.sagemaker_backend, self._get_param("MonitoringScheduleName"))
        )

    def update_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        arn = service._update_schedule(
            self.sagemaker_backend,
            self._get_param("MonitoringScheduleName"),
            self._get_param("MonitoringScheduleConfig"),
        )
        return ActionResult({"MonitoringScheduleArn": arn})

    def delete_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        service._delete_schedule(self.sagemaker_backend, self._get_param("MonitoringScheduleName"))
        return EmptyResult()

    def start_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        service._start_schedule(self.sagemaker_backend, self._get_param("MonitoringScheduleName"))
        return EmptyResult()

    def stop_monitoring_schedule(self: SageMakerResponse) -> ActionResult:
        service._stop_schedule(self.sagemaker_backend, self._get_param("MonitoringScheduleName"))
        return EmptyResult()

    def list_monitoring_schedules(self: SageMakerResponse) -> ActionResult:
        params = {name: self._get_param(name) for name in _LIST_SCHEDULES_PARAMS}
        return ActionResult(service._list_schedules(self.sagemaker_backend, params))

    def list_monitoring_executions(self: SageMakerResponse) -> ActionResult:
        params = {name: self._get_param(name) for name in _LIST_EXECUTIONS_PARAMS}
        return ActionResult(service._list_executions(self.sagemaker_backend, params))

    for name, handler in {
        "update_endpoint": update_endpoint,
        "create_monitoring_schedule": create_monitoring_schedule,
        "describe_monitoring_schedule": describe_monitoring_schedule,
        "update_monitoring_schedule": update_monitoring_schedule,
        "delete_monitoring_schedule": delete_monitoring_schedule,
        "start_monitoring_schedule": start_monitoring_schedule,
        "stop_monitoring_schedule": stop_monitoring_schedule,
        "list_monitoring_schedules": list_monitoring_schedules,
        "list_monitoring_executions": list_monitoring_executions,
    }.items():
        patcher.add(SageMakerResponse, name, handler)
    patcher.add(SageMakerModelBackend, "update_endpoint", update_endpoint_backend)
