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
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Keep the embedded AWS running with the stack deployed and traffic flowing.", no_args_is_help=True
)
STATE = Path(".mlrollout") / "sandbox.json"
console = Console()


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
    if STATE.exists():
        state = json.loads(STATE.read_text())
        if _alive(state.get("pid", 0)):
            console.print(f"a sandbox is already running (pid {state['pid']}, {state['endpoint_url']})")
            raise typer.Exit(1)
        STATE.unlink()
    if detach:
        STATE.parent.mkdir(exist_ok=True)
        log = (STATE.parent / "sandbox.log").open("w")
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
        while time.monotonic() < deadline and process.poll() is None and not STATE.exists():
            time.sleep(0.2)
        if not STATE.exists():
            console.print(f"the sandbox did not start; see {STATE.parent / 'sandbox.log'}")
            raise typer.Exit(1)
        state = json.loads(STATE.read_text())
        console.print(f"sandbox running in the background (pid {state['pid']}); stop it with `mlrollout sandbox down`")
        console.print(_exports(state["environment"]))
        return
    _serve(port, warp, rps)


def _serve(port: int, warp: float, rps: float) -> None:
    from mlrollout_sandbox.dataplane import TrafficProfile
    from mlrollout_sandbox.session import Sandbox

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with Sandbox(warp=warp, port=port) as sandbox:
        assert sandbox.dataplane is not None
        sandbox.dataplane.auto_traffic = TrafficProfile(rps=rps)
        environment = sandbox.environment()
        STATE.parent.mkdir(exist_ok=True)
        STATE.write_text(
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
            STATE.unlink(missing_ok=True)
    print("sandbox stopped", flush=True)


@app.command()
def down(timeout: Annotated[float, typer.Option(help="Seconds to wait for a clean stop.")] = 30.0) -> None:
    """Stop a sandbox started with `mlrollout sandbox up --detach`."""
    if not STATE.exists():
        console.print("no sandbox is running here")
        raise typer.Exit(0)
    pid = int(json.loads(STATE.read_text())["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            console.print(f"the sandbox (pid {pid}) did not stop in {timeout} s and was killed")
    STATE.unlink(missing_ok=True)
    console.print("sandbox stopped")


@app.command()
def env() -> None:
    """Print the environment that points the AWS CLI and boto3 at the running sandbox."""
    if not STATE.exists():
        console.print("no sandbox is running here; start one with `mlrollout sandbox up --detach`")
        raise typer.Exit(1)
    print(_exports(json.loads(STATE.read_text())["environment"]))


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
