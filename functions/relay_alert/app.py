"""Relay Alert: drift alarms and Model Monitor violations from EventBridge, to the alerts topic once."""

from typing import Any

from mlrollout import wiring
from mlrollout.observability import logger, rollout_step
from mlrollout.services.relay import relay_alarm, relay_violations
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = get_settings()
    common = {"state": wiring.alert_state(), "notifier": wiring.notifier(), "region": wiring.region()}
    if event.get("detail-type") == "SageMaker Processing Job State Change":
        cooldown = settings.violations_cooldown_minutes
        outcome = relay_violations(
            event,
            **common,
            monitoring=wiring.monitoring(),
            stack_name=settings.stack_name,
            dashboard=settings.dashboard_name,
            cooldown_minutes=cooldown,
        )
    else:
        outcome = relay_alarm(event, **common, reader=wiring.metrics(), dashboard=settings.dashboard_name)
    logger.info("alert relay", extra={"detail_type": event.get("detail-type"), **outcome.__dict__})
    return dict(outcome.__dict__)
