"""IAM enforced as AWS enforces it: each principal of the deployed template signs with its role's session and
gets AccessDenied for what its policies do not allow (emulator/iam.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.deployer import Stack, deploy_template
from mlrollout_sandbox.emulator.iam import AccessDenied, Check
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
SLACK = "https://hooks.slack.invalid/services/T0/B0/x"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=1000)) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def stack(aws: EmbeddedAws) -> Stack:
    return deploy_template(aws, ROOT / "template.yaml", stack_name="iam", parameters={"SlackWebhookUrl": SLACK})


def as_function(aws: EmbeddedAws, stack: Stack, logical_id: str, service: str) -> Any:
    """A client signed with the function's execution role, as Lambda gives it to the function."""
    role = aws.client("lambda").get_function_configuration(FunctionName=stack.physical(logical_id))["Role"]
    credentials = aws.emulator.services["iam"].session(role, "lambda.amazonaws.com")
    return boto3.client(service, endpoint_url=aws.url, region_name=aws.region, **credentials)  # type: ignore[call-overload]


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


# ----------------------------------------------------------------------------------------------- mutation test
# First in the module: each runs its own Sandbox, and one embedded AWS runs at a time (the module's `aws`
# fixture starts with the first test after these).
MUTATIONS = {
    # Validate Artifact reads rollout.yaml with s3:GetObject.
    "validate-without-getobject": (
        'Action: [s3:GetObject, s3:GetObjectVersion]\n              Resource: !Sub "${ArtifactBucket.Arn}/models/*"',
        'Action: [s3:GetObjectVersion]\n              Resource: !Sub "${ArtifactBucket.Arn}/models/*"',
    ),
    # Claim Deployment writes the encrypted deployments table: DynamoDB asks it for kms:Decrypt.
    "claim-without-the-key": (
        "              Resource: !GetAtt StateTable.Arn\n"
        "            # The tables are encrypted with the stack's key: DynamoDB asks kms:Decrypt of every caller.\n"
        "            - Sid: TablesKey\n              Effect: Allow\n              Action: [kms:Decrypt]\n"
        "              Resource: !GetAtt DataKey.Arn\n\n  AcquireLeaseFunction:",
        "              Resource: !GetAtt StateTable.Arn\n\n  AcquireLeaseFunction:",
    ),
    # Await Endpoint looks at the endpoint it waits for (the state-change handler's own permission does not help it).
    "await-without-describe-endpoint": (
        'CodeUri: functions/await_endpoint/\n      Policies:\n        - Version: "2012-10-17"\n          Statement:\n'
        "            - Sid: LookAtTheEndpoint\n              Effect: Allow\n              Action: [sagemaker:DescribeEndpoint]",
        'CodeUri: functions/await_endpoint/\n      Policies:\n        - Version: "2012-10-17"\n          Statement:\n'
        "            - Sid: LookAtTheEndpoint\n              Effect: Allow\n              Action: [sagemaker:ListEndpoints]",
    ),
}


def _mutated_project(tmp_path: Path, old: str, new: str) -> Path:

    text = (ROOT / "template.yaml").read_text()
    assert text.count(old) == 1, f"the mutation no longer matches template.yaml: {old!r}"
    (tmp_path / "template.yaml").write_text(text.replace(old, new))
    for folder in ("functions", "layers", "statemachines"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    return tmp_path / "template.yaml"


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_rollout_fails_with_access_denied_when_the_template_lacks_a_permission(tmp_path: Path, mutation: str) -> None:
    from mlrollout_sandbox.demo import MODEL, Demo, rollout_yaml
    from mlrollout_sandbox.session import Sandbox
    from support import demo_artifact

    template = _mutated_project(tmp_path, *MUTATIONS[mutation])
    with Sandbox(warp=600, seed=7, template=template) as sandbox:
        sandbox.put_config(MODEL, rollout_yaml(sandbox.bucket))
        Demo(sandbox, tmp_path, pictures=False)._baseline(sandbox.bucket)  # the demo's first version, as it runs it
        outcome = sandbox.wait_for_rollout(sandbox.upload(MODEL, "v1", demo_artifact("v1")))
        denials = sandbox.aws.emulator.services["iam"].denials if sandbox.aws else []
    assert outcome.outcome != "promoted"
    history = json.dumps(outcome.history, default=str)
    # S3 answers a HEAD without a body: its 403 carries no error code.
    assert "AccessDenied" in history or "(403)" in history, (outcome.status, outcome.error, outcome.cause)
    assert denials


# ----------------------------------------------------------------------------------------------- the evaluator
def test_the_sandbox_itself_is_the_accounts_administrator(aws: EmbeddedAws) -> None:
    assert aws.client("iam").list_roles()["Roles"] is not None
    assert aws.emulator.services["iam"].enforcing


def test_a_role_gets_access_denied_for_an_action_its_policy_lacks(aws: EmbeddedAws) -> None:
    iam = aws.client("iam")
    name = f"reader-{uuid.uuid4().hex[:6]}"
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", **trust}))[
        "Role"
    ]["Arn"]
    table = f"t-{name}"
    aws.client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    allow_get = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": f"arn:aws:dynamodb:*:*:table/{table}"}
    iam.put_role_policy(
        RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow_get]})
    )
    credentials = aws.emulator.services["iam"].session(arn, "lambda.amazonaws.com")
    dynamodb = boto3.client("dynamodb", endpoint_url=aws.url, region_name=aws.region, **credentials)
    dynamodb.get_item(TableName=table, Key={"id": {"S": "a"}})
    put = lambda: dynamodb.put_item(TableName=table, Item={"id": {"S": "a"}})  # noqa: E731
    assert error_code(put) == "AccessDeniedException"


