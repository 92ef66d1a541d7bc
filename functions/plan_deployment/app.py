"""Plan Deployment: check the rollback alarms, read the endpoint, decide names and the expected end state, estimate
how long the rollout needs at the current traffic; changes nothing on the endpoint."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import PlanInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.deploy import plan_deployment
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deployment = plan_deployment(
        PlanInput.model_validate(event),
        endpoints=wiring.endpoints(),
        alarms=wiring.alarms(),
        traffic=wiring.traffic(),
        records=wiring.records(),
        autoscaling=wiring.autoscaling(),
        settings=get_settings(),
    )
    logger.info("deployment planned", extra={"deployment": deployment.model_dump(mode="json")})
    return deployment.model_dump(mode="json")
