"""In-memory fakes of the ports: small working implementations (a dict-backed store, a list of calls), for
service tests that need no emulator. Each keeps the rule of the real adapter that the services rely on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlrollout.domain.judge import Period, VariantSeries
from mlrollout.domain.ledger import Lease
from mlrollout.domain.rollback import EndpointObservation
from mlrollout.ports import InvokeResult, MetricsFetch, ModelNetwork, Package, PackageSpec

if TYPE_CHECKING:
    from mlrollout.services.ledger import LeaseKeeper


class FakeLeases:
    """The endpoint leases (adapters/ledger.DynamoLeases): take when free, expired or ours; renew only when ours."""

    def __init__(self) -> None:
        self.leases: dict[str, Lease] = {}

    def holder(self, endpoint: str) -> Lease | None:
        return self.leases.get(endpoint)

    def take(self, endpoint: str, deployment_id: str, execution: str, now: datetime, until: datetime) -> bool:
        held = self.leases.get(endpoint)
        if held is not None and not held.expired(now) and held.holder != deployment_id:
            return False
        self.leases[endpoint] = Lease(endpoint, deployment_id, execution, until)
        return True

    def renew(self, endpoint: str, deployment_id: str, until: datetime) -> bool:
        held = self.leases.get(endpoint)
        if held is None or held.holder != deployment_id:
            return False
        self.leases[endpoint] = Lease(endpoint, deployment_id, held.execution, until)
        return True

    def release(self, endpoint: str, deployment_id: str) -> bool:
        held = self.leases.get(endpoint)
        if held is None or held.holder != deployment_id:
            return False
        del self.leases[endpoint]
        return True


class FakeRecords:
    """Deployment records (adapters/ledger.DynamoDeployments): lists appended to, a request taken once, a record
    advanced only while it has no outcome."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def advance(self, deployment_id: str, state: str, now: datetime, **fields: Any) -> bool:
        record = self.records.get(deployment_id)
        if record is None or record.get("outcome"):
            return False
        record.update(fields, state=state, updated_at=now.isoformat())
        return True

    def append(self, deployment_id: str, field: str, entry: dict[str, Any], now: datetime) -> bool:
        record = self.records.setdefault(deployment_id, {"deployment_id": deployment_id})
        record.setdefault(field, []).append(entry)
        record["updated_at"] = now.isoformat()
        return True

    def take_request(self, deployment_id: str, now: datetime) -> dict[str, Any] | None:
        request = self.records.get(deployment_id, {}).get("operator_request")
        if not isinstance(request, dict) or "taken_at" in request:
            return None
        request["taken_at"] = now.isoformat()
        return request


class FakeEndpointWaits:
    """The change each endpoint's rollout waits for (adapters/endpoint_waits.DynamoEndpointWaits): one per endpoint,
    forgotten only by the token that registered it."""

    def __init__(self) -> None:
        self.changes: dict[str, Any] = {}

    def register(self, change: Any) -> None:
        self.changes[change.endpoint] = change

    def pending(self, endpoint: str) -> Any:
        return self.changes.get(endpoint)

    def forget(self, endpoint: str, token: str) -> None:
        if endpoint in self.changes and self.changes[endpoint].token == token:
            del self.changes[endpoint]


class FakeTaskTokens:
    """Step Functions' answers to waiting tasks (adapters/executions.TaskTokens): a token is answered once; an
    answer to a token no task waits on raises TokenExpired, as SendTaskSuccess's TaskTimedOut/InvalidToken do."""

    def __init__(self) -> None:
        self.waiting: set[str] = set()
        self.answers: dict[str, tuple[str, Any]] = {}

    def issue(self, token: str) -> str:
        self.waiting.add(token)
        return token

    def succeed(self, token: str, output: dict[str, Any]) -> None:
        self._answer(token, ("success", output))

    def fail(self, token: str, error: str, cause: str) -> None:
        self._answer(token, (error, cause))

    def _answer(self, token: str, answer: tuple[str, Any]) -> None:
        from mlrollout.domain.errors import TokenExpired

        if token not in self.waiting:
            raise TokenExpired(f"Task Timed Out: '{token}'")
        self.waiting.discard(token)
        self.answers[token] = answer


class FakeEndpointViews:
    """What DescribeEndpoint shows (the Endpoints port's observe), set by the test as SageMaker would change it."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.looks = 0

    def observe(self, endpoint: str) -> Any:
        self.looks += 1
        return self.seen.get(endpoint, EndpointObservation(exists=False))


def held_lease(endpoint: str, deployment_id: str, now: datetime) -> LeaseKeeper:
    """A LeaseKeeper for a rollout that holds `endpoint`'s lease for the next hour."""
    from datetime import timedelta

    from mlrollout.services.ledger import LeaseKeeper

    leases = FakeLeases()
    leases.take(endpoint, deployment_id, f"x-{deployment_id}", now, now + timedelta(hours=1))
    return LeaseKeeper(leases, FakeRecords(), minutes=60)


