"""The emulated Model Monitor analyzer, observed the way an operator sees it: metrics, executions, S3 reports.

Each test starts its own embedded AWS (the emulator patches moto process-wide, and the ticker test needs a clock
that starts just before the top of an hour). The job definition, the schedule and the drift alarm are created
with mlrollout's own adapters, so the emulator is checked against the shapes the control plane really uses.
Executions and alarm evaluations are explicit (the ticker is stopped) except in the ticker test.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrollout.adapters.monitoring import CloudWatchAlarms, SageMakerMonitoring
from mlrollout.domain.drift import build_baseline
from mlrollout.domain.drift_metrics import DATA_METRICS_NAMESPACE
from mlrollout.ports import DataQualityJob, DriftAlarm
from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.cloudwatch import CloudWatchService
from mlrollout_sandbox.emulator.monitor import NO_DATA, ModelMonitorEmulator, install
from mlrollout_sandbox.emulator.sagemaker import SageMakerService
from mlrollout_sandbox.server import EmbeddedAws

pytestmark = pytest.mark.sandbox

WARP = 600.0
START = datetime(2030, 1, 15, 14, 30, tzinfo=UTC)
HOUR_12 = datetime(2030, 1, 15, 12, tzinfo=UTC)
ROLE = "arn:aws:iam::123456789012:role/sandbox-sagemaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-scorer:1.0"
MONITOR_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
HOURLY = "cron(0 * ? * * *)"
MERCHANTS = {"grocery": 0.4, "fuel": 0.2, "electronics": 0.15, "travel": 0.15, "gaming": 0.1}
DRIFTED_MERCHANTS = {**MERCHANTS, "crypto": 0.3}
POLL_SECONDS = 10.0


# ------------------------------------------------------------------------------------------------- traffic


def transaction(rng: random.Random, *, scale: float = 1.0, merchants: dict[str, float] = MERCHANTS) -> dict[str, Any]:
    """The data plane's fraud-scorer request: a lognormal amount (median 60), a merchant, an hour."""
    return {
        "amount": round(rng.lognormvariate(math.log(60), 1.0) * scale, 2),
        "merchant": rng.choices(list(merchants), weights=list(merchants.values()))[0],
        "hour": rng.randrange(24),
    }


def score(features: dict[str, Any]) -> dict[str, Any]:
    probability = round(min(0.99, features["amount"] / 1000), 4)
    return {"fraud_probability": probability, "flag": probability > 0.5}


def capture_record(features: dict[str, Any], when: datetime) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": json.dumps({"features": features}),
                    "encoding": "JSON",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps(score(features)),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )


def baseline_documents(seed: int = 1, size: int = 3000) -> tuple[dict[str, Any], dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(size):
        features = transaction(rng)
        rows.append({**features, **{f"output.{k}": v for k, v in score(features).items()}})
    return build_baseline(rows)


# ------------------------------------------------------------------------------------------------ scenario


@dataclass
class Scenario:
    aws: EmbeddedAws
    bucket: str
    endpoint: str
    schedule: str
    definition: str

    @property
    def output_uri(self) -> str:
        return f"s3://{self.bucket}/monitoring/{self.endpoint}"

    def put_capture(self, hour: datetime, records: list[str], *, extra_lines: tuple[str, ...] = ()) -> None:
        """One capture file in the hour's folder (as SageMaker lays them out), records then any extra lines."""
        key = f"capture/{self.endpoint}/AllTraffic/{hour:%Y/%m/%d/%H}/{uuid.uuid4().hex[:8]}.jsonl"
        body = "\n".join([*records, *extra_lines]) + "\n"
        self.aws.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body.encode())

    def put_window(
        self, start: datetime, count: int, *, seed: int, scale: float = 1.0, merchants: dict[str, float] = MERCHANTS
    ) -> None:
        """`count` records spread over [start, start + 1h): most in the hour's folder, the last minutes' records
        in the next hour's folder (a capture file is written after its records)."""
        rng = random.Random(seed)
        records = [
            (start + timedelta(seconds=i * 3600 / count), transaction(rng, scale=scale, merchants=merchants))
            for i in range(count)
        ]
        late = start + timedelta(minutes=55)
        self.put_capture(start, [capture_record(f, t) for t, f in records if t < late])
        self.put_capture(start + timedelta(hours=1), [capture_record(f, t) for t, f in records if t >= late])

    def report(self, hour: datetime, name: str) -> Any:
        key = f"monitoring/{self.endpoint}/{self.endpoint}/{self.schedule}/{hour:%Y/%m/%d/%H}/{name}"
        return json.loads(self.aws.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())


