"""Plan Restore: what a stopped rollout had changed, read from its history, for the rollback to undo."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import RestoreInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.ledger import plan_restore


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    plan = plan_restore(RestoreInput.model_validate(event), executions=wiring.executions())
    logger.info("restore planned", extra={"restore": plan.restore, "reason": plan.reason})
    return plan.model_dump(mode="json")
