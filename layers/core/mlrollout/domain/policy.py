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


def decide(
    verdict: Verdict,
    verdict_reason: str,
    *,
    strategy: Strategy,
    elapsed_seconds: float,
    held_since_seconds: float | None,
) -> Decision:
    """`elapsed_seconds` counts from the moment the step's weights were in service."""
    bake = strategy.bake_minutes * 60
    deadline = strategy.deadline_minutes * 60
    if verdict is Verdict.FAIL:
        return Decision(Action.ROLLBACK, verdict_reason)
    if verdict is Verdict.PASS:
        if elapsed_seconds >= bake or strategy.advance_early:
            return Decision(Action.ADVANCE, verdict_reason)
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
