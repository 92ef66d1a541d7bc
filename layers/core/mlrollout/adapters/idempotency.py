"""Powertools idempotency on the stack's state table: an action keyed by what it is about runs once.

A retried invocation (Lambda's, Step Functions', or a duplicate SNS delivery) with the same key gets the first
run's result back instead of acting again; a run that failed leaves no record, so its retry acts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)


class Once:
    def __init__(
        self, dynamodb: Any, table: str, *, prefix: str, expires_after_seconds: int, context: Any = None
    ) -> None:
        self.persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        self.config = IdempotencyConfig(expires_after_seconds=expires_after_seconds)
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self.config.register_lambda_context(context)
        self.prefix = prefix

    def run(self, key: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        def guarded(key: dict[str, Any]) -> dict[str, Any]:
            return action()

        wrapped = idempotent_function(
            guarded,
            data_keyword_argument="key",
            persistence_store=self.persistence,
            config=self.config,
            key_prefix=self.prefix,
        )
        result: dict[str, Any] = wrapped(key=key)
        return result
