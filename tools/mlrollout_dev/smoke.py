"""`make smoke`: one real rollout end to end, in your AWS account or in the sandbox, then everything torn down.

    python -m mlrollout_dev.smoke              # the account and region of the default credentials chain
    python -m mlrollout_dev.smoke --sandbox    # the embedded sandbox, started for the run (CI runs this)

It deploys template.yaml as a stack of its own (`mlrollout-smoke-<id>`), writes `models/smoke-<id>/rollout.yaml`,
uploads a healthy version of the demo's fraud scorer (the endpoint's first deployment: promoted), then a faulty
one (a canary that fails on a merchant it never saw: rolled back), and checks both outcomes on the deployment
records. Then it deletes everything it created, prints what it could not delete, and what the run cost.

The two targets differ only where they must: how the stack is deployed and deleted (SAM and CloudFormation, or
the sandbox's deployer of the same template), who sends the traffic the judge reads (the script through
InvokeEndpoint on AWS; on the sandbox the simulated callers do, and the script's sender runs beside them), and
where the instance price comes from. Everything else (the rollout configuration, the uploads, waiting for each
outcome, the cost, the teardown) is the same code, so the sandbox run tests it.

The model runs on SageMaker's prebuilt scikit-learn serving image, which loads `code/inference.py` from the
artifact: nothing to build or push. Its instance type is ml.t2.medium, the smallest that real-time endpoints
accept (ProductionVariant InstanceType,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout_cli.cost import INSTANCE_PRICES, Breakdown
from mlrollout_dev.smoke_teardown import Resource, Teardown, TeardownResult

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
STACK_PREFIX = "mlrollout-smoke"
MODEL_PREFIX = "smoke"
INSTANCE_TYPE = "ml.t2.medium"
# SageMaker's scikit-learn serving image; the sagemaker SDK knows its registry account in every region.
SKLEARN_VERSION = "1.2-1"
HEALTHY, FAULTY = "v2", "v3-faulty"  # the demo's fraud scorer: v3 has no fallback for unseen merchants
EXPECTED = {HEALTHY: "promoted", FAULTY: "rolled_back"}

Say = Callable[[str], None]


class SmokeFailed(Exception):
    """The smoke run cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Names:
    """Every name one run uses, unique per run so that runs never touch each other or anything else."""

    run_id: str

    @property
    def stack(self) -> str:
        return f"{STACK_PREFIX}-{self.run_id}"

    @property
    def model(self) -> str:
        return f"{MODEL_PREFIX}-{self.run_id}"

    @classmethod
    def new(cls) -> Names:
        return cls(uuid.uuid4().hex[:8])


# the model and its configuration ---------------------------------------------------------------------------
def serving_image(region: str) -> str:
    """The scikit-learn serving image URI for `region`, from the sagemaker SDK's table of registries (2.x or 3.x)."""
    from mlrollout_cli.errors import CliError
    from mlrollout_cli.extras import sagemaker_image_uris

    try:
        image_uris = sagemaker_image_uris(
            needed_for="finding the scikit-learn serving image for the region",
            instead="pass --image <the sagemaker-scikit-learn image URI for your region>",
        )
    except CliError as exc:
        raise SmokeFailed(exc.line().removeprefix("error: ")) from None
    try:
        return str(image_uris.retrieve("sklearn", region, version=SKLEARN_VERSION, instance_type=INSTANCE_TYPE))
    except ValueError as exc:
        raise SmokeFailed(f"no scikit-learn serving image in {region}: {exc}; pass --image") from None


def rollout_yaml(image: str, region: str) -> str:
    """The smoke model's rollout.yaml: the serving image and how it finds the code; strategy, judge and data
    capture are the shipped defaults."""
    # The environment the sagemaker SDK gives a scikit-learn model whose code is packed in the artifact
    # (sagemaker/model.py, Model._script_mode_env_vars, for a repacked model): run code/inference.py.
    return f"""\
# mlrollout smoke test: the demo's fraud scorer on SageMaker's prebuilt scikit-learn serving image.
image: {image}
framework: sklearn
instance_type: {INSTANCE_TYPE}
environment:
  SAGEMAKER_PROGRAM: inference.py
  SAGEMAKER_SUBMIT_DIRECTORY: /opt/ml/model/code
  SAGEMAKER_CONTAINER_LOG_LEVEL: "20"
  SAGEMAKER_REGION: {region}
"""


