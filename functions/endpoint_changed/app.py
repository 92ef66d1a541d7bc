"""Endpoint Changed: a "SageMaker Endpoint State Change" event; the rollout waiting on that endpoint is answered
once the change is over (the event only says when to look: DescribeEndpoint says what is true)."""

from datetime import UTC, datetime
from typing import Any

from mlrollout import wiring
from mlrollout.observability import logger, rollout_step
from mlrollout.services.endpoint_wait import endpoint_changed


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    endpoint = str((event.get("detail") or {}).get("EndpointName") or "")
    if not endpoint:  # the rule sends only endpoint state changes; checked anyway
        logger.warning("not an endpoint state change", extra={"event": event})
        return {"endpoint": None, "state": "ignored"}
    looked = endpoint_changed(
        endpoint,
        datetime.now(UTC),
        endpoints=wiring.endpoints(),
        waits=wiring.endpoint_waits(),
        tokens=wiring.task_tokens(),
    )
    if looked is None:
        logger.info("no rollout waits on this endpoint", extra={"endpoint": endpoint})
        return {"endpoint": endpoint, "state": "not_waited_for"}
    logger.info("endpoint change looked at", extra=looked.model_dump(mode="json"))
    return looked.model_dump(mode="json")
