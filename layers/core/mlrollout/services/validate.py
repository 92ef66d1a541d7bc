"""Validate Artifact: is this upload deployable, and how should it roll out?"""

from __future__ import annotations

from mlrollout.contracts import Artifact, Rollout, Upload, ValidateInput
from mlrollout.domain import naming
from mlrollout.domain.artifact import inspect_artifact
from mlrollout.domain.config import RolloutConfig, load_config_text
from mlrollout.domain.errors import ArtifactInvalid, ConfigInvalid
from mlrollout.domain.naming import MAX_METADATA_VALUE
from mlrollout.ports import ArtifactStore, Network
from mlrollout.services.monitoring import read_monitoring_baseline
from mlrollout.settings import Settings

MIB = 1024 * 1024
# The model registry keeps each x-amz-meta-* entry as CustomerMetadataProperties["upload:<key>"] (see
# services/register.py): keys of 1-128 characters, values of 1-256, naming.REGISTRY_TEXT_RULE's characters. Checked
# here so a bad entry is a clear rejection, not a registry error after validation.
MAX_METADATA_ITEMS = 40  # leaves room under SageMaker's 50 for the entries mlrollout adds
MAX_METADATA_KEY = 128 - len("upload:")


def validate_upload(
    request: ValidateInput, *, artifacts: ArtifactStore, settings: Settings, network: Network | None = None
) -> Rollout:
    """`network` reads the subnets and security groups a config's `vpc` names (required when it names any)."""
    upload = Upload.from_event(request.event)
    location = naming.parse_artifact_key(upload.key)
    head = artifacts.head(upload.bucket, upload.key, upload.version_id)
    if head is None:
        raise ArtifactInvalid(
            f"{upload.uri} (version {upload.version_id}) no longer exists",
            fix="upload the artifact again; it may have been deleted right after the upload",
        )
    limit = settings.max_artifact_mib * MIB
    if head.size == 0:
        raise ArtifactInvalid(
            "the artifact is empty (0 bytes)",
            fix="upload the model.tar.gz again; the upload may have been cut",
        )
    if head.size > limit:
        raise ArtifactInvalid(
            f"the artifact is {head.size:,} bytes ({head.size / MIB:,.1f} MiB), over the stack's limit of "
            f"{settings.max_artifact_mib:,} MiB ({limit:,} bytes)",
            fix="upload a smaller artifact, or raise the stack parameter MaxArtifactMiB",
        )
    metadata = checked_metadata(head.metadata)

    text = artifacts.read_text(upload.bucket, location.config_key)
    if text is None:
        raise ConfigInvalid(
            f"s3://{upload.bucket}/{location.config_key} does not exist, so mlrollout does not know how to "
            f"serve {location.model_name}",
            fix=f"write {location.config_key} with at least `image: <serving image URI>` (docs/configuration.md), "
            "then upload the artifact again",
        )
    config = load_config_text(text, model_name=location.model_name, stack_defaults=settings.stack_defaults())
    _check_baselines(config, artifacts, settings.artifact_bucket or upload.bucket)
    check_network_and_keys(config, network, settings, where=location.config_key)

    report = inspect_artifact(
        artifacts.open(upload.bucket, upload.key, head.version_id or upload.version_id),
        max_bytes=limit,
        framework=config.framework,
    )
    return Rollout(
        deployment_id=naming.deployment_id(
            location.model_name, report.sha256, redeploy=head.metadata.get(naming.REDEPLOY_METADATA)
        ),
        execution_id=request.execution_id,
        model_name=location.model_name,
        version_label=location.version_label,
        endpoint_name=config.endpoint_for(location.model_name),
        artifact=Artifact(
            bucket=upload.bucket,
            key=upload.key,
            version_id=head.version_id or upload.version_id,
            size=report.size,
            sha256=report.sha256,
            files=report.file_count,
        ),
        config=config,
        steps=config.strategy.traffic_steps(),
        metadata=metadata,
        started_at=request.now,
    )


def checked_metadata(metadata: dict[str, str]) -> dict[str, str]:
    problems = []
    if len(metadata) > MAX_METADATA_ITEMS:
        problems.append(f"{len(metadata)} metadata entries (at most {MAX_METADATA_ITEMS})")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            problems.append(f"metadata key {key[:20]!r}... is {len(key)} characters (at most {MAX_METADATA_KEY})")
        if rejected := naming.registry_rejected_characters(key):
            problems.append(f"metadata key {key!r} has characters the model registry rejects ({rejected})")
        if not value:
            problems.append(f"metadata {key!r} is empty")
        if len(value) > MAX_METADATA_VALUE:
            problems.append(f"metadata {key!r} is {len(value)} characters (at most {MAX_METADATA_VALUE})")
        if rejected := naming.registry_rejected_characters(value):
            problems.append(f"metadata {key!r} has characters the model registry rejects ({rejected})")
    if problems:
        raise ArtifactInvalid(
            "the upload's object metadata cannot be recorded in the model registry: " + "; ".join(problems),
            fix=f"upload again with at most {MAX_METADATA_ITEMS} x-amz-meta-* entries whose keys (up to "
            f"{MAX_METADATA_KEY} characters) and non-empty values (up to {MAX_METADATA_VALUE}) use only "
            f"{naming.REGISTRY_TEXT_RULE}",
        )
    return dict(metadata)


