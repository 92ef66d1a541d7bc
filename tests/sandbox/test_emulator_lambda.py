"""The sandbox's Lambda runtime, seen through boto3 and Step Functions: function errors, crashes, SDK retries."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.lambda_runtime import LambdaRuntime, LocalFunction
from mlrollout_sandbox.server import CREDENTIALS, EmbeddedAws

pytestmark = pytest.mark.sandbox

# Writes a marker file (a side effect a crash after the handler cannot undo), then answers.
SOURCE = """
import json, os, pathlib

def lambda_handler(event, context):
    if event.get("fail"):
        raise ValueError("the input has no model")
    pathlib.Path(os.environ["MARKER"]).write_text(json.dumps(event))
    return {"ok": True}
"""
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=600)) as embedded:
        yield embedded


@pytest.fixture
def runtime(aws: EmbeddedAws) -> Iterator[LambdaRuntime]:
    yield aws.emulator.services["lambda_runtime"]
    aws.emulator.faults.clear()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "ran.json"


def deploy(aws: EmbeddedAws, runtime: LambdaRuntime, code_dir: Path, name: str, source: str, **config: Any) -> str:
    """A function in moto (for Invoke) whose code the sandbox's runtime runs from `code_dir`."""
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(source)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", source)
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=_role(aws, name, "lambda.amazonaws.com", []),
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )
    runtime.register(LocalFunction(name=name, code_dir=code_dir, handler="app.lambda_handler", **config))
    return name


@pytest.fixture
def function(aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path, marker: Path) -> str:
    name = f"fn-{tmp_path.name[-20:]}".replace("_", "-")
    return deploy(aws, runtime, tmp_path / "code", name, SOURCE, environment={"MARKER": str(marker)})


def _role(aws: EmbeddedAws, name: str, service: str, actions: list[str]) -> str:
    """A role `service` may assume, allowed `actions` on any resource (IAM is enforced in the sandbox)."""
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if actions:
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        iam.put_role_policy(RoleName=name, PolicyName="test", PolicyDocument=json.dumps(policy))
    return str(arn)


def invoke(aws: EmbeddedAws, name: str, event: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert response["StatusCode"] == 200  # a function error is still a successful Invoke
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def test_a_crash_before_the_handler_runs_answers_as_lambda_does(
    aws: EmbeddedAws, runtime: LambdaRuntime, function: str, marker: Path
) -> None:
    invoke(aws, function, {"n": 1})  # warm
    aws.emulator.faults.arm("lambda:Invoke", "crash", function=function)

    error, payload = invoke(aws, function, {"n": 2})

    crashed = runtime.invocations[-1]
    assert error == "Unhandled"
    assert payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {crashed.request_id} Error: Runtime exited with error: exit status 1",
    }
    assert json.loads(marker.read_text()) == {"n": 1}  # the handler never ran
    assert crashed.logs.splitlines()[-1] == "Runtime.ExitError"
    assert invoke(aws, function, {"n": 3}) == (None, {"ok": True})  # the fault fired once
    assert runtime.invocations[-1].cold  # a new runtime process


def test_a_crash_after_the_handler_ran_keeps_its_side_effects_and_loses_its_result(
    aws: EmbeddedAws, function: str, marker: Path
) -> None:
    aws.emulator.faults.arm("lambda:Invoke", "crash", function=function, params={"at": "end", "exit": "signal: killed"})
    error, payload = invoke(aws, function, {"n": 4})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert json.loads(marker.read_text()) == {"n": 4}


def test_a_crash_armed_for_another_function_leaves_this_one_alone(aws: EmbeddedAws, function: str) -> None:
    aws.emulator.faults.arm("lambda:Invoke", "crash", function=f"{function}-other")
    assert invoke(aws, function, {"n": 5}) == (None, {"ok": True})


def test_a_handler_exception_is_an_unhandled_function_error_with_its_class_name(
    aws: EmbeddedAws, function: str
) -> None:
    error, payload = invoke(aws, function, {"fail": True})
    assert error == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "the input has no model")


