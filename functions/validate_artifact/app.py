"""Validate Artifact: turn an S3 upload event into a validated rollout (or a clear rejection)."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import ValidateInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.validate import validate_upload
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rollout = validate_upload(
        ValidateInput.model_validate(event),
        artifacts=wiring.artifacts(),
        settings=get_settings(),
        network=wiring.network(),
    )
    logger.info("artifact accepted", extra={"deployment_id": rollout.deployment_id, "sha256": rollout.artifact.sha256})
    return rollout.model_dump(mode="json")
