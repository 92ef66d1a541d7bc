"""`mlrollout status`: the view of an endpoint (no network), and the command in a subprocess against the sandbox
during and after a rollout, with the AWS calls it made."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlrollout.domain import naming
from mlrollout_cli.records import decision_line, phase
from mlrollout_cli.status import _variants, show
from mlrollout_files.package import package_model

unit = pytest.mark.unit
sandbox = pytest.mark.sandbox

DEMO = Path(__file__).resolve().parents[2] / "tools" / "mlrollout_sandbox" / "demo_models" / "fraud-scorer"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
BIN = Path(sys.executable).parent


@unit
def test_weights_are_shares_of_traffic_and_instances_come_from_the_config() -> None:
    summaries = [
        {"VariantName": "v1", "CurrentWeight": 1.0, "DesiredWeight": 1.0, "CurrentInstanceCount": 2},
        {"VariantName": "v2", "CurrentWeight": 0.25, "DesiredWeight": 0.25, "CurrentInstanceCount": 1},
    ]
    config = [
        {"VariantName": "v1", "InstanceType": "ml.m5.large", "ModelName": "m-v1-abc"},
        {"VariantName": "v2", "InstanceType": "ml.g5.xlarge", "ModelName": "m-v2-def"},
    ]

    v1, v2 = _variants(summaries, config)

    assert (v1["weight_percent"], v1["instance_type"], v1["instance_count"], v1["model"]) == (
        80.0,
        "ml.m5.large",
        2,
        "m-v1-abc",
    )
    assert (v2["weight_percent"], v2["instance_type"], v2["instance_count"]) == (20.0, "ml.g5.xlarge", 1)
    [creating] = _variants([{"VariantName": "v1", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}], [])
    assert (creating["weight_percent"], creating["instance_count"], creating["instance_type"]) == (100.0, 1, None)


@unit
@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"state": "received"}, "validated, about to take the endpoint"),
        ({"state": "waiting", "waiting_for": "m-abc"}, "waiting for m-abc"),
        ({"state": "deploying"}, "deploying the candidate"),
        (
            {"state": "deploying", "decisions": [{"step": 0, "weight": 10.0, "action": "continue"}]},
            "baking step 1 at 10%",
        ),
        (
            {"state": "deploying", "decisions": [{"step": 1, "weight": 50.0, "action": "advance"}]},
            "step 2 at 50% passed",
        ),
        ({"state": "deploying", "decisions": [{"step": 0, "weight": 10.0, "action": "hold"}]}, "held at step 1 (10%)"),
        (
            {"state": "deploying", "decisions": [{"step": 0, "weight": 0.0, "shadow": True, "action": "continue"}]},
            "in shadow: judging the candidate on copies of production requests",
        ),
        ({"state": "deploying", "restore_execution": "arn"}, "restoring the previous config (the rollout was stopped)"),
        ({"state": "rolled_back", "outcome": "rolled_back"}, "rolled_back"),
    ],
)
def test_the_phase_of_a_rollout_in_words(record: dict[str, Any], expected: str) -> None:
    assert phase(record) == expected


@unit
def test_a_decision_in_one_line() -> None:
    decision = {"step": 0, "weight": 12.5, "verdict": "PASS", "action": "advance", "reason": "Canary v2 is healthy."}
    assert decision_line(decision) == "step 1 at 12.5%: PASS, advance: Canary v2 is healthy."
    shadow = {"step": 0, "weight": 0.0, "shadow": True, "verdict": "PASS", "action": "advance", "reason": "Proven."}
    assert decision_line(shadow) == "shadow: PASS, advance: Proven."


def an_endpoint() -> dict[str, Any]:
    return {
        "name": "fraud-scorer",
        "status": "Updating",
        "config": "fraud-scorer-v2-abc123-canary",
        "failure_reason": None,
        "pending_config": None,
        "variants": [
            {"name": "v1", "weight_percent": 50.0, "instance_type": "ml.m5.large", "instance_count": 1},
            {"name": "v2", "weight_percent": 50.0, "instance_type": "ml.m5.large", "instance_count": 1},
        ],
        "rollout": {
            "deployment_id": "fraud-scorer-33f63dc55f38",
            "version": "v2",
            "phase": "baking step 1 at 50%",
            "verdict": "INCONCLUSIVE",
            "action": "continue",
            "reason": "steps [50] not bounded yet [bold]",
            "lease_expired": False,
        },
        "queued": [{"version": "v3", "deployment_id": "fraud-scorer-0123456789ab"}],
    }


@unit
def test_the_table_shows_variants_the_rollout_and_the_queue_without_reading_markup() -> None:
    console = Console(record=True, width=200, force_terminal=True)

    show([an_endpoint()], console)

    text = console.export_text()
    for expected in ("v1 50% ml.m5.large x1", "fraud-scorer-33f63dc55f38", "baking step 1 at 50%",
                     "fraud-scorer: config fraud-scorer-v2-abc123-canary; last look: INCONCLUSIVE, continue: "
                     "steps [50] not bounded yet [bold]", "v3 (fraud-scorer-0123456789ab)"):  # fmt: skip
        assert expected in text


@unit
def test_piped_status_is_one_tab_separated_row_an_endpoint() -> None:
    out = io.StringIO()

    show([an_endpoint()], Console(file=out, force_terminal=False))

    header, row = out.getvalue().splitlines()
    assert header.split("\t") == [
        "endpoint",
        "status",
        "traffic",
        "deployment",
        "version",
        "phase",
        "queued",
        "details",
    ]
    assert row.split("\t")[:5] == [
        "fraud-scorer",
        "Updating",
        "v1 50% ml.m5.large x1, v2 50% ml.m5.large x1",
        "fraud-scorer-33f63dc55f38",
        "v2",
    ]


# ---------------------------------------------------------------------------------------------- the sandbox


def config(bake_minutes: float, deadline: float | None = None) -> str:
    deadline_line = f"  max_bake_minutes: {deadline}\n" if deadline is not None else ""
    return f"""image: {IMAGE}
