"""The sandbox's CloudFormation: parameters, intrinsic functions, ordering, and template.yaml deployed for real.

Everything a deployment created is checked through boto3 over HTTP, as the control plane will see it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.deployer import (
    NO_VALUE,
    DependencyCycleError,
    DeployError,
    Intrinsics,
    ParameterError,
    Stack,
    StackDeleteError,
    StackLookupError,
    StackResource,
    UnsupportedPropertyError,
    UnsupportedResourceError,
    deploy,
    resolve_parameters,
    supported_resource_types,
)
from mlrollout_sandbox.emulator.lambda_runtime import LambdaRuntime
from mlrollout_sandbox.server import EmbeddedAws
from mlrollout_sandbox.template import PLACEHOLDER_BUCKET, TranslatedTemplate, translate_template

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
STACK = "sbx"
ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock()) as embedded:
        yield embedded


@pytest.fixture(scope="module")
def translated() -> TranslatedTemplate:
    return translate_template(REPO / "template.yaml", region=REGION)


@pytest.fixture(scope="module")
def stack(aws: EmbeddedAws, translated: TranslatedTemplate) -> Stack:
    return deploy(aws, translated, stack_name=STACK)


@pytest.fixture(scope="module")
def runtime(aws: EmbeddedAws) -> LambdaRuntime:
    service: LambdaRuntime = aws.emulator.services["lambda_runtime"]
    return service


def _inline(template: dict[str, Any], **function_dirs: Path) -> TranslatedTemplate:
    return TranslatedTemplate(
        path=Path("inline-template"), region=REGION, template=template, function_code_dirs=function_dirs
    )


# ------------------------------------------------------------------------------------------ parameters

DECLARED: dict[str, Any] = {
    "LogLevel": {"Type": "String", "Default": "INFO", "AllowedValues": ["DEBUG", "INFO"]},
    "Steps": {"Type": "String", "Default": "10,50", "AllowedPattern": "^[0-9]+(,[0-9]+)*$"},
    "Bake": {"Type": "Number", "Default": 10, "MinValue": 1, "MaxValue": 60},
    "Owner": {"Type": "String", "MaxLength": 5, "Default": "ops", "ConstraintDescription": "a short team name"},
    "Zones": {"Type": "CommaDelimitedList", "Default": "a,b"},
}


def test_parameters_take_their_defaults_as_text() -> None:
    assert resolve_parameters(DECLARED) == {
        "LogLevel": "INFO",
        "Steps": "10,50",
        "Bake": "10",
        "Owner": "ops",
        "Zones": ["a", "b"],
    }


def test_overrides_replace_defaults() -> None:
    values = resolve_parameters(DECLARED, {"Bake": 30, "Zones": ["x", "y", "z"], "LogLevel": "DEBUG"})

    assert values["Bake"] == "30"
    assert values["Zones"] == ["x", "y", "z"]
    assert values["LogLevel"] == "DEBUG"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LogLevel": "TRACE"}, "Parameter 'LogLevel' must be one of AllowedValues ['DEBUG', 'INFO'], got 'TRACE'"),
        ({"Steps": "10;50"}, "Parameter 'Steps' must satisfy regular expression pattern"),
        ({"Bake": 0}, "Parameter 'Bake' must be a number not less than 1, got 0"),
        ({"Bake": 61}, "Parameter 'Bake' must be a number not greater than 60"),
        ({"Bake": "ten"}, "Parameter 'Bake' must be a number, got 'ten'"),
        ({"Owner": "platform"}, "Parameter 'Owner' must contain at most 5 characters, got 'platform' (a short team"),
        ({"Nope": "x"}, "Parameters: ['Nope'] do not exist in the template"),
    ],
)
def test_parameter_constraints_are_enforced_like_cloudformation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        resolve_parameters(DECLARED, overrides)

    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_every_parameter_problem_is_reported_at_once() -> None:
    declared = {**DECLARED, "Required": {"Type": "String"}}

    with pytest.raises(ParameterError) as caught:
        resolve_parameters(declared, {"LogLevel": "TRACE", "Bake": -1})

    assert len(caught.value.problems) == 3
    assert "Parameter 'Required' must have a value (it has no Default)" in caught.value.problems


def test_the_real_templates_parameters_are_validated_on_deploy(
    aws: EmbeddedAws, translated: TranslatedTemplate
) -> None:
    with pytest.raises(ParameterError, match="Parameter 'CanarySteps' must satisfy regular expression pattern"):
        deploy(aws, translated, stack_name="badparams", parameters={"CanarySteps": "10, 50"})
    with pytest.raises(ParameterError, match="Parameter 'EndpointPollSeconds' must be a number not less than 5"):
        deploy(aws, translated, stack_name="badparams", parameters={"EndpointPollSeconds": 1})


# ------------------------------------------------------------------------------------------ intrinsics

TEMPLATE: dict[str, Any] = {
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
    },
    "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "ProdOnly": {"Type": "AWS::SNS::Topic", "Condition": "IsProd"},
        "Later": {"Type": "AWS::SQS::Queue"},
    },
}


@pytest.fixture
def intrinsics() -> Intrinsics:
    bucket = StackResource(
        "Bucket", "AWS::S3::Bucket", "sbx-bucket-abc", {"Arn": "arn:aws:s3:::sbx-bucket-abc", "DomainName": "d"}
    )
    return Intrinsics(
        TEMPLATE,
        parameters={"Env": "dev", "Email": "ops@example.com", "Zones": ["a", "b", "c"], "Count": "3"},
        resources={"Bucket": bucket},
        stack_name=STACK,
        region=REGION,
        account_id=ACCOUNT,
    )


def test_ref_reads_parameters_pseudo_parameters_and_resources(intrinsics: Intrinsics) -> None:
    assert intrinsics.resolve({"Ref": "Env"}) == "dev"
    assert intrinsics.resolve({"Ref": "Bucket"}) == "sbx-bucket-abc"
    assert intrinsics.resolve([{"Ref": f"AWS::{p}"} for p in ("AccountId", "Region", "Partition")]) == [
        ACCOUNT,
        REGION,
        "aws",
    ]
    assert intrinsics.resolve({"Ref": "AWS::StackName"}) == STACK
    assert intrinsics.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert re.fullmatch(rf"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/[-0-9a-f]+", intrinsics.stack_id)


def test_no_value_removes_the_key_or_the_list_item(intrinsics: Intrinsics) -> None:
    resolved = intrinsics.resolve(
        {
            "Keep": 1,
            "Drop": {"Ref": "AWS::NoValue"},
            "List": ["a", {"Fn::If": ["IsProd", "b", {"Ref": "AWS::NoValue"}]}],
        }
    )

    assert resolved == {"Keep": 1, "List": ["a"]}
    assert intrinsics.resolve({"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]}) is NO_VALUE


def test_getatt_in_both_forms(intrinsics: Intrinsics) -> None:
    assert intrinsics.resolve({"Fn::GetAtt": ["Bucket", "Arn"]}) == "arn:aws:s3:::sbx-bucket-abc"
    assert intrinsics.resolve({"Fn::GetAtt": "Bucket.DomainName"}) == "d"
    with pytest.raises(DeployError, match=r"Bucket \(AWS::S3::Bucket\) has no attribute 'Nope'"):
        intrinsics.resolve({"Fn::GetAtt": ["Bucket", "Nope"]}, "Where")


def test_sub_with_pseudo_parameters_resource_attributes_and_variables(intrinsics: Intrinsics) -> None:
    assert (
        intrinsics.resolve({"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:${Env}"})
        == f"arn:aws:logs:{REGION}:{ACCOUNT}:dev"
    )
    assert intrinsics.resolve({"Fn::Sub": "${Bucket.Arn}/models/*"}) == "arn:aws:s3:::sbx-bucket-abc/models/*"
    assert intrinsics.resolve({"Fn::Sub": "${Bucket}-${!Literal}"}) == "sbx-bucket-abc-${Literal}"
    assert intrinsics.resolve({"Fn::Sub": ["${Name}:${Env}", {"Name": {"Fn::Join": ["", ["b"]]}}]}) == "b:dev"


def test_join_and_find_in_map(intrinsics: Intrinsics) -> None:
    assert intrinsics.resolve({"Fn::Join": ["-", [{"Ref": "Env"}, 5, {"Ref": "AWS::Region"}]]}) == "dev-5-us-east-1"
    assert intrinsics.resolve({"Fn::Join": [",", {"Ref": "Zones"}]}) == "a,b,c"
    assert intrinsics.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}) == 256


@pytest.mark.parametrize(
    "function", ["Fn::Select", "Fn::Split", "Fn::GetAZs", "Fn::Base64", "Fn::ToJsonString", "Fn::Length"]
)
def test_functions_no_template_uses_are_refused_by_name(intrinsics: Intrinsics, function: str) -> None:
    with pytest.raises(DeployError, match=f"Res.Prop: intrinsic function {function} is not supported"):
        intrinsics.resolve({"Prop": {function: ["x"]}}, "Res")


@pytest.mark.parametrize("function", ["Fn::And", "Fn::Or"])
def test_condition_functions_no_template_uses_are_refused_by_name(function: str) -> None:
    template = {"Conditions": {"Both": {function: [{"Condition": "Yes"}, {"Condition": "Yes"}]}, "Yes": True}}

    with pytest.raises(DeployError, match=f"intrinsic function {function} is not supported by the sandbox deployer"):
        Intrinsics({**template, "Resources": {}}, parameters={}).condition("Both")


def test_conditions_and_condition_functions(intrinsics: Intrinsics) -> None:
    assert intrinsics.conditions() == {"IsProd": False, "IsDev": True, "HasEmail": True}
    assert intrinsics.resolve({"Fn::If": ["HasEmail", {"Ref": "Email"}, "none"]}) == "ops@example.com"
    assert intrinsics.resolve({"Fn::Equals": [{"Ref": "Count"}, 3]}) is True
    assert not intrinsics.is_active("ProdOnly")


def test_a_condition_cycle_is_an_error() -> None:
    template = {
        "Conditions": {"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}},
        "Resources": {},
    }
    with pytest.raises(DeployError, match="conditions refer to each other in a circle: A -> B -> A"):
        Intrinsics(template, parameters={}).condition("A")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "x"}, "intrinsic function Fn::ImportValue is not supported"),
        ({"Fn::Frobnicate": "x"}, "Fn::Frobnicate is not a CloudFormation intrinsic function"),
        ({"Ref": "Nowhere"}, "'Nowhere' is not a parameter or resource of the template"),
        ({"Ref": "ProdOnly"}, "ProdOnly is not created because its condition IsProd is false"),
        ({"Ref": "Later"}, "Later has not been created yet"),
        ({"Fn::Sub": "${Zones}"}, "Fn::Sub variable Zones is not a string"),
    ],
)
def test_resolution_errors_say_where_and_what(intrinsics: Intrinsics, value: Any, message: str) -> None:
    with pytest.raises(DeployError, match=re.escape(message)) as caught:
        intrinsics.resolve({"Prop": value}, "Res (AWS::X::Y)")

    assert str(caught.value).startswith("Res (AWS::X::Y).Prop: ")


def test_references_follow_only_the_branches_the_conditions_take(intrinsics: Intrinsics) -> None:
    value = {
        "A": {"Fn::If": ["IsProd", {"Ref": "ProdOnly"}, {"Fn::GetAtt": "Bucket.Arn"}]},
        "B": {"Fn::Sub": ["${Later.Arn}-${Env}-${X}", {"X": "x"}]},
    }

    assert intrinsics.references(value) == {"Bucket", "Later"}
    assert intrinsics.references(value, all_branches=True) == {"Bucket", "Later", "ProdOnly"}


# ------------------------------------------------------------------------------------------ the real template


def _active(translated: TranslatedTemplate, conditions: dict[str, bool]) -> set[str]:
    return {k for k, r in translated.resources.items() if conditions.get(r.get("Condition", ""), True)}


def test_every_resource_of_the_template_is_created(stack: Stack, translated: TranslatedTemplate) -> None:
    assert stack.conditions["CreateSageMakerRole"] is True
    assert stack.conditions["HasAlertEmail"] is False  # the defaults leave optional integrations out
    assert set(stack.resources) == _active(translated, stack.conditions)
    assert "SageMakerExecutionRole" in stack.resources
    assert "AlertEmailSubscription" not in stack.resources
    for logical_id, resource in stack.resources.items():
        assert resource.type == translated.resources[logical_id]["Type"]
    assert [r.logical_id for r in stack.of_type("AWS::SNS::Topic")] == ["AlertsTopic"]


def test_resources_are_created_after_what_they_refer_to(stack: Stack) -> None:
    order = list(stack.resources)

    assert order.index("DataKey") < order.index("ArtifactBucket") < order.index("ArtifactBucketPolicy")
    assert order.index("NotifyFunction") < order.index("RolloutStateMachine")
    assert order.index("RolloutStateMachine") < order.index("RolloutStateMachineModelUploaded")
    assert order.index("RolloutStateMachine") < order.index("RolloutDashboard")


def test_the_artifact_bucket_is_versioned_encrypted_private_and_sends_events(aws: EmbeddedAws, stack: Stack) -> None:
    s3 = aws.client("s3")
    bucket = stack.output("ArtifactBucketName")

    assert re.fullmatch(r"sbx-artifactbucket-[a-z0-9]{12}", bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": stack.arn("DataKey"),
    }
    assert rule["BucketKeyEnabled"] is True
    # moto's GetBucketNotificationConfiguration leaves EventBridgeConfiguration out; AWS Config shows it
    config = aws.client("config").batch_get_resource_config(
        resourceKeys=[{"resourceType": "AWS::S3::Bucket", "resourceId": bucket}]
    )["baseConfigurationItems"][0]["supplementaryConfiguration"]
    assert json.loads(config["BucketNotificationConfiguration"])["configurations"] == {"EventBridgeConfiguration": {}}
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (lifecycle,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["ID"] == "ExpireSupersededVersions"
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 365}
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert policy["Statement"][0]["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    try:
        s3.put_object(Bucket=bucket, Key="models/churn/rollout.yaml", Body=b"strategy: {}")
    except ClientError:  # moto 5.2.5 denies on the policy's SecureTransport condition; the deployer says so
        assert any(
            w.startswith("ArtifactBucketPolicy (AWS::S3::BucketPolicy): the embedded S3") for w in stack.warnings
        )


def test_the_key_rotates_and_the_topic_and_queue_are_encrypted_with_it(aws: EmbeddedAws, stack: Stack) -> None:
    key_id = stack.physical("DataKey")
    topic = aws.client("sns").get_topic_attributes(TopicArn=stack.output("AlertsTopicArn"))["Attributes"]
    queue = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.output("UploadDeadLetterQueueUrl"), AttributeNames=["All"]
    )

    assert aws.client("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert topic["KmsMasterKeyId"] == key_id
    assert topic["DisplayName"] == "mlrollout alerts"
    # Nothing but the stack's own functions publishes: the topic keeps SNS's default owner-only policy.
    assert [s["Sid"] for s in json.loads(topic["Policy"])["Statement"]] == ["__default_statement_ID"]
    assert queue["Attributes"]["KmsMasterKeyId"] == key_id
    assert queue["Attributes"]["MessageRetentionPeriod"] == "1209600"
    queue_policy = json.loads(queue["Attributes"]["Policy"])
    assert queue_policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == (
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-uploads"
    )


def test_the_tables_expire_leases_recover_to_a_point_in_time_and_use_the_stacks_key(
    aws: EmbeddedAws, stack: Stack
) -> None:
    dynamodb = aws.client("dynamodb")
    key_id = stack.physical("DataKey")
    ttl = dynamodb.describe_time_to_live(TableName=stack.output("StateTableName"))["TimeToLiveDescription"]

    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    for table in (stack.output("StateTableName"), stack.output("DeploymentsTableName")):
        backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        encryption = dynamodb.describe_table(TableName=table)["Table"]["SSEDescription"]
        # DynamoDB answers the key's ARN; moto answers the key id the template sent, as it was sent.
        assert (encryption["SSEType"], encryption["KMSMasterKeyArn"].rsplit("/", 1)[-1]) == ("KMS", key_id)


def test_the_upload_rule_starts_the_state_machine_with_retries_and_a_dead_letter_queue(
    aws: EmbeddedAws, stack: Stack
) -> None:
    events = aws.client("events")
    rule = events.describe_rule(Name=f"{STACK}-uploads")
    (target,) = events.list_targets_by_rule(Rule=f"{STACK}-uploads")["Targets"]

    assert stack.physical("RolloutStateMachineModelUploaded") == f"{STACK}-uploads"
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"])["detail"]["bucket"]["name"] == [stack.output("ArtifactBucketName")]
    assert target["Arn"] == stack.output("RolloutStateMachineArn")
    assert target["RoleArn"] == stack.arn("RolloutStateMachineModelUploadedRole")
    assert target["DeadLetterConfig"] == {"Arn": stack.arn("UploadDeadLetterQueue")}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}


def test_each_lambda_exists_with_its_settings_and_runs_from_the_repository(
    aws: EmbeddedAws, stack: Stack, translated: TranslatedTemplate, runtime: LambdaRuntime
) -> None:
    lam = aws.client("lambda")
    layer_arn = stack.physical(translated.logical_id("CoreLayer"))
    functions = stack.of_type("AWS::Lambda::Function")

    assert {f.logical_id for f in functions} == _active(translated, stack.conditions) & set(
        translated.function_code_dirs
    )
    for function in functions:
        config = lam.get_function(FunctionName=function.physical_id)["Configuration"]
        variables = config["Environment"]["Variables"]
        assert re.fullmatch(rf"{STACK}-{function.logical_id[:40]}.*-[A-Z0-9]{{12}}", function.physical_id)
        assert variables["ARTIFACT_BUCKET"] == stack.output("ArtifactBucketName")
        assert variables["ALERTS_TOPIC_ARN"] == stack.output("AlertsTopicArn")
        assert variables["SAGEMAKER_ROLE_ARN"] == stack.arn("SageMakerExecutionRole")
        assert variables["STACK_NAME"] == STACK
        assert variables["DASHBOARD_NAME"] == f"{STACK}-rollouts"
        assert variables["DEFAULT_CANARY_STEPS"] == "10,50"
        assert variables["MAX_ARTIFACT_MIB"] == "10240"
        assert variables["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert [layer["Arn"] for layer in config["Layers"]] == [layer_arn]
        assert config["Role"] == stack.arn(f"{function.logical_id}Role")

        local = runtime.function(function.physical_id)
        assert local.code_dir == translated.function_code_dirs[function.logical_id]
        assert local.environment == variables
        assert local.layer_dirs == [REPO / "layers" / "core"]
        assert (local.timeout_seconds, local.memory_mb) == (config["Timeout"], config["MemorySize"])

    validate = lam.get_function(FunctionName=stack.physical("ValidateArtifactFunction"))["Configuration"]
    assert (validate["Timeout"], validate["MemorySize"]) == (900, 512)


def test_the_state_machine_has_every_substitution_resolved(
    aws: EmbeddedAws, stack: Stack, translated: TranslatedTemplate
) -> None:
    substitutions = translated.resources["RolloutStateMachine"]["Properties"]["DefinitionSubstitutions"]
    sfn = aws.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=stack.output("RolloutStateMachineArn"))
    definition = machine["definition"]
    function_arns = {f["FunctionArn"] for f in aws.client("lambda").list_functions()["Functions"]}
    named = set(re.findall(r"arn:aws:lambda:[^\"]+", definition))

    assert "${" not in definition
    assert json.loads(definition)["QueryLanguage"] == "JSONata"
    assert named == {
        stack.arn(v["Fn::GetAtt"][0]) for v in substitutions.values() if isinstance(v, dict) and "Fn::GetAtt" in v
    }
    assert named <= function_arns
    assert "{% 30 %}" in definition  # ${EndpointPollSeconds}
    assert machine["name"] == f"{STACK}-rollout"
    assert machine["roleArn"] == stack.arn("RolloutStateMachineRole")
    assert machine["type"] == "STANDARD"
    assert machine["loggingConfiguration"]["level"] == "ERROR"
    assert machine["loggingConfiguration"]["destinations"] == [
        {"cloudWatchLogsLogGroup": {"logGroupArn": stack.arn("RolloutLogGroup")}}
    ]
    assert machine["tracingConfiguration"] == {"enabled": True}


def test_logs_dashboard_and_outputs(aws: EmbeddedAws, stack: Stack) -> None:
    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/vendedlogs/states/{STACK}-")[
        "logGroups"
    ]
    body = json.loads(aws.client("cloudwatch").get_dashboard(DashboardName=f"{STACK}-rollouts")["DashboardBody"])

    assert group["retentionInDays"] == 90
    assert stack.arn("RolloutLogGroup") == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group['logGroupName']}:*"
    assert stack.output("RolloutStateMachineArn") in json.dumps(body["widgets"][-1])
    assert stack.output("DashboardUrl").endswith(f"#dashboards/dashboard/{STACK}-rollouts")
    assert stack.output("SageMakerExecutionRoleArn") == stack.arn("SageMakerExecutionRole")
    with pytest.raises(StackLookupError, match="has no output 'Nope'"):
        stack.output("Nope")
    with pytest.raises(StackLookupError, match="has no resource 'AlertEmailSubscription'"):
        stack.physical("AlertEmailSubscription")


def test_roles_carry_their_inline_policies_and_managed_policies(aws: EmbeddedAws, stack: Stack) -> None:
    iam = aws.client("iam")
    role = stack.physical("NotifyFunctionRole")
    document = iam.get_role_policy(RoleName=role, PolicyName="NotifyFunctionRolePolicy0")["PolicyDocument"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]

    assert [s["Sid"] for s in document["Statement"]] == ["PublishAlerts", "EncryptAlerts", "SendOnce"]
    assert document["Statement"][0]["Resource"] == stack.output("AlertsTopicArn")
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    # attached when moto has its AWS managed policies loaded, otherwise reported
    assert basic in attached or any(basic in w and "NotifyFunctionRole" in w for w in stack.warnings)


# ------------------------------------------------------------------------------------------ conditions and teardown


def test_parameters_switch_resources_on_and_off_and_teardown_removes_everything(
    aws: EmbeddedAws, translated: TranslatedTemplate, runtime: LambdaRuntime
) -> None:
    external_role = f"arn:aws:iam::{ACCOUNT}:role/existing-models"
    other = deploy(
        aws,
        translated,
        stack_name="other",
        parameters={
            "AlertEmail": "ops@example.com",
            "SageMakerExecutionRoleArn": external_role,
            "LogLevel": "DEBUG",
            "SlackWebhookUrl": "https://hooks.slack.example/services/T0/B0/x",
        },
    )
    subscriptions = aws.client("sns").list_subscriptions_by_topic(TopicArn=other.output("AlertsTopicArn"))
    notify = aws.client("lambda").get_function(FunctionName=other.physical("NotifyFunction"))["Configuration"]

    assert "SageMakerExecutionRole" not in other.resources
    assert other.output("SageMakerExecutionRoleArn") == external_role
    assert notify["Environment"]["Variables"]["SAGEMAKER_ROLE_ARN"] == external_role
    assert notify["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert set(other.resources) == _active(translated, other.conditions)
    assert {(s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]} == {
        ("email", "ops@example.com"),
        ("lambda", other.arn("SlackNotifierFunction")),
    }
    slack = aws.client("lambda").get_function(FunctionName=other.physical("SlackNotifierFunction"))["Configuration"]
    assert slack["Environment"]["Variables"]["SLACK_SECRET_NAME"] == other.physical("SlackWebhookSecret")
    assert [layer["Arn"] for layer in slack["Layers"]] == [
        other.physical(translated.logical_id("CoreLayer")),
        other.physical(translated.logical_id("SlackLayer")),
    ]
    assert runtime.function(slack["FunctionName"]).layer_dirs == [REPO / "layers" / "core", REPO / "layers" / "slack"]
    invoke_config = aws.client("lambda").get_function_event_invoke_config(
        FunctionName=slack["FunctionName"], Qualifier="$LATEST"
    )
    assert invoke_config["MaximumRetryAttempts"] == 2
    secret = aws.client("secretsmanager").get_secret_value(SecretId=other.physical("SlackWebhookSecret"))
    assert secret["SecretString"] == "https://hooks.slack.example/services/T0/B0/x"

    bucket, key_id = other.output("ArtifactBucketName"), other.physical("DataKey")
    other.delete()

    lam, sfn, iam = aws.client("lambda"), aws.client("stepfunctions"), aws.client("iam")
    assert other.deleted
    assert other.resources == {}
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("other-")]
    assert not [n for n in runtime.functions if n.startswith("other-")]
    assert not [m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith("other-")]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("other-")]
    assert "other-uploads" not in [r["Name"] for r in aws.client("events").list_rules()["Rules"]]
    assert not [t for t in aws.client("sns").list_topics()["Topics"] if ":other-" in t["TopicArn"]]
    # DeletionPolicy: Retain: the models, their history and the key that encrypts them outlive the stack.
    assert bucket in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    assert aws.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


# ------------------------------------------------------------------------------------------ the other resource types


def test_a_small_stack_deploys_runs_and_deletes_like_cloudformation(aws: EmbeddedAws, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def lambda_handler(event, context):\n    return {'echo': event}\n")
    queue_arn = {"Fn::GetAtt": ["Queue", "Arn"]}
    template = {
        "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": "3600"}},
            "Store": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "LifecycleConfiguration": {
                        "Rules": [{"Id": "tmp", "Status": "Enabled", "Prefix": "tmp/", "ExpirationInDays": "3"}]
                    },
                    "Tags": [{"Key": "team", "Value": "ml"}],
                },
            },
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": queue_arn,
                    "FilterPolicy": {"kind": ["drift"]},
                },
            },
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    # Lambda must be able to assume a function's role (IAM is enforced in the sandbox).
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": PLACEHOLDER_BUCKET, "S3Key": "Function"},
                    "Handler": "app.lambda_handler",
                    "Runtime": "python3.13",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": {"ENV": {"Ref": "Env"}, "COUNT": 5, "ON": True}},
                },
            },
            "Permission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "Function"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "events.amazonaws.com",
                    "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]},
                },
            },
            "Rule": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "EventPattern": {"source": ["mlrollout.test"]},
                    "Targets": [{"Id": "fn", "Arn": {"Fn::GetAtt": ["Function", "Arn"]}}],
                },
            },
        },
        "Outputs": {"Queue": {"Value": {"Ref": "Queue"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-q"}}}},
    }

    sink = deploy(aws, _inline(template, Function=tmp_path), stack_name="sink")

    assert sink.exports == {"sink-q": sink.output("Queue")}
    assert (
        aws.client("sqs").get_queue_attributes(QueueUrl=sink.physical("Queue"), AttributeNames=["All"])["Attributes"][
            "MessageRetentionPeriod"
        ]
        == "3600"
    )
    (subscription,) = aws.client("sns").list_subscriptions_by_topic(TopicArn=sink.physical("Topic"))["Subscriptions"]
    filter_policy = aws.client("sns").get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])
    assert json.loads(filter_policy["Attributes"]["FilterPolicy"]) == {"kind": ["drift"]}
    invoked = aws.client("lambda").invoke(FunctionName=sink.physical("Function"), Payload=b'{"n": 1}')
    assert json.loads(invoked["Payload"].read()) == {"echo": {"n": 1}}
    assert aws.client("lambda").get_function(FunctionName=sink.physical("Function"))["Configuration"]["Environment"][
        "Variables"
    ] == {"ENV": "dev", "COUNT": "5", "ON": "true"}
    policy = json.loads(aws.client("lambda").get_policy(FunctionName=sink.physical("Function"))["Policy"])
    assert policy["Statement"][0]["Sid"] == sink.physical("Permission")

    s3 = aws.client("s3")
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=sink.physical("Store"))["Rules"]
    assert (rule["Filter"], rule["Expiration"]) == ({"Prefix": "tmp/"}, {"Days": 3})

    function_name = sink.physical("Function")
    s3.put_object(Bucket=sink.physical("Store"), Key="data.csv", Body=b"x")
    with pytest.raises(StackDeleteError) as caught:
        sink.delete()  # like CloudFormation: a bucket that holds objects is not deleted
    assert len(caught.value.errors) == 1
    assert caught.value.errors[0].startswith(f"Store (AWS::S3::Bucket) {sink.physical('Store')}: ")
    assert list(sink.resources) == ["Store"]
    assert not [t for t in aws.client("sns").list_topics()["Topics"] if ":sink-" in t["TopicArn"]]
    assert function_name not in aws.emulator.services["lambda_runtime"].functions

    sink.delete(empty_buckets=True)  # retrying deletes what is left
    assert sink.deleted
    assert not [b for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("sink-")]


# ------------------------------------------------------------------------------------------ errors


def test_an_unknown_resource_type_names_the_resource(aws: EmbeddedAws) -> None:
    template = {"Resources": {"Box": {"Type": "AWS::EC2::Instance", "Properties": {"ImageId": "ami-1"}}}}

    with pytest.raises(UnsupportedResourceError, match=r"^Box: resource type AWS::EC2::Instance is not supported"):
        deploy(aws, _inline(template), stack_name="unknown")


def test_an_unsupported_property_names_the_resource_and_the_property(aws: EmbeddedAws) -> None:
    template = {"Resources": {"Site": {"Type": "AWS::S3::Bucket", "Properties": {"WebsiteConfiguration": {}}}}}

    with pytest.raises(
        UnsupportedPropertyError,
        match=r"^Site \(AWS::S3::Bucket\): property WebsiteConfiguration is not supported by the sandbox deployer",
    ):
        deploy(aws, _inline(template), stack_name="unsupported")


def test_an_unsupported_nested_property_fails_and_rolls_back_what_was_created(aws: EmbeddedAws) -> None:
    template = {
        "Resources": {
            "First": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "rollback-first"}},
            "Store": {
                "Type": "AWS::S3::Bucket",
                "DependsOn": "First",
                "Properties": {
                    "BucketName": "rollback-store",
                    "LifecycleConfiguration": {"Rules": [{"Status": "Enabled", "ExpirationInDays": 1}], "Extra": 1},
                },
            },
        }
    }

    with pytest.raises(
        UnsupportedPropertyError, match=r"Store \(AWS::S3::Bucket\): property LifecycleConfiguration\.Extra"
    ):
        deploy(aws, _inline(template), stack_name="rollback")

    assert not [u for u in aws.client("sqs").list_queues().get("QueueUrls", []) if "rollback-first" in u]
    assert "rollback-store" not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_each_function_signs_with_a_session_of_its_own_role(aws: EmbeddedAws, stack: Stack) -> None:
    """Lambda gives a function its execution role's credentials (assumed as lambda.amazonaws.com)."""
    import boto3

    name = stack.physical("ClaimDeploymentFunction")
    role = aws.client("lambda").get_function_configuration(FunctionName=name)["Role"]
    credentials = aws.emulator.services["lambda_runtime"].functions[name].credentials
    sts = boto3.client(
        "sts",
        endpoint_url=aws.url,
        region_name=aws.region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )
    assert sts.get_caller_identity()["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/")


