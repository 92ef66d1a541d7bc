"""What every part of the SageMaker emulation shares: the sandbox's own refusal, sandbox time as moto keeps it, the
package's logger, and the state and lookups that all of SageMakerService's parts use."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Faults

# The package's logger, under the name the emulator logged as while it was one module.
log = logging.getLogger(__package__)


# --------------------------------------------------------------------------------------------------- errors


class SandboxUnsupported(HTTPException):
    """A real SageMaker option the sandbox does not emulate: refused loudly instead of silently ignored."""

    error_code = "SandboxUnsupportedOperation"

    def __init__(self, message: str) -> None:
        super().__init__(description=json.dumps({"__type": self.error_code, "message": message}))
        self.code = 400

    def get_headers(self, environ: Any = None, scope: Any = None) -> list[tuple[str, str]]:
        return [("Content-Type", "application/x-amz-json-1.1"), ("X-Amzn-ErrorType", self.error_code)]


# ------------------------------------------------------------------------------------------------ time


def _naive(ts: float) -> datetime:
    """moto keeps naive UTC datetimes (its request parser produces them too), so ours match."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


# ------------------------------------------------------------------------------------------- state


class ServiceCore:
    """What every part of SageMakerService reads: SageMakerService.__init__ sets it, one lock guards all of it."""

    clock: SandboxClock
    faults: Faults
    account_id: str
    region: str
    _lock: threading.RLock

    def _backend(self, account_id: str | None, region: str | None) -> SageMakerModelBackend:
        return sagemaker_backends[account_id or self.account_id][region or self.region]

    @staticmethod
    def _key(backend: SageMakerModelBackend) -> tuple[str, str]:
        return (backend.account_id, backend.region_name)
