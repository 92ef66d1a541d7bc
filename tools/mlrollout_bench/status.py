"""Status run: how fast `mlrollout status` answers for 20 endpoints in the sandbox, and with how many AWS calls.

The bar: `mlrollout status` on 20 endpoints answers in under 2 s against the sandbox, with batched reads (no
N+1 loops). A benchmark, not a test: it reports what it measured and whether the bar was met.

In the sandbox, 20 models get their first version (uploaded together, all promoted); then a few get a second
version whose canary bakes for 12 sandbox hours (judged hourly), so their rollouts are in progress while
status is measured, and one of them gets a third upload that waits behind it. `mlrollout status --json` is
then run the way an operator runs it, in its own process, several times, with the canaries' traffic and then
without: the end-to-end time of the command (interpreter start, imports, AWS clients, reads, output) and the
time of its reads alone (its `meta.fetch_seconds`), with the AWS calls it made (a botocore `before-call`
counter, `meta.aws_calls`). For scale, the same reads are also timed in this process with the thread pool and
without it (one call at a time), and the command's fixed cost is shown by `mlrollout --help`.

    python -m mlrollout_bench.status [--endpoints 20] [--in-progress 3] [--runs 5] [--seed 23] [--warp 600]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout.domain import naming
from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

BAR_SECONDS = 2.0
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
BIN = Path(sys.executable).parent


def config(bake_minutes: float, interval_seconds: int = 60) -> str:
    return f"""image: {IMAGE}
strategy:
  steps: [50]
  bake_minutes: {bake_minutes}
  evaluation_interval_seconds: {interval_seconds}
judge:
  min_requests: 50
  max_error_rate_increase: 0.02
"""


def _wait_for(records: DynamoDeployments, deployment_id: str, until: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until(records.get(deployment_id) or {}):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{deployment_id} did not get there within {timeout} s")


def _operator_environment(environment: dict[str, str]) -> dict[str, str]:
    """This shell's environment and the sandbox's, with bytecode caching on, as an installed CLI has it (an
    editable install in a shell with PYTHONDONTWRITEBYTECODE would compile every module on every run)."""
    return {k: v for k, v in {**os.environ, **environment}.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _status(environment: dict[str, str]) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603  (our own command, fixed arguments)
        [str(BIN / "mlrollout"), "status", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"mlrollout status failed: {done.stderr}")
    return seconds, json.loads(done.stdout)


def _startup(environment: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(  # noqa: S603
            [str(BIN / "mlrollout"), "--help"], env=environment, capture_output=True, check=True, timeout=60
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _in_process(sandbox: Sandbox, runs: int, workers: int) -> list[float]:
    """The command's reads (`mlrollout_cli.status.gather`), timed here with the clients already made."""
    import boto3

    from mlrollout_cli.context import Aws
    from mlrollout_cli.status import gather

    environment = sandbox.environment()
    aws = Aws(endpoint_url=environment["AWS_ENDPOINT_URL"], region=environment["AWS_REGION"])
    # The sandbox's credentials for this Aws only (this process's environment is the sandbox's own).
    aws.__dict__["session"] = boto3.session.Session(
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
        region_name=environment["AWS_REGION"],
    )
    leases, deployments = environment["MLROLLOUT_STATE_TABLE"], environment["MLROLLOUT_DEPLOYMENTS_TABLE"]
    gather(aws, None, workers=workers, state_table=leases, deployments_table=deployments)  # warm: clients, connections
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        gather(aws, None, workers=workers, state_table=leases, deployments_table=deployments)
        times.append(time.perf_counter() - began)
    return times