def test_a_resource_that_fails_half_way_is_rolled_back_too(aws: EmbeddedAws) -> None:
    missing_policy = f"arn:aws:iam::{ACCOUNT}:policy/does-not-exist"
    template = {
        "Resources": {
            "Worker": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "halfway-role",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "ManagedPolicyArns": [missing_policy],
                },
            }
        }
    }

    with pytest.raises(DeployError, match=r"^Worker \(AWS::IAM::Role\): .*NoSuchEntity"):
        deploy(aws, _inline(template), stack_name="halfway")

    assert "halfway-role" not in [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]]


def test_a_dependency_cycle_is_named(aws: EmbeddedAws) -> None:
    def queue(other: str) -> dict[str, Any]:
        return {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": [other, "Arn"]}}}

    template = {"Resources": {"Alpha": queue("Beta"), "Beta": queue("Alpha"), "Gamma": {"Type": "AWS::SNS::Topic"}}}

    with pytest.raises(DependencyCycleError, match="circular dependency between resources: Alpha -> Beta -> Alpha"):
        deploy(aws, _inline(template), stack_name="cycle")


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            {"Type": "AWS::SNS::Topic", "DependsOn": ["Ghost"]},
            "Thing (AWS::SNS::Topic): DependsOn names 'Ghost', which is not a resource of the template",
        ),
        (
            {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "${Ghost.Arn}"}}},
            "Thing (AWS::SNS::Topic).TopicName: 'Ghost' is not a parameter or resource of the template",
        ),
        (
            {"Type": "AWS::SNS::Topic", "Flavour": "x"},
            "Thing (AWS::SNS::Topic): unknown resource attribute(s) ['Flavour']",
        ),
        (
            {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Code": {"ZipFile": "def h(e, c): pass"}, "Handler": "index.h", "Role": "arn"},
            },
            "Thing (AWS::Lambda::Function): property Code {'ZipFile': 'def h(e, c): pass'} is not local code",
        ),
        (
            {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/x",
                    "DefinitionString": '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}", "End": true}}}',
                    "DefinitionSubstitutions": {"Other": "x"},
                },
            },
            "Thing (AWS::StepFunctions::StateMachine): the definition uses ${Fn}, which DefinitionSubstitutions does",
        ),
    ],
)
def test_template_mistakes_are_clear_errors(aws: EmbeddedAws, resource: dict[str, Any], message: str) -> None:
    with pytest.raises(DeployError) as caught:
        deploy(aws, _inline({"Resources": {"Thing": resource}}), stack_name="mistake")

    assert str(caught.value).startswith(message)


