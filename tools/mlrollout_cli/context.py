"""How the CLI reaches AWS: the AWS CLI's profile and region, or an endpoint URL (the sandbox)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import typer


@dataclass
class Aws:
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    stack: str = "mlrollout"
    _clients: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def session(self) -> Any:
        import boto3

        return boto3.session.Session(profile_name=self.profile, region_name=self.region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]

    @cached_property
    def outputs(self) -> dict[str, str]:
        """The stack's outputs (CloudFormation), for a real account; the sandbox exports them as variables."""
        from botocore.exceptions import ClientError

        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
        except ClientError as exc:
            # No such stack (the sandbox has none): "If the stack doesn't exist, a ValidationError is returned"
            # (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html). A refusal
            # (AccessDenied) or anything else is the error contract's (exit 3, mlrollout_cli/errors.py).
            if exc.response.get("Error", {}).get("Code") == "ValidationError":
                return {}
            raise
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def resource(self, output: str, explicit: str | None = None) -> str:
        """One of the stack's resources: an explicit option, else its MLROLLOUT_* variable (the sandbox exports
        them), else the stack output of that name."""
        variable, flag, what = RESOURCES[output]
        found = explicit or os.environ.get(variable) or self.outputs.get(output)
        if not found:
            raise typer.BadParameter(
                f"cannot find the {what}: pass {flag}, set {variable}, or deploy stack {self.stack}"
            )
        return found

    def optional(self, output: str) -> str | None:
        """One of the stack's resources if it can be found (its MLROLLOUT_* variable, else the stack output)."""
        from botocore.exceptions import ClientError

        found = os.environ.get(RESOURCES[output][0])
        if found:
            return found
        try:
            return self.outputs.get(output) or None
        except ClientError:  # the caller may not read the stack (no cloudformation:DescribeStacks): not found
            return None

    def bucket(self, explicit: str | None = None) -> str:
        return self.resource("ArtifactBucketName", explicit)

    def deployments_table(self, explicit: str | None = None) -> str:
        return self.resource("DeploymentsTableName", explicit)

    def state_table(self, explicit: str | None = None) -> str:
        return self.resource("StateTableName", explicit)

    def state_machine(self, explicit: str | None = None) -> str:
        return self.resource("RolloutStateMachineArn", explicit)


# Stack output -> (environment variable, CLI option, what it is).
RESOURCES = {
    "ArtifactBucketName": ("MLROLLOUT_BUCKET", "--bucket", "artifact bucket"),
    "DeploymentsTableName": ("MLROLLOUT_DEPLOYMENTS_TABLE", "--table", "deployments table"),
    "StateTableName": ("MLROLLOUT_STATE_TABLE", "--state-table", "state table (leases and waiting uploads)"),
    "RolloutStateMachineArn": ("MLROLLOUT_STATE_MACHINE", "--state-machine", "rollout state machine"),
    "EndpointChangedFunctionName": (
        "MLROLLOUT_ENDPOINT_CHANGED_FUNCTION",
        "--endpoint-changed-function",
        "Endpoint Changed function (its invocations are part of a rollout's cost)",
    ),
}


def from_context(ctx: typer.Context) -> Aws:
    aws = ctx.obj
    if not isinstance(aws, Aws):
        aws = Aws()
    return aws
