"""Roll Back: one reconciliation step toward the endpoint's previous configuration per invocation."""

from __future__ import annotations

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_message
from mlrollout.contracts import RollbackInput, RollbackResult
from mlrollout.domain.rollback import RollbackTarget, StepKind, deleted_by_rollback, plan_rollback
from mlrollout.ports import Endpoints
from mlrollout.services.ledger import LeaseKeeper


def roll_back(request: RollbackInput, *, endpoints: Endpoints, lease: LeaseKeeper) -> RollbackResult:
    deployment = request.deployment
    # Each step renews the endpoint's lease, so a long rollback keeps it; one that lost it still restores the
    # endpoint (the record notes the loss): leaving the canary's config in place would be worse.
    lease.renew(request.rollout, request.now)
    target = RollbackTarget(
        endpoint=deployment.endpoint_name,
        first_deployment=deployment.first_deployment,
        previous_config=deployment.previous_config,
        current_variant=deployment.current_variant,
        candidate_variant=deployment.candidate_variant,
        rollout_configs=deployment.rollout_configs,
    )
    seen = endpoints.observe(deployment.endpoint_name)
    earlier = request.previous.step if request.previous else None
    step = plan_rollback(target, seen, deleted_by_rollback=deleted_by_rollback(earlier))
    observed = {
        "exists": seen.exists,
        "status": seen.status,
        "config": seen.config_name,
        "weights": seen.weights,
        "failure_reason": seen.failure_reason,
    }
    try:
        if step.kind is StepKind.SET_WEIGHTS and step.weights is not None:
            endpoints.set_weights(deployment.endpoint_name, step.weights)
        elif step.kind is StepKind.RESTORE_CONFIG:
            endpoints.update_endpoint(deployment.endpoint_name, deployment.previous_config or "")
        elif step.kind is StepKind.DELETE_ENDPOINT:
            endpoints.delete_endpoint(deployment.endpoint_name)
        elif step.kind is StepKind.RECREATE_ENDPOINT:
            endpoints.create_endpoint(
                deployment.endpoint_name, deployment.previous_config or "", {"mlrollout:restored-by": "rollback"}
            )
    except ClientError as exc:
        return RollbackResult(
            status="failed",
            step=step.kind.value,
            reason=f"{step.reason}, but SageMaker refused: {error_message(exc)}",
            observed=observed,
        )
    if step.kind is StepKind.FAIL:
        return RollbackResult(status="failed", step=step.kind.value, reason=step.reason, observed=observed)
    if step.kind is not StepKind.DONE:
        return RollbackResult(status="waiting", step=step.kind.value, reason=step.reason, observed=observed)

    # Verified: remove what the failed rollout created and nothing serves any more.
    for config in deployment.rollout_configs:
        if config != seen.config_name:
            endpoints.delete_config(config)
    if deployment.candidate_model != deployment.current_model:
        endpoints.delete_model(deployment.candidate_model)
    return RollbackResult(status="done", step=step.kind.value, reason=step.reason, verified=True, observed=observed)
