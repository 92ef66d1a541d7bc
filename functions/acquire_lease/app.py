"""Acquire Lease: one rollout per endpoint; wait while another holds it, give way to a newer upload."""

from typing import Any

from mlrollout import wiring
from mlrollout.contracts import LeaseInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.ledger import acquire_lease, lease_minutes
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = LeaseInput.model_validate(event)
    result = acquire_lease(
        request,
        records=wiring.records(),
        leases=wiring.leases(),
        lease_minutes=lease_minutes(get_settings(), request.rollout),
    )
    logger.info("endpoint lease", extra=result.model_dump(mode="json"))
    return result.model_dump(mode="json")
