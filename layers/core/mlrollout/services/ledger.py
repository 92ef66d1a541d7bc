"""The deployment record and the endpoint lease: exactly one rollout per upload, one rollout per endpoint.

- Claim Deployment: the first execution for a deployment id creates its record; any other (a duplicate EventBridge
  delivery, a re-upload of the same bytes) is told it is a duplicate and noted on the first one's record.
- Acquire Lease: the endpoint's lease, or wait for it; an upload with a newer one waiting behind the same lease
  gives way (superseded).
- Settle: the execution's own end writes the outcome once and releases the lease.
- Settle Dead Execution: Step Functions' status-change event for every execution that ended; where the execution
  died outside its own paths (stopped, timed out, crashed) the record gets its outcome, the lease goes, and an
  endpoint it may have changed is restored by a restore execution that takes the lease over.
- Reconcile: EventBridge delivers those events best effort, so a schedule also looks at every execution that ended
  recently (DescribeExecution) and settles it the same way. Settling is idempotent: an event, its duplicates and
  the reconciler's later look at the same execution change a record once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlrollout.contracts import (
    ClaimInput,
    ClaimResult,
    Deployment,
    Failure,
    JudgeOutput,
    LeaseInput,
    LeaseResult,
    Registration,
    RestoreInput,
    RestorePlan,
    Rollout,
    SettleInput,
    Upload,
)
from mlrollout.domain import ledger as ledger_rules
from mlrollout.domain import naming
from mlrollout.domain.errors import LeaseLost
from mlrollout.domain.ledger import DEAD, TOUCHING, State, Waiter, lease_until, upload_id
from mlrollout.domain.operator import OperatorRequest, apply_request
from mlrollout.ports import Executions, Leases, Records
from mlrollout.settings import Settings

MEMORY_SECONDS = 400 * 86400  # execution -> deployment mappings outlive any execution (max 1 year) a little


def lease_minutes(settings: Settings, rollout: Rollout) -> float:
    """The lease's life for this rollout: the stack's LEASE_MINUTES, or sized from the state machine's limits."""
    if settings.lease_minutes is not None:
        return settings.lease_minutes
    return ledger_rules.lease_minutes(
        settings.endpoint_recheck_seconds,
        rollout.config.strategy.evaluation_interval_seconds,
    )


@dataclass(frozen=True)
class LeaseKeeper:
    """Renews the endpoint's lease at a step that precedes a wait; a lost lease goes on the record."""

    leases: Leases
    records: Records
    minutes: float

    def renew(self, rollout: Rollout, now: datetime) -> bool:
        """Extend the lease; one that expired and that nobody took since (or whose item expired away) is taken
        again. False when another rollout holds it."""
        endpoint, me, until = rollout.endpoint_name, rollout.deployment_id, lease_until(now, self.minutes)
        kept = self.leases.renew(endpoint, me, until) or self.leases.take(
            endpoint, me, rollout.execution_id, now, until
        )
        if not kept:
            self.records.append(rollout.deployment_id, "warnings", {"at": now.isoformat(), "lease": "lost"}, now)
        return kept

    def require(self, rollout: Rollout, now: datetime, doing: str) -> None:
        """Renew before changing the endpoint; refuse the change if another rollout holds the endpoint now."""
        if not self.renew(rollout, now):
            raise LeaseLost(
                f"the lease on endpoint {rollout.endpoint_name} expired and was taken by another rollout, so "
                f"{rollout.version_label} will not {doing}",
                fix="look at the endpoint's current rollout (mlrollout status); upload again when it has ended",
            )


def _record(rollout: Rollout, now: datetime) -> dict[str, Any]:
    return {
        "deployment_id": rollout.deployment_id,
        "model_name": rollout.model_name,
        "version_label": rollout.version_label,
        "endpoint": rollout.endpoint_name,
        "artifact": rollout.artifact.uri,
        "artifact_version": rollout.artifact.version_id,
        "sha256": rollout.artifact.sha256,
        "size": rollout.artifact.size,
        "execution_id": rollout.execution_id,
        "state": State.RECEIVED.value,
        "created_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "uploaded_at": rollout.started_at.isoformat(),
    }


def claim_deployment(request: ClaimInput, *, records: Records, leases: Leases) -> ClaimResult:
    rollout, now = request.rollout, request.now
    expires = int(now.timestamp()) + MEMORY_SECONDS
    if records.claim(_record(rollout, now)):
        leases.remember_execution(rollout.execution_id, rollout.deployment_id, rollout.endpoint_name, expires)
        return ClaimResult(duplicate=False, deployment_id=rollout.deployment_id)
    first = records.get(rollout.deployment_id) or {}
    if first.get("execution_id") == rollout.execution_id:  # this execution's own claim, retried
        return ClaimResult(duplicate=False, deployment_id=rollout.deployment_id)
    records.append(
        rollout.deployment_id,
        "duplicates",
        {"execution_id": rollout.execution_id, "artifact": rollout.artifact.uri, "at": now.isoformat()},
        now,
    )
    return ClaimResult(
        duplicate=True,
        deployment_id=rollout.deployment_id,
        first_execution=first.get("execution_id"),
        state=first.get("state"),
    )


