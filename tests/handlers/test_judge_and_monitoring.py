"""Judge Canary against metrics in the embedded CloudWatch; Attach Monitoring against the embedded SageMaker."""

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrollout.domain.errors import ConfigInvalid
from support import IMAGE

START = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)


def rollout_and_deployment(endpoint: str, **config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from mlrollout.domain.config import RolloutConfig

    resolved = RolloutConfig.model_validate({"image": IMAGE, "endpoint_name": endpoint, **config})
    rollout = {
        "deployment_id": f"{endpoint}-abc",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:e",
        "model_name": endpoint,
        "version_label": "v2",
        "endpoint_name": endpoint,
        "artifact": {
            "bucket": "b",
            "key": f"models/{endpoint}/v2/model.tar.gz",
            "version_id": "1",
            "size": 10,
            "sha256": "ab" * 32,
            "files": 2,
        },
        "config": resolved.model_dump(mode="json"),
        "steps": resolved.strategy.traffic_steps(),
        "started_at": START.isoformat(),
    }
    deployment = {
        "endpoint_name": endpoint,
        "first_deployment": False,
        "candidate_variant": "v2",
        "candidate_model": f"{endpoint}-v2",
        "canary_config": f"{endpoint}-v2-canary",
        "final_config": f"{endpoint}-v2",
        "previous_config": f"{endpoint}-v1",
        "current_variant": "v1",
        "current_model": f"{endpoint}-v1",
        "expected": {"config_name": f"{endpoint}-v2-canary", "weights": {"v1": 0.9, "v2": 0.1}},
    }
    return rollout, deployment


def publish(
    stack: Any, endpoint: str, variant: str, minutes: int, per_minute: int, errors: int, latency_ms: float
) -> None:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    cw = stack.client("cloudwatch")
    for m in range(minutes):
        at = START.replace(second=0) + timedelta(minutes=1 + m)
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": per_minute},
                {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": at, "Value": errors},
                {"MetricName": "Invocation4XXErrors", "Dimensions": dims, "Timestamp": at, "Value": 0},
                {
                    "MetricName": "ModelLatency",
                    "Dimensions": dims,
                    "Timestamp": at,
                    "Values": [latency_ms * 1000, latency_ms * 2000],
                    "Counts": [per_minute - per_minute // 50, per_minute // 50],
                    "Unit": "Microseconds",
                },
            ],
        )


def judge_input(rollout: dict, deployment: dict, minutes_after: int, previous: dict | None = None) -> dict[str, Any]:
    return {
        "rollout": rollout,
        "deployment": deployment,
        "step_index": 0,
        "step_started_at": START.isoformat(),
        "previous": previous,
        "now": (START + timedelta(minutes=minutes_after)).isoformat(),
    }


@pytest.fixture
def endpoint() -> str:
    return f"judged-{uuid.uuid4().hex[:8]}"


def test_a_healthy_canary_passes_once_the_bake_is_over(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint, strategy={"bake_minutes": 10})
    publish(stack, endpoint, "v1", 12, 4500, 9, 20)
    publish(stack, endpoint, "v2", 12, 500, 0, 21)
    early = handler("judge_canary")(judge_input(rollout, deployment, 5))
    assert early["verdict"] == "PASS"
    assert early["action"] == "continue"
    assert early["window_start"].startswith("2026-11-25T12:01:00")
    assert early["window_end"].startswith("2026-11-25T12:05:00")
    done = handler("judge_canary")(judge_input(rollout, deployment, 11, previous=early))
    assert done["verdict"] == "PASS"
    assert done["action"] == "advance"
    assert done["looks"] == 2
    # Every look leaves its decision record in S3, under the deployment.
    assert done["record_uri"] == f"s3://{stack.bucket}/decisions/{endpoint}-abc/step-01/look-002.json"
    record = json.loads(
        stack.client("s3").get_object(Bucket=stack.bucket, Key=done["record_uri"].split("/", 3)[3])["Body"].read()
    )
    assert record["verdict"] == "PASS"
    assert record["raw"]["v2"]["inv"][:3] == [500.0, 500.0, 500.0]
    assert {b["name"] for b in record["bounds"]} >= {"errors", "latency_p99", "latency_mean"}
    assert record["window"]["start"].startswith("2026-11-25T12:01:00")


def test_an_erroring_canary_fails_with_evidence(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint)
    publish(stack, endpoint, "v1", 5, 900, 1, 20)
    publish(stack, endpoint, "v2", 5, 100, 9, 20)
    result = handler("judge_canary")(judge_input(rollout, deployment, 6))
    assert result["verdict"] == "FAIL"
    assert result["action"] == "rollback"
    assert "9.00% against 0.11%" in result["reason"]
    errors = next(c for c in result["checks"] if c["name"] == "errors")
    assert errors["outcome"] == "fail"
    assert next(c for c in result["checks"] if c["name"] == "error_rate_cap")["canary"] == pytest.approx(0.09)


def test_a_slow_canary_fails_on_p99(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint)
    publish(stack, endpoint, "v1", 5, 900, 0, 20)
    publish(stack, endpoint, "v2", 5, 100, 0, 40)
    result = handler("judge_canary")(judge_input(rollout, deployment, 6))
    assert result["verdict"] == "FAIL"
    assert "p99 latency at least +" in result["reason"]
    assert "(estimate +100%)" in result["reason"]


def test_no_traffic_is_inconclusive_and_rolls_back_at_the_deadline(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint, strategy={"bake_minutes": 5, "max_bake_minutes": 10})
    publish(stack, endpoint, "v1", 12, 900, 0, 20)
    waiting = handler("judge_canary")(judge_input(rollout, deployment, 6))
    assert waiting["verdict"] == "INCONCLUSIVE"
    assert waiting["action"] == "continue"
    assert "no data" in waiting["reason"]
    at_deadline = handler("judge_canary")(judge_input(rollout, deployment, 11, previous=waiting))
    assert at_deadline["action"] == "rollback"
    assert "10-minute deadline" in at_deadline["reason"]


def test_the_first_look_before_a_complete_minute_is_inconclusive(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint)
    result = handler("judge_canary")(
        {**judge_input(rollout, deployment, 0), "now": (START + timedelta(seconds=40)).isoformat()}
    )
    assert result["verdict"] == "INCONCLUSIVE"
    assert "No complete minute" in result["reason"]


MONITORING = {
    "backend": "model-monitor",
    "schedule": "cron(0 * ? * * *)",
    "drift_threshold": 0.2,
}
STATISTICS = {
    "version": 0.0,
    "features": [
        {
            "name": "amount",
            "inferred_type": "Fractional",
            "numerical_statistics": {"common": {"num_present": 10, "num_missing": 0}, "min": 1.0, "max": 9.0},
        },
        {
            "name": "hour",
            "inferred_type": "Integral",
            "numerical_statistics": {"common": {"num_present": 10, "num_missing": 0}, "min": 0, "max": 23},
        },
    ],
}


def monitoring_request(stack: Any, endpoint: str, **monitoring: Any) -> dict[str, Any]:
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=stack.bucket, Key=f"baselines/{endpoint}/statistics.json", Body=json.dumps(STATISTICS).encode()
    )
    s3.put_object(Bucket=stack.bucket, Key=f"baselines/{endpoint}/constraints.json", Body=b"{}")
    spec = {
        "baseline_statistics": f"s3://{stack.bucket}/baselines/{endpoint}/statistics.json",
        "baseline_constraints": f"s3://{stack.bucket}/baselines/{endpoint}/constraints.json",
        **monitoring,
    }
    rollout, deployment = rollout_and_deployment(endpoint, monitoring=spec)
    registration = {
        "group_name": endpoint,
        "package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{endpoint}/2",
        "package_version": 2,
    }
    return {"rollout": rollout, "registration": registration, "deployment": deployment, "now": START.isoformat()}