def artifact(version: str) -> bytes:
    from mlrollout_files.package import package_model
    from mlrollout_sandbox.session import DEMO_MODELS

    return package_model(DEMO_MODELS / "fraud-scorer" / version)


# the instance price -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstancePrice:
    instance_type: str
    usd_per_hour: float
    source: str


def _listed_in_us_east_1(instance_type: str) -> InstancePrice | None:
    """The us-east-1 list price from `mlrollout cost`'s table (one definition), used when the Price List API cannot
    be asked (no pricing:GetProducts permission, the sandbox)."""
    listed = INSTANCE_PRICES.get(instance_type)
    if listed is None:
        return None
    return InstancePrice(instance_type, listed.each, f"{listed.source} ({listed.confirmed})")


def price_from_price_list(pricing: Any, instance_type: str, region: str) -> InstancePrice | None:
    """The on-demand hosting price of `instance_type` in `region` from the AWS Price List Query API
    (https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html)."""
    answer = pricing.get_products(
        ServiceCode="AmazonSageMaker",
        Filters=[
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
            {"Type": "TERM_MATCH", "Field": "component", "Value": "Hosting"},
        ],
        MaxResults=20,
    )
    usd = hourly_on_demand(answer.get("PriceList", []))
    if usd is None:
        return None
    return InstancePrice(instance_type, usd, f"AWS Price List API (pricing:GetProducts), {region} on-demand Hosting")


def hourly_on_demand(price_list: list[str]) -> float | None:
    """The hourly USD price of the first on-demand term in a GetProducts PriceList (JSON documents)."""
    for document in price_list:
        product = json.loads(document)
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                usd = (dimension.get("pricePerUnit") or {}).get("USD")
                if usd is not None and str(dimension.get("unit", "")).lower().startswith("hr") and float(usd) > 0:
                    return float(usd)
    return None


# traffic ------------------------------------------------------------------------------------------------------
class TrafficSender:
    """Callers of the endpoint through sagemaker-runtime InvokeEndpoint, so the judge has evidence: requests
    shaped like the demo's callers, `rps` a second in `workers` threads, every answer counted."""

    def __init__(self, runtime: Any, endpoint: str, *, rps: float, workers: int = 4, seed: int = 7) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.rps = rps
        self.workers = max(1, min(workers, int(rps) or 1))
        self.seed = seed
        self.answers: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> TrafficSender:
        if self.rps <= 0:
            return self
        for number in range(self.workers):
            thread = threading.Thread(target=self._send, args=(number,), name=f"smoke-traffic-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def _send(self, number: int) -> None:
        import random

        from mlrollout_sandbox.dataplane import FeatureProfile

        rng = random.Random(f"{self.seed}:{number}")
        callers = FeatureProfile()
        interval = self.workers / self.rps
        while not self._stop.is_set():
            began = time.monotonic()
            self._count(self._invoke(json.dumps(callers.request(rng)).encode()))
            self._stop.wait(max(0.0, interval - (time.monotonic() - began)))

    def _invoke(self, body: bytes) -> str:
        try:
            answer = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint, Body=body, ContentType="application/json", Accept="application/json"
            )
            answer["Body"].read()
            return f"200 from {answer.get('InvokedProductionVariant', '?')}"
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ModelError":  # the model answered with an error: what the judge sees as a 5XX
                return "model error"
            if code in {"ValidationError", "ValidationException"}:  # no endpoint yet, or not InService
                return "endpoint not ready"
            return code or "client error"
        except BotoCoreError as exc:
            return type(exc).__name__

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.answers[outcome] += 1

    def summary(self) -> dict[str, int]:
        with self._lock:
            return dict(self.answers)


# where it runs ----------------------------------------------------------------------------------------------
class Target(Protocol):
    kind: str
    region: str
    poll_seconds: float
    rollout_timeout_seconds: float
    endpoint_timeout_seconds: float
    default_rps: float
    teardown_gaps: dict[str, str]

    def client(self, service: str) -> Any: ...
    def started(self) -> bool: ...
    def now(self) -> datetime: ...
    def deploy(self, names: Names, say: Say) -> dict[str, str]: ...
    def resources(self, names: Names) -> list[Resource]: ...
    def stack_exists(self, names: Names) -> bool: ...
    def delete_stack(self, names: Names, say: Say) -> list[str]: ...
    def simulate_callers(self, endpoint: str) -> None: ...
    def instance_price(self, instance_type: str) -> InstancePrice: ...
    def close(self) -> None: ...


