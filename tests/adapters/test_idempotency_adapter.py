"""`Once` (Powertools idempotency) on plain moto, on the template's state table: an action keyed by what it is about
runs once; a duplicate gets the first run's result; a run that failed leaves nothing behind, so its retry acts; a
duplicate that arrives while the first run is still acting is refused rather than run twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from mlrollout.adapters.idempotency import Once

TABLE = "state"  # the table the state_dynamodb fixture creates
DAY = 86_400


@pytest.fixture
def dynamodb(state_dynamodb: Any) -> Any:
    return state_dynamodb


def records(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items


def counting(result: dict[str, Any], runs: list[str]) -> Callable[[], dict[str, Any]]:
    def action() -> dict[str, Any]:
        runs.append("ran")
        return result

    return action


class Context:
    """The one LambdaContext method Powertools reads, for an in-progress record's expiry (the handlers pass theirs;
    without it Powertools warns)."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_a_duplicate_gets_the_first_runs_result_without_acting_again(dynamodb: Any) -> None:
    once = Once(dynamodb, TABLE, prefix="notify", expires_after_seconds=DAY, context=Context())
    runs: list[str] = []
    key = {"alarm": "fraud-drift", "state": "ALARM", "at": "2026-11-25T12:00:00Z"}

    first = once.run(key, counting({"message_id": "m-1"}, runs))
    again = once.run(dict(reversed(key.items())), counting({"message_id": "m-2"}, runs))  # the same key, reordered

    assert first == again == {"message_id": "m-1"}
    assert runs == ["ran"]
    [record] = records(dynamodb)
    assert record["id"]["S"].startswith("notify#")
    assert record["status"]["S"] == "COMPLETED"
    # The table's TTL attribute, the configured time ahead: DynamoDB removes the record after it.
    assert abs(int(record["expiration"]["N"]) - (time.time() + DAY)) < 60


def test_different_keys_and_different_prefixes_each_act(dynamodb: Any) -> None:
    runs: list[str] = []
    notify = Once(dynamodb, TABLE, prefix="notify", expires_after_seconds=DAY, context=Context())
    relay = Once(dynamodb, TABLE, prefix="relay", expires_after_seconds=DAY, context=Context())

    assert notify.run({"alarm": "a"}, counting({"n": 1}, runs)) == {"n": 1}
    assert notify.run({"alarm": "b"}, counting({"n": 2}, runs)) == {"n": 2}
    assert relay.run({"alarm": "a"}, counting({"n": 3}, runs)) == {"n": 3}

    assert runs == ["ran"] * 3
    assert len(records(dynamodb)) == 3


def test_a_run_that_failed_leaves_no_record_so_its_retry_acts(dynamodb: Any) -> None:
    once = Once(dynamodb, TABLE, prefix="notify", expires_after_seconds=DAY, context=Context())

    def fails() -> dict[str, Any]:
        raise RuntimeError("Slack answered HTTP 503")

    with pytest.raises(RuntimeError, match="503"):
        once.run({"alarm": "a"}, fails)
    assert records(dynamodb) == []

    runs: list[str] = []
    assert once.run({"alarm": "a"}, counting({"ok": True}, runs)) == {"ok": True}
    assert runs == ["ran"]


def test_a_duplicate_while_the_first_run_still_acts_is_refused(dynamodb: Any) -> None:
    once = Once(dynamodb, TABLE, prefix="notify", expires_after_seconds=DAY, context=Context())
    seen: dict[str, Any] = {}

    def first_run() -> dict[str, Any]:
        [seen["record"]] = records(dynamodb)
        with pytest.raises(IdempotencyAlreadyInProgressError):
            once.run({"alarm": "a"}, lambda: {"duplicate": True})  # a second delivery, mid-run
        return {"first": True}

    assert once.run({"alarm": "a"}, first_run) == {"first": True}
    assert seen["record"]["status"]["S"] == "INPROGRESS"
    # With the Lambda context, the in-progress record lapses when the invocation's time would be up (in ms), so a
    # crashed run does not block its retry for the whole expiry.
    lapses = int(seen["record"]["in_progress_expiration"]["N"]) / 1000
    assert abs(lapses - (time.time() + 60)) < 30
    assert [r["status"]["S"] for r in records(dynamodb)] == ["COMPLETED"]
