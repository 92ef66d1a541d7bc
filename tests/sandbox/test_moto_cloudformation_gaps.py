"""Why the sandbox deploys with its own deployer and not with moto's CloudFormation.

The translated template goes through moto's CreateStack on plain moto, and each test pins what moto 5.2.5 does
not do that the pipeline depends on (measured 2026-12-07, issue 14). moto's CloudFormation would replace the
deployer as a whole, not a handler at a time, so it becomes an option only once every test here fails.
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

from mlrollout_sandbox.template import PLACEHOLDER_BUCKET, translate_template

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* but it's not supported by moto's CloudFormation")

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"


@dataclass
class MotoStack:
    physical: dict[str, str]
    declared: dict[str, Any]
    blank_entries: int  # resources ListStackResources lists with no logical id, type or physical id

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
            # With an e-mail and a Slack webhook every resource's condition is true: all are to be created.
            Parameters=[
                {"ParameterKey": "AlertEmail", "ParameterValue": "ops@example.com"},
                {"ParameterKey": "SlackWebhookUrl", "ParameterValue": "https://hooks.slack.com/services/T/B/x"},
            ],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        (stack,) = cloudformation.describe_stacks(StackName="mlrollout")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"  # moto reports success whatever it skipped
        summaries = cloudformation.list_stack_resources(StackName="mlrollout")["StackResourceSummaries"]
        yield MotoStack(
            physical={
                s["LogicalResourceId"]: s.get("PhysicalResourceId", "") for s in summaries if s["LogicalResourceId"]
            },
            declared=template["Resources"],
            blank_entries=sum(1 for s in summaries if not s["LogicalResourceId"]),
        )


def test_six_types_of_the_template_are_not_created_yet_the_stack_is_complete(moto_stack: MotoStack) -> None:
    # Our handlers: _LambdaEventInvokeConfig, _S3BucketPolicy, _SnsSubscription, _SqsQueuePolicy,
    # _ScheduleGroup, _Secret. Without them there is no Slack secret, no e-mail subscription, and EventBridge
    # cannot write to the dead-letter queues.
    missing = [logical_id for logical_id in moto_stack.declared if logical_id not in moto_stack.physical]

    assert {moto_stack.declared[logical_id]["Type"] for logical_id in missing} == {
        "AWS::Lambda::EventInvokeConfig",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Subscription",
        "AWS::SQS::QueuePolicy",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SecretsManager::Secret",
    }
    assert moto_stack.blank_entries == len(missing)  # listed as CREATE_COMPLETE with no name at all
    sns = moto_stack.client("sns")
    assert sns.list_subscriptions_by_topic(TopicArn=moto_stack.physical["AlertsTopic"])["Subscriptions"] == []
    queue = moto_stack.client("sqs").get_queue_attributes(
        QueueUrl=moto_stack.physical["UploadDeadLetterQueue"], AttributeNames=["All"]
    )["Attributes"]
    assert "Policy" not in queue


def test_a_resource_that_fails_leaves_what_was_created_and_the_stack_in_progress() -> None:
    # The deployer's rollback (_Deployment.deploy). CloudFormation "rolls back the stack" when a resource fails
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-failure-options.html).
    template = {
        "Resources": {
            "First": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "first"}},
            "Second": {
                "Type": "AWS::SQS::Queue",
                "DependsOn": "First",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:none",
                        "maxReceiveCount": 3,
                    }
                },
            },
        }
    }
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with pytest.raises(cloudformation.exceptions.ClientError, match="NonExistentQueue"):
            cloudformation.create_stack(StackName="half", TemplateBody=json.dumps(template))

        (stack,) = cloudformation.describe_stacks(StackName="half")["Stacks"]
        assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
        left = boto3.client("sqs", region_name=REGION).list_queues(QueueNamePrefix="first")["QueueUrls"]
        assert left == ["https://sqs.us-east-1.amazonaws.com/123456789012/first"]


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
    # _LambdaFunction: every handler imports the runtime library from the core layer. Environment variables are
    # strings (https://docs.aws.amazon.com/lambda/latest/api/API_Environment.html), and a Ref to a Number
    # parameter is its text; moto passes the number through.
    declared = moto_stack.declared["NotifyFunction"]["Properties"]
    assert declared["Layers"]
    assert declared["TracingConfig"] == {"Mode": "Active"}

    config = moto_stack.client("lambda").get_function_configuration(FunctionName=moto_stack.physical["NotifyFunction"])

    assert config.get("Layers", []) == []
    assert config["TracingConfig"]["Mode"] == "PassThrough"
    assert config["Environment"]["Variables"]["MAX_ARTIFACT_MIB"] == 10240


def test_the_state_machine_keeps_its_placeholders_and_neither_logs_nor_traces(moto_stack: MotoStack) -> None:
    # _StateMachine: DefinitionSubstitutions name every function the states invoke; CloudFormation replaces each
    # ${key} placeholder with its value (AWS::StepFunctions::StateMachine, DefinitionSubstitutions).
    declared = moto_stack.declared["RolloutStateMachine"]["Properties"]
    assert "ValidateArtifactFunctionArn" in declared["DefinitionSubstitutions"]
    assert declared["LoggingConfiguration"]["Level"] == "ERROR"
    assert declared["TracingConfiguration"] == {"Enabled": True}

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
