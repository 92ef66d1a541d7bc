"""Slack: incoming-webhook posts through the maintained slack_sdk client, the URL from Secrets Manager."""

from __future__ import annotations

from typing import Any


class SlackPostFailed(RuntimeError):
    """Slack did not accept the message after the client's own retries; Lambda retries the event."""


class SlackWebhook:
    def __init__(self, secretsmanager: Any, secret_name: str, *, secret_max_age: int = 300) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        # Powertools' provider on the injected client (not its process-wide default one, which keeps the first
        # client it ever made): the value is cached for secret_max_age seconds per container, and never logged.
        self.secrets = SecretsProvider(boto3_client=secretsmanager)
        self.secret_name = secret_name
        self.secret_max_age = secret_max_age

    def _url(self) -> str:
        value = self.secrets.get(self.secret_name, max_age=self.secret_max_age)
        return str(value).strip()

    def post(self, body: dict[str, Any]) -> int:
        from slack_sdk.http_retry.builtin_handlers import (
            ConnectionErrorRetryHandler,
            RateLimitErrorRetryHandler,
            ServerErrorRetryHandler,
        )
        from slack_sdk.webhook import WebhookClient

        client = WebhookClient(
            self._url(),
            timeout=10,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=2),
                ServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        response = client.send_dict(body)
        if response.status_code != 200:
            raise SlackPostFailed(f"Slack answered HTTP {response.status_code}: {str(response.body)[:200]}")
        return int(response.status_code)
