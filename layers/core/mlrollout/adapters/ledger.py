"""DynamoDB: deployment records (their own table) and endpoint leases (the stack's state table).

Every write that decides something is conditional, so two executions racing for the same record or the same
endpoint get one winner, whatever the timing: the claim (`attribute_not_exists`), the final outcome (only once),
the lease (free, expired, or already ours), the newest waiter (only a newer upload replaces it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlrollout.adapters.aws import error_code
from mlrollout.domain.ledger import Lease, Waiter

MODEL_INDEX = "by-model"
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
BATCH_GET_ATTEMPTS = 8  # rounds for unprocessed keys (throttling) before giving up
LEASE_PREFIX = "lease#"
WAITING_PREFIX = "waiting#"
# A DynamoDB item holds at most 400 KB, and a long bake or hold adds a decision per look: the record keeps the last
# DECISIONS_KEPT (a page of an operator's `mlrollout history`) and counts all of them in `decisions_total`; every
# look's full record stays in S3 under decisions/<deployment>/. A failed write there would roll back a healthy canary.
DECISIONS_KEPT = 20
KEPT_ON_RECORD = {"decisions": DECISIONS_KEPT}
TRIM_BATCH = 100


def total_field(field: str) -> str:
    """The attribute counting every entry ever appended to a list the record keeps only the last of."""
    return f"{field}_total"


def _failed_condition(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


def _conditional(write: Callable[..., dict[str, Any]], **request: Any) -> dict[str, Any] | None:
    """A write with a ConditionExpression: its response, or None when the condition failed; any other error is
    raised."""
    try:
        return write(**request)
    except ClientError as exc:
        if _failed_condition(exc):
            return None
        raise


def _set_fields(
    fields: dict[str, Any], names: dict[str, str], values: dict[str, Any], *, keep_existing: bool = False
) -> list[str]:
    """`SET` clauses writing each of `fields` (names and values added to the request's maps); with `keep_existing`,
    only where the attribute is not there yet."""
    sets = []
    for number, (name, value) in enumerate(fields.items()):
        names[f"#f{number}"] = name
        values[f":v{number}"] = _attr(value)
        sets.append(
            f"#f{number} = if_not_exists(#f{number}, :v{number})" if keep_existing else f"#f{number} = :v{number}"
        )
    return sets


def _attr(value: Any) -> dict[str, Any]:
    """A plain value as a DynamoDB attribute (strings, numbers, bools, None, lists and maps of them)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [_attr(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): _attr(v) for k, v in value.items()}}
    return {"S": json.dumps(value, default=str)}


