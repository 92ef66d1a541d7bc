"""The changes rollouts wait for, one item per endpoint in the state table: `change#<endpoint>`.

Await Endpoint writes the item with its task token before it looks at the endpoint; the state-change handler reads
it when SageMaker reports a change. A rollout holds its endpoint's lease, so one item per endpoint is enough: a
new wait replaces the last one's item, whose token Step Functions no longer accepts.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.domain.endpoint_change import PendingChange

CHANGE_PREFIX = "change#"
# The item outlives any wait it can belong to (the state machine's own limit is a day); DynamoDB's TTL removes
# what a crash left behind.
KEEP_SECONDS = 2 * 86400


class DynamoEndpointWaits:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def register(self, change: PendingChange) -> None:
        self.db.put_item(
            TableName=self.table,
            Item={
                "id": {"S": CHANGE_PREFIX + change.endpoint},
                "token": {"S": change.token},
                "deployment_id": {"S": change.deployment_id},
                "config_name": {"S": change.config_name},
                "shares": {"S": json.dumps(change.shares, sort_keys=True)},
                "changed_at": {"S": change.changed_at.isoformat()},
                "limit_seconds": {"N": str(change.limit_seconds)},
                "expiration": {"N": str(int(change.changed_at.timestamp()) + KEEP_SECONDS)},
            },
        )

    def pending(self, endpoint: str) -> PendingChange | None:
        found = self.db.get_item(
            TableName=self.table, Key={"id": {"S": CHANGE_PREFIX + endpoint}}, ConsistentRead=True
        ).get("Item")
        if not found:
            return None
        return PendingChange(
            endpoint=endpoint,
            token=found["token"]["S"],
            deployment_id=found["deployment_id"]["S"],
            config_name=found["config_name"]["S"],
            shares={str(k): float(v) for k, v in json.loads(found["shares"]["S"]).items()},
            changed_at=datetime.fromisoformat(found["changed_at"]["S"]),
            limit_seconds=int(found["limit_seconds"]["N"]),
        )

    def forget(self, endpoint: str, token: str) -> None:
        """Remove the item if it is still this token's (a newer wait's item stays)."""
        try:
            self.db.delete_item(
                TableName=self.table,
                Key={"id": {"S": CHANGE_PREFIX + endpoint}},
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#token": "token"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
