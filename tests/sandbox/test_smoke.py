"""`make smoke` against the sandbox: the script a user runs in their account, run here end to end.

The run deploys its own stack, uploads the healthy then the faulty version at the shipped judge defaults, and
tears everything down. The assertions read the emulated AWS afterwards, independently of the script's own
teardown check: no endpoint, config or model of the run, and none of the stack's resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mlrollout_dev.smoke import FAULTY, HEALTHY, Names, SandboxTarget, SmokeReport, hourly_on_demand, run_smoke
from mlrollout_dev.smoke_teardown import Resource

# The whole run happens in the module fixture, inside the first test's time: more than the default 300 s allows.
pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(900)]


class RecordingTarget(SandboxTarget):
    """The sandbox target, remembering the stack's resources at the moment the script deletes the stack, so the
    test can look for each of them afterwards."""

    def __init__(self) -> None:
        super().__init__(warp=600.0)
        self.stack_resources: list[Resource] = []

    def delete_stack(self, names: Names, say: Any) -> list[str]:
        self.stack_resources = self.resources(names)
        return super().delete_stack(names, say)


@pytest.fixture(scope="module")
def smoke() -> Iterator[tuple[RecordingTarget, Names, SmokeReport, list[str]]]:
    target, names, said = RecordingTarget(), Names.new(), []
    try:
        report = run_smoke(target, names, say=said.append)
        yield target, names, report, said
    finally:
        target.close()


def test_the_healthy_version_is_promoted_and_the_faulty_one_rolled_back(smoke: Any) -> None:
    target, names, report, said = smoke
    assert report.error is None, "\n".join(said)
    assert [(r.version, r.outcome) for r in report.rollouts] == [(HEALTHY, "promoted"), (FAULTY, "rolled_back")]
    assert report.promoted_then_rolled_back
    assert all(r.execution_status == "SUCCEEDED" for r in report.rollouts[:1])
    assert "error rate" in report.rollouts[1].reason
    # The registry (which the sandbox cannot delete) keeps the verdicts: v1 approved, v2 rejected.
    sagemaker = target.client("sagemaker")
    packages = sagemaker.list_model_packages(ModelPackageGroupName=names.model)["ModelPackageSummaryList"]
    statuses = sorted((p["ModelPackageVersion"], p["ModelApprovalStatus"]) for p in packages)
    assert statuses == [(1, "Approved"), (2, "Rejected")]


def test_the_script_sent_traffic_and_costed_each_rollout(smoke: Any) -> None:
    _, _, report, _ = smoke
    assert sum(report.traffic.values()) > 0
    assert all(r.cost is not None for r in report.rollouts)
    healthy, faulty = report.rollouts
    assert healthy.cost.canary.first_deployment and healthy.cost.canary.instance_hours == 0
    assert faulty.cost.canary.instance_hours > 0 and faulty.cost.metrics_requested > 0
    assert report.control_plane_usd > 0
    assert report.endpoint_instance_hours > faulty.cost.canary.instance_hours
    assert report.instance_usd == pytest.approx(report.endpoint_instance_hours * 0.056, rel=1e-3)


def test_teardown_leaves_no_endpoint(smoke: Any) -> None:
    target, names, report, _ = smoke
    assert report.teardown is not None
    assert report.teardown.problems == [] and report.teardown.remaining == []
    sagemaker = target.client("sagemaker")
    assert names.model not in [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]]
    assert sagemaker.list_endpoint_configs(NameContains=names.model)["EndpointConfigs"] == []
    assert sagemaker.list_models(NameContains=names.model)["Models"] == []


def test_teardown_leaves_none_of_the_stacks_resources(smoke: Any) -> None:
    target, names, _, _ = smoke
    assert target.sandbox.stack.deleted
    kinds = {r.type for r in target.stack_resources}
    assert {"AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Lambda::Function"} <= kinds
    client = target.client
    stack = names.stack
    assert [b["Name"] for b in client("s3").list_buckets()["Buckets"] if b["Name"].startswith(stack)] == []
    assert [t for t in client("dynamodb").list_tables()["TableNames"] if t.startswith(stack)] == []
    assert [f for f in client("lambda").list_functions()["Functions"] if f["FunctionName"].startswith(stack)] == []
    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    assert [m for m in machines if m["name"].startswith(stack)] == []
    queues = client("sqs").list_queues(QueueNamePrefix=stack).get("QueueUrls", [])
    # The sandbox's own stand-in for the operators' inbox (an SQS subscriber it adds) is not part of the run.
    assert [q for q in queues if "-operator-inbox-" not in q] == []
    assert [t for t in client("sns").list_topics()["Topics"] if stack in t["TopicArn"]] == []
    assert [r for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(stack)] == []
    assert client("events").list_rules(NamePrefix=stack)["Rules"] == []
    logs = client("logs")
    for prefix in (f"/aws/lambda/{stack}", f"/aws/vendedlogs/states/{stack}"):
        assert logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"] == []
    kms = client("kms")
    for key in (r.physical_id for r in target.stack_resources if r.type == "AWS::KMS::Key"):
        metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
        assert metadata["KeyState"] == "PendingDeletion"  # KMS deletes a key no sooner than 7 days later


def test_the_report_says_what_was_created_deleted_and_what_it_cost(smoke: Any) -> None:
    from mlrollout_dev.smoke import print_report

    _, names, report, _ = smoke
    printed: list[str] = []
    print_report(report, printed.append)
    text = "\n".join(printed)
    assert f"SageMaker endpoint {names.model}" in text
    assert f"stack {names.stack}" in text
    assert "instance-hours of ml.t2.medium" in text and "estimate" in text
    assert "model package group and versions: not deleted in the sandbox" in text
    assert text.rstrip().endswith("PASSED")


def test_the_hourly_price_is_read_from_a_price_list_document() -> None:
    """One GetProducts PriceList entry, in the layout of the AWS Price List's product documents (terms ->
    OnDemand -> offer -> priceDimensions -> unit and pricePerUnit; https://docs.aws.amazon.com/awsaccountbilling/
    latest/aboutv2/reading-service-price-list-file-for-services.html). The SageMaker values are made up."""
    document = {
        "product": {"productFamily": "ML Instance", "attributes": {"instanceName": "ml.t2.medium"}},
        "terms": {
            "OnDemand": {
                "SKU.OFFER": {
                    "priceDimensions": {
                        "SKU.OFFER.RATE": {"unit": "Hrs", "pricePerUnit": {"USD": "0.0560000000"}},
                    }
                }
            }
        },
    }
    reserved_only = {"terms": {"Reserved": {"SKU.R": {"priceDimensions": {}}}}}
    assert hourly_on_demand([json.dumps(reserved_only), json.dumps(document)]) == 0.056
    assert hourly_on_demand([json.dumps(reserved_only)]) is None
