"""The sandbox's Lambda execution environments: a zygote process, and the workers it forks, one per environment.

This module runs outside the sandbox's process (`python -m mlrollout_sandbox.emulator.lambda_worker`); the
runtime in `lambda_runtime.py` drives it. The zygote imports what every function's Init phase would import
(boto3, pydantic, Powertools, the layer's modules) once, then forks a worker for each new execution environment,
so a cold start is a fork plus the function's own imports. A worker holds one function: its own environment
variables and credentials, its own module state (the layer's cached clients and parsed settings), warm between
invocations, and gone when it crashes or times out.

Protocol (pickled tuples over a Unix socket, one connection per worker):

    worker -> runtime   ("hello", token, pid)           right after the fork
                        ("log", text)                   the function's stdout/stderr, line by line
                        ("ready", init_ms) | ("init_failed", error_type, message)
                        ("sleep",) / ("slept",)         a wait on the sandbox clock begins / ends
                        ("result", payload_json) | ("error", error_type, message)
    runtime -> worker   ("invoke", request_id, event_json, arn)

The zygote puts itself in a process group of its own (a Ctrl-C in the terminal reaches only the sandbox, which
shuts the environments down) and kills that group when the sandbox closes its control connection or dies; each
worker asks the kernel to kill it if the zygote dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mlrollout_sandbox.clock import ClockReader, SharedClock

# What Init costs every function: imported once in the zygote, with the layer's modules (`_preload_layer`).
PRELOAD = (
    "boto3",
    "boto3.session",
    "botocore.client",
    "botocore.endpoint",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parameters",
)
# The services the stack's functions call: their models are parsed once, in the zygote (any other service works
# too, parsed in each environment).
SERVICES = (
    "cloudwatch",
    "dynamodb",
    "s3",
    "sagemaker",
    "sagemaker-runtime",
    "scheduler",
    "secretsmanager",
    "sns",
    "stepfunctions",
)
_PR_SET_PDEATHSIG = 1


class InvocationTime:
    """How long an invocation has run, as the function's Timeout counts it.

    The handler's own work at wall-clock speed (the warp speeds up waiting, not code: counted on sandbox time,
    a 60-second Timeout would be 0.1 s of real time at warp 600), and its waits on the sandbox clock (botocore's
    retry backoff, a `time.sleep`) at their sandbox length. At warp 1 both are the wall clock.
    """

    def __init__(self, clock: ClockReader, timeout_seconds: float) -> None:
        self.clock = clock
        self.timeout_seconds = float(timeout_seconds)
        self._started = time.monotonic()
        self._credit = 0.0  # sandbox seconds slept minus the real seconds those sleeps took
        self._asleep_since: tuple[float, float] | None = None
        self._sleepers = 0
        self._lock = threading.Lock()

    def asleep(self) -> None:
        with self._lock:
            self._sleepers += 1
            if self._asleep_since is None:
                self._asleep_since = (time.monotonic(), self.clock.time())

    def awake(self) -> None:
        with self._lock:
            self._sleepers = max(0, self._sleepers - 1)
            if self._sleepers == 0 and self._asleep_since is not None:
                self._credit += self._sleep_credit(self._asleep_since)
                self._asleep_since = None

    def _sleep_credit(self, since: tuple[float, float]) -> float:
        real, virtual = since
        return (self.clock.time() - virtual) - (time.monotonic() - real)

    def elapsed(self) -> float:
        with self._lock:
            credit = self._credit + (self._sleep_credit(self._asleep_since) if self._asleep_since else 0.0)
        return time.monotonic() - self._started + credit

    def remaining(self) -> float:
        return self.timeout_seconds - self.elapsed()

    def real_seconds_left(self) -> float:
        """Wall-clock seconds until the Timeout at the current pace (sandbox pace while the handler waits)."""
        remaining = self.remaining()
        return self.clock.real_seconds(remaining) if self._asleep_since is not None else remaining


class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    def __init__(self, spec: dict[str, Any], request_id: str, arn: str, time_used: InvocationTime) -> None:
        self.function_name = spec["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = spec["memory_mb"]
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec['name']}"
        self.log_stream_name = f"sandbox/{request_id[:8]}"
        self._time = time_used

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._time.remaining() * 1000))


class _Output(io.TextIOBase):
    """The worker's stdout and stderr: whole lines go to the runtime, which files them under the invocation."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                lines, _, self._pending = self._pending.rpartition("\n")
                self._send(("log", lines + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._send(("log", self._pending + "\n"))
                self._pending = ""

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


class Worker:
    """One execution environment of one function."""

    def __init__(self, spec: dict[str, Any], clock: SharedClock, address: str, token: str) -> None:
        self.spec = spec
        self.clock = clock
        self.address = address
        self.token = token
        self.invocation: InvocationTime | None = None
        self._send_lock = threading.Lock()
        self.conn: Connection | None = None

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            assert self.conn is not None
            self.conn.send(message)

    def run(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect("\0" + self.address)  # the runtime's listener, in Linux's abstract namespace
        self.conn = Connection(sock.detach())
        self.send(("hello", self.token, os.getpid()))
        os.environ.clear()
        os.environ.update(self.spec["environment"])
        time.tzset()
        sys.stdout = sys.stderr = _Output(self.send)
        started = time.perf_counter()
        try:
            handler = self._init()
        except Exception as exc:
            print(json.dumps({"level": "ERROR", "message": f"{type(exc).__name__}: {exc}"}))
            sys.stdout.flush()
            self.send(("init_failed", type(exc).__name__, str(exc)))
            return
        sys.stdout.flush()
        self.send(("ready", (time.perf_counter() - started) * 1000))
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                return
            if message[0] == "invoke":
                self._invoke(handler, *message[1:])

    def _init(self) -> Any:
        """Lambda's Init phase: the function's code on sys.path, its handler module imported."""
        code_dir = self.spec["code_dir"]
        for layer in self.spec["layer_dirs"]:
            _check_layer(self.spec["name"], Path(layer))
        sys.path.insert(0, code_dir)
        module_path, _, attribute = self.spec["handler"].rpartition(".")
        module = importlib.import_module(module_path)
        self._clock_module(module)
        handler = getattr(module, attribute, None)
        if handler is None:
            raise AttributeError(f"function {self.spec['name']}: {module_path} has no handler {attribute!r}")
        return handler

    def _clock_module(self, module: Any) -> None:
        """Sandbox time for what the function reads: its handler module's datetime/time, botocore's backoff."""
        import datetime as real_datetime
        import types

        import botocore.endpoint

        from mlrollout_sandbox.emulator.stepfunctions import _datetime_module, clocked_time_module

        clock = types.SimpleNamespace(time=self.clock.time, sleep=self._sleep)
        virtual_datetime = _datetime_module(self.clock)  # type: ignore[arg-type]
        clocked_time = clocked_time_module(clock)  # type: ignore[arg-type]
        botocore.endpoint.time = clocked_time  # type: ignore[attr-defined]
        for name, value in list(vars(module).items()):
            if value is real_datetime.datetime:
                setattr(module, name, virtual_datetime.datetime)
            elif value is real_datetime:
                setattr(module, name, virtual_datetime)
            elif value is time:
                setattr(module, name, clocked_time)
            elif value is time.sleep:
                setattr(module, name, self._sleep)
            elif value is time.time:
                setattr(module, name, self.clock.time)

    def _sleep(self, seconds: float) -> None:
        invocation = self.invocation
        if invocation is not None:
            invocation.asleep()
            self.send(("sleep",))
        try:
            self.clock.sleep(seconds)
        finally:
            if invocation is not None:
                invocation.awake()
                self.send(("slept",))

    def _invoke(self, handler: Any, request_id: str, event_json: str, arn: str) -> None:
        self.invocation = InvocationTime(self.clock, self.spec["timeout_seconds"])
        context = LambdaContext(self.spec, request_id, arn, self.invocation)
        try:
            payload = handler(json.loads(event_json), context)
            result = json.dumps(payload)  # a result Lambda could not serialise is an error
        except Exception as exc:
            print(
                json.dumps(
                    {
                        "level": "ERROR",
                        "message": f"{type(exc).__name__}: {exc}",
                        "stack": traceback.format_exc(limit=8),
                    }
                )
            )
            sys.stdout.flush()
            self.invocation = None
            self.send(("error", type(exc).__name__, str(exc)))
            return
        sys.stdout.flush()
        self.invocation = None
        self.send(("result", result))


def _check_layer(function: str, layer: Path) -> None:
    """A package a layer ships must resolve to that layer, as it would under /opt/python in Lambda."""
    import importlib.util

    for package in sorted(p for p in layer.iterdir() if (p / "__init__.py").is_file()):
        spec = importlib.util.find_spec(package.name)
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is None or package.resolve() not in origin.parents:
            raise ImportError(
                f"function {function}: layer package {package.name} resolves to {origin}, not to the layer at "
                f"{layer}; install the project (pip install -e .) so the layer is importable"
            )


def _die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent (the zygote) ends (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    # Every boto3 session builds a loader that parses the service models again (a tenth of a second for SageMaker's):
    # sessions share one loader, warmed here, whose parsed models every environment inherits. Same data, parsed once.
    import boto3
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    own_loader = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return shared if search_path_string is None else own_loader(search_path_string)

    botocore.session.create_loader = create_loader
    for service in SERVICES:
        boto3.session.Session().client(service, region_name="us-east-1")  # type: ignore[call-overload]
    # pydantic imports its schema machinery when the first model is defined: do it here, once.
    from datetime import datetime
    from enum import Enum
    from typing import Literal

    from pydantic import BaseModel, Field

    class _Kind(Enum):
        A = "a"

    class _Warm(BaseModel):
        name: str = Field("x", min_length=1)
        count: int = 0
        ratio: float | None = None
        when: datetime | None = None
        kind: _Kind = _Kind.A
        mode: Literal["a", "b"] = "a"
        tags: dict[str, str] = {}
        items: list[float] = []

    _Warm.model_validate({"name": "y", "when": "2026-01-01T00:00:00Z"}).model_dump(mode="json")
    _Warm.model_json_schema()


class _WatchedEnvironment(dict[str, str]):
    """os.environ while the zygote imports a layer module: notes whether the module read it."""

    read = False

    def __getitem__(self, key: str) -> str:
        _WatchedEnvironment.read = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        _WatchedEnvironment.read = True
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        _WatchedEnvironment.read = True
        return super().__contains__(key)


def _preload_layer(layer_dirs: list[str]) -> None:
    """Import the layer's modules once, here, except those that read the environment while being imported (the
    observability module's Powertools Logger reads POWERTOOLS_*): their state would be the zygote's, not the
    function's, so each worker imports those itself. What stays imported is the same in every environment."""
    import pkgutil

    real = os.environ
    for layer in layer_dirs:
        for package in sorted(p for p in Path(layer).iterdir() if (p / "__init__.py").is_file()):
            names = [package.name]
            names += [m.name for m in pkgutil.walk_packages([str(package)], prefix=f"{package.name}.")]
            for name in names:
                if name in sys.modules:
                    continue
                before = set(sys.modules)
                os.environ = _WatchedEnvironment(real)  # type: ignore[assignment]  # noqa: B003 (restored below)
                _WatchedEnvironment.read = False
                try:
                    importlib.import_module(name)
                except Exception:  # the worker's own import raises it again, where it is reported
                    _WatchedEnvironment.read = True
                finally:
                    os.environ = real  # noqa: B003
                if _WatchedEnvironment.read:
                    for dropped in set(sys.modules) - before:
                        del sys.modules[dropped]
                        parent, _, child = dropped.rpartition(".")
                        if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
                            delattr(sys.modules[parent], child)


def zygote(control_fd: int, clock_fd: int, address: str, layer_dirs: list[str]) -> None:
    os.setpgrp()
    control = Connection(control_fd)
    clock = SharedClock(clock_fd)
    _preload()
    _preload_layer(layer_dirs)
    workers: set[int] = set()

    def reap(*_: Any) -> None:
        # Waited for, not ignored: the workers' CPU time then counts in the sandbox's own (`time mlrollout demo`).
        with contextlib.suppress(ChildProcessError):
            while (pid := os.waitpid(-1, os.WNOHANG)[0]) > 0:
                workers.discard(pid)

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sandbox decides when environments end
    control.send(("ready", os.getpid()))
    while True:
        try:
            message = control.recv()
        except (EOFError, OSError):
            break
        if message[0] != "spawn":
            break
        _, token, spec = message
        pid = os.fork()
        if pid:
            workers.add(pid)
            continue
        code = 0
        try:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _die_with_parent()
            Worker(spec, clock, address, token).run()
        except BaseException:
            traceback.print_exc(file=sys.__stderr__)
            code = 1
        finally:
            os._exit(code)
    # The sandbox closed the connection (it is shutting down, or gone): no environment outlives it.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    os.killpg(0, signal.SIGKILL)  # and whatever the workers started


if __name__ == "__main__":
    zygote(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))
