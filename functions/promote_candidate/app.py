"""Promote: give the candidate the whole endpoint with a config holding only its variant."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import PromoteInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.deploy import promote_candidate
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PromoteInput.model_validate(event)
    lease = wiring.lease_keeper(request.rollout)
    expected = promote_candidate(
        request,
        endpoints=wiring.endpoints(),
        settings=get_settings(),
        lease=lease,
        autoscaling=wiring.autoscaling() if request.deployment.scaling else None,
    )
    logger.info("promotion requested", extra={"expected": expected.model_dump(mode="json")})
    return expected.model_dump(mode="json")
