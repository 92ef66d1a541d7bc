"""template.yaml through the sandbox's packaging and the SAM translator, as CloudFormation would receive it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlrollout_dev.checks import known_schema_gap
from mlrollout_sandbox.template import (
    PLACEHOLDER_BUCKET,
    TemplateError,
    TranslatedTemplate,
    cfn_lint_template,
    load_template,
    main,
    translate_template,
)

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
ASL = REPO / "statemachines" / "rollout.asl.json"
FUNCTION_DIRS = sorted(p.parent.name for p in (REPO / "functions").glob("*/app.py"))


@pytest.fixture(scope="module")
def translated() -> TranslatedTemplate:
    return translate_template(TEMPLATE)


def _of_type(translated: TranslatedTemplate, kind: str) -> dict[str, Any]:
    return {k: r for k, r in translated.resources.items() if r["Type"] == kind}


def _joined_definition(resource: dict[str, Any]) -> str:
    separator, parts = resource["Properties"]["DefinitionString"]["Fn::Join"]
    return str(separator.join(parts))


def _project_copy(tmp_path: Path, template_text: str | None = None) -> Path:
    """A throwaway project: template.yaml plus links to the real code, so a test can break one file."""
    (tmp_path / "template.yaml").write_text(template_text or TEMPLATE.read_text())
    for folder in ("functions", "layers"):
        (tmp_path / folder).symlink_to(REPO / folder)
    (tmp_path / "statemachines").mkdir()
    shutil.copy(ASL, tmp_path / "statemachines" / ASL.name)
    return tmp_path / "template.yaml"


# ------------------------------------------------------------------------------------------ the real template


def test_translation_leaves_only_cloudformation_types(translated: TranslatedTemplate) -> None:
    types = {r["Type"] for r in translated.resources.values()}

    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    assert "Transform" not in translated.template
    assert {
        "AWS::KMS::Key",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::DynamoDB::Table",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::IAM::Role",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Function",
        "AWS::Logs::LogGroup",
        "AWS::StepFunctions::StateMachine",
        "AWS::Events::Rule",
        "AWS::CloudWatch::Dashboard",
    } <= types
    assert len(_of_type(translated, "AWS::Lambda::Function")) == len(FUNCTION_DIRS)


def test_every_function_has_its_code_dir(translated: TranslatedTemplate) -> None:
    functions = _of_type(translated, "AWS::Lambda::Function")

    assert set(translated.function_code_dirs) == set(functions)
    for logical_id, folder in translated.function_code_dirs.items():
        assert (folder / "app.py").is_file(), logical_id
        assert functions[logical_id]["Properties"]["Code"] == {"S3Bucket": PLACEHOLDER_BUCKET, "S3Key": logical_id}
    assert sorted(p.name for p in translated.function_code_dirs.values()) == FUNCTION_DIRS


def test_the_layer_keeps_its_content_dir_and_build_method_under_sams_new_logical_id(
    translated: TranslatedTemplate,
) -> None:
    layer_id = translated.logical_id("CoreLayer")
    layers = _of_type(translated, "AWS::Lambda::LayerVersion")

    assert layer_id != "CoreLayer"  # SAM appends a content hash to layer logical ids
    assert translated.renamed["CoreLayer"] == layer_id
    assert set(translated.renamed.values()) == set(layers)
    assert set(translated.layer_content_dirs) == set(translated.layer_build_methods) == set(layers)
    assert translated.layer_content_dirs[layer_id] == REPO / "layers" / "core"
    assert translated.layer_build_methods[layer_id] == "python3.13"
    for function in _of_type(translated, "AWS::Lambda::Function").values():
        assert function["Properties"]["Layers"][0] == {"Ref": layer_id}  # the Globals layer comes first


def test_the_state_machine_carries_the_real_definition_and_its_substitutions(translated: TranslatedTemplate) -> None:
    (machine,) = _of_type(translated, "AWS::StepFunctions::StateMachine").values()
    text = _joined_definition(machine)
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))

    assert json.loads(text) == json.loads(ASL.read_text())
    assert set(machine["Properties"]["DefinitionSubstitutions"]) == placeholders
    assert machine["Properties"]["DefinitionSubstitutions"]["NotifyFunctionArn"] == {
        "Fn::GetAtt": ["NotifyFunction", "Arn"]
    }
    assert "${ValidateArtifactFunctionArn}" in text


def test_the_upload_event_becomes_a_rule_targeting_the_state_machine(translated: TranslatedTemplate) -> None:
    rules = _of_type(translated, "AWS::Events::Rule")
    (rule,) = [r for r in rules.values() if r["Properties"].get("Name") == {"Fn::Sub": "${AWS::StackName}-uploads"}]
    (target,) = rule["Properties"]["Targets"]

    assert rule["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-uploads"}
    assert target["Arn"] == {"Ref": "RolloutStateMachine"}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["UploadDeadLetterQueue", "Arn"]}}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}


def test_translation_needs_no_region_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")

    china = translate_template(TEMPLATE, region="cn-north-1")

    role = china.resources["NotifyFunctionRole"]["Properties"]
    assert china.region == "cn-north-1"
    assert "arn:aws-cn:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" in role["ManagedPolicyArns"]


def test_loading_reads_short_forms_and_dates_as_cloudformation_does(tmp_path: Path) -> None:
    template = load_template(TEMPLATE)
    (tmp_path / "t.yaml").write_text("Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties: {V: 2012-10-17}\n")

    assert template["Conditions"]["HasAlertEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}
    assert template["Resources"]["ArtifactBucketPolicy"]["Properties"]["Bucket"] == {"Ref": "ArtifactBucket"}
    assert load_template(tmp_path / "t.yaml")["Resources"]["K"]["Properties"] == {"V": "2012-10-17"}


def test_loading_does_not_teach_yaml_safe_load_the_cloudformation_tags() -> None:
    load_template(TEMPLATE)

    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load("value: !Ref Somewhere")


# ------------------------------------------------------------------------------------------ cfn-lint


def test_cfn_lint_template_inlines_the_definition_as_one_string(translated: TranslatedTemplate) -> None:
    lint_ready = cfn_lint_template(translated)
    (machine,) = [r for r in lint_ready["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]

    assert isinstance(machine["Properties"]["DefinitionString"], str)
    assert json.loads(machine["Properties"]["DefinitionString"]) == json.loads(ASL.read_text())
    # the translated template itself stays as SAM produced it
    assert isinstance(translated.resources["RolloutStateMachine"]["Properties"]["DefinitionString"], dict)


def test_cfn_lint_checks_the_definition_with_e3601(tmp_path: Path, translated: TranslatedTemplate) -> None:
    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    broken = json.loads(ASL.read_text())
    broken["StartAt"] = "No Such State"
    template = _project_copy(tmp_path)
    (tmp_path / "statemachines" / ASL.name).write_text(json.dumps(broken))
    out = tmp_path / "out" / "template.json"

    assert main([str(template), "-o", str(out)]) == 0
    matches = lint(out.read_text(), config=ManualArgs(regions=["us-east-1"]))
    clean = lint(json.dumps(cfn_lint_template(translated)), config=ManualArgs(regions=["us-east-1"]))

    assert any(m.rule.id == "E3601" and "No Such State" in m.message for m in matches)
    assert not [m for m in clean if m.rule.id.startswith("E") and not known_schema_gap(m.rule.id, m.message)]
    # The findings accepted: JSONata TimeoutSeconds (Request Approval's, and the Await states' re-check), which the
    # schema does not know yet.
    recheck = "'{% ${EndpointRecheckSeconds} %}' is not of type 'number' at 'States/{}/TimeoutSeconds'"
    assert sorted(m.message for m in clean if m.rule.id.startswith("E")) == sorted(
        [
            "'{% $round($rollout.config.approval_timeout_minutes * 60) %}' is not of type 'number' at "
            "'States/Request Approval/TimeoutSeconds'",
            *(recheck.replace("{}", state) for state in ("Await Deployed", "Await Shift", "Await Promoted")),
        ]
    )


def test_main_prints_the_json_and_reports_errors_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(TEMPLATE)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "RolloutStateMachine" in printed["Resources"]

    assert main([str(tmp_path / "missing.yaml")]) == 1
    assert "template file not found" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ errors


def test_a_missing_template_is_named() -> None:
    with pytest.raises(TemplateError, match=r"nowhere\.yaml: template file not found"):
        translate_template("/nonexistent/nowhere.yaml")


def test_a_missing_definition_file_names_the_resource_and_the_file(tmp_path: Path) -> None:
    template = _project_copy(tmp_path)
    (tmp_path / "statemachines" / ASL.name).unlink()

    with pytest.raises(TemplateError) as caught:
        translate_template(template)

    assert caught.value.path == template
    assert "RolloutStateMachine: DefinitionUri 'statemachines/rollout.asl.json' cannot be read" in str(caught.value)


def test_an_unparsable_definition_is_reported_with_its_position(tmp_path: Path) -> None:
    template = _project_copy(tmp_path)
    (tmp_path / "statemachines" / ASL.name).write_text('{"StartAt": "A",\n "States": }')

    with pytest.raises(TemplateError, match=r"is not valid JSON/YAML .*line 2"):
        translate_template(template)


def test_a_missing_code_folder_is_reported(tmp_path: Path) -> None:
    text = TEMPLATE.read_text().replace("CodeUri: functions/notify/", "CodeUri: functions/no_such_step/")
    template = _project_copy(tmp_path, text)

    with pytest.raises(TemplateError, match=r"NotifyFunction: CodeUri 'functions/no_such_step/' does not exist"):
        translate_template(template)


def test_every_translation_error_is_listed(tmp_path: Path) -> None:
    text = """
Transform: AWS::Serverless-2016-10-31
Resources:
  First:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/notify/
      Handler: app.lambda_handler
      Runtime: python3.13
      Events: {Timer: {Type: Schedule, Properties: {Schedule: rate(1 hour), Enabled: maybe, State: ENABLED}}}
  Second:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/notify/
      Handler: app.lambda_handler
      Runtime: python3.13
      Events: {Upload: {Type: NoSuchEventSource}}
"""
    template = _project_copy(tmp_path, text)

    with pytest.raises(TemplateError) as caught:
        translate_template(template)

    assert len(caught.value.problems) >= 2
    assert any("[FirstTimer]" in p for p in caught.value.problems)
    assert any("[Second]" in p for p in caught.value.problems)
    assert all(p.startswith("SAM translation failed: ") for p in caught.value.problems)


def test_a_managed_policy_name_sam_does_not_know_is_an_error(tmp_path: Path) -> None:
    text = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/notify/
      Handler: app.lambda_handler
      Runtime: python3.13
      Policies: [NoSuchManagedPolicyAnywhere]
"""
    template = _project_copy(tmp_path, text)

    with pytest.raises(TemplateError, match="WorkerRole: managed policy 'NoSuchManagedPolicyAnywhere'"):
        translate_template(template)