def test_step_functions_catches_a_crash_its_lambda_retry_does_not_replay(aws: EmbeddedAws, function: str) -> None:
    arn = aws.client("lambda").get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": arn, "Payload": {"n": 6}},
                "Retry": [{"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 3}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught", "Output": "{% $states.errorOutput %}"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    sfn = aws.client("stepfunctions")
    role = _role(aws, f"{function}-sfn", "states.amazonaws.com", ["lambda:InvokeFunction"])
    machine = sfn.create_state_machine(name=function, definition=json.dumps(definition), roleArn=role)
    aws.emulator.faults.arm("lambda:Invoke", "crash", function=function)

    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    deadline = time.monotonic() + 20
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["Error"] == "Runtime.ExitError"
    assert "Runtime exited with error" in json.loads(output["Cause"])["errorMessage"]
    history = sfn.get_execution_history(executionArn=execution)["events"]
    assert [e["type"] for e in history].count("TaskFailed") == 1  # not retried


def test_sdk_retry_backoff_runs_on_sandbox_time(aws: EmbeddedAws) -> None:
    """botocore's backoff between attempts (up to 1, 2, 4 s with full jitter) takes sandbox seconds."""
    aws.emulator.faults.arm("sagemaker.api", "throttle", action="ListEndpoints", times=4)
    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=aws.url,
        region_name=aws.region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}),
        **CREDENTIALS,  # type: ignore[call-overload]
    )
    began_real, began_virtual = time.monotonic(), aws.clock.time()
    response = sagemaker.list_endpoints()
    real, virtual = time.monotonic() - began_real, aws.clock.time() - began_virtual
    assert response["ResponseMetadata"]["RetryAttempts"] == 4
    assert real < 1.0  # at warp 600, the at most 15 s of backoff is at most 25 ms
    assert virtual < 15 + real * aws.clock.warp


def _token_machine(aws: EmbeddedAws, function: str, timeout: int) -> str:
    """A Task that hands the function a task token and waits for it, up to `timeout` sandbox seconds."""
    sfn = aws.client("stepfunctions")
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Arguments": {"FunctionName": function, "Payload": {"token": "{% $states.context.Task.Token %}"}},
                "TimeoutSeconds": timeout,
                "End": True,
            }
        },
    }
    role = _role(aws, f"{function}-sfn", "states.amazonaws.com", ["lambda:InvokeFunction"])
    machine = sfn.create_state_machine(name=function, definition=json.dumps(definition), roleArn=role)
    return str(sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"])


def _ended(aws: EmbeddedAws, execution: str) -> dict[str, Any]:
    sfn, deadline = aws.client("stepfunctions"), time.monotonic() + 15
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution is still running"
        time.sleep(0.02)
    return dict(described)


def test_a_task_token_nobody_returns_times_out_on_sandbox_time(aws: EmbeddedAws, function: str) -> None:
    began = time.monotonic()
    described = _ended(aws, _token_machine(aws, function, timeout=1800))  # 3 s real at warp 600
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
    assert (described["stopDate"] - described["startDate"]).total_seconds() >= 1800 - 1
    assert time.monotonic() - began < 12


def test_a_task_token_sent_back_completes_the_task(aws: EmbeddedAws, function: str, marker: Path) -> None:
    execution = _token_machine(aws, function, timeout=3600)
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text().endswith("}")):  # written whole by the handler
        assert time.monotonic() < deadline, "the function never received its token"
        time.sleep(0.02)
    token = json.loads(marker.read_text())["token"]
    aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    described = _ended(aws, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"approved": True})


def test_a_task_token_failed_with_a_cause_fails_the_task_with_both(
    aws: EmbeddedAws, function: str, marker: Path
) -> None:
    execution = _token_machine(aws, function, timeout=3600)
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text().endswith("}")):
        assert time.monotonic() < deadline, "the function never received its token"
        time.sleep(0.02)
    aws.client("stepfunctions").send_task_failure(
        taskToken=json.loads(marker.read_text())["token"], error="ApprovalRejected", cause="rejected by alice: no"
    )
    described = _ended(aws, execution)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "ApprovalRejected",
        "rejected by alice: no",
    )


