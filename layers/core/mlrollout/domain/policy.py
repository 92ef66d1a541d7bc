"""What a bake does with the judge's verdict: advance, keep baking, hold, or roll back."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mlrollout.domain.config import Strategy
from mlrollout.domain.judge import Verdict


class Action(StrEnum):
    ADVANCE = "advance"  # the step passed: next step, or promote after the last one
    CONTINUE = "continue"  # look again after the evaluation interval
    HOLD = "hold"  # deadline reached with no verdict and the policy is to hold: alert once, keep looking
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    held_since_seconds: float | None = None


def design_periods(strategy: Strategy) -> int:
    """Where a look's bounds are tightest: the end of the last bake, in minutes (periods) since the evidence began
    (the shadow phase's bake, then every step's). One point for the whole rollout: every look judges all of the
    evidence, and a confidence sequence keeps its guarantee over all looks only with one mixture throughout."""
    shadowed = strategy.shadow_phase().bake_minutes if strategy.shadow is not None else 0.0
    return max(1, round(shadowed + len(strategy.traffic_steps()) * strategy.bake_minutes))


def decide(
    verdict: Verdict,
    verdict_reason: str,
    *,
    strategy: Strategy,
    elapsed_seconds: float,
    held_since_seconds: float | None,
    final: bool,
    looked: bool,
) -> Decision:
    """How evidence flows through a rollout (docs/judge.md, "The rollout policy"):
    - every look, every step: a FAIL (the canary is worse than tolerated, beyond doubt) rolls back at once;
    - an early step (`final` False) advances at the end of its bake when the look saw no harm and could have
      (`looked`: enough traffic, a healthy current variant, every required signal measured);
    - the final step advances to 100% only on a PASS (proof, from the evidence of all steps together, that the
      canary is not a regression), not before its bake unless `advance_early`;
    - a step that cannot advance by its deadline rolls back or holds (`on_deadline`).
    `elapsed_seconds` counts from the moment the step's weights were in service."""
    bake = strategy.bake_minutes * 60
    deadline = strategy.deadline_minutes * 60
    if verdict is Verdict.FAIL:
        return Decision(Action.ROLLBACK, verdict_reason)
    baked = elapsed_seconds >= bake
    if verdict is Verdict.PASS and (baked or strategy.advance_early):
        return Decision(Action.ADVANCE, verdict_reason)
    if not final and baked and (looked or verdict is Verdict.PASS):
        return Decision(
            Action.ADVANCE,
            f"No evidence of harm after the {strategy.bake_minutes:g}-minute bake, so on to the next step (proof "
            f"is needed only before 100%): {verdict_reason}",
        )
    if verdict is Verdict.PASS:
        return Decision(Action.CONTINUE, f"{verdict_reason} Baking until {strategy.bake_minutes:g} minutes.")
    if elapsed_seconds < deadline:
        return Decision(Action.CONTINUE, verdict_reason, held_since_seconds)
    if strategy.on_deadline == "rollback":
        return Decision(
            Action.ROLLBACK,
            f"No verdict within the {strategy.deadline_minutes:g}-minute deadline: {verdict_reason}",
        )
    if held_since_seconds is None:
        return Decision(
            Action.HOLD,
            f"No verdict within the {strategy.deadline_minutes:g}-minute deadline; holding at the current weights "
            f"for up to {strategy.hold_minutes:g} minutes: {verdict_reason}",
            held_since_seconds=elapsed_seconds,
        )
    if elapsed_seconds - held_since_seconds >= strategy.hold_minutes * 60:
        return Decision(
            Action.ROLLBACK,
            f"Held for {strategy.hold_minutes:g} minutes without a verdict: {verdict_reason}",
            held_since_seconds,
        )
    return Decision(Action.CONTINUE, f"Holding: {verdict_reason}", held_since_seconds)
