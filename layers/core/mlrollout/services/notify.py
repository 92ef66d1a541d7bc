"""Notify: tell operators what happened and why, in one message schema for every event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from mlrollout.contracts import NotifyInput, NotifyResult, PlanEstimate, Upload
from mlrollout.domain import naming
from mlrollout.domain.alerts import Alert, EventType, Evidence
from mlrollout.domain.judge import check_evidence
from mlrollout.ports import Guard, Notifier


def _split(weights: object) -> str:
    """Variant weights as shares of the traffic ("v1 90%, v2 10%"; weights are relative to their sum)."""
    if not isinstance(weights, dict) or not weights:
        return "no variants"
    total = sum(float(w) for w in weights.values()) or 1.0
    return ", ".join(f"{name} {100 * float(w) / total:.3g}%" for name, w in weights.items())


def console_links(request: NotifyInput, region: str, dashboard: str | None) -> dict[str, str]:
    base = f"https://{region}.console.aws.amazon.com"
    execution = quote(request.execution_id, safe=":")
    links = {"execution": f"{base}/states/home?region={region}#/v2/executions/details/{execution}"}
    endpoint = request.deployment.endpoint_name if request.deployment else None
    endpoint = endpoint or (request.rollout.endpoint_name if request.rollout else None)
    if endpoint:
        links["endpoint"] = f"{base}/sagemaker/home?region={region}#/endpoints/{endpoint}"
    if request.rollout:
        links["model_package_group"] = (
            f"{base}/sagemaker/home?region={region}#/model-registry/{request.rollout.model_name}"
        )
    if dashboard:
        links["dashboard"] = f"{base}/cloudwatch/home?region={region}#dashboards/dashboard/{dashboard}"
    return links


def build_alert(request: NotifyInput, *, region: str, dashboard: str | None) -> Alert:
    rollout, failure, judgement = request.rollout, request.failure, request.judgement
    evidence: list[Evidence] = _plan_evidence(request)
    if judgement is not None:
        evidence.append(
            Evidence("verdict", f"{judgement.verdict} at step {judgement.step_index + 1} ({judgement.weight:g}%)")
        )
        evidence += [Evidence(*check_evidence(check)) for check in judgement.checks]
    if request.rollback is not None:
        seen = request.rollback.observed
        evidence.append(
            Evidence(
                "endpoint after rollback",
                f"{seen.get('status')} on {seen.get('config')}, traffic {_split(seen.get('weights'))}",
            )
        )
        evidence.append(Evidence("rollback verified", "yes" if request.rollback.verified else "NO"))
    if request.monitoring is not None:
        evidence.append(Evidence("monitoring", request.monitoring.detail))
    if failure is not None and failure.state:
        evidence.append(Evidence("failed step", f"{failure.state} ({failure.error})"))
    if request.registration is not None:
        evidence.append(Evidence("model package", request.registration.package_arn))

    reason = _reason(request)
    upload = None
    if rollout is None and request.upload_event is not None:
        try:
            upload = Upload.from_event(request.upload_event)
        except Exception:  # the rejection being reported may be exactly this malformed event
            upload = None
    return Alert(
        event=request.event,
        reason=reason,
        model=rollout.model_name if rollout else naming.model_from_key(upload.key if upload else None),
        version=rollout.version_label if rollout else None,
        endpoint=(
            request.deployment.endpoint_name if request.deployment else rollout.endpoint_name if rollout else None
        ),
        deployment_id=rollout.deployment_id if rollout else None,
        artifact=rollout.artifact.uri if rollout else (upload.uri if upload else None),
        occurred_at=request.now.isoformat(),
        evidence=evidence,
        links=console_links(request, region, dashboard),
        package=request.registration.package_version if request.registration is not None else None,
    )


def _plan_evidence(request: NotifyInput) -> list[Evidence]:
    rollout, deployment = request.rollout, request.deployment
    if rollout is None or request.event not in {EventType.STARTED, EventType.STEP_SHIFTED}:
        return []
    strategy = rollout.config.strategy
    steps = ", ".join(f"{s:g}%" for s in rollout.steps) or "none (straight to 100%)"
    evidence = [Evidence("canary steps", steps), Evidence("bake per step", f"{strategy.bake_minutes:g} min")]
    if deployment is not None:
        current = deployment.current_variant or "none (first deployment)"
        evidence += [Evidence("candidate variant", deployment.candidate_variant), Evidence("current variant", current)]
        if request.event is EventType.STARTED and deployment.estimate is not None:
            evidence += _estimate_evidence(deployment.estimate)
    return evidence


def _estimate_evidence(estimate: PlanEstimate) -> list[Evidence]:
    """Plan's expectations: the summary and one line per phase (the warning itself goes in the reason)."""
    evidence = [Evidence("expected duration", estimate.summary())]
    evidence += [Evidence(f"expected {phase.phase}", phase.describe()) for phase in estimate.phases]
    return evidence


