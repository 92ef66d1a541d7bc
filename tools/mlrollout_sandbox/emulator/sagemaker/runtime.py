"""The runtime (sagemaker-runtime InvokeEndpoint): a request routed to a serving endpoint's variant, by
TargetVariant or by weight, answered by the data plane the sandbox supplies; each shadow variant gets a copy."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.core.exceptions import ServiceException
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from mlrollout_sandbox.emulator.sagemaker._common import log
from mlrollout_sandbox.emulator.sagemaker.endpoints import EndpointLifecycle, _shadows

DataPlane = Callable[[str, str | None, bytes, str, str | None], tuple[int, bytes, str, str]]
"""(endpoint, variant, body, content_type, accept) -> (status, body, content_type, invoked_variant).

The emulator has already resolved the variant (TargetVariant, or a pick weighted by CurrentWeight) when it
calls the data plane, so `variant` names the variant that should answer.
"""

# Updating endpoints keep serving on their current variants (that is the point of a blue/green update).
_SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})


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


class DataPlaneRouting(EndpointLifecycle):
    """InvokeEndpoint on the endpoints the lifecycle has settled (a subclass of it for `_settled`)."""

    data_plane: DataPlane | None
    rng: random.Random

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
