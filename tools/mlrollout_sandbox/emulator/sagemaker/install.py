"""The patches that put the emulation into moto: its backend's and response classes' methods replaced (through
`Patcher`, so a moto upgrade that changes them fails loudly), the actions moto lacks added, API-level faults."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    SageMakerModelBackend,
)
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from mlrollout_sandbox.emulator.sagemaker.models import _image_problem, _metadata_problem, _vpc_access_problem
from mlrollout_sandbox.emulator.sagemaker.monitoring import _LIST_EXECUTIONS_PARAMS, _LIST_SCHEDULES_PARAMS
from mlrollout_sandbox.emulator.sagemaker.service import SageMakerService

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
"""Builds a patch from the moto function it replaces (so the patch can delegate to it)."""

_THROTTLE = "throttle"
SETTLE_JOB = "sagemaker:endpoint-transitions"


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

    def create_model_package(moto: Callable[..., str]) -> Callable[..., str]:
        # "ClientToken: A unique token that guarantees that the call to this API is idempotent" (CreateModelPackage,
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackage.html): a call retried with
        # its token gets the package the first call made, not the group's next version. moto keeps the token but
        # ignores it. What AWS answers a token reused with other parameters is not documented: the first package.
        def patched(backend: SageMakerModelBackend, **kwargs: Any) -> str:
            token = kwargs.get("client_token")
            with service._lock:
                if token:
                    for arn, package in backend.model_packages.items():
                        same_group = package.model_package_group_name == kwargs.get("model_package_group_name")
                        if getattr(package, "client_token", None) == token and same_group:
                            return str(arn)
                return moto(backend, **kwargs)

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
        "create_model_package": create_model_package,
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
