"""`mlrollout demo`: the product's story in seven scenarios, each started by a real upload to the bucket.

1. first version of a model: the endpoint is created, monitoring attached;
2. a healthy new version: canary steps, promoted, registry Approved;
3. a faulty new version (a bug for unseen merchants): rolled back, registry Rejected with the judge's evidence;
4. drift in live traffic: the builtin drift check's next run finds it, the alarm fires, the alert relay tells
   SNS and Slack once, with the features and their values;
5. a broken artifact: rejected with a clear reason, nothing else touched;
6. a new version on an auto-scaled endpoint: promoted, its variant registered with the old one's scaling, and the
   instance count following the traffic on the new variant;
7. a faulty version on a serverless endpoint: switched at once, judged against the endpoint's own history, and
   reverted to the previous config.

Scenarios 6 and 7 run on endpoints of their own: their first versions are uploaded beside scenario 1, their
traffic grows the fleet and builds the history during scenario 2, and their updates run side by side with
scenarios 3 to 5 (`make demo` stays within a minute).

The scenarios assert nothing themselves: each records what the emulated AWS ended up with (endpoint config
and weights, registry status, alarms, messages), and `expected` says what a correct tool must produce;
`passed` compares the two. The sandbox tests run the same scenarios and assert on the same state.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import FeatureProfile, TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, RolloutOutcome, Sandbox
from mlrollout_sandbox.timeline import Decision, render

MODEL = "fraud-scorer"
AUTOSCALED = "fraud-autoscaled"
SERVERLESS = "fraud-serverless"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
TRAFFIC = TrafficProfile(rps=12)
# The auto-scaled endpoint: target tracking at 60 invocations per instance a minute wants 3 instances for 3 requests
# a second, then 6 (its maximum) for 6.
AUTOSCALED_TRAFFIC, BUSIER = TrafficProfile(rps=3), TrafficProfile(rps=6)
SCALING_TARGET, SCALING_BOUNDS = 60.0, (1, 6)
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
SERVERLESS_TRAFFIC = TrafficProfile(rps=2)
SAMPLE = '{"features": {"amount": 42.0, "merchant": "grocery", "hour": 13}}'
DRIFTED = FeatureProfile(
    amount_median=260.0,
    amount_sigma=1.1,
    merchants={"grocery": 0.25, "fuel": 0.1, "electronics": 0.2, "travel": 0.15, "gaming": 0.1, "crypto": 0.2},
)


def autoscaled_yaml() -> str:
    return f"""\
# An instance-based endpoint whose variant an operator registered with Application Auto Scaling: the defaults,
# with a tenth of the requests captured (there is no drift monitoring on it).
image: {IMAGE}
data_capture:
  sampling_percentage: 10
pre_traffic:
  sample_request:
    body: '{SAMPLE}'
"""


def serverless_yaml() -> str:
    return f"""\
# A serverless endpoint: one variant, so the new version takes all the traffic at once and is judged against the
# endpoint's own minutes before the switch.
image: {IMAGE}
pre_traffic:
  sample_request:
    body: '{SAMPLE}'
serverless:
  memory_mb: 2048
  max_concurrency: 20
strategy:
  type: all_at_once
"""


def rollout_yaml(bucket: str) -> str:
    return f"""\
# The demo model's configuration: the strategy and the judge are the shipped defaults (docs/configuration.md).
image: {IMAGE}
pre_traffic:
  sample_request:
    body: '{{"features": {{"amount": 42.0, "merchant": "grocery", "hour": 13}}}}'
data_capture:
  sampling_percentage: 25
monitoring:
  backend: builtin
  schedule: rate(30 minutes)
  baseline_statistics: s3://{bucket}/baselines/{MODEL}/statistics.json
  baseline_constraints: s3://{bucket}/baselines/{MODEL}/constraints.json
  psi_threshold: 0.25
  js_threshold: 0.1
  features: [amount, merchant, hour]
