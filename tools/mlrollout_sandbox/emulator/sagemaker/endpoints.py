"""Endpoint lifecycle: endpoint configurations and endpoints that move through Creating / Updating / InService /
Failed / Deleting on sandbox time, their variants (shadow and serverless ones too), the faults armed on them and
the "SageMaker Endpoint State Change" events they send."""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    SageMakerModelBackend,
    sagemaker_backends,
)

from mlrollout_sandbox.emulator.sagemaker._common import SandboxUnsupported, ServiceCore, _aware, _naive, log


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

CREATE_ENDPOINT = "CreateEndpoint"
UPDATE_ENDPOINT = "UpdateEndpoint"
UPDATE_WEIGHTS = "UpdateEndpointWeightsAndCapacities"
DELETE_ENDPOINT = "DeleteEndpoint"

_SUCCEED = "succeed"
_FAIL = "fail"
_SILENT_ROLLBACK = "silent_rollback"
_SCALE_OUT = "scale_out"

_IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})

ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"

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


def _endpoint_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


def _config_arn(backend: SageMakerModelBackend, name: str) -> str:
    return FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)


def _endpoint_not_found(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(f'Could not find endpoint "{_endpoint_arn(backend, name)}".')


def _config_not_found(backend: SageMakerModelBackend, name: str) -> ValidationError:
    return ValidationError(f'Could not find endpoint configuration "{_config_arn(backend, name)}".')


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


class EndpointLifecycle(ServiceCore):
    """Endpoint configurations and endpoints: their operations, each taking its time, and their status changes."""

    create_seconds: float
    update_seconds: float
    weights_seconds: float
    delete_seconds: float
    # Where endpoint state change events go (install wires the emulated EventBridge); None sends none.
    events: EventSink | None
    # What another emulated service checks before UpdateEndpoint and DeleteEndpoint (Application Auto
    # Scaling's rules, emulator/autoscaling.py): (operation, endpoint, the new variants, shadows too, or None),
    # called under this service's lock; a check refuses the operation by raising.
    endpoint_checks: list[Callable[[str, FakeEndpoint, list[dict[str, Any]] | None], None]]
    _endpoints: dict[str, _EndpointRuntime]  # by endpoint ARN (carries account and region)

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