# Reports what its execution environment holds: process, variables, module state, settings, clock, deadline.
STATEFUL = """
import json, os, time
from datetime import UTC, datetime

from mlrollout.settings import get_settings

SEEN = []  # a module-level cache: lives as long as the execution environment

def lambda_handler(event, context):
    # State in a module every function imports: one process per function keeps it apart.
    json.sandbox_invocations = getattr(json, "sandbox_invocations", 0) + 1
    SEEN.append(event.get("n"))
    if event.get("busy"):  # the handler's own work, at wall-clock speed
        end = time.monotonic() + event["busy"]
        while time.monotonic() < end:
            pass
    if event.get("sleep"):  # a wait on the sandbox clock
        time.sleep(event["sleep"])
    names = ("STACK_NAME", "AWS_LAMBDA_FUNCTION_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
             "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION", "HOME")
    return {
        "pid": os.getpid(),
        "seen": SEEN,
        "invocations_in_process": json.sandbox_invocations,
        "stack_name": get_settings().stack_name,
        "env": {name: os.environ.get(name) for name in names},
        "now": datetime.now(UTC).isoformat(),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


def stateful(aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path, label: str, **config: Any) -> str:
    name = f"st-{label}-{tmp_path.name[-12:]}".replace("_", "-")
    return deploy(aws, runtime, tmp_path / label, name, STATEFUL, **config)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_each_function_has_its_own_environment_variables_credentials_and_module_state(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "ASIAROLEA", "AWS_SECRET_ACCESS_KEY": "secret-a", "AWS_SESSION_TOKEN": "token-a"}
    a = stateful(aws, runtime, tmp_path, "a", environment={"STACK_NAME": "stack-a"}, credentials=keys)
    b = stateful(aws, runtime, tmp_path, "b", environment={"STACK_NAME": "stack-b"})

    first_a, first_b = invoke(aws, a, {"n": 1})[1], invoke(aws, b, {"n": 2})[1]
    second_a, second_b = invoke(aws, a, {"n": 3})[1], invoke(aws, b, {"n": 4})[1]

    assert first_a["pid"] != first_b["pid"] != os.getpid()
    assert (second_a["stack_name"], second_b["stack_name"]) == ("stack-a", "stack-b")  # settings parsed per function
    assert (second_a["seen"], second_b["seen"]) == ([1, 3], [2, 4])
    assert (second_a["invocations_in_process"], second_b["invocations_in_process"]) == (2, 2)
    assert second_a["env"] == {
        "STACK_NAME": "stack-a",
        "AWS_LAMBDA_FUNCTION_NAME": a,
        **keys,
        "AWS_ENDPOINT_URL": aws.url,
        "AWS_REGION": aws.region,
        "HOME": None,  # nothing of the sandbox's own environment
    }
    assert second_b["env"]["AWS_ACCESS_KEY_ID"] == CREDENTIALS["aws_access_key_id"]  # no role keys: the default
    assert second_b["env"]["AWS_SESSION_TOKEN"] is None


# The project's layer: the zygote imports its modules once, except those reading the environment as they load.
LAYER = Path(__file__).resolve().parents[2] / "layers" / "core"
OBSERVED = """
from mlrollout.observability import logger  # Powertools' Logger reads POWERTOOLS_SERVICE_NAME when created
from mlrollout.settings import get_settings

def lambda_handler(event, context):
    return {"service": logger.service, "stack_name": get_settings().stack_name}