class FakeMetrics:
    """The Metrics port over per-minute values kept in memory: `put(variant, minute, period)`; a minute with nothing
    put is a period of None values, as CloudWatch's missing data is (adapters/metrics.variant_series)."""

    COLUMNS = {
        "inv": "invocations",
        "e5": "errors_5xx",
        "e4": "errors_4xx",
        "p99": "latency_p99_ms",
        "avg": "latency_mean_ms",
        "ovh": "overhead_mean_ms",
    }

    def __init__(self) -> None:
        self.minutes: dict[tuple[str, datetime], Period] = {}
        self.windows: list[tuple[tuple[str, ...], datetime, datetime]] = []

    def put(self, variant: str, minute: datetime, period: Period) -> None:
        self.minutes[(variant, minute)] = period

    def variant_series(
        self,
        endpoint: str,
        variants: list[str],
        start: datetime,
        end: datetime,
        extras: list[Any] | None = None,
        *,
        include_4xx: bool = True,
    ) -> MetricsFetch:
        self.windows.append((tuple(variants), start, end))
        slots = [start + timedelta(minutes=i) for i in range(int((end - start).total_seconds()) // 60)]
        series, raw = {}, {}
        for variant in variants:
            periods = [self.minutes.get((variant, slot), Period()) for slot in slots]
            series[variant] = VariantSeries(variant, periods)
            raw[variant] = {key: [getattr(p, name) for p in periods] for key, name in self.COLUMNS.items()}
        return MetricsFetch(series=series, queries=[], timestamps=[s.isoformat() for s in slots], raw=raw)


class FakeEndpoints:
    """The Endpoints port over SageMaker hosting as dicts: models and endpoint configs as the API stores them, each
    endpoint's config (InService), and a log of every write, so a test can show that nothing was touched.
    `current`: endpoint `ep` serving config `ep-v1` with that one variant."""

    def __init__(self, current: dict[str, Any] | None = None) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, str] = {}
        self.writes: list[str] = []
        if current is not None:
            self.configs["ep-v1"] = {"ProductionVariants": [current]}
            self.endpoints["ep"] = "ep-v1"

    def observe(self, endpoint: str) -> EndpointObservation:
        name = self.endpoints.get(endpoint)
        return EndpointObservation(exists=name is not None, status="InService", config_name=name)

    def config_variants(self, config_name: str) -> list[dict[str, Any]]:
        return [dict(v) for v in self.configs[config_name]["ProductionVariants"]]

    def create_model(self, name: str, image: str, model_data_url: str, environment: dict[str, str], role_arn: str,
                     tags: dict[str, str], *, network: ModelNetwork | None = None) -> None:  # fmt: skip
        self.writes.append(f"create_model {name}")
        network = network or ModelNetwork()
        container = {"Image": image, "ModelDataUrl": model_data_url, **network.container_fields()}
        self.models.setdefault(name, {"PrimaryContainer": container, **network.model_fields()})

    def create_config(self, name: str, variants: list[dict[str, Any]], capture: dict[str, Any] | None,
                      tags: dict[str, str], *, shadow_variants: list[dict[str, Any]] | None = None,
                      kms_key: str | None = None) -> None:  # fmt: skip
        self.writes.append(f"create_config {name}")
        stored: dict[str, Any] = {"ProductionVariants": variants}
        if capture is not None:
            stored["DataCaptureConfig"] = capture
        if kms_key:
            stored["KmsKeyId"] = kms_key
        if shadow_variants:
            stored["ShadowProductionVariants"] = shadow_variants
        self.configs.setdefault(name, stored)

    def create_endpoint(self, name: str, config_name: str, tags: dict[str, str]) -> None:
        self.writes.append(f"create_endpoint {name} {config_name}")
        self.endpoints[name] = config_name

    def update_endpoint(self, name: str, config_name: str, *, retain_variant_properties: bool = False) -> None:
        self.writes.append(f"update_endpoint {name} {config_name}")
        self.endpoints[name] = config_name


class FakeRegistry:
    """The model registry (adapters/registry.SageMakerRegistry): a group per model, packages numbered from 1 within
    their group, and CreateModelPackage's ClientToken honoured, so a retried call gets the package it made."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, Package] = {}
        self.specs: dict[str, PackageSpec] = {}
        self._by_token: dict[str, str] = {}

    def ensure_group(self, name: str, description: str, tags: dict[str, str]) -> None:
        self.groups.setdefault(name, {"description": description, "tags": tags})

    def create_package(self, spec: PackageSpec) -> Package:
        if spec.client_token in self._by_token:
            return self.packages[self._by_token[spec.client_token]]
        version = 1 + sum(1 for s in self.specs.values() if s.group_name == spec.group_name)
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{spec.group_name.lower()}/{version}"
        self.packages[arn] = Package(arn, version, "PendingManualApproval", dict(spec.metadata))
        self.specs[arn], self._by_token[spec.client_token] = spec, arn
        return self.packages[arn]

    def describe(self, arn: str) -> Package:
        return self.packages[arn]

    def set_status(self, arn: str, status: str, description: str, metadata: dict[str, str]) -> None:
        held = self.packages[arn]
        self.packages[arn] = Package(arn, held.version, status, {**held.metadata, **metadata})


class FakeInvocations:
    """The data plane's answers (the Endpoints port's invoke_variant): one per variant, and each request kept."""

    def __init__(self, answers: dict[str, InvokeResult]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, str]] = []

    def invoke_variant(self, endpoint: str, variant: str, body: str, content_type: str, accept: str) -> InvokeResult:
        self.requests.append((endpoint, variant, body))
        return self.answers[variant]