def rollback_alarm(stack: Any, name: str, state: str) -> None:
    """An alarm in `state` that keeps it (no data, missing data ignored), as a business alarm between incidents."""
    cw = stack.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace="Shop",
        MetricName="OrdersPerMinute",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=50,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="ignore",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set to {state} by the test")


def test_a_firing_rollback_alarm_fails_a_healthy_canary(stack: Any, handler: Any, endpoint: str) -> None:
    quiet, firing = f"{endpoint}-quiet", f"{endpoint}-orders-low"
    rollback_alarm(stack, quiet, "OK")
    rollback_alarm(stack, firing, "ALARM")
    rollout, deployment = rollout_and_deployment(endpoint, judge={"rollback_alarms": [quiet, firing]})
    publish(stack, endpoint, "v1", 5, 900, 0, 20)
    publish(stack, endpoint, "v2", 5, 100, 0, 20)
    result = handler("judge_canary")(judge_input(rollout, deployment, 6))
    assert (result["verdict"], result["action"]) == ("FAIL", "rollback")
    assert result["reason"].startswith(f"The canary fails: rollback alarm {firing} is in ALARM since ")
    assert result["reason"].endswith("(set to ALARM by the test).")
    record = json.loads(
        stack.client("s3").get_object(Bucket=stack.bucket, Key=result["record_uri"].split("/", 3)[3])["Body"].read()
    )
    assert record["rollback_alarms"] == {quiet: "OK", firing: "ALARM"}


