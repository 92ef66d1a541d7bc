"""Rolling back as reconciliation: observe the endpoint, take the one next step toward the last known-good state.

The rollback step runs again after every wait until the endpoint is verified back on its previous config with
all traffic on the previous variant (or, for a first deployment that failed, until the endpoint is gone).
Taking one step per look means a rollback can start from any point of a rollout, including a half-finished
deployment or an update SageMaker is still applying, and never sends an update an endpoint would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

TRANSITIONAL = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EndpointObservation:
    exists: bool
    status: str | None = None
    config_name: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    failure_reason: str | None = None
    # DescribeEndpoint's CurrentInstanceCount of each variant: what auto scaling (or an operator) made of the
    # config's InitialInstanceCount.
    instance_counts: dict[str, int] = field(default_factory=dict)

    def traffic_share(self, variant: str) -> float:
        total = sum(self.weights.values())
        return self.weights.get(variant, 0.0) / total if total > 0 else 0.0


@dataclass(frozen=True)
class RollbackTarget:
    endpoint: str
    first_deployment: bool
    previous_config: str | None
    current_variant: str | None
    candidate_variant: str
    rollout_configs: tuple[str, ...]


class StepKind(StrEnum):
    WAIT = "wait"
    SET_WEIGHTS = "set_weights"
    RESTORE_CONFIG = "restore_config"
    DELETE_ENDPOINT = "delete_endpoint"
    # A wait that remembers this rollback deleted the endpoint: SageMaker reports `Deleting` for a while after
    # DeleteEndpoint, and only the step kind travels from one look to the next.
    AWAIT_DELETION = "await_deletion"
    RECREATE_ENDPOINT = "recreate_endpoint"
    # The endpoint is back, its current variant at its config's count: the count it served with before the rollout.
    RESTORE_CAPACITY = "restore_capacity"
    # A wait that remembers the capacity was asked for once: it is not asked for again (the update may end lower).
    AWAIT_CAPACITY = "await_capacity"
    # The endpoint is back; its current variant's auto scaling registration, which Promote removed, is restored.
    RESTORE_SCALING = "restore_scaling"
    DONE = "done"
    FAIL = "fail"


# The steps after which the current variant's capacity was asked for once already.
CAPACITY_ASKED = frozenset({StepKind.RESTORE_CAPACITY, StepKind.AWAIT_CAPACITY})
# The steps after which an endpoint that is `Deleting` or gone is our own doing, on its way to being recreated.
DELETION_IN_PROGRESS = frozenset({StepKind.DELETE_ENDPOINT, StepKind.AWAIT_DELETION, StepKind.RECREATE_ENDPOINT})


def deleted_by_rollback(previous_step: str | None) -> bool:
    """Whether the previous look of this rollback deleted the endpoint (or was still waiting for that delete)."""
    return previous_step in {kind.value for kind in DELETION_IN_PROGRESS}


@dataclass(frozen=True)
class RollbackStep:
    kind: StepKind
    reason: str
    weights: dict[str, float] | None = None
    capacity: int | None = None  # RESTORE_CAPACITY: the variant's instance count


def plan_rollback(
    target: RollbackTarget, seen: EndpointObservation, *, deleted_by_rollback: bool = False
) -> RollbackStep:
    """`deleted_by_rollback`: an earlier step of this rollback deleted the endpoint in order to recreate it."""
    name = target.endpoint
    if target.first_deployment:
        if not seen.exists:
            return RollbackStep(StepKind.DONE, f"endpoint {name} no longer exists; nothing serves the candidate")
        if seen.status in TRANSITIONAL:
            return RollbackStep(StepKind.WAIT, f"endpoint {name} is {seen.status}; waiting before deleting it")
        return RollbackStep(StepKind.DELETE_ENDPOINT, f"deleting endpoint {name}, created by this failed rollout")

    if not seen.exists:
        if deleted_by_rollback:
            return RollbackStep(
                StepKind.RECREATE_ENDPOINT,
                f"recreating endpoint {name} on its previous config {target.previous_config}",
            )
        return RollbackStep(
            StepKind.FAIL,
            f"endpoint {name} disappeared during the rollout, and this rollback did not delete it; it cannot be "
            f"restored to {target.previous_config}",
        )
    if seen.status == "Deleting" and deleted_by_rollback:
        return RollbackStep(
            StepKind.AWAIT_DELETION,
            f"endpoint {name} is Deleting; waiting for it to go before recreating it on {target.previous_config}",
        )
    if seen.status in TRANSITIONAL:
        return RollbackStep(StepKind.WAIT, f"endpoint {name} is {seen.status}; waiting before the next change")
    if seen.status not in {"InService", "Failed"}:  # OutOfService, UpdateRollbackFailed
        return RollbackStep(
            StepKind.FAIL, f"endpoint {name} is {seen.status}; SageMaker accepts no update in that state"
        )

    if seen.status == "Failed":
        # SageMaker accepts only DeleteEndpoint on a failed endpoint: serving again means recreating it on the
        # previous config (an outage, but it ends on a known good configuration).
        return RollbackStep(
            StepKind.DELETE_ENDPOINT,
            f"endpoint {name} is Failed ({seen.failure_reason}); deleting it to recreate it on "
            f"{target.previous_config}",
        )
    current = target.current_variant or ""
    if seen.status == "InService" and seen.config_name == target.previous_config:
        if abs(seen.traffic_share(current) - 1.0) <= WEIGHT_TOLERANCE:
            return RollbackStep(
                StepKind.DONE,
                f"endpoint {name} is InService on {target.previous_config} with all traffic on {current}",
            )
        return RollbackStep(
            StepKind.SET_WEIGHTS,
            f"endpoint {name} is on {target.previous_config} but {current} has "
            f"{seen.traffic_share(current):.0%} of the traffic; restoring its weight",
            weights={variant: (1.0 if variant == current else 0.0) for variant in seen.weights},
        )

    if seen.config_name not in target.rollout_configs and seen.config_name != target.previous_config:
        return RollbackStep(
            StepKind.FAIL,
            f"endpoint {name} runs {seen.config_name}, which this rollout did not create; leaving it alone",
        )
    if (
        seen.status == "InService"
        and target.candidate_variant in seen.weights
        and current in seen.weights
        and seen.traffic_share(target.candidate_variant) > WEIGHT_TOLERANCE
    ):
        return RollbackStep(
            StepKind.SET_WEIGHTS,
            f"moving all traffic of {name} back to {current} at once "
            f"(the candidate has {seen.traffic_share(target.candidate_variant):.0%})",
            weights={variant: (1.0 if variant == current else 0.0) for variant in seen.weights},
        )
    return RollbackStep(
        StepKind.RESTORE_CONFIG, f"restoring endpoint {name} to its previous config {target.previous_config}"
    )


def plan_scaling_restore(
    endpoint_done: RollbackStep,
    variant: str,
    *,
    registered: bool,
    instances: int | None = None,
    serving: int | None = None,
) -> RollbackStep:
    """The step after the endpoint is verified back (`endpoint_done`) when its current variant was auto-scaled:
    register it again when it is no longer a scalable target (only Promote removes it; a registration that is
    there is left as it is, whoever changed it since). It waits for the endpoint to be InService on its previous
    config, as registering changes the variant's capacity
    (https://docs.aws.amazon.com/autoscaling/application/APIReference/API_RegisterScalableTarget.html).

    Before that, a variant the restore brought back with fewer `instances` than it was `serving` with before the
    rollout (its config's count, where auto scaling had grown it) gets that count again, so the traffic it takes
    back all at once does not wait for auto scaling to grow it a second time."""
    if registered:
        return endpoint_done
    if instances is not None and serving is not None and instances < serving:
        return RollbackStep(
            StepKind.RESTORE_CAPACITY,
            f"{endpoint_done.reason}; variant {variant} came back with {instances} instances where it served with "
            f"{serving} before the rollout: giving it {serving} again before registering it for auto scaling",
            capacity=serving,
        )
    return RollbackStep(
        StepKind.RESTORE_SCALING,
        f"{endpoint_done.reason}; registering variant {variant} for auto scaling again, as it was before Promote",
    )
