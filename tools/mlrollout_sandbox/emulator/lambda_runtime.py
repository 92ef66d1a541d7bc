"""Lambda without Docker: moto's invoke runs the real handler in this process.

Each registered function is loaded from its own code directory the first time it is invoked (the sandbox's
cold start) and kept warm afterwards. An invocation runs with the function's environment variables (the
process environment is swapped under a lock, so invocations are serialised, as on a single concurrency
slot per function), a Lambda context object whose remaining time follows the sandbox clock, and its log
output captured per invocation into the function's CloudWatch Logs group, where embedded-metric-format
lines become CloudWatch metrics as they would in AWS.

A handler's exception becomes Lambda's error payload (errorType = the exception's class name), which is
what Step Functions matches in Retry and Catch.

Faults armed on `Emulator.faults`:

    operation       matched on                    modes
    lambda:Invoke   function=<function name>      crash

A crash is the runtime process exiting mid-invocation (os._exit, a segfault, running out of memory): Lambda
answers the Invoke with FunctionError "Unhandled" and the payload {"errorType": "Runtime.ExitError",
"errorMessage": "RequestId: <id> Error: Runtime exited with error: exit status 1"}, the function's log ends
with that line, and the next invocation starts cold. Step Functions reports the payload's errorType as the
task's Error, so a Retry on Lambda's transient service errors does not replay it. `params={"at": "end"}`
crashes after the handler has run (its side effects happened, its result is lost); the default, "start",
crashes before the handler runs. `params={"exit": "signal: killed"}` changes the exit reported.

The SDK's retry backoff (botocore sleeps between attempts) runs on sandbox time, like every other wait in
the sandbox: a handler riding out a throttled call waits virtual seconds, not wall-clock seconds that warp
would turn into virtual hours.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

log = logging.getLogger(__name__)


CRASH = "crash"
RUNTIME_EXIT_ERROR = "Runtime.ExitError"


class FunctionNotRegistered(LookupError):
    pass


class RuntimeExit(Exception):
    """The function's runtime process ended without answering (an injected crash)."""


@dataclass
class LocalFunction:
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    layer_dirs: list[Path] = field(default_factory=list)
    timeout_seconds: int = 60
    memory_mb: int = 128
    module: ModuleType | None = None
    cold_start_ms: float | None = None


@dataclass
class Invocation:
    function_name: str
    request_id: str
    event: Any
    payload: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0
    cold: bool = False
    logs: str = ""
    started_at: float = 0.0

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    def response_payload(self) -> str:
        if self.error_type == RUNTIME_EXIT_ERROR:  # the runtime never answered: Lambda's own two fields only
            return json.dumps({"errorType": self.error_type, "errorMessage": self.error_message})
        if self.failed:
            return json.dumps(
                {
                    "errorMessage": self.error_message,
                    "errorType": self.error_type,
                    "requestId": self.request_id,
                    "stackTrace": [],
                }
            )
        return json.dumps(self.payload)


class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    def __init__(self, fn: LocalFunction, request_id: str, arn: str, deadline: float, clock_time: Any) -> None:
        self.function_name = fn.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = fn.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.name}"
        self.log_stream_name = f"sandbox/{request_id[:8]}"
        self._deadline = deadline
        self._clock_time = clock_time

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock_time()) * 1000))


