"""An endpoint variant's Application Auto Scaling registration: read at Plan, carried to the promoted variant at
Finalize Promotion, restored by Roll Back; each write verified by reading it back.

AWS's procedure for updating an auto-scaled endpoint: deregister the variant, update, register the updated
variant and attach its policy again (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html).
"""

from __future__ import annotations

from mlrollout.contracts import VariantScaling
from mlrollout.domain.errors import EndpointNotReady, ScalingRefused
from mlrollout.domain.scaling import ScalableTarget, registration_problems, uncarried
from mlrollout.ports import AutoScaling


def read_scaling(
    autoscaling: AutoScaling, endpoint: str, variant: str, *, instance_type: str | None, live: int | None
) -> VariantScaling | None:
    """The variant's registration, None when it is not a scalable target. Refused (EndpointNotReady) when it has
    scaling mlrollout cannot carry to the promoted variant (domain/scaling.uncarried): nothing is changed yet."""
    target = autoscaling.target(endpoint, variant)
    if target is None:
        return None
    policies = autoscaling.policies(endpoint, variant)
    lost = uncarried(variant, policies, autoscaling.scheduled_actions(endpoint, variant))
    if lost:
        raise EndpointNotReady(
            f"endpoint {endpoint}'s variant {variant} has auto scaling a rollout would lose: {'; '.join(lost)}",
            fix="remove those (target tracking on a predefined metric is carried to the new variant), roll the new "
            "version out, then add them to its variant",
        )
    return VariantScaling(
        variant=variant,
        instance_type=instance_type,
        min_capacity=target.min_capacity,
        max_capacity=target.max_capacity,
        suspended_state=target.suspended_state,
        policies=policies,
        live_instance_count=live,
    )


def register(autoscaling: AutoScaling, endpoint: str, variant: str, scaling: VariantScaling) -> None:
    """Register `variant` with `scaling`'s bounds and put each of its policies (the target first: a policy needs
    one, https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html)."""
    bounds = ScalableTarget(scaling.min_capacity, scaling.max_capacity, scaling.suspended_state)
    autoscaling.register(endpoint, variant, bounds)
    for policy in scaling.policies:
        autoscaling.put_policy(endpoint, variant, policy)


def problems(autoscaling: AutoScaling, endpoint: str, variant: str, scaling: VariantScaling) -> list[str]:
    """How `variant`'s registration differs from `scaling` (DescribeScalableTargets, DescribeScalingPolicies)."""
    target = autoscaling.target(endpoint, variant)
    return registration_problems(
        variant=variant,
        min_capacity=scaling.min_capacity,
        max_capacity=scaling.max_capacity,
        seen_bounds=(target.min_capacity, target.max_capacity) if target else None,
        policies=scaling.policies,
        seen_policies=autoscaling.policies(endpoint, variant) if target else [],
    )


def carry(autoscaling: AutoScaling, endpoint: str, variant: str, scaling: VariantScaling) -> list[str]:
    """Register `variant` as `scaling` says and verify it; the problems left (an AWS refusal included), if any."""
    try:
        register(autoscaling, endpoint, variant, scaling)
        return problems(autoscaling, endpoint, variant, scaling)
    except ScalingRefused as exc:
        return [f"Application Auto Scaling refused: {exc}"]


def describe(scaling: VariantScaling) -> str:
    policies = ", ".join(str(p.get("PolicyName")) for p in scaling.policies) or "no policies"
    return f"{scaling.min_capacity}-{scaling.max_capacity} instances, {policies}"
