"""DynamoDB: what operators were last told about each alarm, so repeats, flaps and stale recoveries stay quiet."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.ports import AlarmMemory


class DynamoAlertState:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def recall(self, alarm: str) -> AlarmMemory:
        item = self.db.get_item(TableName=self.table, Key={"id": {"S": f"alarm#{alarm}"}}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return AlarmMemory(alarm, None, None, 0)
        return AlarmMemory(
            alarm,
            item.get("reported_state", {}).get("S"),
            float(item["reported_at"]["N"]) if "reported_at" in item else None,
            int(item.get("version", {}).get("N", "0")),
            int(item["expiration"]["N"]) if "expiration" in item else None,
            float(item["alarm_reported_at"]["N"]) if "alarm_reported_at" in item else None,
        )

    def remember(self, memory: AlarmMemory, state: str, at: float, expires_at: int) -> bool:
        """Record a report; False if another delivery recorded one first (then this one stays quiet)."""
        item = {
            "id": {"S": f"alarm#{memory.alarm}"},
            "reported_state": {"S": state},
            "reported_at": {"N": repr(at)},
            "version": {"N": str(memory.version + 1)},
            "expiration": {"N": str(expires_at)},
        }
        alarm_at = at if state == "ALARM" else memory.alarm_reported_at
        if alarm_at is not None:
            item["alarm_reported_at"] = {"N": repr(alarm_at)}
        try:
            self.db.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression="attribute_not_exists(id) OR version = :seen",
                ExpressionAttributeValues={":seen": {"N": str(memory.version)}},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget(self, memory: AlarmMemory) -> None:
        """Undo a `remember` whose alert could not be sent, so a retry reports it (restores the memory seen)."""
        key = {"id": {"S": f"alarm#{memory.alarm}"}}
        if memory.version == 0:
            self.db.delete_item(TableName=self.table, Key=key)
            return
        item = {**key, "version": {"N": str(memory.version)}}
        if memory.reported_state is not None:
            item["reported_state"] = {"S": memory.reported_state}
        if memory.reported_at is not None:
            item["reported_at"] = {"N": repr(memory.reported_at)}
        if memory.alarm_reported_at is not None:
            item["alarm_reported_at"] = {"N": repr(memory.alarm_reported_at)}
        if memory.expires_at is not None:  # or the restored record would never expire
            item["expiration"] = {"N": str(memory.expires_at)}
        self.db.put_item(TableName=self.table, Item=item)
