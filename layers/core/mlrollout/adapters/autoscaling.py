"""Application Auto Scaling for SageMaker endpoint variants: a variant's scalable target and its scaling policies.

A variant is the scalable target `endpoint/<endpoint>/variant/<variant>` in the `sagemaker` namespace, on the
dimension `sagemaker:variant:DesiredInstanceCount`
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.errors import ScalingRefused
from mlrollout.domain.scaling import ScalableTarget

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# What PutScalingPolicy takes back of a policy DescribeScalingPolicies returns: the rest (PolicyARN, Alarms,
# CreationTime, and the target's ids) is the service's own or names the old variant
# (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScalingPolicy.html).
POLICY_FIELDS = (
    "PolicyName",
    "PolicyType",
    "TargetTrackingScalingPolicyConfiguration",
    "StepScalingPolicyConfiguration",
    "PredictiveScalingPolicyConfiguration",
)


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


class ApplicationAutoScaling:
    def __init__(self, aas: Any) -> None:
        self.aas = aas

    def _ids(self, endpoint: str, variant: str) -> dict[str, str]:
        return {
            "ServiceNamespace": NAMESPACE,
            "ResourceId": resource_id(endpoint, variant),
            "ScalableDimension": DIMENSION,
        }

    # reads ------------------------------------------------------------------------------------------
    def target(self, endpoint: str, variant: str) -> ScalableTarget | None:
        """The variant's scalable target, None when the variant is not registered (DescribeScalableTargets)."""
        try:
            found = self.aas.describe_scalable_targets(
                ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint, variant)], ScalableDimension=DIMENSION
            )["ScalableTargets"]
        except ClientError as exc:
            raise ScalingRefused(error_message(exc)) from exc
        if not found:
            return None
        target = found[0]
        suspended = target.get("SuspendedState")
        return ScalableTarget(
            min_capacity=int(target["MinCapacity"]),
            max_capacity=int(target["MaxCapacity"]),
            # All three switches off is what AWS returns for a target nobody suspended: nothing to carry over.
            suspended_state=dict(suspended) if suspended and any(suspended.values()) else None,
        )

    def policies(self, endpoint: str, variant: str) -> list[dict[str, Any]]:
        """The variant's scaling policies as PutScalingPolicy takes them (DescribeScalingPolicies, every page)."""
        found: list[dict[str, Any]] = []
        pages = self.aas.get_paginator("describe_scaling_policies").paginate(**self._ids(endpoint, variant))
        try:
            for page in pages:
                for policy in page.get("ScalingPolicies", []):
                    found.append({key: policy[key] for key in POLICY_FIELDS if key in policy})
        except ClientError as exc:
            raise ScalingRefused(error_message(exc)) from exc
        return sorted(found, key=lambda p: str(p["PolicyName"]))

    def scheduled_actions(self, endpoint: str, variant: str) -> list[str]:
        """The names of the variant's scheduled actions (DescribeScheduledActions, every page)."""
        names: list[str] = []
        pages = self.aas.get_paginator("describe_scheduled_actions").paginate(
            ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint, variant), ScalableDimension=DIMENSION
        )
        try:
            for page in pages:
                names += [str(a["ScheduledActionName"]) for a in page.get("ScheduledActions", [])]
        except ClientError as exc:
            raise ScalingRefused(error_message(exc)) from exc
        return sorted(names)

    # writes -----------------------------------------------------------------------------------------
    def register(self, endpoint: str, variant: str, target: ScalableTarget) -> None:
        """Register (or update) the variant with these bounds. No RoleARN: for SageMaker, Application Auto Scaling
        uses its service-linked role
        (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html)."""
        suspended = {"SuspendedState": target.suspended_state} if target.suspended_state else {}
        try:
            self.aas.register_scalable_target(
                **self._ids(endpoint, variant),
                MinCapacity=target.min_capacity,
                MaxCapacity=target.max_capacity,
                **suspended,
            )
        except ClientError as exc:
            raise ScalingRefused(error_message(exc)) from exc

    def put_policy(self, endpoint: str, variant: str, policy: dict[str, Any]) -> None:
        """Create or replace the named policy on the variant (its scalable target must be registered)."""
        fields = {key: policy[key] for key in POLICY_FIELDS if key in policy}
        try:
            self.aas.put_scaling_policy(**self._ids(endpoint, variant), **fields)
        except ClientError as exc:
            raise ScalingRefused(error_message(exc)) from exc

    def deregister(self, endpoint: str, variant: str) -> bool:
        """Deregister the variant; its policies (and their alarms) go with it. False when it was not registered
        (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeregisterScalableTarget.html).
        Read first: AWS names a missing target ObjectNotFoundException, moto a ValidationException, and telling a
        missing target from a refused call must not hang on either's wording."""
        if self.target(endpoint, variant) is None:
            return False
        try:
            self.aas.deregister_scalable_target(**self._ids(endpoint, variant))
        except ClientError as exc:
            if error_code(exc) == "ObjectNotFoundException":
                return False
            raise
        return True
