"""Cold import time of each handler against `import boto3` plus the clients that handler creates.

Each measurement runs in a fresh interpreter (a cold container has nothing imported). For every function the
baseline and the handler are measured alternately, `--runs` times each, and the medians are compared:
handler = import functions/<f>/app.py, then build the adapters it uses (which build their boto3 clients);
baseline = import boto3, then build the same clients. The ratio is what our code, Powertools and pydantic add.
A third interpreter, the baseline plus `from pydantic import BaseModel`, shows how much of that is pydantic's own
import: its ratio is the floor any handler whose contracts are pydantic models can reach.

    python -m mlrollout_dev.coldstart [--runs 7] [--json]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "cold",
    "AWS_SECRET_ACCESS_KEY": "cold",
    "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "ARTIFACT_BUCKET": "bucket",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
    "SLACK_SECRET_NAME": "slack-webhook",
    "STATE_TABLE": "state",
    "DEPLOYMENTS_TABLE": "deployments",
    "ROLLOUT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:rollout",
    "POWERTOOLS_SERVICE_NAME": "mlrollout",
    "POWERTOOLS_METRICS_NAMESPACE": "mlrollout",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "PYTHONDONTWRITEBYTECODE": "",
}

TIMED_HANDLER = """
import importlib.util, time
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {path!r})
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
from mlrollout import wiring
for factory in {factories!r}:
    getattr(wiring, factory)(*{arguments!r}.get(factory, ()))
print(time.perf_counter() - t0)
"""

TIMED_BASELINE = """
import time
t0 = time.perf_counter()
import boto3
session = boto3.session.Session()
for service in {services!r}:
    session.client(service)
{extra}
print(time.perf_counter() - t0)
"""

SERVICES_OF = """
import json
from mlrollout.adapters import aws
created = []
original = aws.client.__wrapped__
def recording(service):
    created.append(service)
    return original(service)
aws.client = recording
from mlrollout import wiring
import mlrollout.wiring as w
w.client = recording
for factory in {factories!r}:
    getattr(wiring, factory)(*{arguments!r}.get(factory, ()))
print(json.dumps(sorted(set(created))))
"""


# Factories that take arguments: what a handler passes (the idempotency prefix).
FACTORY_ARGUMENTS = {"once": ("notify",)}


def factories_used(app: Path) -> list[str]:
    """The wiring factories a handler calls (wiring.endpoints(), ...), read from its source."""
    names = []
    for node in ast.walk(ast.parse(app.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "wiring"
            and node.func.attr != "region"
        ):
            names.append(node.func.attr)
    return sorted(set(names))


def _run(code: str) -> float:
    env = {**os.environ, **ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure(runs: int) -> list[dict[str, object]]:
    rows = []
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        factories = factories_used(app)
        env = {**os.environ, **ENV}
        services = json.loads(
            subprocess.run(
                [sys.executable, "-c", SERVICES_OF.format(factories=factories, arguments=FACTORY_ARGUMENTS)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            ).stdout
        )
        handler_times, baseline_times, floor_times = [], [], []
        for _ in range(runs):
            baseline_times.append(_run(TIMED_BASELINE.format(services=services, extra="")))
            floor_times.append(_run(TIMED_BASELINE.format(services=services, extra="from pydantic import BaseModel")))
            timed = TIMED_HANDLER.format(path=str(app), factories=factories, arguments=FACTORY_ARGUMENTS)
            handler_times.append(_run(timed))
        baseline, handler = statistics.median(baseline_times), statistics.median(handler_times)
        floor = statistics.median(floor_times)
        rows.append(
            {
                "function": app.parent.name,
                "clients": services,
                "baseline_ms": round(baseline * 1000, 1),
                "handler_ms": round(handler * 1000, 1),
                "ratio": round(handler / baseline, 3),
                "pydantic_floor_ms": round(floor * 1000, 1),
                "pydantic_floor_ratio": round(floor / baseline, 3),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--max-ratio", type=float, default=1.3, help="exit 1 when a handler exceeds this ratio")
    args = parser.parse_args()
    rows = measure(args.runs)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            f"{'function':<20} {'clients':<34} {'boto3+clients':>14} {'handler':>9} {'ratio':>6} "
            f"{'+pydantic only':>15} {'floor':>6}"
        )
        for row in rows:
            print(
                f"{row['function']:<20} {','.join(row['clients']):<34} {row['baseline_ms']:>11.1f} ms "  # type: ignore[arg-type]
                f"{row['handler_ms']:>6.1f} ms {row['ratio']:>6.2f} {row['pydantic_floor_ms']:>12.1f} ms "
                f"{row['pydantic_floor_ratio']:>6.2f}"
            )
        print(f"median of {args.runs} cold interpreters each, Python {sys.version.split()[0]}")
    return 1 if any(float(r["ratio"]) > args.max_ratio for r in rows) else 0  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
