"""Serverless endpoints in the sandbox's SageMaker, through boto3: a serverless config is stored and served as given,
and SageMaker's documented serverless rules are refused (each cited in docs/sandbox-fidelity.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.sagemaker import SageMakerService
from mlrollout_sandbox.server import EmbeddedAws
from support import ready_endpoint, unique, wait_while
from support import sagemaker_model as model

pytestmark = pytest.mark.sandbox

WARP = 500.0
SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 20, "ProvisionedConcurrency": 2}


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=WARP)) as embedded:
        yield embedded


def serverless_variant(name: str, model_name: str, **config: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model_name, "ServerlessConfig": {**SERVERLESS, **config}}


def instance_variant(name: str, model_name: str) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model_name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}


def config(sm: Any, *variants: dict[str, Any], **extra: Any) -> str:
    name = unique("cfg")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=list(variants), **extra)
    return name


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def test_a_serverless_config_and_endpoint_round_trip(sm: Any, service: SageMakerService) -> None:
    name = config(sm, serverless_variant("v1", model(sm)))
    described = sm.describe_endpoint_config(EndpointConfigName=name)
    stored = described["ProductionVariants"][0]
    assert stored["ServerlessConfig"] == SERVERLESS and "InstanceType" not in stored
    assert not described.get("DataCaptureConfig")  # none was given (moto shows it empty where AWS omits it)
    endpoint = ready_endpoint(sm, service, name)
    variant = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    # DescribeEndpoint's ProductionVariantSummary: CurrentServerlessConfig and DesiredServerlessConfig, no instances.
    assert variant["CurrentServerlessConfig"] == variant["DesiredServerlessConfig"] == SERVERLESS
    assert "CurrentInstanceCount" not in variant


def test_a_serverless_endpoint_is_served_by_the_data_plane(sm: Any, runtime: Any, service: SageMakerService) -> None:
    endpoint = ready_endpoint(sm, service, config(sm, serverless_variant("v1", model(sm))))
    served: list[str] = []

    def plane(endpoint: str, variant: str | None, body: bytes, content_type: str, accept: str | None) -> Any:
        served.append(variant or "")
        return 200, b'{"score": 0.1}', "application/json", variant or ""

    service.data_plane = plane
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", ContentType="application/json")
    assert answer["Body"].read() == b'{"score": 0.1}' and answer["InvokedProductionVariant"] == "v1"
    assert served == ["v1"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("two variants", "must have exactly one production variant; got 2"),
        ("data capture", "DataCaptureConfig is not supported for an endpoint configuration with a serverless"),
        ("provisioned above max", "ProvisionedConcurrency (21) must be less than or equal to MaxConcurrency (20)"),
        (
            "max concurrency range",
            "Value '201' at 'productionVariants.1.member.serverlessConfig.maxConcurrency' failed to satisfy "
            "constraint: Member must have value less than or equal to 200",
        ),
        (
            "provisioned range",
            "Value '0' at 'productionVariants.1.member.serverlessConfig.provisionedConcurrency' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
        ),
    ],
)
def test_create_endpoint_config_refuses_what_serverless_inference_excludes(
    sm: Any, strict_sm: Any, case: str, expected: str
) -> None:
    one = model(sm)
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://capture-bucket/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    variants, extra = {
        "two variants": ([serverless_variant("v1", one), serverless_variant("v2", model(sm))], {}),
        "data capture": ([serverless_variant("v1", one)], {"DataCaptureConfig": capture}),
        "provisioned above max": ([serverless_variant("v1", one, ProvisionedConcurrency=21)], {}),
        "max concurrency range": ([serverless_variant("v1", one, MaxConcurrency=201, ProvisionedConcurrency=1)], {}),
        "provisioned range": ([serverless_variant("v1", one, ProvisionedConcurrency=0)], {}),
    }[case]
    name = unique("cfg")
    code, message = error_of(
        lambda: strict_sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **extra)
    )
    assert code == "ValidationException" and expected in message
    assert error_of(lambda: sm.describe_endpoint_config(EndpointConfigName=name))[0] == "ValidationException"


def test_a_serverless_variant_beside_an_instance_variant_is_refused(sm: Any) -> None:
    code, message = error_of(lambda: config(sm, instance_variant("v1", model(sm)), serverless_variant("v2", model(sm))))
    assert code == "ValidationException" and "exactly one production variant" in message


def test_an_instance_based_endpoint_cannot_be_updated_to_serverless(sm: Any, service: SageMakerService) -> None:
    endpoint = ready_endpoint(sm, service, config(sm, instance_variant("v1", model(sm))))
    target = config(sm, serverless_variant("v2", model(sm)))
    code, message = error_of(lambda: sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=target))
    assert code == "ValidationException"
    assert "an instance-based endpoint cannot be converted to a serverless endpoint" in message
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"  # nothing started


def test_serverless_to_instance_based_is_allowed_once_and_never_back(sm: Any, service: SageMakerService) -> None:
    first = config(sm, serverless_variant("v1", model(sm)))
    endpoint = ready_endpoint(sm, service, first)
    service.update_seconds = 10
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config(sm, instance_variant("v2", model(sm))))
    described = wait_while(sm, endpoint, "Updating")
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    code, message = error_of(lambda: sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=first))
    assert code == "ValidationException" and "cannot be converted to a serverless endpoint" in message


def test_a_serverless_endpoint_updates_to_another_serverless_config(sm: Any, service: SageMakerService) -> None:
    endpoint = ready_endpoint(sm, service, config(sm, serverless_variant("v1", model(sm))))
    service.update_seconds = 10
    bigger = config(sm, serverless_variant("v2", model(sm), MemorySizeInMB=4096))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger)
    described = wait_while(sm, endpoint, "Updating")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"] == bigger
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 4096
