"""The deployment record keeps its last decisions only: a DynamoDB item is at most 400 KB, and a long bake adds a
decision per look (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
Against plain moto, which refuses an UpdateItem that grows an item past 400 KB as DynamoDB does."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlrollout.adapters.ledger import DECISIONS_KEPT, DynamoDeployments
from support import table_from_template

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def records() -> Iterator[DynamoDeployments]:
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(**table_from_template("DeploymentsTable", "deployments"))
        yield DynamoDeployments(db, "deployments")


def decision(look: int) -> dict[str, Any]:
    # about 2 KB, like a decision whose reason quotes the judge's bounds and an operator's note
    return {"at": (NOW + timedelta(minutes=look)).isoformat(), "looks": look, "verdict": "INCONCLUSIVE",
            "action": "hold", "reason": "r" * 2000}  # fmt: skip


def test_a_long_bake_keeps_the_last_decisions_and_counts_them_all(records: DynamoDeployments) -> None:
    assert records.claim({"deployment_id": "d-1", "model_name": "m", "created_at": NOW.isoformat()})
    looks = 300  # 300 x 2 KB would be 600 KB on the record: UpdateItem would fail and roll a healthy canary back
    for look in range(looks):
        assert records.append("d-1", "decisions", decision(look), NOW + timedelta(minutes=look))
    record = records.get("d-1")
    assert record is not None
    assert [d["looks"] for d in record["decisions"]] == list(range(looks - DECISIONS_KEPT, looks))
    assert record["decisions_total"] == looks


def test_other_lists_are_kept_whole(records: DynamoDeployments) -> None:
    assert records.claim({"deployment_id": "d-2", "model_name": "m", "created_at": NOW.isoformat()})
    for n in range(DECISIONS_KEPT + 5):
        assert records.append("d-2", "duplicates", {"n": n}, NOW)
    record = records.get("d-2")
    assert record is not None and len(record["duplicates"]) == DECISIONS_KEPT + 5
    assert "duplicates_total" not in record


def test_appending_to_no_record_says_so(records: DynamoDeployments) -> None:
    assert records.append("missing", "decisions", decision(0), NOW) is False


def test_a_record_from_before_the_cap_shrinks_a_batch_per_look(records: DynamoDeployments) -> None:
    # A record written before the cap holds hundreds of decisions; one REMOVE of all of them would pass DynamoDB's
    # 4 KB expression limit and fail the look, so each append removes at most TRIM_BATCH of the oldest.
    from mlrollout.adapters.ledger import TRIM_BATCH

    legacy = [{"looks": n} for n in range(450)]
    assert records.claim({"deployment_id": "d-3", "model_name": "m", "created_at": NOW.isoformat()})
    records.db.update_item(
        TableName="deployments",
        Key={"deployment_id": {"S": "d-3"}},
        UpdateExpression="SET decisions = :d",
        ExpressionAttributeValues={":d": {"L": [{"M": {"looks": {"N": str(d["looks"])}}} for d in legacy]}},
    )
    assert records.append("d-3", "decisions", {"looks": 450}, NOW)
    record = records.get("d-3")
    assert record is not None
    assert [d["looks"] for d in record["decisions"]] == list(range(TRIM_BATCH, 451))
    for look in range(451, 460):
        assert records.append("d-3", "decisions", {"looks": look}, NOW)
    record = records.get("d-3")
    assert record is not None
    assert [d["looks"] for d in record["decisions"]] == list(range(460 - DECISIONS_KEPT, 460))
