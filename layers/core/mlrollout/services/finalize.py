"""Finalize Promotion and Reject Version: the registry records the outcome, superseded resources go."""

from __future__ import annotations

from collections.abc import Callable

from mlrollout.contracts import Failure, FinalizeInput, FinalizeResult, NotifyInput, RejectInput
from mlrollout.domain.alerts import EventType
from mlrollout.domain.endpoint_change import IN_PROGRESS
from mlrollout.domain.errors import EndpointChanging, EndpointNotReady
from mlrollout.domain.naming import MAX_METADATA_VALUE, clip
from mlrollout.ports import AutoScaling, Endpoints, Registry
from mlrollout.services import scaling
from mlrollout.services.register import registry_metadata

Announce = Callable[[NotifyInput], str | None]


def promotion_summary(request: FinalizeInput) -> str:
    rollout, deployment = request.rollout, request.deployment
    if deployment.first_deployment:
        path = f"created endpoint {deployment.endpoint_name}"
    elif rollout.steps:
        path = "canary " + " -> ".join(f"{s:g}%" for s in rollout.steps) + " -> 100%"
    else:
        path = "all at once"
    verdict = f" Last verdict: {request.judgement.reason}" if request.judgement else ""
    return f"Promoted to {deployment.endpoint_name} ({path}) by mlrollout deployment {rollout.deployment_id}.{verdict}"


def finalize_promotion(
    request: FinalizeInput,
    *,
    endpoints: Endpoints,
    registry: Registry,
    autoscaling: AutoScaling | None = None,
    announce: Announce | None = None,
) -> FinalizeResult:
    """Confirm the promotion, approve the version, delete what it superseded, and register the promoted variant
    with the auto scaling its predecessor had (`autoscaling`; a failure to is announced as critical through
    `announce`, never a reason to roll back a version that serves all traffic and passed its checks)."""
    deployment = request.deployment
    seen = endpoints.observe(deployment.endpoint_name)
    if seen.status in IN_PROGRESS and seen.config_name == deployment.final_config:
        raise EndpointChanging(
            f"endpoint {deployment.endpoint_name} is {seen.status} on {deployment.final_config}: another change "
            "is in progress (an operator's update or an auto scaling activity)",
            fix="nothing, Finalize Promotion is tried again when the change ends",
        )
    if seen.status != "InService" or seen.config_name != deployment.final_config:
        raise EndpointNotReady(
            f"endpoint {deployment.endpoint_name} is {seen.status} on {seen.config_name}, not InService on "
            f"{deployment.final_config}; the promotion is not confirmed",
            fix="inspect the endpoint; the version stays pending in the registry until a rollout confirms it",
        )
    deleted: list[str] = []
    if not deployment.first_deployment:
        for config in (*deployment.rollout_configs, deployment.previous_config):
            if config and config != deployment.final_config and endpoints.delete_config(config):
                deleted.append(f"endpoint-config/{config}")
        superseded = deployment.current_model
        if superseded and superseded != deployment.candidate_model and endpoints.delete_model(superseded):
            deleted.append(f"model/{deployment.current_model}")
    summary = promotion_summary(request)
    metadata = {
        **registry_metadata(request.rollout),
        "mlrollout:outcome": "promoted",
        "mlrollout:decision": clip(summary, MAX_METADATA_VALUE),
    }
    registry.set_status(request.registration.package_arn, "Approved", summary, metadata)
    carried = _carry_scaling(request, autoscaling, announce) if deployment.scaling is not None else None
    return FinalizeResult(approved=True, summary=summary, deleted=deleted, scaling=carried)


def _carry_scaling(request: FinalizeInput, autoscaling: AutoScaling | None, announce: Announce | None) -> str:
    """Step 7 of AWS's procedure: the promoted variant registered with the current variant's bounds and policies,
    then read back (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html). Last in
    Finalize: every earlier step may still fail into Roll Back, which must not find a registered candidate."""
    deployment, rollout = request.deployment, request.rollout
    wanted = deployment.scaling
    assert wanted is not None
    endpoint, variant = deployment.endpoint_name, deployment.candidate_variant
    if autoscaling is None:
        problems = ["the Finalize Promotion function was given no Application Auto Scaling client"]
    else:
        problems = scaling.carry(autoscaling, endpoint, variant, wanted)
    # The policies' target values are carried unchanged, also across an instance type change: a per-instance
    # target tuned for one instance type is the best estimate there is for another (nothing here measures the
    # new type's capacity), and the operator is told to re-tune it.
    changed = wanted.instance_type is not None and wanted.instance_type != rollout.config.instance_type
    retune = (
        f"; the instance type changed from {wanted.instance_type} to {rollout.config.instance_type}: the policies' "
        "target values were carried unchanged, re-tune them for the new type if its capacity differs"
        if changed
        else ""
    )
    if not problems:
        return f"variant {variant} registered for auto scaling ({scaling.describe(wanted)}), verified{retune}"
    reason = (
        f"{rollout.model_name} {rollout.version_label} is promoted on {endpoint}, but its variant {variant} is not "
        f"auto-scaled as {wanted.variant} was ({scaling.describe(wanted)}): {'; '.join(problems)}"
    )
    if announce is not None:
        announce(
            NotifyInput(
                event=EventType.SCALING_NOT_RESTORED,
                execution_id=rollout.execution_id,
                now=request.now,
                rollout=rollout,
                registration=request.registration,
                deployment=deployment,
                failure=Failure(error="ScalingNotRestored", cause=reason, state="Finalize Promotion"),
            )
        )
    return f"NOT auto-scaled: {'; '.join(problems)}{retune}"


def reject_version(request: RejectInput, *, registry: Registry) -> dict[str, object]:
    reason = request.failure.reason
    if request.registration is None or request.rollout is None:
        return {
            "rejected": False,
            "reason": reason,
            "detail": "no model package was registered for this upload",
        }
    metadata = {
        **registry_metadata(request.rollout),
        "mlrollout:outcome": "rejected",
        "mlrollout:failed-state": clip(request.failure.state or "unknown", MAX_METADATA_VALUE),
        "mlrollout:decision": clip(reason, MAX_METADATA_VALUE),
    }
    registry.set_status(request.registration.package_arn, "Rejected", f"Rejected by mlrollout: {reason}", metadata)
    return {"rejected": True, "reason": reason}
