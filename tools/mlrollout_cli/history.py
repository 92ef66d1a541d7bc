"""`mlrollout history [MODEL]`: what became of each upload (of a model, or of every model), newest first, from the
deployment records: outcome, reason and how long it took."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mlrollout_cli.context import from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.output import Column, show_table
from mlrollout_cli.records import decisions_total


def history(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Argument(help="The model name (the folder under models/); every model's when left out.")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Show one deployment in full (its decisions and duplicates).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many uploads to list.")] = 20,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List uploads with their outcome, reason and duration (or one deployment with every decision)."""
    from mlrollout.adapters.ledger import DynamoDeployments

    aws = from_context(ctx)
    records = DynamoDeployments(aws.client("dynamodb"), aws.deployments_table(table))
    console = Console()
    if deployment is not None:
        found = records.get(deployment)
        if found is None or (model is not None and found.get("model_name") != model):
            raise CliError(
                f"no deployment {deployment}" + (f" of model {model}" if model else "") + " is recorded",
                "see `mlrollout history MODEL` for the ids",
                ExitCode.USAGE,
            )
        _print_one(console, found, as_json)
        return
    rows = records.by_model(model, limit) if model is not None else records.recent(limit)
    if not rows and model is not None:
        # The same answer as a table or JSON: most likely a mistyped name.
        raise CliError(
            f"no uploads of model {model} are recorded",
            "check the name; `mlrollout history` lists every model's uploads",
            ExitCode.USAGE,
        )
    for row in rows:
        row["duration_seconds"] = duration_seconds(row)
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        console.print("no uploads are recorded yet")
        return
    which = () if model else (Column("model", keep=True),)
    columns = (
        Column("received", keep=True),
        *which,
        Column("version", keep=True),
        Column("deployment", keep=True),
        Column("outcome", keep=True),
        Column("took", keep=True),
    )
    show_table(
        f"{model or 'every model'}: uploads, newest first (each reason below)",
        columns,
        [
            (
                str(row.get("created_at", ""))[:19],
                *(() if model else (str(row.get("model_name", "-")),)),
                str(row.get("version_label", "-")),
                str(row.get("deployment_id")),
                # One column: the outcome once there is one, the state while it runs (they used to repeat).
                str(row.get("outcome") or f"({row.get('state', 'running')})"),
                _took(row["duration_seconds"]),
            )
            for row in rows
        ],
        long="reason",
        long_values=[str(row.get("reason", "")) for row in rows],
        key=len(columns) - 3,
        console=console,
    )


def duration_seconds(record: dict[str, Any]) -> float | None:
    """From the upload's record to its outcome (None while it runs)."""
    began, ended = record.get("created_at"), record.get("ended_at")
    if not began or not ended:
        return None
    return round((datetime.fromisoformat(str(ended)) - datetime.fromisoformat(str(began))).total_seconds(), 1)


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:g} s"


def _print_one(console: Console, record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(record, indent=2, default=str))
        return
    for key in ("deployment_id", "model_name", "version_label", "endpoint", "artifact", "sha256", "state", "outcome"):
        console.print(f"{key}: {record.get(key, '-')}", soft_wrap=True)
    console.print(f"reason: {record.get('reason', '-')}")
    console.print(f"received {record.get('created_at')}, ended {record.get('ended_at', '(running)')}")
    decisions = record.get("decisions") or []
    total = decisions_total(record)
    if decisions:
        shown = f"the last {len(decisions)} of {total} decisions (every look: s3://<bucket>/decisions/<deployment>/)"
        looks = Table(title=shown if total > len(decisions) else "decisions")
        for column in ("at", "step", "weight", "verdict", "action", "reason"):
            looks.add_column(column, overflow="fold")
        for d in decisions:
            looks.add_row(
                str(d.get("at", ""))[:19], str(d.get("step")), f"{d.get('weight')}%", str(d.get("verdict")),
                str(d.get("action")), str(d.get("reason", ""))[:160],
            )  # fmt: skip
        console.print(looks)
    for duplicate in record.get("duplicates") or []:
        console.print(
            f"duplicate upload {duplicate.get('artifact')} at {duplicate.get('at')}: not rolled out again",
            soft_wrap=True,
        )
