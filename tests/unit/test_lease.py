"""The endpoint lease: sized from the state machine's limits, renewed before every wait, never promoted without."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeLeases, FakeRecords
from mlrollout.contracts import JudgeOutput, PromoteInput, Rollout
from mlrollout.domain.errors import LeaseLost
from mlrollout.domain.ledger import LEASE_MARGIN_MINUTES, Lease
from mlrollout.services.deploy import promote_candidate
from mlrollout.services.ledger import LeaseKeeper, lease_minutes, note_look
from mlrollout.settings import Settings
from support import a_deployment, a_rollout

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def rollout_of(deployment_id: str = "d2") -> Rollout:
    return a_rollout(deployment_id=deployment_id, now=NOW)


def a_judgement(action: str) -> JudgeOutput:
    verdict = "PASS" if action in {"advance", "promote"} else "INCONCLUSIVE"
    return JudgeOutput.model_validate(
        {"verdict": verdict, "action": action, "reason": "the canary is within tolerance", "step_index": 1,
         "weight": 0.5, "elapsed_seconds": 600}
    )  # fmt: skip


def test_the_lease_outlasts_the_longest_stretch_between_two_renewals() -> None:
    # Defaults: the shipped evaluation interval and the stack's re-check of an endpoint change (600 s). Await
    # Endpoint renews the lease at each of its looks; after the last, the rest of the wait (at most one re-check
    # interval: a state-change event or the re-check ends it) and the next step's first interval pass before the
    # next renewal.
    rollout = rollout_of()
    minutes = lease_minutes(Settings(), rollout)
    interval = rollout.config.strategy.evaluation_interval_seconds
    assert minutes == pytest.approx((600 + interval) / 60 + LEASE_MARGIN_MINUTES)
    assert minutes * 60 > 600 + interval
    # A stack that re-checks less often gets a longer lease; LEASE_MINUTES overrides the sizing.
    slow = Settings(endpoint_recheck_seconds=900)
    assert lease_minutes(slow, rollout) == pytest.approx(minutes + (900 - 600) / 60)
    assert lease_minutes(Settings(lease_minutes=500), rollout) == 500


def test_a_step_renews_the_lease_it_holds_and_refuses_to_change_an_endpoint_it_lost() -> None:
    leases, records = FakeLeases(), FakeRecords()
    rollout = rollout_of()
    keeper = LeaseKeeper(leases, records, minutes=30)
    assert leases.take("ep", "d2", "x-d2", NOW, NOW + timedelta(minutes=30))

    later = NOW + timedelta(minutes=20)
    keeper.require(rollout, later, "be promoted")
    held = leases.holder("ep")
    assert held is not None
    assert held.expires_at == later + timedelta(minutes=30)

    # The lease expired and another rollout took it: the next step must not touch the endpoint.
    leases.take("ep", "d3", "x-d3", later + timedelta(hours=1), later + timedelta(hours=2))
    with pytest.raises(LeaseLost, match="taken by another rollout, so v2 will not be promoted"):
        keeper.require(rollout, later + timedelta(hours=1), "be promoted")
    assert records.records["d2"]["warnings"] == [{"at": (later + timedelta(hours=1)).isoformat(), "lease": "lost"}]
    assert leases.holder("ep").holder == "d3"  # type: ignore[union-attr]


def test_a_lease_nobody_holds_any_more_is_taken_again() -> None:
    # An expired lease nobody took (or whose item DynamoDB's TTL removed): the rollout still owns the endpoint.
    leases, records = FakeLeases(), FakeRecords()
    LeaseKeeper(leases, records, minutes=30).require(rollout_of(), NOW, "be deployed")
    assert leases.holder("ep") == Lease("ep", "d2", "x-d2", NOW + timedelta(minutes=30))
    assert "warnings" not in records.records.get("d2", {})


class RecordingEndpoints:
    """Endpoints that only note what was asked of them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append(name)


def test_promote_never_runs_without_the_lease() -> None:
    leases, records = FakeLeases(), FakeRecords()
    leases.take("ep", "someone-else", "x", NOW, NOW + timedelta(hours=1))
    rollout = rollout_of()
    deployment = a_deployment()
    endpoints = RecordingEndpoints()
    with pytest.raises(LeaseLost):
        promote_candidate(
            PromoteInput(rollout=rollout, deployment=deployment, now=NOW),
            endpoints=endpoints,  # type: ignore[arg-type]
            settings=Settings(artifact_bucket="b"),
            lease=LeaseKeeper(leases, records, minutes=30),
        )
    assert endpoints.calls == []


@pytest.mark.parametrize("action", ["advance", "promote", "continue", "hold"])
def test_a_look_that_finds_the_lease_lost_can_only_roll_back(action: str) -> None:
    leases, records = FakeLeases(), FakeRecords()
    leases.take("ep", "someone-else", "x", NOW, NOW + timedelta(hours=1))
    look = note_look(rollout_of(), a_judgement(action), records=records, leases=leases, now=NOW, lease_minutes=30)
    assert not look.lease_kept
    assert look.judgement.action == "rollback"
    assert look.judgement.reason.startswith(f"the endpoint lease was lost to another rollout, so no {action}: ")
    assert records.records["d2"]["decisions"][-1]["action"] == "rollback"


def test_a_look_that_holds_the_lease_keeps_its_action_and_renews() -> None:
    leases, records = FakeLeases(), FakeRecords()
    leases.take("ep", "d2", "x-d2", NOW, NOW + timedelta(minutes=5))
    look = note_look(rollout_of(), a_judgement("promote"), records=records, leases=leases, now=NOW, lease_minutes=30)
    assert (look.lease_kept, look.judgement.action) == (True, "promote")
    assert leases.holder("ep").expires_at == NOW + timedelta(minutes=30)  # type: ignore[union-attr]
