"""SNS: one topic, one message per event, a readable email and a JSON document for machines."""

from __future__ import annotations

import json
from typing import Any

from mlrollout.domain.alerts import Alert


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def publish(self, alert: Alert) -> str:
        document = json.dumps(alert.as_dict(), sort_keys=True, default=str)
        response = self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=alert.subject(),
            # Per-protocol bodies: people read the email, subscribers like the Slack notifier parse the JSON.
            MessageStructure="json",
            Message=json.dumps({"default": document, "email": alert.email_body(), "lambda": document, "sqs": document}),
            MessageAttributes={
                "event": {"DataType": "String", "StringValue": alert.event.value},
                "severity": {"DataType": "String", "StringValue": alert.severity.value},
            },
        )
        return str(response["MessageId"])
