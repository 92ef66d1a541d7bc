"""Detach Monitoring: an endpoint is being deleted; remove the schedules and alarms mlrollout made for it."""

from typing import Any

from mlrollout import wiring
from mlrollout.observability import logger, rollout_step
from mlrollout.services.monitoring import detach_monitoring
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    endpoint = str(detail.get("EndpointName") or "")
    if not endpoint or detail.get("EndpointStatus") != "DELETING":  # the rule sends only these; checked anyway
        logger.warning("not an endpoint being deleted", extra={"detail": detail})
        return {"endpoint": None, "removed": []}
    removed = detach_monitoring(
        endpoint,
        monitoring=wiring.monitoring(),
        schedules=wiring.schedules(),
        alarms=wiring.alarms(),
        settings=get_settings(),
    )
    logger.info("monitoring detached", extra={"endpoint": endpoint, "removed": removed})
    return {"endpoint": endpoint, "removed": removed}
