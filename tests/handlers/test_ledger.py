"""Deployment records and endpoint leases in the embedded DynamoDB, through the real handlers."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support import IMAGE

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def rollout(model: str, sha: str, *, endpoint: str | None = None, execution: str = "e1", at: datetime = NOW) -> dict:
    from mlrollout.domain.config import RolloutConfig

    config = RolloutConfig.model_validate({"image": IMAGE, "endpoint_name": endpoint or model})
    return {
        "deployment_id": f"{model}-{sha[:12]}",
        "execution_id": f"arn:aws:states:us-east-1:123456789012:execution:rollout:{execution}",
        "model_name": model,
        "version_label": f"v-{sha[:4]}",
        "endpoint_name": endpoint or model,
        "artifact": {
            "bucket": "b",
            "key": f"models/{model}/v/model.tar.gz",
            "version_id": "1",
            "size": 10,
            "sha256": sha,
            "files": 1,
        },
        "config": config.model_dump(mode="json"),
        "steps": config.strategy.traffic_steps(),
        "started_at": at.isoformat(),
    }


def record(stack: Any, deployment_id: str) -> dict[str, Any] | None:
    from mlrollout.adapters.ledger import DynamoDeployments

    return DynamoDeployments(stack.client("dynamodb"), stack.deployments_table).get(deployment_id)


def lease(stack: Any, endpoint: str) -> dict[str, Any] | None:
    item = stack.client("dynamodb").get_item(TableName=stack.state_table, Key={"id": {"S": f"lease#{endpoint}"}})
    return item.get("Item")


def claim(handler: Any, r: dict, now: datetime = NOW) -> dict:
    return handler("claim_deployment")({"rollout": r, "now": now.isoformat()})


def acquire(handler: Any, r: dict, now: datetime = NOW, attempt: int = 0) -> dict:
    return handler("acquire_lease")({"rollout": r, "attempt": attempt, "now": now.isoformat()})


def settle(handler: Any, r: dict | None, outcome: str, **extra: Any) -> dict:
    execution = r["execution_id"] if r else "arn:aws:states:us-east-1:123456789012:execution:rollout:x"
    event = {"outcome": outcome, "execution_id": execution, "now": NOW.isoformat(), "rollout": r, **extra}
    return handler("settle_deployment")(event)


def test_the_first_execution_claims_and_duplicates_are_told_and_noted(stack: Any, handler: Any) -> None:
    first = rollout("m", "a" * 64)
    assert claim(handler, first) == {
        "duplicate": False,
        "deployment_id": first["deployment_id"],
        "first_execution": None,
        "state": None,
    }
    assert claim(handler, first)["duplicate"] is False  # the same execution's claim, retried
    again = rollout("m", "a" * 64, execution="e2")  # a duplicate delivery or a re-upload of the same bytes
    told = claim(handler, again, NOW + timedelta(minutes=5))
    assert (told["duplicate"], told["first_execution"], told["state"]) == (True, first["execution_id"], "received")
    stored = record(stack, first["deployment_id"])
    assert stored is not None
    assert (stored["state"], stored["model_name"], stored["sha256"], stored["execution_id"]) == (
        "received",
        "m",
        "a" * 64,
        first["execution_id"],
    )
    assert [d["execution_id"] for d in stored["duplicates"]] == [again["execution_id"]]
    # Other bytes of the same model are another deployment.
    assert claim(handler, rollout("m", "b" * 64, execution="e3"))["duplicate"] is False


def test_one_rollout_holds_an_endpoint_and_the_next_waits_for_it(stack: Any, handler: Any) -> None:
    first, second = rollout("m", "a" * 64), rollout("m", "b" * 64, execution="e2", at=NOW + timedelta(minutes=1))
    for r in (first, second):
        claim(handler, r)
    assert acquire(handler, first)["status"] == "acquired"
    assert acquire(handler, first)["status"] == "acquired"  # retried: still ours
    waiting = acquire(handler, second, NOW + timedelta(minutes=1))
    assert (waiting["status"], waiting["holder"]) == ("waiting", first["deployment_id"])
    assert record(stack, second["deployment_id"])["state"] == "waiting"  # type: ignore[index]
    held = lease(stack, "m")
    assert held is not None
    assert (held["holder"]["S"], held["execution"]["S"]) == (first["deployment_id"], first["execution_id"])
    # Another endpoint is independent.
    assert acquire(handler, rollout("other", "c" * 64, execution="e3"))["status"] == "acquired"

    settled = settle(handler, first, "promoted")
    assert (settled["recorded"], settled["released"]) == (True, True)
    assert acquire(handler, second, NOW + timedelta(minutes=2), attempt=1)["status"] == "acquired"
    assert record(stack, second["deployment_id"])["state"] == "deploying"  # type: ignore[index]
    final = record(stack, first["deployment_id"])
    assert final is not None
    assert (final["state"], final["outcome"], final["reason"]) == ("promoted", "promoted", "promoted")


def test_only_the_newest_waiting_upload_proceeds(stack: Any, handler: Any) -> None:
    running = rollout("m", "a" * 64)
    older = rollout("m", "b" * 64, execution="e2", at=NOW + timedelta(minutes=1))
    newer = rollout("m", "c" * 64, execution="e3", at=NOW + timedelta(minutes=2))
    for r in (running, older, newer):
        claim(handler, r)
    assert acquire(handler, running)["status"] == "acquired"
    assert acquire(handler, older, NOW + timedelta(minutes=1))["status"] == "waiting"
    assert acquire(handler, newer, NOW + timedelta(minutes=2))["status"] == "waiting"
    gave_way = acquire(handler, older, NOW + timedelta(minutes=3), attempt=1)
    assert (gave_way["status"], gave_way["newer"]) == ("superseded", newer["deployment_id"])
    assert "only the newest waiting version is rolled out" in gave_way["reason"]
    settle(handler, older, "superseded", failure={"error": "Superseded", "cause": gave_way["reason"]})
    assert record(stack, older["deployment_id"])["outcome"] == "superseded"  # type: ignore[index]
    settle(handler, running, "rolled_back")
    assert acquire(handler, newer, NOW + timedelta(minutes=4), attempt=2)["status"] == "acquired"


def test_an_expired_lease_can_be_taken_and_looks_renew_it(stack: Any, handler: Any, monkeypatch: Any) -> None:
    from mlrollout.adapters.ledger import DynamoLeases
    from mlrollout.contracts import JudgeOutput, Rollout
    from mlrollout.services.ledger import note_look

    monkeypatch.setenv("LEASE_MINUTES", "30")
    stale, fresh = rollout("m", "a" * 64), rollout("m", "b" * 64, execution="e2")
    for r in (stale, fresh):
        claim(handler, r)
    assert acquire(handler, stale)["status"] == "acquired"
    assert acquire(handler, fresh, NOW + timedelta(minutes=29))["status"] == "waiting"
    leases = DynamoLeases(stack.client("dynamodb"), stack.state_table)
    look = JudgeOutput(verdict="INCONCLUSIVE", action="continue", reason="so far", step_index=0, weight=10.0,
                       elapsed_seconds=60.0)  # fmt: skip
    from mlrollout.adapters.ledger import DynamoDeployments

    records = DynamoDeployments(stack.client("dynamodb"), stack.deployments_table)
    at = NOW + timedelta(minutes=20)
    assert note_look(
        Rollout.model_validate(stale), look, records=records, leases=leases, now=at, lease_minutes=30
    ).lease_kept
    assert acquire(handler, fresh, NOW + timedelta(minutes=31))["status"] == "waiting"  # renewed to 50 min
    assert acquire(handler, fresh, NOW + timedelta(minutes=51))["status"] == "acquired"  # the holder went silent
    decisions = record(stack, stale["deployment_id"])["decisions"]  # type: ignore[index]
    assert [(d["verdict"], d["action"], d["step"]) for d in decisions] == [("INCONCLUSIVE", "continue", 0)]
    # The old holder's next look finds its lease gone: the record says so.
    assert not note_look(
        Rollout.model_validate(stale), look, records=records, leases=leases, now=at, lease_minutes=30
    ).lease_kept
    assert record(stack, stale["deployment_id"])["warnings"][0]["lease"] == "lost"  # type: ignore[index]


def test_an_outcome_is_written_once_and_a_rejected_upload_gets_a_record(stack: Any, handler: Any) -> None:
    from mlrollout.domain.ledger import upload_id

    r = rollout("m", "a" * 64)
    claim(handler, r)
    assert settle(handler, r, "rolled_back", failure={"error": "CanaryFailed", "cause": "too many errors"})["recorded"]
    assert not settle(handler, r, "promoted")["recorded"]
    stored = record(stack, r["deployment_id"])
    assert (stored["outcome"], stored["reason"]) == ("rolled_back", "too many errors")  # type: ignore[index]

    event = {
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "models/broken/v1/model.tar.gz", "version-id": "7"}},
    }
    failure = {"error": "ArtifactInvalid", "cause": json.dumps({"errorMessage": "not gzip Fix: upload a .tar.gz"})}
    rejected = settle(handler, None, "rejected", upload_event=event, failure=failure)
    assert rejected["deployment_id"] == upload_id("b", "models/broken/v1/model.tar.gz", "7")
    stored = record(stack, rejected["deployment_id"])
    assert stored is not None
    assert (stored["outcome"], stored["model_name"], stored["artifact"]) == (
        "rejected",
        "broken",
        "s3://b/models/broken/v1/model.tar.gz",
    )
    assert stored["reason"] == "not gzip Fix: upload a .tar.gz"


def status_event(execution: str, status: str, **detail: Any) -> dict:
    return {
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {"executionArn": execution, "status": status, **detail},
    }


def test_an_execution_that_died_waiting_is_settled_and_leaves_the_queue(stack: Any, handler: Any) -> None:
    holder, waiter = rollout("m", "a" * 64), rollout("m", "b" * 64, execution="e2", at=NOW + timedelta(minutes=1))
    for r in (holder, waiter):
        claim(handler, r)
    acquire(handler, holder)
    acquire(handler, waiter, NOW + timedelta(minutes=1))
    ended = handler("settle_deployment")(status_event(waiter["execution_id"], "ABORTED"))
    assert (ended["outcome"], ended["action"]) == ("aborted", "settled")
    stored = record(stack, waiter["deployment_id"])
    assert (stored["outcome"], stored["reason"]) == (  # type: ignore[index]
        "aborted",
        "the execution was stopped (by an operator or an API call)",
    )
    assert lease(stack, "m")["holder"]["S"] == holder["deployment_id"]  # type: ignore[index]
    waiting = stack.client("dynamodb").get_item(TableName=stack.state_table, Key={"id": {"S": "waiting#m"}})
    assert "Item" not in waiting


def test_a_stop_with_a_reason_keeps_the_operators_words(stack: Any, handler: Any) -> None:
    holder, waiter = rollout("m", "a" * 64), rollout("m", "b" * 64, execution="e2", at=NOW + timedelta(minutes=1))
    for r in (holder, waiter):
        claim(handler, r)
    acquire(handler, holder)
    acquire(handler, waiter, NOW + timedelta(minutes=1))
    event = status_event(waiter["execution_id"], "ABORTED", error="OperatorStop", cause="wrong model uploaded")
    assert handler("settle_deployment")(event)["outcome"] == "aborted"
    assert record(stack, waiter["deployment_id"])["reason"] == (  # type: ignore[index]
        "the execution was stopped (by an operator or an API call): OperatorStop: wrong model uploaded"
    )


def test_an_execution_that_ended_on_its_own_path_only_loses_a_forgotten_lease(stack: Any, handler: Any) -> None:
    r = rollout("m", "a" * 64)
    claim(handler, r)
    acquire(handler, r)
    from mlrollout.adapters.ledger import DynamoDeployments

    DynamoDeployments(stack.client("dynamodb"), stack.deployments_table).settle(
        r["deployment_id"], "promoted", "ok", NOW
    )
    ended = handler("settle_deployment")(status_event(r["execution_id"], "SUCCEEDED", output='{"outcome":"promoted"}'))
    assert (ended["outcome"], ended["action"]) == ("promoted", "released")
    assert lease(stack, "m") is None
    assert handler("settle_deployment")(status_event(r["execution_id"], "SUCCEEDED"))["action"] == "nothing to do"


@pytest.mark.parametrize(("status", "outcome"), [("TIMED_OUT", "timed_out"), ("FAILED", "failed")])
def test_an_unclaimed_execution_that_died_gets_a_record_of_its_upload(
    stack: Any, handler: Any, status: str, outcome: str
) -> None:
    upload = {"detail": {"bucket": {"name": "b"}, "object": {"key": "models/m/v9/model.tar.gz", "version-id": "3"}}}
    execution = "arn:aws:states:us-east-1:123456789012:execution:rollout:early"
    ended = handler("settle_deployment")(
        status_event(execution, status, input=json.dumps(upload), error="Lambda.Unknown", cause="crashed")
    )
    assert ended["outcome"] == outcome
    from mlrollout.domain.ledger import upload_id

    stored = record(stack, upload_id("b", "models/m/v9/model.tar.gz", "3"))
    assert stored is not None
    assert (stored["outcome"], stored["model_name"], stored["execution_id"]) == (outcome, "m", execution)


def test_a_restore_that_dies_settles_the_record_and_frees_the_endpoint(stack: Any, handler: Any) -> None:
    from mlrollout.adapters.ledger import DynamoLeases

    r = rollout("m", "a" * 64)
    claim(handler, r)
    acquire(handler, r)
    restore = "arn:aws:states:us-east-1:123456789012:execution:rollout:restore-1"
    DynamoLeases(stack.client("dynamodb"), stack.state_table).hand_over("m", r["deployment_id"], restore)
    document = {"restore": {"execution": r["execution_id"], "status": "ABORTED", "deployment_id": r["deployment_id"]}}
    ended = handler("settle_deployment")(status_event(restore, "TIMED_OUT", input=json.dumps(document)))
    assert (ended["outcome"], ended["action"]) == ("timed_out", "settled (restore died)")
    stored = record(stack, r["deployment_id"])
    assert stored is not None
    assert stored["outcome"] == "timed_out"
    assert "its restore then ended TIMED_OUT" in stored["reason"] and "check the endpoint" in stored["reason"]
    assert lease(stack, "m") is None


def test_request_approval_keeps_the_token_holds_the_lease_and_asks_once(stack: Any, handler: Any) -> None:
    from mlrollout.adapters.ledger import DynamoDeployments, DynamoLeases

    r = rollout("gated", "c" * 64)
    r["config"] = {**r["config"], "approval": "manual", "approval_timeout_minutes": 240}
    claim(handler, r)
    assert acquire(handler, r)["status"] == "acquired"
    deployment = {
        "endpoint_name": "gated", "first_deployment": False, "candidate_variant": "v2", "candidate_model": "gated-v2",
        "canary_config": "gated-v2-canary", "final_config": "gated-v2", "previous_config": "gated-v1",
        "current_variant": "v1", "current_model": "gated-v1",
        "expected": {"config_name": "gated-v2-canary", "weights": {"v1": 1.0, "v2": 0.0}},
    }  # fmt: skip
    event = {"rollout": r, "deployment": deployment, "task_token": "token-1", "execution_id": r["execution_id"],
             "now": NOW.isoformat()}  # fmt: skip
    asked = handler("request_approval")(event)
    again = handler("request_approval")(event)  # Step Functions retried the invocation
    assert asked["recorded"] and datetime.fromisoformat(asked["expires_at"]) == NOW + timedelta(minutes=240)
    saved = record(stack, r["deployment_id"])
    assert saved is not None and saved["state"] == "awaiting_approval"
    assert saved["approval"]["token"] == "token-1"
    messages = [m for m in stack.messages() if json.loads(m["Message"])["event"] == "approval_requested"]
    assert len(messages) == 1 and again["message_id"] == asked["message_id"]
    assert f"mlrollout approve {r['deployment_id']}" in json.loads(messages[0]["Message"])["reason"]
    # The lease outlives the wait (no judge look renews it meanwhile).
    lease = DynamoLeases(stack.client("dynamodb"), stack.state_table).holder("gated")
    assert lease is not None and lease.expires_at > NOW + timedelta(minutes=240)
    # An operator's answer is recorded once; the second one is refused.
    records = DynamoDeployments(stack.client("dynamodb"), stack.deployments_table)
    assert records.decide_approval(r["deployment_id"], {"approved": True, "by": "alice"}, NOW)
    assert not records.decide_approval(r["deployment_id"], {"approved": False, "by": "bob"}, NOW)
    assert record(stack, r["deployment_id"])["state"] == "deploying"  # type: ignore[index]


def test_an_operator_request_waits_on_the_record_and_is_taken_once(stack: Any, handler: Any) -> None:
    from mlrollout.adapters.ledger import DynamoDeployments

    r = rollout("steered", "d" * 64)
    claim(handler, r)
    records = DynamoDeployments(stack.client("dynamodb"), stack.deployments_table)
    assert records.take_request(r["deployment_id"], NOW) is None  # nothing pending
    assert records.request(r["deployment_id"], {"action": "abort", "by": "alice"}, NOW)
    assert not records.request(r["deployment_id"], {"action": "promote", "by": "bob"}, NOW)  # one at a time
    assert records.take_request(r["deployment_id"], NOW) == {
        "action": "abort",
        "by": "alice",
        "taken_at": NOW.isoformat(),
    }
    assert records.take_request(r["deployment_id"], NOW) is None  # a retried look does not take it twice
    settle(handler, r, "rolled_back")
    assert not records.request("no-such-deployment", {"action": "abort", "by": "alice"}, NOW)
    assert not records.request(r["deployment_id"], {"action": "abort", "by": "alice"}, NOW)  # it ended


def test_the_reconciler_settles_executions_whose_ended_event_was_lost(
    stack: Any, handler: Any, monkeypatch: Any
) -> None:
    # EventBridge delivers Step Functions' status-change events best effort. Here nothing delivers them (no rule):
    # the scheduled reconcile finds the executions that ended, from ListExecutions and DescribeExecution.
    sfn = stack.client("stepfunctions")
    waits = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 86000, "End": True}}}
    machine = sfn.create_state_machine(
        name=f"rollout-{stack.bucket}", definition=json.dumps(waits), roleArn=stack.role_arn
    )["stateMachineArn"]
    monkeypatch.setenv("ROLLOUT_STATE_MACHINE_ARN", machine)

    def started(name: str) -> str:
        return str(sfn.start_execution(stateMachineArn=machine, name=name, input="{}")["executionArn"])

    waiting_arn, deploying_arn, running_arn = started("waiting"), started("deploying"), started("running")
    holder = rollout("m", "a" * 64) | {"execution_id": deploying_arn, "endpoint_name": "m"}
    waiter = rollout("m", "b" * 64, at=NOW + timedelta(minutes=1)) | {"execution_id": waiting_arn}
    running = rollout("r", "c" * 64) | {"execution_id": running_arn}
    for r in (holder, waiter, running):
        claim(handler, r)
    acquire(handler, holder)
    acquire(handler, waiter, NOW + timedelta(minutes=1))
    acquire(handler, running)
    sfn.stop_execution(executionArn=waiting_arn, error="OperatorStop", cause="not this one")
    sfn.stop_execution(executionArn=deploying_arn)

    first = handler("settle_deployment")({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})

    assert first["looked_at"] == 2  # the running execution is not looked at
    actions = {r["execution"]: r["action"] for r in first["settled"]}
    assert actions[waiting_arn] == "settled"
    assert actions[deploying_arn].startswith("restoring the endpoint in ")
    stored = record(stack, waiter["deployment_id"])
    assert stored is not None
    assert (stored["outcome"], stored["reason"]) == (
        "aborted",
        "the execution was stopped (by an operator or an API call): OperatorStop: not this one",
    )
    touched = record(stack, holder["deployment_id"])
    assert touched is not None
    assert "outcome" not in touched and touched["restore_execution"] in actions[deploying_arn]
    assert record(stack, running["deployment_id"])["state"] == "deploying"  # type: ignore[index]

    # The next run (and a late or duplicate event) changes nothing: the restore execution settles its record.
    again = handler("settle_deployment")({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
    assert again["settled"] == []
    late = handler("settle_deployment")(status_event(deploying_arn, "ABORTED"))
    assert late["action"].endswith("already started")
    assert "outcome" not in (record(stack, holder["deployment_id"]) or {})
