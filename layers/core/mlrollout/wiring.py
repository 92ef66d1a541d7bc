"""Cached factories: each adapter is built once per container from a shared client (`once` and `lease_keeper` take
the invocation's arguments and are built per call, from cached adapters).

Adapters are imported inside their factory so a function only imports the AWS concerns it uses (cold start).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from mlrollout.adapters.aws import client

if TYPE_CHECKING:
    from mlrollout.adapters.alert_state import DynamoAlertState
    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.adapters.autoscaling import ApplicationAutoScaling
    from mlrollout.adapters.endpoint_waits import DynamoEndpointWaits
    from mlrollout.adapters.endpoints import SageMakerEndpoints
    from mlrollout.adapters.executions import StepFunctionsExecutions, TaskTokens
    from mlrollout.adapters.idempotency import Once
    from mlrollout.adapters.ledger import DynamoDeployments, DynamoLeases
    from mlrollout.adapters.metrics import CloudWatchMetrics
    from mlrollout.adapters.monitoring import CloudWatchAlarms, SageMakerMonitoring
    from mlrollout.adapters.network import Ec2Network
    from mlrollout.adapters.notifications import SnsNotifier
    from mlrollout.adapters.registry import SageMakerRegistry
    from mlrollout.adapters.scheduler import EventBridgeScheduler
    from mlrollout.adapters.slack import SlackWebhook
    from mlrollout.adapters.traffic import CloudWatchTraffic
    from mlrollout.contracts import Rollout
    from mlrollout.services.ledger import LeaseKeeper


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@lru_cache(maxsize=1)
def artifacts() -> S3Artifacts:
    from mlrollout.adapters.artifacts import S3Artifacts

    return S3Artifacts(client("s3"))


@lru_cache(maxsize=1)
def registry() -> SageMakerRegistry:
    from mlrollout.adapters.registry import SageMakerRegistry

    return SageMakerRegistry(client("sagemaker"))


@lru_cache(maxsize=1)
def endpoints() -> SageMakerEndpoints:
    from mlrollout.adapters.endpoints import SageMakerEndpoints

    return SageMakerEndpoints(client("sagemaker"))


@lru_cache(maxsize=1)
def endpoints_with_runtime() -> SageMakerEndpoints:
    from mlrollout.adapters.endpoints import SageMakerEndpoints

    return SageMakerEndpoints(client("sagemaker"), client("sagemaker-runtime"))


@lru_cache(maxsize=1)
def autoscaling() -> ApplicationAutoScaling:
    from mlrollout.adapters.autoscaling import ApplicationAutoScaling

    return ApplicationAutoScaling(client("application-autoscaling"))


@lru_cache(maxsize=1)
def metrics() -> CloudWatchMetrics:
    from mlrollout.adapters.metrics import CloudWatchMetrics

    return CloudWatchMetrics(client("cloudwatch"))


@lru_cache(maxsize=1)
def monitoring() -> SageMakerMonitoring:
    from mlrollout.adapters.monitoring import SageMakerMonitoring

    return SageMakerMonitoring(client("sagemaker"))


@lru_cache(maxsize=1)
def alarms() -> CloudWatchAlarms:
    from mlrollout.adapters.monitoring import CloudWatchAlarms

    return CloudWatchAlarms(client("cloudwatch"))


@lru_cache(maxsize=1)
def notifier() -> SnsNotifier:
    from mlrollout.adapters.notifications import SnsNotifier
    from mlrollout.settings import get_settings

    return SnsNotifier(client("sns"), get_settings().require("alerts_topic_arn"))


@lru_cache(maxsize=1)
def slack() -> SlackWebhook:
    from mlrollout.adapters.slack import SlackWebhook
    from mlrollout.settings import get_settings

    return SlackWebhook(client("secretsmanager"), get_settings().require("slack_secret_name"))


@lru_cache(maxsize=1)
def schedules() -> EventBridgeScheduler:
    from mlrollout.adapters.scheduler import EventBridgeScheduler

    return EventBridgeScheduler(client("scheduler"))


@lru_cache(maxsize=1)
def alert_state() -> DynamoAlertState:
    from mlrollout.adapters.alert_state import DynamoAlertState
    from mlrollout.settings import get_settings

    return DynamoAlertState(client("dynamodb"), get_settings().require("state_table"))


def once(prefix: str, *, context: Any = None, expires_after_seconds: int = 86400) -> Once:
    from mlrollout.adapters.idempotency import Once
    from mlrollout.settings import get_settings

    table = get_settings().require("state_table")
    return Once(client("dynamodb"), table, prefix=prefix, expires_after_seconds=expires_after_seconds, context=context)


@lru_cache(maxsize=1)
def records() -> DynamoDeployments:
    from mlrollout.adapters.ledger import DynamoDeployments
    from mlrollout.settings import get_settings

    return DynamoDeployments(client("dynamodb"), get_settings().require("deployments_table"))


@lru_cache(maxsize=1)
def leases() -> DynamoLeases:
    from mlrollout.adapters.ledger import DynamoLeases
    from mlrollout.settings import get_settings

    return DynamoLeases(client("dynamodb"), get_settings().require("state_table"))


@lru_cache(maxsize=1)
def endpoint_waits() -> DynamoEndpointWaits:
    from mlrollout.adapters.endpoint_waits import DynamoEndpointWaits
    from mlrollout.settings import get_settings

    return DynamoEndpointWaits(client("dynamodb"), get_settings().require("state_table"))


@lru_cache(maxsize=1)
def task_tokens() -> TaskTokens:
    from mlrollout.adapters.executions import TaskTokens

    return TaskTokens(client("stepfunctions"))


def lease_keeper(rollout: Rollout) -> LeaseKeeper:
    """The endpoint's lease, renewed for this rollout's span (services/ledger.lease_minutes)."""
    from mlrollout.services.ledger import LeaseKeeper, lease_minutes
    from mlrollout.settings import get_settings

    return LeaseKeeper(leases(), records(), lease_minutes(get_settings(), rollout))


@lru_cache(maxsize=1)
def executions() -> StepFunctionsExecutions:
    from mlrollout.adapters.executions import StepFunctionsExecutions
    from mlrollout.settings import get_settings

    return StepFunctionsExecutions(client("stepfunctions"), get_settings().require("rollout_state_machine_arn"))


@lru_cache(maxsize=1)
def traffic() -> CloudWatchTraffic:
    from mlrollout.adapters.traffic import CloudWatchTraffic

    return CloudWatchTraffic(client("cloudwatch"))


@lru_cache(maxsize=1)
def network() -> Ec2Network:
    from mlrollout.adapters.network import Ec2Network

    return Ec2Network(client("ec2"))
