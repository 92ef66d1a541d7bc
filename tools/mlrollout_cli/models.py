"""`mlrollout models`: every model of the stack, one row each: its endpoint, the version serving now, its latest
deployment and whether drift monitoring is attached.

The models are the folders under models/ in the artifact bucket (every model starts there: its rollout.yaml and its
uploads), so a model configured or uploaded but not deployed yet is listed too. The rest, in a fixed number of round
trips besides one Query a model:
- S3: one listing of models/ (ListObjectsV2, 1,000 keys a page): each model's rollout.yaml and version folders;
- the deployments table: the model's newest records (its `by-model` index), run concurrently; the version serving
  now is the newest promoted one, with the registry's package number from its model package's ARN, which ends in
  the version (https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-models.html);
- SageMaker: ListEndpoints once (an endpoint deleted by hand serves nothing), ListMonitoringSchedules once (the
  model-monitor drift backend);
- EventBridge Scheduler: ListSchedules once (the builtin drift backend's schedules, naming.drift_schedule_name).
Drift monitoring is extra: when either listing is refused, its column says `?` instead of failing the command.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrollout.adapters.artifacts import S3Artifacts
from mlrollout.adapters.endpoints import SageMakerEndpoints
from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout.domain import naming
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.output import Column, show_table
from mlrollout_cli.status import WORKERS

# How many of a model's newest records are read to find the version serving now: a model rolled back or rejected
# more times in a row than this shows `?` there (`mlrollout history MODEL` lists them all).
RECENT = 25
PROMOTED = "promoted"
FIRST_PUBLISH = "mlrollout publish MODEL_DIR --model NAME --image URI"


def models(
    ctx: typer.Context,
    bucket: Annotated[str | None, typer.Option(help="Artifact bucket (default: the stack's).")] = None,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the models of the stack: endpoint, version serving now, latest deployment, drift monitoring."""
    aws = from_context(ctx)
    found = gather(aws, bucket=aws.bucket(bucket), deployments_table=aws.deployments_table(table))
    if as_json:
        print(json.dumps(found, indent=2, default=str))
        return
    console = Console()
    if not found:
        console.print(f"no models yet: publish the first one with `{FIRST_PUBLISH}`", soft_wrap=True)
        return
    show_table(
        "models (each note below)",
        (
            Column("model", keep=True),
            Column("endpoint", keep=True),
            Column("serving", keep=True),
            Column("latest", keep=True),
            Column("at", keep=True),
            Column("drift", keep=True),
        ),
        [
            (m["model"], m["endpoint"], _serving(m), _latest(m), str(m["latest_at"] or "-")[:19], m["drift"] or "?")
            for m in found
        ],
        long="note",
        long_values=[m["note"] for m in found],
        console=console,
    )


def gather(aws: Aws, *, bucket: str, deployments_table: str, workers: int = WORKERS) -> list[dict[str, Any]]:
    """One dict a model under models/ in `bucket`, by name."""
    folders = _folders(S3Artifacts(aws.client("s3")).keys(bucket, naming.MODELS_PREFIX))
    if not folders:
        return []
    records = DynamoDeployments(aws.client("dynamodb"), deployments_table)
    # Clients are made here, not in the pool's threads: a boto3 session is not safe to make them concurrently.
    sagemaker, scheduler = aws.client("sagemaker"), aws.client("scheduler")
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="models") as pool:
        histories = {name: pool.submit(records.by_model, name, RECENT) for name in folders}
        endpoints = pool.submit(SageMakerEndpoints(sagemaker).names)
        drift = pool.submit(_drift_schedules, sagemaker, scheduler)
        live = set(endpoints.result())
        watched = drift.result()
        return [_model(name, folders[name], histories[name].result(), live, watched) for name in sorted(folders)]


def _folders(keys: list[str]) -> dict[str, dict[str, Any]]:
    """What the bucket holds of each model: whether it has a rollout.yaml, and its uploads' version folders."""
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        model, _, rest = key.removeprefix(naming.MODELS_PREFIX).partition("/")
        if not model or not rest:
            continue
        entry = found.setdefault(model, {"config": False, "versions": []})
        if rest == naming.CONFIG_FILE:
            entry["config"] = True
        elif rest.endswith(f"/{naming.ARTIFACT_FILE}") and rest.count("/") == 1:
            entry["versions"].append(rest.split("/", 1)[0])
    return found