class AwsTarget:
    """The account and region of the default credentials chain (AWS_PROFILE, AWS_REGION, ...)."""

    kind = "aws"
    poll_seconds = 15.0
    rollout_timeout_seconds = 75 * 60.0
    endpoint_timeout_seconds = 30 * 60.0
    default_rps = 10.0
    teardown_gaps: dict[str, str] = {}

    def __init__(self, *, profile: str | None, region: str | None, sam: Path = SAM) -> None:
        import boto3
        from botocore.config import Config

        self.session = boto3.session.Session(profile_name=profile, region_name=region)
        if not self.session.region_name:
            raise SmokeFailed("no AWS region is set: set AWS_REGION (or AWS_PROFILE with a region), or pass --region")
        self.region = str(self.session.region_name)
        self.profile = profile
        self.sam = sam
        self._config = Config(retries={"mode": "standard", "max_attempts": 8})
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self._config)  # type: ignore[call-overload]
        return self._clients[service]

    def started(self) -> bool:
        return True  # a failed `sam deploy` can leave a stack behind: always look

    def now(self) -> datetime:
        return datetime.now(UTC)

    def identity(self) -> str:
        found = self.client("sts").get_caller_identity()
        return f"account {found['Account']} as {found['Arn']}, region {self.region}"

    def deploy(self, names: Names, say: Say) -> dict[str, str]:
        if not self.sam.exists():
            raise SmokeFailed(f"the SAM CLI is not at {self.sam}: run `make smoke` (it installs it) or pass --sam")
        build = ROOT / ".aws-sam" / "smoke"
        account = ["--region", self.region, *(["--profile", self.profile] if self.profile else [])]
        say("sam build (a few minutes the first time)")
        self._run([str(self.sam), "build", "--template-file", "template.yaml", "--build-dir", str(build)])
        say(f"sam deploy {names.stack}")
        self._run(
            [
                str(self.sam), "deploy", "--template-file", str(build / "template.yaml"),
                "--stack-name", names.stack, "--resolve-s3", "--s3-prefix", names.stack,
                "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
                "--no-confirm-changeset", "--no-fail-on-empty-changeset",
                "--tags", f"mlrollout-smoke={names.run_id}", *account,
            ]
        )  # fmt: skip
        stack = self.client("cloudformation").describe_stacks(StackName=names.stack)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _run(self, command: list[str]) -> None:
        environment = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        environment["SAM_CLI_TELEMETRY"] = "0"
        done = subprocess.run(command, cwd=ROOT, env=environment, check=False)
        if done.returncode:
            raise SmokeFailed(f"`{' '.join(command[:2])}` failed (exit {done.returncode}); its output is above")

    def resources(self, names: Names) -> list[Resource]:
        if not self.stack_exists(names):
            return []
        paginator = self.client("cloudformation").get_paginator("list_stack_resources")
        return [
            Resource(r["LogicalResourceId"], r["ResourceType"], r["PhysicalResourceId"])
            for page in paginator.paginate(StackName=names.stack)
            for r in page["StackResourceSummaries"]
            if r.get("PhysicalResourceId")
        ]

    def stack_exists(self, names: Names) -> bool:
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=names.stack)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return False
            raise
        return any(s["StackStatus"] != "DELETE_COMPLETE" for s in stacks)

    def delete_stack(self, names: Names, say: Say) -> list[str]:
        from botocore.exceptions import WaiterError

        cloudformation = self.client("cloudformation")
        cloudformation.delete_stack(StackName=names.stack)
        problems: list[str] = []
        try:
            cloudformation.get_waiter("stack_delete_complete").wait(
                StackName=names.stack, WaiterConfig={"Delay": 15, "MaxAttempts": 160}
            )
        except WaiterError as exc:
            events = cloudformation.describe_stack_events(StackName=names.stack)["StackEvents"]
            problems = [
                f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
                for e in events
                if e.get("ResourceStatus") == "DELETE_FAILED"
            ] or [str(exc)]
        problems.extend(self._delete_sam_uploads(names))
        return problems

    def _delete_sam_uploads(self, names: Names) -> list[str]:
        """`sam deploy --resolve-s3` uploaded the functions' and layers' code under <stack>/ in SAM's own bucket."""
        try:
            managed = self.client("cloudformation").describe_stacks(StackName="aws-sam-cli-managed-default")
        except ClientError:
            return []
        outputs = {o["OutputKey"]: o["OutputValue"] for o in managed["Stacks"][0].get("Outputs", [])}
        bucket = outputs.get("SourceBucket")
        if not bucket:
            return []
        s3 = self.client("s3")
        problems: list[str] = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=f"{names.stack}/"):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            if doomed:
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
                problems.extend(f"s3://{bucket}/{e.get('Key')}: {e.get('Message')}" for e in answer.get("Errors", []))
        return problems

    def simulate_callers(self, endpoint: str) -> None:
        return None  # real callers are the script's own TrafficSender

    def instance_price(self, instance_type: str) -> InstancePrice:
        try:
            # The Price List Query API answers in us-east-1 (and ap-south-1) whatever region is priced.
            found = price_from_price_list(
                self.session.client("pricing", region_name="us-east-1"), instance_type, self.region
            )
        except (ClientError, BotoCoreError, ValueError):
            found = None
        return found or listed_price(instance_type, self.region)

    def close(self) -> None:
        return None


