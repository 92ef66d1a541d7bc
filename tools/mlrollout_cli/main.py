"""`mlrollout`: the operator's command line.

`run` is the entry point: it accepts the global options after the subcommand too, and turns whatever a command
raises into one error line and an exit code from one table (mlrollout_cli/errors.py, docs/operations.md).
"""

from __future__ import annotations

import json
import sys
import traceback
from importlib import metadata
from typing import Annotated

import typer

from mlrollout_cli import baseline, control, cost, demo, history, init, models, publish, replay, sandbox, status
from mlrollout_cli.context import Aws

app = typer.Typer(
    help="mlrollout: safe, judged SageMaker rollouts from an S3 upload. Try `mlrollout demo`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# The options of every command, accepted before or after the subcommand: name -> whether it takes a value.
GLOBAL_OPTIONS = {"--profile": True, "--region": True, "--endpoint-url": True, "--stack": True, "--debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlrollout {metadata.version('mlrollout')}")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS CLI profile.")] = None,
    region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="AWS region.")] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(envvar="AWS_ENDPOINT_URL", help="Another AWS endpoint (the sandbox's).")
    ] = None,
    stack: Annotated[str, typer.Option(help="The mlrollout stack's name.")] = "mlrollout",
    debug: Annotated[bool, typer.Option(help="Print the traceback of an error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Aws(profile=profile, region=region, endpoint_url=endpoint_url, stack=stack)


app.command(name="demo")(demo.demo)
app.command(name="replay")(replay.replay)
app.command(name="history")(history.history)
app.command(name="status")(status.status)
app.command(name="models")(models.models)
app.command(name="publish")(publish.publish)
app.command(name="init")(init.init)
app.command(name="baseline")(baseline.baseline)
app.command(name="cost")(cost.cost)
for command in (control.approve, control.reject, control.promote, control.abort, control.rollback, control.watch):
    app.command(name=command.__name__)(command)
app.add_typer(sandbox.app, name="sandbox")


def hoist(argv: list[str]) -> list[str]:
    """`argv` with the global options moved before the subcommand, wherever they were given (`mlrollout status
    --profile prod` is `mlrollout --profile prod status`); everything after `--` is left alone."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes_value = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(argv[index : index + 1 + takes_value])
            index += 1 + takes_value
            continue
        rest.append(arg)
        index += 1
    return front + rest


def run(argv: list[str] | None = None) -> int:
    """The `mlrollout` command: its exit code (mlrollout_cli/errors.ExitCode)."""
    from mlrollout_cli.errors import describe

    args = hoist(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app(args=args, prog_name="mlrollout", standalone_mode=False)
    except BaseException as exc:  # every error becomes one line and a code; SystemExit keeps its own
        if isinstance(exc, SystemExit):
            return int(exc.code or 0) if not isinstance(exc.code, str) else 1
        error = describe(exc)
        if "--debug" in args:
            traceback.print_exception(exc)
        if "--json" in args:
            sys.stdout.write(json.dumps(error.as_json()) + "\n")
        else:
            sys.stderr.write(error.line() + "\n")
        return int(error.code)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(run())
