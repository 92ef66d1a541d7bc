"""One error contract for every command: one `error: <what> (<how to fix>)` line on stderr (a JSON object on stdout
under `--json`), no traceback unless `--debug`, and an exit code from one table (docs/operations.md).

Commands raise what they meet (botocore's errors, pydantic's, the domain's); `describe` turns each into the line and
its code, once, here, instead of every command catching its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0  # done; for a command that follows a rollout, the rollout ended as asked (promoted, or rolled back on abort)
    NOT_SUCCEEDED = 1  # the rollout did not end as asked, or what the command needs does not exist or is not ready
    USAGE = 2  # bad arguments or input: an unknown option, a value that does not validate, a name that does not exist
    AWS_ACCESS = 3  # AWS cannot be reached or refuses us: credentials, profile, region, permissions, the network
    INTERRUPTED = 130  # Ctrl-C


@dataclass(eq=False)  # not frozen: raising an exception sets its __traceback__
class CliError(Exception):
    what: str
    fix: str | None = None
    code: ExitCode = ExitCode.USAGE

    def line(self) -> str:
        return f"error: {self.what}" + (f" ({self.fix})" if self.fix else "")

    def as_json(self) -> dict[str, Any]:
        return {"error": self.what, "fix": self.fix, "exit_code": int(self.code)}


# AWS error codes that mean "not you" (credentials or permissions), and those that mean "no such thing".
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
_MISSING = {"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "404", "ValidationException"}
CREDENTIALS_FIX = (
    'configure credentials with `aws configure` or --profile, or point at the sandbox: eval "$(mlrollout sandbox env)"'
)


def describe(exc: BaseException) -> CliError:
    """The error line and exit code for anything a command raised."""
    import botocore.exceptions as aws
    import pydantic
    import typer

    from mlrollout.domain.errors import ConfigInvalid, RolloutError

    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return CliError("interrupted", None, ExitCode.INTERRUPTED)
    if isinstance(exc, typer.Abort):
        return CliError("aborted", None, ExitCode.NOT_SUCCEEDED)
    if callable(getattr(exc, "format_message", None)) and isinstance(getattr(exc, "exit_code", None), int):
        # click's exceptions (typer vendors click, so by their shape): a usage error has exit code 2 and a context.
        context = getattr(exc, "ctx", None)
        command = getattr(context, "command_path", None) or "mlrollout"
        usage = getattr(exc, "exit_code", 1) == 2
        fix = f"see `{command} --help`" if usage else None
        message = str(getattr(exc, "format_message")())  # noqa: B009  (click's, known by its shape only)
        return CliError(message, fix, ExitCode.USAGE if usage else ExitCode.NOT_SUCCEEDED)
    if isinstance(exc, aws.ProfileNotFound):
        profile = exc.kwargs.get("profile")
        return CliError(f"the AWS profile {profile!r} is not configured", CREDENTIALS_FIX, ExitCode.AWS_ACCESS)
    if isinstance(exc, aws.NoCredentialsError | aws.PartialCredentialsError):
        return CliError("no AWS credentials were found", CREDENTIALS_FIX, ExitCode.AWS_ACCESS)
    if isinstance(exc, aws.NoRegionError):
        return CliError("no AWS region is set", "pass --region or set AWS_REGION", ExitCode.AWS_ACCESS)
    if isinstance(exc, aws.EndpointConnectionError | aws.ConnectTimeoutError | aws.ReadTimeoutError):
        return CliError(
            f"AWS could not be reached: {exc}",
            "check the network and --endpoint-url; for the sandbox, start it with: mlrollout sandbox up --detach",
            ExitCode.AWS_ACCESS,
        )
    if isinstance(exc, aws.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")) or str(exc)
        operation = getattr(exc, "operation_name", "the call")
        if code in _DENIED:
            return CliError(
                f"AWS refused {operation}: {code}: {message}",
                "check the credentials and that the IAM policy allows it; docs/operations.md lists what each "
                "command needs",
                ExitCode.AWS_ACCESS,
            )
        if code in _MISSING:
            return CliError(f"{operation}: {message}", "check the name or id", ExitCode.USAGE)
        return CliError(f"AWS answered {operation} with {code}: {message}", None, ExitCode.NOT_SUCCEEDED)
    if isinstance(exc, aws.BotoCoreError):
        return CliError(f"the AWS SDK failed: {exc}", None, ExitCode.AWS_ACCESS)
    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        return CliError(problems, "fix the value and run the command again", ExitCode.USAGE)
    if isinstance(exc, ConfigInvalid):
        return CliError(exc.reason, exc.fix, ExitCode.USAGE)
    if isinstance(exc, RolloutError):
        return CliError(exc.reason, exc.fix, ExitCode.NOT_SUCCEEDED)
    return CliError(f"{type(exc).__name__}: {exc}", "run again with --debug for the traceback", ExitCode.NOT_SUCCEEDED)
