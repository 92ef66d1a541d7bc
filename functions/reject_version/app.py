"""Reject Version: mark the registered package Rejected with the reason a human can act on."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import RejectInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.finalize import reject_version


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = reject_version(RejectInput.model_validate(event), registry=wiring.registry())
    logger.info("version rejected", extra=result)
    return result
