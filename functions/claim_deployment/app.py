"""Claim Deployment: the upload's record; a duplicate delivery or re-upload of the same bytes is told so."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import ClaimInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.ledger import claim_deployment


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = claim_deployment(ClaimInput.model_validate(event), records=wiring.records(), leases=wiring.leases())
    logger.info("deployment claimed", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
