"""Roll Back: one reconciliation step toward the endpoint's previous configuration."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import RollbackInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.rollback import roll_back


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = RollbackInput.model_validate(event)
    result = roll_back(
        request,
        endpoints=wiring.endpoints(),
        lease=wiring.lease_keeper(request.rollout),
        autoscaling=wiring.autoscaling() if request.deployment.scaling else None,
    )
    logger.info("rollback step", extra={"status": result.status, "step": result.step, "reason": result.reason})
    return result.model_dump(mode="json")