"""


def test_layer_modules_that_read_the_environment_when_imported_see_their_functions(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    runtime = LambdaRuntime(aws.emulator)  # a runtime of its own, so that its zygote preloads the layer
    try:
        for label in ("a", "b"):
            (tmp_path / label).mkdir()
            (tmp_path / label / "app.py").write_text(OBSERVED)
            environment = {"POWERTOOLS_SERVICE_NAME": f"service-{label}", "STACK_NAME": f"stack-{label}"}
            runtime.register(
                LocalFunction(
                    name=f"observed-{label}",
                    code_dir=tmp_path / label,
                    handler="app.lambda_handler",
                    layer_dirs=[LAYER],
                    environment=environment,
                )
            )
        answers = {label: runtime.invoke(f"observed-{label}", {}).payload for label in ("a", "b")}
    finally:
        runtime.close()
    assert answers == {
        "a": {"service": "service-a", "stack_name": "stack-a"},
        "b": {"service": "service-b", "stack_name": "stack-b"},
    }


def test_a_warm_environment_keeps_its_module_cache_and_process(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    name = stateful(aws, runtime, tmp_path, "warm")
    first, second = invoke(aws, name, {"n": 1})[1], invoke(aws, name, {"n": 2})[1]
    assert second["pid"] == first["pid"]
    assert second["seen"] == [1, 2]
    assert [i.cold for i in runtime.invocations if i.function_name == name] == [True, False]


def test_a_new_configuration_is_served_by_new_environments(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    name = stateful(aws, runtime, tmp_path, "conf", environment={"STACK_NAME": "before"})
    old = invoke(aws, name, {"n": 1})[1]
    runtime.register(
        LocalFunction(
            name=name, code_dir=tmp_path / "conf", handler="app.lambda_handler", environment={"STACK_NAME": "after"}
        )
    )
    new = invoke(aws, name, {"n": 2})[1]
    assert (new["stack_name"], new["seen"]) == ("after", [2])
    assert new["pid"] != old["pid"]


def test_an_invocation_never_changes_the_sandbox_process_environment(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    before = dict(os.environ)
    name = stateful(aws, runtime, tmp_path, "env", environment={"STACK_NAME": "elsewhere", "EXTRA": "x"})
    with ThreadPoolExecutor(2) as pool:
        during = pool.submit(invoke, aws, name, {"n": 1, "busy": 0.3})
        time.sleep(0.15)
        assert dict(os.environ) == before  # while the handler runs
        assert during.result()[1]["env"]["STACK_NAME"] == "elsewhere"
    assert dict(os.environ) == before


def test_a_crash_starts_the_next_invocation_cold_in_a_new_process(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    name = stateful(aws, runtime, tmp_path, "crash")
    warm = invoke(aws, name, {"n": 1})[1]
    aws.emulator.faults.arm("lambda:Invoke", "crash", function=name, params={"at": "end"})
    assert invoke(aws, name, {"n": 2})[1]["errorType"] == "Runtime.ExitError"

    after = invoke(aws, name, {"n": 3})[1]

    assert after["pid"] != warm["pid"]
    assert after["seen"] == [3]  # the module state went with the process
    assert runtime.invocations[-1].cold
    deadline = time.monotonic() + 5
    while alive(warm["pid"]):
        assert time.monotonic() < deadline, "the crashed environment's process is still running"
        time.sleep(0.02)


def test_an_invocation_past_its_timeout_fails_as_lambda_does_and_its_environment_is_replaced(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    name = stateful(aws, runtime, tmp_path, "slow", timeout_seconds=1)
    warm = invoke(aws, name, {"n": 1})[1]
    assert 0 < warm["remaining_ms"] <= 1000

    began = time.monotonic()
    error, payload = invoke(aws, name, {"n": 2, "busy": 30})

    assert time.monotonic() - began < 10  # the handler's work counts at wall-clock speed: 1 s, not 30
    timed_out = runtime.invocations[-1]
    assert error == "Unhandled"
    assert payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {timed_out.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert timed_out.logs.splitlines()[-1].endswith(f"{timed_out.request_id} Task timed out after 1.00 seconds")
    log_events = aws.client("logs").get_log_events(
        logGroupName=f"/aws/lambda/{name}", logStreamName=f"sandbox/{timed_out.request_id[:8]}"
    )["events"]
    assert log_events[-1]["message"].startswith(f"REPORT RequestId: {timed_out.request_id} Duration: 1000.00 ms")
    replaced = invoke(aws, name, {"n": 3})[1]
    assert replaced["pid"] != warm["pid"]
    assert runtime.invocations[-1].cold


def test_a_wait_on_the_sandbox_clock_counts_its_sandbox_length_toward_the_timeout(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    """At warp 600, a 120-second sleep passes in 0.2 s of real time and still outlasts a 60-second Timeout."""
    name = stateful(aws, runtime, tmp_path, "sleepy", timeout_seconds=60)
    assert invoke(aws, name, {"n": 1, "sleep": 30})[0] is None  # half the Timeout: fine
    began = time.monotonic()
    error, payload = invoke(aws, name, {"n": 2, "sleep": 120})
    assert (error, payload["errorType"]) == ("Unhandled", "Sandbox.Timedout")
    assert time.monotonic() - began < 5


def test_the_handler_reads_sandbox_time(aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path) -> None:
    name = stateful(aws, runtime, tmp_path, "clock")
    invoke(aws, name, {"n": 0})  # warm: the next call measures the invocation, not the cold start
    aws.clock.throttle(0.5)  # a change of speed reaches the worker through shared memory
    try:
        before = aws.clock.now()
        seen = datetime.fromisoformat(invoke(aws, name, {"n": 1})[1]["now"])
        after = aws.clock.now()
    finally:
        aws.clock.throttle(1.0)
    assert before <= seen <= after


def test_functions_run_in_parallel_and_one_function_scales_out(
    aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path
) -> None:
    a = stateful(aws, runtime, tmp_path, "pa")
    b = stateful(aws, runtime, tmp_path, "pb")
    for name in (a, b):
        invoke(aws, name, {"n": 0})  # warm
    with ThreadPoolExecutor(3) as pool:
        began = time.monotonic()
        answers = list(pool.map(lambda name: invoke(aws, name, {"n": 1, "busy": 0.5})[1], [a, b, a]))
        took = time.monotonic() - began
    assert took < 1.4  # three half-second invocations, not one after another
    assert len({answer["pid"] for answer in answers}) == 3  # the second concurrent call of `a` got its own


# A sandbox in a process of its own (one emulator per process): two invocations at once, then its end.
LIFETIME = """
import json, os, pathlib, signal, sys
from concurrent.futures import ThreadPoolExecutor

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.lambda_runtime import LocalFunction
from mlrollout_sandbox.server import EmbeddedAws

