"""Plan Deployment, Deploy Candidate and Promote: the endpoint changes of the forward path."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from mlrollout.contracts import (
    DeployInput,
    Deployment,
    EstimateOption,
    Expectation,
    PhasePlan,
    PlanEstimate,
    PlanInput,
    PromoteInput,
    Rollout,
)
from mlrollout.domain import duration, estimate, naming, rollback_alarms, scaling
from mlrollout.domain.config import RolloutConfig, change_wait_seconds
from mlrollout.domain.endpoint_change import IN_PROGRESS
from mlrollout.domain.errors import ConfigInvalid, EndpointChanging, EndpointNotReady, MetricsUnavailable
from mlrollout.domain.ledger import State
from mlrollout.ports import AlarmStates, AutoScaling, Endpoints, ModelNetwork, Records, TrafficReader
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.services.scaling import read_scaling
from mlrollout.settings import Settings


def plan_deployment(
    request: PlanInput,
    *,
    endpoints: Endpoints,
    alarms: AlarmStates | None = None,
    traffic: TrafficReader | None = None,
    records: Records | None = None,
    autoscaling: AutoScaling | None = None,
    settings: Settings | None = None,
) -> Deployment:
    """Read-only on the endpoint: decide every name and the expected end state before anything changes.

    Pre-flight: every rollback alarm the config names exists and none is in ALARM (`alarms` reads them).
    Expectations: with `traffic`, the current variant's recent traffic gives the estimate of how long each phase
    needs to decide (`Deployment.estimate`, also put on the deployment record when `records` is given, for the CLI);
    an estimate that cannot be made says why and never stops the rollout.
    Auto scaling: with `autoscaling`, the current variant's scalable target and policies and its live instance
    count (`Deployment.scaling`), which Deploy, Promote, Finalize and Roll Back carry through the rollout.
    Duration: with `settings`, the rollout's worst case must fit in what is left of the execution's limit
    (domain/duration.py): the deadlines grown for low traffic are shortened until it does, and a rollout whose
    configured deadlines, approval and waits alone do not fit is refused (ConfigInvalid) before anything changes."""
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
        candidate = naming.variant_name(rollout.version_label, registration.package_version)
        return Deployment(
            endpoint_name=endpoint,
            first_deployment=True,
            candidate_variant=candidate,
            candidate_model=names.model,
            canary_config=names.canary_config,
            final_config=names.final_config,
            expected=Expectation(config_name=names.final_config, weights={candidate: 1.0}),
        )
    if seen.status in IN_PROGRESS:
        # An auto scaling activity (or an operator's update) is changing the endpoint: Plan is tried again when it
        # is over (the ASL retries EndpointChanging), instead of refusing an upload that only came at a busy moment.
        raise EndpointChanging(
            f"endpoint {endpoint} is {seen.status}: another change (an auto scaling activity or an operator's "
            "update) is in progress, and a rollout starts only from an InService endpoint",
            fix="nothing, Plan is tried again when the change ends; if it never ends, inspect the endpoint",
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
    _require_same_kind(rollout, current)
    candidate = naming.variant_name(
        rollout.version_label, registration.package_version, frozenset({current["VariantName"]})
    )
    # A serverless endpoint serves one variant: the candidate replaces the current one at once and is judged against
    # the endpoint's own minutes before the switch (there is nothing to compare it with beside it).
    history = rollout.config.serverless is not None
    planned = (
        plan_estimate(rollout, current["VariantName"], traffic, request.now, history=history)
        if traffic is not None
        else None
    )
    if settings is not None:
        planned = _within_execution_limit(rollout, planned, request.now, settings, history=history)
    if planned is not None and records is not None:
        _record_estimate(records, rollout, planned, request)
    current_scaling = (
        read_scaling(
            autoscaling,
            endpoint,
            current["VariantName"],
            instance_type=current.get("InstanceType"),
            live=seen.instance_counts.get(current["VariantName"]),
        )
        if autoscaling is not None
        else None
    )
    expected = Expectation(config_name=names.canary_config, weights={current["VariantName"]: 1.0, candidate: 0.0})
    if rollout.config.serverless is not None:
        # One variant: Deploy switches the endpoint to the candidate's final config at once.
        expected = Expectation(config_name=names.final_config, weights={candidate: 1.0})
    return Deployment(
        endpoint_name=endpoint,
        first_deployment=False,
        candidate_variant=candidate,
        candidate_model=names.model,
        canary_config=names.canary_config,
        final_config=names.final_config,
        shadow_config=names.shadow_config if rollout.config.strategy.shadow is not None else None,
        previous_config=seen.config_name,
        current_variant=current["VariantName"],
        current_model=current.get("ModelName"),
        expected=expected,
        estimate=planned,
        scaling=current_scaling,
        against_history=history,
    )


def _within_execution_limit(
    rollout: Rollout, planned: PlanEstimate | None, now: datetime, settings: Settings, *, history: bool
) -> PlanEstimate | None:
    """The plan with its grown deadlines shortened as much as the execution's limit needs (domain/duration.py);
    raises ConfigInvalid when the configured deadlines, approval and endpoint waits alone do not fit."""
    config = rollout.config
    phases = estimate.phases_of(config.strategy, history=history)
    estimated = planned.phases if planned is not None else []
    deadlines = [
        duration.PhaseDeadline(
            phase.label(),
            max(phase.policy.deadline_minutes, estimated[i].deadline_minutes if i < len(estimated) else 0.0),
            phase.policy.deadline_minutes,
        )
        for i, phase in enumerate(phases)
    ]
    wait = change_wait_seconds(config, settings.endpoint_wait_minutes * 60) / 60
    available = settings.execution_timeout_seconds / 60 - max(0.0, (now - rollout.started_at).total_seconds() / 60)
    rollback = settings.rollback_max_polls * settings.endpoint_poll_seconds / 60
    fitted, budget = duration.fitted(config, deadlines, wait, rollback, available)
    if not budget.fits:
        raise ConfigInvalid(
            f"this rollout could outlast its execution: {budget.explain()} (the state machine's TimeoutSeconds, "
            "EXECUTION_TIMEOUT_SECONDS); past it the execution stops and the version is neither judged nor promoted",
            fix="shorten strategy.max_bake_minutes (or strategy.bake_minutes), use fewer steps, a shorter "
            "approval_timeout_minutes or on_deadline: rollback, then upload again",
        )
    if planned is None or fitted == deadlines:
        return planned
    shortened = [
        p.model_copy(
            update={
                "deadline_minutes": f.minutes,
                "within_deadline": p.minutes is not None and p.minutes <= f.minutes,
            }
        )
        for p, f in zip(planned.phases, fitted, strict=False)
    ] + planned.phases[len(fitted) :]
    note = (
        f"the deadlines grown for this traffic were shortened to {', '.join(f'{f.minutes:g}' for f in fitted)} "
        f"minutes so the rollout fits in its execution's {settings.execution_timeout_seconds / 3600:g} hours"
    )
    warning = f"{planned.warning} Also, {note}." if planned.warning else f"{note[0].upper()}{note[1:]}."
    return planned.model_copy(update={"phases": shortened, "warning": warning})


def _require_same_kind(rollout: Rollout, current: dict[str, Any]) -> None:
    """Refuse, before anything is touched, a rollout that would turn the endpoint from instance-based into
    serverless or back. SageMaker refuses the first ("If you try to update your real-time endpoint to serverless,
    you receive a ValidationError"); it allows the second, but "once you make the update, you cannot roll it back
    to serverless", so the rollout's own rollback would be refused
    (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions)."""
    endpoint = rollout.endpoint_name
    serverless_now = current.get("ServerlessConfig") is not None
    if serverless_now == (rollout.config.serverless is not None):
        return
    new_name = f"`endpoint_name: {endpoint}-{'instances' if serverless_now else 'serverless'}`"
    if serverless_now:
        reason = (
            f"endpoint {endpoint} is serverless and rollout.yaml describes an instance-based variant; SageMaker "
            "would make the change but never let the endpoint become serverless again, so a failed rollout could "
            "not be rolled back"
        )
        keep = "add `serverless: {memory_mb, max_concurrency}` to keep the endpoint serverless"
    else:
        reason = (
            f"endpoint {endpoint} is instance-based ({current.get('InstanceType')}) and rollout.yaml asks for a "
            "serverless one; SageMaker cannot update an instance-based endpoint to serverless"
        )
        keep = "remove `serverless` to keep the endpoint instance-based"
    raise ConfigInvalid(
        reason,
        fix=f"roll out to a new endpoint (e.g. {new_name} in rollout.yaml) and move clients to it, or {keep}; "
        "then upload again",
    )


def plan_estimate(
    rollout: Rollout, current_variant: str, traffic: TrafficReader, now: datetime, *, history: bool = False
) -> PlanEstimate:
    """The estimate at the current variant's last hour of traffic, or why there is none (`history`: the candidate
    is judged against the endpoint's history, Deployment.against_history)."""
    limits, strategy = rollout.config.judge, rollout.config.strategy
    try:
        recent = traffic.recent(rollout.endpoint_name, current_variant, now, include_4xx=limits.include_4xx)
    except MetricsUnavailable as exc:
        return PlanEstimate(unavailable=exc.reason)
    try:
        expected = estimate.estimate(recent, limits, strategy, history=history)
    except Exception as exc:  # an estimate is advice: a defect in it must not stop a rollout
        return PlanEstimate(unavailable=f"the estimate failed ({type(exc).__name__}: {exc})")
    return PlanEstimate(
        requests_per_minute=round(recent.requests_per_minute, 3),
        error_rate=round(recent.error_rate, 6),
        traffic_minutes=recent.minutes,
        phases=[
            PhasePlan(
                phase=p.phase.label(),
                kind=p.phase.kind,
                percent=p.phase.percent,
                minutes=p.minutes,
                deadline_minutes=p.deadline_minutes,
                within_deadline=p.within_deadline,
                why=p.why,
                default_deadline_minutes=p.phase.policy.deadline_minutes if p.extended else None,
            )
            for p in expected.phases
        ],
        total_minutes=expected.total_minutes,
        decides_in_time=expected.decides_in_time,
        warning=expected.warning(),
        options=[
            EstimateOption(change=o.change, total_minutes=o.total_minutes, decides_in_time=o.decides_in_time)
            for o in expected.options
        ],
    )


def _record_estimate(records: Records, rollout: Rollout, planned: PlanEstimate, request: PlanInput) -> None:
    """The estimate on the deployment record, where `mlrollout publish` and `status` read it. Plan runs once the
    lease is held, so the record is `deploying`; the alert and the state carry the estimate anyway, so a failed
    write costs only the CLI's line."""
    with contextlib.suppress(Exception):  # bookkeeping for display: never a reason to stop the rollout
        records.advance(
            rollout.deployment_id, State.DEPLOYING.value, request.now, estimate=planned.model_dump(mode="json")
        )


def capture_config(rollout: Rollout, bucket: str) -> dict[str, Any]:
    capture = rollout.config.data_capture
    destination = capture.destination or f"s3://{bucket}/{naming.CAPTURE_PREFIX}{rollout.endpoint_name}"
    encryption = {"KmsKeyId": capture.kms_key} if capture.kms_key else {}
    return {
        **encryption,
        "EnableCapture": True,
        "InitialSamplingPercentage": capture.sampling_percentage,
        "DestinationS3Uri": destination,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "JsonContentTypes": [t for t in rollout.config.content_types if "json" in t] or ["application/json"],
            "CsvContentTypes": [t for t in rollout.config.content_types if "csv" in t] or ["text/csv"],
        },
    }


