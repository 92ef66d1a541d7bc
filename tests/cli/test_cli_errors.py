"""The CLI's one error contract (mlrollout_cli/errors.py): an `error: <what> (<fix>)` line on stderr or a JSON object
under --json, no traceback without --debug, and the exit codes docs/operations.md documents."""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic
import pytest

from mlrollout_cli.errors import ExitCode, describe
from mlrollout_cli.main import hoist, run
from support import ROOT


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials, no profile, no region: what a new user's machine has."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name in ("MLROLLOUT_BUCKET", "MLROLLOUT_DEPLOYMENTS_TABLE", "MLROLLOUT_STATE_TABLE", "MLROLLOUT_STATE_MACHINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_documented_exit_codes_are_the_ones_the_cli_uses() -> None:
    table = (ROOT / "docs" / "operations.md").read_text().split("## Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


def test_global_options_work_after_the_subcommand() -> None:
    assert hoist(["status", "fraud", "--profile", "prod", "--json"]) == [
        "--profile",
        "prod",
        "status",
        "fraud",
        "--json",
    ]
    assert hoist(["history", "m", "--region=eu-west-1", "--debug"]) == ["--region=eu-west-1", "--debug", "history", "m"]
    # After `--` nothing is moved: it belongs to the command.
    assert hoist(["replay", "--", "--stack", "x"]) == ["replay", "--", "--stack", "x"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert re.fullmatch(r"mlrollout \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    ("argv", "code", "starts"),
    [
        (["status", "--profile", "nope"], ExitCode.AWS_ACCESS, "error: the AWS profile 'nope' is not configured"),
        (["history", "fraud-scorer"], ExitCode.AWS_ACCESS, "error: no AWS region is set (pass --region"),
        (["cost", "some-id", "--region", "us-east-1"], ExitCode.AWS_ACCESS, "error: no AWS credentials were found"),
        (["nosuch"], ExitCode.USAGE, "error: No such command 'nosuch'."),
        (["history", "--bogus"], ExitCode.USAGE, "error: No such option: --bogus"),
    ],
    ids=["unknown-profile", "no-region", "no-credentials", "unknown-command", "unknown-option"],
)
def test_errors_are_one_line_on_stderr_with_their_exit_code(
    argv: list[str], code: ExitCode, starts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(argv) == code
    captured = capsys.readouterr()
    assert one_error_line(captured.err).startswith(starts), captured.err
    assert captured.out == ""


@pytest.mark.usefixtures("no_aws")
def test_an_unreachable_endpoint_is_an_access_error(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    # The discard port: nothing listens there.
    argv = ["history", "fraud-scorer", "--endpoint-url", "http://127.0.0.1:9", "--region", "us-east-1"]
    assert run([*argv, "--table", "t"]) == ExitCode.AWS_ACCESS
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("error: AWS could not be reached") and "mlrollout sandbox up --detach" in line


@pytest.mark.usefixtures("no_aws")
def test_under_json_the_error_is_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["history", "--json", "--profile", "nope"]) == ExitCode.AWS_ACCESS
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert (error["error"], error["exit_code"]) == ("the AWS profile 'nope' is not configured", 3)
    assert "aws configure" in error["fix"] and captured.err == ""


@pytest.mark.usefixtures("no_aws")
def test_debug_adds_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["status", "--profile", "nope", "--debug"]) == ExitCode.AWS_ACCESS
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: the AWS profile 'nope'")


def test_aws_and_validation_errors_are_told_apart() -> None:
    from botocore.exceptions import ClientError

    from mlrollout.domain.config import Judge

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "Scan")
    missing = ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find endpoint x"}}, "X")
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Scan")
    assert (
        describe(denied).code == ExitCode.AWS_ACCESS
        and "AWS refused Scan: AccessDeniedException" in describe(denied).what
    )
    assert (describe(missing).code, describe(missing).fix) == (ExitCode.USAGE, "check the name or id")
    assert describe(throttled).code == ExitCode.NOT_SUCCEEDED
    with pytest.raises(pydantic.ValidationError) as invalid:
        Judge.model_validate({"max_error_rate_ratio": 0.5})
    bad = describe(invalid.value)
    assert bad.code == ExitCode.USAGE and bad.what.startswith("max_error_rate_ratio: Input should be greater")
    assert describe(KeyboardInterrupt()).code == ExitCode.INTERRUPTED


def test_a_raised_cli_error_is_reported_as_itself(capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> None:
    monkeypatch.setenv("MLROLLOUT_HOME", "/nonexistent/mlrollout-home")
    assert run(["sandbox", "env"]) == ExitCode.NOT_SUCCEEDED
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing for `eval "$(mlrollout sandbox env)"` to run
    assert one_error_line(captured.err) == (
        "error: no sandbox is running (none recorded in /nonexistent/mlrollout-home/sandbox.json) "
        "(start one with: mlrollout sandbox up --detach)"
    )


def test_history_of_an_unknown_model_is_the_same_error_as_a_table_or_json(
    stack: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLROLLOUT_DEPLOYMENTS_TABLE", stack.deployments_table)
    assert run(["history", "nope"]) == ExitCode.USAGE
    table = capsys.readouterr()
    assert one_error_line(table.err).startswith("error: no uploads of model nope are recorded (check the name")
    assert run(["history", "nope", "--json"]) == ExitCode.USAGE
    error = json.loads(capsys.readouterr().out)
    assert (error["error"], error["exit_code"]) == ("no uploads of model nope are recorded", 2)
    assert run(["history", "--deployment", "no-such-id", "--json"]) == ExitCode.USAGE
    assert json.loads(capsys.readouterr().out)["error"] == "no deployment no-such-id is recorded"


def test_a_stack_the_caller_may_not_read_is_an_access_error_and_a_missing_stack_is_no_outputs(no_aws: None) -> None:
    from unittest import mock

    from botocore.exceptions import ClientError

    from mlrollout_cli.context import Aws

    def refusing(code: str, message: str) -> Aws:
        aws = Aws(profile=None, region="us-east-1", endpoint_url=None, stack="mlrollout")
        cloudformation = mock.Mock()
        cloudformation.describe_stacks.side_effect = ClientError(
            {"Error": {"Code": code, "Message": message}}, "DescribeStacks"
        )
        aws._clients["cloudformation"] = cloudformation
        return aws

    # "If the stack doesn't exist, a ValidationError is returned" (DescribeStacks): the resources come from elsewhere.
    assert refusing("ValidationError", "Stack with id mlrollout does not exist").outputs == {}
    with pytest.raises(ClientError) as denied:
        _ = refusing("AccessDenied", "not authorized to perform: cloudformation:DescribeStacks").outputs
    assert describe(denied.value).code is ExitCode.AWS_ACCESS
    # A resource a command can do without is simply not found when the caller may not read the stack.
    assert refusing("AccessDenied", "not authorized").optional("StateTableName") is None
