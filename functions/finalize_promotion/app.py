"""Finalize Promotion: approve the version with the decision summary and delete what it superseded."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import FinalizeInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.finalize import finalize_promotion


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = finalize_promotion(
        FinalizeInput.model_validate(event), endpoints=wiring.endpoints(), registry=wiring.registry()
    )
    logger.info("promotion finalized", extra={"summary": result.summary, "deleted": result.deleted})
    return result.model_dump(mode="json")
