"""The sandbox's Lambda runtime, seen through boto3 and Step Functions: function errors, crashes, SDK retries."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
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


@pytest.fixture
def function(aws: EmbeddedAws, runtime: LambdaRuntime, tmp_path: Path, marker: Path) -> str:
    name = f"fn-{tmp_path.name[-20:]}".replace("_", "-")
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(SOURCE)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("app.py", SOURCE)
    role = aws.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )
    runtime.register(
        LocalFunction(name=name, code_dir=code_dir, handler="app.lambda_handler", environment={"MARKER": str(marker)})
    )
    return name


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
    role = aws.client("iam").create_role(RoleName=f"{function}-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
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
    role = aws.client("iam").create_role(RoleName=f"{function}-sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
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
