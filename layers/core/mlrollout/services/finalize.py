"""Finalize Promotion and Reject Version: the registry records the outcome, superseded resources go."""

from __future__ import annotations

from mlrollout.adapters.registry import MAX_METADATA_VALUE, clip
from mlrollout.contracts import FinalizeInput, FinalizeResult, RejectInput
from mlrollout.domain.errors import EndpointNotReady
from mlrollout.ports import Endpoints, Registry
from mlrollout.services.register import registry_metadata


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


def finalize_promotion(request: FinalizeInput, *, endpoints: Endpoints, registry: Registry) -> FinalizeResult:
    deployment = request.deployment
    seen = endpoints.observe(deployment.endpoint_name)
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
    return FinalizeResult(approved=True, summary=summary, deleted=deleted)


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
