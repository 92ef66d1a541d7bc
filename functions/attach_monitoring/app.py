"""Attach Monitoring: the endpoint's data-quality schedule and drift alarms follow the promoted version."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import MonitoringInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.monitoring import attach_monitoring
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = attach_monitoring(
        MonitoringInput.model_validate(event),
        monitoring=wiring.monitoring(),
        schedules=wiring.schedules(),
        alarms=wiring.alarms(),
        artifacts=wiring.artifacts(),
        settings=get_settings(),
        region=wiring.region(),
    )
    logger.info("monitoring", extra={"status": result.status, "detail": result.detail})
    return result.model_dump(mode="json")
