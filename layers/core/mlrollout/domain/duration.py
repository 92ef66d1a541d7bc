"""The longest a rollout can run, against the state machine's own limit (its TimeoutSeconds, a day by default).

An execution that reaches its limit stops wherever it is; the reconciler's restore execution then rolls the endpoint
back, but the version was neither promoted nor judged. So Plan adds up the worst case before anything changes: a
manual approval's timeout, each phase's deadline (and its hold), every endpoint change's wait (the rollback's
included) and a margin for the steps between. When that does not fit in what is left of the execution's limit,
Plan first shortens the deadlines it grew for low traffic (never below the config's), and refuses the rollout,
with the parts and the settings that make them, only when the configured ones alone do not fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlrollout.domain.config import RolloutConfig

# Lambda steps, notifications, monitoring and the retries while another change of the endpoint runs (at most 17.5
# minutes for each change, statemachines/rollout.asl.json): an allowance on top of the waits, never spent on a
# deadline.
STEPS_MARGIN_MINUTES = 60.0


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
    config: RolloutConfig, phases: list[PhaseDeadline], change_wait_minutes: float, available: float
) -> Budget:
    """The parts of the longest run of a rollout whose phases run with `phases`' deadlines, each endpoint change
    taking up to `change_wait_minutes`."""
    parts = []
    if config.approval == "manual":
        parts.append(Part("the manual approval's timeout (approval_timeout_minutes)", config.approval_timeout_minutes))
    strategy = config.strategy
    hold = strategy.hold_minutes if strategy.on_deadline == "hold" else 0.0
    for phase in phases:
        held = f" and its hold ({hold:g})" if hold else ""
        parts.append(Part(f"the {phase.label} phase's deadline{held}", phase.minutes + hold))
    # Deploy, leaving the shadow, each step's shift, Promote, and a rollback's restore.
    changes = 1 + (strategy.shadow is not None) + len(strategy.traffic_steps()) + 1 + 1
    parts.append(
        Part(f"{changes} endpoint changes at up to {change_wait_minutes:g} min each", changes * change_wait_minutes)
    )
    parts.append(Part("the steps between", STEPS_MARGIN_MINUTES))
    return Budget(parts, available)


def fitted(
    config: RolloutConfig, phases: list[PhaseDeadline], change_wait_minutes: float, available: float
) -> tuple[list[PhaseDeadline], Budget]:
    """`phases` with the deadlines Plan grew for low traffic shortened by the same fraction, as little as makes the
    worst case fit; the budget it then has (`fits` False: even the configured deadlines do not fit)."""
    budget = worst_case(config, phases, change_wait_minutes, available)
    grown = sum(p.grown for p in phases)
    if budget.fits or grown <= 0:
        return phases, budget
    keep = max(0.0, 1 - (budget.total - available) / grown)
    # Whole minutes, rounded down: a deadline falls on a look anyway.
    shortened = [PhaseDeadline(p.label, p.configured + math.floor(p.grown * keep), p.configured) for p in phases]
    return shortened, worst_case(config, shortened, change_wait_minutes, available)
