"""`mlrollout replay DEPLOYMENT`: every look of a rollout's judge, re-run from its decision records."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlrollout_cli.context import from_context
from mlrollout_cli.errors import CliError
from mlrollout_cli.output import Column, show_table

if TYPE_CHECKING:
    from mlrollout.contracts import DecisionRecord


def _override(thresholds: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    updated = dict(thresholds)
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        key = key.removeprefix("judge.")
        if key not in updated:
            raise typer.BadParameter(f"{key!r} is not a judge threshold; choose from {', '.join(sorted(updated))}")
        updated[key] = json.loads(value) if value[:1] in "[{tfn0123456789.-" else value
    return updated


def read_record(uri: str, data: Any) -> DecisionRecord:
    """A stored look as the typed record; one that does not parse is named with its first problem."""
    import pydantic

    from mlrollout.contracts import DecisionRecord

    try:
        return DecisionRecord.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the record"
        raise CliError(
            f"{uri} is not a decision record this version reads ({where}: {first['msg']})",
            "replay it with the mlrollout version that wrote it, or remove the object if it is not a look's record",
        ) from None


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
    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.adapters.metrics import CloudWatchMetrics, series_from_columns
    from mlrollout.domain.config import Judge
    from mlrollout.domain.judge import judge_look
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
        uri = f"s3://{name}/{key}"
        record = read_record(uri, artifacts.read_json(uri))
        limits = Judge.model_validate(_override(record.thresholds, set_ or []))
        replayed = {
            "verdict": record.verdict.value,
            "reason": record.reason if record.judge_reason is None else record.judge_reason,
        }
        # A look before the first complete minute has nothing to re-judge: its recorded verdict stands.
        if record.raw is not None:
            baseline, canary = record.baseline_variant or "", record.canary_variant
            history = record.history
            # Against history, the error dispersion the look assumed (its history's; 1 for two live variants).
            dispersion = history.error_dispersion if history else 1.0
            if fresh:
                fetched = look_series(
                    CloudWatchMetrics(aws.client("cloudwatch")),
                    record.endpoint,
                    baseline,
                    canary,
                    (record.window.start, record.window.end),
                    limits,
                    history_before=history.window.end if history else None,
                )
                series = {baseline: fetched.baseline, canary: fetched.canary}
                dispersion = fetched.dispersion_floor
            else:
                series = {
                    v: series_from_columns(v, record.raw[v], list(limits.extra_metrics)) for v in (baseline, canary)
                }
            result = judge_look(
                series[baseline],
                series[canary],
                limits,
                design_periods=record.design_periods,
                dispersion_floor=dispersion,
                against_history=record.against_history,
            )
            replayed = {"verdict": result.verdict.value, "reason": result.reason}
        rows.append(
            {
                "record": uri,
                "step": record.step_index + 1,
                "look": record.look,
                "weight": record.weight,
                "window": f"{record.window.start:%H:%M}-{record.window.end:%H:%M}",
                "recorded": record.verdict.value,
                "replayed": replayed["verdict"],
                "changed": replayed["verdict"] != record.verdict.value,
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
