"""Asynchronous delivery, shared by the emulated EventBridge, EventBridge Scheduler and SNS.

AWS never delivers an event, a schedule's invocation or a notification inside the request that caused it, and
the sandbox must not either: a Lambda handler that publishes to SNS runs while the serialised LambdaRuntime is
held, so delivering to a subscribed Lambda in the publisher's request would deadlock. Everything those
services send therefore goes through one `DeliveryWorker`: a thread with a queue ordered by due time on the
sandbox clock, so retries wait in virtual seconds and a warped sandbox retries as fast as it runs.

This module also holds what the three services have in common: the delivery record, the error model
(retriable or not, with EventBridge's error codes), the target calls (StartExecution, SQS SendMessage, SNS
Publish), Lambda's asynchronous invocation (two retries on a function error, one and two minutes apart,
then the function's dead-letter queue or on-failure destination), and `TargetDispatcher`: how an EventBridge
rule and an EventBridge Scheduler schedule call their targets, retry them per the target's RetryPolicy and
then send to its dead-letter queue, with what differs between the two services left to each.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import random
import threading
import time
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlrollout_sandbox.clock import SandboxClock
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher
    from mlrollout_sandbox.emulator.iam import Iam

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
DEAD_LETTERED = "dead-lettered"
DROPPED = "dropped"
FILTERED = "filtered"

# Lambda's asynchronous invocation: the waits before the second and third attempts (AWS documents one and two
# minutes), the default number of retries and the default maximum event age.
LAMBDA_RETRY_DELAYS = (60.0, 120.0)
LAMBDA_DEFAULT_RETRIES = 2
LAMBDA_DEFAULT_MAX_AGE = 21600.0

# A rule's or a schedule's target without a RetryPolicy: EventBridge documents 24 hours and up to 185 retries
# as its default; Scheduler's RetryPolicy allows at most the same (0-185 retries, 60-86400 seconds), and the
# sandbox gives a schedule's target without one these maxima too.
DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_EVENT_AGE = 86400.0
# The longest wait between two attempts: AWS backs off exponentially with jitter and documents no cap; five
# minutes keeps 185 retries within the default day.
MAX_BACKOFF = 300.0
# The target types the sandbox calls itself (for rules and schedules), with the IAM action each call needs.
TARGET_ACTIONS = {
    "lambda": "lambda:InvokeFunction",
    "states": "states:StartExecution",
    "sns": "sns:Publish",
    "sqs": "sqs:SendMessage",
}


@dataclass
class Delivery:
    """One event, invocation or notification on its way to one target, kept for tests and the sandbox report."""

    service: str
    source: str
    target: str
    protocol: str
    payload: str
    created_at: datetime
    target_id: str | None = None
    role_arn: str | None = None
    outcome: str = PENDING
    attempts: int = 0
    error_code: str | None = None
    error_message: str | None = None
    execution_arn: str | None = None
    request_ids: list[str] = field(default_factory=list)
    dead_letter_arn: str | None = None
    finished_at: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.outcome != PENDING


class DeliveryFailure(Exception):
    """A target call that failed, with the error code EventBridge reports and whether it is worth retrying."""

    def __init__(self, code: str, message: str, *, retriable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retriable = retriable


# AWS sends these straight to the dead-letter queue: retrying cannot help until someone fixes the setup.
_NOT_RETRIABLE = {"NO_RESOURCE", "NO_PERMISSIONS", "INVALID_JSON", "INVALID_PARAMETER"}

_ERROR_TYPES = {
    "StateMachineDoesNotExist": "NO_RESOURCE",
    "ResourceNotFound": "NO_RESOURCE",
    "ResourceNotFoundException": "NO_RESOURCE",
    "NotFound": "NO_RESOURCE",
    "AWS.SimpleQueueService.NonExistentQueue": "NO_RESOURCE",
    "QueueDoesNotExist": "NO_RESOURCE",
    "StateMachineDeleting": "NO_RESOURCE",
    "InvalidExecutionInput": "INVALID_JSON",
    "InvalidArn": "INVALID_PARAMETER",
    "InvalidName": "INVALID_PARAMETER",
    "InvalidParameter": "INVALID_PARAMETER",
    "InvalidParameterValue": "INVALID_PARAMETER",
    "ValidationException": "INVALID_PARAMETER",
    "AccessDeniedException": "NO_PERMISSIONS",
    "ExecutionLimitExceeded": "THROTTLING",
    "TooManyRequestsException": "THROTTLING",
    "ThrottlingException": "THROTTLING",
}


def failure_from(exc: BaseException) -> DeliveryFailure:
    """Translate what a moto backend raised into EventBridge's error vocabulary."""
    if isinstance(exc, DeliveryFailure):
        return exc
    # moto's JSON services name the error in `error_type`, its query-protocol ones (SNS, SQS) in `code`.
    error_type = getattr(exc, "error_type", None)
    if not isinstance(error_type, str) or not error_type:
        code_attribute = getattr(exc, "code", None)
        error_type = code_attribute if isinstance(code_attribute, str) else type(exc).__name__
    message = str(getattr(exc, "message", "") or exc)
    if error_type in _ERROR_TYPES:
        code = _ERROR_TYPES[error_type]
    else:
        code = "ERROR_FROM_TARGET" if hasattr(exc, "message") else "INTERNAL_ERROR"
    return DeliveryFailure(code, f"{error_type}: {message}", retriable=code not in _NOT_RETRIABLE)


