"""The interfaces services depend on. Adapters implement them with boto3; tests may pass moto-backed ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:  # types only: a service imports the adapters it builds values for, nothing more
    from datetime import datetime, timedelta

    from mlrollout.domain.alerts import Alert
    from mlrollout.domain.config import ExtraMetric
    from mlrollout.domain.endpoint_change import PendingChange
    from mlrollout.domain.estimate import Traffic
    from mlrollout.domain.judge import VariantSeries
    from mlrollout.domain.ledger import Waiter
    from mlrollout.domain.rollback import EndpointObservation
    from mlrollout.domain.rollback_alarms import AlarmStatus
    from mlrollout.domain.scaling import ScalableTarget


# The values the ports take and give back.


@dataclass(frozen=True)
class AlarmMemory:
    alarm: str
    reported_state: str | None
    reported_at: float | None
    version: int
    expires_at: int | None = None
    alarm_reported_at: float | None = None  # when ALARM was last reported: the cooldown runs from here


@dataclass(frozen=True)
class ObjectHead:
    size: int
    version_id: str | None
    metadata: dict[str, str]
    content_type: str | None


@dataclass(frozen=True)
class InvokeResult:
    ok: bool
    status: int
    body: str
    variant: str | None
    latency_ms: float


@dataclass(frozen=True)
class ModelNetwork:
    """Where a model's containers run and where its image comes from (CreateModel VpcConfig,
    EnableNetworkIsolation, PrimaryContainer.ImageConfig)."""

    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    isolated: bool = False
    private_registry: bool = False

    def model_fields(self) -> dict[str, Any]:
        """The CreateModel parameters beside the container; none for a model in SageMaker's own network."""
        fields: dict[str, Any] = {}
        if self.subnets:
            fields["VpcConfig"] = {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_groups)}
        if self.isolated:
            fields["EnableNetworkIsolation"] = True
        return fields

    def container_fields(self) -> dict[str, Any]:
        return {"ImageConfig": {"RepositoryAccessMode": "Vpc"}} if self.private_registry else {}


@dataclass
class MetricsFetch:
    series: dict[str, VariantSeries]
    queries: list[dict[str, Any]]
    timestamps: list[str] = field(default_factory=list)
    raw: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class DataQualityJob:
    name: str
    endpoint: str
    image_uri: str
    role_arn: str
    statistics_uri: str
    constraints_uri: str
    output_uri: str
    instance_type: str
    max_runtime_seconds: int
    tags: dict[str, str]
    # The endpoint's network and volume key, so the job runs where the model does (NetworkConfig, VolumeKmsKeyId).
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    network_isolation: bool = False
    volume_kms_key: str | None = None

    def network_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.subnets:
            config["VpcConfig"] = {"Subnets": list(self.subnets), "SecurityGroupIds": list(self.security_groups)}
        if self.network_isolation:
            config["EnableNetworkIsolation"] = True
        return config


@dataclass(frozen=True)
class DriftAlarm:
    """An alarm on one feature's drift metric. It has no actions: its state changes reach operators through
    EventBridge and the alert relay, which speaks the common alert schema and applies cooldowns."""

    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    threshold: float
    period_seconds: int
    description: str


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    vpc_id: str


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    availability_zone: str


@dataclass(frozen=True)
class Package:
    arn: str
    version: int
    status: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class PackageSpec:
    group_name: str
    description: str
    image: str
    model_data_url: str
    environment: dict[str, str]
    content_types: list[str]
    response_types: list[str]
    metadata: dict[str, str]
    client_token: str


@dataclass(frozen=True)
class DriftSchedule:
    name: str
    group: str
    expression: str
    target_arn: str
    role_arn: str
    payload: dict[str, Any]
    description: str


# The ports.


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
        capture: dict[str, Any] | None,
        tags: dict[str, str],
        *,
        shadow_variants: list[dict[str, Any]] | None = None,
        kms_key: str | None = None,
    ) -> None: ...
    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None: ...
    def update_endpoint(self, name: str, config_name: str, *, retain_variant_properties: bool = False) -> None: ...
    def set_weights(self, name: str, weights: dict[str, float]) -> None: ...
    def set_capacity(self, name: str, variant: str, instances: int) -> None: ...
    def delete_endpoint(self, name: str) -> None: ...
    def delete_config(self, name: str) -> bool: ...
    def delete_model(self, name: str) -> bool: ...
    def invoke_variant(
        self, endpoint: str, variant: str, body: str, content_type: str, accept: str
    ) -> InvokeResult: ...


class AutoScaling(Protocol):
    """Application Auto Scaling of endpoint variants (adapters/autoscaling.py)."""

    def target(self, endpoint: str, variant: str) -> ScalableTarget | None: ...
    def scheduled_actions(self, endpoint: str, variant: str) -> list[str]: ...
    def policies(self, endpoint: str, variant: str) -> list[dict[str, Any]]: ...
    def register(self, endpoint: str, variant: str, target: ScalableTarget) -> None: ...
    def put_policy(self, endpoint: str, variant: str, policy: dict[str, Any]) -> None: ...
    def deregister(self, endpoint: str, variant: str) -> bool: ...


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


class ApprovalRecords(Protocol):
    def advance(self, deployment_id: str, state: str, now: Any, **fields: Any) -> bool: ...


class Records(Protocol):
    def claim(self, record: dict[str, Any]) -> bool: ...
    def get(self, deployment_id: str) -> dict[str, Any] | None: ...
    def append(self, deployment_id: str, field: str, entry: dict[str, Any], now: datetime) -> bool: ...
    def advance(self, deployment_id: str, state: str, now: datetime, **fields: Any) -> bool: ...
    def settle(self, deployment_id: str, outcome: str, reason: str, now: datetime, **fields: Any) -> bool: ...
    def take_request(self, deployment_id: str, now: datetime) -> dict[str, Any] | None: ...


class Leases(Protocol):
    def holder(self, endpoint: str) -> Any: ...
    def take(self, endpoint: str, deployment_id: str, execution: str, now: datetime, until: datetime) -> bool: ...
    def renew(self, endpoint: str, deployment_id: str, until: datetime) -> bool: ...
    def hand_over(self, endpoint: str, deployment_id: str, execution: str) -> bool: ...
    def release(self, endpoint: str, deployment_id: str) -> bool: ...
    def newest_waiter(self, endpoint: str) -> Waiter | None: ...
    def wait(self, endpoint: str, waiter: Waiter) -> Waiter: ...
    def stop_waiting(self, endpoint: str, deployment_id: str) -> None: ...
    def remember_execution(self, execution: str, deployment_id: str, endpoint: str, expires: int) -> None: ...
    def execution(self, execution: str) -> tuple[str, str] | None: ...


class Executions(Protocol):
    def start(self, name: str, document: dict[str, Any]) -> str: ...
    def outputs(self, execution: str, states: list[str]) -> dict[str, dict[str, Any]]: ...
    def ended_since(self, since: datetime, longest: timedelta) -> list[dict[str, Any]]: ...


class SlackPoster(Protocol):
    def post(self, body: dict[str, Any]) -> int: ...


class Guard(Protocol):
    """Runs an action once per key (a duplicate delivery gets the first run's result)."""

    def run(self, key: dict[str, Any], action: Callable[[], dict[str, Any]]) -> dict[str, Any]: ...