def test_metrics_cloudwatch_cannot_serve_make_a_look_inconclusive_never_a_pass(
    stack: Any, handler: Any, endpoint: str
) -> None:
    rollout, deployment = rollout_and_deployment(endpoint, strategy={"bake_minutes": 5, "max_bake_minutes": 10})
    publish(stack, endpoint, "v1", 12, 4500, 9, 20)
    publish(stack, endpoint, "v2", 12, 500, 0, 21)
    # As many failures as the client makes attempts (1 + 5 retries): the outage outlasts its retries.
    stack.aws.emulator.faults.arm("cloudwatch.api", "error", action="GetMetricData", times=6)
    look = handler("judge_canary")(judge_input(rollout, deployment, 6))
    assert (look["verdict"], look["action"]) == ("INCONCLUSIVE", "continue")
    assert look["reason"].startswith(
        f"Metrics unavailable, so no verdict from this look: CloudWatch GetMetricData failed for endpoint {endpoint}: "
        "InternalServiceError: "
    )
    stack.aws.emulator.faults.arm("cloudwatch.api", "throttle", action="GetMetricData", times=2)
    recovered = handler("judge_canary")(judge_input(rollout, deployment, 7, previous=look))
    assert (recovered["verdict"], recovered["action"]) == ("PASS", "advance")  # retried through a brief throttle


def test_rollback_alarms_that_cannot_be_read_keep_a_passing_canary_inconclusive(
    stack: Any, handler: Any, endpoint: str
) -> None:
    rollback_alarm(stack, f"{endpoint}-orders-low", "OK")
    rollout, deployment = rollout_and_deployment(endpoint, judge={"rollback_alarms": [f"{endpoint}-orders-low"]})
    publish(stack, endpoint, "v1", 12, 4500, 9, 20)
    publish(stack, endpoint, "v2", 12, 500, 0, 21)
    stack.aws.emulator.faults.arm("cloudwatch.api", "throttle", action="DescribeAlarms", times=6)
    result = handler("judge_canary")(judge_input(rollout, deployment, 11))
    assert result["verdict"] == "INCONCLUSIVE"
    assert "But the rollback alarms could not be read: CloudWatch DescribeAlarms failed" in result["reason"]