class _ThreadStdout(io.TextIOBase):
    """sys.stdout stand-in: a thread inside an invocation writes to that invocation's buffer."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        if buffer is not None:
            return int(buffer.write(text))
        return int(self.real.write(text))

    def flush(self) -> None:
        if getattr(self.local, "buffer", None) is None:
            with contextlib.suppress(ValueError):  # the real stream may already be closed at exit
                self.real.flush()

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.real, "encoding", "utf-8"))

    def fileno(self) -> int:
        return int(self.real.fileno())


_ROUTER: _ThreadStdout | None = None


class FifoLock:
    """A reentrant lock handed over in arrival order.

    Every handler runs under one lock (they share os.environ and stdout). threading.RLock makes no promise of
    order, and with dozens of executions invoking functions at once a waiter could be passed over for minutes:
    a Task would wait far longer than any real Lambda queue makes it. Here each invocation waits its turn.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._queue: collections.deque[object] = collections.deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:
                self._depth += 1
                return
            ticket = object()
            self._queue.append(ticket)
            while self._owner is not None or self._queue[0] is not ticket:
                self._condition.wait()
            self._queue.popleft()
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._condition:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a FifoLock this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify_all()

    def __enter__(self) -> FifoLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LambdaRuntime:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.functions: dict[str, LocalFunction] = {}
        self.invocations: list[Invocation] = []
        self._lock = FifoLock()
        self._stdout: _ThreadStdout | None = None
        self._fresh_layers: set[Path] = set()

    # registration -------------------------------------------------------------------------------------
    def register(self, function: LocalFunction) -> None:
        handler_file = function.code_dir / (function.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not handler_file.is_file():
            raise FileNotFoundError(
                f"function {function.name}: handler {function.handler} needs {handler_file}, which does not exist"
            )
        with self._lock:
            self.functions[function.name] = function
            for layer in function.layer_dirs:
                self._fresh_layer(layer)

    def _fresh_layer(self, layer: Path) -> None:
        """A new deployment starts cold: caches a layer's modules built in an earlier sandbox of this process
        (boto3 clients pointing at that sandbox's port, parsed settings) are dropped, once per runtime."""
        if layer in self._fresh_layers:
            return
        self._fresh_layers.add(layer)
        packages = [p.name for p in layer.iterdir() if (p / "__init__.py").is_file()] if layer.is_dir() else []
        for name, module in list(sys.modules.items()):
            if module is None or not any(name == p or name.startswith(f"{p}.") for p in packages):
                continue
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()
        with contextlib.suppress(ImportError):
            from aws_lambda_powertools.utilities.parameters import base

            base.DEFAULT_PROVIDERS.clear()  # Powertools' parameter providers hold boto3 clients too

    def function(self, name_or_arn: str) -> LocalFunction:
        name = name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        try:
            return self.functions[name]
        except KeyError:
            raise FunctionNotRegistered(
                f"Lambda function {name!r} has no local code in the sandbox; deploy it from template.yaml "
                "with the sandbox deployer"
            ) from None

    # invocation ---------------------------------------------------------------------------------------
    def invoke(self, function_name: str, event: Any) -> Invocation:
        fn = self.function(function_name)
        request_id = str(uuid.uuid4())
        invocation = Invocation(function_name=fn.name, request_id=request_id, event=event)
        clock = self.emulator.clock
        crash = self.emulator.faults.take("lambda:Invoke", function=fn.name)
        crash_at = _crash_point(crash)
        exit_reason = str(crash.params.get("exit", "exit status 1")) if crash is not None else ""
        with self._lock:
            invocation.started_at = clock.time()
            buffer = io.StringIO()
            started = time.perf_counter()
            with self._function_environment(fn), self._captured_output(buffer):
                try:
                    if crash_at == "start":
                        raise RuntimeExit
                    handler = self._load(fn, invocation)
                    arn = f"arn:aws:lambda:{self.emulator.region}:{self.emulator.account_id}:function:{fn.name}"
                    deadline = clock.time() + fn.timeout_seconds
                    context = LambdaContext(fn, request_id, arn, deadline, clock.time)
                    invocation.payload = handler(json.loads(json.dumps(event)), context)
                    json.dumps(invocation.payload)  # a handler result Lambda could not serialise is an error
                    if crash_at is not None:
                        raise RuntimeExit
                except RuntimeExit:
                    invocation.payload = None
                    invocation.error_type = RUNTIME_EXIT_ERROR
                    invocation.error_message = (
                        f"RequestId: {request_id} Error: Runtime exited with error: {exit_reason}"
                    )
                    buffer.write(f"{invocation.error_message}\n{RUNTIME_EXIT_ERROR}\n")
                    fn.module = None  # the process is gone: the next invocation starts cold
                except Exception as exc:
                    invocation.error_type = type(exc).__name__
                    invocation.error_message = str(exc)
                    buffer.write(
                        json.dumps(
                            {
                                "level": "ERROR",
                                "message": f"{invocation.error_type}: {invocation.error_message}",
                                "stack": traceback.format_exc(limit=8),
                            }
                        )
                        + "\n"
                    )
            invocation.duration_ms = (time.perf_counter() - started) * 1000
            invocation.logs = buffer.getvalue()
            self.invocations.append(invocation)
        self._ship_logs(fn, invocation)
        return invocation

    def _load(self, fn: LocalFunction, invocation: Invocation) -> Any:
        module_path, _, attribute = fn.handler.rpartition(".")
        if fn.module is None:
            started = time.perf_counter()
            self._check_layers(fn)
            source = fn.code_dir / (module_path.replace(".", "/") + ".py")
            spec = importlib.util.spec_from_file_location(f"sandbox_fn_{fn.name.replace('-', '_')}", source)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {source}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            fn.module = module
            fn.cold_start_ms = (time.perf_counter() - started) * 1000
            invocation.cold = True
        handler = getattr(fn.module, attribute, None)
        if handler is None:
            raise AttributeError(f"function {fn.name}: {module_path} has no handler {attribute!r}")
        return handler

    @staticmethod
    def _check_layers(fn: LocalFunction) -> None:
        """A package a layer ships must resolve to that layer, as it would under /opt/python in Lambda."""
        for layer in fn.layer_dirs:
            for package in sorted(p for p in layer.iterdir() if (p / "__init__.py").is_file()):
                spec = importlib.util.find_spec(package.name)
                origin = Path(spec.origin).resolve() if spec and spec.origin else None
                if origin is None or package.resolve() not in origin.parents:
                    raise ImportError(
                        f"function {fn.name}: layer package {package.name} resolves to {origin}, not to the "
                        f"layer at {layer}; install the project (pip install -e .) so the layer is importable"
                    )

    @contextlib.contextmanager
    def _function_environment(self, fn: LocalFunction) -> Iterator[None]:
        runtime_env = {
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": self.emulator.region,
            "AWS_DEFAULT_REGION": self.emulator.region,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        if self.emulator.endpoint_url:
            runtime_env["AWS_ENDPOINT_URL"] = self.emulator.endpoint_url
        wanted = {**runtime_env, **fn.environment}
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    @contextlib.contextmanager
    def _captured_output(self, buffer: io.StringIO) -> Iterator[None]:
        stdout = self._stdout
        if stdout is None:
            yield
            return
        stdout.local.buffer = buffer
        try:
            yield
        finally:
            stdout.local.buffer = None

    def capture_stdout(self) -> None:
        """Route handler output (Powertools writes to sys.stdout) into each invocation's log.

        One router per process: a Powertools logger created in an earlier sandbox keeps writing to the stream
        it was given, so that stream must stay the router and route by the invoking thread.
        """
        global _ROUTER  # noqa: PLW0603  (one router per process, on purpose)
        if _ROUTER is None:
            _ROUTER = _ThreadStdout(sys.stdout)
        if sys.stdout is not _ROUTER:
            _ROUTER.real = sys.stdout
            sys.stdout = _ROUTER
        self._stdout = _ROUTER

    def release_stdout(self) -> None:
        if self._stdout is not None and sys.stdout is self._stdout:
            sys.stdout = self._stdout.real
        self._stdout = None

    # logs and embedded metrics ------------------------------------------------------------------------
    def _ship_logs(self, fn: LocalFunction, invocation: Invocation) -> None:
        from moto.cloudwatch.models import cloudwatch_backends
        from moto.logs.models import logs_backends

        lines = [line for line in invocation.logs.splitlines() if line.strip()]
        timestamp_ms = int(invocation.started_at * 1000)
        logs = logs_backends[self.emulator.account_id][self.emulator.region]
        group = f"/aws/lambda/{fn.name}"
        stream = f"sandbox/{invocation.request_id[:8]}"
        with contextlib.suppress(Exception):
            logs.create_log_group(group, {})
        report = (
            f"REPORT RequestId: {invocation.request_id} Duration: {invocation.duration_ms:.2f} ms "
            f"Memory Size: {fn.memory_mb} MB"
        )
        events = [{"timestamp": timestamp_ms, "message": line} for line in [*lines, report]]
        logs.create_log_stream(group, stream)
        logs.put_log_events(group, stream, events)

        cloudwatch = cloudwatch_backends[self.emulator.account_id][self.emulator.region]
        for line in lines:
            for namespace, datum in _embedded_metrics(line):
                cloudwatch.put_metric_data(namespace, [datum])


def _crash_point(fault: Any) -> str | None:
    """When an armed lambda:Invoke fault crashes the runtime: "start", "end", or None (no fault)."""
    if fault is None:
        return None
    if fault.mode != CRASH:
        raise ValueError(f"fault 'lambda:Invoke' supports mode {CRASH!r}, not {fault.mode!r}")
    at = str(fault.params.get("at", "start"))
    if at not in {"start", "end"}:
        raise ValueError(f"fault 'lambda:Invoke' crashes at 'start' or 'end', not {at!r}")
    return at


def _embedded_metrics(line: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """CloudWatch's extraction of embedded-metric-format log lines into metric data."""
    if not line.startswith("{") or '"_aws"' not in line:
        return
    try:
        record = json.loads(line)
        directives = record["_aws"]["CloudWatchMetrics"]
        timestamp_ms = record["_aws"]["Timestamp"]
    except (ValueError, KeyError, TypeError):
        return
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    for directive in directives:
        for dimension_set in directive.get("Dimensions", []):
            dimensions = [{"Name": name, "Value": str(record[name])} for name in dimension_set if name in record]
            for metric in directive.get("Metrics", []):
                values = record.get(metric["Name"])
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, int | float):
                        yield (
                            directive["Namespace"],
                            {
                                "MetricName": metric["Name"],
                                "Value": float(value),
                                "Unit": metric.get("Unit", "None"),
                                "Dimensions": dimensions,
                                "Timestamp": when,
                            },
                        )


def install(emulator: Emulator, patcher: Patcher) -> LambdaRuntime:
    from moto.awslambda.models import LambdaFunction

    runtime = LambdaRuntime(emulator)

    def _invoke_lambda(self: LambdaFunction, event: str | None = None) -> tuple[str, bool, str]:
        payload = json.loads(event) if isinstance(event, str | bytes) else (event or {})
        invocation = runtime.invoke(self.function_name, payload)
        return invocation.response_payload(), invocation.failed, invocation.logs

    patcher.replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)

    def invoke(self: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> str | bytes:
        result = moto_invoke(self, body, request_headers, response_headers)
        if "x-amz-function-error" in response_headers:
            # moto says "Handled"; Lambda's Python runtimes report every function error, a raised exception or a
            # crashed runtime, as "Unhandled".
            response_headers["x-amz-function-error"] = "Unhandled"
        return result

    moto_invoke = patcher.replace(LambdaFunction, "invoke", invoke)

    import botocore.endpoint

    from mlrollout_sandbox.emulator.stepfunctions import clocked_time_module

    # The one sleep of botocore's retry loop (Endpoint._needs_retry): backoff on sandbox time.
    patcher.replace(botocore.endpoint, "time", clocked_time_module(emulator.clock))
    import moto.logs.models

    # moto drops log events more than 2 hours ahead of its own utcnow; the functions' logs are on sandbox time,
    # hours ahead of the wall clock after a few seconds at warp 600 (their REPORT lines are what `mlrollout cost`
    # bills from).
    patcher.replace(moto.logs.models, "utcnow", lambda: emulator.clock.now().replace(tzinfo=None))
    return runtime