def run(endpoints: int, in_progress: int, runs: int, seed: int, warp: float) -> dict[str, Any]:
    began = time.monotonic()
    names = [f"status-{i:02d}" for i in range(endpoints)]
    busy = names[:in_progress]
    # The queued upload retries its lease every 5 sandbox minutes (not every minute) for up to 15 hours.
    with Sandbox(warp=warp, seed=seed, parameters={"LeaseWaitSeconds": "300"}) as sandbox:
        records = DynamoDeployments(sandbox.client("dynamodb"), sandbox.stack.physical("DeploymentsTable"))
        first = package_model(DEMO_MODELS / "fraud-scorer" / "v1")
        uploads = []
        for name in names:
            sandbox.put_config(name, config(3))
            uploads.append(sandbox.upload(name, "v1", first))
        outcomes = [sandbox.wait_for_rollout(upload, timeout=600).outcome for upload in uploads]
        if outcomes != ["promoted"] * endpoints:
            raise RuntimeError(f"first versions did not all promote: {outcomes}")
        setup_seconds = time.monotonic() - began

        second = package_model(DEMO_MODELS / "fraud-scorer" / "v2")
        for name in busy:
            # The longest bake, looked at hourly: still at 50% while status is measured, and the judge's looks
            # (Lambda, CloudWatch, S3, DynamoDB in this process) do not take the CPUs the command needs.
            sandbox.put_config(name, config(720, 3600))
            sandbox.send_traffic(name, TrafficProfile(rps=2))
            sandbox.upload(name, "v2", second)
        for name in busy:
            _wait_for(
                records, naming.deployment_id(name, hashlib.sha256(second).hexdigest()), lambda r: r.get("decisions")
            )
        queued = None
        if busy:
            third = package_model(DEMO_MODELS / "fraud-scorer" / "v2", extra={"BUILD": b"3"})
            sandbox.upload(busy[0], "v3", third)
            queued = naming.deployment_id(busy[0], hashlib.sha256(third).hexdigest())
            _wait_for(records, queued, lambda r: r.get("state") == "waiting")

        environment = _operator_environment(sandbox.environment())
        _status(environment)  # the first run writes the bytecode caches
        busy_run = _measure(environment, runs)
        for name in busy:  # the simulated requests stop; the rollouts go on holding their endpoints
            assert sandbox.dataplane is not None
            sandbox.dataplane.stop_traffic(name)
        time.sleep(1.0)
        quiet_run = _measure(environment, runs)
        shown = {e["name"]: e for e in busy_run.pop("document")["endpoints"]}
        quiet_run.pop("document")
        checks = {
            "endpoints listed": len(shown) == endpoints,
            "rollouts in progress shown": all(
                (shown[n]["rollout"] or {}).get("phase") == "baking step 1 at 50%" for n in busy
            ),
            "canary weights 50/50": all(
                [v["weight_percent"] for v in shown[n]["variants"]] == [50.0, 50.0] for n in busy
            ),
            "queued upload shown": not busy or [q["deployment_id"] for q in shown[busy[0]]["queued"]] == [queued],
        }
        pooled = _in_process(sandbox, runs, workers=8)
        sequential = _in_process(sandbox, runs, workers=1)
        startup = _startup(environment, 3)

    return {
        "endpoints": endpoints,
        "rollouts_in_progress": len(busy),
        "queued_uploads": 1 if busy else 0,
        "runs": runs,
        "with_traffic": busy_run,
        "without_traffic": quiet_run,
        "cli_startup_seconds": round(startup, 3),
        "in_process_fetch_seconds": {
            "thread_pool_8": round(statistics.median(pooled), 3),
            "one_at_a_time": round(statistics.median(sequential), 3),
        },
        "bar_seconds": BAR_SECONDS,
        "bar_met": max(busy_run["end_to_end_seconds"]["median"], quiet_run["end_to_end_seconds"]["median"])
        < BAR_SECONDS,
        "checks": checks,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "warp": warp,
        "sandbox_setup_seconds": round(setup_seconds, 1),
    }


def _measure(environment: dict[str, str], runs: int) -> dict[str, Any]:
    measured = [_status(environment) for _ in range(runs)]
    end_to_end = [seconds for seconds, _ in measured]
    fetch = [doc["meta"]["fetch_seconds"] for _, doc in measured]
    setup = [doc["meta"]["client_setup_seconds"] for _, doc in measured]
    document = measured[-1][1]
    calls = document["meta"]["aws_calls"]
    return {
        "end_to_end_seconds": {
            "median": round(statistics.median(end_to_end), 3),
            "all": [round(t, 3) for t in end_to_end],
        },
        "fetch_seconds": {"median": round(statistics.median(fetch), 3), "all": fetch},
        "client_setup_seconds": {"median": round(statistics.median(setup), 3)},
        "aws_calls": calls,
        "aws_calls_total": sum(calls.values()),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "document": document,
    }


