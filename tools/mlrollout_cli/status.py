"""`mlrollout status [ENDPOINT]`: every endpoint's variants and traffic, the rollout holding it, what waits.

A fixed number of round trips whatever the number of endpoints, apart from SageMaker's, which has no batch read:
- SageMaker: ListEndpoints once, then DescribeEndpoint and DescribeEndpointConfig (instance types and models
  are only in the config) of every endpoint, concurrently on a small thread pool;
- the state table: one Scan for every `lease#` and `waiting#` item (one BatchGetItem of two keys for
  `status ENDPOINT`), alongside the listing;
- the deployments table: one BatchGetItem for the records of every lease holder and waiter.
`--json` adds `meta`: how long the reads took and the AWS calls they made, by operation.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrollout.adapters.endpoints import SageMakerEndpoints
from mlrollout.adapters.ledger import DynamoDeployments, DynamoLeases
from mlrollout.domain.ledger import Lease, Waiter
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.extras import spinner
from mlrollout_cli.output import Column, show_table
from mlrollout_cli.records import decisions_total, estimate_lines, last_decision, percent, phase

WORKERS = 8  # concurrent SageMaker reads: well inside botocore's 10 pooled connections and SageMaker's rate
NOT_CREATED = "NotCreated"  # a first rollout holds or waits for an endpoint it has not created yet


class CallCounter:
    """The AWS calls a set of boto3 clients make, by operation (botocore's `before-call` event: once per call,
    whatever its retries)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_id}.{model.name}"] += 1


def gather(
    aws: Aws,
    endpoint: str | None,
    *,
    state_table: str,
    deployments_table: str,
    counter: CallCounter | None = None,
    workers: int = WORKERS,
) -> list[dict[str, Any]]:
    """What `status` shows, read with the round trips the module docstring lists; one dict per endpoint."""
    counter = counter or CallCounter()
    sagemaker = SageMakerEndpoints(counter.attach(aws.client("sagemaker")))
    dynamodb = counter.attach(aws.client("dynamodb"))
    leases = DynamoLeases(dynamodb, state_table)
    records = DynamoDeployments(dynamodb, deployments_table)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="status") as pool:
        occupancy = pool.submit(leases.occupancy, None if endpoint is None else [endpoint])
        names = sagemaker.names() if endpoint is None else [endpoint]
        described = {name: pool.submit(_describe, sagemaker, name) for name in names}
        held, waiting = occupancy.result()
        wanted = [lease.holder for lease in held.values()] + [waiter.deployment_id for waiter in waiting.values()]
        found: Future[dict[str, dict[str, Any]]] = pool.submit(records.get_many, wanted)
        endpoints = {name: future.result() for name, future in described.items()}
        deployments = found.result()
    now = datetime.now(UTC)
    every = sorted({*(n for n, d in endpoints.items() if d is not None), *held, *waiting})
    if endpoint is not None:
        every = [endpoint] if endpoints.get(endpoint) or endpoint in held or endpoint in waiting else []
    return [_endpoint(name, endpoints.get(name), held.get(name), waiting.get(name), deployments, now) for name in every]


