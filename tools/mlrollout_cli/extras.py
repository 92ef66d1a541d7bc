"""Optional extras, imported only by the commands that use them, and what to say when one is missing; the
commands' shared ways of refusing and of showing progress."""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rich.console import Console

from mlrollout_cli.errors import CliError, ExitCode

SAGEMAKER_INSTALL = "pip install 'mlrollout[sagemaker]'"

# Where each part of the sagemaker SDK the CLI uses lives, newest major first. SDK 3.x moved what it kept of 2.x
# under `sagemaker.core` (the sagemaker-core distribution, 2.x, which the `sagemaker` 3.x meta-package installs
# with sagemaker-train, -serve and -mlops), with the 2.x signatures; 3.x answers an import of a 2.x path with a
# ModuleNotFoundError that names the new one, so the 2.x paths are only tried when `sagemaker.core` is absent.
_IMAGE_URIS: dict[int, tuple[str, ...]] = {3: ("sagemaker.core.image_uris",), 2: ("sagemaker.image_uris",)}
_MODEL_MONITOR: dict[int, tuple[str, ...]] = {
    3: ("sagemaker.core.helper.session_helper", "sagemaker.core.model_monitor", "sagemaker.core.exceptions"),
    2: ("sagemaker.session", "sagemaker.model_monitor", "sagemaker.exceptions"),
}


@dataclass(frozen=True)
class ImageUris:
    """The SDK's registry of SageMaker's framework images: `retrieve(framework, region, version=, ...)`."""

    major: int  # the SDK major version whose module paths were found
    retrieve: Callable[..., str]


@dataclass(frozen=True)
class ModelMonitorSdk:
    """What a baselining job takes, under the SDK's own names: `Session(boto_session=, sagemaker_client=)`,
    `DefaultModelMonitor(...)` and its `DatasetFormat`, and the exception a job that did not complete raises."""

    major: int
    Session: Any
    DefaultModelMonitor: Any
    DatasetFormat: Any
    UnexpectedStatusException: type[Exception]


def sagemaker_image_uris(*, needed_for: str, instead: str | None = None) -> ImageUris:
    """The SDK's image registry, from 3.x or 2.x; refuses naming the extra to install when there is neither.
    `needed_for` completes "... through the sagemaker SDK"; `instead` is the way to do without it, if any."""
    major, (module,) = _sagemaker_modules(_IMAGE_URIS, needed_for, instead)
    return ImageUris(major, module.retrieve)


def sagemaker_model_monitor(*, needed_for: str, instead: str | None = None) -> ModelMonitorSdk:
    """Model Monitor's baselining through the SDK, from 3.x or 2.x (same classes, same signatures)."""
    major, (session, monitor, errors) = _sagemaker_modules(_MODEL_MONITOR, needed_for, instead)
    return ModelMonitorSdk(
        major, session.Session, monitor.DefaultModelMonitor, monitor.DatasetFormat, errors.UnexpectedStatusException
    )


def _sagemaker_modules(
    layouts: dict[int, tuple[str, ...]], needed_for: str, instead: str | None
) -> tuple[int, list[ModuleType]]:
    # sagemaker 2.257 warns about v3 on import and on every v2 class; the user chose the version, nothing to act on.
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # Its INFO logging (config files it did not find, printed on stdout; every job it creates) is not the
    # command's output. A level the user set is kept.
    for name in ("sagemaker", "sagemaker.config"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    for major, names in layouts.items():
        try:
            with warnings.catch_warnings():  # both majors ship modules with invalid escape sequences
                warnings.simplefilter("ignore", SyntaxWarning)
                return major, [importlib.import_module(name) for name in names]
        except ModuleNotFoundError as exc:
            # This major's packages are not there (or the extra is not installed at all): try the next. Anything
            # else missing is a broken installation, not an absent one.
            if not any(exc.name is not None and (name + ".").startswith(exc.name + ".") for name in names):
                raise CliError(
                    f"the sagemaker SDK is installed but cannot be imported: {exc}",
                    f"reinstall it: {SAGEMAKER_INSTALL}",
                    ExitCode.USAGE,
                ) from exc
    alternative = f", or {instead}" if instead else ""
    raise CliError(f"{needed_for} through the sagemaker SDK, which is not installed", SAGEMAKER_INSTALL + alternative)


def aws_call[T](call: Callable[[], T], action: str) -> T:
    """Run an AWS call; an error becomes the error contract's line naming what could not be done (nothing was
    started), with the code of what AWS said (3 for credentials and permissions, mlrollout_cli/errors.py)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlrollout_cli.errors import describe

    try:
        result: T = call()
    except (ClientError, BotoCoreError) as exc:
        said = describe(exc)
        raise CliError(f"cannot {action}: {said.what}", said.fix, said.code) from exc
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
