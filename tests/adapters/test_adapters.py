"""The boto3 adapters against the embedded AWS (moto plus the sandbox's extensions)."""

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrollout.adapters.endpoints import SageMakerEndpoints
from mlrollout.adapters.metrics import CloudWatchMetrics
from mlrollout.adapters.registry import SageMakerRegistry
from mlrollout.domain.errors import ChangeRefused
from mlrollout.ports import PackageSpec
from support import IMAGE


@pytest.fixture
def name() -> str:
    return f"a-{uuid.uuid4().hex[:8]}"


def test_registry_group_is_created_once_and_packages_are_versioned(stack: Any, name: str) -> None:
    registry = SageMakerRegistry(stack.client("sagemaker"))
    registry.ensure_group(name, "versions", {"team": "x"})
    registry.ensure_group(name, "versions", {"team": "x"})  # idempotent
    spec = PackageSpec(
        group_name=name,
        description="d",
        image=IMAGE,
        model_data_url="s3://b/k",
        environment={},
        content_types=["application/json"],
        response_types=["application/json"],
        metadata={"k": "v"},
        client_token="t1",
    )
    first = registry.create_package(spec)
    retried = registry.create_package(spec)  # a Lambda retry: the same client token is the same package
    second = registry.create_package(replace(spec, client_token="t2"))
    assert retried == first
    assert (first.version, second.version) == (1, 2)
    assert first.status == "PendingManualApproval"
    registry.set_status(first.arn, "Approved", "x" * 2000, {"k": "v", "outcome": "promoted"})
    approved = registry.describe(first.arn)
    assert approved.status == "Approved"
    assert approved.metadata["outcome"] == "promoted"
    package = stack.client("sagemaker").describe_model_package(ModelPackageName=first.arn)
    assert len(package["ApprovalDescription"]) == 1024  # clipped to SageMaker's limit


def test_endpoints_observe_a_missing_endpoint_as_absent(stack: Any, name: str) -> None:
    endpoints = SageMakerEndpoints(stack.client("sagemaker"))
    seen = endpoints.observe(name)
    assert seen.exists is False
    assert endpoints.delete_config(name) is False
    assert endpoints.delete_model(name) is False
    endpoints.delete_endpoint(name)  # deleting what is gone is not an error


def test_endpoints_create_is_idempotent_and_observe_reports_weights(stack: Any, name: str) -> None:
    endpoints = SageMakerEndpoints(stack.client("sagemaker"))
    endpoints.create_model(name, IMAGE, "s3://b/k", {}, stack.role_arn, {})
    endpoints.create_model(name, IMAGE, "s3://b/k", {}, stack.role_arn, {})
    variant = {
        "VariantName": "v1",
        "ModelName": name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": 1.0,
    }
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 10,
        "DestinationS3Uri": "s3://b/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    endpoints.create_config(name, [variant], capture, {})
    endpoints.create_config(name, [variant], capture, {})
    endpoints.create_endpoint(name, name, {})
    seen = endpoints.observe(name)
    assert seen.exists is True
    assert seen.status == "Creating"
    assert seen.config_name == name


def test_endpoints_surface_sagemaker_refusals(stack: Any, name: str) -> None:
    endpoints = SageMakerEndpoints(stack.client("sagemaker"))
    with pytest.raises(ChangeRefused, match="refused UpdateEndpoint of endpoint .*Could not find endpoint"):
        endpoints.update_endpoint(name, "no-such-config")


def test_invoke_variant_reports_model_errors_with_the_original_status(stack: Any, name: str) -> None:
    service = stack.aws.emulator.services["sagemaker"]
    service.data_plane = lambda endpoint, variant, body, ctype, accept: (
        503,
        b"overloaded",
        "text/plain",
        variant or "v1",
    )
    try:
        endpoints = SageMakerEndpoints(stack.client("sagemaker"), stack.client("sagemaker-runtime"))
        endpoints.create_model(name, IMAGE, "s3://b/k", {}, stack.role_arn, {})
        variant = {
            "VariantName": "v1",
            "ModelName": name,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
        endpoints.create_config(
            name,
            [variant],
            {
                "EnableCapture": False,
                "InitialSamplingPercentage": 1,
                "DestinationS3Uri": "s3://b/c",
                "CaptureOptions": [{"CaptureMode": "Input"}],
            },
            {},
        )
        endpoints.create_endpoint(name, name, {})
        for _ in range(200):
            if endpoints.observe(name).status == "InService":
                break
            time.sleep(0.02)
        result = endpoints.invoke_variant(name, "v1", "{}", "application/json", "application/json")
        assert result.ok is False
        assert result.status == 503
        assert "overloaded" in result.body
    finally:
        service.data_plane = None


def test_metrics_fetch_one_batched_call_and_keep_missing_series_missing(stack: Any, name: str) -> None:
    cw = stack.client("cloudwatch")
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "v1"}]
    for minute in range(3):
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": dims,
                    "Timestamp": start + timedelta(minutes=minute),
                    "Value": 100,
                },
                {
                    "MetricName": "Invocation5XXErrors",
                    "Dimensions": dims,
                    "Timestamp": start + timedelta(minutes=minute),
                    "Value": 1,
                },
                {
                    "MetricName": "ModelLatency",
                    "Dimensions": dims,
                    "Timestamp": start + timedelta(minutes=minute),
                    "Values": [10_000, 50_000],
                    "Counts": [99, 1],
                    "Unit": "Microseconds",
                },
            ],
        )
    calls: list[str] = []
    client = stack.client("cloudwatch")
    client.meta.events.register("before-call.cloudwatch.*", lambda model, **_: calls.append(model.name))
    fetched = CloudWatchMetrics(client).variant_series(name, ["v1", "v2"], start, start + timedelta(minutes=4))
    assert calls == ["GetMetricData"]
    v1, v2 = fetched.series["v1"], fetched.series["v2"]
    assert [p.invocations for p in v1.periods] == [100.0, 100.0, 100.0, None]  # the fourth minute had no data
    assert [p.errors_5xx for p in v1.periods][:3] == [1.0, 1.0, 1.0]
    assert v1.periods[0].errors_4xx is None  # never published: missing, not zero
    assert v1.periods[0].latency_p99_ms == 10.0
    assert all(p.invocations is None for p in v2.periods)
    assert len(fetched.queries) == 12
    assert fetched.timestamps[0].startswith("2026-11-25T10:00:00")


def test_metrics_refuse_a_window_that_is_not_whole_minutes(stack: Any) -> None:
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="whole minutes"):
        CloudWatchMetrics(stack.client("cloudwatch")).variant_series("e", ["v1"], start, start + timedelta(seconds=90))
