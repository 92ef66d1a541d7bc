"""Waiting for an endpoint change by task token: the rule that says a change is over, and who answers the token."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeEndpointViews, FakeEndpointWaits, FakeLeases, FakeRecords, FakeTaskTokens
from mlrollout.contracts import AwaitInput, Expectation
from mlrollout.domain.endpoint_change import FAILED, WaitState, assess, serves
from mlrollout.domain.rollback import EndpointObservation
from mlrollout.services.endpoint_wait import await_change, endpoint_changed
from mlrollout.services.ledger import LeaseKeeper
from support import a_deployment, a_rollout

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
CANARY = {"v1": 0.9, "v2": 0.1}


def seen(status: str, config: str = "cfg-canary", weights: dict[str, float] | None = None, **kw: Any) -> Any:
    return EndpointObservation(exists=True, status=status, config_name=config, weights=weights or {}, **kw)


# ---------------------------------------------------------------------------------------------- the rule


def test_serving_means_the_expected_config_and_shares_whatever_the_weights_add_up_to() -> None:
    assert serves(seen("InService", weights={"v1": 9.0, "v2": 1.0}), "cfg-canary", CANARY)
    assert serves(seen("InService", weights={"v1": 0.90004, "v2": 0.09996}), "cfg-canary", CANARY)
    assert not serves(seen("InService", weights={"v1": 0.8, "v2": 0.2}), "cfg-canary", CANARY)
    assert not serves(seen("InService", "cfg-old", {"v1": 0.9, "v2": 0.1}), "cfg-canary", CANARY)
    assert not serves(seen("InService", weights={"v1": 0.9, "v2": 0.1, "v3": 0.0}), "cfg-canary", CANARY)
    assert not serves(seen("InService", weights={"v1": 0.0, "v2": 0.0}), "cfg-canary", {"v1": 0.0, "v2": 0.0})
    assert not serves(seen("Updating", weights={"v1": 0.9, "v2": 0.1}), "cfg-canary", CANARY)


@pytest.mark.parametrize("status", ["Creating", "Updating", "SystemUpdating", "RollingBack"])
def test_a_change_in_progress_waits_until_its_limit_then_fails_as_stuck(status: str) -> None:
    endpoint = seen(status, weights={"v1": 1.0})
    assert assess("ep", endpoint, "cfg-canary", CANARY, 3599, 3600).state is WaitState.WAITING
    stuck = assess("ep", endpoint, "cfg-canary", CANARY, 3600, 3600)
    assert stuck.state is WaitState.FAILED
    assert stuck.cause == (
        f"endpoint ep was still {status} after 60 minutes (the limit is 60 minutes): SageMaker did not finish the "
        "change in time"
    )


def test_in_service_without_the_change_is_a_rollback_even_at_the_first_look() -> None:
    # SageMaker shows Updating from the moment it receives the request, so InService on the old config after it
    # means the change ended without taking effect.
    old = seen("InService", "cfg-old", {"v1": 1.0}, failure_reason="capacity error")
    first = assess("ep", old, "cfg-canary", CANARY, 1, 3600)
    assert first.state is WaitState.FAILED
    assert first.cause == (
        "endpoint ep is InService on cfg-old with weights {'v1': 1.0}, not on cfg-canary with {'v1': 0.9, 'v2': 0.1} "
        "as requested: SageMaker rolled the update back (capacity error) or another change replaced it"
    )


def test_failed_gone_and_out_of_service_end_the_wait_with_the_reason() -> None:
    failed = assess("ep", seen("Failed", failure_reason="image not found"), "c", CANARY, 5, 3600)
    assert (failed.state, failed.cause) == (WaitState.FAILED, "SageMaker reports endpoint ep Failed: image not found")
    gone = assess("ep", EndpointObservation(exists=False), "c", CANARY, 5, 3600)
    assert gone.cause == "endpoint ep no longer exists: it was deleted during the change"
    off = assess("ep", seen("OutOfService"), "c", CANARY, 5, 3600)
    assert off.cause == "endpoint ep is OutOfService: the change cannot complete"


# ---------------------------------------------------------------------------------------------- who answers


class Wait:
    """One Await state's world: the endpoint as SageMaker shows it, the change items, the task tokens, the lease."""

    def __init__(self) -> None:
        self.endpoints, self.waits, self.tokens = FakeEndpointViews(), FakeEndpointWaits(), FakeTaskTokens()
        self.leases, self.records = FakeLeases(), FakeRecords()
        self.rollout = a_rollout(deployment_id="d2", now=NOW)
        self.deployment = a_deployment()
        self.leases.take(self.deployment.endpoint_name, "d2", "x-d2", NOW, NOW + timedelta(minutes=20))

    def show(self, observation: Any) -> None:
        self.endpoints.seen[self.deployment.endpoint_name] = observation

    def request(self, token: str, wait_seconds: int | None = None) -> AwaitInput:
        self.tokens.issue(token)
        expected = Expectation(config_name="cfg-canary", weights=CANARY, wait_seconds=wait_seconds)
        return AwaitInput(
            rollout=self.rollout,
            deployment=self.deployment,
            expected=expected,
            task_token=token,
            changed_at=NOW,
        )

    def await_change(self, request: AwaitInput, now: datetime) -> Any:
        lease = LeaseKeeper(self.leases, self.records, minutes=20)
        return await_change(
            request, now, endpoints=self.endpoints, waits=self.waits, tokens=self.tokens, lease=lease,
            default_limit_seconds=3600,
        )  # fmt: skip

    def event(self, now: datetime) -> Any:
        return endpoint_changed(
            self.deployment.endpoint_name, now, endpoints=self.endpoints, waits=self.waits, tokens=self.tokens
        )


