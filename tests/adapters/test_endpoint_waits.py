"""The change each endpoint's rollout waits for, on the state table (plain moto): one item per endpoint, replaced by
the next wait, removed only by the token that wrote it, and gone by DynamoDB's TTL if a crash left it."""

from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.endpoint_waits import CHANGE_PREFIX, KEEP_SECONDS, DynamoEndpointWaits
from mlrollout.domain.endpoint_change import PendingChange
from support import table_from_template

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


@pytest.fixture
def waits() -> Iterator[DynamoEndpointWaits]:
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(**table_from_template("StateTable", "state"))
        yield DynamoEndpointWaits(db, "state")


def change(token: str, endpoint: str = "ep") -> PendingChange:
    return PendingChange(endpoint, token, "d-2", "ep-v2-canary", {"v1": 0.9, "v2": 0.1}, NOW, 4200)


def test_a_registered_change_reads_back_whole(waits: DynamoEndpointWaits) -> None:
    waits.register(change("t1"))
    assert waits.pending("ep") == change("t1")
    assert waits.pending("other") is None
    item = waits.db.get_item(TableName="state", Key={"id": {"S": CHANGE_PREFIX + "ep"}})["Item"]
    assert int(item["expiration"]["N"]) == int(NOW.timestamp()) + KEEP_SECONDS


def test_the_next_wait_replaces_the_item_and_only_its_own_token_removes_it(waits: DynamoEndpointWaits) -> None:
    waits.register(change("t1"))
    waits.register(change("t2"))  # a re-check: a new token for the same change
    waits.forget("ep", "t1")  # a late answer to the old token leaves the new wait alone
    assert waits.pending("ep") == change("t2")
    waits.forget("ep", "t2")
    assert waits.pending("ep") is None
    waits.forget("ep", "t2")  # already gone: nothing to do, no error
