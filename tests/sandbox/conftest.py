"""Clients of the embedded SageMaker for the emulator's tests; each module supplies its own `aws` (its clock's warp)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

from mlrollout_sandbox.server import CREDENTIALS, EmbeddedAws


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
