"""`mlrollout sandbox up|down|env`: the local cloud, kept running for you to use with the AWS CLI and boto3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrollout_cli.errors import CliError, ExitCode

app = typer.Typer(
    help="Keep the embedded AWS running with the stack deployed and traffic flowing.", no_args_is_help=True
)
# Messages go to stderr: stdout carries only what `eval "$(mlrollout sandbox env)"` may run (the exports).
console = Console(stderr=True)


def state_file() -> Path:
    """Where the running sandbox is recorded: $MLROLLOUT_HOME, else ~/.mlrollout, whatever the current directory
    (a relative path made `sandbox env` in another directory miss the running sandbox)."""
    home = os.environ.get("MLROLLOUT_HOME")
    return (Path(home) if home else Path.home() / ".mlrollout") / "sandbox.json"


def _exports(environment: dict[str, str]) -> str:
    return "\n".join(f"export {key}={value}" for key, value in environment.items())


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).")] = 0,
    warp: Annotated[float, typer.Option(help="Sandbox seconds per wall-clock second.")] = 60.0,
    detach: Annotated[bool, typer.Option(help="Run in the background; stop it with `mlrollout sandbox down`.")] = False,
    rps: Annotated[float, typer.Option(help="Requests per second sent to every endpoint.")] = 10.0,
) -> None:
    """Start the sandbox: moto on 127.0.0.1, template.yaml deployed, traffic to every endpoint."""
    from mlrollout_sandbox.session import ApplicationNotFound, application_root

    try:
        application_root()  # checked here, before a detached process would only log it
    except ApplicationNotFound as exc:
        raise CliError(exc.what, exc.fix) from None
    recorded = state_file()
    if recorded.exists():
        state = json.loads(recorded.read_text())
        if _alive(state.get("pid", 0)):
            console.print(f"a sandbox is already running (pid {state['pid']}, {state['endpoint_url']})")
            raise typer.Exit(1)
        recorded.unlink()
    if detach:
        recorded.parent.mkdir(parents=True, exist_ok=True)
        log = (recorded.parent / "sandbox.log").open("w")
        process = subprocess.Popen(  # noqa: S603  (our own interpreter and module, fixed arguments)
            [
                sys.executable,
                "-m",
                "mlrollout_cli.main",
                "sandbox",
                "up",
                "--port",
                str(port),
                "--warp",
                str(warp),
                "--rps",
                str(rps),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not recorded.exists():
            time.sleep(0.2)
        if not recorded.exists():
            console.print(f"the sandbox did not start; see {recorded.parent / 'sandbox.log'}")
            raise typer.Exit(1)
        state = json.loads(recorded.read_text())
        console.print(f"sandbox running in the background (pid {state['pid']}); stop it with: mlrollout sandbox down")
        print(_exports(state["environment"]))
        return
    _serve(port, warp, rps)


def _serve(port: int, warp: float, rps: float) -> None:
    from mlrollout_sandbox.dataplane import TrafficProfile
    from mlrollout_sandbox.session import Sandbox

    recorded = state_file()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with Sandbox(warp=warp, port=port) as sandbox:
        assert sandbox.dataplane is not None
        sandbox.dataplane.auto_traffic = TrafficProfile(rps=rps)
        environment = sandbox.environment()
        recorded.parent.mkdir(parents=True, exist_ok=True)
        recorded.write_text(
            json.dumps(
                {"pid": os.getpid(), "endpoint_url": environment["AWS_ENDPOINT_URL"], "environment": environment}
            )
        )
        print(f"sandbox up: {environment['AWS_ENDPOINT_URL']}, bucket {sandbox.bucket}", flush=True)
        print(_exports(environment), flush=True)
        print(
            f"try: aws --endpoint-url {environment['AWS_ENDPOINT_URL']} s3 cp model.tar.gz "
            f"s3://{sandbox.bucket}/models/<model>/v7/model.tar.gz   (and models/<model>/rollout.yaml first)",
            flush=True,
        )
        try:
            stop.wait()
        finally:
            recorded.unlink(missing_ok=True)
    print("sandbox stopped", flush=True)


@app.command()
def down(timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 60.0) -> None:
    """Stop a sandbox started with `mlrollout sandbox up --detach`."""
    recorded = state_file()
    if not recorded.exists():
        console.print("no sandbox is running")
        raise typer.Exit(0)
    pid = int(json.loads(recorded.read_text())["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            console.print(f"the sandbox (pid {pid}) did not stop in {timeout} s and was killed")
    recorded.unlink(missing_ok=True)
    console.print("sandbox stopped")


@app.command()
def env() -> None:
    """Print the environment that points the AWS CLI and boto3 at the running sandbox (for `eval`)."""
    recorded = state_file()
    if not recorded.exists() or not _alive(int(json.loads(recorded.read_text()).get("pid", 0))):
        # On stderr, and nothing on stdout: `eval "$(mlrollout sandbox env)"` then runs nothing.
        raise CliError(
            f"no sandbox is running (none recorded in {recorded})",
            "start one with: mlrollout sandbox up --detach",
            ExitCode.NOT_SUCCEEDED,
        )
    print(_exports(json.loads(recorded.read_text())["environment"]))


@app.command()
def alerts(
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing messages as they arrive.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between looks with --follow.")] = 1.0,
) -> None:
    """Show what operators receive in the sandbox: the alerts topic's messages (each once, as its email would be
    delivered once) and the Slack stand-in's posts, one line each, oldest first."""
    import urllib.request

    import boto3

    recorded = state_file()
    if not recorded.exists():
        raise CliError("no sandbox is running", "start one with: mlrollout sandbox up --detach", ExitCode.NOT_SUCCEEDED)
    environment = json.loads(recorded.read_text())["environment"]
    sqs = boto3.client(
        "sqs",
        endpoint_url=environment["AWS_ENDPOINT_URL"],
        region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )
    slack_url = environment.get("MLROLLOUT_SLACK_POSTS_URL")
    seen_posts = 0
    while True:
        for message in _drain(sqs, environment["MLROLLOUT_ALERTS_QUEUE_URL"]):
            print(f"sns\t{message.get('Timestamp', '')}\t{message.get('Subject') or message.get('Message', '')[:120]}")
        if slack_url:
            with urllib.request.urlopen(f"{slack_url}?after={seen_posts}", timeout=10) as answer:  # noqa: S310
                posts = json.loads(answer.read())
            for post in posts:
                print(f"slack\t{post['index']}\t{post['text']}")
            seen_posts += len(posts)
        sys.stdout.flush()
        if not follow:
            return
        time.sleep(interval)


def _drain(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Every message waiting in the inbox, deleted once read (the operator's inbox: each is shown once)."""
    found: list[dict[str, str]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _alive(pid: int) -> bool:
    """Whether the process still runs. A zombie has exited (it waits only for its parent, often init, to reap
    it): not alive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal answered
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