class SandboxTarget:
    """The embedded sandbox, started for this run: the same template deployed by the sandbox's deployer."""

    kind = "sandbox"
    region = "us-east-1"
    poll_seconds = 0.2
    rollout_timeout_seconds = 300.0
    endpoint_timeout_seconds = 60.0
    default_rps = 2.0
    # moto answers both with NotImplementedError, and the sandbox's emulator does not add them: the run's model
    # package group stays in the (throwaway) sandbox. On AWS the same step deletes it.
    teardown_gaps = {
        "delete_model_packages": "model package group and versions: not deleted in the sandbox (moto 5.2.5 "
        "implements neither DeleteModelPackage nor DeleteModelPackageGroup)"
    }
    CALLERS_RPS = 12.0  # the demo's simulated callers: enough for the judge's default minimum at a 10% canary

    def __init__(self, *, warp: float = 600.0, seed: int = 7) -> None:
        self.warp = warp
        self.seed = seed
        self.sandbox: Any = None

    def client(self, service: str) -> Any:
        if self.sandbox is None:
            raise SmokeFailed("the sandbox is not running")
        return self.sandbox.client(service)

    def started(self) -> bool:
        return self.sandbox is not None

    def now(self) -> datetime:
        return datetime.now(UTC) if self.sandbox is None else self.sandbox.clock.now()

    def deploy(self, names: Names, say: Say) -> dict[str, str]:
        from mlrollout_sandbox.session import Sandbox

        say("starting the sandbox and deploying template.yaml into it")
        self.sandbox = Sandbox(warp=self.warp, seed=self.seed, stack_name=names.stack).start()
        return {key: str(value) for key, value in self.sandbox.stack.outputs.items()}

    def resources(self, names: Names) -> list[Resource]:
        if self.sandbox is None or self.sandbox.stack is None:
            return []
        return [Resource(r.logical_id, r.type, r.physical_id) for r in self.sandbox.stack.resources.values()]

    def stack_exists(self, names: Names) -> bool:
        return self.sandbox is not None and self.sandbox.stack is not None and not self.sandbox.stack.deleted

    def delete_stack(self, names: Names, say: Say) -> list[str]:
        from mlrollout_sandbox.deployer import StackDeleteError

        try:
            self.sandbox.stack.delete()
        except StackDeleteError as exc:
            return list(exc.errors)
        return []

    def simulate_callers(self, endpoint: str) -> None:
        from mlrollout_sandbox.dataplane import TrafficProfile

        self.sandbox.send_traffic(endpoint, TrafficProfile(rps=self.CALLERS_RPS))

    def instance_price(self, instance_type: str) -> InstancePrice:
        return listed_price(instance_type, self.region)  # the sandbox has no Price List API

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.stop()