def test_builtin_monitoring_schedules_drift_detection_with_one_alarm_per_feature(
    stack: Any, handler: Any, endpoint: str
) -> None:
    from mlrollout.domain.alarms import AlarmInfo

    request = monitoring_request(stack, endpoint, schedule="rate(30 minutes)", psi_threshold=0.25, cooldown_minutes=90)
    result = handler("attach_monitoring")(request)
    assert result["status"] == "attached"
    assert result["schedule"] == f"{endpoint}-drift"
    scheduler = stack.client("scheduler")
    schedule = scheduler.get_schedule(Name=result["schedule"], GroupName=stack.schedule_group)
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"
    assert schedule["Target"]["Arn"].endswith(f"function:detect-drift-{stack.bucket.removeprefix('artifacts-')}")
    payload = json.loads(schedule["Target"]["Input"])
    assert payload["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    assert payload["period_seconds"] == 1800
    assert payload["thresholds"] == {"psi": 0.25, "js": 0.1, "missing_rate": 0.05}
    assert payload["capture_uri"] == f"s3://{stack.bucket}/capture/{endpoint}"
    assert (payload["model_name"], payload["version_label"], payload["deployment_id"]) == (
        endpoint,
        "v2",
        f"{endpoint}-abc",
    )

    alarms = stack.client("cloudwatch").describe_alarms(AlarmNames=result["alarms"])["MetricAlarms"]
    by_feature = {AlarmInfo.parse(a["AlarmDescription"]).feature: a for a in alarms}  # type: ignore[union-attr]
    assert set(by_feature) == {"amount", "hour", "@schema"}
    amount = by_feature["amount"]
    assert (amount["Namespace"], amount["MetricName"], amount["Threshold"], amount["Period"]) == (
        "mlrollout/DataDrift",
        "DriftScore",
        1.0,
        1800,
    )
    assert {d["Name"]: d["Value"] for d in amount["Dimensions"]} == {"Endpoint": endpoint, "Feature": "amount"}
    assert amount["TreatMissingData"] == "ignore"
    assert amount.get("AlarmActions", []) == []  # operators hear through the relay, not the alarm's own action
    info = AlarmInfo.parse(amount["AlarmDescription"])
    assert info is not None
    assert (info.cooldown_minutes, info.thresholds["psi"], info.model, info.version) == (90, 0.25, endpoint, "v2")
    assert by_feature["@schema"]["MetricName"] == "SchemaViolations"

    # Re-running converges; switching to Model Monitor removes the builtin schedule and its alarms' shape.
    assert handler("attach_monitoring")(request) == result
    request["rollout"]["config"]["monitoring"].update(backend="model-monitor", schedule="cron(0 * ? * * *)")
    switched = handler("attach_monitoring")(request)
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name=result["schedule"], GroupName=stack.schedule_group)
    names = [
        a["AlarmName"]
        for a in stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if endpoint in a["AlarmName"]
    ]
    assert sorted(names) == switched["alarms"]
    assert not any(name.endswith("@schema") for name in names)
    # ...and back: the Model Monitor schedule and its job definition go.
    request["rollout"]["config"]["monitoring"]["backend"] = "builtin"
    handler("attach_monitoring")(request)
    sm = stack.client("sagemaker")
    listed = sm.list_monitoring_schedules(EndpointName=endpoint)["MonitoringScheduleSummaries"]
    assert listed == []
    definitions = sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert switched["job_definition"] not in {d["MonitoringJobDefinitionName"] for d in definitions}


