"""Pre-Traffic Check: the candidate answers the sample request before any user traffic reaches it."""

from __future__ import annotations

from mlrollout.contracts import PreTrafficInput, PreTrafficResult
from mlrollout.domain.errors import PreTrafficCheckFailed
from mlrollout.ports import Endpoints
from mlrollout.services.ledger import LeaseKeeper

EXCERPT = 300


def check_candidate(request: PreTrafficInput, *, endpoints: Endpoints, lease: LeaseKeeper) -> PreTrafficResult:
    sample = request.rollout.config.pre_traffic.sample_request
    deployment = request.deployment
    lease.require(request.rollout, request.now, "take traffic")  # the shift and its endpoint wait come next
    if sample is None:
        return PreTrafficResult(status="skipped", detail="no pre_traffic.sample_request in rollout.yaml")
    result = endpoints.invoke_variant(
        deployment.endpoint_name,
        deployment.candidate_variant,
        sample.body,
        sample.content_type,
        sample.accept,
    )
    if not result.ok:
        raise PreTrafficCheckFailed(
            f"variant {deployment.candidate_variant} answered the sample request with HTTP {result.status}: "
            f"{result.body[:EXCERPT]}",
            fix="reproduce the request against the model locally, fix the model or the sample, upload again",
        )
    return PreTrafficResult(
        status="passed",
        detail=f"variant {deployment.candidate_variant} answered in {result.latency_ms:.0f} ms: "
        f"{result.body[:EXCERPT]}",
        latency_ms=result.latency_ms,
    )