def _batch_get(db: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items by key with as few BatchGetItem calls as DynamoDB allows (100 keys each), retrying what it leaves
    unprocessed with backoff; strongly consistent, like the single reads."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {table: {"Keys": keys[start : start + BATCH_GET_KEYS], "ConsistentRead": True}}
        for attempt in range(BATCH_GET_ATTEMPTS):
            response = db.batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise RuntimeError(f"DynamoDB left keys of {table} unprocessed after {BATCH_GET_ATTEMPTS} attempts")
    return found


def _plain(attribute: dict[str, Any]) -> Any:
    kind, value = next(iter(attribute.items()))
    if kind == "NULL":
        return None
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    return value


class DynamoDeployments:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def claim(self, record: dict[str, Any]) -> bool:
        """Create the record; False if the deployment already has one (a duplicate)."""
        item = {k: _attr(v) for k, v in record.items()}
        written = _conditional(
            self.db.put_item, TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(deployment_id)"
        )
        return written is not None

    def get(self, deployment_id: str) -> dict[str, Any] | None:
        item = self.db.get_item(TableName=self.table, Key={"deployment_id": {"S": deployment_id}}, ConsistentRead=True)
        found = item.get("Item")
        return {k: _plain(v) for k, v in found.items()} if found else None

    def get_many(self, deployment_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Several records by id in one BatchGetItem per 100 ids; ids without a record are left out."""
        wanted = list(dict.fromkeys(deployment_ids))
        items = _batch_get(self.db, self.table, [{"deployment_id": {"S": i}} for i in wanted])
        records = [{k: _plain(v) for k, v in item.items()} for item in items]
        return {str(record["deployment_id"]): record for record in records}

    def append(self, deployment_id: str, field: str, entry: dict[str, Any], now: datetime) -> bool:
        """Add an entry to one of an existing record's lists (decisions, duplicates); False if there is none."""
        try:
            self._append(deployment_id, field, entry, now)
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise
        return True

    def _append(self, deployment_id: str, field: str, entry: dict[str, Any], now: datetime) -> None:
        kept = KEPT_ON_RECORD.get(field)
        if kept is None:
            self.db.update_item(
                TableName=self.table,
                Key={"deployment_id": {"S": deployment_id}},
                ConditionExpression="attribute_exists(deployment_id)",
                UpdateExpression="SET #f = list_append(if_not_exists(#f, :empty), :entry), updated_at = :now",
                ExpressionAttributeNames={"#f": field},
                ExpressionAttributeValues={
                    ":entry": {"L": [_attr(entry)]},
                    ":empty": {"L": []},
                    ":now": _attr(now.isoformat()),
                },
            )
            return
        updated = self.db.update_item(
            TableName=self.table,
            Key={"deployment_id": {"S": deployment_id}},
            ConditionExpression="attribute_exists(deployment_id)",
            UpdateExpression="SET #f = list_append(if_not_exists(#f, :empty), :entry), "
            "#total = if_not_exists(#total, :zero) + :one, updated_at = :now",
            ExpressionAttributeNames={"#f": field, "#total": total_field(field)},
            ExpressionAttributeValues={
                ":entry": {"L": [_attr(entry)]},
                ":empty": {"L": []},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":now": _attr(now.isoformat()),
            },
            ReturnValues="UPDATED_NEW",
        )
        size = len(updated.get("Attributes", {}).get(field, {}).get("L", []))
        if size > kept:
            self._trim(deployment_id, field, size, size - kept)

    def _trim(self, deployment_id: str, field: str, size: int, oldest: int) -> None:
        """Remove a list's `oldest` first entries, if it still has `size` (a concurrent append's trim wins
        otherwise; the next append trims again)."""
        _conditional(
            self.db.update_item,
            TableName=self.table,
            Key={"deployment_id": {"S": deployment_id}},
            ConditionExpression="size(#f) = :size",
            # At most TRIM_BATCH per call (DynamoDB caps an expression at 4 KB); a longer list from before the
            # cap shrinks by a batch at each append.
            UpdateExpression="REMOVE " + ", ".join(f"#f[{i}]" for i in range(min(oldest, TRIM_BATCH))),
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":size": {"N": str(size)}},
        )

    def advance(self, deployment_id: str, state: str, now: datetime, **fields: Any) -> bool:
        """Move a record that has no final outcome yet to `state`; False if it already ended."""
        names = {"#state": "state"}
        values = {":state": _attr(state), ":now": _attr(now.isoformat())}
        sets = ["#state = :state", "updated_at = :now"]
        sets += _set_fields(fields, names, values)
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"deployment_id": {"S": deployment_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(deployment_id) AND attribute_not_exists(outcome)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            is not None
        )

    def settle(self, deployment_id: str, outcome: str, reason: str, now: datetime, **fields: Any) -> bool:
        """Write the final outcome, once: False if the record already has one. Creates the record if missing
        (an upload rejected before it could be claimed still gets one)."""
        names = {"#state": "state"}
        values = {
            ":state": _attr(outcome),
            ":outcome": _attr(outcome),
            ":reason": _attr(reason),
            ":now": _attr(now.isoformat()),
        }
        sets = ["#state = :state", "outcome = :outcome", "reason = :reason", "updated_at = :now", "ended_at = :now"]
        sets.append("created_at = if_not_exists(created_at, :now)")
        sets += _set_fields(fields, names, values, keep_existing=True)
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"deployment_id": {"S": deployment_id}},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_not_exists(outcome)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            is not None
        )

    def request(self, deployment_id: str, request: dict[str, Any], now: datetime) -> bool:
        """An operator's request (promote, abort) for a rollout that has not ended and has none pending; False
        otherwise. The judge takes it at its next look (`take_request`)."""
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"deployment_id": {"S": deployment_id}},
                UpdateExpression="SET operator_request = :request, updated_at = :now",
                ConditionExpression="attribute_exists(deployment_id) AND attribute_not_exists(outcome) AND "
                "attribute_not_exists(operator_request)",
                ExpressionAttributeValues={":request": _attr(request), ":now": _attr(now.isoformat())},
            )
            is not None
        )

    def take_request(self, deployment_id: str, now: datetime) -> dict[str, Any] | None:
        """The operator's pending request, marked taken (once: a retried look does not take it twice)."""
        response = _conditional(
            self.db.update_item,
            TableName=self.table,
            Key={"deployment_id": {"S": deployment_id}},
            UpdateExpression="SET operator_request.taken_at = :now",
            ConditionExpression="attribute_exists(operator_request) AND "
            "attribute_not_exists(operator_request.taken_at)",
            ExpressionAttributeValues={":now": _attr(now.isoformat())},
            ReturnValues="ALL_NEW",
        )
        if response is None:
            return None
        request = _plain(response["Attributes"]["operator_request"])
        return request if isinstance(request, dict) else None

    def decide_approval(self, deployment_id: str, decision: dict[str, Any], now: datetime) -> bool:
        """Record an operator's answer to a manual approval; False unless the rollout is waiting for one."""
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"deployment_id": {"S": deployment_id}},
                UpdateExpression="SET approval.decision = :decision, #state = :deploying, updated_at = :now",
                ConditionExpression="#state = :waiting AND attribute_not_exists(outcome) AND "
                "attribute_not_exists(approval.decision)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":decision": _attr(decision),
                    ":deploying": _attr("deploying"),
                    ":waiting": _attr("awaiting_approval"),
                    ":now": _attr(now.isoformat()),
                },
            )
            is not None
        )

    def by_model(self, model: str, limit: int = 50) -> list[dict[str, Any]]:
        """The model's `limit` newest records, newest first. A Query page stops at 1 MB whatever its Limit, so pages
        are read on (from LastEvaluatedKey) until `limit` records or the last page."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": MODEL_INDEX,
            "KeyConditionExpression": "model_name = :m",
            "ExpressionAttributeValues": {":m": {"S": model}},
            "ScanIndexForward": False,
        }
        while len(items) < limit:
            page = self.db.query(**request, Limit=limit - len(items))
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [{k: _plain(v) for k, v in item.items()} for item in items]

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """Every model's records, newest first (a Scan: the table holds one item per upload)."""
        items: list[dict[str, Any]] = []
        for page in self.db.get_paginator("scan").paginate(TableName=self.table):
            items.extend(page.get("Items", []))
        records = [{k: _plain(v) for k, v in item.items()} for item in items]
        return sorted(records, key=lambda r: str(r.get("created_at", "")), reverse=True)[:limit]


