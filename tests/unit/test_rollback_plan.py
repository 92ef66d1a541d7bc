import pytest

from mlrollout.domain.rollback import EndpointObservation, RollbackTarget, StepKind, plan_rollback

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
