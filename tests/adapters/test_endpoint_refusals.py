"""The endpoints adapter against the embedded SageMaker: a change refused because another change of the endpoint is in
progress (an auto scaling activity) becomes the domain's EndpointChanging, told by the endpoint's status; any other
refusal stays AWS's error. Plain moto has no in-progress rule (its endpoints are InService at once)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout.adapters.endpoints import SageMakerEndpoints
from mlrollout.domain.errors import ChangeRefused, EndpointChanging
from support import ready_endpoint, sagemaker_model, unique


def config(sm: Any, model: str, count: int = 1) -> str:
    name = unique("cfg")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "v1", "ModelName": model, "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": count, "InitialVariantWeight": 1.0}],
    )  # fmt: skip
    return name


@pytest.mark.parametrize("change", ["update_endpoint", "set_weights"])
def test_a_change_refused_during_a_scaling_activity_is_endpoint_changing(embedded_aws: Any, change: str) -> None:
    sm = embedded_aws.client("sagemaker")
    current = config(sm, sagemaker_model(sm))
    endpoint = ready_endpoint(sm, embedded_aws.emulator.services["sagemaker"], current)
    action = {"update_endpoint": "UpdateEndpoint", "set_weights": "UpdateEndpointWeightsAndCapacities"}[change]
    embedded_aws.emulator.faults.arm("sagemaker.scaling_activity", "scale_out", action=action, endpoint=endpoint)
    endpoints = SageMakerEndpoints(sm)
    calls = {
        "update_endpoint": lambda: endpoints.update_endpoint(endpoint, current),
        "set_weights": lambda: endpoints.set_weights(endpoint, {"v1": 1.0}),
    }
    clock = embedded_aws.emulator.services["sagemaker"].clock
    warp = clock.warp

    clock.set_warp(1.0)  # the activity's 30 sandbox seconds last 30 ms at the module's warp: too short to look at
    try:
        with pytest.raises(EndpointChanging) as refused:
            calls[change]()
    finally:
        clock.set_warp(warp)

    assert f"endpoint {endpoint} while it is Updating" in refused.value.reason
    assert "Cannot update in-progress endpoint" in refused.value.reason  # AWS's words kept for the operator
    assert refused.value.fix is not None and "tried again" in refused.value.fix
    assert isinstance(refused.value.__cause__, ClientError)


def test_a_refusal_of_an_in_service_endpoint_is_a_change_refused_with_aws_error(embedded_aws: Any) -> None:
    sm = embedded_aws.client("sagemaker")
    current = config(sm, sagemaker_model(sm))
    endpoint = ready_endpoint(sm, embedded_aws.emulator.services["sagemaker"], current)
    endpoints = SageMakerEndpoints(sm)

    with pytest.raises(ChangeRefused, match="UpdateEndpointWeightsAndCapacities of endpoint") as refused:
        endpoints.set_weights(endpoint, {"no-such-variant": 1.0})
    cause = refused.value.__cause__
    assert isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ChangeRefused, match="UpdateEndpoint of endpoint"):
        endpoints.update_endpoint(endpoint, "no-such-config")
