"""The SageMaker Model Registry: one package group per model, one package per uploaded version."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.naming import MAX_METADATA_VALUE, clip
from mlrollout.ports import Package, PackageSpec

# SageMaker's limits on CustomerMetadataProperties.
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY = 128
MAX_APPROVAL_DESCRIPTION = 1024


class SageMakerRegistry:
    def __init__(self, sagemaker: Any) -> None:
        self.sm = sagemaker

    def ensure_group(self, name: str, description: str, tags: dict[str, str]) -> None:
        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=name)
            return
        except ClientError as exc:
            if error_code(exc) not in {"ValidationException", "ResourceNotFound"}:
                raise
        try:
            self.sm.create_model_package_group(
                ModelPackageGroupName=name,
                ModelPackageGroupDescription=description[:1024],
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        except ClientError as exc:
            # Two uploads of a new model at once: the other one created the group first.
            if "already exists" not in error_message(exc):
                raise

    def create_package(self, spec: PackageSpec) -> Package:
        response = self.sm.create_model_package(
            ModelPackageGroupName=spec.group_name,
            ModelPackageDescription=spec.description[:1024],
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": spec.image,
                        "ModelDataUrl": spec.model_data_url,
                        "Environment": spec.environment,
                    }
                ],
                "SupportedContentTypes": spec.content_types,
                "SupportedResponseMIMETypes": spec.response_types,
            },
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={k: metadata_value(v) for k, v in spec.metadata.items()},
            ClientToken=spec.client_token,
        )
        return self.describe(response["ModelPackageArn"])

    def describe(self, arn: str) -> Package:
        package = self.sm.describe_model_package(ModelPackageName=arn)
        return Package(
            arn=package["ModelPackageArn"],
            version=int(package.get("ModelPackageVersion", 1)),
            status=package.get("ModelApprovalStatus", "PendingManualApproval"),
            metadata=dict(package.get("CustomerMetadataProperties", {})),
        )

    def set_status(self, arn: str, status: str, description: str, metadata: dict[str, str]) -> None:
        self.sm.update_model_package(
            ModelPackageArn=arn,
            ModelApprovalStatus=status,
            ApprovalDescription=clip(description, MAX_APPROVAL_DESCRIPTION),
            CustomerMetadataProperties={k: metadata_value(v) for k, v in metadata.items()},
        )


# CustomerMetadataProperties keys and values may hold only letters, spaces, digits and _.:/=+-@ (SageMaker's
# pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$): our summaries have commas, brackets and %, so they are translated.
_METADATA_SPELLING = {"%": " percent", ",": " ", ";": " ", "(": " ", ")": " ", "'": "", '"': "", ">": " above ",
                      "<": " below ", "!": ""}  # fmt: skip


def metadata_value(text: str, limit: int = MAX_METADATA_VALUE) -> str:
    """`text` in the characters SageMaker accepts in model package metadata, within its length limit."""
    spelled = "".join(_METADATA_SPELLING.get(c, c) for c in text)
    kept = "".join(c if c.isalnum() or c.isspace() or c in "_.:/=+-@" else " " for c in spelled)
    return clip(" ".join(kept.split()), limit)