strategy:
  steps: [50]
  bake_minutes: {bake_minutes}
{deadline_line}"""


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    from mlrollout_sandbox.session import Sandbox

    with Sandbox(warp=600, seed=13) as started:
        yield started


@pytest.fixture(scope="module")
def models(running: Any) -> tuple[str, str, str]:
    """Three endpoints on their first version: one for a long canary, one for a short rollout, one left alone.
    Little traffic: the sandbox clock slows down to serve it, and these rollouts only need enough to be judged."""
    from mlrollout_sandbox.dataplane import TrafficProfile

    suffix = uuid.uuid4().hex[:4]
    names = (f"st-long-{suffix}", f"st-short-{suffix}", f"st-idle-{suffix}")
    uploads = []
    for model, rps in zip(names, (2, 15, 0), strict=True):
        running.put_config(model, config(5))
        if rps:
            running.send_traffic(model, TrafficProfile(rps=rps))
        uploads.append(running.upload(model, "v1", package_model(DEMO / "v1")))
    assert [running.wait_for_rollout(u, timeout=90).outcome for u in uploads] == ["promoted"] * 3
    return names


def status(running: Any, *args: str) -> dict[str, Any]:
    """`mlrollout status --json` as an operator runs it against the sandbox: its own process and environment."""
    done = subprocess.run(
        [str(BIN / "mlrollout"), "status", "--json", *args],
        env={**os.environ, **running.environment()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in document["endpoints"]}


def deployment(model: str, body: bytes) -> str:
    return naming.deployment_id(model, hashlib.sha256(body).hexdigest())


def wait_for_record(running: Any, deployment_id: str, until: Any, timeout: float = 30) -> None:
    from mlrollout.adapters.ledger import DynamoDeployments

    records = DynamoDeployments(running.client("dynamodb"), running.stack.physical("DeploymentsTable"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until(records.get(deployment_id) or {}):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{deployment_id}'s record did not get there within {timeout} s")


@sandbox
def test_status_during_and_after_a_rollout(running: Any, models: tuple[str, str, str]) -> None:
    # The longest bake there is keeps one canary at 50% for as long as the test looks (the sandbox clock runs at
    # most 600 times wall time, and slower when the machine is busy); the other endpoint's rollout ends meanwhile.
    long, short, idle = models
    running.put_config(long, config(720, deadline=720))  # a deadline that fits in the execution's day
    running.put_config(short, f"image: {IMAGE}\n")  # the shipped defaults: 15 rps decides within them
    v2 = package_model(DEMO / "v2")
    v3 = package_model(DEMO / "v2", extra={"BUILD": b"3"})  # another build: another deployment
    running.upload(long, "v2", v2)
    ended = running.upload(short, "v2", v2)
    wait_for_record(running, deployment(long, v2), lambda record: record.get("decisions"))
    running.upload(long, "v3", v3)  # waits behind v2
    wait_for_record(running, deployment(long, v3), lambda record: record.get("state") == "waiting")
    assert running.wait_for_rollout(ended, timeout=60).outcome == "promoted"

    document = status(running)

    endpoints = by_name(document)
    assert set(endpoints) == {long, short, idle}
    canary = endpoints[long]
    assert [(v["name"], v["weight_percent"], v["instance_type"], v["instance_count"]) for v in canary["variants"]] == [
        ("v1", 50.0, "ml.m5.large", 1),
        ("v2", 50.0, "ml.m5.large", 1),
    ]
    rollout = canary["rollout"]
    assert (rollout["deployment_id"], rollout["version"], rollout["state"]) == (deployment(long, v2), "v2", "deploying")
    assert (rollout["step"], rollout["weight_percent"], rollout["phase"]) == (1, 50.0, "baking step 1 at 50%")
    assert rollout["verdict"] in {"PASS", "INCONCLUSIVE"} and rollout["reason"] and rollout["decisions"] >= 1
    assert [(q["deployment_id"], q["version"], q["state"]) for q in canary["queued"]] == [
        (deployment(long, v3), "v3", "waiting")
    ]
    after = endpoints[short]
    assert [(v["name"], v["weight_percent"], v["instance_count"]) for v in after["variants"]] == [("v2", 100.0, 1)]
    assert (after["status"], after["rollout"], after["queued"]) == ("InService", None, [])
    assert [(v["name"], v["weight_percent"]) for v in endpoints[idle]["variants"]] == [("v1", 100.0)]
    assert document["meta"]["aws_calls"] == {
        "DynamoDB.BatchGetItem": 1,  # the records of every holder and waiter at once
        "DynamoDB.Scan": 1,  # every lease and waiter at once
        "SageMaker.DescribeEndpoint": 3,
        "SageMaker.DescribeEndpointConfig": 3,
        "SageMaker.ListEndpoints": 1,
    }


@sandbox
def test_status_of_one_endpoint_reads_only_its_items(running: Any, models: tuple[str, str, str]) -> None:
    *_, quiet = models

    one = status(running, quiet)

    assert [e["name"] for e in one["endpoints"]] == [quiet]
    assert one["meta"]["aws_calls"] == {
        "DynamoDB.BatchGetItem": 1,  # its lease and waiting items
        "SageMaker.DescribeEndpoint": 1,
        "SageMaker.DescribeEndpointConfig": 1,
    }
    missing = subprocess.run(
        [str(BIN / "mlrollout"), "status", "no-such-endpoint"],
        env={**os.environ, **running.environment()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert "no endpoint no-such-endpoint" in missing.stderr