def _drift_schedules(sagemaker: Any, scheduler: Any) -> dict[str, set[str]] | None:
    """The names of the drift schedules of each backend, or None when a listing is refused (then unknown)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        monitor: set[str] = set()
        for page in sagemaker.get_paginator("list_monitoring_schedules").paginate():
            monitor.update(s["MonitoringScheduleName"] for s in page.get("MonitoringScheduleSummaries", []))
        builtin: set[str] = set()
        for page in scheduler.get_paginator("list_schedules").paginate():
            builtin.update(s["Name"] for s in page.get("Schedules", []) if s.get("State", "ENABLED") == "ENABLED")
    except (ClientError, BotoCoreError):
        return None
    return {"builtin": builtin, "model-monitor": monitor}


def _model(
    name: str,
    folder: dict[str, Any],
    records: list[dict[str, Any]],
    live: set[str],
    drift: dict[str, set[str]] | None,
) -> dict[str, Any]:
    latest = records[0] if records else None
    promoted = next((r for r in records if r.get("outcome") == PROMOTED), None)
    # Where the model serves; before any rollout, the default the pipeline uses (rollout.yaml's endpoint_name may
    # name another one: reading every model's file is not worth a row).
    endpoint = str((promoted or latest or {}).get("endpoint") or name)
    exists = endpoint in live
    serving = promoted if exists else None  # an endpoint deleted since its promotion serves nothing
    last = latest or {}
    return {
        "model": name,
        "endpoint": endpoint,
        "endpoint_exists": exists,
        "serving_version": serving.get("version_label") if serving else None,
        "serving_package": package_number(serving.get("model_package_arn")) if serving else None,
        "serving_deployment": serving.get("deployment_id") if serving else None,
        "latest_deployment": last.get("deployment_id"),
        "latest_version": _label(last),
        "latest_outcome": last.get("outcome"),
        "latest_state": last.get("state"),
        "latest_at": last.get("ended_at") or last.get("updated_at") or last.get("created_at"),
        "drift": _drift(endpoint, drift),
        "has_config": folder["config"],
        "uploaded_versions": sorted(folder["versions"]),
        "note": _note(name, folder, latest, promoted, exists, len(records)),
    }


def _label(record: dict[str, Any]) -> str | None:
    """The record's version label; for an upload rejected before it was validated (whose record has none), the
    version folder of its key."""
    if record.get("version_label"):
        return str(record["version_label"])
    parts = str(record.get("artifact") or "").removeprefix("s3://").split("/")
    return parts[3] if len(parts) >= 5 and parts[1] + "/" == naming.MODELS_PREFIX else None


def _drift(endpoint: str, schedules: dict[str, set[str]] | None) -> str | None:
    """The drift backend whose schedule watches `endpoint` (services/monitoring.py names them), `no`, or None
    when the schedules could not be listed."""
    if schedules is None:
        return None
    if naming.drift_schedule_name(endpoint) in schedules["builtin"]:
        return "builtin"
    if naming.monitoring_schedule_name(endpoint) in schedules["model-monitor"]:
        return "model-monitor"
    return "no"


def package_number(arn: Any) -> int | None:
    """The version of a model package in its group: the last part of its ARN."""
    tail = str(arn or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _note(
    name: str,
    folder: dict[str, Any],
    latest: dict[str, Any] | None,
    promoted: dict[str, Any] | None,
    exists: bool,
    read: int,
) -> str:
    if latest is None:
        if folder["versions"]:
            return (
                f"uploaded ({', '.join(sorted(folder['versions']))}) but no deployment is recorded yet: the pipeline "
                f"has not picked it up (see `mlrollout status`)"
            )
        if folder["config"]:
            return f"configured, no deployment yet: publish a version with `mlrollout publish MODEL_DIR --model {name}`"
        return "nothing deployable under its folder yet"
    if not folder["config"]:
        return f"no rollout.yaml: its next upload is rejected until `mlrollout init --model {name} ... --upload`"
    if promoted is not None and not exists:
        return (
            f"endpoint {promoted.get('endpoint')} no longer exists (it served {promoted.get('version_label')}): "
            "nothing of this model serves"
        )
    if promoted is None and read >= RECENT:
        return f"no promotion among its last {RECENT} uploads: see `mlrollout history {name}`"
    return str(latest.get("reason") or "")


def _serving(model: dict[str, Any]) -> str:
    version = model["serving_version"]
    if version is None:
        return "-"
    package = model["serving_package"]
    return f"{version} (package {package})" if package is not None else str(version)


def _latest(model: dict[str, Any]) -> str:
    if model["latest_deployment"] is None:
        return "no deployment yet"
    # The outcome once there is one, the state while it runs (as `mlrollout history` shows them).
    outcome = model["latest_outcome"] or f"({model['latest_state'] or 'running'})"
    return f"{model['latest_version'] or '?'} {outcome}"
