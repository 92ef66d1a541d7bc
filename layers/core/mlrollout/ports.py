"""The interfaces services depend on. Adapters implement them with boto3; tests may pass moto-backed ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:  # types only: a service imports the adapters it builds values for, nothing more
    from datetime import datetime

    from mlrollout.adapters.alert_state import AlarmMemory
    from mlrollout.adapters.artifacts import ObjectHead
    from mlrollout.adapters.endpoints import InvokeResult, ModelNetwork
    from mlrollout.adapters.metrics import MetricsFetch
    from mlrollout.adapters.monitoring import DataQualityJob, DriftAlarm
    from mlrollout.adapters.network import SecurityGroup, Subnet
    from mlrollout.adapters.registry import Package, PackageSpec
    from mlrollout.adapters.scheduler import DriftSchedule
    from mlrollout.domain.alerts import Alert
    from mlrollout.domain.config import ExtraMetric
    from mlrollout.domain.endpoint_change import PendingChange
    from mlrollout.domain.estimate import Traffic
    from mlrollout.domain.rollback import EndpointObservation
    from mlrollout.domain.rollback_alarms import AlarmStatus


class ArtifactStore(Protocol):
    def head(self, bucket: str, key: str, version_id: str | None = None) -> ObjectHead | None: ...
    def open(self, bucket: str, key: str, version_id: str | None = None) -> BinaryIO: ...
    def read_text(self, bucket: str, key: str) -> str | None: ...
    def read_json(self, uri: str) -> Any: ...
    def put_json(self, bucket: str, key: str, document: Any) -> str: ...


class CaptureStore(Protocol):
    def folders(self, bucket: str, prefix: str) -> list[str]: ...
    def keys(self, bucket: str, prefix: str) -> list[str]: ...
    def lines(self, bucket: str, key: str) -> Iterator[bytes]: ...


class Registry(Protocol):
    def ensure_group(self, name: str, description: str, tags: dict[str, str]) -> None: ...
    def create_package(self, spec: PackageSpec) -> Package: ...
    def describe(self, arn: str) -> Package: ...
    def set_status(self, arn: str, status: str, description: str, metadata: dict[str, str]) -> None: ...


class Endpoints(Protocol):
    def observe(self, endpoint: str) -> EndpointObservation: ...
    def config_variants(self, config_name: str) -> list[dict[str, Any]]: ...
    def create_model(
        self,
        name: str,
        image: str,
        model_data_url: str,
        environment: dict[str, str],
        role_arn: str,
        tags: dict[str, str],
        *,
        network: ModelNetwork | None = None,
    ) -> None: ...
    def create_config(
        self,
        name: str,
        variants: list[dict[str, Any]],
        capture: dict[str, Any],
        tags: dict[str, str],
        *,
        shadow_variants: list[dict[str, Any]] | None = None,
        kms_key: str | None = None,
    ) -> None: ...
    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None: ...
    def update_endpoint(self, name: str, config_name: str) -> None: ...
    def set_weights(self, name: str, weights: dict[str, float]) -> None: ...
    def delete_endpoint(self, name: str) -> None: ...
    def delete_config(self, name: str) -> bool: ...
    def delete_model(self, name: str) -> bool: ...
    def invoke_variant(
        self, endpoint: str, variant: str, body: str, content_type: str, accept: str
    ) -> InvokeResult: ...


class EndpointWaits(Protocol):
    """The change each endpoint's rollout waits for, with its task token (adapters/endpoint_waits.py)."""

    def register(self, change: PendingChange) -> None: ...
    def pending(self, endpoint: str) -> PendingChange | None: ...
    def forget(self, endpoint: str, token: str) -> None: ...


class TaskTokens(Protocol):
    """Answers to a task that waits for its token; both raise domain.errors.TokenExpired when it no longer waits."""

    def succeed(self, token: str, output: dict[str, Any]) -> None: ...
    def fail(self, token: str, error: str, cause: str) -> None: ...


class Network(Protocol):
    def subnets(self, ids: list[str]) -> dict[str, Subnet]:
        """The named subnets that exist, by id."""
        ...

    def security_groups(self, ids: list[str]) -> dict[str, SecurityGroup]:
        """The named security groups that exist, by id."""
        ...


class Metrics(Protocol):
    # Raises MetricsUnavailable when CloudWatch does not answer (after the SDK's retries).
    def variant_series(
        self,
        endpoint: str,
        variants: list[str],
        start: datetime,
        end: datetime,
        extras: list[ExtraMetric] | None = None,
        *,
        include_4xx: bool = True,
    ) -> MetricsFetch: ...


class AlarmStates(Protocol):
    def states(self, names: list[str]) -> dict[str, AlarmStatus]:
        """The named alarms that exist; raises MetricsUnavailable when CloudWatch does not answer."""
        ...


class Monitoring(Protocol):
    def create_data_quality_job(self, job: DataQualityJob) -> None: ...
    def upsert_schedule(self, name: str, job_definition: str, expression: str, tags: dict[str, str]) -> str | None: ...
    def delete_job_definition(self, name: str) -> None: ...
    def delete_schedule(self, name: str) -> bool: ...
    def job_definitions(self, endpoint: str) -> list[str]: ...
    def schedule_tags(self, schedule_arn: str) -> dict[str, str] | None: ...


class Schedules(Protocol):
    def upsert(self, schedule: DriftSchedule) -> None: ...
    def delete(self, name: str, group: str) -> bool: ...


class MetricPublisher(Protocol):
    def publish(self, namespace: str, data: list[dict[str, Any]]) -> int: ...


class MetricReader(Protocol):
    def latest(
        self, namespace: str, metrics: list[str], dimensions: dict[str, str], start: datetime, end: datetime
    ) -> dict[str, float]: ...


class AlertState(Protocol):
    def recall(self, alarm: str) -> AlarmMemory: ...
    def remember(self, memory: AlarmMemory, state: str, at: float, expires_at: int) -> bool: ...
    def forget(self, memory: AlarmMemory) -> None: ...


class Alarms(Protocol):
    def put_drift_alarm(self, alarm: DriftAlarm) -> None: ...
    def alarm_names(self, prefix: str) -> list[str]: ...
    def delete_alarms(self, names: list[str]) -> None: ...


class Notifier(Protocol):
    def publish(self, alert: Alert) -> str: ...


class TrafficReader(Protocol):
    # Raises MetricsUnavailable when CloudWatch does not answer; Plan then goes on without an estimate.
    def recent(
        self, endpoint: str, variant: str, now: datetime, *, minutes: int = 60, include_4xx: bool = False
    ) -> Traffic: ...
