"""Optional extras, imported only by the commands that use them, and what to say when one is missing; the
commands' shared ways of refusing and of showing progress."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import NoReturn

import typer
from rich.console import Console

SAGEMAKER_INSTALL = "pip install 'mlrollout[sagemaker]'"


def fail(message: str, code: int = 2) -> NoReturn:
    """A refusal the user can act on: `error: ...` on stderr, exit code 2 (bad input) unless told otherwise."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def sagemaker_sdk(*modules: str, needed_for: str, instead: str | None = None) -> list[ModuleType]:
    """The sagemaker SDK's modules (`"sagemaker"`, `"sagemaker.image_uris"`, ...), imported now; exits 2 naming
    the extra to install when the SDK is not there. `needed_for` completes "... through the sagemaker SDK";
    `instead` is the way to do without it, if there is one."""
    # sagemaker 2.257 warns about v3 on import and on every v2 class; the CLI chose v2, the user cannot act on it.
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # Its INFO logging (config files it did not find, printed on stdout; every job it creates) is not the
    # command's output. A level the user set is kept.
    for name in ("sagemaker", "sagemaker.config"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return [importlib.import_module(name) for name in modules]
    except ImportError:
        alternative = f", or {instead}" if instead else ""
        fail(f"{needed_for} through the sagemaker SDK, which is not installed: {SAGEMAKER_INSTALL}{alternative}")


def aws_call[T](call: Callable[[], T], action: str) -> T:
    """Run an AWS call; an error becomes a refusal naming what could not be done (nothing was started)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlrollout.adapters.aws import error_code, error_message

    try:
        result: T = call()
    except ClientError as exc:
        fail(f"cannot {action}: {error_code(exc)}: {error_message(exc)}")
    except BotoCoreError as exc:
        fail(f"cannot {action}: {exc}; check the AWS profile, region and credentials (--profile, --region)")
    return result


@contextmanager
def spinner(console: Console, text: str) -> Iterator[Callable[[str], None]]:
    """A spinner on a terminal (yields its update function); nothing at all in a pipe or a log, where rich
    would leave an empty line behind."""
    if not console.is_terminal:
        yield lambda _: None
        return
    with console.status(text) as status:
        yield status.update
