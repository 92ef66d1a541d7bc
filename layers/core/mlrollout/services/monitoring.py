"""Attach Monitoring: the endpoint's data-quality schedule follows the promoted version, with drift alarms."""

from __future__ import annotations

from mlrollout.adapters.monitoring import DataQualityJob, DriftAlarm
from mlrollout.contracts import MonitoringInput, MonitoringResult
from mlrollout.domain import naming
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.domain.monitor_images import analyzer_image
from mlrollout.ports import Alarms, ArtifactStore, Monitoring
from mlrollout.settings import Settings

HOURLY = "cron(0 * ? * * *)"


def alarm_period(schedule: str) -> int:
    """Model Monitor publishes once per run: alarm on the run's period (hourly or daily schedules)."""
    fields = schedule.removeprefix("cron(").removesuffix(")").split()
    return 3600 if len(fields) >= 2 and fields[1] == "*" else 86400


def attach_monitoring(
    request: MonitoringInput,
    *,
    monitoring: Monitoring,
    alarms: Alarms,
    artifacts: ArtifactStore,
    settings: Settings,
    region: str,
) -> MonitoringResult:
    rollout, deployment = request.rollout, request.deployment
    spec = rollout.config.monitoring
    if spec is None:
        return MonitoringResult(status="skipped", detail="no monitoring section in rollout.yaml")
    endpoint = deployment.endpoint_name
    statistics = artifacts.read_json(spec.baseline_statistics)
    if statistics is None:
        raise ConfigInvalid(
            f"monitoring.baseline_statistics {spec.baseline_statistics} does not exist",
            fix="upload the baseline statistics (mlrollout baseline) or correct the URI in rollout.yaml",
        )
    features = spec.features or [f["name"] for f in statistics.get("features", []) if "name" in f]
    if not features:
        raise ConfigInvalid(
            f"the baseline statistics at {spec.baseline_statistics} name no features to alarm on",
            fix="regenerate the baseline from a sample of the model's input, or list monitoring.features",
        )
    bucket = settings.require("artifact_bucket")
    job_name = naming.monitoring_job_definition_name(
        endpoint, request.registration.package_version, rollout.deployment_id
    )
    schedule = naming.monitoring_schedule_name(endpoint)
    tags = {**rollout.config.tags, "mlrollout:endpoint": endpoint}
    monitoring.create_data_quality_job(
        DataQualityJob(
            name=job_name,
            endpoint=endpoint,
            image_uri=settings.model_monitor_image or analyzer_image(region),
            role_arn=settings.require("sagemaker_role_arn"),
            statistics_uri=spec.baseline_statistics,
            constraints_uri=spec.baseline_constraints,
            output_uri=f"s3://{bucket}/monitoring/{endpoint}",
            instance_type=spec.instance_type,
            max_runtime_seconds=spec.max_runtime_seconds,
            tags=tags,
        )
    )
    replaced = monitoring.upsert_schedule(schedule, job_name, spec.schedule, tags)
    if replaced:
        monitoring.delete_job_definition(replaced)

    prefix = naming.drift_alarm_name(settings.stack_name, endpoint, "")
    wanted = {naming.drift_alarm_name(settings.stack_name, endpoint, f): f for f in features}
    for name, feature in wanted.items():
        alarms.put_drift_alarm(
            DriftAlarm(
                name=name,
                feature=feature,
                endpoint=endpoint,
                schedule=schedule,
                threshold=spec.drift_threshold,
                period_seconds=alarm_period(spec.schedule),
                topic_arn=settings.require("alerts_topic_arn"),
                description=f"Feature {feature} of endpoint {endpoint} drifted from its baseline by more than "
                f"{spec.drift_threshold} (Model Monitor data quality). Runbook: docs/operations.md#drift",
            )
        )
    stale = [name for name in alarms.alarm_names(prefix) if name not in wanted]
    alarms.delete_alarms(stale)
    return MonitoringResult(
        status="attached",
        detail=f"data-quality schedule {schedule} ({spec.schedule}) with {len(wanted)} drift alarms",
        schedule=schedule,
        job_definition=job_name,
        alarms=sorted(wanted),
    )
