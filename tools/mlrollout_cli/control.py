"""Steering a running rollout, always through its state machine (never by editing the endpoint behind its back).

- `approve` / `reject`: answer a manual approval (`approval: manual`): the task token on the deployment record is
  sent back to Step Functions, which then lets traffic reach the candidate, or undoes it.
- `promote` / `abort`: a request on the deployment record that the judge applies at its next look: promotion by
  the normal Promote path (refused by the state machine if that look FAILs), or the normal rollback.
- `rollback ENDPOINT [--to VERSION]`: an earlier Approved version, uploaded again as a new rollout of its exact
  bytes, judged like any other.
- `watch DEPLOYMENT`: re-attach to a rollout (every look so far, then each new one) until it ends.
"""

from __future__ import annotations

import getpass
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from mlrollout.adapters.aws import error_code, error_message
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.extras import spinner
from mlrollout_cli.records import DecisionLines, decision_line, decisions_since, decisions_total, last_decision, phase

FOLLOW_SECONDS = 900.0
UNKNOWN_FIX = "the id is in every alert and in `mlrollout history MODEL`"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Operator:
    user: str
    identity: str | None

    @classmethod
    def of(cls, aws: Aws) -> Operator:
        try:
            identity = str(aws.client("sts").get_caller_identity()["Arn"])
        except Exception:  # who the caller is matters for the record, not for the action
            identity = None
        return cls(getpass.getuser(), identity)

    def as_record(self) -> dict[str, str]:
        return {"by": self.user, **({"identity": self.identity} if self.identity else {})}


def _records(aws: Aws, table: str | None) -> Any:
    from mlrollout.adapters.ledger import DynamoDeployments

    return DynamoDeployments(aws.client("dynamodb"), aws.deployments_table(table))


def _running(records: Any, deployment: str) -> dict[str, Any]:
    record = records.get(deployment)
    if record is None:
        raise CliError(f"no deployment {deployment} is recorded", UNKNOWN_FIX, ExitCode.USAGE)
    if record.get("outcome"):
        raise CliError(
            f"deployment {deployment} already ended: {record['outcome']} ({record.get('reason', 'no reason')})",
            f"see its looks with `mlrollout replay {deployment}`",
            ExitCode.NOT_SUCCEEDED,
        )
    return dict(record)


def _last_look(record: dict[str, Any]) -> str:
    last = last_decision(record)
    if last is None:
        return "the judge has not looked yet"
    return f"the judge's last look ({str(last.get('at', ''))[:19]}): {decision_line(last)}"


def follow(records: Any, deployment: str, *, console: Console, timeout: float = FOLLOW_SECONDS) -> dict[str, Any]:
    """Print each new decision of a deployment until its record has an outcome (or `timeout` seconds)."""
    seen, deadline, record, lines = 0, time.monotonic() + timeout, None, DecisionLines()
    with spinner(console, f"following {deployment}") as show:
        while time.monotonic() < deadline:
            record = records.get(deployment)
            if record is not None:
                for decision in decisions_since(record, seen):
                    for line in lines.add(decision):
                        console.print(f"  {line}", soft_wrap=True)
                seen = decisions_total(record)
                show(f"{deployment}: {phase(record)}")
                if record.get("outcome"):
                    for line in lines.flush():
                        console.print(f"  {line}", soft_wrap=True)
                    return dict(record)
            time.sleep(1.0)
    if record is None:
        raise CliError(
            f"deployment {deployment} has no record yet", "check that its upload's rollout runs: `mlrollout status`"
        )
    raise CliError(
        f"deployment {deployment} has not ended after {timeout:.0f} s; it is {record.get('state')}",
        f"the rollout goes on: re-attach with `mlrollout watch {deployment}`",
        ExitCode.NOT_SUCCEEDED,
    )


def _ended(console: Console, record: dict[str, Any], *, asked: str = "promoted") -> None:
    """The rollout's end, and exit code 0 only if it ended as the command asked (docs/operations.md)."""
    console.print(f"{record['deployment_id']}: {record['outcome']}: {record.get('reason', '')}", soft_wrap=True)
    if record["outcome"] != asked:
        raise typer.Exit(1)


