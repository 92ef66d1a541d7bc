"""When an endpoint change is over: the rule the event-driven wait applies to what SageMaker reports.

A change (create, update, weight shift) is done when the endpoint is InService on the expected config with the
expected traffic shares. SageMaker can also end a change by rolling it back itself (InService again, on the old
config or weights) or by failing it; a change still in a transitional status after its time limit counts as
stuck. The wait learns about changes from "SageMaker Endpoint State Change" events and re-checks on its own at
a slow interval, so the same rule judges every look, whoever made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mlrollout.domain.rollback import EndpointObservation

# What an endpoint passes through while a change is applied (DescribeEndpoint's EndpointStatus).
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
# Traffic shares are compared as fractions of the total weight; SageMaker stores weights as floats.
SHARE_TOLERANCE = 1e-4
FAILED = "EndpointUpdateFailed"


class WaitState(StrEnum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class WaitVerdict:
    state: WaitState
    cause: str = ""


@dataclass(frozen=True)
class PendingChange:
    """A change a rollout waits for: what the endpoint must show, by when, and the task token that ends the wait."""

    endpoint: str
    token: str
    deployment_id: str
    config_name: str
    shares: dict[str, float]
    changed_at: datetime
    limit_seconds: int

    def assess(self, seen: EndpointObservation, now: datetime) -> WaitVerdict:
        waited = (now - self.changed_at).total_seconds()
        return assess(self.endpoint, seen, self.config_name, self.shares, waited, self.limit_seconds)


def serves(seen: EndpointObservation, config_name: str, shares: dict[str, float]) -> bool:
    """InService on `config_name`, with exactly the variants of `shares` at those fractions of the traffic."""
    total = sum(seen.weights.values())
    return (
        seen.status == "InService"
        and seen.config_name == config_name
        and total > 0
        and set(seen.weights) == set(shares)
        and all(abs(weight / total - shares[name]) <= SHARE_TOLERANCE for name, weight in seen.weights.items())
    )


def assess(
    endpoint: str,
    seen: EndpointObservation,
    config_name: str,
    shares: dict[str, float],
    waited_seconds: float,
    limit_seconds: float,
) -> WaitVerdict:
    """Ready, still waiting, or failed (with the cause operators read), the same whoever looks.

    SageMaker sets the endpoint's status to Updating when it receives UpdateEndpoint or
    UpdateEndpointWeightsAndCapacities (and Creating for CreateEndpoint), so every look, even the first right after
    the request, sees either the change in progress or its end: InService without the expected config and shares
    means the change was rolled back (or replaced), not that it has not begun.
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html
    """
    if not seen.exists:
        return WaitVerdict(WaitState.FAILED, f"endpoint {endpoint} no longer exists: it was deleted during the change")
    if serves(seen, config_name, shares):
        return WaitVerdict(WaitState.READY)
    if seen.status in IN_PROGRESS:
        if waited_seconds < limit_seconds:
            return WaitVerdict(WaitState.WAITING)
        return WaitVerdict(
            WaitState.FAILED,
            f"endpoint {endpoint} was still {seen.status} after {waited_seconds / 60:.0f} minutes (the limit is "
            f"{limit_seconds / 60:.0f} minutes): SageMaker did not finish the change in time",
        )
    if seen.status == "Failed":
        return WaitVerdict(WaitState.FAILED, f"SageMaker reports endpoint {endpoint} Failed: {seen.failure_reason}")
    if seen.status == "InService":
        shown = {name: round(weight, 4) for name, weight in seen.weights.items()}
        reason = f" ({seen.failure_reason})" if seen.failure_reason else ""
        return WaitVerdict(
            WaitState.FAILED,
            f"endpoint {endpoint} is InService on {seen.config_name} with weights {shown}, not on {config_name} "
            f"with {shares} as requested: SageMaker rolled the update back{reason} or another change replaced it",
        )
    return WaitVerdict(WaitState.FAILED, f"endpoint {endpoint} is {seen.status}: the change cannot complete")
