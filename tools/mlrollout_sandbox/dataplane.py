"""The data plane: SageMaker's serving side, played by the sandbox.

For each endpoint with traffic, requests arrive (Poisson, at the profile's rate on sandbox time), are routed to
a variant in proportion to the endpoint's current weights (read from the emulated SageMaker), and are served
by the model of that variant: its artifact is fetched from S3, unpacked, and its `code/inference.py` runs the
SageMaker inference-toolkit contract (model_fn, input_fn, predict_fn, output_fn). An exception in the model is
a 500, as a SageMaker container answers. Latency comes from the artifact's own `serving` profile. An endpoint
with a shadow variant also serves a copy of each request on the shadow's model, at the shadow's sampling
share (`shadow_sampling` in the SageMaker emulator: every request), and discards that answer.

What SageMaker would write, the data plane writes: per-variant `AWS/SageMaker` metrics every minute
(Invocations, InvocationsPerInstance, Invocation4XXErrors, Invocation5XXErrors, ModelLatency, OverheadLatency, in
microseconds with Values/Counts so percentiles work; a shadow variant's under its own VariantName) and
data-capture JSONL under the endpoint config's capture destination. Latency does not depend on a variant's
instance count (no per-instance capacity model): auto scaling changes InvocationsPerInstance, not latency.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import math
import random
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

MINUTE = 60.0
CAPTURE_FLUSH_SECONDS = 300.0
LATENCY_BUCKET = 1.02  # 2% resolution: percentiles stay accurate, a datum stays under 150 distinct values
Z99 = 2.3263478740408408
# The share of one core simulated traffic may take. Its cost grows with the sandbox time it covers, so past this the
# data plane throttles the sandbox clock (see clock.py) instead of falling behind it.
CPU_BUDGET = 0.35
MIN_THROTTLE = 0.01
WALL_SHARE = 0.8  # of the wall clock the data plane's steps may take before sandbox time slows down
_LOOK_UP = object()  # _serve: read the endpoint's data-capture config (one request, from InvokeEndpoint)


class ModelServingError(Exception):
    pass


@dataclass(frozen=True)
class Lognormal:
    """A latency distribution given by its median and 99th percentile."""

    p50: float
    p99: float

    def sample(self, rng: random.Random) -> float:
        sigma = max(1e-9, (math.log(self.p99) - math.log(self.p50)) / Z99)
        return rng.lognormvariate(math.log(self.p50), sigma)


class ModelContainer:
    """One model artifact, unpacked and loaded like a SageMaker inference-toolkit container loads it."""

    def __init__(self, name: str, artifact: bytes, workdir: Path) -> None:
        self.name = name
        self.model_dir = workdir / name
        self.model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
            archive.extractall(self.model_dir, filter="data")
        self.module = self._load_code()
        self.model = self.module.model_fn(str(self.model_dir))
        serving = json.loads((self.model_dir / "model.json").read_text()).get("serving", {})
        self.latency = Lognormal(**serving.get("latency_ms", {"p50": 20.0, "p99": 50.0}))
        self.overhead = Lognormal(**serving.get("overhead_ms", {"p50": 1.0, "p99": 3.0}))

    def _load_code(self) -> ModuleType:
        source = self.model_dir / "code" / "inference.py"
        if not source.is_file():
            raise ModelServingError(f"model {self.name}: the artifact has no code/inference.py to serve it with")
        spec = importlib.util.spec_from_file_location(f"sandbox_model_{uuid.uuid4().hex}", source)
        if spec is None or spec.loader is None:
            raise ModelServingError(f"model {self.name}: cannot load {source}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def serve(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes]:
        try:
            data = self.module.input_fn(body.decode(), content_type)
            prediction = self.module.predict_fn(data, self.model)
            output = self.module.output_fn(prediction, accept)
        except Exception as exc:  # the container turns any model exception into a 500
            return 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        return 200, output.encode() if isinstance(output, str) else bytes(output)


@dataclass
class FeatureProfile:
    """What callers send: a transaction's amount, merchant and hour; `malformed` requests lack a field."""

    amount_median: float = 60.0
    amount_sigma: float = 1.0
    merchants: dict[str, float] = field(
        default_factory=lambda: {"grocery": 0.4, "fuel": 0.2, "electronics": 0.15, "travel": 0.15, "gaming": 0.1}
    )
    malformed: float = 0.002

    def request(self, rng: random.Random) -> dict[str, Any]:
        features: dict[str, Any] = {
            "amount": round(rng.lognormvariate(math.log(self.amount_median), self.amount_sigma), 2),
            "merchant": rng.choices(list(self.merchants), weights=list(self.merchants.values()))[0],
            "hour": rng.randrange(24),
        }
        if rng.random() < self.malformed:
            del features[rng.choice(["merchant", "hour"])]
        return {"features": features}


