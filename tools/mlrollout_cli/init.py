"""`mlrollout init --model NAME (--image URI | --framework F --framework-version V)`: a model's rollout.yaml.

The file is validated by the pipeline's own configuration model before it is written, so what `init` writes
is what Validate Artifact accepts. `--framework` resolves the serving image for the region through the
sagemaker SDK's image registry (`image_uris.retrieve`, 2.x or 3.x: `mlrollout_cli.extras`), an optional extra
imported only then. `publish` uses the same functions when a model has no rollout.yaml yet.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any

import typer

from mlrollout.adapters.artifacts import S3Artifacts
from mlrollout.domain import naming
from mlrollout_cli.context import Aws, from_context
from mlrollout_cli.errors import CliError, ExitCode
from mlrollout_cli.extras import aws_call, sagemaker_image_uris

DEFAULT_INSTANCE_TYPE = "ml.m5.large"


def config_frameworks() -> frozenset[str]:
    """The frameworks rollout.yaml knows (they decide which model files an artifact must hold); any other
    framework's image is served as `custom`."""
    from mlrollout.domain.config import RolloutConfig  # pydantic: only for the commands that validate a config

    return frozenset(typing.get_args(RolloutConfig.model_fields["framework"].annotation)) - {"custom"}


def serving_image(aws: Aws, framework: str, version: str, *, instance_type: str, py_version: str | None) -> str:
    """The framework's SageMaker inference image for the session's region, from the SDK's image registry."""
    image_uris = sagemaker_image_uris(
        needed_for=f"--framework finds the {framework} serving image in SageMaker's image registry",
        instead="pass the image URI with --image",
    )
    region = aws.session.region_name
    if not region:
        raise CliError(
            f"--framework {framework} needs a region to find its image in",
            "pass --region or set AWS_REGION",
            ExitCode.AWS_ACCESS,
        )
    try:
        image = image_uris.retrieve(
            framework,
            region,
            version=version,
            instance_type=instance_type,
            image_scope="inference",
            py_version=py_version,
        )
    except ValueError as exc:
        raise CliError(
            f"SageMaker has no {framework} {version} inference image for {instance_type} in {region}: "
            f"{str(exc).rstrip('.')}",
            "choose a --framework-version (and --py-version) from the list, or pass --image",
        ) from None
    return str(image)


def rollout_document(
    model: str,
    *,
    image: str,
    framework: str | None = None,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    instance_count: int = 1,
    endpoint_name: str | None = None,
) -> dict[str, Any]:
    """The smallest rollout.yaml that says how to serve the model, validated as the pipeline will."""
    from mlrollout.domain.config import parse_config
    from mlrollout.domain.errors import ConfigInvalid

    if problem := naming.sagemaker_name_problem(model):
        raise CliError(f"--model {problem}", f"e.g. --model {naming.suggest_name(model)}")
    document: dict[str, Any] = {"image": image}
    if endpoint_name is not None:
        document["endpoint_name"] = endpoint_name
    document |= {"instance_type": instance_type, "instance_count": instance_count}
    if framework in config_frameworks():
        document["framework"] = framework
    try:
        parse_config(document, model_name=model)
    except ConfigInvalid as exc:
        # Not the exception's fix: it tells the pipeline's user to edit and upload the file; here an option made it.
        raise CliError(f"the rollout.yaml would be invalid: {exc.reason}", "correct the option that sets it") from None
    return document


def render(model: str, document: dict[str, Any], *, image_source: str | None = None) -> str:
    import yaml

    lines = [
        f"# {naming.config_key(model)}: how mlrollout serves and rolls out {model} (written by `mlrollout init`).",
        "# Every field and its default: docs/configuration.md.",
    ]
    if image_source:
        lines.append(f"# image: {image_source}")
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    defaults = [
        "# strategy:           # built-in defaults (the stack's parameters may change them): 10% then 50%, 10 min each",
        "#   steps: [10, 50]",
        "#   bake_minutes: 10",
        "# judge:              # the canary is judged against the current variant",
        "#   min_requests: 200",
        "#   max_error_rate: 0.05",
    ]
    return "\n".join([*lines, body.rstrip("\n"), *defaults]) + "\n"


