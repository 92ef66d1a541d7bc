"""`mlrollout baseline SAMPLE --out ...`: the statistics.json and constraints.json that drift is measured against.

The builtin backend computes them here, in pure Python (`mlrollout_files.samples`, `mlrollout.domain.drift`); the
model-monitor backend runs SageMaker's own baselining job through the sagemaker SDK (2.x or 3.x:
`mlrollout_cli.extras`), an optional extra that never reaches a Lambda. Bad input exits with code 2 before anything
is written.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from mlrollout.adapters.artifacts import S3Artifacts, split_uri
from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.drift import DEFAULT_BINS, read_baseline
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.extras import sagemaker_model_monitor, spinner
from mlrollout_files.samples import (
    SampleBaseline,
    SampleFormat,
    SampleInvalid,
    baseline_from_sample,
    decode,
    detect_format,
)

Backend = Literal["builtin", "model-monitor"]
DOCUMENTS = ("statistics.json", "constraints.json")
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}


@dataclass(frozen=True)
class S3Folder:
    bucket: str
    prefix: str  # "" or ending in "/"

    def uri(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{name}"


def baseline(
    ctx: typer.Context,
    sample: Annotated[
        str,
        typer.Argument(
            help="A sample of the model's input: CSV with a header row, JSON lines of features, or SageMaker "
            "data-capture JSON lines; a local path or an s3:// URI.",
            metavar="SAMPLE",
            show_default=False,
        ),
    ],
    out: Annotated[
        list[str],
        typer.Option(
            "--out",
            help="The folder statistics.json and constraints.json go to: s3://bucket/prefix/, a local folder, "
            "or one of each (--out twice).",
            metavar="FOLDER",
            show_default=False,
        ),
    ],
    sample_format: Annotated[
        SampleFormat | None,
        typer.Option("--format", help="The sample's format (default: from its extension and first line)."),
    ] = None,
    bins: Annotated[
        int | None,
        typer.Option(min=1, help=f"builtin: equal-width buckets per numeric feature (default {DEFAULT_BINS})."),
    ] = None,
    backend: Annotated[
        Backend,
        typer.Option(
            help="builtin: computed here; model-monitor: a SageMaker baselining job, through the sagemaker SDK."
        ),
    ] = "builtin",
    role_arn: Annotated[
        str | None, typer.Option(help="model-monitor: the IAM role the baselining job runs as.")
    ] = None,
    instance_type: Annotated[
        str | None,
        typer.Option(help=f"model-monitor: the baselining job's instance type (default {DEFAULT_INSTANCE_TYPE})."),
    ] = None,
) -> None:
    """Write baseline statistics and constraints (Model Monitor's formats) from a sample of the model's input."""
    aws = from_context(ctx)
    folder, local = _destinations(out)
    if backend == "model-monitor":
        statistics, constraints, written = _model_monitor(
            aws, sample, folder, local, sample_format, bins, role_arn, instance_type or DEFAULT_INSTANCE_TYPE
        )
        _report(sample, "SageMaker's baselining job", statistics, constraints, (), written, model_monitor=True)
        return
    if role_arn is not None or instance_type is not None:
        raise CliError(
            "--role-arn and --instance-type are for --backend model-monitor", "leave them out for the builtin baseline"
        )
    data = _read_sample(aws, sample)
    try:
        text = decode(data)
        result = baseline_from_sample(text, sample_format or detect_format(sample, text), bins=bins or DEFAULT_BINS)
    except SampleInvalid as exc:
        raise CliError(f"{sample}: {exc}") from None
    written = _write(aws, result, folder, local)
    _report(sample, result.format, result.statistics, result.constraints, result.notes, written, model_monitor=False)


def _destinations(outs: list[str]) -> tuple[S3Folder | None, Path | None]:
    folder: S3Folder | None = None
    local: Path | None = None
    for out in outs:
        if out.lower().endswith(".json"):
            raise CliError(
                f"--out {out} names a file",
                "give the folder statistics.json and constraints.json go to, not a file name",
            )
        if out.startswith("s3://"):
            bucket, prefix = split_uri(out)
            if not bucket:
                raise CliError(f"--out {out}: no bucket", "write it as s3://bucket/prefix/")
            if folder is not None:
                raise CliError("--out: one S3 folder at most", "rollout.yaml points at one baseline; give one")
            folder = S3Folder(bucket, prefix.rstrip("/") + "/" if prefix.strip("/") else "")
        else:
            if local is not None:
                raise CliError("--out: one local folder at most", "give one")
            local = Path(out)
            if local.exists() and not local.is_dir():
                raise CliError(f"--out {out} is a file", "give a folder; it is created if missing")
    return folder, local


def _read_sample(aws: Aws, sample: str) -> bytes:
    if sample.startswith("s3://"):
        bucket, key = split_uri(sample)
        try:
            data: bytes = S3Artifacts(aws.client("s3")).open(bucket, key).read()
        except (ClientError, BotoCoreError) as exc:
            raise _s3_problem(exc, f"cannot read the sample {sample}", bucket, "s3:GetObject", key) from None
        return data
    path = Path(sample)
    if not path.exists():
        raise CliError(f"{sample}: no such file", "give the path of a CSV or JSON-lines sample of the model's input")
    if not path.is_file():
        raise CliError(f"{sample} is not a file", "give the path of a CSV or JSON-lines sample of the model's input")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {sample}: {exc.strerror}") from None


def _write(aws: Aws, result: SampleBaseline, folder: S3Folder | None, local: Path | None) -> list[str]:
    """S3 first: it is what can refuse, and then nothing has been written locally either."""
    documents = dict(zip(DOCUMENTS, (result.statistics, result.constraints), strict=True))
    written: list[str] = []
    if folder is not None:
        artifacts = S3Artifacts(aws.client("s3"))
        try:
            for name, document in documents.items():
                written.append(artifacts.put_json(folder.bucket, folder.prefix + name, document))
        except (ClientError, BotoCoreError) as exc:
            problem = _s3_problem(
                exc, f"cannot write to {folder.uri()}", folder.bucket, "s3:PutObject", f"{folder.prefix}*"
            )
            raise replace(problem, what=problem.what + _remove(artifacts, written)) from None
    if local is not None:
        try:
            local.mkdir(parents=True, exist_ok=True)
            for name, document in documents.items():
                path = local / name
                path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
                written.append(str(path))
        except OSError as exc:
            written_too = f" ({', '.join(written)} written)" if written else ""
            raise CliError(f"cannot write to {local}: {exc.strerror}{written_too}") from None
    return written


def _remove(artifacts: S3Artifacts, uris: list[str]) -> str:
    """Deletes what a failed write left (statistics.json without its constraints.json is no baseline)."""
    for uri in uris:
        bucket, key = split_uri(uri)
        try:
            artifacts.s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            return f" ({uri} was written and could not be removed)"
    return ""


def _s3_problem(exc: ClientError | BotoCoreError, action: str, bucket: str, permission: str, key: str) -> CliError:
    if isinstance(exc, BotoCoreError):
        return CliError(
            f"{action}: {exc}",
            "check the AWS profile, region and credentials: --profile, --region",
            ExitCode.AWS_ACCESS,
        )
    code = error_code(exc)
    if code == "NoSuchBucket":
        return CliError(
            f"{action}: bucket {bucket} does not exist", f"create it (aws s3 mb s3://{bucket}) or choose another"
        )
    if code in {"NoSuchKey", "404", "NotFound"}:
        return CliError(f"{action}: no such object", f"check the URI: aws s3 ls s3://{bucket}/{key}")
    if code in _DENIED:
        return CliError(
            f"{action}: access denied ({code})",
            f"the credentials in use need {permission} on arn:aws:s3:::{bucket}/{key}; choose them with --profile",
            ExitCode.AWS_ACCESS,
        )
    return CliError(f"{action}: S3 answered {code}: {error_message(exc)}", None, ExitCode.NOT_SUCCEEDED)


def _model_monitor(
    aws: Aws,
    sample: str,
    folder: S3Folder | None,
    local: Path | None,
    sample_format: SampleFormat | None,
    bins: int | None,
    role_arn: str | None,
    instance_type: str,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """SageMaker's baselining job (a processing job: minutes, and billed) through the SDK's DefaultModelMonitor."""
    sdk = sagemaker_model_monitor(
        needed_for="--backend model-monitor runs SageMaker's baselining job",
        instead="leave out --backend for the builtin baseline",
    )
    if bins is not None:
        raise CliError("--bins is for the builtin baseline", "leave it out: Model Monitor sizes its own KLL sketches")
    if not sample.startswith("s3://"):
        raise CliError(
            f"{sample}: the baselining job reads its dataset from S3", "upload the sample and pass its s3:// URI"
        )
    if folder is None or local is not None:
        raise CliError(
            "--backend model-monitor writes where the job puts its output", "give one --out s3://bucket/prefix/"
        )
    if not role_arn:
        raise CliError(
            "--backend model-monitor needs --role-arn",
            "pass the IAM role the job runs as: it reads the sample and writes --out",
        )
    try:
        chosen = sample_format or detect_format(sample, "")
    except SampleInvalid as exc:
        raise CliError(f"{sample}: {exc}") from None
    if chosen == "capture":
        raise CliError(
            "Model Monitor baselines CSV or JSON lines of features, not data capture", "use the builtin backend"
        )
    formats = sdk.DatasetFormat
    # The CLI's clients, so that --endpoint-url (and --profile, --region) reach the SDK's calls too.
    session = sdk.Session(boto_session=aws.session, sagemaker_client=aws.client("sagemaker"))
    session.s3_client = aws.client("s3")
    monitor = sdk.DefaultModelMonitor(
        role=role_arn, instance_count=1, instance_type=instance_type, sagemaker_session=session
    )
    try:
        # Not the job's CloudWatch logs (logs=False): a spinner on stderr while the SDK waits, and the dot its
        # waiter prints on stdout at every poll kept out of the command's output.
        with (
            spinner(Console(stderr=True), "SageMaker's baselining job is running (it takes minutes)"),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            monitor.suggest_baseline(
                baseline_dataset=sample,
                dataset_format=formats.csv(header=True) if chosen == "csv" else formats.json(lines=True),
                output_s3_uri=folder.uri().rstrip("/"),
                wait=True,
                logs=False,
            )
        statistics, constraints = monitor.baseline_statistics(), monitor.suggested_constraints()
    except ClientError as exc:
        raise CliError(
            f"the baselining job could not run: {error_code(exc)}: {error_message(exc)}",
            f"the credentials in use need sagemaker:CreateProcessingJob and iam:PassRole on {role_arn}, the role "
            f"needs to read {sample} and write {folder.uri()}",
            ExitCode.AWS_ACCESS,
        ) from None
    except BotoCoreError as exc:
        raise CliError(
            f"the baselining job could not run: {exc}",
            "check the AWS profile, region and credentials",
            ExitCode.AWS_ACCESS,
        ) from None
    except sdk.UnexpectedStatusException as exc:
        raise CliError(
            f"the baselining job failed: {exc}",
            "its log in CloudWatch, in the log group /aws/sagemaker/ProcessingJobs, says why",
            ExitCode.NOT_SUCCEEDED,
        ) from None
    return statistics.body_dict, constraints.body_dict, [statistics.file_s3_uri, constraints.file_s3_uri]


def _report(
    sample: str,
    source: str,
    statistics: dict[str, Any],
    constraints: dict[str, Any],
    notes: tuple[str, ...],
    written: list[str],
    *,
    model_monitor: bool,
) -> None:
    read = read_baseline(statistics, constraints)
    features = list(read.features.values())
    typer.echo(f"baseline of {sample} ({source}): {read.item_count} records, {len(features)} features")
    width = max((len(f.name) for f in features), default=0)
    for feature in features:
        typer.echo(
            f"  {feature.name:<{width}}  {feature.inferred_type:<10}  "
            f"{feature.num_present:g} present, {feature.num_missing:g} missing"
        )
    for note in notes:
        typer.echo(f"note: {note}")
    for place in written:
        typer.echo(f"wrote {place}")
    uploaded = [uri for uri in written if uri.startswith("s3://")]
    if uploaded:
        typer.echo("\nIn the model's rollout.yaml:\n")
    else:
        uploaded = [f"s3://<bucket>/baselines/<model>/{name}" for name in DOCUMENTS]
        typer.echo(
            f"\nUpload both files (aws s3 cp {Path(written[0]).parent}/ s3://<bucket>/baselines/<model>/ --recursive) "
            "or run again with --out s3://bucket/prefix/, then put in the model's rollout.yaml:\n"
        )
    snippet = ["monitoring:", *(["  backend: model-monitor"] if model_monitor else [])]
    snippet += [f"  baseline_statistics: {uploaded[0]}", f"  baseline_constraints: {uploaded[1]}"]
    typer.echo("\n".join(snippet))