def listed_price(instance_type: str, region: str) -> InstancePrice:
    listed = _listed_in_us_east_1(instance_type)
    if listed is None:
        return InstancePrice(instance_type, 0.0, "no price known for this instance type: not priced")
    if region != "us-east-1":
        return InstancePrice(instance_type, listed.usd_per_hour, f"{listed.source}; {region} may differ")
    return listed


# one rollout ------------------------------------------------------------------------------------------------
@dataclass
class Rollout:
    version: str
    expected: str
    deployment_id: str
    key: str
    outcome: str | None = None
    reason: str = ""
    execution: str | None = None
    execution_status: str | None = None
    cost: Breakdown | None = None
    cost_note: str = ""

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.expected


def wait_for_outcome(target: Target, table: str, rollout: Rollout, say: Say) -> None:
    """Poll the upload's deployment record until it has an outcome, then its execution until it ends."""
    from mlrollout.adapters.ledger import DynamoDeployments

    records = DynamoDeployments(target.client("dynamodb"), table)
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + target.rollout_timeout_seconds
    state, record = None, None
    while True:
        record = records.get(rollout.deployment_id)
        if record is not None and record.get("state") != state:
            state = record.get("state")
            say(f"  {rollout.version}: {state}")
        if record is not None and record.get("outcome"):
            break
        if time.monotonic() > deadline:
            seen = f"it is {state}" if record else "no deployment record was written (see the UploadDeadLetterQueue)"
            raise SmokeFailed(
                f"{rollout.version} had no outcome after {target.rollout_timeout_seconds / 60:.0f} min: {seen}"
            )
        time.sleep(target.poll_seconds)
    rollout.outcome = str(record["outcome"])
    rollout.reason = str(record.get("reason") or "")
    rollout.execution = str(record.get("execution_id") or "") or None
    if rollout.execution:
        # The outcome is written a step before the execution ends; the cost reads its whole history.
        while True:
            status = str(sfn.describe_execution(executionArn=rollout.execution)["status"])
            if status != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(target.poll_seconds)
        rollout.execution_status = status
    cost_of(target, record, rollout)


def cost_of(target: Target, record: dict[str, Any], rollout: Rollout) -> None:
    """`mlrollout cost` for this deployment: its control-plane cost and its canary's extra instance-hours."""
    from mlrollout_cli.cost import CostUnavailable, breakdown, gather

    try:
        result = breakdown(gather(target.client, record))
    except (CostUnavailable, ClientError, BotoCoreError) as exc:
        rollout.cost_note = f"not costed: {exc}"
        return
    rollout.cost = result


# the run ----------------------------------------------------------------------------------------------------
@dataclass
class SmokeReport:
    target: str
    region: str
    stack: str
    model: str
    started: str
    image: str = ""
    rollouts: list[Rollout] = field(default_factory=list)
    traffic: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    teardown: TeardownResult | None = None
    instance_price: InstancePrice | None = None
    endpoint_instance_hours: float = 0.0
    control_plane_usd: float = 0.0
    instance_usd: float = 0.0
    wall_seconds: float = 0.0

    @property
    def promoted_then_rolled_back(self) -> bool:
        return [r.outcome for r in self.rollouts] == [EXPECTED[HEALTHY], EXPECTED[FAULTY]]

    @property
    def passed(self) -> bool:
        return self.error is None and self.promoted_then_rolled_back and bool(self.teardown and self.teardown.clean)

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["passed"] = self.passed
        found["promoted_then_rolled_back"] = self.promoted_then_rolled_back
        return found