def fault_failure(spec: Any) -> DeliveryFailure:
    """An armed fault (emulator.faults) as a delivery failure: its mode is the error code."""
    code = str(spec.mode)
    retriable = bool(spec.params.get("retriable", code not in _NOT_RETRIABLE))
    return DeliveryFailure(code, str(spec.params.get("message", f"injected fault {code}")), retriable=retriable)


def iso_seconds(moment: datetime | float) -> str:
    """The timestamp format of EventBridge events ("2021-11-12T00:00:00Z")."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(float(moment), UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    """The timestamp format of SNS notifications ("2019-01-02T12:45:07.000Z")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_arn(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise DeliveryFailure("INVALID_PARAMETER", f"{arn!r} is not an ARN", retriable=False)
    return parts[2], parts[3], parts[4], parts[5]


def target_kind(arn: str) -> str:
    """The service a target's ARN names (lambda, states, sqs, sns, ...), or "invalid" when it is no ARN."""
    parts = arn.split(":")
    return parts[2] if len(parts) >= 6 else "invalid"


class DeliveryWorker:
    """One thread that runs delivery jobs in due-time order on the sandbox clock."""

    def __init__(self, clock: SandboxClock, name: str = "sandbox-delivery") -> None:
        self.clock = clock
        self.name = name
        self.errors: list[tuple[str, BaseException]] = []
        self._heap: list[tuple[float, int, str, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._running = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, label: str, job: Callable[[], None], delay: float = 0.0) -> bool:
        """Queue `job` to run `delay` virtual seconds from now; False once the worker is closed."""
        with self._condition:
            if self._closed:
                log.debug("delivery worker closed; dropping %s", label)
                return False
            due = self.clock.time() + max(0.0, delay)
            heapq.heappush(self._heap, (due, next(self._sequence), label, job))
            if self._thread is None:
                # Started on first use, so an emulator that never delivers anything owns no thread.
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._condition.notify_all()
        return True

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._heap) + self._running

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait (real seconds) until every queued job, delayed retries included, has run."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        with self._condition:
            self._closed = True
            self._heap.clear()
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._closed:
                        return
                    if not self._heap:
                        self._condition.wait()
                        continue
                    wait = self._heap[0][0] - self.clock.time()
                    if wait <= 0:
                        _, _, label, job = heapq.heappop(self._heap)
                        self._running += 1
                        break
                    self._condition.wait(self.clock.real_seconds(wait))
            try:
                job()
            except Exception as exc:  # one broken delivery must not stop the others; it is recorded
                log.exception("sandbox delivery %s failed", label)
                self.errors.append((label, exc))
            finally:
                with self._condition:
                    self._running -= 1
                    self._condition.notify_all()


class AsyncDelivery:
    """The worker and the target calls the emulated services share; one per installed Emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.worker = DeliveryWorker(emulator.clock)
        self.lambda_invocations: list[Delivery] = []
        self._closed = False

    # targets ------------------------------------------------------------------------------------------------
    def start_execution(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        from moto.stepfunctions.responses import get_backend

        _, region, account, _ = parse_arn(state_machine_arn)
        try:
            json.loads(execution_input)
        except ValueError as exc:
            raise DeliveryFailure("INVALID_JSON", f"input is not JSON: {exc}", retriable=False) from exc
        try:
            execution = get_backend(account, region).start_execution(
                state_machine_arn, name=name, execution_input=execution_input
            )
        except Exception as exc:
            raise failure_from(exc) from exc
        return str(execution.execution_arn)

    def send_sqs(
        self, queue_arn: str, body: str, attributes: dict[str, str | int] | None = None, group_id: str | None = None
    ) -> None:
        from moto.sqs.models import sqs_backends

        _, region, account, queue_name = parse_arn(queue_arn)
        message_attributes = {
            name: {"DataType": "Number" if isinstance(value, int) else "String", "StringValue": str(value)}
            for name, value in (attributes or {}).items()
        }
        try:
            backend = sqs_backends[account][region]
            queue = backend.get_queue(queue_name)
            if queue.fifo_queue:
                if not group_id:
                    raise DeliveryFailure("INVALID_PARAMETER", "a FIFO queue needs a MessageGroupId", retriable=False)
                if queue.attributes.get("ContentBasedDeduplication") != "true":
                    raise DeliveryFailure(
                        "INVALID_PARAMETER",
                        "a FIFO queue target needs content-based deduplication enabled",
                        retriable=False,
                    )
            backend.send_message(queue_name, body, message_attributes=message_attributes or None, group_id=group_id)
        except DeliveryFailure:
            raise
        except Exception as exc:
            raise failure_from(exc) from exc

    def publish_sns(
        self,
        topic_arn: str,
        message: str,
        subject: str | None = None,
        attributes: dict[str, dict[str, str]] | None = None,
    ) -> str:
        from moto.sns.models import sns_backends

        _, region, account, _ = parse_arn(topic_arn)
        try:
            return str(
                sns_backends[account][region].publish(
                    message, arn=topic_arn, subject=subject, message_attributes=attributes or {}
                )
            )
        except Exception as exc:
            raise failure_from(exc) from exc

    def lambda_function(self, function_arn: str) -> Any:
        """moto's function for an ARN or name; NO_RESOURCE when it does not exist."""
        from moto.awslambda.utils import get_backend

        region, account = self.emulator.region, self.emulator.account_id
        if function_arn.startswith("arn:"):
            _, region, account, _ = parse_arn(function_arn)
        try:
            return get_backend(account, region).get_function(function_arn)
        except Exception as exc:
            raise failure_from(exc) from exc

    # Lambda asynchronous invocation -------------------------------------------------------------------------
    def invoke_lambda_async(self, function_arn: str, event: Any, delivery: Delivery) -> None:
        """Lambda's `InvocationType=Event`: accept now (NO_RESOURCE if the function is missing), run later.

        `delivery` records the attempts and ends DELIVERED when the handler succeeded, DEAD_LETTERED when the
        event went to the function's dead-letter queue or on-failure destination, DROPPED otherwise.
        """
        function = self.lambda_function(function_arn)
        config: dict[str, Any] = function.event_invoke_config[0].config if function.event_invoke_config else {}
        retries = int(config.get("MaximumRetryAttempts", LAMBDA_DEFAULT_RETRIES))
        max_age = float(config.get("MaximumEventAgeInSeconds", LAMBDA_DEFAULT_MAX_AGE))
        accepted = self.clock.time()
        self.lambda_invocations.append(delivery)

        def attempt() -> None:
            try:
                invocation = self._run_handler(function.function_name, event)
            except Exception as exc:  # the sandbox could not run the handler at all: nothing to retry
                log.exception("Lambda %s: asynchronous invocation broke", function.function_name)
                delivery.error_code, delivery.error_message = "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"
                self.finish(delivery, DROPPED)
                return
            delivery.attempts += 1
            delivery.request_ids.append(invocation["request_id"])
            if invocation["error_type"] is None:
                self.finish(delivery, DELIVERED)
                self._lambda_destination(function, config, event, delivery, invocation, success=True)
                return
            delivery.error_code = str(invocation["error_type"])
            delivery.error_message = str(invocation["error_message"])
            retry_number = delivery.attempts - 1
            if retry_number < retries:
                delay = LAMBDA_RETRY_DELAYS[min(retry_number, len(LAMBDA_RETRY_DELAYS) - 1)]
                if self.clock.time() + delay - accepted <= max_age:
                    self.worker.submit(f"lambda {function.function_name} retry", attempt, delay)
                    return
            self._lambda_failed(function, config, event, delivery, invocation)

        self.worker.submit(f"lambda {function.function_name}", attempt)

    def _run_handler(self, function_name: str, event: Any) -> dict[str, Any]:
        runtime = self.emulator.services.get("lambda_runtime")
        if runtime is None:
            raise RuntimeError("the sandbox's lambda_runtime is not installed; Lambda targets cannot run")
        try:
            invocation = runtime.invoke(function_name, event)
        except LookupError as exc:  # FunctionNotRegistered: moto has the function, the sandbox has no code
            log.error("%s", exc)
            return {"request_id": str(uuid.uuid4()), "error_type": type(exc).__name__, "error_message": str(exc)}
        return {
            "request_id": invocation.request_id,
            "error_type": invocation.error_type,
            "error_message": invocation.error_message,
            "payload": invocation.payload,
        }

    def _lambda_failed(
        self, function: Any, config: dict[str, Any], event: Any, delivery: Delivery, invocation: dict[str, Any]
    ) -> None:
        dead_letter = (getattr(function, "sandbox_dead_letter_config", None) or {}).get("TargetArn")
        sent = False
        if dead_letter:
            attributes: dict[str, str | int] = {
                "RequestID": invocation["request_id"],
                "ErrorCode": 200,
                "ErrorMessage": str(invocation["error_message"])[:1024],
            }
            try:
                self._to_queue_or_topic(dead_letter, json.dumps(event), attributes)
                delivery.dead_letter_arn = dead_letter
                sent = True
            except DeliveryFailure as exc:
                log.error(
                    "Lambda %s: dead-letter queue %s refused the event: %s", function.function_name, dead_letter, exc
                )
        if self._lambda_destination(function, config, event, delivery, invocation, success=False):
            sent = True
        self.finish(delivery, DEAD_LETTERED if sent else DROPPED)

    def _lambda_destination(
        self,
        function: Any,
        config: dict[str, Any],
        event: Any,
        delivery: Delivery,
        invocation: dict[str, Any],
        *,
        success: bool,
    ) -> bool:
        """Lambda destinations (OnSuccess / OnFailure) on SQS or SNS, with Lambda's invocation record."""
        key = "OnSuccess" if success else "OnFailure"
        destination = (config.get("DestinationConfig") or {}).get(key, {}).get("Destination")
        if not destination:
            return False
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if success:
            response_payload = invocation.get("payload")
        else:
            response_context["functionError"] = "Unhandled"
            response_payload = {"errorMessage": invocation["error_message"], "errorType": invocation["error_type"]}
        record = {
            "version": "1.0",
            "timestamp": iso_millis(self.clock.now()),
            "requestContext": {
                "requestId": invocation["request_id"],
                "functionArn": f"{function.function_arn}:$LATEST",
                "condition": "Success" if success else "RetriesExhausted",
                "approximateInvokeCount": delivery.attempts,
            },
            "requestPayload": event,
            "responseContext": response_context,
            "responsePayload": response_payload,
        }
        try:
            self._to_queue_or_topic(destination, json.dumps(record), {})
        except DeliveryFailure as exc:
            log.error("Lambda %s: destination %s refused the record: %s", function.function_name, destination, exc)
            return False
        if not success:
            delivery.dead_letter_arn = delivery.dead_letter_arn or destination
        return True

    def _to_queue_or_topic(self, arn: str, body: str, attributes: dict[str, str | int]) -> None:
        service = parse_arn(arn)[0]
        if service == "sqs":
            self.send_sqs(arn, body, attributes)
        elif service == "sns":
            sns_attributes = {
                name: {"Type": "Number" if isinstance(value, int) else "String", "Value": str(value)}
                for name, value in attributes.items()
            }
            self.publish_sns(arn, body, attributes=sns_attributes)
        else:
            raise DeliveryFailure(
                "INVALID_PARAMETER", f"{arn} is neither an SQS queue nor an SNS topic", retriable=False
            )

    # records ------------------------------------------------------------------------------------------------
    def finish(self, delivery: Delivery, outcome: str) -> None:
        delivery.outcome = outcome
        delivery.finished_at = self.clock.now()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.worker.close()
        _SHARED.pop(self.emulator, None)


_SHARED: weakref.WeakKeyDictionary[Any, AsyncDelivery] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared(emulator: Emulator, patcher: Patcher) -> AsyncDelivery:
    """The emulator's one AsyncDelivery, created (and Lambda's DeadLetterConfig patched in) on first use."""
    with _SHARED_LOCK:
        existing = _SHARED.get(emulator)
        if existing is not None:
            return existing
        _patch_lambda_dead_letter_config(patcher)
        delivery = AsyncDelivery(emulator)
        _SHARED[emulator] = delivery
        return delivery


def _patch_lambda_dead_letter_config(patcher: Patcher) -> None:
    """moto accepts a function's DeadLetterConfig and forgets it; asynchronous invocation needs it."""
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_configuration = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: Any, account_id: str, spec: dict[str, Any], region: str, version: str | int = 1) -> None:
        original_init(self, account_id, spec, region, version)
        self.sandbox_dead_letter_config = spec.get("DeadLetterConfig") or None

    def get_configuration(self: Any, on_create: bool = False) -> dict[str, Any]:
        configuration: dict[str, Any] = original_configuration(self, on_create)
        dead_letter = getattr(self, "sandbox_dead_letter_config", None)
        if dead_letter and dead_letter.get("TargetArn"):
            configuration["DeadLetterConfig"] = dead_letter
        return configuration

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self.sandbox_dead_letter_config = config_updates["DeadLetterConfig"] or None
        return dict(original_update(self, config_updates))

    patcher.replace(LambdaFunction, "__init__", init)
    patcher.replace(LambdaFunction, "get_configuration", get_configuration)
    patcher.replace(LambdaFunction, "update_configuration", update_configuration)


