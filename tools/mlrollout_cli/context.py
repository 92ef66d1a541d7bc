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
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=self.stack)["Stacks"]
        except Exception:
            return {}
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}

    def bucket(self, explicit: str | None = None) -> str:
        found = explicit or os.environ.get("MLROLLOUT_BUCKET") or self.outputs.get("ArtifactBucketName")
        if not found:
            raise typer.BadParameter(
                f"cannot find the artifact bucket: pass --bucket, set MLROLLOUT_BUCKET, or deploy stack {self.stack}"
            )
        return found

    def deployments_table(self, explicit: str | None = None) -> str:
        found = explicit or os.environ.get("MLROLLOUT_DEPLOYMENTS_TABLE") or self.outputs.get("DeploymentsTableName")
        if not found:
            raise typer.BadParameter(
                "cannot find the deployments table: pass --table, set MLROLLOUT_DEPLOYMENTS_TABLE, or deploy stack "
                f"{self.stack}"
            )
        return found


def from_context(ctx: typer.Context) -> Aws:
    aws = ctx.obj
    if not isinstance(aws, Aws):
        aws = Aws()
    return aws