def _lease(endpoint: str, item: dict[str, Any]) -> Lease:
    return Lease(
        endpoint,
        item["holder"]["S"],
        item["execution"]["S"],
        datetime.fromisoformat(item["expires_at"]["S"]),
    )


class DynamoLeases:
    """Items in the state table: `lease#<endpoint>`, `waiting#<endpoint>` and `execution#<arn>`."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.db = dynamodb
        self.table = table

    def holder(self, endpoint: str) -> Lease | None:
        item = self.db.get_item(TableName=self.table, Key={"id": {"S": f"lease#{endpoint}"}}, ConsistentRead=True)
        found = item.get("Item")
        return _lease(endpoint, found) if found else None

    def occupancy(self, endpoints: Sequence[str] | None = None) -> tuple[dict[str, Lease], dict[str, Waiter]]:
        """Every held lease and newest waiter, by endpoint, for a status page: with `endpoints`, one BatchGetItem
        of exactly their two items each; without, one Scan of the table for the lease and waiting items (it also
        finds endpoints a first rollout has not created yet; the scan reads the whole table, execution items too)."""
        if endpoints is not None:
            keys = [
                {"id": {"S": prefix + e}} for e in dict.fromkeys(endpoints) for prefix in (LEASE_PREFIX, WAITING_PREFIX)
            ]
            items = _batch_get(self.db, self.table, keys)
        else:
            items = []
            request: dict[str, Any] = {
                "TableName": self.table,
                "FilterExpression": "begins_with(id, :lease) OR begins_with(id, :waiting)",
                "ExpressionAttributeValues": {":lease": {"S": LEASE_PREFIX}, ":waiting": {"S": WAITING_PREFIX}},
                "ConsistentRead": True,
            }
            while True:
                page = self.db.scan(**request)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        leases: dict[str, Lease] = {}
        waiters: dict[str, Waiter] = {}
        for item in items:
            kind, _, endpoint = item["id"]["S"].partition("#")
            if kind + "#" == LEASE_PREFIX:
                leases[endpoint] = _lease(endpoint, item)
            elif kind + "#" == WAITING_PREFIX:
                waiters[endpoint] = Waiter(item["deployment_id"]["S"], item["uploaded_at"]["S"])
        return leases, waiters

    def take(self, endpoint: str, deployment_id: str, execution: str, now: datetime, until: datetime) -> bool:
        """Take the lease if it is free, expired, or already this deployment's."""
        return (
            _conditional(
                self.db.put_item,
                TableName=self.table,
                Item={
                    "id": {"S": f"lease#{endpoint}"},
                    "holder": {"S": deployment_id},
                    "execution": {"S": execution},
                    "acquired_at": {"S": now.isoformat()},
                    "expires_at": {"S": until.isoformat()},
                    "expiration": {"N": str(int(until.timestamp()) + 86400)},
                },
                ConditionExpression="attribute_not_exists(id) OR expires_at < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"S": now.isoformat()}, ":me": {"S": deployment_id}},
            )
            is not None
        )

    def renew(self, endpoint: str, deployment_id: str, until: datetime) -> bool:
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"id": {"S": f"lease#{endpoint}"}},
                UpdateExpression="SET expires_at = :until, expiration = :ttl",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={
                    ":until": {"S": until.isoformat()},
                    ":ttl": {"N": str(int(until.timestamp()) + 86400)},
                    ":me": {"S": deployment_id},
                },
            )
            is not None
        )

    def hand_over(self, endpoint: str, deployment_id: str, execution: str) -> bool:
        """Keep the lease for the deployment but under another execution (a restore of a stopped rollout)."""
        return (
            _conditional(
                self.db.update_item,
                TableName=self.table,
                Key={"id": {"S": f"lease#{endpoint}"}},
                UpdateExpression="SET execution = :execution",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":execution": {"S": execution}, ":me": {"S": deployment_id}},
            )
            is not None
        )

    def release(self, endpoint: str, deployment_id: str) -> bool:
        """Release the lease if this deployment holds it; False if it did not."""
        return (
            _conditional(
                self.db.delete_item,
                TableName=self.table,
                Key={"id": {"S": f"lease#{endpoint}"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": deployment_id}},
            )
            is not None
        )

    def newest_waiter(self, endpoint: str) -> Waiter | None:
        item = self.db.get_item(TableName=self.table, Key={"id": {"S": f"waiting#{endpoint}"}}, ConsistentRead=True)
        found = item.get("Item")
        return Waiter(found["deployment_id"]["S"], found["uploaded_at"]["S"]) if found else None

    def wait(self, endpoint: str, waiter: Waiter) -> Waiter:
        """Register as waiting; the newest upload wins the slot. Returns whoever holds it now."""
        _conditional(
            self.db.put_item,
            TableName=self.table,
            Item={
                "id": {"S": f"waiting#{endpoint}"},
                "deployment_id": {"S": waiter.deployment_id},
                "uploaded_at": {"S": waiter.uploaded_at},
            },
            ConditionExpression=(
                "attribute_not_exists(id) OR uploaded_at < :at OR (uploaded_at = :at AND deployment_id <= :me)"
            ),
            ExpressionAttributeValues={":at": {"S": waiter.uploaded_at}, ":me": {"S": waiter.deployment_id}},
        )
        return self.newest_waiter(endpoint) or waiter

    def stop_waiting(self, endpoint: str, deployment_id: str) -> None:
        _conditional(
            self.db.delete_item,
            TableName=self.table,
            Key={"id": {"S": f"waiting#{endpoint}"}},
            ConditionExpression="deployment_id = :me",
            ExpressionAttributeValues={":me": {"S": deployment_id}},
        )

    def remember_execution(self, execution: str, deployment_id: str, endpoint: str, expires: int) -> None:
        self.db.put_item(
            TableName=self.table,
            Item={
                "id": {"S": f"execution#{execution}"},
                "deployment_id": {"S": deployment_id},
                "endpoint": {"S": endpoint},
                "expiration": {"N": str(expires)},
            },
        )

    def execution(self, execution: str) -> tuple[str, str] | None:
        """(deployment id, endpoint) of an execution that claimed a deployment."""
        item = self.db.get_item(TableName=self.table, Key={"id": {"S": f"execution#{execution}"}}, ConsistentRead=True)
        found = item.get("Item")
        return (found["deployment_id"]["S"], found["endpoint"]["S"]) if found else None
