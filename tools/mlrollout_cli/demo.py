"""`mlrollout demo`: the seven scenarios in the embedded sandbox, with live progress and a summary."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mlrollout_cli.errors import CliError


def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report instead of tables.")] = False,
    output: Annotated[Path, typer.Option(help="Where the timeline pictures and report go.")] = Path("demo-output"),
    warp: Annotated[float, typer.Option(help="Sandbox seconds per wall-clock second.")] = 600.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated traffic.")] = 7,
    pictures: Annotated[bool, typer.Option(help="Draw a timeline PNG per rollout.")] = True,
) -> None:
    """Run the demo: upload real artifacts and watch EventBridge, Step Functions and the Lambdas act."""
    from mlrollout_sandbox.demo import Demo, report
    from mlrollout_sandbox.session import ApplicationNotFound, Sandbox, application_root

    try:
        application_root()  # before anything starts: a missing application is the user's to fix
    except ApplicationNotFound as exc:
        raise CliError(exc.what, exc.fix) from None
    console = Console(stderr=as_json)
    began = time.monotonic()
    results = []
    with (
        console.status("starting the sandbox (moto on 127.0.0.1, deploying template.yaml)...") as status,
        Sandbox(warp=warp, seed=seed) as sandbox,
    ):
        started = sandbox.clock.now()
        console.log(
            f"sandbox up in {time.monotonic() - began:.1f} s: {len(sandbox.stack.resources)} resources of "
            f"stack {sandbox.stack_name}, bucket {sandbox.bucket}"
        )

        def progress(message: str) -> None:
            status.update(message)
            console.log(message)

        results = Demo(sandbox, output, progress, pictures=pictures).run()
    wall = time.monotonic() - began
    document = report(results, started, wall)
    output.mkdir(parents=True, exist_ok=True)
    (output / "report.json").write_text(json.dumps(document, indent=2, default=str))
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    else:
        table = Table(
            title=f"mlrollout demo: {sum(r.passed for r in results)}/{len(results)} as expected, {wall:.1f} s"
        )
        for column in ("#", "scenario", "outcome", "registry", "endpoint", "sns/slack", "time"):
            table.add_column(column, overflow="fold")
        for r in results:
            table.add_row(
                str(r.number),
                r.name,
                ("[green]" if r.passed else "[red]") + r.outcome,
                r.approval_status or "-",
                ", ".join(f"{k}={v:g}" for k, v in r.weights.items()) or "-",
                f"{len(r.alerts)}/{len(r.slack)}",
                f"{r.virtual_seconds / 60:.0f} min in {r.wall_seconds:.1f} s",
            )
        console.print(table)
        for r in results:
            console.print(f"[bold]{r.number}. {r.title}[/bold]: {r.reason}")
            if r.timeline_png:
                console.print(f"   timeline: {r.timeline_png}")
        console.print(f"report: {output / 'report.json'}")
    raise typer.Exit(0 if all(r.passed for r in results) else 1)
