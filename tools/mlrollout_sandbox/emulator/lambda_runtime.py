"""Lambda without Docker: moto's invoke runs the real handler in an execution environment of its own.

Each function gets its own worker processes (`lambda_worker.py`), as Lambda gives each function its own
execution environments: a worker is started on the function's first invocation (the cold start: a fork of a
zygote that has already imported boto3, pydantic, Powertools and the layer, then the function's Init phase),
holds that function's environment variables, credentials and module state, and stays warm for the next
invocations.
Nothing of an invocation touches the sandbox's own process: not its os.environ, not its modules.

The environment is the function's template Environment, Lambda's runtime variables (AWS_LAMBDA_FUNCTION_NAME,
AWS_REGION, ...; AWS_ENDPOINT_URL points at the sandbox) and the function's credentials (`LocalFunction.
credentials`, the sandbox's default credentials when empty). Invocations of different functions run in
parallel. Concurrent invocations of one function get further environments, as Lambda scales out, up to
`MAX_ENVIRONMENTS` per function; beyond that they wait their turn in arrival order (a small machine gains no
parallelism from more processes, only cold starts and memory).

A worker reads the sandbox clock from shared memory (`SandboxClock.publish`): the handler module's datetime and
time, botocore's retry backoff and the context's remaining time follow sandbox time. An invocation that runs past
the function's Timeout ends as in Lambda, with errorType "Sandbox.Timedout" and "Task timed out after N.00
seconds", and its environment is replaced; the Timeout counts the handler's work at wall-clock speed and its
waits on the sandbox clock at their sandbox length (`lambda_worker.InvocationTime` says why).

The worker's stdout and stderr during an invocation are that invocation's log, shipped to the function's
CloudWatch Logs group with a REPORT line; embedded-metric-format lines become CloudWatch metrics as in AWS.
A handler's exception becomes Lambda's error payload (errorType = the exception's class name), which is what
Step Functions matches in Retry and Catch.

Faults armed on `Emulator.faults`:

    operation       matched on                    modes
    lambda:Invoke   function=<function name>      crash

A crash is the runtime process exiting mid-invocation (os._exit, a segfault, running out of memory): Lambda
answers the Invoke with FunctionError "Unhandled" and the payload {"errorType": "Runtime.ExitError",
"errorMessage": "RequestId: <id> Error: Runtime exited with error: exit status 1"}, the function's log ends
with that line, and the next invocation starts cold in a new process. Step Functions reports the payload's
errorType as the task's Error, so a Retry on Lambda's transient service errors does not replay it.
`params={"at": "end"}` crashes after the handler has run (its side effects happened, its result is lost); the
default, "start", crashes before the handler runs. `params={"exit": "signal: killed"}` changes the exit reported.

The sandbox's own SDK clients retry on sandbox time too: botocore's backoff sleeps (in this process and in each
worker) wait virtual seconds, not wall-clock seconds that warp would turn into virtual hours.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrollout_sandbox.emulator.lambda_worker import InvocationTime

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

log = logging.getLogger(__name__)


CRASH = "crash"
RUNTIME_EXIT_ERROR = "Runtime.ExitError"
TIMED_OUT = "Sandbox.Timedout"
# Environments one function may have at once; further concurrent invocations queue (see the module docstring).
MAX_ENVIRONMENTS = 4
# Wall-clock seconds a cold start may take before the sandbox gives up on it (a hung import, a dead zygote).
INIT_LIMIT_SECONDS = 120.0


class FunctionNotRegistered(LookupError):
    pass


class EnvironmentLost(RuntimeError):
    """An execution environment could not be started, or its process ended without answering."""


@dataclass
class LocalFunction:
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    layer_dirs: list[Path] = field(default_factory=list)
    timeout_seconds: int = 60
    memory_mb: int = 128
    # The execution role's temporary credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN);
    # empty: the sandbox's default credentials.
    credentials: dict[str, str] = field(default_factory=dict)
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
    pid: int | None = None  # the worker process that ran it (None: none did)

    @property
    def failed(self) -> bool:
        return self.error_type is not None

    def response_payload(self) -> str:
        if self.error_type in {RUNTIME_EXIT_ERROR, TIMED_OUT}:  # the runtime never answered: Lambda's own fields
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


@dataclass(eq=False)  # one handle per process: compared and hashed by identity
class _Worker:
    """The runtime's handle on one execution environment (a worker process)."""

    function: str
    generation: int
    pid: int
    conn: Connection
    init_logs: str = ""

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.conn.close()


