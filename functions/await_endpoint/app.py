"""Await Endpoint: record the endpoint change this task's token waits for, and answer it if the change is over."""

from datetime import UTC, datetime
from typing import Any

from mlrollout import wiring
from mlrollout.contracts import AwaitInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.endpoint_wait import await_change
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request, settings = AwaitInput.model_validate(event), get_settings()
    looked = await_change(
        request,
        datetime.now(UTC),  # this look's time: a re-check runs long after the state was entered
        endpoints=wiring.endpoints(),
        waits=wiring.endpoint_waits(),
        tokens=wiring.task_tokens(),
        lease=wiring.lease_keeper(request.rollout),
        default_limit_seconds=settings.endpoint_wait_minutes * 60,
    )
    logger.info("endpoint change looked at", extra=looked.model_dump(mode="json"))
    return looked.model_dump(mode="json")
