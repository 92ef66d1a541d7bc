"""template.yaml and samconfig.toml: runtime, layer, least privilege, defaults kept in one place."""

import re
import tomllib
from typing import Any

import pytest

from mlrollout.domain.config import RolloutConfig
from mlrollout.settings import Settings
from mlrollout_sandbox.template import load_template
from support import FUNCTIONS, ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
FUNCTION_RESOURCES = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}


def statements(value: Any) -> list[dict[str, Any]]:
    """Every IAM statement anywhere under `value` (inline policies, SAM Policies, key and topic policies)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "Effect" in value and "Action" in value:
            found.append(value)
        for child in value.values():
            found.extend(statements(child))
    elif isinstance(value, list):
        for child in value:
            found.extend(statements(child))
    return found


def test_functions_use_python313_and_the_core_layer() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Layers"] == [{"Ref": "CoreLayer"}]
    for name in ("CoreLayer", "SlackLayer"):
        assert RESOURCES[name]["Metadata"]["BuildMethod"] == "python3.13"
    layer = RESOURCES["CoreLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/core/"
    assert not (ROOT / "layers" / "core" / "python").exists()


def test_one_function_per_folder_and_one_folder_per_function() -> None:
    in_template = {
        v["Properties"]["CodeUri"].strip("/").removeprefix("functions/") for v in FUNCTION_RESOURCES.values()
    }
    on_disk = {p.parent.name for p in FUNCTIONS.glob("*/app.py")}
    assert in_template == on_disk


@pytest.mark.parametrize("statement", statements(TEMPLATE["Resources"]), ids=lambda s: s.get("Sid", "?"))
def test_no_iam_statement_allows_wildcard_actions(statement: dict[str, Any]) -> None:
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    if statement.get("Sid") == "AccountAdministers":  # the KMS key policy's root delegation, required by KMS
        return
    if statement["Effect"] == "Deny":  # a wildcard in a Deny takes permissions away
        return
    for action in actions:
        assert action != "*" and not action.endswith(":*"), f"{statement.get('Sid')}: {action}"


def test_pass_role_names_one_role_for_one_service() -> None:
    passed = {}
    for statement in statements(TEMPLATE["Resources"]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if "iam:PassRole" in actions:
            assert statement["Resource"] != "*"
            passed[statement["Sid"]] = statement["Condition"]["StringEquals"]["iam:PassedToService"]
    assert passed == {"PassModelRole": "sagemaker.amazonaws.com", "PassSchedulerRole": "scheduler.amazonaws.com"}


def test_bucket_is_versioned_private_encrypted_tls_only_and_emits_events() -> None:
    bucket = RESOURCES["ArtifactBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert (
        bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    [deny] = RESOURCES["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"


def test_uploads_start_the_state_machine_with_retries_and_a_dead_letter_queue() -> None:
    event = RESOURCES["RolloutStateMachine"]["Properties"]["Events"]["ModelUploaded"]
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "models/*/*/model.tar.gz"}]
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert "Arn" in event["Properties"]["DeadLetterConfig"]


def test_state_machine_logs_and_traces() -> None:
    machine = RESOURCES["RolloutStateMachine"]["Properties"]
    assert machine["Type"] == "STANDARD"
    assert machine["Tracing"]["Enabled"] is True
    assert machine["Logging"]["Level"] in {"ERROR", "ALL"}


def test_alerts_topic_is_encrypted_and_email_is_optional() -> None:
    assert "KmsMasterKeyId" in RESOURCES["AlertsTopic"]["Properties"]
    assert RESOURCES["AlertEmailSubscription"]["Condition"] == "HasAlertEmail"


def test_stack_parameter_defaults_equal_the_config_model_defaults() -> None:
    """One source of truth: the template's defaults for rollout.yaml fields are the model's defaults."""
    parameters = TEMPLATE["Parameters"]
    defaults = RolloutConfig.model_validate({"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/i:1"})
    assert float(parameters["BakeMinutes"]["Default"]) == defaults.strategy.bake_minutes
    assert [float(s) for s in str(parameters["CanarySteps"]["Default"]).split(",")] == defaults.strategy.steps
    assert float(parameters["MaxErrorRate"]["Default"]) == defaults.judge.max_error_rate
    assert float(parameters["MaxP99LatencyMs"]["Default"]) == defaults.judge.max_p99_latency_ms
    assert int(parameters["MinRequests"]["Default"]) == defaults.judge.min_requests
    assert int(parameters["MaxArtifactMiB"]["Default"]) == Settings().max_artifact_mib


def test_every_environment_variable_is_a_setting() -> None:
    variables = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    known = {name.upper() for name in Settings.model_fields} | {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "PYDANTIC_DISABLE_PLUGINS",
    }
    assert variables <= known, variables - known


def test_samconfig_has_dev_and_prod_without_account_specifics() -> None:
    text = (ROOT / "samconfig.toml").read_text()
    config = tomllib.loads(text)
    for env in ("dev", "prod"):
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True
        assert deploy["stack_name"]
    assert not re.search(r"\b\d{12}\b", text)
    assert "s3_bucket" not in text


def test_the_configuration_reference_is_generated_from_the_model() -> None:
    from mlrollout_dev.configdoc import render

    assert (ROOT / "docs" / "configuration.md").read_text() == render(), (
        "run: python -m mlrollout_dev.configdoc > docs/configuration.md"
    )


def test_email_gets_alerts_at_or_above_its_minimum_severity() -> None:
    subscription = RESOURCES["AlertEmailSubscription"]["Properties"]
    assert subscription["FilterPolicyScope"] == "MessageAttributes"
    assert subscription["FilterPolicy"]["severity"] == {
        "Fn::FindInMap": ["SeverityAtLeast", {"Ref": "EmailMinSeverity"}, "Values"]
    }
    table = TEMPLATE["Mappings"]["SeverityAtLeast"]
    assert table == {
        "info": {"Values": ["info", "warning", "critical"]},
        "warning": {"Values": ["warning", "critical"]},
        "critical": {"Values": ["critical"]},
    }
    assert set(table) == set(TEMPLATE["Parameters"]["EmailMinSeverity"]["AllowedValues"])


def test_monitoring_events_reach_the_relay_and_the_detacher() -> None:
    relay = RESOURCES["RelayAlertFunction"]["Properties"]["Events"]
    alarms = relay["DriftAlarms"]["Properties"]["Pattern"]
    assert alarms["detail-type"] == ["CloudWatch Alarm State Change"]
    assert alarms["detail"]["alarmName"] == [{"prefix": {"Fn::Sub": "${AWS::StackName}-"}}]
    violations = relay["MonitoringViolations"]["Properties"]["Pattern"]
    assert violations["detail"]["ExitMessage"] == [{"prefix": "CompletedWithViolations"}]
    deleted = RESOURCES["DetachMonitoringFunction"]["Properties"]["Events"]["EndpointDeleted"]["Properties"]["Pattern"]
    assert deleted["detail"]["EndpointStatus"] == ["DELETING"]
    for events in (relay, RESOURCES["DetachMonitoringFunction"]["Properties"]["Events"]):
        for event in events.values():
            assert event["Properties"]["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DriftDeadLetterQueue", "Arn"]}


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return set(action if isinstance(action, list) else [action])


def _function_statements(name: str) -> list[dict[str, Any]]:
    return statements(FUNCTION_RESOURCES[name]["Properties"].get("Policies", []))


def test_every_function_that_touches_a_table_may_use_the_tables_key() -> None:
    """The tables are encrypted with DataKey and DynamoDB asks kms:Decrypt of every caller (defect 12)."""
    for name in FUNCTION_RESOURCES:
        granted = _function_statements(name)
        if any(a.startswith("dynamodb:") for s in granted for a in _actions(s)):
            keys = [s for s in granted if "kms:Decrypt" in _actions(s)]
            assert keys and all(s["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]} for s in keys), name


def test_every_queue_eventbridge_dead_letters_to_has_a_queue_policy_for_it() -> None:
    """SAM adds the queue policy only for `Type: SQS`; a DLQ named by Arn needs its own (defect 3)."""
    named = {
        d["Arn"]["Fn::GetAtt"][0]
        for f in FUNCTION_RESOURCES.values()
        for event in (f["Properties"].get("Events") or {}).values()
        if (d := (event.get("Properties") or {}).get("DeadLetterConfig")) and "Arn" in d
    }
    state_machine = RESOURCES["RolloutStateMachine"]["Properties"]["Events"]["ModelUploaded"]["Properties"]
    named.add(state_machine["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    granted = {
        queue["Ref"]
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::SQS::QueuePolicy"
        for queue in resource["Properties"]["Queues"]
        if any(
            s.get("Principal") == {"Service": "events.amazonaws.com"} and "sqs:SendMessage" in _actions(s)
            for s in statements(resource["Properties"]["PolicyDocument"])
        )
    }
    assert named and named <= granted


def test_readers_of_missing_objects_may_list_what_they_read() -> None:
    """Without s3:ListBucket S3 answers a missing key with 403, not the 404 our code explains (defect 6)."""
    for name in ("ValidateArtifactFunction", "AttachMonitoringFunction"):
        listing = [s for s in _function_statements(name) if "s3:ListBucket" in _actions(s)]
        assert listing, name
        # On the bucket itself, with no s3:prefix condition: S3's 404 rule is stated for the ListBucket permission
        # on the bucket, and a prefix-conditioned grant may not count for it.
        assert all(s["Resource"] == {"Fn::GetAtt": ["ArtifactBucket", "Arn"]} for s in listing)
        assert all("Condition" not in s for s in listing)


def test_a_user_supplied_sagemaker_role_is_granted_the_key_and_the_parameter_says_so() -> None:
    """Defect 9: only the key policy can grant a role the stack did not create its key."""
    key_statements = RESOURCES["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    [conditional] = [s for s in key_statements if isinstance(s, dict) and "Fn::If" in s]
    condition, created, supplied = conditional["Fn::If"]
    assert (condition, created) == ("CreateSageMakerRole", {"Ref": "AWS::NoValue"})
    assert supplied["Principal"] == {"AWS": {"Ref": "SageMakerExecutionRoleArn"}}
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= _actions(supplied)
    assert "key policy" in TEMPLATE["Parameters"]["SageMakerExecutionRoleArn"]["Description"]


def test_rollback_may_recreate_a_failed_endpoint_with_its_tags() -> None:
    """Defect 1: CreateEndpoint with Tags needs sagemaker:CreateEndpoint and sagemaker:AddTags."""
    granted = {a for s in _function_statements("RollBackFunction") for a in _actions(s)}
    assert {"sagemaker:CreateEndpoint", "sagemaker:AddTags"} <= granted


def test_the_slack_notifier_may_send_to_its_encrypted_dead_letter_queue() -> None:
    """Defect 5: an SQS sender to a queue encrypted with a customer managed key needs kms:GenerateDataKey."""
    granted = {a for s in _function_statements("SlackNotifierFunction") for a in _actions(s)}
    assert {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"} <= granted