def test_s3_answers_a_missing_key_with_403_without_list_bucket_and_404_with_it(aws: EmbeddedAws) -> None:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
    iam, bucket = aws.client("iam"), f"b-{uuid.uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=bucket)
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    arn = iam.create_role(RoleName=bucket, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", **trust}))[
        "Role"
    ]["Arn"]
    read = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
    iam.put_role_policy(
        RoleName=bucket, PolicyName="read", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [read]})
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=aws.url,
        region_name=aws.region,
        **aws.emulator.services["iam"].session(arn, "lambda.amazonaws.com"),
    )
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="missing")) == "AccessDenied"
    listing = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    iam.put_role_policy(
        RoleName=bucket, PolicyName="list", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [listing]})
    )
    assert error_code(lambda: s3.get_object(Bucket=bucket, Key="missing")) == "NoSuchKey"


def _run(aws: EmbeddedAws, machine: str) -> dict[str, Any]:
    import time

    sfn = aws.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.05)
    raise AssertionError(f"{arn} still running")


def test_a_task_state_signs_with_the_state_machines_role(aws: EmbeddedAws) -> None:
    """Step Functions calls a Task's API with the state machine's role (moto signs with fixed keys: patched)."""
    iam = aws.client("iam")
    trust = {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName="list-tables", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )["Role"]["Arn"]
    definition = {
        "StartAt": "List",
        "States": {"List": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:listTables", "End": True}},
    }
    machine = aws.client("stepfunctions").create_state_machine(
        name="list-tables", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]

    denied = _run(aws, machine)
    assert denied["status"] == "FAILED"
    assert "AccessDenied" in f"{denied.get('error')} {denied.get('cause')}"

    allow = {"Effect": "Allow", "Action": "dynamodb:ListTables", "Resource": "*"}
    iam.put_role_policy(
        RoleName="list-tables",
        PolicyName="list",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    assert _run(aws, machine)["status"] == "SUCCEEDED"


# ----------------------------------------------------------------------------------------------- template defects
def test_claim_acquire_and_judge_can_use_the_encrypted_tables(aws: EmbeddedAws, stack: Stack) -> None:
    """Defect 12: the tables are encrypted with the stack's key; DynamoDB asks kms:Decrypt of every caller."""
    deployments, state = stack.physical("DeploymentsTable"), stack.physical("StateTable")
    record = {"deployment_id": {"S": "d1"}, "model_name": {"S": "m"}, "created_at": {"S": "2026-01-01"}}
    claim = as_function(aws, stack, "ClaimDeploymentFunction", "dynamodb")
    claim.put_item(TableName=deployments, Item=record)
    claim.put_item(TableName=state, Item={"id": {"S": "execution#1"}})
    lease = as_function(aws, stack, "AcquireLeaseFunction", "dynamodb")
    lease.put_item(TableName=state, Item={"id": {"S": "lease#m"}})
    judge = as_function(aws, stack, "JudgeCanaryFunction", "dynamodb")
    update = {"UpdateExpression": "SET note = :n", "ExpressionAttributeValues": {":n": {"S": "x"}}}
    judge.update_item(TableName=deployments, Key={"deployment_id": {"S": "d1"}}, **update)
    judge.update_item(TableName=state, Key={"id": {"S": "lease#m"}}, **update)


def test_rollback_can_recreate_a_failed_endpoint_with_its_tags(aws: EmbeddedAws, stack: Stack) -> None:
    """Defect 1: CreateEndpoint with Tags needs sagemaker:CreateEndpoint and sagemaker:AddTags."""
    sagemaker = as_function(aws, stack, "RollBackFunction", "sagemaker")
    create = lambda: sagemaker.create_endpoint(  # noqa: E731
        EndpointName="iam-recreate",
        EndpointConfigName="iam-recreate-missing-config",
        Tags=[{"Key": "mlrollout:model", "Value": "m"}],
    )
    # Allowed: the request reaches SageMaker, which answers for the configuration that is not there.
    assert error_code(create) != "AccessDeniedException"


def test_the_slack_notifier_can_dead_letter_to_its_encrypted_queue(aws: EmbeddedAws, stack: Stack) -> None:
    """Defect 5: sending to a queue encrypted with a customer managed key needs kms:GenerateDataKey."""
    sqs = as_function(aws, stack, "SlackNotifierFunction", "sqs")
    sqs.send_message(QueueUrl=stack.physical("SlackDeadLetterQueue"), MessageBody="{}")


@pytest.mark.parametrize(
    ("logical_id", "key"),
    [
        ("ValidateArtifactFunction", "models/no-such-model/rollout.yaml"),
        ("AttachMonitoringFunction", "baselines/no-such-model/statistics.json"),
    ],
)
def test_a_missing_object_is_a_404_the_code_can_explain(
    aws: EmbeddedAws, stack: Stack, logical_id: str, key: str
) -> None:
    """Defect 6: without s3:ListBucket S3 answers 403 AccessDenied for a missing key."""
    s3 = as_function(aws, stack, logical_id, "s3")
    assert error_code(lambda: s3.get_object(Bucket=stack.physical("ArtifactBucket"), Key=key)) == "NoSuchKey"


def test_eventbridge_can_dead_letter_to_the_drift_queue(aws: EmbeddedAws, stack: Stack) -> None:
    """Defect 3: every rule naming DriftDeadLetterQueue as its DLQ needs the queue policy (and the key policy)."""
    queue = stack.attribute("DriftDeadLetterQueue", "Arn")
    events = aws.client("events")
    rules = [
        rule["Arn"]
        for rule in events.list_rules()["Rules"]
        if any(
            (t.get("DeadLetterConfig") or {}).get("Arn") == queue
            for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        )
    ]
    assert len(rules) >= 3
    iam = aws.emulator.services["iam"]
    for rule in rules:
        iam.authorize_service("events.amazonaws.com", iam.delivery_checks("sqs:SendMessage", queue, rule))


def test_a_rule_without_the_queue_policy_cannot_dead_letter(aws: EmbeddedAws, stack: Stack) -> None:
    iam = aws.emulator.services["iam"]
    queue = stack.attribute("DriftDeadLetterQueue", "Arn")
    rule = f"arn:aws:events:{aws.region}:{aws.emulator.account_id}:rule/someone-elses-rule"
    checks = [Check("sqs:SendMessage", queue, {"aws:SourceArn": rule})]
    with pytest.raises(AccessDenied):
        iam.authorize_service("events.amazonaws.com", checks)


def test_a_user_supplied_sagemaker_role_can_decrypt_the_stacks_artifacts(aws: EmbeddedAws) -> None:
    """Defect 9: the role brought in SageMakerExecutionRoleArn is granted the key in the key policy."""
    trust = {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role = aws.client("iam").create_role(
        RoleName="teams-own-sagemaker-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    stack = deploy_template(
        aws, ROOT / "template.yaml", stack_name="byorole", parameters={"SageMakerExecutionRoleArn": role}
    )
    credentials = aws.emulator.services["iam"].session(role, "sagemaker.amazonaws.com")
    kms = boto3.client("kms", endpoint_url=aws.url, region_name=aws.region, **credentials)
    key = stack.attribute("DataKey", "Arn")
    blob = aws.client("kms").encrypt(KeyId=key, Plaintext=b"model")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=key)["Plaintext"] == b"model"
