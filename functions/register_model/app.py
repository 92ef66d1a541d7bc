"""Register Model Version: a package in the model's registry group, pending approval."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import RegisterInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.register import register_version


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    registration = register_version(RegisterInput.model_validate(event), registry=wiring.registry())
    logger.info("version registered", extra={"package_arn": registration.package_arn})
    return registration.model_dump(mode="json")
