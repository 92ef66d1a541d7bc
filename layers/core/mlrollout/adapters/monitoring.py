"""SageMaker Model Monitor (data-quality job definitions, schedules) and CloudWatch alarms: the drift alarms on its
metrics, and the state of the rollback alarms a model's config names."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.errors import MetricsUnavailable
from mlrollout.domain.rollback_alarms import AlarmStatus
from mlrollout.ports import DataQualityJob, DriftAlarm

# Model Monitor publishes data-quality metrics here, per endpoint and schedule.


class SageMakerMonitoring:
    def __init__(self, sagemaker: Any) -> None:
        self.sm = sagemaker

    def create_data_quality_job(self, job: DataQualityJob) -> None:
        try:
            self.sm.describe_data_quality_job_definition(JobDefinitionName=job.name)
            return
        except ClientError as exc:
            if error_code(exc) not in {"ResourceNotFound", "ValidationException"}:
                raise
        network = {"NetworkConfig": job.network_config()} if job.network_config() else {}
        volume_key = {"VolumeKmsKeyId": job.volume_kms_key} if job.volume_kms_key else {}
        self.sm.create_data_quality_job_definition(
            JobDefinitionName=job.name,
            DataQualityBaselineConfig={
                "ConstraintsResource": {"S3Uri": job.constraints_uri},
                "StatisticsResource": {"S3Uri": job.statistics_uri},
            },
            DataQualityAppSpecification={
                "ImageUri": job.image_uri,
                "Environment": {"publish_cloudwatch_metrics": "Enabled"},
            },
            DataQualityJobInput={
                "EndpointInput": {
                    "EndpointName": job.endpoint,
                    "LocalPath": "/opt/ml/processing/input/endpoint",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            DataQualityJobOutputConfig={
                "MonitoringOutputs": [
                    {
                        "S3Output": {
                            "S3Uri": job.output_uri,
                            "LocalPath": "/opt/ml/processing/output",
                            "S3UploadMode": "EndOfJob",
                        }
                    }
                ]
            },
            JobResources={
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": job.instance_type,
                    "VolumeSizeInGB": 20,
                    **volume_key,
                }
            },
            RoleArn=job.role_arn,
            StoppingCondition={"MaxRuntimeInSeconds": job.max_runtime_seconds},
            Tags=[{"Key": k, "Value": v} for k, v in job.tags.items()],
            **network,
        )

    def schedule(self, name: str) -> dict[str, Any] | None:
        try:
            described: dict[str, Any] = self.sm.describe_monitoring_schedule(MonitoringScheduleName=name)
        except ClientError as exc:
            if error_code(exc) in {"ResourceNotFound", "ValidationException"} and "not" in error_message(exc).lower():
                return None
            raise
        return described

    def upsert_schedule(self, name: str, job_definition: str, expression: str, tags: dict[str, str]) -> str | None:
        """Point the endpoint's schedule at `job_definition`; returns the job definition it replaced."""
        config = {
            "ScheduleConfig": {"ScheduleExpression": expression},
            "MonitoringJobDefinitionName": job_definition,
            "MonitoringType": "DataQuality",
        }
        existing = self.schedule(name)
        if existing is None:
            self.sm.create_monitoring_schedule(
                MonitoringScheduleName=name,
                MonitoringScheduleConfig=config,
                Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
            return None
        previous = existing.get("MonitoringScheduleConfig", {}).get("MonitoringJobDefinitionName")
        if (
            previous != job_definition
            or existing["MonitoringScheduleConfig"].get("ScheduleConfig") != config["ScheduleConfig"]
        ):
            self.sm.update_monitoring_schedule(MonitoringScheduleName=name, MonitoringScheduleConfig=config)
        # UpdateMonitoringSchedule takes no tags: a schedule made before a tag existed (the stack tag the alert
        # relay checks) gets it here. AddTags overwrites a key's value and keeps the others.
        self.sm.add_tags(
            ResourceArn=existing["MonitoringScheduleArn"], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )
        return str(previous) if previous and previous != job_definition else None

    def delete_schedule(self, name: str) -> bool:
        try:
            self.sm.delete_monitoring_schedule(MonitoringScheduleName=name)
        except ClientError as exc:
            if error_code(exc) in {"ResourceNotFound", "ValidationException"}:
                return False
            raise
        return True

    def job_definitions(self, endpoint: str) -> list[str]:
        names: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self.sm.list_data_quality_job_definitions(EndpointName=endpoint, MaxResults=100, **token)
            # The service also matches names against ours: moto ignores the filter and misreports EndpointName.
            names += [s["MonitoringJobDefinitionName"] for s in page.get("JobDefinitionSummaries", [])]
            if not page.get("NextToken"):
                return names
            token = {"NextToken": page["NextToken"]}

    def delete_job_definition(self, name: str) -> None:
        try:
            self.sm.delete_data_quality_job_definition(JobDefinitionName=name)
        except ClientError as exc:
            if error_code(exc) not in {"ResourceNotFound", "ValidationException"}:
                raise

    def schedule_tags(self, schedule_arn: str) -> dict[str, str] | None:
        """A monitoring schedule's tags, or None when it no longer exists (ListTags answers ValidationException)."""
        tags: dict[str, str] = {}
        token: dict[str, str] = {}
        try:
            while True:
                page = self.sm.list_tags(ResourceArn=schedule_arn, MaxResults=100, **token)
                tags.update({str(t["Key"]): str(t.get("Value", "")) for t in page.get("Tags", [])})
                if not page.get("NextToken"):
                    return tags
                token = {"NextToken": page["NextToken"]}
        except ClientError as exc:
            if error_code(exc) in {"ResourceNotFound", "ValidationException"}:
                return None
            raise


class CloudWatchAlarms:
    def __init__(self, cloudwatch: Any) -> None:
        self.cw = cloudwatch

    def put_drift_alarm(self, alarm: DriftAlarm) -> None:
        self.cw.put_metric_alarm(
            AlarmName=alarm.name,
            AlarmDescription=alarm.description[:1024],
            Namespace=alarm.namespace,
            MetricName=alarm.metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
            Statistic=alarm.statistic,
            Period=alarm.period_seconds,
            EvaluationPeriods=1,
            DatapointsToAlarm=1,
            Threshold=alarm.threshold,
            ComparisonOperator="GreaterThanThreshold",
            # A run without traffic publishes nothing: the alarm keeps its state rather than "recovering".
            TreatMissingData="ignore",
            ActionsEnabled=True,
        )

    def alarm_names(self, prefix: str) -> list[str]:
        names: list[str] = []
        paginator = self.cw.get_paginator("describe_alarms")
        for page in paginator.paginate(AlarmNamePrefix=prefix):
            names.extend(a["AlarmName"] for a in page.get("MetricAlarms", []))
        return names

    def states(self, names: list[str]) -> dict[str, AlarmStatus]:
        """The named metric and composite alarms that exist, with their state (at most 100 names)."""
        found: dict[str, AlarmStatus] = {}
        if not names:
            return found
        try:
            pages = self.cw.get_paginator("describe_alarms").paginate(
                AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for page in pages:
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    since = alarm.get("StateUpdatedTimestamp")
                    found[alarm["AlarmName"]] = AlarmStatus(
                        name=alarm["AlarmName"],
                        state=alarm["StateValue"],
                        reason=alarm.get("StateReason", ""),
                        since=since.isoformat() if since is not None else None,
                    )
        except (ClientError, BotoCoreError) as exc:  # raised once the client's retries are spent
            detail = f"{error_code(exc)}: {error_message(exc)}" if isinstance(exc, ClientError) else str(exc)
            raise MetricsUnavailable(
                f"CloudWatch DescribeAlarms failed for the rollback alarms {', '.join(names)}: {detail}",
                fix="nothing to do if CloudWatch recovers; check the function's cloudwatch:DescribeAlarms permission "
                "if it does not",
            ) from exc
        return found

    def delete_alarms(self, names: list[str]) -> None:
        for start in range(0, len(names), 100):
            self.cw.delete_alarms(AlarmNames=names[start : start + 100])