def watch(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id (in every alert and in `mlrollout history`).")],
    timeout: Annotated[float, typer.Option(help="Seconds to follow before giving up (the rollout goes on).")] = 3600.0,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Follow a rollout, running or ended: every look of the judge so far, then each new one, until it ends; exit 0
    if it was promoted (docs/operations.md)."""
    records = _records(from_context(ctx), table)
    if records.get(deployment) is None:
        raise CliError(f"no deployment {deployment} is recorded", UNKNOWN_FIX, ExitCode.USAGE)
    _ended(Console(), follow(records, deployment, console=Console(), timeout=timeout))


# ---------------------------------------------------------------------------------------------- approve / reject
def _answer(ctx: typer.Context, deployment: str, approved: bool, note: str, table: str | None) -> tuple[Any, Any]:
    from mlrollout.adapters.executions import TaskTokens
    from mlrollout.domain.errors import TokenExpired

    aws = from_context(ctx)
    records = _records(aws, table)
    record = _running(records, deployment)
    approval = record.get("approval") or {}
    if record.get("state") != "awaiting_approval" or not approval.get("token"):
        raise CliError(
            f"deployment {deployment} is not waiting for an approval (it is {record.get('state')})",
            "only a model whose rollout.yaml says `approval: manual` waits for one",
            ExitCode.NOT_SUCCEEDED,
        )
    operator = Operator.of(aws)
    decision = {"approved": approved, "at": _now().isoformat(), "note": note, **operator.as_record()}
    if not records.decide_approval(deployment, decision, _now()):
        raise CliError(
            f"deployment {deployment} was answered meanwhile: {(records.get(deployment) or {}).get('approval')}",
            f"see `mlrollout watch {deployment}`",
            ExitCode.NOT_SUCCEEDED,
        )
    tokens = TaskTokens(aws.client("stepfunctions"))
    try:
        if approved:
            tokens.succeed(approval["token"], {"approved_by": operator.user, "note": note})
        else:
            why = f"rejected by {operator.user}" + (f": {note}" if note else "")
            tokens.fail(approval["token"], "ApprovalRejected", why)
    except TokenExpired:
        raise CliError(
            f"the approval of {deployment} was no longer awaited (it expired at {approval.get('expires_at')}): the "
            "rollout is being undone",
            "upload the version again to retry",
            ExitCode.NOT_SUCCEEDED,
        ) from None
    return aws, records


def approve(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id (in the approval alert).")],
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    wait: Annotated[bool, typer.Option(help="Follow the rollout until it ends.")] = True,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Let a rollout that waits for a manual approval send traffic to its candidate."""
    _, records = _answer(ctx, deployment, True, note, table)
    console = Console()
    console.print(f"approved {deployment}: the canary steps begin")
    if wait:
        _ended(console, follow(records, deployment, console=console))


def reject(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id (in the approval alert).")],
    reason: Annotated[str, typer.Option(help="Why, for the record and the alert.")] = "",
    wait: Annotated[bool, typer.Option(help="Wait until the candidate is undone.")] = True,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Refuse a rollout that waits for a manual approval: the candidate is undone and the version Rejected."""
    _, records = _answer(ctx, deployment, False, reason, table)
    console = Console()
    console.print(f"rejected {deployment}: the candidate is being undone")
    if wait:
        _ended(console, follow(records, deployment, console=console), asked="rolled_back")


# ---------------------------------------------------------------------------------------------- promote / abort
def _request(
    ctx: typer.Context, deployment: str, action: str, reason: str, yes: bool, wait: bool, table: str | None
) -> None:
    from mlrollout.domain.operator import OperatorRequest

    aws = from_context(ctx)
    records = _records(aws, table)
    record = _running(records, deployment)
    console = Console()
    if record.get("state") == "awaiting_approval":
        command = "approve" if action == "promote" else "reject"
        raise CliError(
            f"deployment {deployment} waits for its manual approval",
            f"run `mlrollout {command} {deployment}`",
            ExitCode.NOT_SUCCEEDED,
        )
    pending = record.get("operator_request")
    if pending:
        raise CliError(
            f"deployment {deployment} already has a request pending: {pending.get('action')} by {pending.get('by')}",
            "the judge applies it at its next look: `mlrollout watch " + deployment + "`",
            ExitCode.NOT_SUCCEEDED,
        )
    console.print(f"{deployment} ({record.get('model_name')} {record.get('version_label')} on "
                  f"{record.get('endpoint')}): {_last_look(record)}", soft_wrap=True)  # fmt: skip
    question = {
        "promote": "Skip the rest of the bake and promote it to all traffic?",
        "abort": "Roll it back now?",
    }[action]
    if not yes and not typer.confirm(question):
        raise typer.Exit(1)
    operator = Operator.of(aws)
    request = OperatorRequest(action=action, by=operator.user, at=_now().isoformat(), reason=reason)  # type: ignore[arg-type]
    if not records.request(deployment, {**request.as_record(), **operator.as_record()}, _now()):
        raise CliError(
            f"deployment {deployment} ended or got another request meanwhile",
            f"see `mlrollout watch {deployment}`",
            ExitCode.NOT_SUCCEEDED,
        )
    console.print(f"{action} requested: the judge applies it at its next look")
    if wait:
        asked = "promoted" if action == "promote" else "rolled_back"
        _ended(console, follow(records, deployment, console=console), asked=asked)


def promote(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id.")],
    reason: Annotated[str, typer.Option(help="Why, for the record and the alert.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow the rollout until it ends.")] = True,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Skip the rest of the bake: the state machine promotes at the judge's next look (unless that look FAILs)."""
    _request(ctx, deployment, "promote", reason, yes, wait, table)


def abort(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment id.")],
    reason: Annotated[str, typer.Option(help="Why, for the record and the alert.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow the rollout until it ends.")] = True,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Roll a canary back now: the state machine rolls back at the judge's next look."""
    _request(ctx, deployment, "abort", reason, yes, wait, table)


# ---------------------------------------------------------------------------------------------- rollback
@dataclass(frozen=True)
class ApprovedVersion:
    package_arn: str
    package_version: int
    version_label: str
    artifact: str
    artifact_version: str | None
    sha256: str
    endpoint: str | None
    created: datetime


def _approved_versions(sagemaker: Any, model: str) -> list[ApprovedVersion]:
    """The model's Approved packages that mlrollout registered, newest first."""
    summaries: list[dict[str, Any]] = []
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=model, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        summaries.extend(page.get("ModelPackageSummaryList", []))
    found = []
    for summary in summaries:
        described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        meta = described.get("CustomerMetadataProperties") or {}
        if "mlrollout:artifact" not in meta or "mlrollout:sha256" not in meta:
            continue
        version = meta.get("mlrollout:artifact-version")
        found.append(
            ApprovedVersion(
                package_arn=summary["ModelPackageArn"],
                package_version=int(summary.get("ModelPackageVersion") or 0),
                version_label=meta.get("mlrollout:version-label", ""),
                artifact=meta["mlrollout:artifact"],
                artifact_version=None if version in {None, "unversioned"} else version,
                sha256=meta["mlrollout:sha256"],
                endpoint=meta.get("mlrollout:endpoint"),
                created=summary["CreationTime"],
            )
        )
    return sorted(found, key=lambda v: (v.created, v.package_version), reverse=True)


def choose_target(versions: list[ApprovedVersion], endpoint: str, to: str | None) -> ApprovedVersion:
    """`to` (a version label, or a package version number), else the Approved version before the current one."""
    mine = [v for v in versions if v.endpoint in {None, endpoint}]
    if to is not None:
        for v in mine:
            if to in {v.version_label, str(v.package_version), f"v{v.package_version}"}:
                return v
        listed = ", ".join(f"{v.version_label} (package {v.package_version})" for v in mine) or "none"
        raise CliError(
            f"no Approved version {to!r} of endpoint {endpoint}",
            f"choose one of the Approved versions, newest first: {listed}",
            ExitCode.USAGE,
        )
    if len(mine) < 2:
        raise CliError(
            f"endpoint {endpoint} has no earlier Approved version to go back to (Approved: {len(mine)})",
            "see the versions with `mlrollout models`",
            ExitCode.USAGE,
        )
    return mine[1]


def rollback(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The endpoint to put back on an earlier version.")],
    to: Annotated[
        str | None, typer.Option("--to", help="The version label (e.g. v6) or package version; default: previous.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="The model (default: the endpoint's mlrollout:model tag).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow the rollout until it ends.")] = True,
    bucket: Annotated[str | None, typer.Option(help="Artifact bucket (default: the stack's).")] = None,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
) -> None:
    """Go back to the previous (or a named) Approved version, as a normal rollout judged like any other."""
    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.domain import naming

    aws = from_context(ctx)
    sagemaker = aws.client("sagemaker")
    console = Console()
    try:
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
    except sagemaker.exceptions.ClientError as exc:
        if error_code(exc) != "ValidationException":  # SageMaker's answer for a missing endpoint
            raise  # credentials, permissions: the error contract's (mlrollout_cli/errors.py)
        raise CliError(
            f"no endpoint {endpoint}: {error_message(exc)}", "see the endpoints: `mlrollout status`"
        ) from None
    if model is None:
        tags = sagemaker.list_tags(ResourceArn=described["EndpointArn"]).get("Tags", [])
        model = next((t["Value"] for t in tags if t["Key"] == "mlrollout:model"), None)
        if model is None:
            raise CliError(f"endpoint {endpoint} has no mlrollout:model tag", "name the model with --model")
    target = choose_target(_approved_versions(sagemaker, model), endpoint, to)
    console.print(
        f"{endpoint} goes back to {model} {target.version_label} (package {target.package_version}, "
        f"{target.artifact}, sha256 {target.sha256[:12]}) as a new rollout",
        soft_wrap=True,
    )
    if not yes and not typer.confirm("Start it?"):
        raise typer.Exit(1)
    request = f"rollback-{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    key = f"{naming.MODELS_PREFIX}{model}/{target.version_label}-{request}/{naming.ARTIFACT_FILE}"
    operator = Operator.of(aws)
    S3Artifacts(aws.client("s3")).copy(
        target.artifact,
        aws.bucket(bucket),
        key,
        version_id=target.artifact_version,
        metadata={
            naming.REDEPLOY_METADATA: request,
            "rollback-to": target.version_label,
            "requested-by": operator.user,
        },
    )
    deployment = naming.deployment_id(model, target.sha256, redeploy=request)
    console.print(f"uploaded s3://{aws.bucket(bucket)}/{key}: deployment {deployment}", soft_wrap=True)
    if wait:
        _ended(console, follow(_records(aws, table), deployment, console=console))
    else:
        print(json.dumps({"deployment_id": deployment, "artifact": f"s3://{aws.bucket(bucket)}/{key}"}))