def _capture(rollout: Rollout, bucket: str) -> dict[str, Any] | None:
    """The DataCaptureConfig of each config this rollout creates: none on a serverless endpoint, where SageMaker
    does not capture data (validation refuses `data_capture` there)."""
    return None if rollout.config.serverless is not None else capture_config(rollout, bucket)


def _tags(rollout: Rollout) -> dict[str, str]:
    return {
        **rollout.config.tags,
        "mlrollout:deployment-id": rollout.deployment_id,
        "mlrollout:model": rollout.model_name,
    }


def _candidate_variant(
    rollout: Rollout, deployment: Deployment, weight: float, count: int | None = None
) -> dict[str, Any]:
    """The candidate's ProductionVariant; `count` overrides rollout.yaml's instance_count (an auto-scaled
    endpoint sizes the candidate from the live fleet)."""
    config = rollout.config
    large_model = {
        key: value
        for key, value in (
            ("VolumeSizeInGB", config.volume_size_gb),
            ("ModelDataDownloadTimeoutInSeconds", config.model_data_download_timeout),
            ("ContainerStartupHealthCheckTimeoutInSeconds", config.container_startup_health_check_timeout),
        )
        if value is not None
    }
    capacity: dict[str, Any] = (
        {"ServerlessConfig": config.serverless.as_api()}
        if config.serverless is not None
        else {
            "InstanceType": config.instance_type,
            "InitialInstanceCount": count if count is not None else config.instance_count,
        }
    )
    return {
        "VariantName": deployment.candidate_variant,
        "ModelName": deployment.candidate_model,
        **capacity,
        "InitialVariantWeight": weight,
        **large_model,
    }


