"""Everything the sandbox adds to moto, in one package, installed and removed as a whole.

`Emulator.install()` checks the moto version, then lets each service module patch moto through one
`Patcher`. Every module is stateful (it keeps what a real service would keep) and has tests of its own in
tests/sandbox/test_emulator_*.py; tests/sandbox/test_moto_drift.py fails loudly when moto moves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator._patching import MotoDrift, Patcher, check_moto_version

# The access key of the embedded account's administrator (an IAM user with AdministratorAccess, created by
# emulator/iam.py): every client of the sandbox itself signs with it. Functions, the state machine and the
# rules' targets sign with their roles' STS sessions instead, and IAM decides what each may do.
CREDENTIALS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}

__all__ = ["Emulator", "Faults", "MotoDrift", "Ticker"]

log = logging.getLogger(__name__)


@dataclass
class FaultSpec:
    """One armed fault: which operation, which resource, what happens, how many times."""

    operation: str
    mode: str
    match: dict[str, str] = field(default_factory=dict)
    times: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0


class Faults:
    """Fault injection shared by the emulated services (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[FaultSpec] = []
        self.history: list[FaultSpec] = []

    def arm(
        self, operation: str, mode: str, *, times: int = 1, params: dict[str, Any] | None = None, **match: str
    ) -> FaultSpec:
        spec = FaultSpec(operation=operation, mode=mode, match=dict(match), times=times, params=params or {})
        with self._lock:
            self._armed.append(spec)
        return spec

    def take(self, operation: str, **attributes: str) -> FaultSpec | None:
        """Consume one firing of the first armed fault matching this call, if any."""
        with self._lock:
            for spec in self._armed:
                if spec.operation != operation:
                    continue
                if any(attributes.get(k) != v for k, v in spec.match.items()):
                    continue
                spec.fired += 1
                if spec.fired >= spec.times:
                    self._armed.remove(spec)
                self.history.append(spec)
                return spec
        return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()


class Ticker:
    """Runs periodic jobs on sandbox time in one background thread (alarm evaluation, schedules, ...)."""

    def __init__(self, clock: SandboxClock, resolution_seconds: float = 5.0) -> None:
        self.clock = clock
        self.resolution = resolution_seconds
        self._jobs: list[tuple[str, float, Callable[[], object], list[float]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.errors: list[tuple[str, BaseException]] = []

    def every(self, name: str, virtual_seconds: float, job: Callable[[], object]) -> None:
        with self._lock:
            self._jobs.append((name, virtual_seconds, job, [self.clock.time()]))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sandbox-ticker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_due(self) -> None:
        """Run every job whose interval has elapsed (also callable directly from tests)."""
        now = self.clock.time()
        with self._lock:
            jobs = list(self._jobs)
        for name, interval, job, last in jobs:
            if now - last[0] >= interval:
                last[0] = now
                try:
                    job()
                except Exception as exc:  # a failing job must not stop the others; it is recorded
                    log.exception("sandbox job %s failed", name)
                    self.errors.append((name, exc))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self.clock.sleep(self.resolution, self._stop)


class Emulator:
    """The embedded AWS's additions to moto: one instance per process, installed before the server starts."""

    def __init__(
        self,
        clock: SandboxClock,
        *,
        account_id: str = "123456789012",
        region: str = "us-east-1",
        endpoint_url: str | None = None,
    ) -> None:
        self.clock = clock
        self.account_id = account_id
        self.region = region
        self.endpoint_url = endpoint_url
        self.faults = Faults()
        self.ticker = Ticker(clock)
        self.patcher = Patcher()
        self.services: dict[str, Any] = {}
        self.installed = False
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A boto3 client of the embedded AWS for the emulator's own calls, as the account's administrator (one
        per service, shared by threads: boto3 clients are thread-safe)."""
        with self._clients_lock:
            found = self._clients.get(service)
            if found is None:
                if not self.endpoint_url:
                    raise RuntimeError("the embedded AWS is not serving yet (no endpoint URL)")
                import boto3
                from botocore.config import Config

                found = self._clients[service] = boto3.client(
                    service,  # type: ignore[call-overload]
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    config=Config(retries={"mode": "standard", "max_attempts": 3}),
                    **CREDENTIALS,
                )
            return found

    def install(self) -> Emulator:
        check_moto_version()
        import moto.backends

        from mlrollout_sandbox.emulator import (
            autoscaling,
            cloudwatch,
            events,
            iam,
            lambda_runtime,
            processing,
            s3,
            sagemaker,
            scheduler,
            sns,
            stepfunctions,
        )

        # moto's server lists its package directory (an isdir per entry) on every request to tell a service by
        # host name; the list never changes while it runs.
        listed = tuple(moto.backends.list_of_moto_modules())
        self.patcher.replace(moto.backends, "list_of_moto_modules", lambda: listed)
        try:
            # iam first: the services look it up to act with their roles.
            modules = (
                iam,
                stepfunctions,
                lambda_runtime,
                s3,
                sagemaker,
                processing,
                cloudwatch,
                events,
                scheduler,
                sns,
                autoscaling,  # last: it hooks into SageMaker and CloudWatch
            )
            for module in modules:
                self.services[module.__name__.rsplit(".", 1)[-1]] = module.install(self, self.patcher)
        except BaseException:
            self.patcher.undo_all()
            raise
        self.installed = True
        return self

    def start(self) -> None:
        self.ticker.start()

    def uninstall(self) -> None:
        self.ticker.stop()
        for service in reversed(list(self.services.values())):
            close = getattr(service, "close", None)
            if callable(close):
                close()
        self.patcher.undo_all()
        self.services.clear()
        with self._clients_lock:
            self._clients.clear()
        self.installed = False
