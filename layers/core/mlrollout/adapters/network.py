"""EC2's view of the subnets and security groups a model's VPC config names (DescribeSubnets,
DescribeSecurityGroups)."""

from __future__ import annotations

from typing import Any

from mlrollout.ports import SecurityGroup, Subnet


class Ec2Network:
    def __init__(self, ec2: Any) -> None:
        self.ec2 = ec2

    # A filter on the ids, not SubnetIds / GroupIds: those fail the whole call on the first id that does not exist
    # (InvalidSubnetID.NotFound), and validation wants every missing id at once.
    def subnets(self, ids: list[str]) -> dict[str, Subnet]:
        found: dict[str, Subnet] = {}
        pages = self.ec2.get_paginator("describe_subnets").paginate(Filters=[{"Name": "subnet-id", "Values": ids}])
        for page in pages:
            for subnet in page.get("Subnets", []):
                found[subnet["SubnetId"]] = Subnet(
                    id=subnet["SubnetId"], vpc_id=subnet["VpcId"], availability_zone=subnet.get("AvailabilityZone", "")
                )
        return found

    def security_groups(self, ids: list[str]) -> dict[str, SecurityGroup]:
        found: dict[str, SecurityGroup] = {}
        pages = self.ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "group-id", "Values": ids}]
        )
        for page in pages:
            for group in page.get("SecurityGroups", []):
                found[group["GroupId"]] = SecurityGroup(id=group["GroupId"], vpc_id=group.get("VpcId", ""))
        return found
