"""The longest a rollout can run, against the state machine's own limit (its TimeoutSeconds, a day by default).

An execution that reaches its limit stops wherever it is; the reconciler's restore execution then rolls the endpoint
back, but the version was neither promoted nor judged. So Plan adds up the worst case before anything changes: a
manual approval's timeout, each phase's deadline (its hold, and the look that finds it past), every endpoint change's
wait and its retries while another change runs, the rollback's longest run and a margin for the steps between.
When that does not fit in what is left of the execution's limit, Plan first shortens the deadlines it grew for low
traffic (never below the config's), and refuses the rollout, with the parts and the settings that make them, only
when the configured ones alone do not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlrollout.domain.config import RolloutConfig

# A change refused while another one runs is retried for at most 17.5 minutes (EndpointChanging's Retry in
# statemachines/rollout.asl.json; Shift Traffic's and Leave Shadow's wait loop, 14.5).
CHANGE_RETRIES_MINUTES = 17.5
# Lambda steps, notifications and monitoring between the waits: an allowance never spent on a deadline.
STEPS_MARGIN_MINUTES = 30.0


@dataclass(frozen=True)
class PhaseDeadline:
    """One judged phase: its label, the deadline it runs with, and the config's (what Plan may shorten it to)."""

    label: str
    minutes: float
    configured: float

    @property
    def grown(self) -> float:
        return max(0.0, self.minutes - self.configured)


@dataclass(frozen=True)
class Part:
    what: str
    minutes: float


@dataclass(frozen=True)
class Budget:
    """The worst case, part by part, against the minutes the execution has left."""

    parts: list[Part]
    available: float

    @property
    def total(self) -> float:
        return sum(p.minutes for p in self.parts)

    @property
    def fits(self) -> bool:
        return self.total <= self.available

    def explain(self) -> str:
        listed = "; ".join(f"{p.what} {p.minutes:g} min" for p in self.parts)
        return f"at worst {self.total:g} minutes ({listed}), and the execution has {self.available:g} left"


def worst_case(
    config: RolloutConfig,
    phases: list[PhaseDeadline],
    change_wait_minutes: float,
    rollback_minutes: float,
    available: float,
) -> Budget:
    """The parts of the longest run of a rollout whose phases run with `phases`' deadlines, each endpoint change
    taking up to `change_wait_minutes` (after CHANGE_RETRIES_MINUTES of refusals), and a rollback up to
    `rollback_minutes` (the stack's RollbackMaxPolls looks, EndpointPollSeconds apart)."""
    parts = []
    if config.approval == "manual":
        parts.append(Part("the manual approval's timeout (approval_timeout_minutes)", config.approval_timeout_minutes))
    strategy = config.strategy
    hold = strategy.hold_minutes if strategy.on_deadline == "hold" else 0.0
    # A deadline is seen at the first look past it.
    look = strategy.evaluation_interval_seconds / 60
    for phase in phases:
        held = f", its hold ({hold:g})" if hold else ""
        parts.append(Part(f"the {phase.label} phase's deadline{held} and a look", phase.minutes + hold + look))
    # Deploy, leaving the shadow, each step's shift, Promote.
    changes = 1 + (strategy.shadow is not None) + len(strategy.traffic_steps()) + 1
    each = change_wait_minutes + CHANGE_RETRIES_MINUTES
    parts.append(Part(f"{changes} endpoint changes at up to {each:g} min each (retries included)", changes * each))
    parts.append(Part("a rollback (RollbackMaxPolls x EndpointPollSeconds)", rollback_minutes))
    parts.append(Part("the steps between", STEPS_MARGIN_MINUTES))
    return Budget(parts, available)


def fitted(
    config: RolloutConfig,
    phases: list[PhaseDeadline],
    change_wait_minutes: float,
    rollback_minutes: float,
    available: float,
) -> tuple[list[PhaseDeadline], Budget]:
    """`phases` with the deadlines Plan grew for low traffic shortened by the same fraction, as little as makes the
    worst case fit; the budget it then has (`fits` False: even the configured deadlines do not fit)."""
    budget = worst_case(config, phases, change_wait_minutes, rollback_minutes, available)
    grown = sum(p.grown for p in phases)
    if budget.fits or grown <= 0:
        return phases, budget
    keep = max(0.0, 1 - (budget.total - available) / grown)
    # Whole minutes, rounded down: a deadline falls on a look anyway.
    shortened = [PhaseDeadline(p.label, p.configured + math.floor(p.grown * keep), p.configured) for p in phases]
    return shortened, worst_case(config, shortened, change_wait_minutes, rollback_minutes, available)
