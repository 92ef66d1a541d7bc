"""Models and model packages: the image rules CreateModel holds a container to, and the CustomerMetadataProperties
rules of CreateModelPackage and UpdateModelPackage."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# A private Amazon ECR image: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag|@digest].
_ECR_IMAGE = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/\S+$")


def _image_problem(container: Mapping[str, Any]) -> str | None:
    """SageMaker pulls a model's image from Amazon ECR unless ImageConfig.RepositoryAccessMode is Vpc (a private
    registry reached through the model's VPC); any other image is refused at CreateModel, in these words."""
    image = container.get("Image")
    if not image:
        return None  # a container from a model package names no image of its own
    mode = (container.get("ImageConfig") or {}).get("RepositoryAccessMode", "Platform")
    if mode == "Vpc" or _ECR_IMAGE.match(str(image)):
        return None
    return f'Using non-ECR image "{image}" without Vpc repository access mode is not supported.'


def _vpc_access_problem(container: Mapping[str, Any], vpc_config: Mapping[str, Any] | None) -> str | None:
    """A private registry is reached through the model's VPC: "Models that you create based on the images stored in
    your private Docker registry must be configured to connect to the same VPC where the private Docker registry is
    accessible" (https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-containers-inference-private.html).
    AWS does not document the refusal's wording; this is ours."""
    mode = (container.get("ImageConfig") or {}).get("RepositoryAccessMode")
    if mode == "Vpc" and not (vpc_config or {}).get("Subnets"):
        return (
            f'Image "{container.get("Image")}" uses Vpc repository access mode, which requires a VpcConfig on the '
            "model to reach the private registry."
        )
    return None


_METADATA_CHARACTERS = "_.:/=+-@"


def _metadata_problem(response: Any) -> str | None:
    """SageMaker's CustomerMetadataProperties rules (moto checks none): keys 1-128 and values up to 256
    characters of ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$, at most 50 entries."""
    try:
        properties = json.loads(response.body or "{}").get("CustomerMetadataProperties") or {}
    except (ValueError, AttributeError):
        return None
    if len(properties) > 50:
        return f"CustomerMetadataProperties has {len(properties)} entries; the maximum is 50"
    for key, value in properties.items():
        for label, text, limit in (("key", key, 128), ("value", value, 256)):
            bad = sorted(
                {c for c in str(text) if not (c.isalpha() or c.isnumeric() or c.isspace() or c in _METADATA_CHARACTERS)}
            )
            if bad or len(str(text)) > limit or (label == "key" and not text):
                pattern = "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
                return (
                    "1 validation error detected: Value at 'customerMetadataProperties' failed to satisfy constraint:"
                    f" Map {label} '{str(text)[:40]}' must satisfy the pattern {pattern} and length 1-{limit}"
                )
    return None
