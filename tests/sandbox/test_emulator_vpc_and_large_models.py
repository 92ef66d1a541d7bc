"""The sandbox's SageMaker for VPC models, customer keys and large-model variant options (issue 12): what
CreateModel and CreateEndpointConfig keep and what they refuse, through boto3 over HTTP. docs/sandbox-fidelity.md
cites the AWS page behind each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

ROLE = "arn:aws:iam::123456789012:role/sandbox-sagemaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/llm:1.0"
VPC = {
    "Subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "SecurityGroupIds": ["sg-0123456789abcdef0"],
}
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=500.0)) as embedded:
        yield embedded


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def a_model(sm: Any, **extra: Any) -> str:
    name = unique("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, **extra)
    return name


def variant(model: str, **options: Any) -> dict[str, Any]:
    return {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.g5.12xlarge",
            "InitialInstanceCount": 1, "InitialVariantWeight": 1.0, **options}  # fmt: skip


def test_create_model_keeps_the_vpc_config_and_network_isolation(sm: Any) -> None:
    name = a_model(sm, VpcConfig=VPC, EnableNetworkIsolation=True)
    described = sm.describe_model(ModelName=name)
    assert described["VpcConfig"] == VPC
    assert described["EnableNetworkIsolation"] is True


def test_a_private_registry_image_without_a_vpc_config_is_refused(sm: Any, strict_sm: Any) -> None:
    private = {"Image": "registry.corp.example:5000/llm:1.0", "ImageConfig": {"RepositoryAccessMode": "Vpc"}}
    name = unique("model")
    code, message = error_of(lambda: strict_sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                                                            PrimaryContainer=private))  # fmt: skip
    assert code == "ValidationException"
    assert "requires a VpcConfig on the model" in message
    assert error_of(lambda: sm.describe_model(ModelName=name))[0] == "ValidationException"  # nothing was created
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=private, VpcConfig=VPC)
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["ImageConfig"] == {"RepositoryAccessMode": "Vpc"}


def test_create_endpoint_config_keeps_the_keys_and_the_large_model_options(sm: Any) -> None:
    model = a_model(sm)
    name = unique("cfg")
    options = {"VolumeSizeInGB": 512, "ModelDataDownloadTimeoutInSeconds": 3600,
               "ContainerStartupHealthCheckTimeoutInSeconds": 1200}  # fmt: skip
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}], "KmsKeyId": KEY}  # fmt: skip
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant(model, **options)], DataCaptureConfig=capture, KmsKeyId=KEY
    )
    described = sm.describe_endpoint_config(EndpointConfigName=name)
    assert described["KmsKeyId"] == KEY
    assert described["DataCaptureConfig"]["KmsKeyId"] == KEY
    assert {k: described["ProductionVariants"][0][k] for k in options} == options


@pytest.mark.parametrize(
    ("option", "value", "constraint"),
    [
        ("VolumeSizeInGB", 513, "less than or equal to 512"),
        ("ModelDataDownloadTimeoutInSeconds", 3601, "less than or equal to 3600"),
        ("ContainerStartupHealthCheckTimeoutInSeconds", 7200, "less than or equal to 3600"),
        ("ContainerStartupHealthCheckTimeoutInSeconds", 59, "greater than or equal to 60"),
        ("VolumeSizeInGB", 0, "greater than or equal to 1"),
    ],
)
def test_out_of_range_variant_options_are_refused(
    sm: Any, strict_sm: Any, option: str, value: int, constraint: str
) -> None:
    model = a_model(sm)
    name = unique("cfg")
    code, message = error_of(
        lambda: strict_sm.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=[variant(model, **{option: value})]
        )
    )
    field = option[0].lower() + option[1:]
    assert (code, message) == (
        "ValidationException",
        f"1 validation error detected: Value '{value}' at 'productionVariants.1.member.{field}' failed to satisfy "
        f"constraint: Member must have value {constraint}",
    )
    assert error_of(lambda: sm.describe_endpoint_config(EndpointConfigName=name))[0] == "ValidationException"


def test_the_sdk_itself_refuses_values_below_the_minimum(sm: Any) -> None:
    # botocore checks an integer's minimum before sending (not its maximum, which only SageMaker answers).
    with pytest.raises(ParamValidationError):
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"),
            ProductionVariants=[variant("m", ModelDataDownloadTimeoutInSeconds=30)],
        )


def test_accelerator_instance_types_are_accepted_and_unknown_ones_refused(sm: Any, strict_sm: Any) -> None:
    model = a_model(sm)
    for instance_type in ("ml.g5.48xlarge", "ml.p4d.24xlarge", "ml.inf2.xlarge", "ml.trn1.32xlarge", "ml.g6e.xlarge"):
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"), ProductionVariants=[variant(model, InstanceType=instance_type)]
        )
    code, message = error_of(
        lambda: strict_sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"), ProductionVariants=[variant(model, InstanceType="ml.g5.3xlarge")]
        )
    )
    assert code == "ValidationException"
    assert message.startswith("Value 'ml.g5.3xlarge' at 'instanceType' failed to satisfy constraint: Member must")
    assert "ml.trn1.32xlarge" in message


def _moto_function_source(module: Any, cls: str, function: str) -> str:
    """The source of moto's own `cls.function` as installed (the emulator replaces it at run time)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    owner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    found = next(n for n in owner.body if isinstance(n, ast.FunctionDef) and n.name == function)
    return ast.get_source_segment(inspect.getsource(module), found) or ""


def test_drift_moto_still_drops_enable_network_isolation() -> None:
    """The sandbox patches CreateModel because moto 5.2.5 never reads EnableNetworkIsolation. When this fails, moto
    keeps it itself: remove the create_model response patch in emulator/sagemaker/install.py."""
    from moto.sagemaker import responses

    source = _moto_function_source(responses, "SageMakerResponse", "create_model")
    assert "def create_model" in source and "EnableNetworkIsolation" not in source


def test_drift_moto_still_has_its_own_instance_type_list() -> None:
    """The sandbox replaces moto's list of hosting instance types (which lacks ml.g5 and the other accelerated
    families) with the API's. When this fails, moto changed how it checks them: review _patch_instance_types."""
    from moto.sagemaker import models

    source = _moto_function_source(models, "FakeEndpointConfig", "validate_instance_type")
    assert '"ml.g4dn.xlarge"' in source and '"ml.g5.xlarge"' not in source