def model_network(config: RolloutConfig) -> ModelNetwork:
    """The candidate model's network: its VPC, isolation and image registry, as rollout.yaml asks."""
    return ModelNetwork(
        subnets=tuple(config.vpc.subnets) if config.vpc else (),
        security_groups=tuple(config.vpc.security_groups) if config.vpc else (),
        isolated=config.network_isolation,
        private_registry=config.image_access == "vpc",
    )


def _live_count(endpoints: Endpoints, deployment: Deployment, configured: int) -> int:
    """The current variant's instance count now (auto scaling may have moved it since Plan); Plan's reading, then
    the config's count, when DescribeEndpoint shows none."""
    now = endpoints.observe(deployment.endpoint_name).instance_counts.get(deployment.current_variant or "")
    planned = deployment.scaling.live_instance_count if deployment.scaling else None
    return now or planned or configured


def _traffic_shares(rollout: Rollout) -> list[float]:
    """Every share (percent) of the requests the candidate sees before promotion: its canary steps, and the copy
    a shadow phase sends it."""
    shadow = rollout.config.strategy.shadow
    return [*rollout.steps, *([shadow.percent] if shadow is not None else [])]


def _waited(expected: Expectation, rollout: Rollout, settings: Settings) -> Expectation:
    """`expected` with the time this config's change may take when a large model's download and start-up need
    longer than the stack's wait; None (the stack's EndpointWaitMinutes) otherwise, so that parameter stays the one
    setting for ordinary models."""
    default = settings.endpoint_wait_minutes * 60
    seconds = change_wait_seconds(rollout.config, default)
    return expected.model_copy(update={"wait_seconds": seconds if seconds > default else None})


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
        network=model_network(rollout.config),
    )
    capture = _capture(rollout, bucket)
    kms_key = rollout.config.kms_key
    if deployment.first_deployment or rollout.config.serverless is not None:
        # A serverless endpoint serves one variant (validation requires `all_at_once`): the candidate's final
        # config replaces the current one in a single update, and Roll Back restores the previous config.
        endpoints.create_config(
            deployment.final_config, [_candidate_variant(rollout, deployment, 1.0)], capture, tags, kms_key=kms_key
        )
        if deployment.first_deployment:
            endpoints.create_endpoint(deployment.endpoint_name, deployment.final_config, tags)
        else:
            endpoints.update_endpoint(deployment.endpoint_name, deployment.final_config)
        return _waited(deployment.expected, rollout, settings)
    current = next(
        v
        for v in endpoints.config_variants(deployment.previous_config or "")
        if v["VariantName"] == deployment.current_variant
    )
    current_spec = {k: v for k, v in current.items() if k not in {"InitialVariantWeight"}}
    candidate_count: int | None = None
    if deployment.scaling is not None:
        # The update would reset the current variant to its config's InitialInstanceCount, shrinking a fleet auto
        # scaling has grown: the canary's config states the live count instead (the effect AWS's procedure gets
        # with RetainAllVariantProperties, https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html).
        live = _live_count(endpoints, deployment, int(current.get("InitialInstanceCount", 1)))
        current_spec["InitialInstanceCount"] = live
        if rollout.config.candidate_sizing == "share":
            candidate_count = scaling.candidate_count(live, _traffic_shares(rollout))
    endpoints.create_config(
        deployment.canary_config,
        [
            {**current_spec, "InitialVariantWeight": 1.0},
            _candidate_variant(rollout, deployment, 0.0, candidate_count),
        ],
        capture,
        tags,
        kms_key=kms_key,
    )
    if deployment.shadow_config and rollout.config.strategy.shadow is not None:
        # The shadow phase first; the canary config waits for Leave Shadow (an UpdateEndpoint in the ASL). Equal
        # weights, as in AWS's only ShadowProductionVariants example: every request is copied to the shadow
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/model-shadow-deployment.html).
        endpoints.create_config(
            deployment.shadow_config,
            [{**current_spec, "InitialVariantWeight": 1.0}],
            capture,
            tags,
            shadow_variants=[_candidate_variant(rollout, deployment, 1.0, candidate_count)],
            kms_key=kms_key,
        )
        _update(endpoints, deployment, deployment.shadow_config)
        shadow = Expectation(config_name=deployment.shadow_config, weights={deployment.current_variant or "": 1.0})
        return _waited(shadow, rollout, settings)
    _update(endpoints, deployment, deployment.canary_config)
    return _waited(deployment.expected, rollout, settings)


