"""`mlrollout publish MODEL_DIR --model NAME`: package, upload, and follow the rollout the upload starts.

1. Package the directory as SageMaker's model.tar.gz (`mlrollout_files.package`: deterministic, so the same
   directory is the same deployment) and check it as Validate Artifact will (`inspect_artifact`).
2. Check what the pipeline would refuse before anything is uploaded: the version folder, the object metadata
   (the registry's characters and lengths), the model's rollout.yaml (created from --image/--framework when the
   model has none), and whether these bytes were uploaded before (then it says which deployment they were).
3. Upload to s3://<bucket>/models/<model>/<version>/model.tar.gz with metadata (git sha, user, notes, sha256).
4. Follow the deployment record (the id is the pipeline's, from the model and the sha256) until it ends, printing
   Plan's estimate of how long each phase needs (and its warning when the rollout cannot decide in time) and
   each decision of the judge; exit 0 when promoted, 1 otherwise. Refusals before the upload exit 2.

`--dry-run` stops before step 3 and reads, writing nothing: it runs the pipeline's own Validate Artifact on the
package and the rollout.yaml as the bucket would hold them after the upload (with the stack's settings), and its Plan
Deployment on the endpoint, and prints the plan: the phases with their traffic, bake and deadline, the approval, and
Plan's estimate at the endpoint's current traffic. Exit 0 when the pipeline would roll it out, 2 when it would
refuse it (1 for bytes uploaded before, as without --dry-run). Without a stack to read (no bucket found), only the
local checks run, and it says so.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, NamedTuple, NoReturn

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from mlrollout.adapters.artifacts import S3Artifacts
from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout.domain import naming
from mlrollout.domain.artifact import inspect_artifact
from mlrollout.domain.errors import ArtifactInvalid, ConfigInvalid
from mlrollout.domain.ledger import upload_id
from mlrollout.ports import ObjectHead
from mlrollout_cli import init as init_command
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.errors import CliError
from mlrollout_cli.extras import aws_call, spinner
from mlrollout_cli.records import DecisionLines, clip, decisions_since, decisions_total, estimate_lines, phase
from mlrollout_files.package import Package, PackageInvalid, write_package

if TYPE_CHECKING:
    from mlrollout.contracts import PlanEstimate
    from mlrollout.domain.config import RolloutConfig
    from mlrollout.settings import Settings

PROMOTED = "promoted"
SHA256 = "sha256"  # the metadata entry with the archive's sha256 (how the upload is recognised afterwards)
NO_LIMIT = 1 << 40  # the stack's MaxArtifactMiB is not known here; Validate Artifact applies it
# S3 sends metadata as HTTP headers: keys are header names (lowercased by S3), values ASCII.
METADATA_KEY = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
USER_CHARACTERS = re.compile(r"[^\w.@+-]+", re.ASCII)
VERSION_FOLDER = re.compile(r"/v(?P<n>[0-9]+)/$")


@dataclass
class Published:
    model: str
    version: str
    bucket: str
    key: str
    version_id: str | None
    sha256: str
    deployment_id: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def rejected_id(self) -> str:
        """The record id of an upload rejected before the pipeline read its bytes."""
        return upload_id(self.bucket, self.key, self.version_id)


def publish(
    ctx: typer.Context,
    model_dir: Annotated[
        Path,
        typer.Argument(
            help="The model directory: model files at its root, the inference script in code/inference.py "
            "(and code/requirements.txt).",
            show_default=False,
        ),
    ],
    model: Annotated[str, typer.Option(help="The model name (its folder under models/ in the bucket).")],
    version: Annotated[
        str | None, typer.Option(help="The version folder (default: the next vN after the bucket's).")
    ] = None,
    notes: Annotated[str | None, typer.Option(help="A note for the model registry (x-amz-meta-notes).")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", help="More x-amz-meta-* entries, KEY=VALUE (repeatable).")
    ] = None,
    code: Annotated[
        Path | None, typer.Option(help="A folder whose files go under code/ (instead of MODEL_DIR/code).")
    ] = None,
    no_code: Annotated[
        bool, typer.Option("--no-code", help="Allow a package without code/inference.py (the image serves it).")
    ] = False,
    image: Annotated[
        str | None, typer.Option(help="Serving image for the rollout.yaml, when the model has none yet.")
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(help="Or find that image: SageMaker's framework image (pytorch, ...), as `mlrollout init`."),
    ] = None,
    framework_version: Annotated[str | None, typer.Option(help="The framework's version, with --framework.")] = None,
    py_version: Annotated[str | None, typer.Option(help="The image's Python (py311), with --framework.")] = None,
    instance_type: Annotated[
        str, typer.Option(help="Instance type, for a new rollout.yaml.")
    ] = init_command.DEFAULT_INSTANCE_TYPE,
    wait: Annotated[bool, typer.Option(help="Follow the rollout until it ends (--no-wait: upload and return).")] = True,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between looks at the record.")] = 3.0,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Stop following after this many minutes (the rollout goes on).")
    ] = None,
    start_timeout: Annotated[
        float, typer.Option(min=0, help="Minutes to wait for the pipeline to record the upload at all.")
    ] = 15.0,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Check everything the pipeline would and print the rollout's plan; upload nothing, start nothing.",
        ),
    ] = False,
    bucket: Annotated[str | None, typer.Option(help="Artifact bucket (default: the stack's).")] = None,
    table: Annotated[str | None, typer.Option(help="Deployments table (default: the stack's).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON document at the end (progress on stderr).")
    ] = False,
) -> None:
    """Package MODEL_DIR as model.tar.gz, upload it for MODEL, and follow its rollout to the outcome."""
    console = Console(stderr=as_json, highlight=False, markup=False, soft_wrap=True)
    if problem := naming.sagemaker_name_problem(model):
        raise CliError(f"--model {problem}", f"e.g. --model {naming.suggest_name(model)}")
    if version is not None:
        _check_key(f"{naming.MODELS_PREFIX}{model}/{version}/{naming.ARTIFACT_FILE}")
    entries = upload_metadata(model_dir, notes, metadata or [])
    with tempfile.TemporaryDirectory(prefix="mlrollout-") as scratch:
        archive = Path(scratch) / naming.ARTIFACT_FILE
        with spinner(console, f"packaging {model_dir}"):
            package = _package(archive, model_dir, code=code, require_code=not no_code)
        entries[SHA256] = package.sha256
        # The pipeline's id: the model and the bytes (and a redeploy request's token, as `mlrollout rollback` sets).
        deployment = naming.deployment_id(model, package.sha256, redeploy=entries.get(naming.REDEPLOY_METADATA))
        console.print(
            f"packaged {len(package.files)} files from {model_dir}: {package.size:,} bytes, sha256 {package.sha256}"
        )
        console.print(f"deployment {deployment}")
        serving = Serving(image, framework, framework_version, py_version, instance_type)
        if dry_run:
            candidate = Candidate(model, version, archive, package, entries, deployment)
            dry_run_plan(from_context(ctx), console, candidate, serving, bucket=bucket, table=table, as_json=as_json)
            return
        aws = from_context(ctx)
        bucket_name = aws.bucket(bucket)
        dynamodb = aws_call(lambda: aws.client("dynamodb"), "reach AWS")
        records = DynamoDeployments(dynamodb, aws.deployments_table(table))
        config = _config(aws, console, bucket_name, model, serving)
        _check_artifact(archive, config.framework)
        _refuse_duplicate(records, deployment, console, as_json)
        published = _upload(aws, console, bucket_name, model, version, archive, package, entries, deployment)
    console.print(f"uploaded {published.uri} (object version {published.version_id or '-'})")
    if not wait:
        console.print(f"follow it with: mlrollout history {model} --deployment {deployment}")
        _finish(as_json, published, None)
        return
    record = follow(
        records, published, console, interval=interval, timeout=timeout, start_timeout=start_timeout, as_json=as_json
    )
    _finish(as_json, published, record)
    raise typer.Exit(0 if record.get("outcome") == PROMOTED else 1)


# ------------------------------------------------------------------------------------------------- checks


def _check_key(key: str) -> None:
    try:
        naming.parse_artifact_key(key)
    except ArtifactInvalid as exc:
        raise CliError(exc.reason, exc.fix) from None


def upload_metadata(model_dir: Path, notes: str | None, extra: list[str]) -> dict[str, str]:
    """x-amz-meta-* entries: the directory's git commit, who published, the notes, and --metadata; held to the
    rules Validate Artifact applies (the model registry's characters and lengths) and to what S3 can send."""
    # The pipeline's own rule (and its imports: pydantic contracts), loaded by the command that needs them.
    from mlrollout.domain.naming import MAX_METADATA_VALUE
    from mlrollout.services.validate import MAX_METADATA_ITEMS, checked_metadata

    entries: dict[str, str] = {}
    entries.update(_git(model_dir))
    try:
        user = USER_CHARACTERS.sub("-", getpass.getuser()).strip("-")
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = ""
    if user:
        entries["user"] = user[:256]
    if notes is not None:
        entries["notes"] = notes
    for item in extra:
        key, equals, value = item.partition("=")
        key = key.strip().lower()
        if not equals or not key:
            raise CliError(
                f"--metadata {item!r} is not KEY=VALUE", "write it as KEY=VALUE, e.g. --metadata ticket=ML-1234"
            )
        if not METADATA_KEY.match(key):
            raise CliError(
                f"--metadata {item!r}: keys are letters, digits and _.+- (S3 sends them as HTTP header names)",
                "rename the key",
            )
        entries[key] = value
    for key, value in entries.items():
        if not value.isascii():
            raise CliError(
                f"metadata {key!r} is not ASCII", "S3 carries metadata in HTTP headers, so write it without accents"
            )
    try:
        checked_metadata({**entries, SHA256: "0" * 64})  # with the entry publish adds once it has packaged
    except ArtifactInvalid as exc:
        raise CliError(
            exc.reason,
            f"write --notes and --metadata with only {naming.REGISTRY_TEXT_RULE}, values of 1 to "
            f"{MAX_METADATA_VALUE} characters, {MAX_METADATA_ITEMS} entries in all",
        ) from None
    return entries


def _git(model_dir: Path) -> dict[str, str]:
    """The commit the directory is at and whether it has uncommitted changes; nothing outside a repository.
    Read-only: --no-optional-locks keeps `git status` from refreshing the index."""

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(  # noqa: S603  (git, fixed arguments)
                ["git", "-C", str(model_dir), "--no-optional-locks", *args],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if not model_dir.is_dir():
        return {}
    sha = run("rev-parse", "HEAD")
    if not sha:
        return {}
    changes = run("status", "--porcelain", "--", ".")
    return {"git-sha": sha, "git-dirty": "true" if changes else "false"}


def _package(archive: Path, model_dir: Path, *, code: Path | None, require_code: bool) -> Package:
    try:
        with archive.open("wb") as out:
            return write_package(out, model_dir, code=code, require_code=require_code)
    except PackageInvalid as exc:
        # One line with its fix after a semicolon, as the package's refusals have always read.
        raise CliError(str(exc)) from None


def _check_artifact(archive: Path, framework: str) -> None:
    """Validate Artifact's own inspection, here, before the upload."""
    try:
        with archive.open("rb") as stream:
            inspect_artifact(stream, max_bytes=NO_LIMIT, framework=framework)
    except ArtifactInvalid as exc:
        raise CliError(f"the pipeline would reject this package: {exc.reason}", exc.fix) from None


class Serving(NamedTuple):
    """How to serve a model that has no rollout.yaml yet (publish's --image/--framework options), as `init` takes it."""

    image: str | None
    framework: str | None
    framework_version: str | None
    py_version: str | None
    instance_type: str


def _config(aws: Aws, console: Console, bucket: str, model: str, serving: Serving) -> RolloutConfig:
    """The model's rollout.yaml as the pipeline will read it; created from --image/--framework when missing."""
    from mlrollout.domain.config import load_config_text

    text, create = _config_text(aws, console, bucket, model, serving)
    try:
        config = load_config_text(text, model_name=model)
    except ConfigInvalid as exc:
        raise CliError(f"the pipeline would reject this upload: {exc.reason}", exc.fix) from None
    if create:
        console.print(f"created {init_command.upload_config(aws, bucket, model, text, force=False)}")
    return config


def _config_text(aws: Aws, console: Console, bucket: str, model: str, serving: Serving) -> tuple[str, bool]:
    """The model's rollout.yaml, and whether publish creates it (from --image/--framework: the bucket has none)."""
    key = naming.config_key(model)
    text = aws_call(lambda: S3Artifacts(aws.client("s3")).read_text(bucket, key), f"read s3://{bucket}/{key}")
    if text is not None:
        if serving.image is not None or serving.framework is not None:
            console.print(
                f"note: using the model's existing rollout.yaml (s3://{bucket}/{key}); --image/--framework only "
                f"create a missing one (replace it with `mlrollout init --model {model} ... --upload --force`)"
            )
        return text, False
    if serving.image is None and serving.framework is None:
        raise CliError(
            f"s3://{bucket}/{key} does not exist, so the pipeline would not know how to serve {model}",
            f"pass --image URI (or --framework F --framework-version V) to create it, or write it with "
            f"`mlrollout init --model {model} --image URI --upload`",
        )
    return init_command.config_text(aws, model, **serving._asdict(), instance_count=1, endpoint_name=None), True


def _refuse_duplicate(records: DynamoDeployments, deployment: str, console: Console, as_json: bool) -> None:
    earlier = aws_call(lambda: records.get(deployment), "read the deployments table")
    if earlier is None:
        return
    _duplicate(earlier, console, as_json, uploaded=False)


def _duplicate(earlier: dict[str, Any], console: Console, as_json: bool, *, uploaded: bool) -> NoReturn:
    state = earlier.get("outcome") or f"{earlier.get('state', 'running')}, not ended yet"
    what = "is not rolled out again" if uploaded else "would not be rolled out again, so nothing was uploaded"
    console.print(
        f"duplicate: these bytes are deployment {earlier.get('deployment_id')} already, uploaded as "
        f"{earlier.get('artifact')} (version {earlier.get('version_label', '-')}: {state}); this upload {what}. "
        f"See it with: mlrollout history {earlier.get('model_name')} --deployment {earlier.get('deployment_id')}"
    )
    if earlier.get("reason"):
        console.print(f"its reason: {clip(earlier['reason'], 300)}")
    if as_json:
        typer.echo(json.dumps({"duplicate_of": earlier}, indent=2, default=str))
    raise typer.Exit(1)


def next_version(artifacts: S3Artifacts, bucket: str, model: str) -> str:
    """v<N+1> after the highest v<N> version folder of the model in the bucket (v1 for a new model)."""
    folders = artifacts.folders(bucket, f"{naming.MODELS_PREFIX}{model}/")
    numbers = [int(found["n"]) for folder in folders if (found := VERSION_FOLDER.search(folder))]
    return f"v{max(numbers, default=0) + 1}"


def _free_key(artifacts: S3Artifacts, bucket: str, model: str, version: str | None) -> tuple[str, str]:
    """The version label and key the upload goes to: --version, else the next vN; refused when the key is taken."""
    chosen = version or aws_call(lambda: next_version(artifacts, bucket, model), f"list s3://{bucket}/models/{model}/")
    key = f"{naming.MODELS_PREFIX}{model}/{chosen}/{naming.ARTIFACT_FILE}"
    _check_key(key)
    if aws_call(lambda: artifacts.head(bucket, key), f"read s3://{bucket}/{key}") is not None:
        raise CliError(
            f"s3://{bucket}/{key} exists already (version {chosen} of {model} was uploaded before)",
            "choose another --version, or leave it out for the next one",
        )
    return chosen, key


def _upload(
    aws: Aws,
    console: Console,
    bucket: str,
    model: str,
    version: str | None,
    archive: Path,
    package: Package,
    metadata: dict[str, str],
    deployment: str,
) -> Published:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    s3 = aws.client("s3")
    artifacts = S3Artifacts(s3)
    chosen, key = _free_key(artifacts, bucket, model, version)
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress, archive.open("rb") as body:
        task = progress.add_task("upload", total=package.size)
        aws_call(
            lambda: s3.upload_fileobj(
                body,
                bucket,
                key,
                ExtraArgs={"Metadata": metadata, "ContentType": "application/gzip"},
                Callback=lambda sent: progress.advance(task, sent),
            ),
            f"upload to s3://{bucket}/{key}",
        )
    head = aws_call(lambda: artifacts.head(bucket, key), f"read s3://{bucket}/{key}")
    version_id = head.version_id if head is not None and head.metadata.get(SHA256) == package.sha256 else None
    return Published(model, chosen, bucket, key, version_id, package.sha256, deployment)


# ---------------------------------------------------------------------------------------------- following


def follow(
    records: DynamoDeployments,
    published: Published,
    console: Console,
    *,
    interval: float,
    timeout: float | None,
    start_timeout: float,
    as_json: bool = False,
) -> dict[str, Any]:
    """Poll the upload's record (one BatchGetItem a look: the deployment's id, and the id an upload rejected
    before its bytes were read gets) until it has an outcome; print each state change and decision."""
    began = time.monotonic()
    shown_state: str | None = None
    shown_phase = "not recorded yet"
    shown_decisions = 0
    lines = DecisionLines()  # a look that says again what the one before said is counted, not reprinted
    shown_estimate = False
    hint = f"mlrollout history {published.model} --deployment {published.deployment_id}"
    try:
        with spinner(console, "waiting for the pipeline to pick the upload up") as show:
            while True:
                try:
                    found = records.get_many([published.deployment_id, published.rejected_id])
                except (ClientError, BotoCoreError) as exc:  # a blip is no reason to stop following
                    show(f"{published.deployment_id}: {shown_phase} (reading the record failed: {exc}; retrying)")
                    found = {}
                rejected, record = found.get(published.rejected_id), found.get(published.deployment_id)
                if rejected is not None and rejected.get("outcome"):
                    record = rejected
                if record is not None:
                    if not _ours(record, published):
                        _duplicate(record, console, as_json, uploaded=True)
                    if record.get("state") != shown_state and not record.get("outcome"):
                        shown_state = record.get("state")
                        console.print(f"{published.deployment_id}: {phase(record)}")
                        if shown_state == "awaiting_approval":
                            console.print(f"  answer with: mlrollout approve {published.deployment_id} (or reject)")
                    if not shown_estimate and record.get("estimate"):
                        shown_estimate = True
                        for line in estimate_lines(record):
                            console.print(f"  {line}")
                    for decision in decisions_since(record, shown_decisions):
                        for line in lines.add(decision):
                            console.print(f"  {line}")
                    shown_decisions = decisions_total(record)
                    if record.get("outcome"):
                        for line in lines.flush():
                            console.print(f"  {line}")
                        _report_outcome(console, record)
                        return record
                    shown_phase = phase(record)
                    show(f"{published.deployment_id}: {shown_phase}")
                elapsed = (time.monotonic() - began) / 60
                if shown_state is None and record is None and elapsed > start_timeout:
                    console.print(
                        f"the pipeline has not recorded {published.uri} after {start_timeout:g} minutes; check that "
                        f"the bucket's EventBridge rule is deployed (then: {hint})"
                    )
                    raise typer.Exit(1)
                if timeout is not None and elapsed > timeout:
                    console.print(f"still {shown_phase} after {timeout:g} minutes; the rollout goes on: {hint}")
                    raise typer.Exit(1)
                time.sleep(interval)
    except KeyboardInterrupt:
        console.print(f"stopped following; the rollout goes on: {hint}")
        raise typer.Exit(130) from None


def _ours(record: dict[str, Any], published: Published) -> bool:
    """Whether the record is this upload's; the same bytes uploaded earlier have the same deployment id."""
    if record.get("deployment_id") == published.rejected_id:
        return True
    if record.get("artifact") and record["artifact"] != published.uri:
        return False
    recorded = record.get("artifact_version")
    return not (recorded and published.version_id and recorded != published.version_id)


def _report_outcome(console: Console, record: dict[str, Any]) -> None:
    outcome = str(record.get("outcome")).replace("_", " ")
    reason = str(record.get("reason") or "")
    said = f": {reason}" if reason and reason.replace("_", " ") != outcome else ""
    console.print(f"{record.get('deployment_id')}: {outcome}{said}")


def _finish(as_json: bool, published: Published, record: dict[str, Any] | None) -> None:
    if not as_json:
        return
    document = {
        "model": published.model,
        "version": published.version,
        "artifact": published.uri,
        "artifact_version": published.version_id,
        "sha256": published.sha256,
        "deployment_id": published.deployment_id,
        "outcome": record.get("outcome") if record else None,
        "reason": record.get("reason") if record else None,
        "record": record,
    }
    typer.echo(json.dumps(document, indent=2, default=str))


# ------------------------------------------------------------------------------------------------ dry run

DRY_RUN_EXECUTION = "dry-run"  # the execution id of a rollout that is only planned
# Every function of the stack has the template's Globals environment (the stack defaults rollout.yaml files sit on,
# MAX_ARTIFACT_MIB, the endpoint waits): read from the one function the stack names in its outputs.
SETTINGS_FUNCTION = "EndpointChangedFunctionName"


@dataclass(frozen=True)
class Candidate:
    """What `publish` packaged, before anything is uploaded."""

    model: str
    version: str | None
    archive: Path
    package: Package
    metadata: dict[str, str]
    deployment_id: str


class PendingUpload:
    """The bucket as the pipeline will find it after this upload: the package at `key` (with its metadata) and a
    rollout.yaml that publish would create, both read from here; everything else read from S3. It writes nothing."""

    def __init__(self, s3: S3Artifacts, bucket: str, key: str, candidate: Candidate, created: dict[str, str]) -> None:
        self.s3, self.bucket, self.key, self.candidate, self.created = s3, bucket, key, candidate, created

    def _ours(self, bucket: str, key: str) -> bool:
        return (bucket, key) == (self.bucket, self.key)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None:
        if self._ours(bucket, key):
            package = self.candidate.package
            return ObjectHead(package.size, None, dict(self.candidate.metadata), "application/gzip")
        return self.s3.head(bucket, key, version_id)

    def open(self, bucket: str, key: str, version_id: str | None = None) -> BinaryIO:
        if self._ours(bucket, key):
            return self.candidate.archive.open("rb")
        return self.s3.open(bucket, key, version_id)

    def read_text(self, bucket: str, key: str) -> str | None:
        if bucket == self.bucket and key in self.created:
            return self.created[key]
        return self.s3.read_text(bucket, key)

    def read_json(self, uri: str) -> Any:
        return self.s3.read_json(uri)

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        raise RuntimeError(f"a dry run writes nothing (asked to write s3://{bucket}/{key})")


def dry_run_plan(
    aws: Aws,
    console: Console,
    candidate: Candidate,
    serving: Serving,
    *,
    bucket: str | None,
    table: str | None,
    as_json: bool,
) -> None:
    """Resolve and check what the upload would be, as the pipeline will, and print the plan it would follow."""
    from datetime import UTC, datetime

    from mlrollout.adapters.endpoints import SageMakerEndpoints
    from mlrollout.adapters.ledger import DynamoLeases
    from mlrollout.adapters.monitoring import CloudWatchAlarms
    from mlrollout.adapters.network import Ec2Network
    from mlrollout.adapters.traffic import CloudWatchTraffic
    from mlrollout.contracts import PlanInput, Registration, ValidateInput
    from mlrollout.domain.errors import EndpointChanging, RolloutError
    from mlrollout.services.deploy import plan_deployment
    from mlrollout.services.validate import validate_upload

    try:
        bucket_name = aws.bucket(bucket)
    except (typer.BadParameter, BotoCoreError) as exc:
        _local_only(console, candidate, str(getattr(exc, "message", None) or exc), as_json)
        return
    model, now = candidate.model, datetime.now(UTC)
    artifacts = S3Artifacts(aws.client("s3"))
    version, key = _free_key(artifacts, bucket_name, model, candidate.version)
    config_key = naming.config_key(model)
    text, create = _config_text(aws, console, bucket_name, model, serving)
    settings, settings_source = _stack_settings(aws)
    pending = PendingUpload(artifacts, bucket_name, key, candidate, {config_key: text} if create else {})
    event = {"detail": {"bucket": {"name": bucket_name}, "object": {"key": key, "size": candidate.package.size}}}
    try:
        rollout = validate_upload(
            ValidateInput(event=event, execution_id=DRY_RUN_EXECUTION, now=now),
            artifacts=pending,
            settings=settings,
            network=Ec2Network(aws.client("ec2")),
        )
    except RolloutError as exc:
        raise CliError(f"the pipeline would reject this upload: {exc.reason}", exc.fix) from None
    _refuse_duplicate(
        DynamoDeployments(aws.client("dynamodb"), aws.deployments_table(table)), rollout.deployment_id, console, as_json
    )
    state_table = aws.optional("StateTableName")
    holder = DynamoLeases(aws.client("dynamodb"), state_table).holder(rollout.endpoint_name) if state_table else None
    # Plan reads the endpoint, the rollback alarms and the current variant's traffic; the package it would name is
    # registered only once the upload is, so the plan has none (its names are not shown).
    registration = Registration(group_name=model, package_arn="", package_version=0)
    waiting = None
    try:
        planned = plan_deployment(
            PlanInput(rollout=rollout, registration=registration, now=now),
            endpoints=SageMakerEndpoints(aws.client("sagemaker")),
            alarms=CloudWatchAlarms(aws.client("cloudwatch")),
            traffic=CloudWatchTraffic(aws.client("cloudwatch")),
            settings=settings,
        )
    except EndpointChanging as exc:
        planned, waiting = None, exc.reason
    except RolloutError as exc:
        raise CliError(f"the pipeline would refuse this rollout at Plan Deployment: {exc.reason}", exc.fix) from None
    config = rollout.config
    history = planned.against_history if planned is not None else config.serverless is not None
    first = planned.first_deployment if planned is not None else False
    phases = [] if first else _phases(config, planned.estimate if planned is not None else None, history)
    document = {
        "dry_run": True,
        "uploaded": False,
        "model": model,
        "version": version,
        "artifact": f"s3://{bucket_name}/{key}",
        "deployment_id": rollout.deployment_id,
        "sha256": candidate.package.sha256,
        "size": candidate.package.size,
        "files": candidate.package.files,
        "metadata": candidate.metadata,
        "config": {"uri": f"s3://{bucket_name}/{config_key}", "created_by_publish": create},
        "settings": settings_source,
        "endpoint": rollout.endpoint_name,
        "first_deployment": first,
        "waits_for": holder.holder if holder is not None and holder.holder != rollout.deployment_id else None,
        "endpoint_changing": waiting,
        "approval": config.approval,
        "approval_timeout_minutes": config.approval_timeout_minutes if config.approval == "manual" else None,
        "strategy": config.strategy.type,
        "evaluation_interval_seconds": config.strategy.evaluation_interval_seconds,
        "on_deadline": config.strategy.on_deadline,
        "phases": phases,
        "estimate": planned.estimate.model_dump(mode="json") if planned and planned.estimate else None,
    }
    for line in _plan_lines(document, config):
        console.print(line)
    if as_json:
        typer.echo(json.dumps(document, indent=2, default=str))


def _local_only(console: Console, candidate: Candidate, why: str, as_json: bool) -> None:
    """No stack to read: the package checked as the pipeline checks any (the framework's own files unchecked)."""
    _check_artifact(candidate.archive, "custom")
    where = candidate.version or "<next version>"
    console.print(
        f"would upload models/{candidate.model}/{where}/{naming.ARTIFACT_FILE} with metadata {candidate.metadata}"
    )
    console.print(
        f"only the local checks ran: the stack could not be read ({why.rstrip('.')}), so the version, the "
        "rollout.yaml, the pipeline's validation and the plan were not checked; point at the stack (--stack, "
        "--profile, --region, or --bucket) for all of them"
    )
    console.print("dry run: nothing was uploaded and no rollout was started")
    if as_json:
        package = candidate.package
        document = {"dry_run": True, "uploaded": False, "deployment_id": candidate.deployment_id,
                    "sha256": package.sha256, "files": package.files, "size": package.size,
                    "metadata": candidate.metadata, "plan": None, "stack_not_found": why}  # fmt: skip
        typer.echo(json.dumps(document, indent=2))


def _stack_settings(aws: Aws) -> tuple[Settings, str]:
    """The settings the stack's functions run with (their environment), or the template's defaults when they cannot
    be read (an operator may not be allowed lambda:GetFunctionConfiguration); and which it is."""
    from pydantic import ValidationError

    from mlrollout.settings import Settings

    function = aws.optional(SETTINGS_FUNCTION)
    variables: dict[str, str] = {}
    if function:
        with contextlib.suppress(ClientError):
            found = aws.client("lambda").get_function_configuration(FunctionName=function)
            variables = (found.get("Environment") or {}).get("Variables") or {}
    if variables:
        with contextlib.suppress(ValidationError):
            stack = Settings.model_validate({name.lower(): value for name, value in variables.items()})
            return stack, f"the stack's (function {function})"
    return Settings(), "the template's defaults (the stack's functions could not be read)"


def _phases(config: RolloutConfig, planned: PlanEstimate | None, history: bool) -> list[dict[str, Any]]:
    """The phases the rollout goes through (domain/estimate.phases_of), each with its bake and the deadline Plan
    set for it (longer than the config's at low traffic)."""
    from mlrollout.domain.estimate import phases_of

    found = []
    steps = 0
    for each in phases_of(config.strategy, history=history):
        shadow = each.kind == "shadow"
        deadline = planned.deadline_for(shadow=shadow, step_index=steps, history=history) if planned else None
        found.append(
            {
                "phase": each.label(),
                "kind": each.kind,
                "percent": each.percent,
                "bake_minutes": each.policy.bake_minutes,
                "deadline_minutes": deadline if deadline is not None else each.policy.deadline_minutes,
                "configured_deadline_minutes": each.policy.deadline_minutes,
                "needs_pass": each.needs_pass,
            }
        )
        steps += each.kind == "step"
    return found


def _plan_lines(plan: dict[str, Any], config: RolloutConfig) -> list[str]:
    version, endpoint = plan["version"], plan["endpoint"]
    lines = [
        f"would upload {plan['artifact']} as {plan['model']} {version}",
        f"rollout.yaml: {plan['config']['uri']}"
        + (" (publish would create it)" if plan["config"]["created_by_publish"] else "")
        + f"; validated as the pipeline validates it, with {plan['settings']} settings",
    ]
    if plan["waits_for"]:
        lines.append(f"endpoint {endpoint} is held by deployment {plan['waits_for']}: this upload would wait for it")
    if plan["endpoint_changing"]:
        lines.append(f"{plan['endpoint_changing']}: Plan would wait for the change to end")
    approval = (
        f"manual: waits up to {plan['approval_timeout_minutes']:g} min for `mlrollout approve` "
        + ("before the endpoint is created" if plan["first_deployment"] else "with the candidate deployed, no traffic")
        if plan["approval"] == "manual"
        else "auto: the judge decides"
    )
    lines.append(f"approval: {approval}")
    if plan["first_deployment"]:
        lines.append(
            f"plan: creates endpoint {endpoint} with {version} serving all traffic once its pre-traffic check passes "
            "(a first version has nothing to be compared with, so it is not canaried)"
        )
    else:
        strategy = config.strategy
        held = (
            f"held {strategy.hold_minutes:g} min, then rolled back" if strategy.on_deadline == "hold" else "rolled back"
        )
        lines.append(
            f"plan on endpoint {endpoint}: {plan['strategy']}, the judge looks every "
            f"{strategy.evaluation_interval_seconds // 60} min; an inconclusive phase at its deadline is {held}"
        )
        for phase in plan["phases"]:
            lines.append(f"  {_phase_line(phase)}")
        if not plan["phases"] or plan["phases"][-1]["kind"] != "history":
            lines.append(f"  then 100%: {version} promoted")
        lines += [f"  {line}" for line in estimate_lines({"estimate": plan["estimate"]})]
    lines.append("dry run: the pipeline would accept this upload; nothing was uploaded and no rollout was started")
    return lines


def _phase_line(phase: dict[str, Any]) -> str:
    deadline = f"deadline {phase['deadline_minutes']:g} min"
    if phase["deadline_minutes"] != phase["configured_deadline_minutes"]:
        deadline += f" (grown from {phase['configured_deadline_minutes']:g} for this traffic)"
    ends = "advances on a PASS" if phase["needs_pass"] else "advances after its bake"
    bake = f"bake {phase['bake_minutes']:g} min"
    if phase["kind"] == "shadow":
        return f"shadow: a copy of {phase['percent']:g}% of requests, {bake}, {deadline}; {ends}"
    if phase["kind"] == "history":
        return f"100% at once, judged against the endpoint's minutes before the switch: {bake}, {deadline}; {ends}"
    return f"{phase['phase']} of traffic: {bake}, {deadline}; {ends}"
