"""`mlrollout replay DEPLOYMENT`: every look of a rollout's judge, re-run from its decision records."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from mlrollout_cli.context import from_context
from mlrollout_cli.output import Column, show_table


def _override(thresholds: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    updated = dict(thresholds)
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        key = key.removeprefix("judge.")
        if key not in updated:
            raise typer.BadParameter(f"{key!r} is not a judge threshold; choose from {', '.join(sorted(updated))}")
        updated[key] = json.loads(value) if value[:1] in "[{tfn0123456789.-" else value
    return updated


def replay(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id (in every alert and in the registry).")],
    fresh: Annotated[
        bool, typer.Option(help="Query CloudWatch again for each look's window instead of the record.")
    ] = False,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Try another threshold, e.g. --set max_error_rate_ratio=1.5")
    ] = None,
    bucket: Annotated[str | None, typer.Option(help="Artifact bucket (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Re-run the judge on each stored look (or on fresh CloudWatch data for the same windows)."""
    from datetime import datetime

    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.adapters.metrics import CloudWatchMetrics, series_from_columns
    from mlrollout.domain.config import Judge
    from mlrollout.domain.judge import judge
    from mlrollout.services.evaluate import look_series

    aws = from_context(ctx)
    name = aws.bucket(bucket)
    s3 = aws.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=f"decisions/{deployment}/"):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    if not keys:
        raise typer.BadParameter(f"no decision records under s3://{name}/decisions/{deployment}/")
    artifacts = S3Artifacts(s3)
    rows: list[dict[str, Any]] = []
    for key in sorted(keys):
        record = artifacts.read_json(f"s3://{name}/{key}")
        thresholds = _override(record["thresholds"], set_ or [])
        limits = Judge.model_validate(thresholds)
        extras = limits.extra_metrics
        replayed = {"verdict": record["verdict"], "reason": record.get("judge_reason", record["reason"])}
        # A look before the first complete minute has nothing to re-judge: its recorded verdict stands.
        if "raw" in record:
            baseline, canary = record["baseline_variant"], record["canary_variant"]
            history = record.get("history")
            # Against history, the error dispersion the look assumed (its history's; 1 for two live variants).
            dispersion = float((history or {}).get("error_dispersion", 1.0))
            if fresh:
                fetched = look_series(
                    CloudWatchMetrics(aws.client("cloudwatch")),
                    record["endpoint"],
                    baseline,
                    canary,
                    (
                        datetime.fromisoformat(record["window"]["start"]),
                        datetime.fromisoformat(record["window"]["end"]),
                    ),
                    limits,
                    history_before=datetime.fromisoformat(history["window"]["end"]) if history else None,
                )
                series = {baseline: fetched.baseline, canary: fetched.canary}
                dispersion = fetched.dispersion_floor
            else:
                series = {
                    v: series_from_columns(v, record["raw"][v], list(limits.extra_metrics)) for v in (baseline, canary)
                }
            result = judge(
                series[baseline],
                series[canary],
                limits,
                design_periods=record["design_periods"],
                extras=extras,
                dispersion_floor=dispersion,
            )
            replayed = {"verdict": result.verdict.value, "reason": result.reason}
        rows.append(
            {
                "record": f"s3://{name}/{key}",
                "step": record["step_index"] + 1,
                "look": record["look"],
                "weight": record["weight"],
                "window": f"{record['window']['start'][11:16]}-{record['window']['end'][11:16]}",
                "recorded": record["verdict"],
                "replayed": replayed["verdict"],
                "changed": replayed["verdict"] != record["verdict"],
                "reason": replayed["reason"],
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    show_table(
        f"judge replay of {deployment}" + (" (fresh CloudWatch data)" if fresh else "") + " (each reason below)",
        [Column("look", keep=True), Column("weight", keep=True), Column("window", keep=True),
         Column("recorded", keep=True), Column("replayed", keep=True), Column("changed", keep=True)],
        [
            (f"{row['step']}.{row['look']}", f"{row['weight']:g}%", row["window"], row["recorded"], row["replayed"],
             "yes" if row["changed"] else "")
            for row in rows
        ],
        long="reason",
        long_values=[row["reason"] for row in rows],
    )  # fmt: skip