class _Zygote:
    """The process that preloads the heavy modules and forks workers (`lambda_worker.zygote`)."""

    def __init__(self, clock_fd: int, layer_dirs: list[Path]) -> None:
        name = f"mlrollout-lambda-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind("\0" + name)  # Linux's abstract namespace: no socket file to clean up
        self.listener.listen(64)
        self.listener.settimeout(1.0)  # `spawn` re-checks that the zygote is alive between tries
        ours, theirs = socket.socketpair()
        self.control = Connection(ours.detach())
        path = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir())
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlrollout_sandbox.emulator.lambda_worker",
                str(theirs.fileno()),
                str(clock_fd),
                name,
                json.dumps([str(p) for p in layer_dirs]),
            ],
            pass_fds=(theirs.fileno(), clock_fd),
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._failed: str | None = None
        threading.Thread(target=self._await_ready, name="lambda-zygote-start", daemon=True).start()

    def _await_ready(self) -> None:
        try:
            if not self.control.poll(INIT_LIMIT_SECONDS):
                raise EnvironmentLost(f"the Lambda zygote did not start in {INIT_LIMIT_SECONDS:.0f} s")
            self.control.recv()
        except (EOFError, OSError, EnvironmentLost) as exc:
            self._failed = (
                f"the sandbox's Lambda zygote (pid {self.process.pid}) failed to start ({exc or type(exc).__name__}); "
                "its error is on the sandbox's stderr"
            )
        self._ready.set()

    def spawn(self, spec: dict[str, Any]) -> tuple[int, Connection]:
        self._ready.wait()
        if self._failed:
            raise EnvironmentLost(self._failed)
        token = uuid.uuid4().hex
        with self._lock:  # one fork at a time, so the connection accepted is the one just forked
            try:
                self.control.send(("spawn", token, spec))
                sock = self._accept()
            except OSError as exc:
                raise EnvironmentLost(f"the Lambda zygote did not start a worker: {exc!r}") from exc
        sock.setblocking(True)
        conn = Connection(sock.detach())
        _, their_token, pid = conn.recv()
        if their_token != token:
            conn.close()
            raise EnvironmentLost("a Lambda worker answered for another spawn")
        return int(pid), conn

    def _accept(self) -> socket.socket:
        deadline = time.monotonic() + INIT_LIMIT_SECONDS
        while True:
            try:
                return self.listener.accept()[0]
            except TimeoutError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise EnvironmentLost(
                        f"the Lambda zygote (pid {self.process.pid}, exit code {self.process.returncode}) did not "
                        "start a worker"
                    ) from None

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()  # the zygote kills its process group when the connection closes
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes a spawn waiting in accept
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.listener.close()