def upload_config(aws: Aws, bucket: str, model: str, text: str, *, force: bool) -> str:
    """Put rollout.yaml at s3://<bucket>/models/<model>/rollout.yaml; refuses to replace one without `force`."""
    key = naming.config_key(model)
    uri = f"s3://{bucket}/{key}"
    s3 = aws.client("s3")
    if not force and aws_call(lambda: S3Artifacts(s3).head(bucket, key), f"read {uri}") is not None:
        raise CliError(f"{uri} exists already", f"pass --force to replace it; see it with: aws s3 cp {uri} -")
    aws_call(
        lambda: s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="application/yaml"),
        f"write {uri}",
    )
    return uri


def config_text(
    aws: Aws,
    model: str,
    *,
    image: str | None,
    framework: str | None,
    framework_version: str | None,
    py_version: str | None,
    instance_type: str,
    instance_count: int,
    endpoint_name: str | None,
) -> str:
    """rollout.yaml from the options `init` and `publish` share: --image, or --framework and its version."""
    if image is not None and framework is not None:
        raise CliError(
            "--image and --framework were both given", "give either --image or --framework (which finds the image)"
        )
    if image is None and framework is None:
        raise CliError("say which image serves the model", "--image URI, or --framework F --framework-version V")
    source = None
    if image is None:
        assert framework is not None
        if not framework_version:
            raise CliError(f"--framework {framework} needs --framework-version", "e.g. 2.3 for pytorch")
        image = serving_image(aws, framework, framework_version, instance_type=instance_type, py_version=py_version)
        source = f"SageMaker's {framework} {framework_version} inference image for {aws.session.region_name}"
    elif py_version is not None or framework_version is not None:
        raise CliError("--framework-version and --py-version go with --framework", "--image names the image already")
    document = rollout_document(
        model,
        image=image,
        framework=framework,
        instance_type=instance_type,
        instance_count=instance_count,
        endpoint_name=endpoint_name,
    )
    return render(model, document, image_source=source)


def init(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="The model name (its folder under models/ in the bucket).")],
    image: Annotated[
        str | None, typer.Option(help="The serving image URI, with a tag or digest (ECR or another registry).")
    ] = None,
    framework: Annotated[
        str | None,
        typer.Option(help="Find the image instead: SageMaker's framework image (pytorch, sklearn, xgboost, ...)."),
    ] = None,
    framework_version: Annotated[str | None, typer.Option(help="The framework's version, e.g. 2.3.")] = None,
    py_version: Annotated[
        str | None, typer.Option(help="The image's Python, e.g. py311, where a version has several.")
    ] = None,
    instance_type: Annotated[str, typer.Option(help="The endpoint's instance type.")] = DEFAULT_INSTANCE_TYPE,
    instance_count: Annotated[int, typer.Option(min=1, max=100, help="Instances of each variant.")] = 1,
    endpoint_name: Annotated[str | None, typer.Option(help="The endpoint (default: the model name).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write rollout.yaml locally ('-': print it).")] = Path(
        "rollout.yaml"
    ),
    upload: Annotated[
        bool, typer.Option("--upload", help="Also put it at s3://<bucket>/models/<model>/rollout.yaml.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing rollout.yaml (local and in the bucket).")
    ] = False,
    bucket: Annotated[str | None, typer.Option(help="Artifact bucket (default: the stack's).")] = None,
) -> None:
    """Write a model's rollout.yaml (validated as the pipeline validates it), and upload it with --upload."""
    aws = from_context(ctx)
    if str(out) != "-" and out.exists() and not force:
        raise CliError(f"{out} exists already", "pass --force to replace it, or --out another path")
    text = config_text(
        aws,
        model,
        image=image,
        framework=framework,
        framework_version=framework_version,
        py_version=py_version,
        instance_type=instance_type,
        instance_count=instance_count,
        endpoint_name=endpoint_name,
    )
    # The bucket first: it is what can refuse, and then nothing has been written locally either.
    uploaded = upload_config(aws, aws.bucket(bucket), model, text, force=force) if upload else None
    if str(out) == "-":
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}", err=True)
    if uploaded:
        typer.echo(f"uploaded {uploaded}", err=True)
    elif str(out) != "-":
        typer.echo(
            f"put it in the bucket with --upload, or: aws s3 cp {out} s3://<bucket>/{naming.config_key(model)}",
            err=True,
        )
