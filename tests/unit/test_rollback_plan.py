from typing import Any

import pytest

from fakes import FakeLeases, FakeRecords
from mlrollout.contracts import Failure, RollbackInput, RollbackResult
from mlrollout.domain.errors import EndpointChanging
from mlrollout.domain.rollback import (
    EndpointObservation,
    RollbackTarget,
    StepKind,
    deleted_by_rollback,
    plan_rollback,
)
from mlrollout.services.ledger import LeaseKeeper
from mlrollout.services.rollback import roll_back
from support import a_deployment, a_rollout

CANARY = RollbackTarget(
    endpoint="ep",
    first_deployment=False,
    previous_config="ep-v1",
    current_variant="v1",
    candidate_variant="v2",
    rollout_configs=("ep-v2-canary", "ep-v2"),
)
FIRST = RollbackTarget("ep", True, None, None, "v1", ("ep-v1-canary", "ep-v1"))


def seen(status: str | None, config: str | None = None, **weights: float) -> EndpointObservation:
    return EndpointObservation(exists=status is not None, status=status, config_name=config, weights=weights)


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"])
def test_never_changes_an_endpoint_in_transition(status: str) -> None:
    assert plan_rollback(CANARY, seen(status, "ep-v2-canary", v1=0.5, v2=0.5)).kind is StepKind.WAIT


def test_traffic_leaves_the_candidate_first() -> None:
    step = plan_rollback(CANARY, seen("InService", "ep-v2-canary", v1=50, v2=50))
    assert step.kind is StepKind.SET_WEIGHTS
    assert step.weights == {"v1": 1.0, "v2": 0.0}


def test_then_the_previous_config_is_restored() -> None:
    assert plan_rollback(CANARY, seen("InService", "ep-v2-canary", v1=1, v2=0)).kind is StepKind.RESTORE_CONFIG
    assert plan_rollback(CANARY, seen("InService", "ep-v2", v2=1)).kind is StepKind.RESTORE_CONFIG


def test_done_only_when_verified_on_the_previous_config_with_all_traffic() -> None:
    assert plan_rollback(CANARY, seen("InService", "ep-v1", v1=1)).kind is StepKind.DONE
    step = plan_rollback(CANARY, seen("InService", "ep-v1", v1=0.2, other=0.8))
    assert step.kind is StepKind.SET_WEIGHTS


def test_a_failed_endpoint_is_recreated_on_the_previous_config() -> None:
    failed = EndpointObservation(True, "Failed", "ep-v2-canary", {"v1": 1, "v2": 0}, "health check failed")
    assert plan_rollback(CANARY, failed).kind is StepKind.DELETE_ENDPOINT
    assert plan_rollback(CANARY, seen(None), deleted_by_rollback=True).kind is StepKind.RECREATE_ENDPOINT
    assert plan_rollback(CANARY, seen(None)).kind is StepKind.FAIL


def test_a_config_this_rollout_did_not_create_is_left_alone() -> None:
    step = plan_rollback(CANARY, seen("InService", "someone-elses-config", x=1))
    assert step.kind is StepKind.FAIL
    assert "did not create" in step.reason


def test_first_deployment_rolls_back_by_removing_the_endpoint() -> None:
    assert plan_rollback(FIRST, seen("Creating", "ep-v1", v1=1)).kind is StepKind.WAIT
    assert plan_rollback(FIRST, seen("InService", "ep-v1", v1=1)).kind is StepKind.DELETE_ENDPOINT
    assert plan_rollback(FIRST, seen("Failed", "ep-v1", v1=1)).kind is StepKind.DELETE_ENDPOINT
    assert plan_rollback(FIRST, seen(None)).kind is StepKind.DONE


def test_out_of_service_cannot_be_updated() -> None:
    assert plan_rollback(CANARY, seen("OutOfService", "ep-v2-canary", v1=1, v2=0)).kind is StepKind.FAIL


def test_a_deleting_endpoint_this_rollback_deleted_is_awaited_then_recreated() -> None:
    deleting = seen("Deleting", "ep-v2-canary", v1=1, v2=0)
    step = plan_rollback(CANARY, deleting, deleted_by_rollback=True)
    assert step.kind is StepKind.AWAIT_DELETION
    # the look after that wait still knows the delete was ours, so the endpoint's absence is expected
    assert deleted_by_rollback(step.kind.value)
    assert plan_rollback(CANARY, seen(None), deleted_by_rollback=True).kind is StepKind.RECREATE_ENDPOINT


def test_an_endpoint_deleted_by_someone_else_is_not_recreated() -> None:
    assert not deleted_by_rollback(StepKind.WAIT.value)
    assert not deleted_by_rollback(None)
    assert plan_rollback(CANARY, seen("Deleting", "ep-v2-canary", v1=1)).kind is StepKind.WAIT
    step = plan_rollback(CANARY, seen(None), deleted_by_rollback=deleted_by_rollback(StepKind.WAIT.value))
    assert step.kind is StepKind.FAIL
    assert "did not delete it" in step.reason


