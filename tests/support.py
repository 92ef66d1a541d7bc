"""Helpers the tests import (fixtures live in conftest.py)."""

from __future__ import annotations

import functools
import io
import json
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"


# What CreateTable takes of a table's template properties; the rest (encryption with the stack's key, point-in-time
# recovery, time to live) needs the stack around it, which a handler test has no use for.
_TABLE_SHAPE = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


def table_from_template(logical_id: str, name: str) -> dict[str, Any]:
    """CreateTable's arguments for the template's table `logical_id` (its keys and indexes), named `name`: the tests'
    tables are the stack's, not a copy of them kept by hand."""
    properties = _template_resources()[logical_id]["Properties"]
    return {"TableName": name, **{key: properties[key] for key in _TABLE_SHAPE if key in properties}}


@functools.cache
def _template_resources() -> dict[str, Any]:
    from mlrollout_sandbox.template import load_template

    resources: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
    return resources


def make_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def s3_event(bucket: str, key: str, version_id: str | None, size: int) -> dict[str, Any]:
    """The sample event in events/, pointed at an object that exists."""
    event: dict[str, Any] = json.loads((EVENTS / "s3-object-created.json").read_text())
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update({"key": key, "version-id": version_id, "size": size})
    return event


def demo_artifact(version: str, salt: str = "") -> bytes:
    """A demo model's real package; `salt` changes its bytes (and so its sha256) without changing what it does."""
    from mlrollout_files.package import package_model
    from mlrollout_sandbox.session import DEMO_MODELS

    return package_model(DEMO_MODELS / "fraud-scorer" / version, extra={"BUILD": salt.encode()} if salt else None)


def invoke_cli(*args: str, env: dict[str, Any] | None = None) -> Any:
    """`mlrollout ARGS` in-process as a shell runs it (main.run, not typer's runner, which would swallow the error
    contract): a refusal is the `error: <what> (<fix>)` line on stderr, and the exit code the user sees."""
    import sys

    from typer.testing import CliRunner, Result

    from mlrollout_cli.main import run

    runner = CliRunner()
    with runner.isolation(env=env) as (stdout, stderr, output):
        code = run(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(runner, stdout.getvalue(), stderr.getvalue(), output.getvalue(), None, code, None)


def run_cli(sandbox: Any, *args: str, timeout: float = 120) -> Any:
    """The CLI as an operator runs it against the sandbox: its own process (the sandbox swaps os.environ while it
    runs handlers, which would race an in-process CLI), pointed at the sandbox by its environment."""
    import os
    import subprocess
    import sys

    environment = {**os.environ, **sandbox.environment(), "COLUMNS": "200"}
    command = [str(Path(sys.executable).with_name("mlrollout")), *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=False)


def hold_lease(stack: Any, rollout: dict[str, Any]) -> None:
    """The endpoint's lease for this rollout, as Acquire Lease leaves it (from whoever held it before): the steps
    that change an endpoint renew it first and refuse to run without it."""
    from datetime import datetime, timedelta

    from mlrollout.adapters.ledger import DynamoLeases

    leases = DynamoLeases(stack.client("dynamodb"), stack.state_table)
    endpoint, now = rollout["endpoint_name"], datetime.fromisoformat(rollout["started_at"])
    held = leases.holder(endpoint)
    if held is not None:
        leases.release(endpoint, held.holder)
    assert leases.take(endpoint, rollout["deployment_id"], rollout["execution_id"], now, now + timedelta(hours=1))


def a_rollout(config: Any = None, *, deployment_id: str = "d", bucket: str = "b", now: Any = None) -> Any:
    """Version v2 of model `ep` (endpoint `ep`), as Validate Artifact hands it on: for service tests."""
    from datetime import UTC, datetime

    from mlrollout.contracts import Artifact, Rollout
    from mlrollout.domain.config import RolloutConfig

    return Rollout(
        deployment_id=deployment_id,
        execution_id=f"x-{deployment_id}",
        model_name="ep",
        version_label="v2",
        endpoint_name="ep",
        artifact=Artifact(
            bucket=bucket, key="models/ep/v2/model.tar.gz", version_id=None, sha256="0" * 64, size=1, files=1
        ),
        config=config if config is not None else RolloutConfig(image=IMAGE),
        steps=[10.0],
        started_at=now or datetime(2026, 11, 25, 12, tzinfo=UTC),
    )


def a_deployment(*, first: bool = False) -> Any:
    """Plan Deployment's answer for `a_rollout()`: v2 as a canary beside v1 at 10%, or (first) a new endpoint."""
    from mlrollout.contracts import Deployment, Expectation

    if first:
        expected = Expectation(config_name="ep-v2", weights={"v2": 1.0})
        return Deployment(
            endpoint_name="ep",
            first_deployment=True,
            candidate_variant="v2",
            candidate_model="ep-v2",
            canary_config="ep-v2-canary",
            final_config="ep-v2",
            expected=expected,
        )
    return Deployment(
        endpoint_name="ep",
        first_deployment=False,
        candidate_variant="v2",
        candidate_model="ep-v2",
        canary_config="ep-v2-canary",
        final_config="ep-v2",
        previous_config="ep-v1",
        current_variant="v1",
        current_model="ep-v1",
        expected=Expectation(config_name="ep-v2-canary", weights={"v1": 0.9, "v2": 0.1}),
    )


def unreachable_client(service: str) -> Any:
    """A boto3 client for `service` aimed at the discard port, where nothing answers: one attempt, 1 s to connect."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # a dummy: this client never reaches AWS
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )


# ------------------------------------------------------------------------------- the embedded SageMaker's endpoints
ENDPOINT_POLL_SECONDS = 5.0  # real time a test waits for an endpoint to leave a status


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_while(sm: Any, endpoint: str, status: str) -> dict[str, Any]:
    """Poll DescribeEndpoint (bounded in real time) until the endpoint leaves `status`."""
    deadline = time.monotonic() + ENDPOINT_POLL_SECONDS
    while True:
        described: dict[str, Any] = sm.describe_endpoint(EndpointName=endpoint)
        if described["EndpointStatus"] != status:
            return described
        if time.monotonic() > deadline:
            raise AssertionError(f"{endpoint} still {status} after {ENDPOINT_POLL_SECONDS}s real time")
        time.sleep(0.02)


def ready_endpoint(sm: Any, service: Any, config: str) -> str:
    """A new endpoint on `config`, InService (created in 10 sandbox seconds; the service's duration restored)."""
    created = service.create_seconds
    service.create_seconds = 10
    try:
        endpoint = unique("ep")
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        assert wait_while(sm, endpoint, "Creating")["EndpointStatus"] == "InService"
    finally:
        service.create_seconds = created
    return endpoint


SANDBOX_ROLE = "arn:aws:iam::123456789012:role/sandbox-sagemaker"
SANDBOX_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0"


def sagemaker_model(sm: Any, data_url: str | None = None) -> str:
    """A model in the embedded SageMaker (an ECR image, the sandbox's role; its artifact when given)."""
    name = unique("model")
    container: dict[str, Any] = {"Image": SANDBOX_IMAGE}
    if data_url:
        container["ModelDataUrl"] = data_url
    sm.create_model(ModelName=name, ExecutionRoleArn=SANDBOX_ROLE, PrimaryContainer=container)
    return name
