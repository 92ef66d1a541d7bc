"""boto3 clients, built once per container and shared by the adapters."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.exceptions import ClientError

USER_AGENT = "mlrollout/0.1"


@cache
def _session() -> Any:
    import boto3

    # One session per container: its clients share the parsed service models and endpoint data.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    from botocore.config import Config

    # Standard retry mode: exponential backoff with jitter on throttling and transient errors.
    return _session().client(
        service,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=USER_AGENT),
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", exc))
