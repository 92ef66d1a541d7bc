"""A deployment record in an operator's words: where its rollout is, and each decision the judge took."""

from __future__ import annotations

from typing import Any

PHASES = {
    "received": "validated, about to take the endpoint",
    "awaiting_approval": "waiting for an operator's approval",
}
ACTIONS = {
    "continue": "baking step {step} at {weight}",
    "advance": "step {step} at {weight} passed",
    "hold": "held at step {step} ({weight})",
    "rollback": "rolling back after step {step} ({weight})",
}
SHADOW_ACTIONS = {
    "continue": "in shadow: judging the candidate on copies of production requests",
    "advance": "shadow passed: leaving the shadow for the canary steps",
    "hold": "held in shadow",
    "rollback": "rolling back from the shadow (no user request reached the candidate)",
}


def clip(text: Any, length: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= length else value[: length - 1].rstrip() + "…"


def percent(value: Any) -> str:
    number = float(value)
    return f"{number:g}%"


def decisions_total(record: dict[str, Any]) -> int:
    """How many decisions the rollout took: the record keeps only its last ones, and counts them all."""
    return int(record.get("decisions_total") or len(record.get("decisions") or []))


def decisions_since(record: dict[str, Any], shown: int) -> list[dict[str, Any]]:
    """The decisions taken after the first `shown` ones, as far as the record still keeps them."""
    decisions: list[dict[str, Any]] = record.get("decisions") or []
    new = decisions_total(record) - shown
    return decisions[max(len(decisions) - new, 0) :] if new > 0 else []


def last_decision(record: dict[str, Any]) -> dict[str, Any] | None:
    decisions = record.get("decisions") or []
    return decisions[-1] if decisions else None


def phase(record: dict[str, Any]) -> str:
    """What the rollout is doing now, from its record: its state, and for a deployment its last decision."""
    if record.get("outcome"):
        return str(record["outcome"])
    state = str(record.get("state") or "unknown")
    if state == "waiting":
        return f"waiting for {record.get('waiting_for') or 'the endpoint'}"
    if state != "deploying":
        return PHASES.get(state, state)
    if record.get("restore_execution"):
        return "restoring the previous config (the rollout was stopped)"
    decision = last_decision(record)
    if decision is None:
        return "deploying the candidate"
    if decision.get("shadow"):
        return SHADOW_ACTIONS.get(str(decision.get("action")), "in shadow")
    template = ACTIONS.get(str(decision.get("action")), "step {step} at {weight}")
    return template.format(step=int(decision.get("step") or 0) + 1, weight=percent(decision.get("weight") or 0))


def where(decision: dict[str, Any]) -> str:
    """`step 1 at 10%`, or `shadow` for a look of the shadow phase."""
    if decision.get("shadow"):
        return "shadow"
    return f"step {int(decision.get('step') or 0) + 1} at {percent(decision.get('weight') or 0)}"


def decision_line(decision: dict[str, Any], *, reason_length: int = 240) -> str:
    """`step 1 at 10%: PASS, advance: <reason>` (or `shadow: ...`)."""
    head = f"{where(decision)}: {decision.get('verdict')}, {decision.get('action')}"
    reason = clip(decision.get("reason"), reason_length)
    return f"{head}: {reason}" if reason else head


class DecisionLines:
    """The lines a follower prints for a stream of decisions, with repeats collapsed: a look that only says again
    what the one before said (same phase, verdict and action; a held rollout looks every few minutes for hours)
    is counted, not printed, and the count comes out with the latest reason when something else happens."""

    def __init__(self, *, reason_length: int = 240) -> None:
        self._reason_length = reason_length
        self._key: tuple[str, Any, Any] | None = None
        self._repeated: dict[str, Any] | None = None
        self._count = 0

    def add(self, decision: dict[str, Any]) -> list[str]:
        key = (where(decision), decision.get("verdict"), decision.get("action"))
        if key == self._key:
            self._repeated, self._count = decision, self._count + 1
            return []
        lines = self.flush()
        self._key = key
        return [*lines, decision_line(decision, reason_length=self._reason_length)]

    def flush(self) -> list[str]:
        """The count of the repeats not yet printed (at the end of the stream, or before a different line)."""
        if self._repeated is None:
            return []
        times = "once more" if self._count == 1 else f"{self._count} more times"
        at = str(self._repeated.get("at") or "")[11:16]
        reason = clip(self._repeated.get("reason"), self._reason_length)
        line = f"  … the same {times}" + (f", the last at {at}" if at else "") + (f": {reason}" if reason else "")
        self._repeated, self._count = None, 0
        return [line]


def estimate_lines(record: dict[str, Any]) -> list[str]:
    """Plan's estimate on the record (services/deploy.plan_estimate): how long each phase should take, and the
    warning when the rollout cannot decide in time; nothing for a record without one (a first deployment)."""
    from pydantic import ValidationError

    from mlrollout.contracts import PlanEstimate

    if not record.get("estimate"):
        return []
    try:
        first, *rest = PlanEstimate.model_validate(record["estimate"]).lines()
    except ValidationError:
        return ["expected: the record's estimate is unreadable by this version of the CLI"]
    return [f"expected: {first}", *(f"  {line}" for line in rest)]
