"""Request Approval: manual approval; the task token goes on the record and operators are asked, once."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import ApprovalInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.approval import request_approval
from mlrollout.services.ledger import lease_minutes
from mlrollout.services.notify import announcer
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request, settings = ApprovalInput.model_validate(event), get_settings()
    announce = announcer(
        wiring.once("notify", context=context),  # the Notify function's key: a retry asks operators once
        notifier=wiring.notifier(),
        region=wiring.region(),
        dashboard=settings.dashboard_name,
    )
    minutes = lease_minutes(settings, request.rollout)
    asked = request_approval(
        request, records=wiring.records(), leases=wiring.leases(), lease_minutes=minutes, announce=announce
    )
    logger.info("approval requested", extra=asked.model_dump(mode="json"))
    return asked.model_dump(mode="json")
