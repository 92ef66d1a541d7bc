"""The IAM policies docs/iam/ documents for the CLI's users are IAM documents AWS accepts, in the least they can be.

Each action is one the Service Authorization Reference lists for its service, each ARN is in the format the reference
gives for the action's resource type, "*" is used exactly for the actions the reference lists no resource type for,
and each document fits a customer managed policy once its placeholders are filled. docs/operations.md explains every
statement and every placeholder. tests/sandbox/test_cli_iam_policies.py proves they are enough, and each needed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
POLICIES = sorted((ROOT / "docs" / "iam").glob("*.json"))
OPERATIONS = ROOT / "docs" / "operations.md"
SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference/"

# The actions the policies may name, by service, as the reference lists them (its page for the service), and the
# ARN each takes: the reference's format for the action's resource type, or "*" where it lists no resource type.
ACTIONS: dict[str, str] = {
    # list_awscloudformation.html: stack, arn:${Partition}:cloudformation:${Region}:${Account}:stack/${StackName}/${Id}
    "cloudformation:DescribeStacks": "arn:aws:cloudformation:${Region}:${Account}:stack/",
    # list_amazons3.html: object, arn:${Partition}:s3:::${BucketName}/${ObjectName}; bucket, arn:...:s3:::${BucketName}
    "s3:GetObject": "arn:aws:s3:::${ArtifactBucket}/",
    "s3:GetObjectVersion": "arn:aws:s3:::${ArtifactBucket}/",
    "s3:PutObject": "arn:aws:s3:::${ArtifactBucket}/",
    "s3:DeleteObject": "arn:aws:s3:::${ArtifactBucket}/",
    "s3:ListBucket": "arn:aws:s3:::${ArtifactBucket}",
    # list_amazondynamodb.html: table, arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}; index,
    # .../table/${TableName}/index/${IndexName}
    "dynamodb:GetItem": "arn:aws:dynamodb:${Region}:${Account}:table/",
    "dynamodb:BatchGetItem": "arn:aws:dynamodb:${Region}:${Account}:table/",
    "dynamodb:Query": "arn:aws:dynamodb:${Region}:${Account}:table/",
    "dynamodb:Scan": "arn:aws:dynamodb:${Region}:${Account}:table/",
    "dynamodb:UpdateItem": "arn:aws:dynamodb:${Region}:${Account}:table/",
    # list_awskeymanagementservice.html: key, arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}
    "kms:Decrypt": "${KeyArn}",
    "kms:GenerateDataKey": "${KeyArn}",
    # list_awsstepfunctions.html: SendTaskSuccess and SendTaskFailure list no resource type; GetExecutionHistory:
    # execution, arn:${Partition}:states:${Region}:${Account}:execution:${StateMachineName}:${ExecutionId}
    "states:SendTaskSuccess": "*",
    "states:SendTaskFailure": "*",
    "states:GetExecutionHistory": "arn:aws:states:${Region}:${Account}:execution:${StateMachineName}:",
    # list_amazonsagemaker.html: ListEndpoints and ListMonitoringSchedules list no resource type; the others:
    # arn:${Partition}:sagemaker:${Region}:${Account}:endpoint/..., endpoint-config/..., model-package/...,
    # processing-job/...
    "sagemaker:ListEndpoints": "*",
    "sagemaker:ListMonitoringSchedules": "*",
    "sagemaker:DescribeEndpoint": "arn:aws:sagemaker:${Region}:${Account}:endpoint/",
    "sagemaker:ListTags": "arn:aws:sagemaker:${Region}:${Account}:endpoint/",
    "sagemaker:DescribeEndpointConfig": "arn:aws:sagemaker:${Region}:${Account}:endpoint-config/",
    "sagemaker:ListModelPackages": "arn:aws:sagemaker:${Region}:${Account}:model-package/",
    "sagemaker:DescribeModelPackage": "arn:aws:sagemaker:${Region}:${Account}:model-package/",
    "sagemaker:CreateProcessingJob": "arn:aws:sagemaker:${Region}:${Account}:processing-job/",
    "sagemaker:DescribeProcessingJob": "arn:aws:sagemaker:${Region}:${Account}:processing-job/",
    # list_amazoneventbridgescheduler.html: ListSchedules lists no resource type
    "scheduler:ListSchedules": "*",
    # list_amazoncloudwatch.html: GetMetricData lists no resource type
    "cloudwatch:GetMetricData": "*",
    # list_amazoncloudwatch.html: DescribeAlarms takes the alarm type, but "DescribeAlarms returns composite alarms
    # only to a permission scoped to *" (the template's Plan Deployment role says the same), so "*"
    "cloudwatch:DescribeAlarms": "*",
    # list_amazonec2.html: DescribeSubnets and DescribeSecurityGroups list no resource type
    "ec2:DescribeSubnets": "*",
    "ec2:DescribeSecurityGroups": "*",
    # list_awslambda.html: function, arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}
    "lambda:GetFunctionConfiguration": "arn:aws:lambda:${Region}:${Account}:function:",
    # list_amazoncloudwatchlogs.html: log-group, arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}
    "logs:FilterLogEvents": "arn:aws:logs:${Region}:${Account}:log-group:",
    # list_awsidentityandaccessmanagementiam.html: role, arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}
    "iam:PassRole": "${BaselineJobRoleArn}",
}
# Condition keys the policies may use, each one the reference lists for the action it conditions.
CONDITION_KEYS = {
    "kms:ViaService": {"kms:Decrypt", "kms:GenerateDataKey"},  # list_awskeymanagementservice.html
    "s3:prefix": {"s3:ListBucket"},  # list_amazons3.html
    "iam:PassedToService": {"iam:PassRole"},  # list_awsidentityandaccessmanagementiam.html
}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z]+)\}")
# Long but real values: the documents must still fit once filled in.
FILLED = {
    "Region": "ap-southeast-2",
    "Account": "123456789012",
    "Stack": "mlrollout-production-eu",
    "ArtifactBucket": "mlrollout-production-eu-artifactbucket-1a2b3c4d5e6f",
    "DeploymentsTable": "mlrollout-production-eu-DeploymentsTable-1A2B3C4D5E6F",
    "StateTable": "mlrollout-production-eu-StateTable-1A2B3C4D5E6F",
    "StateMachineName": "RolloutStateMachine-1A2B3C4D5E6F",
    "KeyArn": "arn:aws:kms:ap-southeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BaselineJobRoleArn": "arn:aws:iam::123456789012:role/mlrollout-model-monitor-baselining",
}
# Customer managed policy size, in characters without white space (IAM and AWS STS quotas):
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MANAGED_POLICY_CHARACTERS = 6144


def _statements(path: Path) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(path.read_text())["Statement"]
    return statements


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_the_documents_are_there() -> None:
    names = {p.name for p in POLICIES}
    assert {"operator-policy.json", "ci-uploader-policy.json", "model-monitor-baseline-policy.json"} <= names


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_each_is_an_iam_policy_of_allow_statements_with_a_sid_each(path: Path) -> None:
    document = json.loads(path.read_text())
    assert set(document) == {"Version", "Statement"}
    assert document["Version"] == "2012-10-17"
    sids = [s.get("Sid") for s in document["Statement"]]
    assert all(sid and re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), sids  # Sid: ASCII letters and digits
    assert len(set(sids)) == len(sids)
    for statement in document["Statement"]:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement["Sid"]
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and statement["Resource"]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_each_action_is_a_listed_one_on_the_resource_type_the_reference_gives(path: Path) -> None:
    for statement in _statements(path):
        actions, resources = _listed(statement["Action"]), _listed(statement["Resource"])
        unknown = [a for a in actions if a not in ACTIONS]
        assert not unknown, f"{path.name} {statement['Sid']}: {unknown} (add each with its {SAR} page, or fix it)"
        for action in actions:
            expected = ACTIONS[action]
            if expected == "*":
                assert resources == ["*"], f"{statement['Sid']}: {action} takes no resource, so only '*'"
            else:
                assert all(r.startswith(expected) for r in resources), f"{statement['Sid']}: {action} on {resources}"
        for key, operators in (statement.get("Condition") or {}).items():
            assert key in {"StringEquals", "StringLike"}, statement["Sid"]
            for name in operators:
                assert set(actions) <= CONDITION_KEYS[name], f"{statement['Sid']}: {name} with {actions}"


def test_only_actions_without_resource_types_get_a_star() -> None:
    for path in POLICIES:
        for statement in _statements(path):
            if "*" in _listed(statement["Resource"]):
                assert all(ACTIONS[a] == "*" for a in _listed(statement["Action"])), statement["Sid"]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_filled_in_each_fits_a_customer_managed_policy(path: Path) -> None:
    text = path.read_text()
    assert set(PLACEHOLDER.findall(text)) <= set(FILLED), PLACEHOLDER.findall(text)
    filled = PLACEHOLDER.sub(lambda m: FILLED[m.group(1)], text)
    json.loads(filled)
    assert len(re.sub(r"\s", "", filled)) <= MANAGED_POLICY_CHARACTERS


def test_the_runbook_explains_every_statement_and_placeholder() -> None:
    runbook = OPERATIONS.read_text()
    assert "## IAM policies for the CLI" in runbook
    section = runbook.split("## IAM policies for the CLI", 1)[1].split("\n## ", 1)[0]
    for path in POLICIES:
        assert f"docs/iam/{path.name}" in section
        for statement in _statements(path):
            assert f"`{statement['Sid']}`" in section, f"{path.name}: {statement['Sid']} is not explained"
        for name in PLACEHOLDER.findall(path.read_text()):
            assert f"`${{{name}}}`" in section, f"the placeholder ${{{name}}} is not explained"
