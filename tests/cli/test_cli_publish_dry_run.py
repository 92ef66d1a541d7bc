"""`mlrollout publish --dry-run` against the sandbox: the pipeline's own validation and plan, run as an operator runs
the command (its own process, the sandbox's environment), and nothing uploaded or started."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrollout.domain import naming
from mlrollout_files.package import package_model
from support import run_cli

sandbox = pytest.mark.sandbox

DEMO = Path(__file__).resolve().parents[2] / "tools" / "mlrollout_sandbox" / "demo_models" / "fraud-scorer"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
# The stack's own default steps, not the template's [10, 50]: the plan must come from the stack's settings.
STACK_STEPS = "20,60"


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    from mlrollout_sandbox.session import Sandbox

    with Sandbox(warp=600, seed=19, parameters={"CanarySteps": STACK_STEPS}) as started:
        yield started


@pytest.fixture(scope="module")
def serving(running: Any) -> Iterator[str]:
    """A model whose first version serves, with traffic for Plan's estimate; its rollout.yaml sets only the image."""
    from mlrollout_sandbox.dataplane import TrafficProfile

    name = f"dry-{uuid.uuid4().hex[:6]}"
    running.put_config(name, f"image: {IMAGE}\n")
    running.send_traffic(name, TrafficProfile(rps=10))
    assert running.wait_for_rollout(running.upload(name, "v1", package_model(DEMO / "v1")), timeout=90).outcome == (
        "promoted"
    )
    yield name
    running.dataplane.stop_traffic(name)


def keys(running: Any, model: str) -> list[str]:
    listed = running.client("s3").list_objects_v2(Bucket=running.bucket, Prefix=f"models/{model}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def executions(running: Any) -> list[str]:
    sfn = running.client("stepfunctions")
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=running.state_machine_arn)
    return [e["executionArn"] for page in pages for e in page["executions"]]


def record(running: Any, deployment_id: str) -> dict[str, Any] | None:
    from mlrollout.adapters.ledger import DynamoDeployments

    return DynamoDeployments(running.client("dynamodb"), running.stack.physical("DeploymentsTable")).get(deployment_id)


@sandbox
def test_the_plan_of_an_update_shows_each_step_and_uploads_nothing(running: Any, serving: str) -> None:
    before, started = keys(running, serving), executions(running)
    deployment = naming.deployment_id(serving, hashlib.sha256(package_model(DEMO / "v2")).hexdigest())

    planned = run_cli(running, "publish", str(DEMO / "v2"), "--model", serving, "--dry-run")

    assert planned.returncode == 0, planned.stdout + planned.stderr
    lines = planned.stdout.splitlines()
    assert f"would upload s3://{running.bucket}/models/{serving}/v2/model.tar.gz as {serving} v2" in lines
    assert "approval: auto: the judge decides" in lines
    assert any(line.startswith(f"plan on endpoint {serving}: canary, the judge looks every 5 min") for line in lines)
    # The stack's CanarySteps, each with the template's bake and the deadline Plan sets (4 bakes, or longer at low
    # traffic): the early step advances after its bake, the last on the judge's proof.
    steps = [line.strip() for line in lines if "% of traffic: " in line]
    assert [step.split(": ", 1)[0] for step in steps] == ["20% of traffic", "60% of traffic"], planned.stdout
    assert all(step.split(": ", 1)[1].startswith("bake 10 min, deadline ") for step in steps)
    assert steps[0].endswith("advances after its bake") and steps[1].endswith("advances on a PASS")
    assert "  then 100%: v2 promoted" in lines
    # Plan's estimate, as `publish` prints it from a deployment record. The sandbox's clock runs ahead of this
    # process's, whose last hour has no traffic: the estimate says so (on AWS both are the same clock).
    assert any(line.startswith("  expected: ") and "requests/minute" in line for line in lines)
    assert lines[-1] == (
        "dry run: the pipeline would accept this upload; nothing was uploaded and no rollout was started"
    )
    assert keys(running, serving) == before
    assert executions(running) == started
    assert record(running, deployment) is None


@sandbox
def test_json_carries_the_plan(running: Any, serving: str) -> None:
    planned = run_cli(running, "publish", str(DEMO / "v2"), "--model", serving, "--dry-run", "--json")

    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads(planned.stdout)
    assert (plan["dry_run"], plan["uploaded"], plan["version"], plan["first_deployment"]) == (True, False, "v2", False)
    assert [(p["kind"], p["percent"], p["bake_minutes"]) for p in plan["phases"]] == [
        ("step", 20.0, 10.0),
        ("step", 60.0, 10.0),
    ]
    assert all(p["deadline_minutes"] >= p["configured_deadline_minutes"] == 40 for p in plan["phases"])
    assert plan["estimate"]["unavailable"] is None and plan["estimate"]["requests_per_minute"] is not None
    assert plan["settings"].startswith("the stack's (function ")


@sandbox
def test_a_first_version_would_create_the_endpoint_and_its_rollout_yaml_but_writes_neither(running: Any) -> None:
    model = f"dry-new-{uuid.uuid4().hex[:6]}"

    planned = run_cli(running, "publish", str(DEMO / "v1"), "--model", model, "--image", IMAGE, "--dry-run")

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert (
        f"rollout.yaml: s3://{running.bucket}/models/{model}/rollout.yaml (publish would create it); validated as "
        "the pipeline validates it, with the stack's (function " in planned.stdout
    )
    assert f"plan: creates endpoint {model} with v1 serving all traffic once its pre-traffic check passes" in (
        planned.stdout
    )
    assert keys(running, model) == []


@sandbox
def test_an_upload_the_pipeline_would_reject_exits_2_with_its_reason(running: Any) -> None:
    model = f"dry-bad-{uuid.uuid4().hex[:6]}"
    running.put_config(model, f"image: {IMAGE}\nstrategy:\n  steps: [50, 10]\n")
    started = executions(running)

    refused = run_cli(running, "publish", str(DEMO / "v1"), "--model", model, "--dry-run")

    assert refused.returncode == 2, refused.stdout + refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(
        f"error: the pipeline would reject this upload: models/{model}/rollout.yaml has 1 problem: strategy.steps: "
        "must be strictly ascending"
    )
    assert keys(running, model) == [f"models/{model}/rollout.yaml"]
    assert executions(running) == started
