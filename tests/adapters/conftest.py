"""Fixtures the plain-moto adapter tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from support import table_from_template

STATE_TABLE = "state"


@pytest.fixture
def state_dynamodb() -> Iterator[Any]:
    """Plain moto's DynamoDB holding the template's StateTable, named STATE_TABLE."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_from_template("StateTable", STATE_TABLE))
        yield client
