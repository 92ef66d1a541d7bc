"""Request Approval (manual approval): the rollout waits on a task token until an operator answers.

The token goes on the deployment record (where `mlrollout approve|reject` finds it), the endpoint's lease is
extended past the wait (no judge look renews it meanwhile), and operators are asked, once, with the command to
run. Step Functions then waits for SendTaskSuccess/SendTaskFailure, or its TimeoutSeconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from mlrollout.contracts import ApprovalInput, ApprovalRequest, NotifyInput
from mlrollout.domain.alerts import EventType
from mlrollout.domain.ledger import State, lease_until
from mlrollout.ports import ApprovalRecords, Leases


def request_approval(
    request: ApprovalInput,
    *,
    records: ApprovalRecords,
    leases: Leases,
    lease_minutes: float,
    announce: Callable[[NotifyInput], str | None],
) -> ApprovalRequest:
    rollout, now = request.rollout, request.now
    expires_at = now + timedelta(minutes=rollout.config.approval_timeout_minutes)
    recorded = records.advance(
        rollout.deployment_id,
        State.AWAITING_APPROVAL.value,
        now,
        approval={
            "token": request.task_token,
            "requested_at": now.isoformat(),
            "expires_at": expires_at.isoformat(),
            "execution_id": request.execution_id,
        },
    )
    leases.renew(rollout.endpoint_name, rollout.deployment_id, lease_until(expires_at, lease_minutes))
    message_id = announce(
        NotifyInput(
            event=EventType.APPROVAL_REQUESTED,
            execution_id=request.execution_id,
            now=now,
            rollout=rollout,
            registration=request.registration,
            deployment=request.deployment,
        )
    )
    return ApprovalRequest(
        deployment_id=rollout.deployment_id, expires_at=expires_at, recorded=recorded, message_id=message_id
    )
