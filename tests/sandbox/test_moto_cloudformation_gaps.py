"""Why the sandbox deploys with its own deployer and not with moto's CloudFormation.

The translated template goes through moto's CreateStack on plain moto, and each test pins what moto 5.2.5 does
not do that the pipeline depends on (measured 2026-12-07, issue 14). When a moto upgrade closes a gap, its test
fails and names the deployer code moto's CloudFormation could then replace: use it there and delete ours.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.parsing import get_model_map

from mlrollout_sandbox.template import PLACEHOLDER_BUCKET, translate_template

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.filterwarnings("ignore:Tried to parse .* but it's not supported by moto's CloudFormation"),
]

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@dataclass
class MotoStack:
    physical: dict[str, str]
    declared: dict[str, Any]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


@pytest.fixture(scope="module")
def moto_stack() -> Iterator[MotoStack]:
    translated = translate_template(ROOT / "template.yaml", region=REGION)
    template = translated.template
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=PLACEHOLDER_BUCKET)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("app.py", "")
        for resource in template["Resources"].values():
            for key in ("Code", "Content"):
                location = (resource.get("Properties") or {}).get(key)
                if isinstance(location, dict) and location.get("S3Bucket") == PLACEHOLDER_BUCKET:
                    s3.put_object(Bucket=PLACEHOLDER_BUCKET, Key=location["S3Key"], Body=archive.getvalue())
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.create_stack(
            StackName="mlrollout",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "AlertEmail", "ParameterValue": "ops@example.com"}],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        (stack,) = cloudformation.describe_stacks(StackName="mlrollout")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"  # moto reports success whatever it skipped
        summaries = cloudformation.list_stack_resources(StackName="mlrollout")["StackResourceSummaries"]
        yield MotoStack(
            physical={s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries},
            declared=template["Resources"],
        )


def test_six_types_of_the_template_are_skipped_with_a_warning(moto_stack: MotoStack) -> None:
    declared_types = {resource["Type"] for resource in moto_stack.declared.values()}
    # Our handlers: _LambdaEventInvokeConfig, _S3BucketPolicy, _SnsSubscription, _SqsQueuePolicy,
    # _ScheduleGroup, _Secret. Without them there is no Slack secret, no e-mail subscription, and EventBridge
    # cannot write to the dead-letter queues.
    assert {kind for kind in declared_types if kind not in get_model_map()} == {
        "AWS::Lambda::EventInvokeConfig",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SQS::QueuePolicy",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SecretsManager::Secret",
    }


def test_the_artifact_bucket_is_neither_versioned_nor_private_nor_expiring(moto_stack: MotoStack) -> None:
    # _S3Bucket: the pipeline reads uploads by VersionId; without versioning it has none.
    s3 = moto_stack.client("s3")
    bucket = moto_stack.physical["ArtifactBucket"]
    assert moto_stack.declared["ArtifactBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}

    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchPublicAccessBlockConfiguration"):
        s3.get_public_access_block(Bucket=bucket)


def test_the_tables_lose_ttl_point_in_time_recovery_and_kms(moto_stack: MotoStack) -> None:
    # _DynamoTable: the lease table expires its leases by TTL.
    dynamodb = moto_stack.client("dynamodb")
    table = moto_stack.physical["StateTable"]
    assert "TimeToLiveSpecification" in moto_stack.declared["StateTable"]["Properties"]

    assert dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert "SSEDescription" not in dynamodb.describe_table(TableName=table)["Table"]


def test_roles_get_no_managed_policies_and_inline_policies_that_are_not_json(moto_stack: MotoStack) -> None:
    # _IamRole: the sandbox enforces IAM, so a policy document it cannot parse denies everything.
    iam = moto_stack.client("iam")
    role = moto_stack.physical["NotifyFunctionRole"]
    declared = moto_stack.declared["NotifyFunctionRole"]["Properties"]
    assert declared["ManagedPolicyArns"]

    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
    name = iam.list_role_policies(RoleName=role)["PolicyNames"][0]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    assert isinstance(document, str)
    assert document.startswith("{'")  # Python's repr of the dict, not JSON
    with pytest.raises(json.JSONDecodeError):
        json.loads(document)


def test_functions_lose_their_layers_tracing_and_text_environment(moto_stack: MotoStack) -> None:
    # _LambdaFunction: every handler imports the runtime library from the core layer.
    declared = moto_stack.declared["NotifyFunction"]["Properties"]
    assert declared["Layers"]
    assert declared["TracingConfig"] == {"Mode": "Active"}

    config = moto_stack.client("lambda").get_function_configuration(FunctionName=moto_stack.physical["NotifyFunction"])

    assert config.get("Layers", []) == []
    assert config["TracingConfig"]["Mode"] == "PassThrough"
    values = config["Environment"]["Variables"].values()
    assert not all(isinstance(value, str) for value in values)  # Lambda takes only strings


def test_the_state_machine_keeps_its_substitutions_and_logs_nothing(moto_stack: MotoStack) -> None:
    # _StateMachine: DefinitionSubstitutions name every function the states invoke.
    declared = moto_stack.declared["RolloutStateMachine"]["Properties"]
    assert declared["DefinitionSubstitutions"]
    assert declared["LoggingConfiguration"]["Level"] == "ERROR"

    described = moto_stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=moto_stack.physical["RolloutStateMachine"]
    )

    assert "${ValidateArtifactFunctionArn}" in described["definition"]
    assert described["loggingConfiguration"]["level"] == "OFF"
    assert described["tracingConfiguration"]["enabled"] is False


def test_the_log_group_is_not_encrypted(moto_stack: MotoStack) -> None:
    # _LogGroup: the state machine's execution data is encrypted with the stack's key.
    assert "KmsKeyId" in moto_stack.declared["RolloutLogGroup"]["Properties"]
    (group,) = moto_stack.client("logs").describe_log_groups(logGroupNamePrefix=moto_stack.physical["RolloutLogGroup"])[
        "logGroups"
    ]
    assert "kmsKeyId" not in group
