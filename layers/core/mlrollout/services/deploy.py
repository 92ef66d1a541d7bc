"""Plan Deployment, Deploy Candidate and Promote: the endpoint changes of the forward path."""

from __future__ import annotations

from typing import Any

from mlrollout.contracts import DeployInput, Deployment, Expectation, PlanInput, PromoteInput, Rollout
from mlrollout.domain import naming, rollback_alarms
from mlrollout.domain.errors import EndpointNotReady
from mlrollout.ports import AlarmStates, Endpoints
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.settings import Settings


def plan_deployment(request: PlanInput, *, endpoints: Endpoints, alarms: AlarmStates | None = None) -> Deployment:
    """Read-only: decide every name and the expected end state before anything changes.

    Pre-flight: every rollback alarm the config names exists and none is in ALARM (`alarms` reads them)."""
    rollout, registration = request.rollout, request.registration
    endpoint = rollout.endpoint_name
    watched = list(rollout.config.judge.rollback_alarms)
    if watched:
        if alarms is None:
            raise ValueError("the config names rollback alarms: plan_deployment needs `alarms` to read them")
        rollback_alarms.preflight(watched, alarms.states(watched), endpoint=endpoint)
    names = naming.RolloutNames.for_deployment(
        endpoint, rollout.model_name, registration.package_version, rollout.deployment_id
    )
    seen = endpoints.observe(endpoint)
    if not seen.exists:
        candidate = naming.variant_name(registration.package_version)
        return Deployment(
            endpoint_name=endpoint,
            first_deployment=True,
            candidate_variant=candidate,
            candidate_model=names.model,
            canary_config=names.canary_config,
            final_config=names.final_config,
            expected=Expectation(config_name=names.final_config, weights={candidate: 1.0}),
        )
    if seen.status != "InService":
        detail = f": {seen.failure_reason}" if seen.failure_reason else ""
        raise EndpointNotReady(
            f"endpoint {endpoint} is {seen.status}{detail}; a rollout starts only from an InService endpoint",
            fix="wait for the change in progress to finish (or repair the endpoint), then upload again",
        )
    variants = endpoints.config_variants(seen.config_name or "")
    if len(variants) != 1:
        listed = ", ".join(v["VariantName"] for v in variants)
        raise EndpointNotReady(
            f"endpoint {endpoint} serves {len(variants)} variants ({listed}); mlrollout rolls a candidate out "
            "beside exactly one current variant",
            fix="finish or roll back the rollout in progress (or reduce the endpoint to one variant), "
            "then upload again",
        )
    current = variants[0]
    candidate = naming.variant_name(registration.package_version, frozenset({current["VariantName"]}))
    return Deployment(
        endpoint_name=endpoint,
        first_deployment=False,
        candidate_variant=candidate,
        candidate_model=names.model,
        canary_config=names.canary_config,
        final_config=names.final_config,
        previous_config=seen.config_name,
        current_variant=current["VariantName"],
        current_model=current.get("ModelName"),
        expected=Expectation(config_name=names.canary_config, weights={current["VariantName"]: 1.0, candidate: 0.0}),
    )


def capture_config(rollout: Rollout, bucket: str) -> dict[str, Any]:
    capture = rollout.config.data_capture
    destination = capture.destination or f"s3://{bucket}/{naming.CAPTURE_PREFIX}{rollout.endpoint_name}"
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": capture.sampling_percentage,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "JsonContentTypes": [t for t in rollout.config.content_types if "json" in t] or ["application/json"],
            "CsvContentTypes": [t for t in rollout.config.content_types if "csv" in t] or ["text/csv"],
        },
    }


def _tags(rollout: Rollout) -> dict[str, str]:
    return {
        **rollout.config.tags,
        "mlrollout:deployment-id": rollout.deployment_id,
        "mlrollout:model": rollout.model_name,
    }


def _candidate_variant(rollout: Rollout, deployment: Deployment, weight: float) -> dict[str, Any]:
    return {
        "VariantName": deployment.candidate_variant,
        "ModelName": deployment.candidate_model,
        "InstanceType": rollout.config.instance_type,
        "InitialInstanceCount": rollout.config.instance_count,
        "InitialVariantWeight": weight,
    }


def deploy_candidate(
    request: DeployInput, *, endpoints: Endpoints, settings: Settings, lease: LeaseKeeper
) -> Expectation:
    rollout, deployment = request.rollout, request.deployment
    lease.require(rollout, request.now, "be deployed")
    bucket = settings.require("artifact_bucket")
    tags = _tags(rollout)
    endpoints.create_model(
        deployment.candidate_model,
        rollout.config.image,
        rollout.artifact.uri,
        rollout.config.environment,
        settings.require("sagemaker_role_arn"),
        tags,
    )
    capture = capture_config(rollout, bucket)
    if deployment.first_deployment:
        endpoints.create_config(deployment.final_config, [_candidate_variant(rollout, deployment, 1.0)], capture, tags)
        endpoints.create_endpoint(deployment.endpoint_name, deployment.final_config, tags)
        return deployment.expected
    current = next(
        v
        for v in endpoints.config_variants(deployment.previous_config or "")
        if v["VariantName"] == deployment.current_variant
    )
    current_spec = {k: v for k, v in current.items() if k not in {"InitialVariantWeight"}}
    endpoints.create_config(
        deployment.canary_config,
        [{**current_spec, "InitialVariantWeight": 1.0}, _candidate_variant(rollout, deployment, 0.0)],
        capture,
        tags,
    )
    endpoints.update_endpoint(deployment.endpoint_name, deployment.canary_config)
    return deployment.expected


def promote_candidate(
    request: PromoteInput, *, endpoints: Endpoints, settings: Settings, lease: LeaseKeeper
) -> Expectation:
    """Give the candidate the whole endpoint: a config with only its variant (never without the endpoint's lease)."""
    rollout, deployment = request.rollout, request.deployment
    lease.require(rollout, request.now, "be promoted")
    endpoints.create_config(
        deployment.final_config,
        [_candidate_variant(rollout, deployment, 1.0)],
        capture_config(rollout, settings.require("artifact_bucket")),
        _tags(rollout),
    )
    endpoints.update_endpoint(deployment.endpoint_name, deployment.final_config)
    return Expectation(config_name=deployment.final_config, weights={deployment.candidate_variant: 1.0})