class DeletingEndpoints:
    """An in-memory SageMaker endpoint store that behaves as SageMaker does after DeleteEndpoint: the endpoint
    reports `Deleting` for `deleting_looks` observations, then DescribeEndpoint finds nothing; a created endpoint is
    `Creating` for one look, then InService with all traffic on the config's single variant."""

    def __init__(self, config: str, status: str, weights: dict[str, float], deleting_looks: int = 2) -> None:
        self.endpoint: dict[str, Any] | None = {"status": status, "config": config, "weights": weights}
        self.configs = {"ep-v1": {"v1": 1.0}, "ep-v2-canary": {"v1": 1.0, "v2": 0.0}, "ep-v2": {"v2": 1.0}}
        self.deleting_looks = deleting_looks
        self.calls: list[str] = []

    def observe(self, endpoint: str) -> EndpointObservation:
        if self.endpoint is None:
            return EndpointObservation(exists=False)
        seen = EndpointObservation(
            True, self.endpoint["status"], self.endpoint["config"], dict(self.endpoint["weights"]), "health check"
        )
        if self.endpoint["status"] == "Deleting":
            self.endpoint["looks"] -= 1
            if self.endpoint["looks"] <= 0:
                self.endpoint = None
        elif self.endpoint["status"] == "Creating":
            self.endpoint["status"] = "InService"
        return seen

    def delete_endpoint(self, name: str) -> None:
        self.calls.append("delete_endpoint")
        assert self.endpoint is not None and self.endpoint["status"] not in {"Deleting", "Creating"}
        self.endpoint.update(status="Deleting", looks=self.deleting_looks)

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        self.calls.append(f"create_endpoint {config_name}")
        assert self.endpoint is None, "CreateEndpoint on an endpoint that still exists is refused"
        self.endpoint = {"status": "Creating", "config": config_name, "weights": dict(self.configs[config_name])}

    def delete_config(self, name: str) -> bool:
        self.calls.append(f"delete_config {name}")
        return True

    def delete_model(self, name: str) -> bool:
        self.calls.append(f"delete_model {name}")
        return True


def rollback_input(previous: RollbackResult | None) -> RollbackInput:
    rollout, deployment = a_rollout(), a_deployment()
    failure = Failure(error="EndpointUpdateFailed", state="Await Shift")
    return RollbackInput(
        rollout=rollout, deployment=deployment, failure=failure, previous=previous, now=rollout.started_at
    )


def test_a_failed_endpoint_ends_serving_the_previous_config_through_the_deleting_phase() -> None:
    endpoints = DeletingEndpoints("ep-v2-canary", "Failed", {"v1": 1.0, "v2": 0.0}, deleting_looks=3)
    leases = FakeLeases()
    lease = LeaseKeeper(leases, FakeRecords(), minutes=30)
    previous: RollbackResult | None = None
    steps = []
    for _ in range(12):
        previous = roll_back(rollback_input(previous), endpoints=endpoints, lease=lease)  # type: ignore[arg-type]
        steps.append(previous.step)
        if previous.status != "waiting":
            break
    assert previous is not None and previous.status == "done", steps
    assert steps[:4] == ["delete_endpoint", "await_deletion", "await_deletion", "await_deletion"]
    assert "recreate_endpoint" in steps
    assert endpoints.endpoint is not None
    assert (endpoints.endpoint["status"], endpoints.endpoint["config"]) == ("InService", "ep-v1")
    assert "create_endpoint ep-v1" in endpoints.calls
    # Every step renewed the endpoint's lease (rollbacks can outlast it).
    held = leases.holder("ep")
    assert held is not None and held.holder == "d"


class ScalingEndpoints:
    """An endpoint on the canary config where an auto scaling activity starts just before the rollback's first
    change: that change is refused as SageMaker refuses changes of an in-progress endpoint (the adapter's
    EndpointChanging), the endpoint is Updating for two looks, then InService again; later changes apply at once."""

    def __init__(self) -> None:
        self.endpoint: dict[str, Any] = {
            "status": "InService",
            "config": "ep-v2-canary",
            "weights": {"v1": 0.9, "v2": 0.1},
        }
        self.activity_starts = True
        self.updating_looks = 0
        self.calls: list[str] = []

    def observe(self, endpoint: str) -> EndpointObservation:
        seen = EndpointObservation(
            True, self.endpoint["status"], self.endpoint["config"], dict(self.endpoint["weights"])
        )
        if self.updating_looks:
            self.updating_looks -= 1
            if not self.updating_looks:
                self.endpoint["status"] = "InService"
        return seen

    def _refuse_while_scaling(self, endpoint: str) -> None:
        if self.activity_starts:
            self.activity_starts = False
            self.endpoint["status"], self.updating_looks = "Updating", 2
            raise EndpointChanging(f"SageMaker refused to change endpoint {endpoint} while it is Updating")

    def set_weights(self, name: str, weights: dict[str, float]) -> None:
        self._refuse_while_scaling(name)
        self.calls.append(f"set_weights {weights}")
        self.endpoint["weights"] = dict(weights)

    def update_endpoint(self, name: str, config_name: str, *, retain_variant_properties: bool = False) -> None:
        self.calls.append(f"update_endpoint {config_name}")
        self.endpoint.update(config=config_name, weights={"v1": 1.0})

    def delete_config(self, name: str) -> bool:
        return True

    def delete_model(self, name: str) -> bool:
        return True


def test_a_change_refused_because_a_scaling_activity_began_waits_for_it_and_goes_on() -> None:
    endpoints = ScalingEndpoints()
    lease = LeaseKeeper(FakeLeases(), FakeRecords(), minutes=30)
    previous: RollbackResult | None = None
    results: list[RollbackResult] = []
    for _ in range(8):
        previous = roll_back(rollback_input(previous), endpoints=endpoints, lease=lease)  # type: ignore[arg-type]
        results.append(previous)
        if previous.status != "waiting":
            break
    assert [(r.status, r.step) for r in results] == [
        ("waiting", "wait"),  # refused: the activity began between the look and the call
        ("waiting", "wait"),  # Updating
        ("waiting", "wait"),  # Updating
        ("waiting", "set_weights"),
        ("waiting", "restore_config"),
        ("done", "done"),
    ]
    assert "while it is Updating" in results[0].reason
    assert endpoints.calls == ["set_weights {'v1': 1.0, 'v2': 0.0}", "update_endpoint ep-v1"]