@dataclass(kw_only=True)
class TargetJob:
    """One event a rule matched, or one invocation of a schedule, on its way to one target, with its retries."""

    source_arn: str  # the rule's or the schedule's
    source_name: str
    target: dict[str, Any]
    delivery: Delivery
    label: str  # the worker's name for the job
    age_from: float | None = None  # when MaximumEventAgeInSeconds starts counting; None: at the first attempt
    calls: int = 0
    execution_name: str | None = None


class TargetDispatcher[JobT: TargetJob](ABC):
    """How EventBridge rules and EventBridge Scheduler call their targets (Step Functions, Lambda, SNS, SQS).

    Each attempt is a call by target type; a retriable failure is retried per the target's RetryPolicy with
    exponential backoff and jitter on sandbox time, a failure that retrying cannot mend (a missing target,
    invalid input, no permission) is not; then the target's DeadLetterConfig queue gets the event, or it is
    dropped. What differs between the services is what subclasses say: the payload and armed faults
    (`prepare`), Step Functions execution names, how IAM authorizes the target and the dead-letter queue, and
    the dead-letter message with the service's attributes.
    """

    source_kind = "target"  # "rule" or "schedule", in logs
    principal = ""  # the service principal that assumes a target's role

    def __init__(self, emulator: Emulator, delivery: AsyncDelivery) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.delivery = delivery
        self.rng = random.Random()

    # what differs between the services ----------------------------------------------------------------------
    @abstractmethod
    def prepare(self, job: JobT) -> str:
        """The payload of this attempt; raises the DeliveryFailure of an armed fault."""

    @abstractmethod
    def new_execution_name(self, job: JobT) -> str:
        """The name of the Step Functions execution, kept across the job's retries (StartExecution is idempotent)."""

    @abstractmethod
    def authorize_dead_letter(self, iam: Iam, job: JobT, queue_arn: str) -> None:
        """Raise AccessDenied unless the service may send to the dead-letter queue."""

    @abstractmethod
    def dead_letter_message(
        self, job: JobT, failure: DeliveryFailure, exhausted: str | None
    ) -> tuple[str, dict[str, str | int]]:
        """The body and the message attributes sent to the dead-letter queue."""

    def authorize_target(self, iam: Iam, job: JobT, action: str) -> None:
        """The service calls the target with the target's role, assumed as `principal`."""
        from mlrollout_sandbox.emulator.iam import Check

        role = str(job.target.get("RoleArn") or "")
        iam.session(role, self.principal, source_arn=job.source_arn)
        iam.authorize_role(role, [Check(action, job.delivery.target)])

    # the one definition of what they share ------------------------------------------------------------------
    def submit(self, job: JobT, delay: float = 0.0, *, retry: bool = False) -> None:
        self.delivery.worker.submit(f"{job.label} retry" if retry else job.label, lambda: self.attempt(job), delay)

    def attempt(self, job: JobT) -> None:
        delivery = job.delivery
        if job.age_from is None:
            job.age_from = self.clock.time()
        job.calls += 1
        # Lambda's asynchronous invocation counts the handler's attempts itself; this counts the other calls.
        if delivery.protocol != "lambda":
            delivery.attempts += 1
        try:
            payload = self.prepare(job)
            self._authorize(job)
            if self.call(job, payload):
                self.delivery.finish(delivery, DELIVERED)
        except DeliveryFailure as failure:
            if delivery.protocol == "lambda":
                delivery.attempts += 1
            self.failed(job, failure)
        except Exception as exc:  # a sandbox bug, not a target failure: record it, do not retry it for a day
            log.exception("%s %s: delivery to %s broke", self.source_kind, job.source_arn, delivery.target)
            delivery.error_code, delivery.error_message = "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"
            self.delivery.finish(delivery, DROPPED)

    def call(self, job: JobT, payload: str) -> bool:
        """Call the target: True once delivered, False when Lambda's asynchronous invocation took the event
        over (it finishes the delivery itself)."""
        delivery = job.delivery
        arn, kind = delivery.target, delivery.protocol
        if kind == "states":
            if job.execution_name is None:
                job.execution_name = self.new_execution_name(job)
            delivery.execution_arn = self.delivery.start_execution(arn, job.execution_name, payload)
        elif kind == "lambda":
            try:
                event: Any = json.loads(payload)
            except ValueError:
                event = payload
            self.delivery.invoke_lambda_async(arn, event, delivery)
            return False
        elif kind == "sns":
            self.delivery.publish_sns(arn, payload)
        elif kind == "sqs":
            group_id = (job.target.get("SqsParameters") or {}).get("MessageGroupId")
            self.delivery.send_sqs(arn, payload, group_id=group_id)
        else:
            raise DeliveryFailure("INVALID_PARAMETER", f"the sandbox cannot invoke {arn}", retriable=False)
        return True

    def failed(self, job: JobT, failure: DeliveryFailure) -> None:
        """Retry per the target's RetryPolicy while it allows, then the dead-letter queue, else drop."""
        delivery = job.delivery
        delivery.error_code = failure.code
        delivery.error_message = failure.message
        exhausted: str | None = None
        if failure.retriable:
            policy = job.target.get("RetryPolicy") or {}
            retries_done = job.calls - 1
            if retries_done >= int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)):
                exhausted = "MaximumRetryAttempts"
            else:
                delay = min(MAX_BACKOFF, 2.0**retries_done) * self.rng.uniform(0.5, 1.0)
                max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
                if self.clock.time() + delay - (job.age_from or 0.0) > max_age:
                    exhausted = "MaximumEventAgeInSeconds"
                else:
                    self.submit(job, delay, retry=True)
                    return
        dead_letter = (job.target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter and self._dead_letter_allowed(job, str(dead_letter)):
            body, attributes = self.dead_letter_message(job, failure, exhausted)
            try:
                self.delivery.send_sqs(dead_letter, body, attributes)
                delivery.dead_letter_arn = dead_letter
                self.delivery.finish(delivery, DEAD_LETTERED)
                return
            except DeliveryFailure as exc:
                log.error(
                    "%s %s: dead-letter queue %s refused the event: %s",
                    self.source_kind,
                    job.source_arn,
                    dead_letter,
                    exc,
                )
        log.warning("%s %s: delivery to %s dropped: %s", self.source_kind, job.source_arn, delivery.target, failure)
        self.delivery.finish(delivery, DROPPED)

    def _authorize(self, job: JobT) -> None:
        """IAM decides each call as on AWS; a refusal is NO_PERMISSIONS, which neither service retries."""
        from mlrollout_sandbox.emulator.iam import AccessDenied

        iam = self.emulator.services.get("iam")
        if iam is None:
            return
        try:
            self.authorize_target(iam, job, TARGET_ACTIONS.get(job.delivery.protocol, "sqs:SendMessage"))
        except AccessDenied as denied:
            raise DeliveryFailure("NO_PERMISSIONS", str(denied), retriable=False) from denied

    def _dead_letter_allowed(self, job: JobT, queue_arn: str) -> bool:
        """A dead-letter queue that refuses the service loses the event; the refusal is kept in the context."""
        from mlrollout_sandbox.emulator.iam import AccessDenied

        iam = self.emulator.services.get("iam")
        if iam is None:
            return True
        try:
            self.authorize_dead_letter(iam, job, queue_arn)
        except AccessDenied as denied:
            log.error(
                "%s %s: dead-letter queue %s refused the event: %s", self.source_kind, job.source_arn, queue_arn, denied
            )
            job.delivery.context["dead_letter_error"] = str(denied)
            return False
        return True

    # lifecycle ----------------------------------------------------------------------------------------------
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait (real seconds) until every queued delivery, retries included, is done."""
        return self.delivery.worker.drain(timeout)

    def close(self) -> None:
        self.delivery.close()


def render_input(template: str, values: dict[str, Any]) -> str:
    """Substitute `<name>` placeholders the way EventBridge input transformers do.

    In a JSON template a value inside a string literal is inserted as escaped text and a value elsewhere as
    JSON (a missing one as null); a template that is not JSON gets plain text.
    """
    stripped = template.strip()
    json_mode = stripped[:1] in ("{", "[", '"')
    pieces: list[str] = []
    in_string = False
    index = 0
    while index < len(template):
        char = template[index]
        if char == "\\" and in_string:
            pieces.append(template[index : index + 2])
            index += 2
            continue
        if char == '"':
            in_string = not in_string
        if char == "<":
            end = template.find(">", index + 1)
            name = template[index + 1 : end] if end > index else ""
            if name and name in values and all(c.isalnum() or c in "._-" for c in name):
                value = values[name]
                if not json_mode:
                    pieces.append(value if isinstance(value, str) else json.dumps(value))
                elif in_string:
                    text = value if isinstance(value, str) else json.dumps(value)
                    pieces.append(json.dumps(text)[1:-1])
                else:
                    pieces.append(json.dumps(value))
                index = end + 1
                continue
        pieces.append(char)
        index += 1
    return "".join(pieces)


def json_path(path: str, document: Any) -> Any:
    """The first value a JSONPath selects in `document`, or None (EventBridge's InputPath / InputPathsMap)."""
    from jsonpath_ng.ext.parser import parse

    with contextlib.suppress(Exception):
        matches = parse(path).find(document)
        if matches:
            return matches[0].value
    return None