def acquire_lease(request: LeaseInput, *, records: Records, leases: Leases, lease_minutes: float) -> LeaseResult:
    rollout, now = request.rollout, request.now
    endpoint, me = rollout.endpoint_name, rollout.deployment_id
    waiter = Waiter(me, rollout.started_at.isoformat())
    held = leases.holder(endpoint)
    if held is None or held.expired(now) or held.holder == me:
        newest = leases.newest_waiter(endpoint)
        if newest is not None and newest.deployment_id != me and newest.newer_than(waiter):
            return _superseded(endpoint, newest)
        if leases.take(endpoint, me, rollout.execution_id, now, lease_until(now, lease_minutes)):
            leases.stop_waiting(endpoint, me)
            records.advance(me, State.DEPLOYING.value, now, lease_acquired_at=now.isoformat())
            return LeaseResult(status="acquired", endpoint=endpoint, reason=f"endpoint {endpoint} is ours")
        held = leases.holder(endpoint)  # another execution took it between our read and our write
    newest = leases.wait(endpoint, waiter)
    if newest.deployment_id != me and newest.newer_than(waiter):
        return _superseded(endpoint, newest)
    holder = held.holder if held is not None else None
    records.advance(me, State.WAITING.value, now, waiting_for=holder)
    return LeaseResult(
        status="waiting",
        endpoint=endpoint,
        holder=holder,
        reason=f"endpoint {endpoint} is busy with deployment {holder}; waiting (attempt {request.attempt + 1})",
    )


def _superseded(endpoint: str, newest: Waiter) -> LeaseResult:
    return LeaseResult(
        status="superseded",
        endpoint=endpoint,
        newer=newest.deployment_id,
        reason=f"a newer upload ({newest.deployment_id}) is waiting for endpoint {endpoint}; only the newest "
        "waiting version is rolled out",
    )


@dataclass(frozen=True)
class Look:
    judgement: JudgeOutput  # the judge's, or what an operator's request made of it
    lease_kept: bool


def note_look(
    rollout: Rollout, judgement: JudgeOutput, *, records: Records, leases: Leases, now: datetime, lease_minutes: float
) -> Look:
    """After each look: an operator's pending request (promote, abort) applied, the endpoint's lease renewed, and
    the decision on the record. `lease_kept` is False if the lease was lost (expired and taken by another rollout:
    the record says so, and the look can then only roll back: never promote or advance without the endpoint)."""
    taken = records.take_request(rollout.deployment_id, now)
    request = OperatorRequest.from_record(taken) if taken else None
    if request is not None:
        override = apply_request(request, judgement.verdict, judgement.action, judgement.reason)
        judgement = judgement.model_copy(update={"action": override.action, "reason": override.reason})
    kept = LeaseKeeper(leases, records, lease_minutes).renew(rollout, now)
    if not kept and judgement.action not in {"rollback", "abort"}:
        reason = f"the endpoint lease was lost to another rollout, so no {judgement.action}: {judgement.reason}"
        judgement = judgement.model_copy(update={"action": "rollback", "reason": reason})
    decision: dict[str, Any] = {
        "at": now.isoformat(),
        "step": judgement.step_index,
        "weight": judgement.weight,
        "looks": judgement.looks,
        "verdict": judgement.verdict,
        "action": judgement.action,
        "reason": judgement.reason,
        "record": judgement.record_uri,
    }
    if judgement.shadow:
        decision["shadow"] = True
    if request is not None:
        decision["operator"] = request.as_record()
    records.append(rollout.deployment_id, "decisions", decision, now)
    return Look(judgement, kept)


@dataclass(frozen=True)
class Settled:
    deployment_id: str
    outcome: str
    recorded: bool
    released: bool


