"""Every extension of moto lives in mlrollout_sandbox.emulator; these tests fail loudly when moto moves."""

from importlib import metadata

import pytest

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator import Emulator, MotoDrift
from mlrollout_sandbox.emulator._patching import MOTO_VERSION, Patcher, check_moto_version

pytestmark = pytest.mark.sandbox


def test_moto_is_the_pinned_version() -> None:
    assert metadata.version("moto") == MOTO_VERSION
    pyproject = (__import__("pathlib").Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert f"=={MOTO_VERSION}" in pyproject
    assert (
        f"moto=={MOTO_VERSION}"
        in (__import__("pathlib").Path(__file__).parents[2] / "requirements" / "dev.lock").read_text()
    )


def test_another_moto_version_refuses_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: "5.9.0")
    with pytest.raises(MotoDrift, match="extends moto 5.2.5 but moto 5.9.0 is installed"):
        check_moto_version()


def test_every_patch_target_exists_and_uninstall_restores_moto_exactly() -> None:
    emulator = Emulator(SandboxClock(warp=100))
    patcher = emulator.patcher
    emulator.install()
    try:
        replaced = list(patcher._undo)
        assert len(replaced) > 40  # every service module patched something
        installed = {(id(owner), name): getattr(owner, name) for owner, name, _ in replaced}
    finally:
        emulator.uninstall()
    for owner, name, previous in replaced:
        current = owner.__dict__.get(name, "absent") if hasattr(owner, "__dict__") else getattr(owner, name, "absent")
        if previous is not patcher_missing():
            assert current is previous, f"{owner}.{name} was not restored"
        else:
            assert current == "absent", f"{owner}.{name} was added and not removed"
        assert installed[(id(owner), name)] is not None


def patcher_missing() -> object:
    from mlrollout_sandbox.emulator import _patching

    return _patching._MISSING


def test_a_second_install_is_refused_while_the_first_is_active() -> None:
    first = Emulator(SandboxClock())
    first.install()
    try:
        with pytest.raises(MotoDrift, match="moto now implements"):
            Emulator(SandboxClock()).install()
    finally:
        first.uninstall()
    Emulator(SandboxClock()).install().uninstall()  # and it installs again cleanly afterwards


def test_a_vanished_attribute_is_named() -> None:
    class Fake:
        pass

    with pytest.raises(MotoDrift, match="no longer has 'update_endpoint'"):
        Patcher().replace(Fake, "update_endpoint", lambda: None)


def test_stock_moto_still_lacks_sagemakers_image_rule_and_deleting_phase() -> None:
    """The SageMaker emulator refuses non-ECR images at CreateModel and keeps a deleted endpoint Deleting for a
    while. If moto starts doing either itself, this fails: review whether the emulator's version is still needed."""
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    role = "arn:aws:iam::123456789012:role/sandbox-sagemaker"
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": "docker.io/library/python:3"})
        variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{**variant, "InitialInstanceCount": 1}])
        sm.create_endpoint(EndpointName="e", EndpointConfigName="c")
        sm.delete_endpoint(EndpointName="e")
        with pytest.raises(ClientError):
            sm.describe_endpoint(EndpointName="e")  # gone at once: stock moto has no Deleting phase


def test_stock_moto_still_misnames_aws_sdk_task_errors() -> None:
    """moto names an unmodelled aws-sdk error after the lower-case resource ("sagemaker.sagemakerException");
    the emulator replaces `_from_error` with Step Functions' names. If moto's naming changes, re-check both."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeEndpoint")
    service = StateTaskServiceAwsSdk._normalise_service_error_name("sagemaker")
    assert StateTaskServiceAwsSdk._normalise_exception_name(service, throttled) == "sagemaker.sagemakerException"
