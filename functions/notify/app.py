"""Notify: publish what happened and why to the alerts topic (email and Slack read it), once per event."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from mlrollout import wiring
from mlrollout.contracts import NotifyInput
from mlrollout.observability import logger, metrics, rollout_step
from mlrollout.services.notify import notify
from mlrollout.settings import get_settings


@metrics.log_metrics
@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = NotifyInput.model_validate(event)
    return wiring.once("notify", context=context).run(request.dedupe_key(), lambda: publish(request))


def publish(request: NotifyInput) -> dict[str, Any]:
    result = notify(
        request, notifier=wiring.notifier(), region=wiring.region(), dashboard=get_settings().dashboard_name
    )
    metrics.add_dimension(name="Outcome", value=request.event.value)
    metrics.add_metric(name="RolloutEvents", unit=MetricUnit.Count, value=1)
    logger.info("operators notified", extra={"event": request.event.value, "subject": result.subject})
    return result.model_dump(mode="json")