class LambdaRuntime:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.functions: dict[str, LocalFunction] = {}
        self.invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._zygote: _Zygote | None = None
        self._closed = False
        self._generations: dict[str, int] = {}
        self._idle: dict[str, list[_Worker]] = {}
        self._live: dict[str, int] = {}  # environments per function, idle or busy (or starting)
        self._turns: dict[str, threading.Condition] = {}
        self._queues: dict[str, deque[object]] = {}
        self._workers: set[_Worker] = set()

    # registration -------------------------------------------------------------------------------------
    def register(self, function: LocalFunction) -> None:
        handler_file = function.code_dir / (function.handler.rsplit(".", 1)[0].replace(".", "/") + ".py")
        if not handler_file.is_file():
            raise FileNotFoundError(
                f"function {function.name}: handler {function.handler} needs {handler_file}, which does not exist"
            )
        with self._lock:
            self.functions[function.name] = function
            # A new configuration starts new environments, as an UpdateFunctionConfiguration does.
            self._generations[function.name] = self._generations.get(function.name, 0) + 1
            retired = self._retire_idle()
            if self._zygote is None and not self._closed:
                # Starts importing while the deploy goes on; the stack's functions share its layer.
                self._zygote = _Zygote(self.emulator.clock.publish(), function.layer_dirs)
        for worker in retired:
            worker.kill()

    def unregister(self, name: str) -> None:
        with self._lock:
            self.functions.pop(name, None)
            retired = self._retire_idle()
        for worker in retired:
            worker.kill()

    def _retire_idle(self) -> list[_Worker]:
        """Idle environments of functions deleted or reconfigured since they started (under the lock)."""
        retired = []
        for name, idle in self._idle.items():
            keep = [w for w in idle if name in self.functions and w.generation == self._generations.get(name)]
            for worker in idle:
                if worker not in keep:
                    retired.append(worker)
                    self._forget(worker)
            idle[:] = keep
        return retired

    def _forget(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        self._live[worker.function] = self._live.get(worker.function, 1) - 1
        turn = self._turns.get(worker.function)
        if turn is not None:
            turn.notify_all()

    def function(self, name_or_arn: str) -> LocalFunction:
        name = name_or_arn.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        try:
            return self.functions[name]
        except KeyError:
            raise FunctionNotRegistered(
                f"Lambda function {name!r} has no local code in the sandbox; deploy it from template.yaml "
                "with the sandbox deployer"
            ) from None

    # environments -------------------------------------------------------------------------------------
    def _take(self, fn: LocalFunction) -> _Worker | None:
        """A warm environment of `fn`, or None when the caller may start one; waits while `fn` has the most
        environments it may have and all of them are busy."""
        with self._lock:
            retired = self._retire_idle()
            turn = self._turns.setdefault(fn.name, threading.Condition(self._lock))
            queue = self._queues.setdefault(fn.name, deque())
            ticket = object()
            queue.append(ticket)
            try:
                while True:
                    idle = self._idle.setdefault(fn.name, [])
                    if queue[0] is ticket:
                        if idle:
                            return idle.pop()
                        if self._live.get(fn.name, 0) < MAX_ENVIRONMENTS:
                            self._live[fn.name] = self._live.get(fn.name, 0) + 1
                            return None
                    turn.wait()
            finally:
                queue.remove(ticket)
                turn.notify_all()
                for worker in retired:
                    worker.kill()

    def _give_back(self, worker: _Worker | None, fn: LocalFunction, *, healthy: bool) -> None:
        with self._lock:
            if worker is None:  # a start that failed: its slot is free again
                self._live[fn.name] = self._live.get(fn.name, 1) - 1
                self._turns[fn.name].notify_all()
                return
            current = fn.name in self.functions and worker.generation == self._generations.get(fn.name)
            if healthy and current and not self._closed:
                self._idle.setdefault(fn.name, []).append(worker)
                self._turns[fn.name].notify_all()
                return
            self._forget(worker)
        worker.kill()

    def _start(self, fn: LocalFunction) -> _Worker:
        with self._lock:
            if self._closed:
                raise EnvironmentLost("the sandbox's Lambda runtime is closed")
            if self._zygote is None:
                self._zygote = _Zygote(self.emulator.clock.publish(), fn.layer_dirs)
            zygote, generation = self._zygote, self._generations.get(fn.name, 0)
        pid, conn = zygote.spawn(self._spec(fn))
        worker = _Worker(fn.name, generation, pid, conn)
        with self._lock:
            self._workers.add(worker)
        logs: list[str] = []
        deadline = time.monotonic() + INIT_LIMIT_SECONDS
        failure: Exception = EnvironmentLost(f"function {fn.name}: Init did not finish in {INIT_LIMIT_SECONDS:.0f} s")
        try:
            while conn.poll(max(0.0, deadline - time.monotonic())):
                message = conn.recv()
                if message[0] == "log":
                    logs.append(message[1])
                elif message[0] == "ready":
                    fn.cold_start_ms = float(message[1])
                    worker.init_logs = "".join(logs)
                    return worker
                elif message[0] == "init_failed":
                    failure = _InitFailed(message[1], message[2], "".join(logs))
                    break
        except (EOFError, OSError) as exc:
            failure = EnvironmentLost(f"function {fn.name}: the worker ended during Init ({exc!r})")
        with self._lock:
            self._workers.discard(worker)
        worker.kill()
        raise failure

    def _spec(self, fn: LocalFunction) -> dict[str, Any]:
        return {
            "name": fn.name,
            "code_dir": str(fn.code_dir),
            "handler": fn.handler,
            "layer_dirs": [str(p) for p in fn.layer_dirs],
            "timeout_seconds": fn.timeout_seconds,
            "memory_mb": fn.memory_mb,
            "environment": self._environment(fn),
        }

    def _environment(self, fn: LocalFunction) -> dict[str, str]:
        """The variables Lambda's Python runtime sets, the function's own, and its role's credentials."""
        from mlrollout_sandbox import emulator as sandbox

        credentials = fn.credentials or {
            "AWS_ACCESS_KEY_ID": sandbox.CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": sandbox.CREDENTIALS["aws_secret_access_key"],
            **(
                {"AWS_SESSION_TOKEN": sandbox.CREDENTIALS["aws_session_token"]}
                if sandbox.CREDENTIALS.get("aws_session_token")
                else {}
            ),
        }
        runtime = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "_HANDLER": fn.handler,
            "AWS_LAMBDA_FUNCTION_NAME": fn.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
            "AWS_REGION": self.emulator.region,
            "AWS_DEFAULT_REGION": self.emulator.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        if self.emulator.endpoint_url:
            runtime["AWS_ENDPOINT_URL"] = self.emulator.endpoint_url
        # Lambda refuses its reserved variables in a function's configuration: the runtime's win.
        return {**fn.environment, **runtime, **credentials}

    def close(self) -> None:
        """End every execution environment and the zygote (the sandbox is shutting down)."""
        with self._lock:
            self._closed = True
            workers, self._workers = list(self._workers), set()
            self._idle.clear()
            zygote, self._zygote = self._zygote, None
        for worker in workers:
            worker.kill()
        if zygote is not None:
            zygote.stop()

    def processes(self) -> set[int]:
        """The runtime's processes now: each execution environment's worker, and the zygote."""
        with self._lock:
            zygote = {self._zygote.process.pid} if self._zygote is not None else set()
            return {w.pid for w in self._workers} | zygote

    # invocation ---------------------------------------------------------------------------------------
    def invoke(self, function_name: str, event: Any) -> Invocation:
        fn = self.function(function_name)
        request_id = str(uuid.uuid4())
        invocation = Invocation(function_name=fn.name, request_id=request_id, event=event)
        crash = self.emulator.faults.take("lambda:Invoke", function=fn.name)
        crash_at = _crash_point(crash)
        exit_reason = str(crash.params.get("exit", "exit status 1")) if crash is not None else ""
        worker = self._take(fn)
        invocation.started_at = self.emulator.clock.time()
        started = time.perf_counter()
        healthy = False
        try:
            if crash_at == "start":
                # The runtime process exits on receiving the event; with no warm environment there is none to end.
                self._crashed(invocation, f"Runtime exited with error: {exit_reason}")
                invocation.pid = worker.pid if worker is not None else None
            else:
                if worker is None:
                    worker = self._start_for(fn, invocation)
                if worker is not None:
                    healthy = self._run(fn, worker, invocation, event)
                    if healthy and crash_at == "end":
                        healthy = False
                        invocation.payload = None
                        invocation.error_type = None
                        self._crashed(invocation, f"Runtime exited with error: {exit_reason}")
        finally:
            self._give_back(worker, fn, healthy=healthy)
        if invocation.error_type != TIMED_OUT:
            invocation.duration_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.invocations.append(invocation)
        self._ship_logs(fn, invocation)
        return invocation

    def _start_for(self, fn: LocalFunction, invocation: Invocation) -> _Worker | None:
        """A cold start for `invocation`; None, with the invocation failed, when Init fails."""
        invocation.cold = True
        try:
            return self._start(fn)
        except _InitFailed as failed:
            invocation.error_type, invocation.error_message = failed.error_type, failed.message
            invocation.logs = failed.logs
        except EnvironmentLost as exc:
            log.error("%s", exc)
            self._crashed(invocation, "Runtime exited without providing a reason")
        return None

    def _run(self, fn: LocalFunction, worker: _Worker, invocation: Invocation, event: Any) -> bool:
        """Send the event to the worker and wait for its answer or its Timeout; True when it stays usable."""
        invocation.pid = worker.pid
        logs = [worker.init_logs]
        worker.init_logs = ""
        used = InvocationTime(self.emulator.clock, fn.timeout_seconds)
        arn = f"arn:aws:lambda:{self.emulator.region}:{self.emulator.account_id}:function:{fn.name}"
        try:
            worker.conn.send(("invoke", invocation.request_id, json.dumps(event), arn))
            while True:
                left = used.real_seconds_left()
                if left <= 0:
                    self._timed_out(fn, invocation, logs)
                    return False
                if not worker.conn.poll(min(left, 0.25)):
                    continue
                message = worker.conn.recv()
                kind = message[0]
                if kind == "log":
                    logs.append(message[1])
                elif kind == "sleep":
                    used.asleep()
                elif kind == "slept":
                    used.awake()
                elif kind == "result":
                    invocation.payload = json.loads(message[1])
                    return True
                elif kind == "error":
                    invocation.error_type, invocation.error_message = message[1], message[2]
                    return True
        except (EOFError, OSError):
            invocation.logs = "".join(logs)
            self._crashed(invocation, "Runtime exited without providing a reason")
            return False
        finally:
            invocation.logs = invocation.logs or "".join(logs)

    def _crashed(self, invocation: Invocation, reason: str) -> None:
        invocation.error_type = RUNTIME_EXIT_ERROR
        invocation.error_message = f"RequestId: {invocation.request_id} Error: {reason}"
        invocation.logs += f"{invocation.error_message}\n{RUNTIME_EXIT_ERROR}\n"

    def _timed_out(self, fn: LocalFunction, invocation: Invocation, logs: list[str]) -> None:
        message = f"Task timed out after {fn.timeout_seconds:.2f} seconds"
        invocation.error_type = TIMED_OUT
        invocation.error_message = f"RequestId: {invocation.request_id} Error: {message}"
        invocation.duration_ms = fn.timeout_seconds * 1000.0
        stamp = datetime.fromtimestamp(self.emulator.clock.time(), UTC).isoformat(timespec="milliseconds")
        invocation.logs = "".join(logs) + f"{stamp.replace('+00:00', 'Z')} {invocation.request_id} {message}\n"

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


class _InitFailed(Exception):
    def __init__(self, error_type: str, message: str, logs: str) -> None:
        super().__init__(message)
        self.error_type, self.message, self.logs = error_type, message, logs


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
        result: str | bytes = moto_invoke(self, body, request_headers, response_headers)
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
