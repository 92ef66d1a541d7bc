"""Rollback alarms: CloudWatch alarms a model's config names (judge.rollback_alarms) as "stop" signals.

A business alarm (orders per minute, payment errors) can see harm the endpoint's own metrics cannot. While any of
them is in ALARM a rollout does not start (a canary judged against a degraded baseline proves nothing, and the
on-call is busy), and a bake fails as soon as one fires. An alarm that does not exist is a configuration error,
never a silent pass; INSUFFICIENT_DATA is not ALARM.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlrollout.domain.errors import ConfigInvalid, RollbackAlarmFiring

ALARM = "ALARM"


@dataclass(frozen=True)
class AlarmStatus:
    name: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    reason: str = ""
    since: str | None = None  # ISO-8601 time of the last state change

    def sentence(self) -> str:
        since = f" since {self.since}" if self.since else ""
        reason = f" ({self.reason})" if self.reason else ""
        return f"rollback alarm {self.name} is in {self.state}{since}{reason}"


def firing(names: list[str], statuses: dict[str, AlarmStatus]) -> list[AlarmStatus]:
    return [statuses[name] for name in names if name in statuses and statuses[name].state == ALARM]


def missing(names: list[str], statuses: dict[str, AlarmStatus]) -> list[str]:
    return [name for name in names if name not in statuses]


def preflight(names: list[str], statuses: dict[str, AlarmStatus], *, endpoint: str) -> None:
    """Raise unless every rollback alarm exists and none is in ALARM."""
    absent = missing(names, statuses)
    if absent:
        raise ConfigInvalid(
            f"judge.rollback_alarms names {', '.join(absent)}, which CloudWatch does not have in this account and "
            "region; a rollback alarm that does not exist would never stop a rollout",
            fix="create the alarm, or correct or remove its name in rollout.yaml, then upload the artifact again",
        )
    fired = firing(names, statuses)
    if fired:
        raise RollbackAlarmFiring(
            f"not rolling out to endpoint {endpoint}: " + "; ".join(status.sentence() for status in fired),
            fix="find out why the alarm fires and wait for it to return to OK, then upload the artifact again "
            "(the endpoint was not changed)",
        )
