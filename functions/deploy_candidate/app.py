"""Deploy Candidate: create the model and a config with the candidate at weight 0 (or the new endpoint)."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import DeployInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.deploy import deploy_candidate
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = DeployInput.model_validate(event)
    lease = wiring.lease_keeper(request.rollout)
    expected = deploy_candidate(request, endpoints=wiring.endpoints(), settings=get_settings(), lease=lease)
    logger.info("endpoint change requested", extra={"expected": expected.model_dump(mode="json")})
    return expected.model_dump(mode="json")