def run_smoke(
    target: Target, names: Names, *, say: Say, image: str | None = None, rps: float | None = None
) -> SmokeReport:
    from mlrollout.domain.naming import deployment_id

    began = time.monotonic()
    report = SmokeReport(target.kind, target.region, names.stack, names.model, datetime.now(UTC).isoformat())
    sender: TrafficSender | None = None
    try:
        report.image = image or serving_image(target.region)
        outputs = target.deploy(names, say)
        bucket, table = outputs["ArtifactBucketName"], outputs["DeploymentsTableName"]
        s3 = target.client("s3")
        s3.put_object(
            Bucket=bucket,
            Key=f"models/{names.model}/rollout.yaml",
            Body=rollout_yaml(report.image, target.region).encode(),
        )
        target.simulate_callers(names.model)
        sender = TrafficSender(
            target.client("sagemaker-runtime"), names.model, rps=target.default_rps if rps is None else rps
        ).start()
        for version in (HEALTHY, FAULTY):
            body = artifact(version)
            rollout = Rollout(
                version=version,
                expected=EXPECTED[version],
                deployment_id=deployment_id(names.model, hashlib.sha256(body).hexdigest()),
                key=f"models/{names.model}/{version}/model.tar.gz",
            )
            report.rollouts.append(rollout)
            say(f"uploading s3://{bucket}/{rollout.key} (expected: {rollout.expected})")
            s3.put_object(Bucket=bucket, Key=rollout.key, Body=body, Metadata={"notes": "mlrollout smoke test"})
            wait_for_outcome(target, table, rollout, say)
            say(f"{version}: {rollout.outcome} ({rollout.reason[:160]})")
            if not rollout.as_expected:
                raise SmokeFailed(f"{version} was expected to be {rollout.expected}, and was {rollout.outcome}")
    except SmokeFailed as exc:
        report.error = str(exc)
        say(f"smoke run failed: {exc}")
    except Exception as exc:  # whatever broke, the teardown below must still run; the traceback says where
        report.error = f"{type(exc).__name__}: {exc}"
        say(f"smoke run failed:\n{traceback.format_exc()}")
    except KeyboardInterrupt:
        report.error = "interrupted"
        say("interrupted: tearing down")
    finally:
        if sender is not None:
            sender.stop()
            report.traffic = sender.summary()
        if target.started():
            with _teardown_shield(say):
                report.teardown = teardown(target, names, say)
        price(report, target)
        report.wall_seconds = round(time.monotonic() - began, 1)
    return report


def teardown(target: Target, names: Names, say: Say) -> TeardownResult:
    return Teardown(
        target.client,
        stack=names.stack,
        model=names.model,
        resources=target.resources(names),
        delete_stack=lambda: target.delete_stack(names, say),
        stack_exists=lambda: target.stack_exists(names),
        now=target.now,
        poll_seconds=target.poll_seconds,
        endpoint_timeout_seconds=target.endpoint_timeout_seconds,
        say=say,
        gaps=target.teardown_gaps,
    ).run()


def price(report: SmokeReport, target: Target) -> None:
    """The estimate: the endpoint's lifetime and each canary's extra hours at the instance price, plus what
    `mlrollout cost` counted for each rollout's control plane."""
    life = report.teardown.endpoint if report.teardown else None
    hours = 0.0
    if life is not None and life.created is not None and life.deleted is not None:
        hours = max(0.0, (life.deleted - life.created).total_seconds() / 3600) * max(1, life.instances)
    hours += sum(r.cost.canary.instance_hours for r in report.rollouts if r.cost is not None)
    report.endpoint_instance_hours = round(hours, 4)
    report.instance_price = target.instance_price((life.instance_type if life else None) or INSTANCE_TYPE)
    report.instance_usd = round(hours * report.instance_price.usd_per_hour, 6)
    report.control_plane_usd = round(sum(r.cost.total_usd for r in report.rollouts if r.cost is not None), 6)