def settle(request: SettleInput, *, records: Records, leases: Leases) -> Settled:
    rollout, now = request.rollout, request.now
    reason = _reason(request)
    if rollout is None and request.deployment_id is not None:  # a restore that found nothing to undo
        record = records.get(request.deployment_id) or {}
        recorded = records.settle(request.deployment_id, request.outcome, reason, now)
        endpoint = str(record.get("endpoint") or "")
        released = bool(endpoint) and leases.release(endpoint, request.deployment_id)
        return Settled(request.deployment_id, request.outcome, recorded, released)
    if rollout is None:
        upload = _upload(request.upload_event)
        deployment_id = upload_id(upload.bucket, upload.key, upload.version_id) if upload else request.execution_id
        model = naming.model_from_key(upload.key) if upload else None
        fields: dict[str, Any] = {"execution_id": request.execution_id}
        if upload is not None:
            fields.update(artifact=upload.uri, artifact_version=upload.version_id)
        if model:
            fields["model_name"] = model
        recorded = records.settle(deployment_id, request.outcome, reason, now, **fields)
        return Settled(deployment_id, request.outcome, recorded, False)
    fields = {"execution_id": rollout.execution_id, "model_name": rollout.model_name, "endpoint": rollout.endpoint_name}
    if request.registration is not None:
        fields["model_package_arn"] = request.registration.package_arn
    recorded = records.settle(rollout.deployment_id, request.outcome, reason, now, **fields)
    released = leases.release(rollout.endpoint_name, rollout.deployment_id)
    leases.stop_waiting(rollout.endpoint_name, rollout.deployment_id)
    return Settled(rollout.deployment_id, request.outcome, recorded, released)


def _reason(request: SettleInput) -> str:
    if request.reason:
        return request.reason
    if request.failure is not None:
        return request.failure.reason
    if request.judgement is not None:
        return request.judgement.reason
    return {"promoted": "promoted", "superseded": "superseded by a newer upload"}.get(request.outcome, request.outcome)


def _upload(event: dict[str, Any] | None) -> Upload | None:
    if not event:
        return None
    try:
        return Upload.from_event(event)
    except Exception:  # the very input that was rejected may be malformed
        return None


@dataclass(frozen=True)
class DeadExecution:
    execution: str
    status: str
    outcome: str | None
    action: str

    @property
    def changed(self) -> bool:
        """Whether settling changed anything (a record's outcome, a lease, a restore started)."""
        return self.action != "nothing to do" and not self.action.endswith("already started")


def settle_dead_execution(
    event: dict[str, Any],
    *,
    records: Records,
    leases: Leases,
    executions: Executions,
    now: datetime,
) -> DeadExecution:
    """Step Functions' "Execution Status Change": make sure the record has an outcome and the lease is free, and
    restore an endpoint a dead execution may have changed."""
    detail = event.get("detail") or {}
    execution, status = str(detail.get("executionArn")), str(detail.get("status"))
    known = leases.execution(execution)
    restoring = _json(detail.get("input")).get("restore")
    if known is None and isinstance(restoring, dict) and restoring.get("deployment_id"):
        return _restore_ended(
            str(restoring["deployment_id"]), execution, status, records=records, leases=leases, now=now
        )
    if known is None:
        return _unclaimed(detail, execution, status, records=records, now=now)
    deployment_id, endpoint = known
    record = records.get(deployment_id) or {}
    lease = leases.holder(endpoint)
    holds = lease is not None and lease.holder == deployment_id and lease.execution == execution
    if record.get("outcome"):  # ended by its own path (or already settled): only a forgotten lease remains
        released = holds and leases.release(endpoint, deployment_id)
        return DeadExecution(execution, status, str(record["outcome"]), "released" if released else "nothing to do")
    if record.get("restore_execution"):  # seen before (a duplicate event, or the reconciler): its restore settles it
        return DeadExecution(execution, status, None, f"restore {record['restore_execution']} already started")
    if status == "SUCCEEDED":
        outcome = str(_json(detail.get("output")).get("outcome") or State.PROMOTED.value)
        records.settle(deployment_id, outcome, "the execution succeeded; its own settle step did not run", now)
        leases.release(endpoint, deployment_id)
        return DeadExecution(execution, status, outcome, "settled")
    dead = DEAD.get(status, State.FAILED)
    why = _why(status, detail)
    if holds and record.get("state") in {s.value for s in TOUCHING}:
        restore = RestoreInput(execution=execution, status=status, deployment_id=deployment_id, now=now, reason=why)
        name = f"restore-{naming.short_token(execution, 12)}"
        started = executions.start(name, {"restore": restore.model_dump(mode="json")})
        leases.hand_over(endpoint, deployment_id, started)
        records.advance(deployment_id, State.DEPLOYING.value, now, restore_execution=started, stopped=why)
        return DeadExecution(execution, status, None, f"restoring the endpoint in {started}")
    records.settle(deployment_id, dead.value, why, now)
    if holds:
        leases.release(endpoint, deployment_id)
    leases.stop_waiting(endpoint, deployment_id)
    return DeadExecution(execution, status, dead.value, "settled")


@dataclass(frozen=True)
class Reconciled:
    looked_at: int
    settled: list[DeadExecution]

    def summary(self) -> dict[str, Any]:
        return {"looked_at": self.looked_at, "settled": [vars(r) for r in self.settled]}


