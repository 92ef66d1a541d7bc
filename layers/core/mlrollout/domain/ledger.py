"""What became of every upload, and who may change an endpoint: the deployment record's states and the lease.

Every upload gets one record, keyed by its deployment id (model + artifact sha256, so a duplicate delivery or a
re-upload of the same bytes finds the first one). A record moves forward through `STATES` and ends in exactly
one of `FINAL`; nothing is ever in no state. One execution at a time holds an endpoint's lease; uploads that
find it held wait, and when it frees only the newest waiting upload proceeds: the older ones are superseded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"  # validated and claimed; not yet holding the endpoint
    WAITING = "waiting"  # another rollout holds the endpoint
    DEPLOYING = "deploying"  # holds the lease: the endpoint may be changed from here on
    AWAITING_APPROVAL = "awaiting_approval"  # holds the lease; waits for `mlrollout approve` (manual approval)
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    ABORTED = "aborted"  # stopped by an operator
    TIMED_OUT = "timed_out"
    FAILED = "failed"  # the execution died outside its own failure paths


FINAL = frozenset(
    {
        State.PROMOTED,
        State.ROLLED_BACK,
        State.ROLLBACK_FAILED,
        State.REJECTED,
        State.SUPERSEDED,
        State.ABORTED,
        State.TIMED_OUT,
        State.FAILED,
    }
)

# Step Functions execution statuses that end an execution outside its own paths.
DEAD = {"ABORTED": State.ABORTED, "TIMED_OUT": State.TIMED_OUT, "FAILED": State.FAILED}
# States in which the endpoint may have been changed: a dead holder there leaves a restore to do.
TOUCHING = frozenset({State.DEPLOYING, State.AWAITING_APPROVAL})


def upload_id(bucket: str, key: str, version_id: str | None) -> str:
    """The record id of an upload rejected before its bytes could be read (so it has no sha256)."""
    digest = hashlib.sha256(f"{bucket}/{key}@{version_id or ''}".encode()).hexdigest()[:16]
    return f"upload-{digest}"


@dataclass(frozen=True)
class Lease:
    endpoint: str
    holder: str  # deployment id
    execution: str
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class Waiter:
    """The newest upload waiting for an endpoint (by upload time, then deployment id)."""

    deployment_id: str
    uploaded_at: str

    def newer_than(self, other: Waiter) -> bool:
        return (self.uploaded_at, self.deployment_id) > (other.uploaded_at, other.deployment_id)


def lease_until(now: datetime, minutes: float) -> datetime:
    return now + timedelta(minutes=minutes)


# Beyond the longest stretch without a renewal: a task's Lambda retries (2+4+8+16 s), its own run (the functions'
# 60-s timeout) and Step Functions' scheduling, with room to spare.
LEASE_MARGIN_MINUTES = 15.0


def lease_minutes(endpoint_wait_seconds: float, evaluation_interval_seconds: float) -> float:
    """How long a lease lasts, from the state machine's limits.

    Every Lambda step that precedes a wait renews it (Deploy Candidate, Pre-Traffic Check, each judge look, Promote,
    each rollback step, and each look of Await Endpoint, at least every EndpointRecheckSeconds while an endpoint
    change lasts; the approval wait extends it to its own deadline). The longest stretch between two renewals is
    Await Endpoint's last look, the rest of the wait until SageMaker's event ends it (at most
    EndpointRecheckSeconds), then the first evaluation interval of the next step, before its first look.
    """
    return (endpoint_wait_seconds + evaluation_interval_seconds) / 60.0 + LEASE_MARGIN_MINUTES