def create_scenario(aws: EmbeddedAws, *, statistics_key: str = "baseline/statistics.json") -> Scenario:
    """A bucket with a baseline, a model behind an endpoint capturing its traffic, a job definition, a schedule."""
    suffix = uuid.uuid4().hex[:8]
    bucket, endpoint = f"mm-{suffix}", f"fraud-scorer-{suffix}"
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    s3.create_bucket(Bucket=bucket)
    statistics, constraints = BASELINE
    s3.put_object(Bucket=bucket, Key="baseline/statistics.json", Body=json.dumps(statistics).encode())
    s3.put_object(Bucket=bucket, Key="baseline/constraints.json", Body=json.dumps(constraints).encode())
    sm.create_model(ModelName=f"model-{suffix}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sm.create_endpoint_config(
        EndpointConfigName=f"config-{suffix}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"model-{suffix}",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"config-{suffix}")
    monitoring = SageMakerMonitoring(sm)
    definition, schedule = f"dq-{suffix}", f"{endpoint}-data-quality"
    monitoring.create_data_quality_job(
        DataQualityJob(
            name=definition,
            endpoint=endpoint,
            image_uri=MONITOR_IMAGE,
            role_arn=ROLE,
            statistics_uri=f"s3://{bucket}/{statistics_key}",
            constraints_uri=f"s3://{bucket}/baseline/constraints.json",
            output_uri=f"s3://{bucket}/monitoring/{endpoint}",
            instance_type="ml.m5.large",
            max_runtime_seconds=1800,
            tags={},
        )
    )
    monitoring.upsert_schedule(schedule, definition, HOURLY, {"mlrollout:endpoint": endpoint})
    return Scenario(aws, bucket, endpoint, schedule, definition)


BASELINE = baseline_documents()


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    # The clock nearly stands still while the server starts (however long a busy machine takes), so each test
    # begins close to 14:30 with half an hour (3 s of wall time at WARP) before the next hourly period.
    clock = SandboxClock(warp=WARP, start=START)
    clock.throttle(0.01)
    with EmbeddedAws(clock) as embedded:
        embedded.emulator.ticker.stop()  # executions and alarm evaluations are explicit in these tests
        clock.throttle(1.0)
        yield embedded


@pytest.fixture
def monitor(aws: EmbeddedAws) -> ModelMonitorEmulator:
    return install(aws.emulator)


def drain(aws: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


def events_queue(aws: EmbeddedAws, pattern: dict[str, Any]) -> str:
    """An SQS queue that an EventBridge rule with `pattern` fills."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # EventBridge sends to a queue through the queue's policy (the sandbox enforces IAM).
    send = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    policy = {"Version": "2012-10-17", "Statement": [{**send, "Resource": queue_arn}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(url)


def received(aws: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    """Every event delivered to the queue so far (EventBridge delivers asynchronously: drained first)."""
    assert aws.emulator.services["events"].drain(POLL_SECONDS)
    return drain(aws, queue_url)


def millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def published(aws: EmbeddedAws, scenario: Scenario, feature: str) -> list[float]:
    """Every value of feature_baseline_drift_<feature> in the last two hours (one-minute Maximum)."""
    now = aws.clock.now()
    points = aws.client("cloudwatch").get_metric_statistics(
        Namespace=DATA_METRICS_NAMESPACE,
        MetricName=f"feature_baseline_drift_{feature}",
        Dimensions=[
            {"Name": "Endpoint", "Value": scenario.endpoint},
            {"Name": "MonitoringSchedule", "Value": scenario.schedule},
        ],
        StartTime=now - timedelta(hours=2),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    return [p["Maximum"] for p in sorted(points, key=lambda p: p["Timestamp"])]


# ---------------------------------------------------------------------------------------------------- tests


def test_stable_and_drifted_windows_publish_metrics_reports_and_executions(
    aws: EmbeddedAws, monitor: ModelMonitorEmulator
) -> None:
    scenario = create_scenario(aws)
    hour_13, hour_14 = HOUR_12 + timedelta(hours=1), HOUR_12 + timedelta(hours=2)
    scenario.put_window(HOUR_12, 1000, seed=2)
    # The drifted hour: amounts three times larger and a merchant category the baseline never saw.
    scenario.put_window(hour_13, 1000, seed=3, scale=3.0, merchants=DRIFTED_MERCHANTS)
    # Lines Model Monitor would skip, and a record of an earlier hour in the stable hour's folder.
    early = capture_record(transaction(random.Random(9)), HOUR_12 - timedelta(minutes=1))
    scenario.put_capture(HOUR_12, [early], extra_lines=("{not json", '{"captureData": {}}', '{"eventVersion": "0"}'))

    stable = monitor.run_now(scenario.schedule, window=(HOUR_12, hour_13))
    aws.clock.sleep(61)  # a minute apart, so CloudWatch keeps the two data points apart
    drifted = monitor.run_now(scenario.schedule, window=(hour_13, hour_14))

    assert (stable.status, stable.failure_reason, drifted.status) == ("Completed", None, "CompletedWithViolations")
    # Objects read for [12:00, 13:00): the 12 folder's two files and the 13 folder's two (the stable hour's late
    # records and the drifted hour's), whose records outside the window are left out.
    assert (stable.records, stable.malformed_lines, stable.capture_objects) == (1000, 3, 4)
    assert (drifted.records, drifted.malformed_lines) == (1000, 0)
    amount_stable = stable.metrics["feature_baseline_drift_amount"]
    amount_drifted = drifted.metrics["feature_baseline_drift_amount"]
    assert amount_drifted > 0.2 > 0.1 > amount_stable
    assert drifted.metrics["feature_baseline_drift_merchant"] > 0.1 > stable.metrics["feature_baseline_drift_merchant"]
    assert set(stable.metrics) == {
        f"feature_baseline_drift_{f}" for f in ("amount", "merchant", "hour", "output.fraud_probability", "output.flag")
    }

    # CloudWatch has exactly what the executions published, under Model Monitor's namespace and dimensions.
    assert published(aws, scenario, "amount") == pytest.approx([amount_stable, amount_drifted])

    # SageMaker lists both executions, newest first, with their scheduled hours and processing jobs.
    sm = aws.client("sagemaker")
    listed = sm.list_monitoring_executions(MonitoringScheduleName=scenario.schedule)["MonitoringExecutionSummaries"]
    assert [(e["MonitoringExecutionStatus"], e["ScheduledTime"]) for e in listed] == [
        ("CompletedWithViolations", hour_14),
        ("Completed", hour_13),
    ]
    assert {e["EndpointName"] for e in listed} == {scenario.endpoint}
    assert {e["MonitoringJobDefinitionName"] for e in listed} == {scenario.definition}
    assert listed[0]["ProcessingJobArn"] == drifted.processing_job_arn
    assert ":processing-job/model-monitoring-203001151400-" in drifted.processing_job_arn
    last = sm.describe_monitoring_schedule(MonitoringScheduleName=scenario.schedule)["LastMonitoringExecutionSummary"]
    assert last["MonitoringExecutionStatus"] == "CompletedWithViolations"
    service: SageMakerService = aws.emulator.services["sagemaker"]
    recorded = service.executions(scenario.schedule)[0]["MonitoringStatistics"]
    assert recorded["feature_baseline_drift_amount"] == amount_stable
    assert (recorded["item_count"], recorded["malformed_lines"], recorded["violations"]) == (1000, 3, 0)

    # The reports Model Monitor writes, in the scheduled hour's folder.
    assert scenario.report(hour_13, "constraint_violations.json") == {"violations": []}
    assert scenario.report(hour_13, "statistics.json")["dataset"] == {"item_count": 1000}
    violations = scenario.report(hour_14, "constraint_violations.json")["violations"]
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert {
        ("amount", "baseline_drift_check"),
        ("merchant", "baseline_drift_check"),
        ("merchant", "categorical_values_check"),
    } <= checks
    assert "hour" not in {name for name, _ in checks}  # hours did not drift
    assert (
        drifted.violations_uri
        == f"{scenario.output_uri}/{scenario.endpoint}/{scenario.schedule}/2030/01/15/14/constraint_violations.json"
    )
    assert monitor.errors == []


def test_the_drift_alarm_fires_after_the_drifted_execution(aws: EmbeddedAws, monitor: ModelMonitorEmulator) -> None:
    scenario = create_scenario(aws)
    hour_13, hour_14 = HOUR_12 + timedelta(hours=1), HOUR_12 + timedelta(hours=2)
    scenario.put_window(HOUR_12, 600, seed=4)
    scenario.put_window(hour_13, 600, seed=5, scale=3.0, merchants=DRIFTED_MERCHANTS)
    alarm_name = f"drift-{scenario.endpoint}-amount"
    queue = events_queue(
        aws,
        {
            "source": ["aws.cloudwatch"],
            "detail-type": ["CloudWatch Alarm State Change"],
            "detail": {"alarmName": [alarm_name]},
        },
    )
    # The alarm the Attach Monitoring step creates: Maximum over an hour, GreaterThanThreshold 0.2, no actions
    # (its state changes reach operators through EventBridge).
    dimensions = {"Endpoint": scenario.endpoint, "MonitoringSchedule": scenario.schedule}
    CloudWatchAlarms(aws.client("cloudwatch")).put_drift_alarm(
        DriftAlarm(
            name=alarm_name,
            namespace=DATA_METRICS_NAMESPACE,
            metric="feature_baseline_drift_amount",
            dimensions=dimensions,
            statistic="Maximum",
            threshold=0.2,
            period_seconds=3600,
            description="amount drifted",
        )
    )
    described = aws.client("cloudwatch").describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]
    assert (described["Statistic"], described["Period"], described["ComparisonOperator"]) == (
        "Maximum",
        3600,
        "GreaterThanThreshold",
    )
    cloudwatch: CloudWatchService = aws.emulator.services["cloudwatch"]

    monitor.run_now(scenario.schedule, window=(HOUR_12, hour_13))
    aws.clock.sleep(61)  # the datum's minute must have ended before CloudWatch evaluates it
    assert [t.new_state for t in cloudwatch.evaluate_alarms(names=[alarm_name])] == ["OK"]
    assert [e["detail"]["state"]["value"] for e in received(aws, queue)] == ["OK"]

    drifted = monitor.run_now(scenario.schedule, window=(hour_13, hour_14))
    amount = drifted.metrics["feature_baseline_drift_amount"]
    assert amount > 0.2
    aws.clock.sleep(61)
    assert [t.new_state for t in cloudwatch.evaluate_alarms(names=[alarm_name])] == ["ALARM"]
    assert cloudwatch.evaluate_alarms(names=[alarm_name]) == []  # still ALARM: no second event
    (event,) = received(aws, queue)
    detail = event["detail"]
    assert (detail["alarmName"], detail["previousState"]["value"], detail["state"]["value"]) == (
        alarm_name,
        "OK",
        "ALARM",
    )
    assert json.loads(detail["state"]["reasonData"])["recentDatapoints"][-1] == pytest.approx(amount)
    assert detail["configuration"]["description"] == "amount drifted"
    [metric] = detail["configuration"]["metrics"]
    assert metric["metricStat"] == {
        "metric": {
            "namespace": DATA_METRICS_NAMESPACE,
            "name": "feature_baseline_drift_amount",
            "dimensions": dimensions,
        },
        "period": 3600,
        "stat": "Maximum",
    }
    assert cloudwatch.notifications_for(alarm_name) == []


def test_each_execution_sends_its_processing_jobs_state_change_event(
    aws: EmbeddedAws, monitor: ModelMonitorEmulator
) -> None:
    scenario = create_scenario(aws)
    hour_13, hour_14 = HOUR_12 + timedelta(hours=1), HOUR_12 + timedelta(hours=2)
    scenario.put_window(HOUR_12, 300, seed=13)
    scenario.put_window(hour_13, 300, seed=14, scale=3.0, merchants=DRIFTED_MERCHANTS)
    queue = events_queue(
        aws,
        {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Processing Job State Change"],
            "detail": {"Environment": {"sagemaker_monitoring_schedule_name": [scenario.schedule]}},
        },
    )
    schedule_arn = f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{scenario.schedule}"

    before = aws.clock.now()
    drifted = monitor.run_now(scenario.schedule, window=(hour_13, hour_14))
    stable = monitor.run_now(scenario.schedule, window=(HOUR_12, hour_13))
    empty = monitor.run_now(scenario.schedule, window=(HOUR_12 - timedelta(hours=2), HOUR_12 - timedelta(hours=1)))
    assert [e.status for e in (drifted, stable, empty)] == ["CompletedWithViolations", "Completed", "Failed"]

    events = received(aws, queue)
    assert [e["resources"] for e in events] == [[x.processing_job_arn] for x in (drifted, stable, empty)]
    assert [e["detail"]["ProcessingJobStatus"] for e in events] == ["Completed", "Completed", "Failed"]
    first, second, failed = events
    assert drifted.report is not None
    violations = len(drifted.report.violations()["violations"])
    assert violations >= 3
    job_name = drifted.processing_job_arn.rsplit("/", 1)[1]
    assert job_name.startswith("model-monitoring-203001151400-")
    started = first["detail"]["ProcessingStartTime"]
    assert millis(before) <= started <= millis(drifted.executed_at)
    assert {k: v for k, v in first.items() if k != "id"} == {
        "version": "0",
        "detail-type": "SageMaker Processing Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": drifted.executed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [drifted.processing_job_arn],
        "detail": {
            "ProcessingJobName": job_name,
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
            "AppSpecification": {"ImageUri": MONITOR_IMAGE},
            "Environment": {
                "dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput","endpointOutput"]}}',
                "dataset_source": "/opt/ml/processing/input/endpoint",
                "end_time": "2030-01-15T14:00:00Z",
                "output_path": "/opt/ml/processing/output",
                "publish_cloudwatch_metrics": "Enabled",
                "sagemaker_endpoint_name": scenario.endpoint,
                "sagemaker_monitoring_schedule_name": scenario.schedule,
                "start_time": "2030-01-15T13:00:00Z",
                "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json",
                "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
            },
            "RoleArn": ROLE,
            "ProcessingJobArn": drifted.processing_job_arn,
            "ProcessingJobStatus": "Completed",
            "ExitMessage": f"CompletedWithViolations: Job completed successfully with {violations} violations.",
            "ProcessingEndTime": millis(drifted.executed_at),
            "ProcessingStartTime": started,
            "LastModifiedTime": millis(drifted.executed_at),
            "CreationTime": started,
            "MonitoringScheduleArn": schedule_arn,
        },
    }
    assert second["detail"]["ExitMessage"] == "Completed: Job completed successfully with no violations."
    assert "FailureReason" not in second["detail"]
    assert (failed["detail"]["FailureReason"], "ExitMessage" in failed["detail"]) == (NO_DATA, False)
    assert failed["detail"]["Environment"]["start_time"] == "2030-01-15T10:00:00Z"
    assert len({e["id"] for e in events}) == 3
    assert monitor.errors == []


def test_a_window_without_captured_data_fails_like_model_monitor(
    aws: EmbeddedAws, monitor: ModelMonitorEmulator
) -> None:
    scenario = create_scenario(aws)
    scenario.put_window(HOUR_12, 50, seed=6)
    empty = (HOUR_12 - timedelta(hours=2), HOUR_12 - timedelta(hours=1))
    execution = monitor.run_now(scenario.schedule, window=empty)
    assert (execution.status, execution.failure_reason, execution.metrics) == ("Failed", NO_DATA, {})
    summary = aws.client("sagemaker").list_monitoring_executions(MonitoringScheduleName=scenario.schedule)[
        "MonitoringExecutionSummaries"
    ][0]
    assert (summary["MonitoringExecutionStatus"], summary["FailureReason"]) == ("Failed", NO_DATA)
    assert published(aws, scenario, "amount") == []
    assert monitor.errors == []


def test_a_missing_baseline_fails_the_execution_not_the_emulator(
    aws: EmbeddedAws, monitor: ModelMonitorEmulator
) -> None:
    scenario = create_scenario(aws, statistics_key="baseline/nowhere.json")
    scenario.put_window(HOUR_12, 50, seed=7)
    execution = monitor.run_now(scenario.schedule, window=(HOUR_12, HOUR_12 + timedelta(hours=1)))
    assert execution.status == "Failed"
    assert "baseline statistics" in (execution.failure_reason or "")
    assert "nowhere.json" in (execution.failure_reason or "")
    assert monitor.errors == []


def test_run_now_defaults_to_the_period_that_ended_last(aws: EmbeddedAws, monitor: ModelMonitorEmulator) -> None:
    aws.clock.throttle(0.01)  # this test needs no time to pass: the setup must not carry the clock past 15:00
    scenario = create_scenario(aws)
    hour_13, hour_14 = HOUR_12 + timedelta(hours=1), HOUR_12 + timedelta(hours=2)
    scenario.put_window(hour_13, 200, seed=8)
    execution = monitor.run_now(scenario.schedule)  # the clock is at 14:30: the hourly period [13:00, 14:00)
    assert (execution.window, execution.scheduled_time) == ((hour_13, hour_14), hour_14)
    assert (execution.status, execution.records) == ("Completed", 200)


def test_a_start_delay_runs_the_occurrence_later_over_the_same_window(aws: EmbeddedAws) -> None:
    scenario = create_scenario(aws)
    hour_13, hour_14 = HOUR_12 + timedelta(hours=1), HOUR_12 + timedelta(hours=2)
    scenario.put_window(hour_13, 100, seed=12)
    aws.clock.sleep(60)  # let the schedule leave Pending
    # A delay that puts the 14:00 occurrence's run five virtual minutes from now, however long setup took.
    delay = aws.clock.now() - hour_14 + timedelta(minutes=5)
    monitor = install(aws.emulator, start_delay_seconds=delay.total_seconds())
    assert monitor.tick() == []  # 14:00 + delay has not come yet
    aws.clock.sleep_until(hour_14 + delay + timedelta(seconds=5))
    [execution] = monitor.tick()
    assert (execution.scheduled_time, execution.window) == (hour_14, (hour_13, hour_14))
    assert execution.executed_at >= hour_14 + delay
    assert (execution.status, execution.records) == ("Completed", 100)
    assert monitor.tick() == []


def test_a_one_time_schedule_runs_once_over_its_offsets(aws: EmbeddedAws, monitor: ModelMonitorEmulator) -> None:
    scenario = create_scenario(aws)
    scenario.put_window(HOUR_12, 120, seed=11)
    service: SageMakerService = aws.emulator.services["sagemaker"]
    service.schedule_pending_seconds = 0
    name = f"{scenario.endpoint}-once"
    aws.client("sagemaker").create_monitoring_schedule(
        MonitoringScheduleName=name,
        MonitoringScheduleConfig={
            "ScheduleConfig": {
                "ScheduleExpression": "NOW",
                "DataAnalysisStartTime": "-PT3H",
                "DataAnalysisEndTime": "-PT1H",
            },
            "MonitoringJobDefinitionName": scenario.definition,
            "MonitoringType": "DataQuality",
        },
    )
    [execution] = [e for e in monitor.tick() if e.schedule_name == name]
    # Seen at about 14:30: the window is [now - 3h, now - 1h), which holds the 12:00 hour's records.
    start, end = execution.window
    assert end - start == timedelta(hours=2)
    assert start < HOUR_12 and end > HOUR_12 + timedelta(hours=1)
    assert (execution.status, execution.records) == ("Completed", 120)
    assert [e for e in monitor.tick() if e.schedule_name == name] == []  # once only
    assert len(service.executions(name)) == 1
    assert monitor.errors == []


def test_the_ticker_runs_an_hourly_schedule_when_the_clock_crosses_the_hour() -> None:
    start = datetime(2030, 1, 15, 12, 58, 30, tzinfo=UTC)
    # warp 60: a virtual minute per real second, so 13:00 comes about 1.5 s after the setup. The clock nearly
    # stands still while the setup runs, however long a busy machine takes for it.
    clock = SandboxClock(warp=60.0, start=start)
    clock.throttle(0.01)
    with EmbeddedAws(clock) as aws:
        service: SageMakerService = aws.emulator.services["sagemaker"]
        service.schedule_pending_seconds = 0
        monitor = install(aws.emulator)
        scenario = create_scenario(aws)
        scenario.put_window(HOUR_12, 300, seed=10)
        assert aws.clock.now() < HOUR_12 + timedelta(hours=1), "setup took longer than the virtual minutes left"
        clock.throttle(1.0)
        deadline = time.monotonic() + POLL_SECONDS
        while not monitor.executions and time.monotonic() < deadline:
            time.sleep(0.05)
        [execution] = monitor.executions
        assert execution.scheduled_time == HOUR_12 + timedelta(hours=1)
        assert execution.window == (HOUR_12, HOUR_12 + timedelta(hours=1))
        assert (execution.status, execution.records) == ("Completed", 300)
        assert execution.executed_at >= execution.scheduled_time
        [recorded] = service.executions(scenario.schedule)
        assert recorded["ScheduledTime"] == datetime(2030, 1, 15, 13)  # the emulator keeps naive UTC
        assert monitor.errors == []
