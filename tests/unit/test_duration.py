"""The longest a rollout can run against its execution's limit (domain/duration.py), and Plan applying it: grown
deadlines shortened, configured ones that cannot fit refused before anything changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeEndpoints
from mlrollout.contracts import PlanInput, Registration
from mlrollout.domain.config import RolloutConfig
from mlrollout.domain.duration import CHANGE_RETRIES_MINUTES, STEPS_MARGIN_MINUTES, PhaseDeadline, fitted, worst_case
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.domain.estimate import Traffic
from mlrollout.services.deploy import plan_deployment
from mlrollout.settings import Settings
from support import IMAGE, a_rollout

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
DAY = 1440.0
CURRENT = {
    "VariantName": "v1",
    "ModelName": "ep-v1",
    "InstanceType": "ml.m5.large",
    "InitialInstanceCount": 1,
    "InitialVariantWeight": 1.0,
}


def config(**fields: Any) -> RolloutConfig:
    return RolloutConfig.model_validate({"image": IMAGE, **fields})


def test_the_worst_case_adds_approval_deadlines_holds_changes_and_a_margin() -> None:
    held = config(approval="manual", strategy={"on_deadline": "hold", "hold_minutes": 30, "shadow": {}})
    phases = [PhaseDeadline("shadow 100%", 40, 40), PhaseDeadline("10%", 40, 40), PhaseDeadline("50%", 40, 40)]
    budget = worst_case(held, phases, 60, 45, DAY)
    # approval 60; 3 x (deadline 40 + hold 30 + a 5-minute look); deploy, leave shadow, 2 shifts and promote at 60
    # each plus their retries; a 45-minute rollback.
    assert budget.total == 60 + 3 * 75 + 5 * (60 + CHANGE_RETRIES_MINUTES) + 45 + STEPS_MARGIN_MINUTES
    assert budget.fits
    assert "the manual approval's timeout (approval_timeout_minutes) 60 min" in budget.explain()
    assert "the shadow 100% phase's deadline, its hold (30) and a look 75 min" in budget.explain()
    assert "a rollback (RollbackMaxPolls x EndpointPollSeconds) 45 min" in budget.explain()


def test_grown_deadlines_are_shortened_by_the_same_fraction_never_below_the_configured_ones() -> None:
    plain = config(strategy={"shadow": {}}, approval="manual", approval_timeout_minutes=720)
    phases = [PhaseDeadline("shadow 100%", 360, 40), PhaseDeadline("10%", 360, 40), PhaseDeadline("50%", 200, 40)]
    before = worst_case(plain, phases, 60, 60, DAY)
    assert not before.fits
    shortened, after = fitted(plain, phases, 60, 60, DAY)
    assert after.fits and after.total > DAY - len(phases)  # as little shortening as fits (whole minutes)
    assert [p.configured for p in shortened] == [40, 40, 40]
    kept = [(p.minutes - 40) / (q.minutes - 40) for p, q in zip(shortened, phases, strict=True)]
    assert max(kept) - min(kept) < 0.02  # one fraction for every grown deadline


def test_configured_deadlines_that_cannot_fit_are_not_shortened() -> None:
    long = config(strategy={"type": "linear", "increment_percent": 25, "max_bake_minutes": 600})
    phases = [PhaseDeadline(f"{p:g}%", 600, 600) for p in (25, 50, 75)]
    shortened, budget = fitted(long, phases, 60, 60, DAY)
    assert shortened == phases and not budget.fits


def plan(parsed: RolloutConfig, *, traffic: Any = None, started: datetime = NOW) -> Any:
    rollout = a_rollout(parsed).model_copy(update={"started_at": started, "steps": parsed.strategy.traffic_steps()})
    return plan_deployment(
        PlanInput(rollout=rollout, registration=Registration(group_name="ep", package_arn="arn", package_version=2),
                  now=NOW),
        endpoints=FakeEndpoints(CURRENT),  # type: ignore[arg-type]
        traffic=traffic,
        settings=Settings(artifact_bucket="b", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm"),
    )  # fmt: skip


class QuietTraffic:
    """A request a second: Plan grows the shadow phase's deadline to its 360-minute cap."""

    def recent(self, endpoint: str, variant: str, now: datetime, *, include_4xx: bool = False) -> Traffic:
        return Traffic(requests_per_minute=60.0, error_rate=0.01)


def test_plan_refuses_configured_deadlines_past_the_execution_limit_before_touching_anything() -> None:
    with pytest.raises(ConfigInvalid) as refused:
        plan(config(strategy={"type": "linear", "increment_percent": 25, "max_bake_minutes": 600}))
    assert "this rollout could outlast its execution: at worst" in refused.value.reason
    assert "the 25% phase's deadline and a look 605 min" in refused.value.reason
    assert refused.value.fix is not None and "strategy.max_bake_minutes" in refused.value.fix


def test_plan_counts_the_time_the_execution_already_spent_waiting_for_the_lease() -> None:
    six_steps = config(strategy={"type": "linear", "increment_percent": 15, "max_bake_minutes": 115})
    # 6 x (115 + 5) + 8 changes x 77.5 + a 60-minute rollback + 30 = 1430: it fits, just.
    assert plan(six_steps).expected is not None
    with pytest.raises(ConfigInvalid, match="the execution has 1380 left"):
        plan(six_steps, started=NOW - timedelta(hours=1))


def test_plan_shortens_the_deadlines_it_grew_for_low_traffic_and_says_so() -> None:
    shadowed = config(strategy={"shadow": {}}, approval="manual", approval_timeout_minutes=720)
    deployment = plan(shadowed, traffic=QuietTraffic())
    estimate = deployment.estimate
    assert estimate is not None and estimate.phases
    # 720 approval + (360 + 40 + 40 + 3 looks of 5) + 5 changes x 77.5 + 60 + 30 = 1652.5: the shadow's grown 320
    # minutes keep 1 - 212.5 / 320 of themselves, 107 whole minutes.
    assert [p.deadline_minutes for p in estimate.phases] == [147, 40, 40]
    assert estimate.phases[0].within_deadline == ((estimate.phases[0].minutes or 1e9) <= 147)
    assert "shortened to" in (estimate.warning or "") and "fits in its execution's 24 hours" in (estimate.warning or "")