def _reason(request: NotifyInput) -> str:
    event = request.event
    rollout, deployment = request.rollout, request.deployment
    if event is EventType.STARTED and rollout is not None:
        if deployment is not None and deployment.first_deployment:
            return f"First version of {rollout.model_name}: endpoint {rollout.endpoint_name} is being created."
        shadow = rollout.config.strategy.shadow
        if deployment is not None and deployment.against_history:
            started = (
                f"{rollout.model_name} {rollout.version_label} replaces the current version of endpoint "
                f"{rollout.endpoint_name} all at once (a serverless endpoint serves one variant); the judge then "
                "compares its minutes with the endpoint's own before the switch, and a worse version is reverted to "
                "the previous config."
            )
        elif deployment is not None and deployment.shadow_config and shadow is not None:
            started = (
                f"{rollout.model_name} {rollout.version_label} is being deployed as the shadow of the current version "
                f"of endpoint {rollout.endpoint_name}: it gets a copy of {shadow.percent:g}% of the requests, its "
                "answers discarded, until the judge proves it is not a regression; then the canary steps."
            )
        else:
            started = (
                f"{rollout.model_name} {rollout.version_label} is being deployed as a canary beside the current "
                f"version of endpoint {rollout.endpoint_name}."
            )
        warning = deployment.estimate.warning if deployment is not None and deployment.estimate else None
        return f"{started} Warning: {warning}" if warning else started
    if event is EventType.STEP_SHIFTED and deployment is not None and deployment.against_history and rollout:
        return (
            f"{rollout.model_name} {rollout.version_label} now serves all the traffic of endpoint "
            f"{rollout.endpoint_name}; it bakes {rollout.config.strategy.bake_minutes:g} minutes and is judged "
            "against the endpoint's minutes before the switch."
        )
    if event is EventType.STEP_SHIFTED and rollout is not None and request.step is not None:
        weight = rollout.steps[request.step] if request.step < len(rollout.steps) else None
        share = f"{weight:g}%" if weight is not None else "its next share"
        return (
            f"The canary now receives {share} of traffic (step {request.step + 1} of {len(rollout.steps)}); "
            f"it bakes {rollout.config.strategy.bake_minutes:g} minutes and is judged before going further."
        )
    if event is EventType.APPROVAL_REQUESTED and rollout is not None:
        minutes = rollout.config.approval_timeout_minutes
        if deployment is not None and deployment.first_deployment:
            where = f"endpoint {rollout.endpoint_name} is created only once an operator approves"
        else:
            where = f"the candidate is deployed on endpoint {rollout.endpoint_name} with no traffic yet"
        return (
            f"{rollout.model_name} {rollout.version_label} needs a manual approval (approval: manual): {where}; "
            f"approve with `mlrollout approve {rollout.deployment_id}` within {minutes:g} minutes or it is undone."
        )
    if event is EventType.PROMOTED:
        if request.judgement is not None and request.judgement.action == "promote":
            return request.judgement.reason  # an operator's promotion says who and why
        if request.judgement is not None and deployment is not None and deployment.against_history:
            return f"The new version held up against the endpoint's history. {request.judgement.reason}"
        if request.judgement is not None:
            return f"The canary passed every step. {request.judgement.reason}"
        return "The candidate passed its checks and now serves all traffic."
    if event is EventType.MONITORING_FAILED and request.failure is not None:
        return f"Promoted, but monitoring could not be attached: {request.failure.reason}"
    if event is EventType.HELD and request.judgement is not None:
        return request.judgement.reason
    if event is EventType.ROLLBACK_FAILED:
        why = request.rollback.reason if request.rollback else (request.failure.reason if request.failure else "")
        return f"The rollback did not complete: {why}"
    if request.failure is not None:
        return request.failure.reason
    if request.judgement is not None:
        return request.judgement.reason
    return event.value.replace("_", " ")


def notify(request: NotifyInput, *, notifier: Notifier, region: str, dashboard: str | None) -> NotifyResult:
    alert = build_alert(request, region=region, dashboard=dashboard)
    return NotifyResult(message_id=notifier.publish(alert), subject=alert.subject())


def announcer(
    once: Guard, *, notifier: Notifier, region: str, dashboard: str | None
) -> Callable[[NotifyInput], str | None]:
    """Notify from inside another step, once per event as the Notify function does (same idempotency key)."""

    def announce(request: NotifyInput) -> str | None:
        def publish() -> dict[str, Any]:
            return notify(request, notifier=notifier, region=region, dashboard=dashboard).model_dump(mode="json")

        return once.run(request.dedupe_key(), publish).get("message_id")

    return announce