def _check_baselines(config: RolloutConfig, artifacts: ArtifactStore, artifact_bucket: str) -> None:
    """Monitoring that cannot start is a configuration error now, not a surprise after promotion.

    The location is checked here rather than in the config model: the stack's roles may read baselines only under
    baselines/ in the artifact bucket, whose name the model does not know (ARTIFACT_BUCKET, a run-time setting).
    A URI elsewhere would fail as a bare AccessDenied on the read below, and on every drift run after promotion."""
    if config.monitoring is None:
        return
    spec = config.monitoring
    for field, uri in (
        ("baseline_statistics", spec.baseline_statistics),
        ("baseline_constraints", spec.baseline_constraints),
    ):
        if uri is not None and not naming.is_baseline_uri(uri, artifact_bucket):
            raise ConfigInvalid(
                f"monitoring.{field} {uri} is outside s3://{artifact_bucket}/{naming.BASELINES_PREFIX}, the one "
                "place the stack's functions may read baselines from",
                fix=f"upload the baseline under s3://{artifact_bucket}/{naming.BASELINES_PREFIX}<model>/ (mlrollout "
                "baseline --out does) and point rollout.yaml at it, then upload the artifact again",
            )
    read_monitoring_baseline(spec, artifacts)


def check_network_and_keys(config: RolloutConfig, network: Network | None, settings: Settings, *, where: str) -> None:
    """Refuse now what SageMaker would refuse, or could not run, once the endpoint is created: a VPC config whose
    subnets or security groups do not exist or do not share one VPC, and a VPC or KMS key the stack's SageMaker
    role may not use (the ModelVpcIds and ModelKmsKeyArns parameters). Every problem at once."""
    problems: list[str] = []
    for field, key in (("kms_key", config.kms_key), ("data_capture.kms_key", config.data_capture.kms_key)):
        allowed = settings.model_kms_key_arns
        if key is not None and allowed is not None and key not in allowed:
            problems.append(
                f"{field}: {key} is not in the stack's ModelKmsKeyArns, so the SageMaker role may not use it and "
                "SageMaker could not encrypt with it; add the key's ARN to ModelKmsKeyArns (and grant the role in "
                "the key policy), or use a key listed there"
            )
    if config.vpc is not None:
        if network is None:
            raise ValueError("the config names a VPC: check_network_and_keys needs `network` to read it")
        problems.extend(_vpc_problems(config.vpc.subnets, config.vpc.security_groups, network, settings))
    if problems:
        raise ConfigInvalid(
            f"{where} cannot run as configured: " + "; ".join(problems),
            fix="correct the fields named above in rollout.yaml (or the stack parameters named), then upload the "
            "artifact again",
        )


def _vpc_problems(subnet_ids: list[str], group_ids: list[str], network: Network, settings: Settings) -> list[str]:
    problems: list[str] = []
    subnets, groups = network.subnets(subnet_ids), network.security_groups(group_ids)
    missing = [s for s in subnet_ids if s not in subnets]
    if missing:
        problems.append(
            f"vpc.subnets: {', '.join(missing)} not found in this account and region; name subnets that exist "
            "(aws ec2 describe-subnets)"
        )
    missing = [g for g in group_ids if g not in groups]
    if missing:
        problems.append(
            f"vpc.security_groups: {', '.join(missing)} not found in this account and region; name security groups "
            "that exist (aws ec2 describe-security-groups)"
        )
    # "Specify the security groups for the VPC that is specified in the Subnets field"
    # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_VpcConfig.html): one VPC for all of them.
    vpcs = sorted({s.vpc_id for s in subnets.values()})
    if len(vpcs) > 1:
        listed = ", ".join(f"{s.id} in {s.vpc_id}" for s in subnets.values())
        problems.append(f"vpc.subnets: they are in {len(vpcs)} VPCs ({listed}); name subnets of one VPC")
    elif vpcs:
        vpc = vpcs[0]
        strangers = [f"{g.id} in {g.vpc_id or 'no VPC'}" for g in groups.values() if g.vpc_id != vpc]
        if strangers:
            problems.append(
                f"vpc.security_groups: {', '.join(strangers)}, not the subnets' VPC {vpc}; name security groups of "
                f"{vpc}"
            )
        allowed = settings.model_vpc_ids
        if allowed is not None and vpc not in allowed:
            problems.append(
                f"vpc: {vpc} is not in the stack's ModelVpcIds, so the SageMaker role may not create the model's "
                f"network interfaces there; add {vpc} to ModelVpcIds and update the stack, or use a listed VPC"
            )
    return problems
