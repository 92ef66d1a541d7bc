"""The alert memory on plain moto, on the template's state table: what was last reported for an alarm, written only
over the version the writer read (two deliveries of one state change: one reports, the other stays quiet), and
restored exactly when the alert could not be sent."""

from __future__ import annotations

from typing import Any

import pytest

from mlrollout.adapters.alert_state import DynamoAlertState
from mlrollout.ports import AlarmMemory

TABLE = "state"  # the table the state_dynamodb fixture creates
ALARM = "fraud-drift-amount"
T0 = 1_764_072_000.25  # a reported_at with a fraction: repr() keeps every digit
EXPIRES = 1_766_664_000


@pytest.fixture
def dynamodb(state_dynamodb: Any) -> Any:
    return state_dynamodb


def stored(dynamodb: Any) -> dict[str, Any]:
    """The alarm's item as DynamoDB holds it ({} when there is none)."""
    item: dict[str, Any] = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"alarm#{ALARM}"}}).get("Item", {})
    return item


def test_an_alarm_never_reported_is_remembered_as_version_zero(dynamodb: Any) -> None:
    assert DynamoAlertState(dynamodb, TABLE).recall(ALARM) == AlarmMemory(ALARM, None, None, 0)


def test_remember_then_recall_reads_back_what_was_written(dynamodb: Any) -> None:
    state = DynamoAlertState(dynamodb, TABLE)

    assert state.remember(state.recall(ALARM), "ALARM", T0, EXPIRES) is True

    assert state.recall(ALARM) == AlarmMemory(ALARM, "ALARM", T0, 1, EXPIRES, T0)
    assert stored(dynamodb) == {
        "id": {"S": f"alarm#{ALARM}"},
        "reported_state": {"S": "ALARM"},
        "reported_at": {"N": repr(T0)},
        "version": {"N": "1"},
        "expiration": {"N": str(EXPIRES)},  # the table's TTL attribute
        "alarm_reported_at": {"N": repr(T0)},
    }


def test_a_recovery_keeps_when_the_alarm_was_reported(dynamodb: Any) -> None:
    state = DynamoAlertState(dynamodb, TABLE)
    assert state.remember(state.recall(ALARM), "ALARM", T0, EXPIRES)

    assert state.remember(state.recall(ALARM), "OK", T0 + 600, EXPIRES + 600)

    assert state.recall(ALARM) == AlarmMemory(ALARM, "OK", T0 + 600, 2, EXPIRES + 600, T0)


def test_of_two_deliveries_that_read_the_same_memory_only_the_first_reports(dynamodb: Any) -> None:
    state = DynamoAlertState(dynamodb, TABLE)
    seen_by_both = state.recall(ALARM)
    assert state.remember(seen_by_both, "ALARM", T0, EXPIRES) is True
    assert state.remember(seen_by_both, "ALARM", T0 + 1, EXPIRES) is False  # the item exists now

    seen_again = state.recall(ALARM)
    assert state.remember(seen_again, "OK", T0 + 60, EXPIRES) is True
    assert state.remember(seen_again, "OK", T0 + 61, EXPIRES) is False  # version 1 was overwritten by version 2
    assert state.recall(ALARM).reported_at == T0 + 60


def test_forget_of_a_first_report_deletes_it_so_the_retry_reports(dynamodb: Any) -> None:
    state = DynamoAlertState(dynamodb, TABLE)
    before = state.recall(ALARM)
    assert state.remember(before, "ALARM", T0, EXPIRES)

    state.forget(before)

    assert stored(dynamodb) == {}
    assert state.remember(state.recall(ALARM), "ALARM", T0 + 5, EXPIRES) is True


def test_forget_restores_the_memory_seen_with_its_expiry(dynamodb: Any) -> None:
    state = DynamoAlertState(dynamodb, TABLE)
    assert state.remember(state.recall(ALARM), "ALARM", T0, EXPIRES)
    before = state.recall(ALARM)
    assert state.remember(before, "OK", T0 + 600, EXPIRES + 600)

    state.forget(before)

    assert state.recall(ALARM) == before
    assert stored(dynamodb)["expiration"] == {"N": str(EXPIRES)}
    assert state.remember(state.recall(ALARM), "OK", T0 + 660, EXPIRES) is True  # the retry reports the recovery


def test_forget_of_a_memory_without_an_expiry_restores_no_expiry(dynamodb: Any) -> None:
    # Records written before expiries existed: restoring one must not invent one.
    dynamodb.put_item(
        TableName=TABLE,
        Item={"id": {"S": f"alarm#{ALARM}"}, "reported_state": {"S": "OK"}, "version": {"N": "3"}},
    )
    state = DynamoAlertState(dynamodb, TABLE)
    before = state.recall(ALARM)
    assert before == AlarmMemory(ALARM, "OK", None, 3)
    assert state.remember(before, "ALARM", T0, EXPIRES)

    state.forget(before)

    assert stored(dynamodb) == {"id": {"S": f"alarm#{ALARM}"}, "reported_state": {"S": "OK"}, "version": {"N": "3"}}
