"""Validate Artifact reads a config's VPC from EC2 (the embedded moto) and refuses what SageMaker could not run."""

from __future__ import annotations

from typing import Any

import pytest

from mlrollout.domain.errors import ConfigInvalid
from support import IMAGE


def validate_input(event: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:e1",
            "now": "2026-11-25T12:00:00Z"}  # fmt: skip


def a_vpc(stack: Any, cidr: str) -> tuple[str, list[str], str]:
    ec2 = stack.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in enumerate("ab", start=1)
    ]
    group = ec2.create_security_group(GroupName=f"g-{cidr}", Description="model", VpcId=vpc)["GroupId"]
    return vpc, subnets, group


def config(subnets: list[str], groups: list[str]) -> str:
    return f"image: {IMAGE}\nvpc:\n  subnets: [{', '.join(subnets)}]\n  security_groups: [{', '.join(groups)}]\n"


def test_a_vpc_that_exists_and_the_stack_allows_is_accepted(
    stack: Any, upload: Any, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc, subnets, group = a_vpc(stack, "10.31")
    monkeypatch.setenv("MODEL_VPC_IDS", vpc)
    rollout = handler("validate_artifact")(validate_input(upload(config=config(subnets, [group]))))
    assert rollout["config"]["vpc"] == {"subnets": subnets, "security_groups": [group]}


def test_missing_and_mismatched_network_ids_and_a_vpc_the_stack_does_not_list_are_refused(
    stack: Any, upload: Any, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    vpc, subnets, _ = a_vpc(stack, "10.32")
    _, _, stranger = a_vpc(stack, "10.33")
    monkeypatch.setenv("MODEL_VPC_IDS", "")  # the stack's ModelVpcIds left empty: no VPC models
    missing = "subnet-0123456789abcdef0"
    event = upload(config=config([*subnets, missing], [stranger]))
    with pytest.raises(ConfigInvalid) as refused:
        handler("validate_artifact")(validate_input(event))
    reason = refused.value.reason
    assert f"vpc.subnets: {missing} not found in this account and region" in reason
    assert f"vpc.security_groups: {stranger} in " in reason and f"not the subnets' VPC {vpc}" in reason
    assert f"vpc: {vpc} is not in the stack's ModelVpcIds" in reason
