"""Pre-Traffic Check: the candidate variant answers the sample request before it gets any traffic."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import PreTrafficInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.pretraffic import check_candidate


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PreTrafficInput.model_validate(event)
    lease = wiring.lease_keeper(request.rollout)
    result = check_candidate(request, endpoints=wiring.endpoints_with_runtime(), lease=lease)
    logger.info("pre-traffic check", extra={"status": result.status, "detail": result.detail})
    return result.model_dump(mode="json")