def render(report: dict[str, Any], command: str) -> str:
    busy, quiet = report["with_traffic"], report["without_traffic"]
    calls = busy["aws_calls"]
    sagemaker = ", ".join(f"{k} {v}" for k, v in calls.items() if k.startswith("SageMaker."))
    dynamodb = ", ".join(f"{k} {v}" for k, v in calls.items() if k.startswith("DynamoDB."))
    in_process = report["in_process_fetch_seconds"]

    def runs(measured: dict[str, Any]) -> str:
        return ", ".join(f"{t} s" for t in measured["end_to_end_seconds"]["all"])

    rows = [
        ("endpoints (rollouts in progress, queued uploads)",
         f"{report['endpoints']} ({report['rollouts_in_progress']}, {report['queued_uploads']})"),
        (f"`mlrollout status --json` end to end, median of {report['runs']}: with the canaries' traffic",
         f"**{busy['end_to_end_seconds']['median']} s** ({runs(busy)})"),
        ("the same once the simulated traffic stops (the rollouts still hold their endpoints)",
         f"**{quiet['end_to_end_seconds']['median']} s** ({runs(quiet)})"),
        ("of which its reads (`meta.fetch_seconds`, median): with traffic / without",
         f"{busy['fetch_seconds']['median']} s / {quiet['fetch_seconds']['median']} s"),
        ("of which making its two AWS clients (median): with traffic / without",
         f"{busy['client_setup_seconds']['median']} s / {quiet['client_setup_seconds']['median']} s"),
        ("`mlrollout --help` (interpreter and imports: any command's fixed cost)",
         f"{report['cli_startup_seconds']} s"),
        ("the same reads in this process, without traffic: thread pool of 8 / one call at a time",
         f"{in_process['thread_pool_8']} s / {in_process['one_at_a_time']} s"),
        ("AWS calls per run", f"{busy['aws_calls_total']}"),
        ("DynamoDB calls (the same for any number of endpoints up to 50)", dynamodb),
        ("SageMaker calls (it has no batch read: 1 + 2 per endpoint, 8 at a time)", sagemaker),
        ("bar: under 2 s end to end", "met" if report["bar_met"] else "**not met**"),
        ("output checks", ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in report["checks"].items())),
        ("machine", f"{report['cpus']} CPUs, load average {busy['load_average_1_5_15']} / "
                    f"{quiet['load_average_1_5_15']} after each series, Python {report['python']}, "
                    f"sandbox warp {report['warp']:g}"),
    ]  # fmt: skip
    lines = [
        "# `mlrollout status` response time",
        "",
        f"Generated by `{command}`. Each run is the command in its own process, as an operator runs it, against "
        "the sandbox: moto's server on 127.0.0.1 in the benchmark's process, which also runs the rollouts in "
        "progress (their hourly looks, their leases' retries) and, in the first series, their simulated traffic at "
        "600 times wall-clock speed, on the same CPUs. Bytecode caching is on, as in an installed CLI.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += [
        "",
        "The reads are a fixed number of round trips except SageMaker's, which has no batch read. In the sandbox "
        "the server is one Python process that also runs the rollouts, so concurrent calls mostly wait for each "
        "other there and the pool gains little; against AWS each call is a network round trip, which the pool "
        "overlaps (not measured here). The rest of the end-to-end time is the interpreter, the imports and "
        "botocore's service models, whatever the number of endpoints.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--in-progress", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--warp", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    report = run(args.endpoints, args.in_progress, args.runs, args.seed, args.warp)
    command = ("python -m mlrollout_bench.status " + " ".join(argv or [])).strip()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "status.json").write_text(json.dumps(report, indent=2) + "\n")
    text = render(report, command)
    (args.out / "status.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
