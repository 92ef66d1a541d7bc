"""Register Model Version: one package per upload in the model's package group, pending approval."""

from __future__ import annotations

from mlrollout.contracts import RegisterInput, Registration, Rollout
from mlrollout.domain.naming import MAX_METADATA_VALUE, clip
from mlrollout.ports import PackageSpec, Registry


def registry_metadata(rollout: Rollout) -> dict[str, str]:
    """What the registry keeps about an upload: our identifiers, then the uploader's x-amz-meta-* values."""
    ours = {
        "mlrollout:deployment-id": rollout.deployment_id,
        "mlrollout:sha256": rollout.artifact.sha256,
        "mlrollout:artifact": rollout.artifact.uri,
        "mlrollout:artifact-version": rollout.artifact.version_id or "unversioned",
        "mlrollout:version-label": rollout.version_label,
        "mlrollout:endpoint": rollout.endpoint_name,
        "mlrollout:execution": rollout.execution_id.rsplit(":", 1)[-1],
    }
    uploaded = {f"upload:{key}": value for key, value in rollout.metadata.items()}
    return {key: clip(value, MAX_METADATA_VALUE) for key, value in {**uploaded, **ours}.items()}


def register_version(request: RegisterInput, *, registry: Registry) -> Registration:
    rollout = request.rollout
    config = rollout.config
    registry.ensure_group(rollout.model_name, f"Versions of {rollout.model_name}, rolled out by mlrollout", config.tags)
    notes = rollout.metadata.get("notes")
    description = f"{rollout.model_name} {rollout.version_label} (sha256 {rollout.artifact.sha256[:12]})" + (
        f": {notes}" if notes else ""
    )
    package = registry.create_package(
        PackageSpec(
            group_name=rollout.model_name,
            description=description,
            image=config.image,
            model_data_url=rollout.artifact.uri,
            environment=config.environment,
            content_types=config.content_types,
            response_types=config.response_types,
            metadata=registry_metadata(rollout),
            client_token=rollout.deployment_id[-36:],
        )
    )
    return Registration(group_name=rollout.model_name, package_arn=package.arn, package_version=package.version)
