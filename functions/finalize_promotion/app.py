"""Finalize Promotion: approve the version with the decision summary, delete what it superseded, and carry the
previous variant's auto scaling to the promoted one (a failure to is alerted once, as the Notify function would)."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import FinalizeInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.finalize import finalize_promotion
from mlrollout.services.notify import announcer
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = FinalizeInput.model_validate(event)
    scaled = request.deployment.scaling is not None  # only an auto-scaled endpoint needs these clients
    result = finalize_promotion(
        request,
        endpoints=wiring.endpoints(),
        registry=wiring.registry(),
        autoscaling=wiring.autoscaling() if scaled else None,
        announce=announcer(
            wiring.once("notify", context=context), notifier=wiring.notifier(), region=wiring.region(),
            dashboard=get_settings().dashboard_name,
        ) if scaled else None,
    )  # fmt: skip
    logger.info("promotion finalized", extra={"summary": result.summary, "scaling": result.scaling})
    return result.model_dump(mode="json")
