"""Notify Slack: post each alert on the topic to the Slack webhook; a failed post raises so Lambda retries."""

from typing import Any

from mlrollout import wiring
from mlrollout.domain.alerts import Severity
from mlrollout.observability import logger, rollout_step
from mlrollout.services.slack import relay
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deliveries = relay(
        event,
        poster=wiring.slack(),
        minimum=Severity(get_settings().slack_min_severity),
        guard=wiring.once("slack", context=context),
    )
    logger.info("slack", extra={"deliveries": [d.__dict__ for d in deliveries]})
    return {"deliveries": [d.__dict__ for d in deliveries]}