def _update(endpoints: Endpoints, deployment: Deployment, config: str) -> None:
    """UpdateEndpoint to the shadow or canary config, unless an earlier attempt of this step already got it there.

    An auto-scaled current variant keeps the count auto scaling gives it (RetainAllVariantProperties, step 6 of
    https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html): the config states the live count
    at its creation, and a retry after a scaling activity refused the first attempt reuses that config."""
    if endpoints.observe(deployment.endpoint_name).config_name == config:
        return
    endpoints.update_endpoint(
        deployment.endpoint_name, config, retain_variant_properties=deployment.scaling is not None
    )


def promote_candidate(
    request: PromoteInput,
    *,
    endpoints: Endpoints,
    settings: Settings,
    lease: LeaseKeeper,
    autoscaling: AutoScaling | None = None,
) -> Expectation:
    """Give the candidate the whole endpoint: a config with only its variant (never without the endpoint's lease).

    An auto-scaled current variant is deregistered first: SageMaker refuses an update that removes a registered
    variant (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html). The promoted variant
    starts at the fleet's live size within the registered bounds, and Finalize Promotion registers it once the
    endpoint is InService on it; Roll Back restores the current variant's registration if the promotion fails."""
    rollout, deployment = request.rollout, request.deployment
    lease.require(rollout, request.now, "be promoted")
    promoted = Expectation(config_name=deployment.final_config, weights={deployment.candidate_variant: 1.0})
    if rollout.config.serverless is not None and (
        endpoints.observe(deployment.endpoint_name).config_name == deployment.final_config
    ):
        # Deploy already switched the serverless endpoint to the final config: nothing is left to change.
        return _waited(promoted, rollout, settings)
    count: int | None = None
    if deployment.scaling is not None:
        if autoscaling is None:
            raise ValueError("the current variant is auto-scaled: promote_candidate needs `autoscaling`")
        # The current variant scaled in as its share fell during the canary: the promoted variant takes all the
        # traffic, so it starts at what serves all of it now (both variants) or what served it at Plan, the larger.
        seen = endpoints.observe(deployment.endpoint_name)
        if seen.status in IN_PROGRESS:
            # Never deregister the current variant while a scaling activity runs: the update would be refused, and
            # the variant would go without auto scaling for as long as the retries last.
            raise EndpointChanging(
                f"endpoint {deployment.endpoint_name} is {seen.status}: another change (an auto scaling activity) "
                "is in progress, and Promote deregisters the current variant only from an InService endpoint",
                fix="nothing, Promote is tried again when the change ends",
            )
        serving = seen.instance_counts
        now = sum(serving.get(v) or 0 for v in (deployment.current_variant or "", deployment.candidate_variant))
        live = max(now, deployment.scaling.live_instance_count or 0) or rollout.config.instance_count
        autoscaling.deregister(deployment.endpoint_name, deployment.current_variant or "")
        count = scaling.promoted_count(live, deployment.scaling.min_capacity, deployment.scaling.max_capacity)
    endpoints.create_config(
        deployment.final_config,
        [_candidate_variant(rollout, deployment, 1.0, count)],
        _capture(rollout, settings.require("artifact_bucket")),
        _tags(rollout),
        kms_key=rollout.config.kms_key,
    )
    if endpoints.observe(deployment.endpoint_name).config_name != deployment.final_config:  # not done by a retry
        endpoints.update_endpoint(deployment.endpoint_name, deployment.final_config)
    return _waited(promoted, rollout, settings)