@dataclass
class TrafficProfile:
    rps: float
    features: FeatureProfile = field(default_factory=FeatureProfile)
    drift_at: datetime | None = None
    drifted: FeatureProfile | None = None

    def profile_at(self, moment: datetime) -> FeatureProfile:
        if self.drift_at is not None and self.drifted is not None and moment >= self.drift_at:
            return self.drifted
        return self.features


@dataclass
class MinuteStats:
    endpoint: str
    variant: str
    minute: datetime
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latency_us: Counter[float] = field(default_factory=Counter)
    overhead_us: Counter[float] = field(default_factory=Counter)
    weight_share: float = 0.0  # of the endpoint's requests; for a shadow variant, the fraction copied to it
    shadow: bool = False  # a shadow variant's copies: not part of the endpoint's traffic split
    instances: int | None = None  # the variant's CurrentInstanceCount while it served this minute

    def percentile(self, p: float) -> float | None:
        total = sum(self.latency_us.values())
        if not total:
            return None
        rank = math.ceil(p / 100 * total)
        seen = 0
        for value in sorted(self.latency_us):
            seen += self.latency_us[value]
            if seen >= rank:
                return value
        return None


def _bucket(microseconds: float) -> float:
    return round(LATENCY_BUCKET ** round(math.log(max(microseconds, 1.0), LATENCY_BUCKET)), 1)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


class ClockGovernor:
    """Keeps simulated traffic within a CPU budget by throttling the sandbox clock when serving costs more.

    Each step reports the CPU seconds it took to serve the sandbox time since the previous step. At warp w the
    data plane needs cost * w of a core, with cost = CPU seconds per sandbox second (smoothed); the clock runs at
    the warp asked for, or at budget / cost if that is lower.

    Each step also reports its wall time. On a loaded machine the thread waits for CPU that other processes
    take, so a step that costs little CPU can still take most of the wall clock. Past `wall_share` of it, the
    data plane would fall behind sandbox time, and so would everything that waits for it: alarm evaluation
    catches up with the traffic before it reads metrics. The clock slows to keep the wall time within that share.
    """

    def __init__(
        self, clock: Any, budget: float = CPU_BUDGET, floor: float = MIN_THROTTLE, wall_share: float = WALL_SHARE
    ) -> None:
        self.clock = clock
        self.budget = budget
        self.floor = floor
        self.wall_share = wall_share
        self.cost: float | None = None
        self.wall_cost: float | None = None
        self._previous: datetime | None = None

    def account(self, busy: float, began_virtual: datetime, wall: float | None = None) -> None:
        previous, self._previous = self._previous, began_virtual
        span = (began_virtual - previous).total_seconds() if previous is not None else 0.0
        if span <= 0:
            return
        self.cost = _smoothed(self.cost, busy / span)
        self.wall_cost = _smoothed(self.wall_cost, (busy if wall is None else wall) / span)
        target = self.clock.target_warp
        wanted = min(
            self.budget / max(self.cost * target, 1e-12), self.wall_share / max(self.wall_cost * target, 1e-12)
        )
        self.clock.throttle(max(self.floor, min(1.0, round(wanted, 2))))


def _smoothed(previous: float | None, value: float) -> float:
    return value if previous is None else 0.7 * previous + 0.3 * value


