"""An operator's say in a running rollout: promote now, or abort now (`mlrollout promote|abort`).

The request waits on the deployment record and the judge applies it at its next look, so the state machine, not
the operator's machine, changes the endpoint: promote goes to the normal promotion, abort to the normal rollback.
A canary that fails at that very look is rolled back even if promotion was asked for: the request cannot make a
failing version serve all traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ACTIONS = ("promote", "abort")


@dataclass(frozen=True)
class OperatorRequest:
    action: Literal["promote", "abort"]
    by: str
    at: str
    reason: str = ""

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> OperatorRequest | None:
        action = data.get("action")
        if action not in ACTIONS:
            return None
        return cls(action=action, by=str(data.get("by") or "an operator"), at=str(data.get("at") or ""),
                   reason=str(data.get("reason") or ""))  # fmt: skip

    def as_record(self) -> dict[str, str]:
        return {"action": self.action, "by": self.by, "at": self.at, "reason": self.reason}


@dataclass(frozen=True)
class Override:
    action: str
    reason: str


def apply_request(request: OperatorRequest, verdict: str, action: str, reason: str) -> Override:
    """What the look does with the operator's request, given the judge's own verdict, action and reason."""
    why = f": {request.reason.rstrip('.')}" if request.reason else ""
    judged = f"(the judge's verdict at that look: {verdict}: {reason})"
    if request.action == "abort":
        return Override("abort", f"Aborted by {request.by}{why} {judged}")
    if verdict == "FAIL" or action == "rollback":
        return Override(action, f"{reason} The promotion {request.by} asked for was not done: the canary failed.")
    return Override("promote", f"Promoted by {request.by} before the bake ended{why} {judged}")
