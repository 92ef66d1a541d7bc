"""`mlrollout models` against the sandbox, run as an operator runs it: its own process, the sandbox's environment
(stdout a pipe, so the table comes as tab-separated lines)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrollout_files.package import package_model
from support import run_cli

sandbox = pytest.mark.sandbox

DEMO = Path(__file__).resolve().parents[2] / "tools" / "mlrollout_sandbox" / "demo_models" / "fraud-scorer"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
HEADER = ["model", "endpoint", "serving", "latest", "at", "drift", "note"]


@pytest.fixture(scope="module")
def running() -> Iterator[Any]:
    from mlrollout_sandbox.session import Sandbox

    with Sandbox(warp=600, seed=17) as started:
        yield started


@pytest.fixture(scope="module")
def models(running: Any) -> dict[str, str]:
    """A model promoted on its first upload, labelled v7 (the registry numbers it package 1); one configured and
    never uploaded; one uploaded without a rollout.yaml (rejected, so nothing of it serves)."""
    suffix = uuid.uuid4().hex[:4]
    names = {"promoted": f"md-live-{suffix}", "configured": f"md-new-{suffix}", "rejected": f"md-bad-{suffix}"}
    running.put_config(names["promoted"], f"image: {IMAGE}\n")
    running.put_config(names["configured"], f"image: {IMAGE}\n")
    uploads = [
        running.upload(names["promoted"], "v7", package_model(DEMO / "v1")),
        running.upload(names["rejected"], "v1", package_model(DEMO / "v1")),
    ]
    assert [running.wait_for_rollout(u, timeout=90).outcome for u in uploads] == ["promoted", "rejected"]
    return names


def rows(stdout: str) -> dict[str, dict[str, str]]:
    header, *lines = stdout.rstrip("\n").split("\n")
    assert header.split("\t") == HEADER
    return {fields[0]: dict(zip(HEADER, fields, strict=True)) for fields in (line.split("\t") for line in lines)}


@sandbox
def test_an_empty_stack_says_how_to_publish_the_first_model(running: Any) -> None:
    empty = f"empty-{uuid.uuid4().hex[:8]}"
    running.client("s3").create_bucket(Bucket=empty)

    listed = run_cli(running, "models", "--bucket", empty)
    as_json = run_cli(running, "models", "--bucket", empty, "--json")

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == (
        "no models yet: publish the first one with `mlrollout publish MODEL_DIR --model NAME --image URI`"
    )
    assert (as_json.returncode, json.loads(as_json.stdout)) == (0, [])


@sandbox
def test_each_model_with_the_version_serving_its_latest_deployment_and_drift(
    running: Any, models: dict[str, str]
) -> None:
    listed = run_cli(running, "models")

    assert listed.returncode == 0, listed.stderr
    found = rows(listed.stdout)  # piped: a header and one tab-separated line a model
    live = found[models["promoted"]]
    assert (live["endpoint"], live["serving"], live["drift"]) == (models["promoted"], "v7 (package 1)", "no")
    assert live["latest"] == "v7 promoted" and live["at"].startswith("20")
    configured = found[models["configured"]]
    assert (configured["serving"], configured["latest"]) == ("-", "no deployment yet")
    assert configured["note"] == (
        f"configured, no deployment yet: publish a version with `mlrollout publish MODEL_DIR --model "
        f"{models['configured']}`"
    )
    rejected = found[models["rejected"]]
    assert (rejected["serving"], rejected["latest"]) == ("-", "v1 rejected")
    assert rejected["note"].startswith("no rollout.yaml: its next upload is rejected until `mlrollout init")


@sandbox
def test_json_has_every_field_of_each_model(running: Any, models: dict[str, str]) -> None:
    listed = run_cli(running, "models", "--json")

    assert listed.returncode == 0, listed.stderr
    found = {m["model"]: m for m in json.loads(listed.stdout)}
    live = found[models["promoted"]]
    assert (live["serving_version"], live["serving_package"], live["endpoint_exists"]) == ("v7", 1, True)
    assert live["serving_deployment"] == live["latest_deployment"]
    assert (live["latest_outcome"], live["has_config"], live["uploaded_versions"]) == ("promoted", True, ["v7"])
    configured = found[models["configured"]]
    assert (configured["latest_deployment"], configured["endpoint_exists"], configured["uploaded_versions"]) == (
        None,
        False,
        [],
    )
    assert found[models["rejected"]]["has_config"] is False