"""


@dataclass
class ScenarioResult:
    number: int
    name: str
    title: str
    expected: str
    outcome: str
    passed: bool
    reason: str
    model_package_arn: str | None = None
    approval_status: str | None = None
    endpoint_config: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    slack: list[str] = field(default_factory=list)
    virtual_seconds: float = 0.0
    wall_seconds: float = 0.0
    timeline_png: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str], None]


class Demo:
    def __init__(self, sandbox: Sandbox, output: Path, progress: Progress | None = None, pictures: bool = True) -> None:
        self.sandbox = sandbox
        self.output = output
        self.progress = progress or (lambda message: None)
        self.pictures = pictures
        self.results: list[ScenarioResult] = []
        # Which messages a scenario has reported, by (kind, index): the endpoints' rollouts overlap, so each
        # scenario takes the new messages about its own model.
        self._seen: set[tuple[str, int]] = set()
        self._messages_lock = threading.Lock()
        self._outcomes: dict[str, RolloutOutcome] = {}
        self._first_versions: dict[str, RolloutOutcome] = {}
        self._first_messages: dict[str, tuple[list[str], list[str], list[str]]] = {}

    # helpers --------------------------------------------------------------------------------------------
    def _new_messages(self, model: str = MODEL) -> tuple[list[str], list[str], list[str]]:
        """The alerts, emails and Slack posts about `model` no scenario has reported yet (the main model's: those
        that name neither of the other endpoints, whose names do not contain it)."""

        def about(text: str) -> bool:
            return model in text if model != MODEL else not any(other in text for other in (AUTOSCALED, SERVERLESS))

        self.sandbox.drain()
        alerts = [str(a.get("Subject") or json.loads(a["Message"]).get("AlarmName")) for a in self.sandbox.alerts()]
        emails = [e.subject for e in self.sandbox.emails()]
        slack = [p.text for p in self.sandbox.slack_posts()]
        found: list[list[str]] = []
        with self._messages_lock:
            for kind, texts in (("alert", alerts), ("email", emails), ("slack", slack)):
                fresh = [(i, t) for i, t in enumerate(texts) if (kind, i) not in self._seen and about(t)]
                self._seen.update((kind, i) for i, _ in fresh)
                found.append([t for _, t in fresh])
        return found[0], found[1], found[2]

    def _endpoint(self, model: str = MODEL) -> tuple[str | None, dict[str, float]]:
        described = self.sandbox.client("sagemaker").describe_endpoint(EndpointName=model)
        weights = {v["VariantName"]: float(v["CurrentWeight"]) for v in described["ProductionVariants"]}
        return described["EndpointConfigName"], weights

    def _package(self, outcome: RolloutOutcome) -> tuple[str | None, str | None]:
        registered = outcome.task_results("Register Model Version")
        if not registered:
            return None, None
        arn = registered[-1]["package_arn"]
        package = self.sandbox.client("sagemaker").describe_model_package(ModelPackageName=arn)
        return arn, package["ModelApprovalStatus"]

    def _picture(
        self,
        number: int,
        name: str,
        outcome: RolloutOutcome,
        model: str = MODEL,
        *,
        until: datetime | None = None,
        instances: bool = False,
    ) -> str | None:
        if not self.pictures or self.sandbox.dataplane is None:
            return None
        started, stopped = outcome.started, until or outcome.stopped or self.sandbox.clock.now()
        minutes = [m for m in self.sandbox.dataplane.timeline if m.endpoint == model and started <= m.minute <= stopped]
        decisions = _decisions(outcome)
        path = self.output / f"{number}-{name}.png"
        render(
            path,
            title=f"{number}. {name}: {outcome.outcome}",
            minutes=minutes,
            decisions=decisions,
            started=started,
            instances=instances,
        )
        return str(path)

    def _rollout(
        self,
        number: int,
        name: str,
        title: str,
        expected: str,
        version: str,
        artifact: bytes,
        model: str = MODEL,
        *,
        picture: bool = True,
    ) -> ScenarioResult:
        self.progress(f"{number}. {title}: uploading models/{model}/{version}/model.tar.gz")
        upload = self.sandbox.upload(model, version, artifact, {"git-sha": f"demo-{version}", "notes": title})
        outcome = self.sandbox.wait_for_rollout(upload, timeout=240)
        alerts, emails, slack = self._new_messages(model)
        arn, status = self._package(outcome)
        config, weights = self._endpoint(model)
        judge = outcome.task_results("Judge Canary")
        reason = outcome.cause or (outcome.output or {}).get("summary") or ""
        result = ScenarioResult(
            number=number,
            name=name,
            title=title,
            expected=expected,
            outcome=outcome.outcome,
            passed=False,
            reason=reason,
            model_package_arn=arn,
            approval_status=status,
            endpoint_config=config,
            weights=weights,
            alerts=alerts,
            emails=emails,
            slack=slack,
            virtual_seconds=round(outcome.virtual_seconds, 1),
            wall_seconds=round(outcome.wall_seconds, 2),
            timeline_png=self._picture(number, name, outcome, model) if picture else None,
            details={
                "execution": outcome.execution_arn,
                "looks": [
                    {"verdict": j["verdict"], "action": j["action"], "reason": j["reason"], "weight": j["weight"]}
                    for j in judge
                ],
            },
        )
        self._outcomes[name] = outcome
        self.progress(f"{number}. {title}: {result.outcome} ({result.reason[:100]})")
        return result

    # scenarios ------------------------------------------------------------------------------------------
    def run(self) -> list[ScenarioResult]:
        self.output.mkdir(parents=True, exist_ok=True)
        bucket = self.sandbox.bucket
        self._baseline(bucket)
        self.sandbox.put_config(MODEL, rollout_yaml(bucket))
        self.sandbox.send_traffic(MODEL, TRAFFIC)
        # The other endpoints' first versions, side by side with scenario 1.
        self.sandbox.put_config(AUTOSCALED, autoscaled_yaml())
        self.sandbox.put_config(SERVERLESS, serverless_yaml())
        firsts = {
            model: self.sandbox.upload(model, "v1", package_model(DEMO_MODELS / MODEL / "v1"))
            for model in (AUTOSCALED, SERVERLESS)
        }
        self._run(self.first_version)
        # Their traffic grows the auto-scaled fleet and the serverless endpoint's history during scenario 2; their
        # updates then run side by side with scenarios 3 to 5.
        self._first_versions = {model: self.sandbox.wait_for_rollout(u, timeout=240) for model, u in firsts.items()}
        # Their first versions' messages are theirs, not scenarios 6's and 7's.
        self._first_messages = {model: self._new_messages(model) for model in firsts}
        if self._first_versions[AUTOSCALED].outcome == "promoted":
            self._register_scaling()
        self.sandbox.send_traffic(AUTOSCALED, AUTOSCALED_TRAFFIC)
        self.sandbox.send_traffic(SERVERLESS, SERVERLESS_TRAFFIC)
        self._run(self.healthy_update)
        with ThreadPoolExecutor(2) as pool:
            side = {
                pool.submit(self._timed, scenario): (number, scenario.__name__)
                for number, scenario in ((6, self.autoscaled_update), (7, self.serverless_update))
            }
            self._run(self.faulty_update, self.drift, self.broken_artifact)
            for future, (number, name) in side.items():
                self.results.append(self._result_or_failure(future, number, name))
        return self.results

    @staticmethod
    def _result_or_failure(future: Future[ScenarioResult], number: int, name: str) -> ScenarioResult:
        """A scenario that raised is a failed result saying why, and the other one side by side still reports."""
        try:
            return future.result()
        except Exception as exc:
            return ScenarioResult(
                number=number,
                name=name.replace("_", "-"),
                title=name,
                expected="a completed scenario",
                outcome="error",
                passed=False,
                reason=f"{type(exc).__name__}: {exc}",
            )

    def _run(self, *scenarios: Callable[[], ScenarioResult]) -> None:
        for scenario in scenarios:
            self.results.append(self._timed(scenario))

    @staticmethod
    def _timed(scenario: Callable[[], ScenarioResult]) -> ScenarioResult:
        began = time.monotonic()
        result = scenario()
        result.wall_seconds = result.wall_seconds or round(time.monotonic() - began, 2)
        return result

    def _baseline(self, bucket: str) -> None:
        from mlrollout.domain.drift import build_baseline

        rng = random.Random(11)
        sample = [TRAFFIC.features.request(rng)["features"] for _ in range(5000)]
        statistics, constraints = build_baseline(sample)
        self.sandbox.put_object(f"baselines/{MODEL}/statistics.json", json.dumps(statistics).encode())
        self.sandbox.put_object(f"baselines/{MODEL}/constraints.json", json.dumps(constraints).encode())

    def first_version(self) -> ScenarioResult:
        result = self._rollout(
            1, "first-version", "First version of a model", "promoted", "v1", package_model(DEMO_MODELS / MODEL / "v1")
        )
        group = f"{self.sandbox.stack_name}-drift"
        schedules = self.sandbox.client("scheduler").list_schedules(GroupName=group)["Schedules"]
        result.details["drift_schedules"] = [s["Name"] for s in schedules]
        result.passed = result.outcome == "promoted" and result.approval_status == "Approved" and bool(schedules)
        return result

    def healthy_update(self) -> ScenarioResult:
        result = self._rollout(
            2, "healthy-update", "A healthy new version", "promoted", "v2", package_model(DEMO_MODELS / MODEL / "v2")
        )
        looks = result.details["looks"]
        result.passed = (
            result.outcome == "promoted"
            and result.approval_status == "Approved"
            and list(result.weights) == ["v2"]
            and sum(1 for look in looks if look["action"] == "advance") == 2
        )
        return result

    def faulty_update(self) -> ScenarioResult:
        before, _ = self._endpoint()
        result = self._rollout(
            3,
            "faulty-update",
            "A faulty new version",
            "rolled back",
            "v3",
            package_model(DEMO_MODELS / MODEL / "v3-faulty"),
        )
        package = self.sandbox.client("sagemaker").describe_model_package(ModelPackageName=result.model_package_arn)
        result.details["approval_description"] = package.get("ApprovalDescription")
        result.details["config_before"] = before
        result.passed = (
            result.outcome == "rolled back"
            and result.approval_status == "Rejected"
            and result.endpoint_config == before
            and result.weights == {"v2": 1.0}
            and "error rate" in (package.get("ApprovalDescription") or "")
        )
        return result

    def drift(self) -> ScenarioResult:
        number, title = 4, "Drift in live traffic"
        clock = self.sandbox.clock
        began_virtual, began = clock.now(), time.monotonic()
        self.progress(f"{number}. {title}: callers start sending larger amounts and a new merchant category")
        self.sandbox.send_traffic(
            MODEL, TrafficProfile(rps=TRAFFIC.rps, features=TRAFFIC.features, drift_at=began_virtual, drifted=DRIFTED)
        )
        # Nothing else is rolling out: let sandbox time run faster until the drift check's next runs have read the
        # drifted capture and the alarm has evaluated them (usually within an hour of sandbox time). Not much
        # faster: each run analyses thousands of captured records, and at a higher warp the sandbox's alarm
        # evaluation would fall behind sandbox time.
        warp = clock.warp
        clock.set_warp(max(warp, 900.0))
        cloudwatch = self.sandbox.client("cloudwatch")
        alarm_prefix = f"{self.sandbox.stack_name}-{MODEL}.drift."
        deadline = began_virtual + timedelta(hours=4)
        fired: list[str] = []
        told: set[str] = set()
        posted_before = len(self.sandbox.slack_posts())
        # The drifted profile moves `amount` (numeric) and `merchant` (a new category): both must be caught.
        expected = {"amount", "merchant"}
        try:
            while clock.now() < deadline and not expected <= told:
                time.sleep(0.2)
                alarms = cloudwatch.describe_alarms(AlarmNamePrefix=alarm_prefix)["MetricAlarms"]
                fired = [a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM"]
                posts = [post.text for post in self.sandbox.slack_posts()[posted_before:]]
                told = {f for f in expected if any(f"Feature {f} " in text and "drifted" in text for text in posts)}
        finally:
            clock.set_warp(warp)
        alerts, emails, slack = self._new_messages()
        reports = (
            self.sandbox.client("s3")
            .list_objects_v2(Bucket=self.sandbox.bucket, Prefix=f"monitoring/{MODEL}/builtin/")
            .get("Contents", [])
        )
        features = sorted(name.removeprefix(alarm_prefix) for name in fired)
        result = ScenarioResult(
            number=number,
            name="drift",
            title=title,
            expected="drift alarm to SNS and Slack",
            outcome=f"drift alarm on {', '.join(features)}" if fired else "no drift alarm",
            passed=expected <= told,
            reason=next((text for text in slack if "drifted" in text), "no Slack message about drift"),
            alerts=alerts,
            emails=emails,
            slack=slack,
            virtual_seconds=round((clock.now() - began_virtual).total_seconds(), 1),
            wall_seconds=round(time.monotonic() - began, 2),
            details={
                "alarms": fired,
                "drift_reports": [r["Key"] for r in reports],
            },
        )
        self.sandbox.send_traffic(MODEL, TRAFFIC)
        self.progress(f"{number}. {title}: {result.outcome}")
        return result

    def broken_artifact(self) -> ScenarioResult:
        before = self._endpoint()
        packages_before = self.sandbox.client("sagemaker").list_model_packages(ModelPackageGroupName=MODEL)[
            "ModelPackageSummaryList"
        ]
        not_a_tarball = gzip.compress(b"weights that someone gzipped without tar\n" * 10)
        result = self._rollout(5, "broken-artifact", "A broken artifact", "rejected", "v4", not_a_tarball)
        packages_after = self.sandbox.client("sagemaker").list_model_packages(ModelPackageGroupName=MODEL)[
            "ModelPackageSummaryList"
        ]
        kept = self.sandbox.client("s3").head_object(Bucket=self.sandbox.bucket, Key=f"models/{MODEL}/v4/model.tar.gz")
        result.details.update(
            {
                "artifact_kept_bytes": kept["ContentLength"],
                "packages_before": len(packages_before),
                "packages_after": len(packages_after),
            }
        )
        result.passed = (
            result.outcome == "rejected"
            and "not a readable tar" in result.reason
            and (result.endpoint_config, result.weights) == before
            and len(packages_after) == len(packages_before)
            and kept["ContentLength"] == len(not_a_tarball)
        )
        return result

    def _register_scaling(self) -> None:
        """What the platform team did for the auto-scaled endpoint: v1's variant registered with Application Auto
        Scaling and a target tracking policy on invocations per instance."""
        aas = self.sandbox.client("application-autoscaling")
        [variant] = self._endpoint(AUTOSCALED)[1]
        resource = f"endpoint/{AUTOSCALED}/variant/{variant}"
        low, high = SCALING_BOUNDS
        aas.register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=low, MaxCapacity=high,
        )  # fmt: skip
        aas.put_scaling_policy(
            PolicyName="invocations", ServiceNamespace="sagemaker", ResourceId=resource,
            ScalableDimension=SCALABLE_DIMENSION, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": SCALING_TARGET,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            },
        )  # fmt: skip

    def _instances(self, model: str) -> dict[str, int]:
        described = self.sandbox.client("sagemaker").describe_endpoint(EndpointName=model)
        return {v["VariantName"]: int(v.get("CurrentInstanceCount") or 0) for v in described["ProductionVariants"]}

    def _scaling(self, variant: str) -> tuple[list[tuple[int, int]], list[str]]:
        aas = self.sandbox.client("application-autoscaling")
        resource = f"endpoint/{AUTOSCALED}/variant/{variant}"
        targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
        policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)
        return (
            [(t["MinCapacity"], t["MaxCapacity"]) for t in targets["ScalableTargets"]],
            [p["PolicyName"] for p in policies["ScalingPolicies"]],
        )

    def autoscaled_update(self) -> ScenarioResult:
        number, name = 6, "auto-scaled-update"
        [v1] = self._instances(AUTOSCALED)
        # The traffic above the policy's target grows v1 first (usually done by now); then the new version.
        deadline = self.sandbox.clock.now() + timedelta(minutes=30)
        while self.sandbox.clock.now() < deadline and self._instances(AUTOSCALED)[v1] < 2:
            time.sleep(0.1)
        grown = self._instances(AUTOSCALED)[v1]
        result = self._rollout(
            number,
            name,
            "A new version on an auto-scaled endpoint",
            "promoted, scaling carried over",
            "v2",
            package_model(DEMO_MODELS / MODEL / "v2"),
            AUTOSCALED,
            picture=False,
        )
        outcome = self._outcomes[name]
        v2 = next(iter(result.weights), "")
        carried, old = self._scaling(v2), self._scaling(v1)
        at_promotion = self._instances(AUTOSCALED).get(v2, 0)
        # Twice the traffic: the policy now registered on v2 scales it out, as it scaled v1.
        self.progress(f"{number}. traffic doubles on {AUTOSCALED}: the new variant's scaling policy answers")
        self.sandbox.send_traffic(AUTOSCALED, BUSIER)
        deadline = self.sandbox.clock.now() + timedelta(minutes=30)
        while self.sandbox.clock.now() < deadline and self._instances(AUTOSCALED).get(v2, 0) <= at_promotion:
            time.sleep(0.1)
        scaled = self._instances(AUTOSCALED).get(v2, 0)
        # A few more minutes, so the picture's last minutes (published once complete) show the new count.
        shown = self.sandbox.clock.now() + timedelta(minutes=4)
        while self.sandbox.clock.now() < shown:
            time.sleep(0.05)
        result.timeline_png = self._picture(
            number, name, outcome, AUTOSCALED, until=self.sandbox.clock.now(), instances=True
        )
        result.details.update(
            {
                "first_version": self._first_versions[AUTOSCALED].outcome,
                "instances_before": {v1: grown},
                "instances_at_promotion": {v2: at_promotion},
                "instances_after_traffic_doubled": {v2: scaled},
                "scaling_of_new_variant": {"bounds": carried[0], "policies": carried[1]},
                "scaling_of_old_variant": {"bounds": old[0], "policies": old[1]},
            }
        )
        result.outcome = f"{result.outcome}, {v2} scaled {at_promotion} -> {scaled} instances"
        result.passed = (
            outcome.outcome == "promoted"
            and len(result.weights) == 1
            and grown > 1
            and carried == ([SCALING_BOUNDS], ["invocations"])
            and old == ([], [])
            and scaled > at_promotion
        )
        return result

    def serverless_update(self) -> ScenarioResult:
        before, _ = self._endpoint(SERVERLESS)
        result = self._rollout(
            7,
            "serverless-faulty-update",
            "A faulty version on a serverless endpoint",
            "rolled back against history",
            "v3",
            package_model(DEMO_MODELS / MODEL / "v3-faulty"),
            SERVERLESS,
        )
        package = self.sandbox.client("sagemaker").describe_model_package(ModelPackageName=result.model_package_arn)
        looks = result.details["looks"]
        result.details.update(
            {
                "first_version": self._first_versions[SERVERLESS].outcome,
                "config_before": before,
                "approval_description": package.get("ApprovalDescription"),
            }
        )
        result.passed = (
            result.outcome == "rolled back"
            and result.approval_status == "Rejected"
            and result.endpoint_config == before
            and bool(looks)
            and looks[-1]["verdict"] == "FAIL"
            and all(look["weight"] == 100.0 for look in looks)
            and "error rate" in (package.get("ApprovalDescription") or "")
        )
        return result


def _decisions(outcome: RolloutOutcome) -> list[Decision]:
    decisions: list[Decision] = []
    current = None
    for event in outcome.history:
        details = event.get("stateEnteredEventDetails")
        if details:
            current = details["name"]
            if current == "Shift Traffic":
                decisions.append(Decision(event["timestamp"], "shift", "shift"))
            elif current in {"Promote", "Finalize Promotion"} and not any(d.kind == "promote" for d in decisions):
                decisions.append(Decision(event["timestamp"], "promote", "promote"))
            elif current == "Roll Back" and not any(d.kind == "rollback" for d in decisions):
                decisions.append(Decision(event["timestamp"], "roll back", "rollback"))
        elif event["type"] == "TaskSucceeded" and current == "Judge Canary":
            payload = json.loads(event["taskSucceededEventDetails"]["output"]).get("Payload", {})
            if payload.get("verdict") != "INCONCLUSIVE" or payload.get("action") != "continue":
                decisions.append(Decision(event["timestamp"], f"{payload.get('verdict')}", "verdict"))
    return decisions


def report(results: list[ScenarioResult], started: datetime, wall_seconds: float) -> dict[str, Any]:
    return {
        "started": started.isoformat(),
        "wall_seconds": round(wall_seconds, 2),
        "passed": all(r.passed for r in results),
        "scenarios": [r.as_dict() for r in results],
    }
