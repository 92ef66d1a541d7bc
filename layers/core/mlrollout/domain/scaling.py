"""Sizing the variants of a rollout on an auto-scaled endpoint, and checking a carried-over registration.

An auto-scaled variant's instance count is whatever Application Auto Scaling last set, not its config's
InitialInstanceCount, and SageMaker's UpdateEndpoint resets a variant to the config's count (unless
RetainAllVariantProperties is set: https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html).
So every config a rollout writes states the counts the fleet needs at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ScalableTarget:
    """A registered variant's capacity bounds (and its suspended scaling, when any is)."""

    min_capacity: int
    max_capacity: int
    suspended_state: dict[str, bool] | None = None


def candidate_count(live: int, shares: Iterable[float]) -> int:
    """The candidate's instances for a rollout whose largest traffic share (percent) is max(shares): the current
    fleet's size at that share, rounded up, at least one. No share (all at once) means the whole traffic.

    The traffic a variant gets scales with its weight, so the share of a fleet sized for today's load is the
    closest estimate we have; rounding up leaves the canary at most one instance of headroom and never starves
    a small fleet's 10% step to zero instances."""
    largest = max(shares, default=100.0)
    return max(1, math.ceil(live * largest / 100.0 - 1e-9))


def promoted_count(live: int, min_capacity: int, max_capacity: int) -> int:
    """The promoted variant takes the whole traffic the current fleet serves now, within the registered bounds
    (auto scaling would bring it inside them at registration anyway)."""
    return min(max(live, min_capacity), max_capacity)


def uncarried(variant: str, policies: Sequence[Mapping[str, Any]], scheduled: Sequence[str]) -> list[str]:
    """What of a variant's auto scaling mlrollout cannot carry to the promoted variant, each with why.

    Deregistering a target deletes its policies and scheduled actions
    (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeregisterScalableTarget.html).
    Target tracking on a predefined metric is per variant and is put back on the new one as it was. Scheduled actions
    would be lost; a step scaling policy is invoked by alarms its owner manages
    (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-step-scaling-policies.html),
    which would go on pointing at the deleted policy; a customized metric names its variant in its dimensions
    (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html)."""
    found = [f"scheduled action {name} (deregistering deletes it)" for name in scheduled]
    for policy in policies:
        name = policy.get("PolicyName")
        if policy.get("PolicyType") != "TargetTrackingScaling":
            found.append(f"{policy.get('PolicyType')} policy {name} (the alarms that invoke it are yours)")
        elif "CustomizedMetricSpecification" in (policy.get("TargetTrackingScalingPolicyConfiguration") or {}):
            found.append(f"target tracking policy {name} on a customized metric (its dimensions name {variant})")
    return found


def registration_problems(
    *,
    variant: str,
    min_capacity: int,
    max_capacity: int,
    seen_bounds: tuple[int, int] | None,
    policies: Sequence[Mapping[str, Any]],
    seen_policies: Sequence[Mapping[str, Any]],
) -> list[str]:
    """What differs between the registration a variant should carry and what DescribeScalableTargets and
    DescribeScalingPolicies show; empty when it carries it."""
    if seen_bounds is None:
        return [f"variant {variant} is not registered as a scalable target"]
    problems = []
    if seen_bounds != (min_capacity, max_capacity):
        problems.append(
            f"variant {variant} scales within {seen_bounds[0]}-{seen_bounds[1]} instances, not "
            f"{min_capacity}-{max_capacity}"
        )
    seen = {str(p.get("PolicyName")): p for p in seen_policies}
    for policy in policies:
        name = str(policy.get("PolicyName"))
        found = seen.get(name)
        if found is None:
            problems.append(f"variant {variant} has no scaling policy {name}")
        elif any(found.get(key) != value for key, value in policy.items()):
            problems.append(f"variant {variant}'s scaling policy {name} differs from the one it should carry")
    return problems
