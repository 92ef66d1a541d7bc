"""Settle Deployment: the record's outcome and the lease released, at every execution's end: from the state
machine's own paths, EventBridge's execution-ended event, and a schedule that reconciles recent ends."""

from datetime import UTC, datetime
from typing import Any

from mlrollout import wiring
from mlrollout.contracts import SettleInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.ledger import reconcile, settle, settle_dead_execution
from mlrollout.settings import get_settings


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records, leases = wiring.records(), wiring.leases()
    if event.get("detail-type") == "Scheduled Event":
        done = reconcile(records, leases, wiring.executions(), now=datetime.now(UTC), settings=get_settings())
        logger.info("reconciled", extra=done.summary())
        return done.summary()
    if event.get("detail-type") == "Step Functions Execution Status Change":
        ended = settle_dead_execution(
            event, records=records, leases=leases, executions=wiring.executions(), now=datetime.now(UTC)
        )
    else:
        ended = settle(SettleInput.model_validate(event), records=records, leases=leases)
    logger.info("deployment settled", extra=ended.__dict__)
    return dict(ended.__dict__)
