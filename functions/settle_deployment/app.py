"""Settle Deployment: the outcome on the record and the lease released, at the end of every execution.

Invoked by the state machine at the end of its own paths, and by EventBridge for every execution that ends
(the backstop for executions stopped, timed out or crashed outside those paths).
"""

from datetime import UTC, datetime
from typing import Any

from mlrollout import wiring
from mlrollout.contracts import SettleInput
from mlrollout.observability import logger, rollout_step
from mlrollout.services.ledger import settle, settle_dead_execution


@rollout_step
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records, leases = wiring.records(), wiring.leases()
    if event.get("detail-type") == "Step Functions Execution Status Change":
        ended = settle_dead_execution(
            event, records=records, leases=leases, executions=wiring.executions(), now=datetime.now(UTC)
        )
    else:
        ended = settle(SettleInput.model_validate(event), records=records, leases=leases)
    logger.info("deployment settled", extra=ended.__dict__)
    return dict(ended.__dict__)
