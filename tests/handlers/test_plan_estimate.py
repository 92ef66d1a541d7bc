"""Plan Deployment states its expectations: the estimate from the current variant's last hour, on the plan, the
record and the `started` alert; never a reason to stop a rollout."""

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from mlrollout.adapters.ledger import DynamoDeployments
from mlrollout.adapters.traffic import CloudWatchTraffic
from mlrollout.domain.ledger import Lease
from mlrollout_cli.records import estimate_lines
from mlrollout_cli.status import _rollout as status_rollout
from support import IMAGE, hold_lease, unreachable_client

NOW = "2026-11-25T12:00:00Z"


@pytest.fixture
def model() -> str:
    return f"fraud-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def v2(stack: Any, upload: Any, handler: Any, model: str) -> tuple[dict, dict]:
    """Version v2 of `model`, registered and holding the endpoint's lease, with its deployment record."""
    event = upload(model=model, version="v2", config=f"image: {IMAGE}\n", metadata={})
    execution = f"arn:aws:states:us-east-1:123456789012:execution:m:{model}"
    rollout = handler("validate_artifact")({"event": event, "execution_id": execution, "now": NOW})
    registration = handler("register_model")({"rollout": rollout, "now": NOW})
    hold_lease(stack, rollout)
    DynamoDeployments(stack.client("dynamodb"), stack.deployments_table).claim(
        {"deployment_id": rollout["deployment_id"], "state": "deploying", "model_name": model, "created_at": NOW}
    )
    return rollout, registration


def serving(stack: Any, endpoint: str, variant: str = "v1") -> None:
    """An endpoint InService with one variant, as a previous rollout leaves it."""
    sm = stack.client("sagemaker")
    sm.create_model(
        ModelName=f"{endpoint}-m1",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{stack.bucket}/m.tar.gz"},
        ExecutionRoleArn=stack.role_arn,
    )
    variants = [{"VariantName": variant, "ModelName": f"{endpoint}-m1", "InstanceType": "ml.m5.large",
                 "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}]  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=f"{endpoint}-c1", ProductionVariants=variants)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-c1")
    deadline = time.monotonic() + 10
    while sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "the endpoint did not come up"
        time.sleep(0.05)


def traffic_of(stack: Any, endpoint: str, requests_per_minute: float, error_rate: float) -> None:
    """The last hour of the current variant, as SageMaker publishes it (one datapoint a minute)."""
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "v1"}]
    now = datetime.fromisoformat(NOW)
    for back in range(2, 62):
        at = now - timedelta(minutes=back)
        stack.client("cloudwatch").put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": requests_per_minute},
                {
                    "MetricName": "Invocation5XXErrors",
                    "Dimensions": dims,
                    "Timestamp": at,
                    "Value": requests_per_minute * error_rate,
                },
            ],
        )


def test_a_first_deployment_has_no_estimate(stack: Any, v2: tuple[dict, dict], handler: Any) -> None:
    rollout, registration = v2
    planned = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    assert planned["first_deployment"] is True
    assert planned["estimate"] is None


def test_the_plan_the_record_and_the_started_alert_carry_the_estimate(
    stack: Any, v2: tuple[dict, dict], handler: Any, model: str
) -> None:
    rollout, registration = v2
    serving(stack, model)
    # 0.1 rps: the 10% step's deadline grows to what its slow path needs; the 50% step cannot prove the errors even
    # within the longest deadline Plan would set, so it keeps its 40 minutes and the plan warns.
    traffic_of(stack, model, 6, 0.01)

    planned = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    estimate = planned["estimate"]
    assert estimate["requests_per_minute"] == pytest.approx(6)
    assert estimate["error_rate"] == pytest.approx(0.01)
    assert [p["phase"] for p in estimate["phases"]] == ["10%", "50%"]
    assert estimate["decides_in_time"] is False
    assert [p["deadline_minutes"] for p in estimate["phases"]] == [340, 40]
    assert "deadline is 40 minutes" in estimate["warning"]
    assert estimate["options"]

    record = DynamoDeployments(stack.client("dynamodb"), stack.deployments_table).get(rollout["deployment_id"])
    assert record is not None and record["state"] == "deploying"
    assert record["estimate"]["warning"] == estimate["warning"]
    # what `mlrollout publish` prints when the record has it, and `mlrollout status` shows for the lease holder
    lines = estimate_lines(record)
    assert lines[0].startswith("expected: ~1345 min to promote a healthy candidate at 6 requests/minute")
    assert lines[1:3] == [
        "  10%: ~335 min (200 candidate requests at 0.6/minute; deadline 340 min at this traffic (default 40))",
        lines[2],
    ]
    assert lines[2].startswith("  50%: ~1010 min (") and lines[2].endswith("past its 40-minute deadline)")
    assert lines[-1] == f"  WARNING: {estimate['warning']}"
    lease = Lease(model, rollout["deployment_id"], rollout["execution_id"], datetime.fromisoformat(NOW))
    shown = status_rollout(lease, {rollout["deployment_id"]: record}, datetime.fromisoformat(NOW))
    assert shown["expected"] == lines and shown["estimate"] == record["estimate"]

    handler("notify")({"event": "started", "execution_id": "x", "now": NOW, "rollout": rollout,
                       "registration": registration, "deployment": planned})  # fmt: skip
    (message,) = [m for m in stack.messages() if "started" in m.get("Subject", "")]
    assert f"Warning: {estimate['warning']}" in message["Message"]
    assert "expected 50%" in message["Message"]


def test_cloudwatch_down_means_no_estimate_and_says_why(
    stack: Any, v2: tuple[dict, dict], handler: Any, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrollout import wiring

    rollout, registration = v2
    serving(stack, model)
    unreachable = unreachable_client("cloudwatch")
    monkeypatch.setattr(wiring, "traffic", lambda: CloudWatchTraffic(unreachable))

    planned = handler("plan_deployment")({"rollout": rollout, "registration": registration, "now": NOW})
    assert planned["first_deployment"] is False
    assert planned["estimate"]["phases"] == []
    assert "GetMetricData failed" in planned["estimate"]["unavailable"]
