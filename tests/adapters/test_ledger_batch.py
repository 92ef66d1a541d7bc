"""The ledger's batched reads (a status page's): records by id, and every endpoint's lease and waiter at once.
Against plain moto, on the template's tables: DynamoDB is one of the APIs moto has whole."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.ledger import DynamoDeployments, DynamoLeases
from mlrollout.domain.ledger import Waiter
from support import table_from_template

DEPLOYMENTS, STATE = "deployments", "state"

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_from_template("DeploymentsTable", DEPLOYMENTS))
        client.create_table(**table_from_template("StateTable", STATE))
        yield client


class CountingCalls:
    """Counts the API calls a boto3 client makes (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[str] = []
        client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)


def test_get_many_reads_records_in_one_batch_per_hundred_ids(dynamodb: Any) -> None:
    records = DynamoDeployments(dynamodb, DEPLOYMENTS)
    for i in range(130):
        assert records.claim({"deployment_id": f"d-{i:03d}", "model_name": "m", "created_at": NOW.isoformat()})
    records.append("d-007", "decisions", {"step": 0, "weight": 10.0, "verdict": "PASS"}, NOW)
    counted = CountingCalls(dynamodb)

    found = records.get_many([f"d-{i:03d}" for i in range(130)] + ["d-007", "missing"])

    assert sorted(found) == [f"d-{i:03d}" for i in range(130)]
    assert found["d-007"]["decisions"] == [{"step": 0, "weight": 10.0, "verdict": "PASS"}]
    assert counted.calls == ["BatchGetItem", "BatchGetItem"]
    assert records.get_many([]) == {}


def test_occupancy_scans_once_for_every_lease_and_waiter(dynamodb: Any) -> None:
    leases = DynamoLeases(dynamodb, STATE)
    until = NOW + timedelta(minutes=30)
    assert leases.take("ep-a", "dep-a", "arn:exec:a", NOW, until)
    assert leases.take("ep-b", "dep-b", "arn:exec:b", NOW, until)
    leases.wait("ep-b", Waiter("dep-b2", "2025-03-01T12:05:00+00:00"))
    leases.wait("ep-c", Waiter("dep-c", "2025-03-01T12:06:00+00:00"))  # a first version not deployed yet
    leases.remember_execution("arn:exec:a", "dep-a", "ep-a", 2_000_000_000)  # not a lease: left out
    counted = CountingCalls(dynamodb)

    held, waiting = leases.occupancy()

    assert counted.calls == ["Scan"]
    assert {e: (lease.holder, lease.execution, lease.expires_at) for e, lease in held.items()} == {
        "ep-a": ("dep-a", "arn:exec:a", until),
        "ep-b": ("dep-b", "arn:exec:b", until),
    }
    assert waiting == {
        "ep-b": Waiter("dep-b2", "2025-03-01T12:05:00+00:00"),
        "ep-c": Waiter("dep-c", "2025-03-01T12:06:00+00:00"),
    }


def test_occupancy_of_named_endpoints_reads_exactly_their_items(dynamodb: Any) -> None:
    leases = DynamoLeases(dynamodb, STATE)
    assert leases.take("ep-a", "dep-a", "arn:exec:a", NOW, NOW + timedelta(minutes=30))
    assert leases.take("ep-z", "dep-z", "arn:exec:z", NOW, NOW + timedelta(minutes=30))
    leases.wait("ep-a", Waiter("dep-a2", "2025-03-01T12:05:00+00:00"))
    counted = CountingCalls(dynamodb)

    held, waiting = leases.occupancy(["ep-a", "ep-none"])

    assert counted.calls == ["BatchGetItem"]
    assert list(held) == ["ep-a"]
    assert waiting == {"ep-a": Waiter("dep-a2", "2025-03-01T12:05:00+00:00")}


def test_occupancy_scan_follows_pages(dynamodb: Any) -> None:
    leases = DynamoLeases(dynamodb, STATE)
    padding = "x" * 300_000  # four of these fill more than one 1 MB scan page
    for i in range(5):
        dynamodb.put_item(TableName=STATE, Item={"id": {"S": f"execution#{i}"}, "pad": {"S": padding}})
    assert leases.take("ep-late", "dep-late", "arn:exec:late", NOW, NOW + timedelta(minutes=30))
    counted = CountingCalls(dynamodb)

    held, _ = leases.occupancy()

    assert list(held) == ["ep-late"]
    assert len(counted.calls) >= 2