@contextlib.contextmanager
def _teardown_shield(say: Say) -> Iterator[None]:
    """Ctrl-C during teardown asks first: a second one abandons it (and what is left is then not listed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        pressed += 1
        if pressed == 1:
            say("tearing down: press Ctrl-C again to abandon the teardown (resources would be left running)")
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# the report ---------------------------------------------------------------------------------------------------
def print_report(report: SmokeReport, say: Say) -> None:
    from rich.console import Console

    from mlrollout_cli.cost import print_breakdown

    say("")
    say(f"smoke test on {report.target} ({report.region}): stack {report.stack}, model {report.model}")
    for rollout in report.rollouts:
        mark = "ok" if rollout.as_expected else "UNEXPECTED"
        say(f"  {rollout.version}: {rollout.outcome} (expected {rollout.expected}) [{mark}] {rollout.reason[:200]}")
    if report.traffic:
        say(f"  traffic sent by the script: {dict(sorted(report.traffic.items()))}")
    teardown_result = report.teardown
    if teardown_result is not None:
        say(f"created, and deleted ({len(teardown_result.deleted)}):")
        for line in teardown_result.deleted:
            say(f"  - {line}")
        for line in teardown_result.problems:
            say(f"  could not delete: {line}")
        for line in teardown_result.not_emulated:
            say(f"  left: {line}")
        if teardown_result.remaining:
            say("STILL THERE (delete these by hand):")
            for line in teardown_result.remaining:
                say(f"  - {line}")
        else:
            say("nothing this run created is left (the KMS key, if any, is pending deletion: KMS waits 7 days)")
    console = Console()
    for rollout in report.rollouts:
        if rollout.cost is not None:
            print_breakdown(console, rollout.cost)
        elif rollout.cost_note:
            say(f"{rollout.version}: {rollout.cost_note}")
    instance = report.instance_price
    if instance is not None:
        say(
            f"estimated cost: {report.endpoint_instance_hours:.3f} instance-hours of {instance.instance_type} x "
            f"${instance.usd_per_hour:g}/h = ${report.instance_usd:.4f}, plus ${report.control_plane_usd:.6f} of "
            f"control plane (Step Functions, Lambda, CloudWatch GetMetricData, S3, SNS; `mlrollout cost`). An "
            f"estimate: instance hours from the endpoint's creation to its deletion plus each canary's extra "
            f"hours; price: {instance.source}. Not counted: the endpoint's storage volume, data processed, KMS, "
            f"DynamoDB, CloudFormation and log storage (fractions of a cent for one run)."
        )
    say(f"took {report.wall_seconds:.0f} s; {'PASSED' if report.passed else 'FAILED'}")
    if report.error:
        say(f"error: {report.error}")


# the command ------------------------------------------------------------------------------------------------
def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def choose_target(arguments: argparse.Namespace, say: Say) -> Target:
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if arguments.sandbox or endpoint_url:
        if endpoint_url and not arguments.sandbox:
            say(f"AWS_ENDPOINT_URL is set ({endpoint_url}): running against a sandbox this script starts")
        return SandboxTarget(warp=arguments.warp)
    return AwsTarget(profile=arguments.profile, region=arguments.region, sam=Path(arguments.sam))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlrollout_dev.smoke",
        description="One real rollout end to end (a healthy version promoted, a faulty one rolled back), then "
        "everything it created deleted. Against AWS (default credentials chain) unless --sandbox.",
    )
    parser.add_argument("--sandbox", action="store_true", help="Run in the embedded sandbox instead of AWS.")
    parser.add_argument("--profile", default=os.environ.get("AWS_PROFILE"), help="AWS profile (AWS_PROFILE).")
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION"),  # boto3 itself reads only AWS_DEFAULT_REGION and the profile's
        help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's).",
    )
    parser.add_argument("--image", default=None, help="Serving image URI (default: SageMaker's scikit-learn image).")
    parser.add_argument("--rps", type=float, default=None, help="Requests per second the script sends.")
    parser.add_argument("--sam", default=str(SAM), help="The SAM CLI (default: .venv-sam/bin/sam).")
    parser.add_argument("--warp", type=float, default=600.0, help="Sandbox seconds per wall-clock second.")
    parser.add_argument("--yes", action="store_true", help="Do not ask before spending money in the account.")
    parser.add_argument("--json", dest="json_path", default=None, help="Also write the report as JSON here.")
    arguments = parser.parse_args(argv)

    def say(text: str) -> None:
        print(text, flush=True)

    # `kill` (a CI job cancelled) tears down like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        target = choose_target(arguments, say)
        if isinstance(target, AwsTarget):
            say(f"running against {target.identity()}")
            if not arguments.yes and sys.stdin.isatty():
                answer = input(
                    "this deploys a stack and a SageMaker endpoint (ml.t2.medium) for about 40-60 minutes, "
                    "then deletes them: about $0.10 at us-east-1 prices (README: budget $0.20). Go on? [y/N] "
                )
                if answer.strip().lower() not in {"y", "yes"}:
                    return 2
    except (SmokeFailed, ClientError, BotoCoreError) as exc:
        say(f"error: {exc}")
        return 2
    names = Names.new()
    try:
        report = run_smoke(target, names, say=say, image=arguments.image, rps=arguments.rps)
    finally:
        target.close()
    print_report(report, say)
    if arguments.json_path:
        Path(arguments.json_path).write_text(json.dumps(report.as_dict(), indent=2, default=str))
    if report.error == "interrupted":
        return 130
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
