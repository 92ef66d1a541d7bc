"""SNS: Lambda and email subscriptions, delivered the way SNS delivers them.

What changes on moto 5.2.5:
- Lambda subscriptions are delivered asynchronously through the shared delivery worker, never inside the
  publisher's request: a Lambda that publishes while another Lambda is subscribed would otherwise wait for the
  serialised LambdaRuntime it holds itself. The event is SNS's (Records[0].Sns with Type, MessageId, TopicArn,
  Subject, Message, Timestamp on sandbox time, MessageAttributes as published, SignatureVersion, Signature,
  SigningCertUrl, UnsubscribeUrl; EventSubscriptionArn the real subscription). Lambda then retries a failing
  handler twice (one, then two virtual minutes later) and sends the event to the function's DeadLetterConfig
  queue or topic (attributes RequestID, ErrorCode, ErrorMessage) or its on-failure destination. If SNS cannot
  hand the message to Lambda at all (the function is gone, or an armed `sns:Deliver` fault), the message goes
  to the subscription's RedrivePolicy dead-letter queue when there is one.
- email and email-json subscriptions land in `outbox` (to, subject, body as SNS formats it, sent_at). The
  sandbox skips the confirmation click: moto creates every subscription confirmed, and no "Subscription
  Confirmation" mail is put in the outbox.
- FilterPolicy (attributes or body scope, moto's matcher) and MessageStructure=json are honoured for every
  protocol; SQS and HTTP deliveries stay moto's, but a subscriber that fails no longer fails the publisher.
- moto's notification timestamps (SQS/HTTP envelopes) follow the sandbox clock.
Every delivery, filtered ones included, is recorded in `deliveries`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlrollout_sandbox.emulator import _delivery
from mlrollout_sandbox.emulator._delivery import (
    DEAD_LETTERED,
    DELIVERED,
    DROPPED,
    FILTERED,
    AsyncDelivery,
    Delivery,
    DeliveryFailure,
    fault_failure,
    iso_millis,
)

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

log = logging.getLogger(__name__)

DEFAULT_SUBJECT = "AWS Notification Message"
SENDER_ADDRESS = "no-reply@sns.amazonaws.com"


@dataclass
class Email:
    """One mail SNS would have sent to an email or email-json subscriber."""

    to: str
    subject: str
    body: str
    sent_at: datetime
    protocol: str
    sender: str
    topic_arn: str
    subscription_arn: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


class SnsService:
    """SNS's deliveries to subscribers; `outbox` holds the mails, `deliveries` every attempt to deliver."""

    def __init__(self, emulator: Emulator, delivery: AsyncDelivery) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.delivery = delivery
        self.outbox: list[Email] = []
        self.deliveries: list[Delivery] = []

    def publish(
        self,
        subscription: Any,
        moto_publish: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        """Subscription.publish: one message to one subscriber."""
        attributes = message_attributes or {}
        record = Delivery(
            service="sns",
            source=subscription.arn,
            target=subscription.endpoint,
            protocol=subscription.protocol,
            payload=message,
            created_at=self.clock.now(),
            context={"topic": subscription.topic.arn, "message_id": message_id, "subject": subject},
        )
        self.deliveries.append(record)
        matcher = subscription._filter_policy_matcher
        if matcher is not None and not matcher.matches(attributes, message):
            self.delivery.finish(record, FILTERED)
            return
        if message_structure == "json":
            # A structure without this protocol's key or "default" is the publisher's error, as in AWS.
            message = subscription._parse_message_structure(message, subscription.protocol)
            record.payload = message
        fault = self.emulator.faults.take(
            "sns:Deliver", topic=subscription.topic.arn, protocol=subscription.protocol, endpoint=subscription.endpoint
        )
        if subscription.protocol == "lambda":
            self._to_lambda(subscription, record, message, message_id, subject, attributes, fault)
        elif subscription.protocol in ("email", "email-json"):
            record.attempts = 1
            if fault is not None:
                self._undeliverable(
                    subscription, record, fault_failure(fault), message, message_id, subject, attributes
                )
                return
            self._to_outbox(subscription, record, message, message_id, subject, attributes)
        else:
            record.attempts = 1
            try:
                if fault is not None:
                    raise fault_failure(fault)
                moto_publish(
                    subscription,
                    message,
                    message_id,
                    subject=subject,
                    message_attributes=message_attributes,
                    group_id=group_id,
                    deduplication_id=deduplication_id,
                    message_structure=None,
                )
                self.delivery.finish(record, DELIVERED)
            except Exception as exc:
                # SNS accepted the message; one subscriber failing is that subscriber's problem.
                self._undeliverable(
                    subscription, record, _delivery.failure_from(exc), message, message_id, subject, attributes
                )

    # Lambda ---------------------------------------------------------------------------------------------------
    def lambda_event(
        self, subscription: Any, message: str, message_id: str, subject: str | None, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        """The event SNS invokes a subscribed function with."""
        region = subscription.topic.sns_backend.region_name
        timestamp = iso_millis(self.clock.now())
        return {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": subscription.arn,
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": message_id,
                        "TopicArn": subscription.topic.arn,
                        "Subject": subject,
                        "Message": message,
                        "Timestamp": timestamp,
                        "SignatureVersion": "1",
                        "Signature": _signature(message_id, message, timestamp),
                        "SigningCertUrl": _certificate_url(region, subscription.topic.arn),
                        "UnsubscribeUrl": _unsubscribe_url(region, subscription.arn),
                        "MessageAttributes": attributes,
                    },
                }
            ]
        }

    def _to_lambda(
        self,
        subscription: Any,
        record: Delivery,
        message: str,
        message_id: str,
        subject: str | None,
        attributes: dict[str, Any],
        fault: Any,
    ) -> None:
        event = self.lambda_event(subscription, message, message_id, subject, attributes)
        try:
            if fault is not None:
                raise fault_failure(fault)
            self._authorize_lambda(subscription)
            self.delivery.invoke_lambda_async(subscription.endpoint, event, record)
        except DeliveryFailure as failure:
            record.attempts += 1
            self._undeliverable(subscription, record, failure, message, message_id, subject, attributes)

    def _authorize_lambda(self, subscription: Any) -> None:
        """SNS invokes a subscribed function through the function's resource-based policy, which must allow
        sns.amazonaws.com (https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-services.html)."""
        from mlrollout_sandbox.emulator.iam import AccessDenied, Check

        iam = self.emulator.services.get("iam")
        if iam is None:
            return
        function_arn = str(subscription.endpoint).split(":$", 1)[0]
        context = {"aws:SourceArn": subscription.topic.arn, "aws:SourceAccount": self.emulator.account_id}
        try:
            iam.authorize_service("sns.amazonaws.com", [Check("lambda:InvokeFunction", function_arn, context)])
        except AccessDenied as denied:
            raise DeliveryFailure("NO_PERMISSIONS", str(denied), retriable=False) from denied

    # email ----------------------------------------------------------------------------------------------------
    def _to_outbox(
        self,
        subscription: Any,
        record: Delivery,
        message: str,
        message_id: str,
        subject: str | None,
        attributes: dict[str, Any],
    ) -> None:
        topic = subscription.topic
        region = topic.sns_backend.region_name
        unsubscribe = (
            f"https://sns.{region}.amazonaws.com/unsubscribe.html?SubscriptionArn={subscription.arn}"
            f"&Endpoint={quote(subscription.endpoint)}"
        )
        if subscription.protocol == "email":
            body = (
                f"{message}\n\n--\n"
                "If you wish to stop receiving notifications from this topic, please click or visit the link "
                f"below to unsubscribe:\n{unsubscribe}\n\n"
                "Please do not reply directly to this email. If you have any questions or comments regarding "
                "this email, please contact us at https://aws.amazon.com/support\n"
            )
        else:
            body = json.dumps(self._envelope(subscription, message, message_id, subject, attributes), indent=2)
        sender_name = topic.display_name or "AWS Notifications"
        mail = Email(
            to=subscription.endpoint,
            subject=subject or DEFAULT_SUBJECT,
            body=body,
            sent_at=self.clock.now(),
            protocol=subscription.protocol,
            sender=f'"{sender_name}" <{SENDER_ADDRESS}>',
            topic_arn=topic.arn,
            subscription_arn=subscription.arn,
            message_id=message_id,
            headers={"x-amz-sns-message-id": message_id, "x-amz-sns-topic-arn": topic.arn},
        )
        self.outbox.append(mail)
        self.delivery.finish(record, DELIVERED)

    def _envelope(
        self, subscription: Any, message: str, message_id: str, subject: str | None, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        """The JSON document SNS sends email-json and HTTP subscribers (and subscription dead-letter queues)."""
        region = subscription.topic.sns_backend.region_name
        timestamp = iso_millis(self.clock.now())
        envelope: dict[str, Any] = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": subscription.topic.arn,
        }
        if subject:
            envelope["Subject"] = subject
        envelope.update(
            {
                "Message": message,
                "Timestamp": timestamp,
                "SignatureVersion": "1",
                "Signature": _signature(message_id, message, timestamp),
                "SigningCertURL": _certificate_url(region, subscription.topic.arn),
                "UnsubscribeURL": _unsubscribe_url(region, subscription.arn),
            }
        )
        if attributes:
            envelope["MessageAttributes"] = attributes
        return envelope

    # failure --------------------------------------------------------------------------------------------------
    def _undeliverable(
        self,
        subscription: Any,
        record: Delivery,
        failure: DeliveryFailure,
        message: str,
        message_id: str,
        subject: str | None,
        attributes: dict[str, Any],
    ) -> None:
        record.error_code = failure.code
        record.error_message = failure.message
        redrive = subscription.attributes.get("RedrivePolicy")
        dead_letter = None
        if redrive:
            try:
                dead_letter = (
                    json.loads(redrive).get("deadLetterTargetArn")
                    if isinstance(redrive, str)
                    else redrive.get("deadLetterTargetArn")
                )
            except (ValueError, AttributeError):
                log.error("subscription %s has an unreadable RedrivePolicy %r", subscription.arn, redrive)
        if dead_letter:
            body = json.dumps(self._envelope(subscription, message, message_id, subject, attributes))
            try:
                self.delivery.send_sqs(dead_letter, body)
                record.dead_letter_arn = dead_letter
                self.delivery.finish(record, DEAD_LETTERED)
                return
            except DeliveryFailure as exc:
                log.error(
                    "subscription %s: dead-letter queue %s refused the message: %s", subscription.arn, dead_letter, exc
                )
        log.warning(
            "SNS could not deliver message %s to %s %s: %s",
            message_id,
            subscription.protocol,
            subscription.endpoint,
            failure,
        )
        self.delivery.finish(record, DROPPED)

    # lifecycle ------------------------------------------------------------------------------------------------
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait (real seconds) until every queued delivery, Lambda retries included, is done."""
        return self.delivery.worker.drain(timeout)

    def close(self) -> None:
        self.delivery.close()


def _signature(message_id: str, message: str, timestamp: str) -> str:
    # Shaped like SNS's base64 RSA signature; the sandbox signs nothing, so it verifies against nothing.
    digest = hashlib.sha256(f"{message_id}\n{message}\n{timestamp}".encode()).digest()
    return base64.b64encode(digest * 8).decode()


def _certificate_url(region: str, topic_arn: str) -> str:
    key_id = hashlib.sha256(topic_arn.encode()).hexdigest()[:32]
    return f"https://sns.{region}.amazonaws.com/SimpleNotificationService-{key_id}.pem"


def _unsubscribe_url(region: str, subscription_arn: str) -> str:
    return f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"


def install(emulator: Emulator, patcher: Patcher) -> SnsService:
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.sns import models as sns_models

    clock = emulator.clock
    service = SnsService(emulator, _delivery.shared(emulator, patcher))

    def publish(
        self: Any,
        message: str,
        message_id: str,
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        service.publish(
            self,
            original_publish,
            message,
            message_id,
            subject,
            message_attributes,
            group_id,
            deduplication_id,
            message_structure,
        )

    original_publish = patcher.replace(sns_models.Subscription, "publish", publish)

    def sandbox_timestamp(value: datetime | None = None) -> str:
        return str(iso_8601_datetime_with_milliseconds(value or clock.now().replace(tzinfo=None)))

    patcher.replace(sns_models, "iso_8601_datetime_with_milliseconds", sandbox_timestamp)
    return service