def test_model_monitor_attaches_a_schedule_and_drift_alarms(stack: Any, handler: Any, endpoint: str) -> None:
    s3 = stack.client("s3")
    statistics = STATISTICS
    s3.put_object(
        Bucket=stack.bucket, Key=f"baselines/{endpoint}/statistics.json", Body=json.dumps(statistics).encode()
    )
    s3.put_object(Bucket=stack.bucket, Key=f"baselines/{endpoint}/constraints.json", Body=b"{}")
    monitoring = {
        **MONITORING,
        "baseline_statistics": f"s3://{stack.bucket}/baselines/{endpoint}/statistics.json",
        "baseline_constraints": f"s3://{stack.bucket}/baselines/{endpoint}/constraints.json",
    }
    rollout, deployment = rollout_and_deployment(endpoint, monitoring=monitoring)
    registration = {
        "group_name": endpoint,
        "package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{endpoint}/2",
        "package_version": 2,
    }
    request = {"rollout": rollout, "registration": registration, "deployment": deployment, "now": START.isoformat()}
    sm = stack.client("sagemaker")
    sm.create_model(ModelName=f"{endpoint}-m", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=stack.role_arn)
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-cfg",
        ProductionVariants=[
            {
                "VariantName": "v2",
                "ModelName": f"{endpoint}-m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-cfg")

    result = handler("attach_monitoring")(request)
    assert result["status"] == "attached"
    schedule = sm.describe_monitoring_schedule(MonitoringScheduleName=result["schedule"])
    assert schedule["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    job = sm.describe_data_quality_job_definition(JobDefinitionName=result["job_definition"])
    assert job["DataQualityAppSpecification"]["Environment"]["publish_cloudwatch_metrics"] == "Enabled"
    assert job["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == endpoint
    assert (
        job["DataQualityAppSpecification"]["ImageUri"]
        == "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNames=result["alarms"])["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == {"feature_baseline_drift_amount", "feature_baseline_drift_hour"}
    for alarm in alarms:
        assert alarm["Namespace"] == "aws/sagemaker/Endpoints/data-metrics"
        assert alarm.get("AlarmActions", []) == []
        assert alarm["Threshold"] == 0.2
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "Endpoint": endpoint,
            "MonitoringSchedule": result["schedule"],
        }

    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=schedule["MonitoringScheduleArn"])["Tags"]}
    assert tags["mlrollout:stack"] == os.environ["STACK_NAME"]  # the alert relay reports only its stack's schedules
    # A schedule from before the stack tag existed gets it when the next version updates the schedule.
    sm.delete_tags(ResourceArn=schedule["MonitoringScheduleArn"], TagKeys=["mlrollout:stack"])

    # A later version narrows the features: the schedule follows, stale alarms go, re-running is idempotent.
    rollout["config"]["monitoring"]["features"] = ["amount"]
    registration["package_version"] = 3
    again = handler("attach_monitoring")(request)
    assert again["schedule"] == result["schedule"]
    assert again["job_definition"] != result["job_definition"]
    remaining = stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert [a["MetricName"] for a in remaining if endpoint in a["AlarmName"]] == ["feature_baseline_drift_amount"]
    assert handler("attach_monitoring")(request) == again
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=schedule["MonitoringScheduleArn"])["Tags"]}
    assert (tags["mlrollout:stack"], tags["mlrollout:endpoint"]) == (os.environ["STACK_NAME"], endpoint)
    definitions = {
        d["MonitoringJobDefinitionName"] for d in sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    }
    assert result["job_definition"] not in definitions


def test_monitoring_without_its_baseline_is_a_configuration_error(stack: Any, handler: Any, endpoint: str) -> None:
    monitoring = {
        **MONITORING,
        "baseline_statistics": f"s3://{stack.bucket}/missing/statistics.json",
        "baseline_constraints": f"s3://{stack.bucket}/missing/constraints.json",
    }
    rollout, deployment = rollout_and_deployment(endpoint, monitoring=monitoring)
    registration = {"group_name": endpoint, "package_arn": "arn:x", "package_version": 2}
    with pytest.raises(ConfigInvalid, match=r"baseline_statistics s3://.*/missing/statistics.json does not exist"):
        handler("attach_monitoring")(
            {"rollout": rollout, "registration": registration, "deployment": deployment, "now": START.isoformat()}
        )


def test_no_monitoring_section_is_skipped_and_said(stack: Any, handler: Any, endpoint: str) -> None:
    rollout, deployment = rollout_and_deployment(endpoint)
    registration = {"group_name": endpoint, "package_arn": "arn:x", "package_version": 2}
    result = handler("attach_monitoring")(
        {"rollout": rollout, "registration": registration, "deployment": deployment, "now": START.isoformat()}
    )
    assert result == {
        "status": "skipped",
        "detail": "no monitoring section in rollout.yaml",
        "schedule": None,
        "job_definition": None,
        "alarms": [],
    }
