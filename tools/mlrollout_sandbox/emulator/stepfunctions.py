"""Step Functions: JSONata evaluation and sandbox time for moto's state-machine interpreter.

moto 5.2.5 interprets ASL (with `stepfunctions.execute_state_machine`) but evaluates JSONata through a JVM
bridge it does not ship, embeds string variables into JSONata without escaping them, and waits, retries and
timestamps on the wall clock. Here:
- JSONata runs on jsonata-python; an evaluation error, and a field whose expression evaluates to undefined,
  fail the state with States.QueryEvaluationError, as in AWS (inside one expression JSONata's own rules hold:
  an object constructor leaves out a key whose value is undefined);
- a failed aws-sdk task's Error is named as Step Functions names it (`aws_sdk_error_name`):
  SageMaker.ResourceNotFoundException for an error SageMaker's model declares, SageMaker.SageMakerException
  for any other (throttling, validation);
- variables are embedded as JSON literals (a reason with a quote in it no longer breaks the expression);
- Wait states, Retry intervals, the machine-level TimeoutSeconds, EnteredTime in the context object and every
  history/execution timestamp follow the sandbox clock;
- StopExecution keeps its `error` and `cause` (moto drops them): DescribeExecution reports them for the ABORTED
  execution, as does its status-change event.
Task-level TimeoutSeconds stay on the wall clock on purpose: they bound a handler's real CPU time, which
sandbox warp would otherwise turn into spurious timeouts.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
import time as _time
import types
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

_CLOCKED_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.backend.execution",
    "moto.stepfunctions.parser.models",
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp",
)


class StepFunctionsEmulator:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.jsonata_evaluations = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def compiled(self, expression: str) -> Any:
        """A parsed JSONata expression, cached per thread (evaluation keeps per-call state on the object)."""
        import jsonata

        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = {}
        expr = cache.get(expression)
        if expr is None:
            expr = cache[expression] = jsonata.Jsonata(expression)
            # Keep JSON null distinct from "undefined" in results, as Step Functions does.
            expr.set_output_convert_nulls(False)
        return expr

    @staticmethod
    def plain(result: Any) -> Any:
        from jsonata.utils import Utils

        return Utils.convert_nulls(result)

    @staticmethod
    def bindings(env: Any, references: set[str]) -> dict[str, Any]:
        """$states and the state machine's variables as JSONata bindings, JSON-normalised as AWS sees them.

        Binding values directly instead of splicing them into the expression text (moto's way) means only the
        small expression is parsed, which makes a JSONata-heavy workflow about 40 times cheaper to run.
        """
        from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

        names = {reference[1:].split(".")[0] for reference in references}
        values: dict[str, Any] = {}
        if "states" in names:
            values["states"] = env.states._states_data
        store = env.variable_store
        for scope in (store._outer_scope, store._inner_scope):
            values.update({name: value for name, value in scope.items() if name in names})
        from jsonata.utils import Utils

        def with_nulls(value: Any) -> Any:  # JSON null as jsonata-python's null, not as undefined
            if value is None:
                return Utils.NULL_VALUE
            if isinstance(value, dict):
                return {k: with_nulls(v) for k, v in value.items()}
            if isinstance(value, list):
                return [with_nulls(v) for v in value]
            return value

        return dict(with_nulls(json.loads(to_json_str(values))))

    def evaluate_jsonata(self, expression: str) -> Any:
        import jsonata
        from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException

        with self._lock:
            self.jsonata_evaluations += 1
        try:
            return jsonata.Jsonata(expression).evaluate(None)
        except Exception as exc:
            raise JSONataException("States.QueryEvaluationError", str(exc)) from exc


# The "Exception prefix" of the services this project's workflows call, from the supported-services table of
# the AWS SDK integrations page (it is the SDK's client name: DynamoDb, not DynamoDB). Other services fall back
# to botocore's service id without spaces, which matches that table for most of them.
SDK_SERVICE_NAMES = {
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDb",
    "s3": "S3",
    "sfn": "Sfn",
    "sns": "Sns",
    "sqs": "Sqs",
    "lambda": "Lambda",
}


def sdk_service_name(service: str) -> str:
    """The ServiceName prefix of an aws-sdk task's errors: SageMaker, S3, DynamoDb, ..."""
    import botocore.session

    known = SDK_SERVICE_NAMES.get(service.lower())
    if known is not None:
        return known
    model = botocore.session.get_session().get_service_model(service.lower())
    return str(model.service_id).replace(" ", "")


def aws_sdk_error_name(service: str, error: Any) -> str:
    """Step Functions' Error for a failed aws-sdk task.

    The AWS SDK integrations page
    (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html) states the shape:
    `ServiceName.ErrorName`, both Pascal case, with the "Exception" suffix always present (added when the
    service's own name lacks it, as in S3.BucketAlreadyExistsException; never doubled). The ErrorName is the
    SDK exception the integration raises: an error the service's model declares keeps its name
    (SageMaker.ResourceNotFoundException, SageMaker.ConflictException); any other code (SageMaker's
    ThrottlingException and ValidationException are not in its model) arrives as the service's base exception,
    SageMaker.SageMakerException, with the code only in the Cause. That second half is not spelled out on the
    page; it is what the SDK's generic exception is called and what workflows in the wild retry.
    """
    import botocore.session

    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    prefix = sdk_service_name(service)
    model = botocore.session.get_session().get_service_model(service.lower())
    modeled = {shape.metadata.get("error", {}).get("code", shape.name) for shape in model.error_shapes}
    modeled |= {shape.name for shape in model.error_shapes}
    name = code if code in modeled else prefix
    return f"{prefix}.{name}" + ("" if name.endswith("Exception") else "Exception")


def _datetime_module(clock: SandboxClock) -> types.ModuleType:
    """A stand-in for the `datetime` module whose datetime.now()/utcnow() read the sandbox clock."""

    class _Meta(type):
        def __instancecheck__(cls, obj: object) -> bool:
            return isinstance(obj, _dt.datetime)

        def __getattr__(cls, name: str) -> Any:
            return getattr(_dt.datetime, name)

    class VirtualDatetime(metaclass=_Meta):
        def __new__(cls, *args: Any, **kwargs: Any) -> _dt.datetime:  # type: ignore[misc]
            return _dt.datetime(*args, **kwargs)

        @staticmethod
        def now(tz: _dt.tzinfo | None = None) -> _dt.datetime:
            current = clock.now()
            return current.astimezone(tz) if tz is not None else current.astimezone().replace(tzinfo=None)

        @staticmethod
        def utcnow() -> _dt.datetime:
            return clock.now().replace(tzinfo=None)

    module = types.ModuleType("datetime")
    module.__dict__.update({k: v for k, v in vars(_dt).items() if not k.startswith("__")})
    module.datetime = VirtualDatetime  # type: ignore[attr-defined]
    return module


def clocked_time_module(clock: SandboxClock) -> types.ModuleType:
    """A stand-in for the `time` module whose sleep() and time() follow the sandbox clock."""
    module = types.ModuleType("time")
    module.__dict__.update({k: v for k, v in vars(_time).items() if not k.startswith("__")})
    module.sleep = clock.sleep  # type: ignore[attr-defined]
    module.time = clock.time  # type: ignore[attr-defined]
    return module


def clocked_event_class(clock: SandboxClock) -> type[threading.Event]:
    """threading.Event whose wait(timeout) counts the timeout in sandbox seconds (a Task's TimeoutSeconds, a
    callback's wait for its task token), following the clock's speed while it waits."""

    class ClockedEvent(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            if timeout is None:
                return super().wait()
            deadline = clock.time() + float(timeout)
            while True:
                remaining = deadline - clock.time()
                if remaining <= 0:
                    return self.is_set()
                if super().wait(min(clock.real_seconds(remaining), 0.25)):
                    return True

    return ClockedEvent


def _encode_declarations(bindings: dict[str, Any]) -> str:
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    return "".join(f"{name}:={to_json_str(value, separators=(',', ':'))};" for name, value in bindings.items())


def install(emulator: Emulator, patcher: Patcher) -> StepFunctionsEmulator:
    import importlib

    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJSONata
    from moto.stepfunctions.parser.asl.component.intrinsic.jsonata import get_intrinsic_functions_declarations
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval import states as states_module
    from moto.stepfunctions.parser.asl.eval import variable_store
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.jsonata import jsonata as jsonata_module
    from moto.stepfunctions.parser.asl.jsonata.jsonata import extract_jsonata_variable_references

    service = StepFunctionsEmulator(emulator.clock)
    clock = emulator.clock

    patcher.replace(jsonata_module, "_eval_jsonata", service.evaluate_jsonata)
    for module in (jsonata_module, states_module, variable_store):
        patcher.replace(module, "encode_jsonata_variable_declarations", _encode_declarations)

    def _query_failure(env: Any, cause: str) -> FailureEventException:
        error_name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
        return FailureEventException(
            failure_event=FailureEvent(
                env=env,
                error_name=error_name,
                event_type=HistoryEventType.EvaluationFailed,
                # moto types EventDetails as a TypedDict of every kind of details; one kind is what it holds.
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    evaluationFailedEventDetails=EvaluationFailedEventDetails(error=error_name.error_name, cause=cause)
                ),
            )
        )

    original_string_eval = StringJSONata._eval_body

    def _string_jsonata_eval(self: Any, env: Any) -> None:
        references = extract_jsonata_variable_references(self.expression)
        if get_intrinsic_functions_declarations(variable_references=references):
            # Step Functions' own JSONata functions ($partition, $uuid, ...) are declared in JSONata text by
            # moto: take moto's (slower) path for those expressions.
            try:
                original_string_eval(self, env)
            except jsonata_module.JSONataException as exc:
                raise _query_failure(
                    env, f"An error occurred while evaluating '{self.expression}': {exc.details}"
                ) from exc
            return
        bindings = service.bindings(env, references)
        try:
            raw = service.compiled(self.expression).evaluate(None, bindings)
        except Exception as exc:
            raise _query_failure(
                env, f"An error occurred while evaluating the expression '{self.expression}': {exc}"
            ) from exc
        if raw is None:  # JSON null is NULL_VALUE here (output conversion is off): None is undefined
            raise _query_failure(env, f"The JSONata expression '{self.expression}' returned nothing (undefined).")
        if callable(raw) or hasattr(raw, "call"):
            raise _query_failure(
                env, f"The JSONata expression '{self.expression}' returned an unsupported result type."
            )
        result = service.plain(raw)
        env.stack.append(result)

    patcher.replace(StringJSONata, "_eval_body", _string_jsonata_eval)

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        wake_at = clock.time() + max(0, wait_seconds)
        while env.is_running():
            remaining = wake_at - clock.time()
            if remaining <= 0:
                return
            clock.sleep(remaining, env.program_state_event)

    patcher.replace(WaitFunction, "_wait_interval", _wait_interval)
    # A Task's TimeoutSeconds and a waitForTaskToken callback's wait: sandbox time, not wall time.
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.eval.callback import callback

    clocked_event = clocked_event_class(clock)
    patcher.replace(execute_state, "threading", types.SimpleNamespace(Event=clocked_event))
    patcher.replace(callback, "Event", clocked_event)
    patcher.replace(retrier_decl, "time", clocked_time_module(clock))

    virtual_datetime = _datetime_module(clock)
    for name in _CLOCKED_MODULES:
        patcher.replace(importlib.import_module(name), "datetime", virtual_datetime)

    original_program_eval = Program.eval

    def _program_eval(self: Any, env: Any) -> None:
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        if timeout is None:
            original_program_eval(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        from moto.stepfunctions.parser.utils import TMP_THREADS

        worker = threading.Thread(target=super(Program, self).eval, args=(env,), daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        # The machine's TimeoutSeconds is sandbox time: the clock's speed may change while the execution runs.
        deadline = clock.time() + timeout
        while worker.is_alive() and (remaining := deadline - clock.time()) > 0:
            worker.join(timeout=min(clock.real_seconds(remaining), 0.5))
        if worker.is_alive():
            env.set_timed_out()

    patcher.replace(Program, "eval", _program_eval)

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start = StepFunctionsParserBackend.start_execution

    def _start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        # AWS names an unnamed execution with a UUID; moto would name it None (and call the next one a duplicate).
        return original_start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    patcher.replace(StepFunctionsParserBackend, "start_execution", _start_execution)

    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    original_from_error = StateTaskServiceAwsSdk._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original_from_error(self, env, ex)
        service_name = self.resource.api_name
        error = aws_sdk_error_name(service_name, ex)
        meta = ex.response.get("ResponseMetadata", {})
        prefix = sdk_service_name(service_name)
        cause = (
            f"{ex.response['Error'].get('Message', '')} (Service: {prefix}, Status Code: {meta.get('HTTPStatusCode')}, "
            f"Request ID: {meta.get('RequestId')}, Error Code: {ex.response['Error'].get('Code')})"
        )
        return self._get_task_failure_event(env=env, error=error, cause=cause)

    patcher.replace(StateTaskServiceAwsSdk, "_from_error", _from_error)
    _patch_stop_execution(patcher, clock)
    return service


def _patch_stop_execution(patcher: Patcher, clock: SandboxClock) -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.responses import StepFunctionResponse

    def stop_execution(self: Any) -> ActionResult:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        execution.stop(stop_date=clock.now(), error=self._get_param("error"), cause=self._get_param("cause"))
        return ActionResult({"stopDate": execution.stop_date or clock.now()})

    patcher.replace(StepFunctionResponse, "stop_execution", stop_execution)

    # SendTaskFailure's cause: moto's handler passes only the error on, so a task failed with a reason lost it.
    from moto.core.responses import EmptyResult

    def send_task_failure(self: Any) -> EmptyResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    patcher.replace(StepFunctionResponse, "send_task_failure", send_task_failure)

    # GetExecutionHistory: moto answers every event oldest first in one page, ignoring reverseOrder, maxResults
    # and nextToken; AWS pages (at most 1000 events, 100 by default) in the order asked for.
    original_history = StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> ActionResult:
        answer = original_history(self)
        result = dict(answer.result)  # type: ignore[call-overload]
        events = list(result.get("events", []))
        if self._get_param("reverseOrder"):
            events.reverse()
        size = min(int(self._get_param("maxResults") or 100), 1000)
        start = int(self._get_param("nextToken") or 0)
        result["events"] = events[start : start + size]
        result.pop("nextToken", None)
        if start + size < len(events):
            result["nextToken"] = str(start + size)
        return ActionResult(result)

    patcher.replace(StepFunctionResponse, "get_execution_history", get_execution_history)

    # AWS reports when a timed-out execution ended; moto's DescribeExecution and ListExecutions leave stopDate out
    # for TIMED_OUT (they list SUCCEEDED, FAILED and ABORTED only).
    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> ActionResult:
        answer = original_describe(self)
        result = answer.result
        if isinstance(result, dict) and result.get("status") == "TIMED_OUT" and "stopDate" not in result:
            execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
            result["stopDate"] = execution.stop_date
        return answer

    patcher.replace(StepFunctionResponse, "describe_execution", describe_execution)

    original_list = StepFunctionResponse.list_executions

    def list_executions(self: Any) -> ActionResult:
        answer = original_list(self)
        result: Any = answer.result
        timed_out = [e for e in (result or {}).get("executions", []) if e.get("status") == "TIMED_OUT"]
        for entry in timed_out:
            entry.setdefault("stopDate", self.stepfunction_backend.describe_execution(entry["executionArn"]).stop_date)
        return answer

    patcher.replace(StepFunctionResponse, "list_executions", list_executions)

    original_reflect: Any = BaseExecutionWorkerCommunication._reflect_execution_status

    def _reflect_execution_status(self: Any) -> None:
        original_reflect(self)
        ended = self.execution.exec_worker.env.program_state()
        if isinstance(ended, ProgramStopped):
            self.execution.error = ended.error or None
            self.execution.cause = ended.cause or None

    patcher.replace(BaseExecutionWorkerCommunication, "_reflect_execution_status", _reflect_execution_status)
