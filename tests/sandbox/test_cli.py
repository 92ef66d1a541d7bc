"""The sandbox from the command line: up in the background, used with the AWS CLI, down; demo interrupted."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from mlrollout_cli.sandbox import _alive
from mlrollout_files.package import package_model
from mlrollout_sandbox.session import DEMO_MODELS

pytestmark = pytest.mark.sandbox
BIN = Path(sys.executable).parent


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def test_sandbox_up_serves_the_aws_cli_and_down_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("MLROLLOUT_HOME", str(home))  # run() passes the environment on
    started = run(str(BIN / "mlrollout"), "sandbox", "up", "--detach", "--warp", "600", cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((home / "sandbox.json").read_text())
    pid, environment = state["pid"], state["environment"]
    # What `up --detach` prints on stdout is only the exports, so `eval "$(mlrollout sandbox up --detach)"` works.
    assert all(line.startswith("export ") for line in started.stdout.splitlines()), started.stdout
    try:
        # From another directory too: the sandbox is found wherever the command runs.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        printed = run(str(BIN / "mlrollout"), "sandbox", "env", cwd=elsewhere).stdout
        assert f"export AWS_ENDPOINT_URL={environment['AWS_ENDPOINT_URL']}" in printed
        bucket = environment["MLROLLOUT_BUCKET"]
        cli_env = {**environment, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

        listed = run(str(BIN / "aws"), "s3", "ls", cwd=tmp_path, env=cli_env)
        assert bucket in listed.stdout, listed.stderr
        (tmp_path / "rollout.yaml").write_text("image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1\n")
        (tmp_path / "model.tar.gz").write_bytes(package_model(DEMO_MODELS / "fraud-scorer" / "v1"))
        for source, key in (
            ("rollout.yaml", "models/cli-model/rollout.yaml"),
            ("model.tar.gz", "models/cli-model/v1/model.tar.gz"),
        ):
            copied = run(str(BIN / "aws"), "s3", "cp", source, f"s3://{bucket}/{key}", cwd=tmp_path, env=cli_env)
            assert copied.returncode == 0, copied.stderr

        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=environment["AWS_ENDPOINT_URL"],
            region_name=environment["AWS_DEFAULT_REGION"],
            aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        )
        deadline = time.monotonic() + 60
        status = "none"
        while time.monotonic() < deadline:
            executions = sfn.list_executions(stateMachineArn=environment["MLROLLOUT_STATE_MACHINE"])["executions"]
            status = executions[0]["status"] if executions else "none"
            if status not in {"none", "RUNNING"}:
                break
            time.sleep(0.2)
        assert status == "SUCCEEDED"  # the CLI's upload started a rollout, which promoted v1

        # What operators received, from another process: the alerts topic's messages and the Slack posts.
        deadline, lines = time.monotonic() + 30, []
        while time.monotonic() < deadline and not any(line.startswith("slack\t") for line in lines):
            shown = run(str(BIN / "mlrollout"), "sandbox", "alerts", cwd=tmp_path)
            assert shown.returncode == 0, shown.stderr
            lines += shown.stdout.splitlines()
            time.sleep(0.5)
        assert any(line.startswith("sns\t") and "cli-model version v1 promoted" in line for line in lines), lines
        assert any(line.startswith("slack\t") and "cli-model" in line for line in lines), lines
    finally:
        stopped = run(str(BIN / "mlrollout"), "sandbox", "down", cwd=tmp_path)
    assert stopped.returncode == 0
    assert "did not stop" not in stopped.stdout + stopped.stderr
    assert not _alive(pid)
    assert not port_open(environment["AWS_ENDPOINT_URL"])
    assert not (home / "sandbox.json").exists()
    # No sandbox now: `sandbox env` prints nothing on stdout for `eval` to run, and says why on stderr.
    gone = run(str(BIN / "mlrollout"), "sandbox", "env", cwd=tmp_path)
    assert (gone.returncode, gone.stdout) == (1, "")
    assert gone.stderr.startswith("error: no sandbox is running") and "mlrollout sandbox up --detach" in gone.stderr


def test_an_interrupted_demo_stops_cleanly(tmp_path: Path) -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and children inherit that: the
    # demo gets the default disposition, as from a terminal, whatever launched this test.
    default_sigint = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", default_sigint, str(BIN / "mlrollout"), "demo", "--output", str(tmp_path / "out")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    began, before = time.monotonic(), []
    while time.monotonic() - began < 90:  # until the sandbox is up and the first rollout under way
        line = process.stdout.readline()
        before.append(line)
        if "sandbox up in" in line or not line:
            break
    assert any("sandbox up in" in line for line in before), "".join(before)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    rest, _ = process.communicate(timeout=60)
    output = "".join(before) + rest
    assert process.returncode == 130, output  # typer's exit code for Ctrl-C, after the sandbox shut down
    assert time.monotonic() - interrupted < 30