def _describe(sagemaker: SageMakerEndpoints, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    described = sagemaker.describe(name)
    if described is None:  # deleted since it was listed
        return None
    config = described.get("EndpointConfigName")
    return described, sagemaker.config_variants(config) if config else []


def _endpoint(
    name: str,
    found: tuple[dict[str, Any], list[dict[str, Any]]] | None,
    lease: Lease | None,
    waiter: Waiter | None,
    deployments: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    described, config_variants = found if found is not None else ({}, [])
    pending = described.get("PendingDeploymentSummary")
    return {
        "name": name,
        "status": described.get("EndpointStatus", NOT_CREATED),
        "config": described.get("EndpointConfigName"),
        "failure_reason": described.get("FailureReason"),
        "variants": _variants(described.get("ProductionVariants") or [], config_variants),
        "pending_config": pending.get("EndpointConfigName") if pending else None,
        "rollout": _rollout(lease, deployments, now) if lease is not None else None,
        "queued": [_queued(waiter, deployments)] if waiter is not None else [],
    }


def _variants(summaries: list[dict[str, Any]], config_variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each variant's share of traffic (weights are relative), instances and model; `Current*` once deployed,
    `Desired*` while the endpoint is being created."""
    specs = {v["VariantName"]: v for v in config_variants}
    weights = {v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0))) for v in summaries}
    total = sum(weights.values())
    variants = []
    for summary in summaries:
        name = summary["VariantName"]
        spec = specs.get(name, {})
        variants.append(
            {
                "name": name,
                "weight_percent": round(100 * weights[name] / total, 2) if total else 0.0,
                "weight": weights[name],
                "desired_weight": summary.get("DesiredWeight"),
                "instance_type": spec.get("InstanceType"),
                "instance_count": summary.get("CurrentInstanceCount", summary.get("DesiredInstanceCount")),
                "desired_instance_count": summary.get("DesiredInstanceCount"),
                "model": spec.get("ModelName"),
            }
        )
    return variants


def _rollout(lease: Lease, deployments: dict[str, dict[str, Any]], now: datetime) -> dict[str, Any]:
    record = deployments.get(lease.holder, {})
    decision = last_decision(record)
    return {
        "deployment_id": lease.holder,
        "model": record.get("model_name"),
        "version": record.get("version_label"),
        "state": record.get("state"),
        "phase": phase(record) if record else "no record",
        "step": int(decision.get("step") or 0) + 1 if decision else None,
        "weight_percent": float(decision.get("weight") or 0) if decision else None,
        "verdict": decision.get("verdict") if decision else None,
        "action": decision.get("action") if decision else None,
        "reason": decision.get("reason") if decision else None,
        "decisions": decisions_total(record),
        "execution": lease.execution,
        "lease_expires_at": lease.expires_at.isoformat(),
        "lease_expired": lease.expired(now),
        "uploaded_at": record.get("uploaded_at"),
        "estimate": record.get("estimate"),
        "expected": estimate_lines(record),
    }


def _queued(waiter: Waiter, deployments: dict[str, dict[str, Any]]) -> dict[str, Any]:
    record = deployments.get(waiter.deployment_id, {})
    return {
        "deployment_id": waiter.deployment_id,
        "version": record.get("version_label"),
        "state": record.get("state"),
        "uploaded_at": waiter.uploaded_at,
    }


def status(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Argument(help="One endpoint (default: every endpoint).")] = None,
    state_table: Annotated[str | None, typer.Option(help="State table (default: the stack's).")] = None,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Endpoints with their variants, traffic weights and instances, the rollout holding each, queued uploads."""
    aws = from_context(ctx)
    leases, deployments = aws.state_table(state_table), aws.deployments_table(table)
    counter = CallCounter()
    console = Console(highlight=False)
    began = ready = time.perf_counter()
    # AWS's errors (credentials, permissions, the network) go to the one error contract (mlrollout_cli/errors.py).
    for service in ("sagemaker", "dynamodb"):  # loading their service models (SageMaker's is big) is not reading
        aws.client(service)
    ready = time.perf_counter()
    with spinner(console if not as_json else Console(stderr=True), "reading endpoints, leases and deployments"):
        endpoints = gather(aws, endpoint, counter=counter, state_table=leases, deployments_table=deployments)
    seconds = time.perf_counter() - ready
    if endpoint is not None and not endpoints:
        raise CliError(
            f"no endpoint {endpoint}, and no rollout holds or waits for one of that name",
            "see every endpoint with `mlrollout status`",
            ExitCode.NOT_SUCCEEDED,
        )
    if as_json:
        meta = {
            "generated_at": datetime.now(UTC).isoformat(),
            "fetch_seconds": round(seconds, 4),
            "client_setup_seconds": round(ready - began, 4),
            "aws_calls": dict(sorted(counter.calls.items())),
            "aws_calls_total": counter.calls.total(),
        }
        print(json.dumps({"endpoints": endpoints, "meta": meta}, indent=2, default=str))
        return
    if not endpoints:
        console.print("no endpoints yet: upload a model (mlrollout publish) to create one")
        return
    show(endpoints, console)
    count = len(endpoints)
    console.print(
        f"[dim]{count} endpoint{'s' if count != 1 else ''}, read in {seconds:.2f} s ({counter.calls.total()} AWS calls)"
    )


COLUMNS = (
    Column("endpoint", keep=True),
    Column("status", keep=True),
    Column("traffic"),
    Column("deployment", keep=True),
    Column("version", keep=True),
    Column("phase"),
    Column("queued"),
)


def show(endpoints: list[dict[str, Any]], console: Console) -> None:
    """One row an endpoint (output.show_table: whole ids on a terminal, tab-separated when piped), and under it
    what the row cannot hold: the config, a failure, the judge's last look in full and Plan's expectations."""
    rows, details = [], []
    for e in endpoints:
        rollout = e["rollout"] or {}
        traffic = ", ".join(
            f"{v['name']} {percent(v['weight_percent'])} {v['instance_type'] or '?'} x{v['instance_count']}"
            for v in e["variants"]
        )
        queued = ", ".join(f"{q['version'] or '?'} ({q['deployment_id']})" for q in e["queued"])
        rows.append(
            [
                e["name"],
                e["status"],
                traffic or "-",
                rollout.get("deployment_id") or "-",
                rollout.get("version") or "-",
                rollout.get("phase") or "-",
                queued or "-",
            ]
        )
        details.append("; ".join(_details(e)))
    show_table("endpoints", COLUMNS, rows, long="details", long_values=details, console=console)


def _details(endpoint: dict[str, Any]) -> list[str]:
    found = [f"config {endpoint['config']}"] if endpoint["config"] else []
    if endpoint["pending_config"]:
        found.append(f"updating to {endpoint['pending_config']}")
    if endpoint["failure_reason"]:
        found.append(f"failure: {endpoint['failure_reason']}")
    rollout = endpoint["rollout"]
    if rollout is not None:
        if rollout["verdict"]:
            found.append(f"last look: {rollout['verdict']}, {rollout['action']}: {rollout['reason']}")
        found += list(rollout.get("expected") or [])
        if rollout["lease_expired"]:
            found.append("lease expired")
    return found
