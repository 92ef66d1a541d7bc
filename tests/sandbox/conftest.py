"""Clients of the embedded SageMaker for the emulator's tests, and its service with the durations a test changed put
back; each module supplies its own `aws` (its clock's warp)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mlrollout_sandbox.emulator import sagemaker as emulated
from mlrollout_sandbox.server import CREDENTIALS, EmbeddedAws


@pytest.fixture
def service(aws: EmbeddedAws) -> Iterator[emulated.SageMakerService]:
    """The emulated SageMaker; a test may change its durations or attach a data plane: both are put back."""
    svc: emulated.SageMakerService = aws.emulator.services["sagemaker"]
    yield svc
    svc.create_seconds = emulated.DEFAULT_CREATE_SECONDS
    svc.update_seconds = emulated.DEFAULT_UPDATE_SECONDS
    svc.weights_seconds = emulated.DEFAULT_WEIGHTS_SECONDS
    svc.delete_seconds = emulated.DEFAULT_DELETE_SECONDS
    svc.schedule_pending_seconds = emulated.DEFAULT_SCHEDULE_PENDING_SECONDS
    svc.data_plane = None


@pytest.fixture
def sm(aws: EmbeddedAws) -> Any:
    return aws.client("sagemaker")


@pytest.fixture
def strict_sm(aws: EmbeddedAws) -> Any:
    """One attempt and no client-side validation: shows exactly what the server answered."""
    return boto3.client(
        "sagemaker",
        endpoint_url=aws.url,
        region_name=aws.region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, parameter_validation=False),
        **CREDENTIALS,  # type: ignore[call-overload]
    )


@pytest.fixture
def runtime(aws: EmbeddedAws) -> Any:
    """sagemaker-runtime, one attempt (modules that mean the Lambda runtime define their own `runtime`)."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=aws.url,
        region_name=aws.region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **CREDENTIALS,  # type: ignore[call-overload]
    )