with EmbeddedAws(SandboxClock(warp=600)) as aws:
    runtime = aws.emulator.services["lambda_runtime"]
    runtime.register(LocalFunction(name="bye", code_dir=pathlib.Path(sys.argv[1]), handler="app.lambda_handler"))
    with ThreadPoolExecutor(2) as pool:
        answered = list(pool.map(lambda n: runtime.invoke("bye", {"n": n, "busy": 0.3}), [1, 2]))
    assert not any(a.failed for a in answered), [a.error_message for a in answered]
    print(json.dumps(sorted(runtime.processes())), flush=True)
    if sys.argv[2] == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("end", ["closed", "killed"])
def test_no_lambda_process_outlives_the_sandbox(tmp_path: Path, end: str) -> None:
    """Closed (`sandbox down`, Ctrl-C, a test's teardown) or killed outright: its environments end with it."""
    (tmp_path / "app.py").write_text(STATEFUL)
    ran = subprocess.run(
        [sys.executable, "-c", LIFETIME, str(tmp_path), end], capture_output=True, text=True, timeout=120, check=False
    )
    assert ran.stdout, ran.stderr
    processes = set(json.loads(ran.stdout.splitlines()[0]))
    assert len(processes) == 3  # two environments and the zygote
    deadline = time.monotonic() + 5
    while running := {pid for pid in processes if alive(pid)}:
        assert time.monotonic() < deadline, f"processes left behind: {running}"
        time.sleep(0.02)
