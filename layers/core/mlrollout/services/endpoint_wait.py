"""Waiting for an endpoint change without polling.

Await Endpoint (a `lambda:invoke.waitForTaskToken` task) records the change and its task token, then looks at the
endpoint once: a change already over is answered at once. Otherwise SageMaker's "SageMaker Endpoint State Change"
events wake the state-change handler, which looks again and answers the token when the change is over. Events may
come more than once, late, or not at all (EventBridge delivers at least once, and a missed delivery is possible), so
nothing trusts the event's contents: every answer comes from DescribeEndpoint, and the task's TimeoutSeconds makes
Step Functions run Await Endpoint again at a slow interval, a re-check that needs no event. Every look applies the
same rule (domain/endpoint_change.py); the wait's time limit runs from the moment the change was requested.
"""

from __future__ import annotations

from datetime import datetime

from mlrollout.contracts import AwaitInput, AwaitResult
from mlrollout.domain.endpoint_change import FAILED, PendingChange, WaitState, WaitVerdict
from mlrollout.domain.errors import TokenExpired
from mlrollout.domain.rollback import EndpointObservation
from mlrollout.ports import Endpoints, EndpointWaits, TaskTokens
from mlrollout.services.ledger import LeaseKeeper


def await_change(
    request: AwaitInput,
    now: datetime,
    *,
    endpoints: Endpoints,
    waits: EndpointWaits,
    tokens: TaskTokens,
    lease: LeaseKeeper,
    default_limit_seconds: int,
) -> AwaitResult:
    """Record the change this task waits for, then look once: a change already over is answered at once (the
    event that ended it may have come before the record)."""
    deployment, expected = request.deployment, request.expected
    lease.renew(request.rollout, now)  # a long wait is renewed at each re-check; a lost lease goes on the record
    change = PendingChange(
        endpoint=deployment.endpoint_name,
        token=request.task_token,
        deployment_id=request.rollout.deployment_id,
        config_name=expected.config_name,
        shares=expected.weights,
        changed_at=request.changed_at,
        limit_seconds=expected.wait_seconds or default_limit_seconds,
    )
    waits.register(change)
    seen = endpoints.observe(change.endpoint)
    return _answer(change, seen, change.assess(seen, now), waits, tokens)


def endpoint_changed(
    endpoint: str, now: datetime, *, endpoints: Endpoints, waits: EndpointWaits, tokens: TaskTokens
) -> AwaitResult | None:
    """SageMaker reported a change on `endpoint`: answer the rollout waiting for it if the change is over. None when
    no rollout waits on this endpoint."""
    change = waits.pending(endpoint)
    if change is None:
        return None
    seen = endpoints.observe(endpoint)
    return _answer(change, seen, change.assess(seen, now), waits, tokens)


def _answer(
    change: PendingChange, seen: EndpointObservation, verdict: WaitVerdict, waits: EndpointWaits, tokens: TaskTokens
) -> AwaitResult:
    result = AwaitResult(endpoint=change.endpoint, state=verdict.state.value, cause=verdict.cause)
    if verdict.state is WaitState.WAITING:
        return result
    try:
        if verdict.state is WaitState.READY:
            tokens.succeed(
                change.token,
                {"status": seen.status, "config": seen.config_name, "weights": seen.weights},
            )
        else:
            tokens.fail(change.token, FAILED, verdict.cause)
        answered = True
    except TokenExpired:  # answered already (the re-check and an event raced), or the execution ended
        answered = False
    waits.forget(change.endpoint, change.token)
    return result.model_copy(update={"answered": answered})
