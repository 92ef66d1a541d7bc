"""A serverless endpoint end to end through the real template and state machine (issue 12): v1 creates it, v2 replaces
it all at once and is promoted, the data plane serves it, and an instance-based config for it is refused by Plan
before anything is touched."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, Sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
SAMPLE = '{"features": {"amount": 42.0, "merchant": "grocery", "hour": 13}}'
SERVERLESS = f"""image: {IMAGE}
pre_traffic:
  sample_request:
    body: '{SAMPLE}'
serverless:
  memory_mb: 2048
  max_concurrency: 20
  provisioned_concurrency: 2
strategy:
  type: all_at_once
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=12) as running:
        yield running


def first_version(sandbox: Sandbox, config: str = SERVERLESS) -> tuple[str, str]:
    """A new serverless endpoint serving v1: (its name, its config)."""
    model = f"spiky-{uuid.uuid4().hex[:6]}"
    sandbox.put_config(model, config)
    first = sandbox.wait_for_rollout(
        sandbox.upload(model, "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1")), timeout=180
    )
    assert first.outcome == "promoted", first.cause
    return model, sandbox.client("sagemaker").describe_endpoint(EndpointName=model)["EndpointConfigName"]


def test_a_serverless_endpoint_is_replaced_all_at_once_and_keeps_its_kind(sandbox: Sandbox) -> None:
    sm = sandbox.client("sagemaker")
    model, v1_config = first_version(sandbox)

    # The data plane serves the serverless variant, which has no instance count; an hour of it is the history the
    # next version is judged against.
    sandbox.send_traffic(model, TrafficProfile(rps=5))
    sandbox.advance(3600)
    answer = sandbox.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=model, Body=SAMPLE.encode(), ContentType="application/json"
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    published = sandbox.client("cloudwatch").list_metrics(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Dimensions=[{"Name": "EndpointName", "Value": model}],
    )["Metrics"]
    assert published, "the simulated traffic published no Invocations for the serverless variant"

    second = sandbox.wait_for_rollout(
        sandbox.upload(model, "v2", package_model(DEMO_MODELS / "fraud-scorer" / "v2")), timeout=240
    )
    assert second.outcome == "promoted", second.cause
    assert "Shift Traffic" not in second.states_entered()  # one switch, no canary steps
    # Judged after the switch against the endpoint's own minutes before it, and proven before being promoted.
    looks = second.task_results("Judge Canary")
    assert looks and looks[-1]["verdict"] == "PASS" and looks[-1]["weight"] == 100.0, looks
    record = json.loads(
        sandbox.client("s3")
        .get_object(Bucket=sandbox.bucket, Key=looks[-1]["record_uri"].split("/", 3)[3])["Body"]
        .read()
    )
    assert record["against_history"] is True
    switched = datetime.fromisoformat(record["history"]["window"]["end"])
    assert switched <= datetime.fromisoformat(record["window"]["start"])
    assert record["baseline_variant"] != record["canary_variant"]
    assert sum(record["raw"][record["baseline_variant"]]["inv"]) > 0
    described = sm.describe_endpoint(EndpointName=model)
    assert described["EndpointStatus"] == "InService"
    [variant] = described["ProductionVariants"]
    assert variant["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 20,
        "ProvisionedConcurrency": 2,
    }
    final = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert [v["VariantName"] for v in final["ProductionVariants"]] == [variant["VariantName"]]
    assert not final.get("DataCaptureConfig")
    assert described["EndpointConfigName"] != v1_config

    # An instance-based config for the serverless endpoint: Plan refuses it, and the endpoint is left as it was.
    sandbox.put_config(model, f"image: {IMAGE}\ninstance_type: ml.m5.large\n")
    third = sandbox.wait_for_rollout(
        sandbox.upload(model, "v3", package_model(DEMO_MODELS / "fraud-scorer" / "v3-faulty")), timeout=180
    )
    assert third.outcome == "rejected", third.cause
    assert "could not be rolled back" in (third.cause or "")
    assert "Deploy Candidate" not in third.states_entered()
    assert sm.describe_endpoint(EndpointName=model)["EndpointConfigName"] == described["EndpointConfigName"]


def test_a_serverless_update_that_fails_its_check_is_rolled_back_to_the_previous_config(sandbox: Sandbox) -> None:
    sm = sandbox.client("sagemaker")
    # A travel transaction: the faulty version has no merchant risk for it and answers 500.
    travel = '{"features": {"amount": 310.0, "merchant": "travel", "hour": 9}}'
    model, v1_config = first_version(sandbox, SERVERLESS.replace(SAMPLE, travel))

    faulty = sandbox.wait_for_rollout(
        sandbox.upload(model, "v3", package_model(DEMO_MODELS / "fraud-scorer" / "v3-faulty")), timeout=240
    )
    assert faulty.outcome == "rolled back", faulty.cause
    assert "Roll Back" in faulty.states_entered()
    described = sm.describe_endpoint(EndpointName=model)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", v1_config)
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 2048


def test_a_serverless_update_worse_than_the_endpoints_history_is_reverted(sandbox: Sandbox) -> None:
    sm = sandbox.client("sagemaker")
    model, v1_config = first_version(sandbox)
    sandbox.send_traffic(model, TrafficProfile(rps=5))
    sandbox.advance(3600)

    # The faulty version answers the grocery sample (the pre-traffic check passes) but fails unseen merchants:
    # only the judge, comparing its minutes with the endpoint's before the switch, can see it.
    faulty = sandbox.wait_for_rollout(
        sandbox.upload(model, "v3", package_model(DEMO_MODELS / "fraud-scorer" / "v3-faulty")), timeout=240
    )
    assert faulty.outcome == "rolled back", faulty.cause
    looks = faulty.task_results("Judge Canary")
    assert looks and looks[-1]["verdict"] == "FAIL", looks
    assert "error rate" in looks[-1]["reason"]
    described = sm.describe_endpoint(EndpointName=model)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", v1_config)
