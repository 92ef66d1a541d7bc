"""The real state machine through its failure paths, with SageMaker faults injected in the sandbox.

The faults a rollout meets in operation (throttling, failed and silently rolled-back updates, crashes, metrics
outages, stops, alarms, rollbacks that do not verify) have their own suite: tests/reliability/test_faults.py.
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from mlrollout_files.package import package_model
from mlrollout_sandbox.dataplane import TrafficProfile
from mlrollout_sandbox.session import DEMO_MODELS, RolloutOutcome, Sandbox

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.4"
# The shipped defaults: steps 10% and 50%, 10-minute bakes, a look every 5 minutes, the default judge.
FAST = """image: {image}
{extra}"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(warp=600, seed=3) as running:
        yield running


@pytest.fixture
def model(sandbox: Sandbox) -> Iterator[str]:
    name = f"m-{uuid.uuid4().hex[:6]}"
    sandbox.send_traffic(name, TrafficProfile(rps=10))
    yield name
    assert sandbox.dataplane is not None
    sandbox.dataplane.stop_traffic(name)


Roll = Callable[..., RolloutOutcome]


@pytest.fixture
def roll(sandbox: Sandbox, model: str) -> Roll:
    def run(
        version: str, directory: str | None = None, *, extra: str = "", artifact: bytes | None = None
    ) -> RolloutOutcome:
        sandbox.put_config(model, FAST.format(image=IMAGE, extra=extra))
        body = (
            artifact if artifact is not None else package_model(DEMO_MODELS / "fraud-scorer" / (directory or version))
        )
        return sandbox.wait_for_rollout(sandbox.upload(model, version, body), timeout=180)

    return run


def endpoint(sandbox: Sandbox, name: str) -> tuple[str, str, dict[str, float]]:
    described = sandbox.client("sagemaker").describe_endpoint(EndpointName=name)
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    return described["EndpointStatus"], described["EndpointConfigName"], weights


def test_a_key_outside_the_layout_starts_nothing(sandbox: Sandbox) -> None:
    sfn = sandbox.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=sandbox.state_machine_arn)["executions"])
    sandbox.upload("x", "v1", b"data", key="uploads/model.tar.gz")
    sandbox.upload("x", "v1", b"data", key="models/x/v1/notes.txt")
    sandbox.advance(120)
    assert len(sfn.list_executions(stateMachineArn=sandbox.state_machine_arn)["executions"]) == before


def test_a_model_name_sagemaker_would_refuse_is_rejected_with_the_rule(sandbox: Sandbox) -> None:
    upload = sandbox.upload("fraud_scorer.v2", "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1"))
    outcome = sandbox.wait_for_rollout(upload)
    assert outcome.outcome == "rejected"
    assert "letters, digits and hyphens" in (outcome.cause or "")
    assert "models/fraud-scorer-v2/" in (outcome.cause or "")
    kept = sandbox.client("s3").head_object(Bucket=upload.bucket, Key=upload.key, VersionId=upload.version_id)
    assert kept["ContentLength"] > 0


def test_a_missing_rollout_yaml_is_rejected_with_what_to_write(sandbox: Sandbox, model: str) -> None:
    outcome = sandbox.wait_for_rollout(sandbox.upload(model, "v1", package_model(DEMO_MODELS / "fraud-scorer" / "v1")))
    assert outcome.outcome == "rejected"
    assert f"models/{model}/rollout.yaml does not exist" in (outcome.cause or "")
    assert "Register Model Version" not in outcome.states_entered()
    groups = sandbox.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert model not in {g["ModelPackageGroupName"] for g in groups}


def test_a_config_with_errors_is_rejected_listing_them_all(sandbox: Sandbox, model: str, roll: Roll) -> None:
    outcome = roll("v1", extra="instance_type: m5.large\nstrategy_x: 1\n")
    assert outcome.outcome == "rejected"
    assert "instance_type:" in (outcome.cause or "")
    assert "strategy_x: unknown field; did you mean 'strategy'?" in (outcome.cause or "")


def test_a_failing_pre_traffic_check_rolls_back_before_any_traffic(sandbox: Sandbox, model: str, roll: Roll) -> None:
    assert roll("v1").outcome == "promoted"
    _, config_before, _ = endpoint(sandbox, model)
    sample = (
        'pre_traffic:\n  sample_request:\n    body: \'{"features": {"amount": 5, "merchant": "travel", "hour": 2}}\'\n'
    )
    outcome = roll("v3", "v3-faulty", extra=sample)
    assert outcome.outcome == "rolled back"
    assert "answered the sample request with HTTP" in (outcome.cause or "")
    assert "Shift Traffic" not in outcome.states_entered()
    assert endpoint(sandbox, model)[1:] == (config_before, {"v1": 1.0})


def test_a_first_deployment_that_fails_leaves_no_endpoint(sandbox: Sandbox, model: str, roll: Roll) -> None:
    sandbox.aws.emulator.faults.arm("sagemaker.create_endpoint", "fail", endpoint=model)
    outcome = roll("v1")
    assert outcome.outcome == "rolled back"
    assert "Failed" in (outcome.cause or "")
    endpoints = sandbox.client("sagemaker").list_endpoints()["Endpoints"]
    assert model not in {e["EndpointName"] for e in endpoints}


def test_operators_are_told_about_every_outcome(sandbox: Sandbox) -> None:
    sandbox.drain()
    documents = [json.loads(a["Message"]) for a in sandbox.alerts() if a.get("Subject", "").startswith("[mlrollout]")]
    events = {d["event"] for d in documents}
    assert {"promoted", "rolled_back", "rejected"} <= events
    for document in documents:
        assert document["reason"]
        assert document["links"]["execution"].startswith("https://us-east-1.console.aws.amazon.com/states/")


def test_the_data_plane_served_every_endpoint_without_errors(sandbox: Sandbox) -> None:
    assert sandbox.dataplane is not None
    assert sandbox.dataplane.errors == []


def test_a_restore_that_cannot_be_planned_fails_as_a_failed_rollback(sandbox: Sandbox) -> None:
    # Plan Restore's Catch leads to the rollback-failed path before any Roll Back step ran. Every JSONata field on
    # that path must evaluate (an undefined result is States.QueryEvaluationError on Step Functions), so the
    # execution ends with the product's own error and a reason, not with a query error.
    sfn = sandbox.client("stepfunctions")
    gone = sandbox.state_machine_arn.replace(":stateMachine:", ":execution:") + ":never-ran"
    restore = {"execution": gone, "status": "ABORTED", "deployment_id": "m-none#v1", "now": "2026-01-01T00:00:00Z"}
    started = sfn.start_execution(
        stateMachineArn=sandbox.state_machine_arn,
        name=f"restore-test-{uuid.uuid4().hex[:8]}",
        input=json.dumps({"restore": restore}),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=started))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the restore execution did not end"
        time.sleep(0.05)
    assert (described["status"], described.get("error")) == ("FAILED", "RollbackFailed")
    assert "the restore could not be planned" in described.get("cause", "")
