"""Roll Back: one reconciliation step toward the endpoint's previous configuration per invocation."""

from __future__ import annotations

from mlrollout.contracts import RollbackInput, RollbackResult
from mlrollout.domain.errors import ChangeRefused, EndpointChanging, ScalingRefused
from mlrollout.domain.rollback import (
    CAPACITY_ASKED,
    RollbackStep,
    RollbackTarget,
    StepKind,
    deleted_by_rollback,
    plan_rollback,
    plan_scaling_restore,
)
from mlrollout.domain.scaling import promoted_count
from mlrollout.ports import AutoScaling, Endpoints
from mlrollout.services import scaling
from mlrollout.services.ledger import LeaseKeeper


def roll_back(
    request: RollbackInput, *, endpoints: Endpoints, lease: LeaseKeeper, autoscaling: AutoScaling | None = None
) -> RollbackResult:
    """`autoscaling`: needed when the current variant was auto-scaled (`Deployment.scaling`), to restore the
    registration Promote removed."""
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
    # The capacity is asked for once: an update that ends lower (a quota) must not be asked for at every look.
    asked = earlier in {kind.value for kind in CAPACITY_ASKED}
    if step.kind is StepKind.WAIT and asked:
        step = RollbackStep(StepKind.AWAIT_CAPACITY, step.reason)
    if step.kind is StepKind.DONE and deployment.scaling is not None and not deployment.first_deployment:
        try:
            step = _scaling_step(step, request, autoscaling, {} if asked else seen.instance_counts)
        except ScalingRefused as exc:
            step = RollbackStep(StepKind.FAIL, f"{step.reason}, but Application Auto Scaling could not be read: {exc}")
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
            # An auto-scaled current variant still on the endpoint (a rollback during the canary) keeps the count auto
            # scaling gave it, instead of its config's InitialInstanceCount, while it takes all the traffic back
            # (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html).
            retain = deployment.scaling is not None and (deployment.current_variant or "") in seen.weights
            endpoints.update_endpoint(
                deployment.endpoint_name, deployment.previous_config or "", retain_variant_properties=retain
            )
        elif step.kind is StepKind.RESTORE_CAPACITY and step.capacity is not None:
            try:
                endpoints.set_capacity(deployment.endpoint_name, deployment.current_variant or "", step.capacity)
            except ChangeRefused as exc:
                # Not a reason to leave the variant without auto scaling: the next look registers it anyway.
                return RollbackResult(
                    status="waiting",
                    step=step.kind.value,
                    reason=f"{step.reason}, but AWS refused the count ({exc.reason}): registering it as it is",
                    observed=observed,
                )
        elif step.kind is StepKind.DELETE_ENDPOINT:
            endpoints.delete_endpoint(deployment.endpoint_name)
        elif step.kind is StepKind.RESTORE_SCALING and autoscaling is not None and deployment.scaling is not None:
            variant = deployment.current_variant or ""
            problems = scaling.carry(autoscaling, deployment.endpoint_name, variant, deployment.scaling)
            if problems:  # verified at once: the registration is synchronous, the capacity change it makes is not
                return RollbackResult(
                    status="failed",
                    step=step.kind.value,
                    reason=f"{step.reason}, but it does not hold: {'; '.join(problems)}",
                    observed=observed,
                )
        elif step.kind is StepKind.RECREATE_ENDPOINT:
            endpoints.create_endpoint(
                deployment.endpoint_name, deployment.previous_config or "", {"mlrollout:restored-by": "rollback"}
            )
    except EndpointChanging as exc:
        # Another change began between the look and the call (an auto scaling activity): the next step looks again.
        return RollbackResult(status="waiting", step=StepKind.WAIT.value, reason=exc.reason, observed=observed)
    except ChangeRefused as exc:
        return RollbackResult(
            status="failed",
            step=step.kind.value,
            reason=f"{step.reason}, but {exc.reason}",
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


def _scaling_step(
    endpoint_done: RollbackStep, request: RollbackInput, autoscaling: AutoScaling | None, counts: dict[str, int]
) -> RollbackStep:
    """Restore the current variant's registration when it is gone (DescribeScalableTargets), at the count it served
    with at Plan first (within its registered bounds)."""
    deployment = request.deployment
    variant = deployment.current_variant or ""
    if autoscaling is None:
        return RollbackStep(
            StepKind.FAIL,
            f"{endpoint_done.reason}, but the Roll Back function was given no Application Auto Scaling client to "
            f"check variant {variant}'s auto scaling",
        )
    registered = autoscaling.target(deployment.endpoint_name, variant) is not None
    bounds = deployment.scaling
    serving = (
        promoted_count(bounds.live_instance_count, bounds.min_capacity, bounds.max_capacity)
        if bounds is not None and bounds.live_instance_count
        else None
    )
    return plan_scaling_restore(
        endpoint_done, variant, registered=registered, instances=counts.get(variant), serving=serving
    )