def reconcile(
    records: Records, leases: Leases, executions: Executions, *, now: datetime, settings: Settings
) -> Reconciled:
    """Every execution that ended within the lookback, settled as its status-change event would have settled it.

    The lookback spans several schedule periods, so a run that fails or is late is covered by the next ones; what
    the events already settled is left as it is (settle_dead_execution changes a record once)."""
    since = now - timedelta(minutes=settings.reconcile_lookback_minutes)
    ended = executions.ended_since(since, timedelta(seconds=settings.execution_timeout_seconds))
    results = [
        settle_dead_execution({"detail": detail}, records=records, leases=leases, executions=executions, now=now)
        for detail in ended
    ]
    return Reconciled(len(ended), [r for r in results if r.changed])


def _restore_ended(
    deployment_id: str, execution: str, status: str, *, records: Records, leases: Leases, now: datetime
) -> DeadExecution:
    """A restore execution ended. Its own paths settled the record; one that died (stopped, timed out) did not:
    the record says the endpoint may not be back on its previous config, and the lease is released."""
    record = records.get(deployment_id) or {}
    endpoint = str(record.get("endpoint") or "")
    lease = leases.holder(endpoint) if endpoint else None
    if lease is not None and lease.holder == deployment_id and lease.execution == execution:
        leases.release(endpoint, deployment_id)
    if record.get("outcome") or status == "SUCCEEDED":
        return DeadExecution(execution, status, record.get("outcome"), "nothing to do")
    why = (
        f"the rollout was stopped and its restore then ended {status}: {_why(status, {})}; check the endpoint's "
        "config in the console"
    )
    records.settle(deployment_id, DEAD.get(status, State.FAILED).value, why, now)
    return DeadExecution(execution, status, DEAD.get(status, State.FAILED).value, "settled (restore died)")


def _unclaimed(
    detail: dict[str, Any], execution: str, status: str, *, records: Records, now: datetime
) -> DeadExecution:
    """An execution that ended before claiming a deployment (rejected, a duplicate, or dead early). Its own paths
    recorded it already (the conditional settle then changes nothing); a death outside them is recorded here."""
    upload = _upload(_json(detail.get("input")))
    if status == "SUCCEEDED" or upload is None:
        return DeadExecution(execution, status, None, "nothing to do")
    outcome = DEAD.get(status, State.FAILED).value
    fields: dict[str, Any] = {"execution_id": execution, "artifact": upload.uri, "artifact_version": upload.version_id}
    model = naming.model_from_key(upload.key)
    if model:
        fields["model_name"] = model
    deployment_id = upload_id(upload.bucket, upload.key, upload.version_id)
    recorded = records.settle(deployment_id, outcome, _why(status, detail), now, **fields)
    return DeadExecution(execution, status, outcome, "settled" if recorded else "nothing to do")


def _why(status: str, detail: dict[str, Any]) -> str:
    if status == "ABORTED":  # StopExecution's optional error and cause say who stopped it and why
        given = ": ".join(str(detail[k]) for k in ("error", "cause") if detail.get(k))
        return "the execution was stopped (by an operator or an API call)" + (f": {given}" if given else "")
    if status == "TIMED_OUT":
        return "the execution ran past the state machine's time limit"
    error, cause = detail.get("error"), detail.get("cause")
    return f"the execution failed outside its own failure paths: {error or 'unknown error'} {cause or ''}".strip()


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


PLAN_STATES = ["Validate Artifact", "Register Model Version", "Plan Deployment"]


def plan_restore(request: RestoreInput, *, executions: Executions) -> RestorePlan:
    """What the stopped execution had planned: enough for the rollback to put the endpoint back."""
    why = request.reason or _why(request.status, {})
    outputs = executions.outputs(request.execution, PLAN_STATES)
    if "Plan Deployment" not in outputs or "Validate Artifact" not in outputs:
        return RestorePlan(restore=False, reason=f"{why}, before it changed the endpoint")
    rollout = Rollout.model_validate(outputs["Validate Artifact"])
    registration = (
        Registration.model_validate(outputs["Register Model Version"]) if "Register Model Version" in outputs else None
    )
    deployment = Deployment.model_validate(outputs["Plan Deployment"])
    # The cause becomes the record's and the alert's reason whether the restore verifies or not: it says why, and
    # the outcome (rolled_back or rollback_failed) says how the endpoint ended.
    return RestorePlan(
        restore=True,
        reason=why,
        rollout=rollout,
        registration=registration,
        deployment=deployment,
        failure=Failure(
            error=f"States.{request.status.title().replace('_', '')}",
            cause=f"{why}, while it was changing endpoint {deployment.endpoint_name}",
            state="Restore",
        ),
    )