class DataPlane:
    """Serves traffic for the endpoints it is given, on sandbox time, in one background thread."""

    def __init__(self, aws: Any, *, seed: int = 7, tick_seconds: float = 5.0) -> None:
        self.aws = aws
        self.clock = aws.clock
        self.seed = seed
        self.tick = tick_seconds
        self.profiles: dict[str, TrafficProfile] = {}
        self.containers: dict[str, ModelContainer] = {}
        self.minutes: dict[tuple[str, str, datetime], MinuteStats] = {}
        self.timeline: list[MinuteStats] = []
        self.capture: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.errors: list[str] = []
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._step_lock = threading.Lock()  # one step (generate, flush, publish) at a time
        self._thread: threading.Thread | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="mlrollout-dataplane-"))
        self._served_until: dict[str, datetime] = {}
        self.governor = ClockGovernor(self.clock)
        self._last_capture_flush = self.clock.now()
        self._s3 = aws.client("s3")
        self._sm = aws.client("sagemaker")
        self._cw = aws.client("cloudwatch")
        self._config_cache: dict[str, dict[str, Any]] = {}
        self._model_cache: dict[str, dict[str, Any]] = {}
        self.listeners: list[Callable[[MinuteStats], None]] = []
        # When set, every endpoint that exists gets this traffic (`mlrollout sandbox up`).
        self.auto_traffic: TrafficProfile | None = None

    # lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> DataPlane:
        self.aws.emulator.services["sagemaker"].data_plane = self.invoke
        self.aws.emulator.services["cloudwatch"].before_read.append(self.catch_up)
        self._thread = threading.Thread(target=self._run, name="sandbox-dataplane", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.clock.throttle(1.0)
        with contextlib.suppress(Exception):
            self.flush(final=True)
        service = self.aws.emulator.services.get("sagemaker")
        if service is not None and service.data_plane == self.invoke:
            service.data_plane = None
        cloudwatch = self.aws.emulator.services.get("cloudwatch")
        if cloudwatch is not None and self.catch_up in cloudwatch.before_read:
            cloudwatch.before_read.remove(self.catch_up)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def send_traffic(self, endpoint: str, profile: TrafficProfile) -> None:
        with self._lock:
            self.profiles[endpoint] = profile
            self._served_until.setdefault(endpoint, self.clock.now())
            self._rngs.setdefault(endpoint, random.Random(f"{self.seed}:{endpoint}"))

    def stop_traffic(self, endpoint: str) -> None:
        with self._lock:
            self.profiles.pop(endpoint, None)

    # serving ------------------------------------------------------------------------------------------
    def invoke(
        self, endpoint: str, variant: str | None, body: bytes, content_type: str, accept: str
    ) -> tuple[int, bytes, str, str]:
        """The emulated SageMaker's InvokeEndpoint hook: a real request, counted like any other."""
        state = self.aws.emulator.services["sagemaker"].endpoint_state(endpoint)
        chosen = variant or next(iter(state.weights))
        shadow = chosen in state.shadow_sampling
        when = self.clock.now()
        with self._lock:
            status, output = self._serve(endpoint, chosen, body, content_type, accept, when, record=True, shadow=shadow)
            stats = self.minutes.get((endpoint, chosen, when.replace(second=0, microsecond=0)))
            if stats is not None and stats.instances is None:
                hosted = (*state.variants, *state.shadow_variants)
                stats.instances = next((v.current_instance_count for v in hosted if v.name == chosen), None)
        return status, output, accept, chosen

    def _container(self, endpoint: str, variant: str) -> ModelContainer:
        state = self.aws.emulator.services["sagemaker"].endpoint_state(endpoint)
        hosted = (*state.variants, *state.shadow_variants) if state else ()
        model_name = next((v.model_name for v in hosted if v.name == variant), None)
        if model_name is None:
            raise ModelServingError(f"endpoint {endpoint} has no variant {variant}")
        container = self.containers.get(model_name)
        if container is None:
            described = self._model_cache.get(model_name) or self._sm.describe_model(ModelName=model_name)
            self._model_cache[model_name] = described
            url = described["PrimaryContainer"]["ModelDataUrl"]
            bucket, _, key = url.removeprefix("s3://").partition("/")
            artifact = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            container = ModelContainer(model_name, artifact, self._workdir)
            self.containers[model_name] = container
        return container

    def _serve(
        self,
        endpoint: str,
        variant: str,
        body: bytes,
        content_type: str,
        accept: str,
        when: datetime,
        *,
        record: bool,
        container: ModelContainer | None = None,
        capture: dict[str, Any] | object | None = _LOOK_UP,
        shadow: bool = False,
    ) -> tuple[int, bytes]:
        rng = self._rngs.get(endpoint) or self._rngs.setdefault(endpoint, random.Random(f"{self.seed}:{endpoint}"))
        container = container or self._container(endpoint, variant)
        status, output = container.serve(body, content_type, accept)
        if record:
            minute = when.replace(second=0, microsecond=0)
            stats = self.minutes.setdefault((endpoint, variant, minute), MinuteStats(endpoint, variant, minute))
            stats.shadow = stats.shadow or shadow
            stats.invocations += 1
            if 400 <= status < 500:
                stats.errors_4xx += 1
            elif status >= 500:
                stats.errors_5xx += 1
            else:
                stats.latency_us[_bucket(container.latency.sample(rng) * 1000)] += 1
                stats.overhead_us[_bucket(container.overhead.sample(rng) * 1000)] += 1
                config = self._capture_config(endpoint) if capture is _LOOK_UP else capture
                self._capture(endpoint, variant, body, output, content_type, accept, when, config)  # type: ignore[arg-type]
        return status, output

    def _capture(
        self,
        endpoint: str,
        variant: str,
        body: bytes,
        output: bytes,
        content_type: str,
        accept: str,
        when: datetime,
        config: dict[str, Any] | None,
    ) -> None:
        if not config or not config.get("EnableCapture"):
            return
        rng = self._rngs[endpoint]
        if rng.random() * 100 >= float(config.get("InitialSamplingPercentage", 100)):
            return
        record = {
            "captureData": {
                "endpointInput": {
                    "observedContentType": content_type,
                    "mode": "INPUT",
                    "data": body.decode(),
                    "encoding": "JSON",
                },
                "endpointOutput": {
                    "observedContentType": accept,
                    "mode": "OUTPUT",
                    "data": output.decode(),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": str(uuid.UUID(int=rng.getrandbits(128))),
                "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "eventVersion": "0",
        }
        self.capture[(endpoint, variant)].append(json.dumps(record))

    def _capture_config(self, endpoint: str) -> dict[str, Any] | None:
        state = self.aws.emulator.services["sagemaker"].endpoint_state(endpoint)
        if state is None or state.endpoint_config_name is None:
            return None
        cached = self._config_cache.get(state.endpoint_config_name)
        if cached is None:
            cached = self._sm.describe_endpoint_config(EndpointConfigName=state.endpoint_config_name)
            self._config_cache[state.endpoint_config_name] = cached
        capture: dict[str, Any] | None = cached.get("DataCaptureConfig")
        return capture

    # the loop ---------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # keep serving; the error is reported by the sandbox
                log.exception("data plane step failed")
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.clock.sleep(self.tick, self._stop)

    def catch_up(self) -> None:
        """Serve everything up to now and publish it (CloudWatch calls this before anyone reads metrics)."""
        self.step()

    def step(self) -> None:
        with self._step_lock:
            # This thread's CPU time is what serving costs; its wall time (waits for the GIL and for the CPU
            # included) says whether serving keeps up with sandbox time. The governor weighs both.
            began_cpu, began_wall, began_virtual = time.thread_time(), time.monotonic(), self.clock.now()
            self._step()
            self.governor.account(time.thread_time() - began_cpu, began_virtual, time.monotonic() - began_wall)

    def _step(self) -> None:
        now = self.clock.now()
        if self.auto_traffic is not None:
            for endpoint in self._sm.list_endpoints(MaxResults=100).get("Endpoints", []):
                if endpoint["EndpointName"] not in self.profiles:
                    self.send_traffic(endpoint["EndpointName"], self.auto_traffic)
        with self._lock:
            for endpoint, profile in list(self.profiles.items()):
                try:
                    self._generate(endpoint, profile, now)
                except Exception as exc:  # one broken endpoint must not stop traffic to the others
                    message = f"{endpoint}: {type(exc).__name__}: {exc}"
                    if message not in self.errors:
                        log.warning("data plane: %s", message)
                        self.errors.append(message)
        # Flush against the same `now` that bounded generation: a minute is complete only once traffic has
        # been generated to its end, however long generating took.
        self.flush(now=now)

    def _generate(self, endpoint: str, profile: TrafficProfile, now: datetime) -> None:
        service = self.aws.emulator.services["sagemaker"]
        start = self._served_until.get(endpoint, now)
        if now <= start:
            return
        state = service.endpoint_state(endpoint)
        self._served_until[endpoint] = now
        # A Creating or Failed endpoint serves nothing; an Updating one keeps serving its current variants.
        if state is None or state.status not in {"InService", "Updating", "SystemUpdating"}:
            return
        weights = {name: max(0.0, w) for name, w in state.weights.items()}
        total = sum(weights.values())
        if total <= 0:
            return
        rng = self._rngs[endpoint]
        variants, shares = list(weights), [w / total for w in weights.values()]
        sampling = {name: chance for name, chance in state.shadow_sampling.items() if chance > 0}
        instances = {v.name: v.current_instance_count for v in (*state.variants, *state.shadow_variants)}
        span = (now - start).total_seconds()
        containers = {variant: self._container(endpoint, variant) for variant in [*variants, *sampling]}
        capture = self._capture_config(endpoint)  # one endpoint config serves the whole span
        for _ in range(_poisson(rng, profile.rps * span)):
            when = start + timedelta(seconds=rng.random() * span)
            variant = rng.choices(variants, weights=shares)[0]
            body = json.dumps(profile.profile_at(when).request(rng)).encode()
            # The production variant answers the caller; each shadow gets a copy whose answer nobody sees.
            copies = list(sampling)  # every request (the only case the emulator accepts)
            for target in (variant, *copies):
                self._serve(
                    endpoint,
                    target,
                    body,
                    "application/json",
                    "application/json",
                    when,
                    record=True,
                    container=containers[target],
                    capture=capture,
                    shadow=target in sampling,
                )
        # The split held over the whole span, which on a loaded machine can cross a minute boundary: every minute it
        # touched records it, not only the last.
        minute, last = start.replace(second=0, microsecond=0), now.replace(second=0, microsecond=0)
        while minute <= last:
            for variant, share in zip(variants, shares, strict=True):
                stats = self.minutes.setdefault((endpoint, variant, minute), MinuteStats(endpoint, variant, minute))
                stats.weight_share, stats.instances = share, instances.get(variant)
            for variant, share in sampling.items():
                stats = self.minutes.setdefault((endpoint, variant, minute), MinuteStats(endpoint, variant, minute))
                stats.weight_share, stats.shadow, stats.instances = share, True, instances.get(variant)
            minute += timedelta(minutes=1)

    # publishing ----------------------------------------------------------------------------------------------
    def flush(self, *, final: bool = False, now: datetime | None = None) -> None:
        now = now or self.clock.now()
        with self._lock:
            done = [
                key for key, stats in self.minutes.items() if final or stats.minute + timedelta(seconds=MINUTE) <= now
            ]
            finished = [self.minutes.pop(key) for key in done]
            capture_due = final or (now - self._last_capture_flush).total_seconds() >= CAPTURE_FLUSH_SECONDS
            captures = {}
            if capture_due:
                captures, self.capture = dict(self.capture), defaultdict(list)
                self._last_capture_flush = now
        for stats in sorted(finished, key=lambda s: s.minute):
            self._publish(stats)
            self.timeline.append(stats)
            for listener in self.listeners:
                listener(stats)
        for (endpoint, variant), lines in captures.items():
            if lines:
                self._write_capture(endpoint, variant, lines, now)

    def _publish(self, stats: MinuteStats) -> None:
        dimensions = [
            {"Name": "EndpointName", "Value": stats.endpoint},
            {"Name": "VariantName", "Value": stats.variant},
        ]
        data: list[dict[str, Any]] = [
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": stats.minute,
                "Value": float(value),
                "Unit": "None",
            }
            for name, value in (
                ("Invocations", stats.invocations),
                ("Invocation4XXErrors", stats.errors_4xx),
                ("Invocation5XXErrors", stats.errors_5xx),
            )
        ]
        if stats.instances:
            # "normalized by InstanceCount ... 1/numberOfInstances is sent as the value on each request"
            # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ScalingPolicyMetric.html); the
            # count is the one the minute's traffic saw, so the minute's sum is invocations / instances.
            data.append(
                {
                    "MetricName": "InvocationsPerInstance",
                    "Dimensions": dimensions,
                    "Timestamp": stats.minute,
                    "Value": stats.invocations / stats.instances,
                    "Unit": "None",
                }
            )
        for name, histogram in (("ModelLatency", stats.latency_us), ("OverheadLatency", stats.overhead_us)):
            items = sorted(histogram.items())
            for start in range(0, len(items), 150):
                chunk = items[start : start + 150]
                data.append(
                    {
                        "MetricName": name,
                        "Dimensions": dimensions,
                        "Timestamp": stats.minute,
                        "Values": [v for v, _ in chunk],
                        "Counts": [float(c) for _, c in chunk],
                        "Unit": "Microseconds",
                    }
                )
        if stats.invocations:
            self._cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)

    def _write_capture(self, endpoint: str, variant: str, lines: list[str], now: datetime) -> None:
        config = self._capture_config(endpoint)
        if not config:
            return
        destination = str(config["DestinationS3Uri"]).removeprefix("s3://").rstrip("/")
        bucket, _, prefix = destination.partition("/")
        stamp = now.astimezone(UTC)
        key = "/".join(
            p
            for p in (
                prefix,
                endpoint,
                variant,
                stamp.strftime("%Y/%m/%d/%H"),
                f"{stamp.strftime('%M-%S-%f')[:9]}-{uuid.uuid4().hex[:8]}.jsonl",
            )
            if p
        )
        self._s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
