"""`mlrollout`: the operator's command line."""

from __future__ import annotations

import typer

from mlrollout_cli import demo, sandbox

app = typer.Typer(
    help="mlrollout: safe, judged SageMaker rollouts from an S3 upload. Try `mlrollout demo`.",
    no_args_is_help=True,
    add_completion=False,
)
app.command(name="demo")(demo.demo)
app.add_typer(sandbox.app, name="sandbox")

if __name__ == "__main__":
    app()