def test_stack_names_follow_cloudformations_rules(aws: EmbeddedAws, translated: TranslatedTemplate) -> None:
    with pytest.raises(DeployError, match="stack name '1st_stack' must start with a letter"):
        deploy(aws, translated, stack_name="1st_stack")


def test_the_deployer_handles_exactly_the_types_the_template_uses(translated: TranslatedTemplate) -> None:
    """A handler for a type no template uses is code nobody runs: it goes, and the type is refused by name."""
    used = {resource["Type"] for resource in translated.template["Resources"].values()}

    assert set(supported_resource_types()) == used


# CloudFormation's own name property of each type, and Tags: what a user renaming or tagging a resource sets.
NAMES_AND_TAGS = {"BucketName", "TopicName", "QueueName", "TableName", "RoleName", "FunctionName", "Name", "Tags"}


def test_the_deployer_maps_only_the_properties_the_template_uses(translated: TranslatedTemplate) -> None:
    used: dict[str, set[str]] = {}
    for resource in translated.template["Resources"].values():
        used.setdefault(resource["Type"], set()).update(resource.get("Properties") or {})

    unused = {
        kind: sorted(properties - used[kind] - NAMES_AND_TAGS)
        for kind, properties in supported_resource_types().items()
        if properties - used[kind] - NAMES_AND_TAGS
    }

    assert unused == {}