def test_a_change_already_over_is_answered_by_the_await_itself() -> None:
    wait = Wait()
    wait.show(seen("InService", weights={"v1": 90.0, "v2": 10.0}))

    looked = wait.await_change(wait.request("t1"), NOW + timedelta(seconds=2))

    assert (looked.state, looked.answered) == ("ready", True)
    assert wait.tokens.answers["t1"] == (
        "success",
        {"status": "InService", "config": "cfg-canary", "weights": {"v1": 90.0, "v2": 10.0}},
    )
    assert wait.waits.pending(wait.deployment.endpoint_name) is None  # nothing left for an event to answer
    held = wait.leases.holder(wait.deployment.endpoint_name)
    assert held.expires_at == NOW + timedelta(seconds=2, minutes=20)  # renewed by the look


def test_a_change_in_progress_is_answered_by_the_event_that_ends_it_and_only_once() -> None:
    wait = Wait()
    wait.show(seen("Updating", weights={"v1": 1.0, "v2": 0.0}))
    looked = wait.await_change(wait.request("t1"), NOW + timedelta(seconds=2))
    assert (looked.state, looked.answered) == ("waiting", False)
    assert wait.tokens.answers == {}
    assert wait.waits.pending(wait.deployment.endpoint_name).token == "t1"

    # An event while the endpoint still updates (SageMaker may send several per change) answers nothing.
    assert wait.event(NOW + timedelta(seconds=10)).state == "waiting"
    wait.show(seen("InService", weights={"v1": 0.9, "v2": 0.1}))
    ended = wait.event(NOW + timedelta(seconds=31))
    assert (ended.state, ended.answered) == ("ready", True)
    assert wait.tokens.answers["t1"][0] == "success"
    # The same event delivered again finds no rollout waiting.
    assert wait.event(NOW + timedelta(seconds=32)) is None
    assert len(wait.tokens.answers) == 1


def test_an_update_sagemaker_rolled_back_fails_the_task_with_the_reason() -> None:
    wait = Wait()
    wait.show(seen("Updating", weights={"v1": 1.0}))
    wait.await_change(wait.request("t1"), NOW + timedelta(seconds=2))
    wait.show(seen("InService", "cfg-old", {"v1": 1.0}))

    ended = wait.event(NOW + timedelta(minutes=3))

    assert (ended.state, ended.answered) == ("failed", True)
    error, cause = wait.tokens.answers["t1"]
    assert error == FAILED == "EndpointUpdateFailed"
    assert "SageMaker rolled the update back" in cause


def test_a_re_check_without_events_fails_a_change_stuck_past_the_models_own_limit() -> None:
    wait = Wait()
    wait.show(seen("Updating", weights={"v1": 1.0}))
    # The first look and a re-check within the model's 30-minute limit (a large model's start-up) wait.
    assert wait.await_change(wait.request("t1", wait_seconds=1800), NOW).state == "waiting"
    assert wait.await_change(wait.request("t2", wait_seconds=1800), NOW + timedelta(minutes=25)).state == "waiting"
    assert wait.waits.pending(wait.deployment.endpoint_name).token == "t2"  # the re-check's new token replaced it

    stuck = wait.await_change(wait.request("t3", wait_seconds=1800), NOW + timedelta(minutes=30))

    assert (stuck.state, stuck.answered) == ("failed", True)
    assert wait.tokens.answers["t3"] == (
        "EndpointUpdateFailed",
        "endpoint ep was still Updating after 30 minutes (the limit is 30 minutes): SageMaker did not finish "
        "the change in time",
    )


def test_an_answer_that_comes_too_late_is_dropped_and_its_item_forgotten() -> None:
    wait = Wait()
    wait.show(seen("Updating", weights={"v1": 1.0}))
    wait.await_change(wait.request("t1"), NOW)
    wait.tokens.waiting.discard("t1")  # the task timed out meanwhile: its re-check will look again
    wait.show(seen("InService", weights={"v1": 0.9, "v2": 0.1}))

    late = wait.event(NOW + timedelta(minutes=1))

    assert (late.state, late.answered) == ("ready", False)
    assert wait.waits.pending(wait.deployment.endpoint_name) is None


def test_an_event_for_an_endpoint_nobody_waits_on_looks_at_nothing() -> None:
    wait = Wait()
    assert wait.event(NOW) is None
    assert wait.endpoints.looks == 0
