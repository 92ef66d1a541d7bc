"""`mlrollout`: the operator's command line."""

from __future__ import annotations

from typing import Annotated

import typer

from mlrollout_cli import baseline, control, cost, demo, history, init, publish, replay, sandbox, status
from mlrollout_cli.context import Aws

app = typer.Typer(
    help="mlrollout: safe, judged SageMaker rollouts from an S3 upload. Try `mlrollout demo`.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS CLI profile.")] = None,
    region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="AWS region.")] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(envvar="AWS_ENDPOINT_URL", help="Another AWS endpoint (the sandbox's).")
    ] = None,
    stack: Annotated[str, typer.Option(help="The mlrollout stack's name.")] = "mlrollout",
) -> None:
    ctx.obj = Aws(profile=profile, region=region, endpoint_url=endpoint_url, stack=stack)


app.command(name="demo")(demo.demo)
app.command(name="replay")(replay.replay)
app.command(name="history")(history.history)
app.command(name="status")(status.status)
app.command(name="publish")(publish.publish)
app.command(name="init")(init.init)
app.command(name="baseline")(baseline.baseline)
app.command(name="cost")(cost.cost)
for command in (control.approve, control.reject, control.promote, control.abort, control.rollback):
    app.command(name=command.__name__)(command)
app.add_typer(sandbox.app, name="sandbox")

if __name__ == "__main__":
    app()
