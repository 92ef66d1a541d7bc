"""Powertools objects shared by every handler: a structured logger and embedded-format metrics."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

from mlrollout.domain.errors import RolloutError

logger = Logger()
metrics = Metrics()

# Every state machine input carries the execution id; logs correlate on it.
CORRELATION_PATH = "execution_id || rollout.execution_id"


def rollout_step(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """Wrap a handler: Lambda context and correlation id in every log line, business refusals logged once."""

    @logger.inject_lambda_context(correlation_id_path=CORRELATION_PATH)
    @functools.wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return handler(event, context)
        except RolloutError as exc:
            logger.warning("step refused", extra={"error": type(exc).__name__, "reason": exc.reason, "fix": exc.fix})
            raise

    return wrapper
