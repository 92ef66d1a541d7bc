"""Attach Monitoring: the promoted endpoint gets a drift schedule and one alarm per feature; both backends.

builtin (default): an EventBridge Scheduler schedule runs Detect Drift on the endpoint's capture every period;
alarms watch its `DriftScore` per feature (> 1: a threshold crossed) and its endpoint-wide `SchemaViolations`.
model-monitor: a Model Monitor data-quality job definition and schedule; alarms watch Model Monitor's
`feature_baseline_drift_<feature>` metrics.

Alarms have no actions: CloudWatch's state-change events reach the alert relay through EventBridge, which
sends them in the common alert schema with cooldowns (see services/relay.py). Re-running converges: the
schedule is updated in place, alarms are overwritten, alarms of features no longer monitored are deleted, and
what the other backend left behind is removed.
"""

from __future__ import annotations

from mlrollout.contracts import DriftRunInput, DriftThresholds, MonitoringInput, MonitoringResult
from mlrollout.domain import naming
from mlrollout.domain.alarms import AlarmInfo
from mlrollout.domain.config import Monitoring as MonitoringSpec
from mlrollout.domain.drift import Baseline, BaselineInvalid, read_baseline
from mlrollout.domain.drift_metrics import (
    DATA_METRICS_NAMESPACE,
    NAMESPACE,
    SCHEMA_METRIC,
    SCORE_METRIC,
    dimension_clashes,
    feature_dimension,
)
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.domain.monitor_images import analyzer_image
from mlrollout.ports import Alarms, ArtifactStore, DataQualityJob, DriftAlarm, DriftSchedule, Monitoring, Schedules
from mlrollout.services.deploy import capture_config
from mlrollout.settings import Settings

SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def load_baseline(
    artifacts: ArtifactStore, statistics: str, constraints: str | None, *, endpoint: str | None = None, then: str = ""
) -> Baseline:
    """The baseline documents rollout.yaml names (monitoring.baseline_statistics and _constraints), read; a
    ConfigInvalid that says what to fix when one does not exist or is unreadable. Missing constraints would silently
    drop the completeness and domain checks, so they are refused too. `endpoint` is named in the reasons, and `then`
    ends each fix (what to do after)."""
    of = f" of endpoint {endpoint}" if endpoint else ""
    fix = f"upload it (mlrollout baseline) or correct the URI in rollout.yaml{then}"
    read = artifacts.read_json(statistics)
    if read is None:
        raise ConfigInvalid(f"monitoring.baseline_statistics {statistics}{of} does not exist", fix=fix)
    limits = None
    if constraints:
        limits = artifacts.read_json(constraints)
        if limits is None:
            raise ConfigInvalid(f"monitoring.baseline_constraints {constraints}{of} does not exist", fix=fix)
    try:
        return read_baseline(read, limits)
    except BaselineInvalid as exc:
        raise ConfigInvalid(
            f"the baseline at {statistics}{of} is unreadable: {exc}",
            fix=f"regenerate it with `mlrollout baseline` from a sample of the model's input{then}",
        ) from None


def read_monitoring_baseline(spec: MonitoringSpec, artifacts: ArtifactStore) -> Baseline:
    """The baseline the rollout names, checked for what monitoring needs (features to alarm on, distinct
    dimension values, the features listed), or a ConfigInvalid that says what to fix (checked at rollout time too)."""
    baseline = load_baseline(artifacts, spec.baseline_statistics, spec.baseline_constraints)
    if not baseline.features:
        raise ConfigInvalid(
            f"the baseline statistics at {spec.baseline_statistics} name no features to alarm on",
            fix="regenerate the baseline from a sample of the model's input, or list monitoring.features",
        )
    clashes = dimension_clashes(list(baseline.features))
    if clashes:
        shown = "; ".join(f"{a!r} and {b!r}" for a, b in clashes[:5])
        raise ConfigInvalid(
            f"the baseline at {spec.baseline_statistics} has features whose CloudWatch dimension values would be the "
            f"same ({shown}), so their drift metrics and alarms would mix",
            fix="rename one feature of each pair in the training data and regenerate the baseline (mlrollout baseline)",
        )
    unknown = sorted(set(spec.features or ()) - set(baseline.features))
    if unknown:
        raise ConfigInvalid(
            f"monitoring.features names {', '.join(unknown)}, which the baseline does not have",
            fix=f"pick from {', '.join(sorted(baseline.features))}, or regenerate the baseline",
        )
    return baseline


def attach_monitoring(
    request: MonitoringInput,
    *,
    monitoring: Monitoring,
    schedules: Schedules,
    alarms: Alarms,
    artifacts: ArtifactStore,
    settings: Settings,
    region: str,
) -> MonitoringResult:
    spec = request.rollout.config.monitoring
    if spec is None:
        return MonitoringResult(status="skipped", detail="no monitoring section in rollout.yaml")
    baseline = read_monitoring_baseline(spec, artifacts)
    features = spec.features or sorted(baseline.features)
    endpoint = request.deployment.endpoint_name
    if spec.backend == "builtin":
        result, wanted = _builtin(request, spec, features, schedules, settings)
        _remove_model_monitor(endpoint, monitoring)
    else:
        result, wanted = _model_monitor(request, spec, features, monitoring, settings, region)
        schedules.delete(naming.drift_schedule_name(endpoint), settings.require("schedule_group"))
    for alarm in wanted:
        alarms.put_drift_alarm(alarm)
    names = {a.name for a in wanted}
    alarms.delete_alarms([n for n in alarms.alarm_names(_alarm_prefix(settings, endpoint)) if n not in names])
    return result.model_copy(update={"alarms": sorted(names)})


def _alarm_prefix(settings: Settings, endpoint: str) -> str:
    return naming.drift_alarm_name(settings.stack_name, endpoint, "")


def _builtin(
    request: MonitoringInput,
    spec: MonitoringSpec,
    features: list[str],
    schedules: Schedules,
    settings: Settings,
) -> tuple[MonitoringResult, list[DriftAlarm]]:
    rollout = request.rollout
    endpoint = request.deployment.endpoint_name
    capture = capture_config(rollout, settings.require("artifact_bucket"))
    thresholds = DriftThresholds(psi=spec.psi_threshold, js=spec.js_threshold, missing_rate=spec.missing_rate_threshold)
    run = DriftRunInput(
        endpoint=endpoint,
        model_name=rollout.model_name,
        version_label=rollout.version_label,
        deployment_id=rollout.deployment_id,
        baseline_statistics=spec.baseline_statistics,
        baseline_constraints=spec.baseline_constraints,
        capture_uri=str(capture["DestinationS3Uri"]),
        period_seconds=spec.period_seconds,
        thresholds=thresholds,
        features=spec.features,
        min_records=spec.min_records,
    )
    name = naming.drift_schedule_name(endpoint)
    schedules.upsert(
        DriftSchedule(
            name=name,
            group=settings.require("schedule_group"),
            expression=spec.schedule_expression,
            target_arn=settings.require("drift_function_arn"),
            role_arn=settings.require("scheduler_role_arn"),
            payload={**run.model_dump(mode="json", exclude={"scheduled_time"}), "scheduled_time": SCHEDULED_TIME},
            description=f"mlrollout builtin drift detection for endpoint {endpoint} "
            f"({rollout.model_name} {rollout.version_label})",
        )
    )
    limits = {"psi": spec.psi_threshold, "js": spec.js_threshold, "missing_rate": spec.missing_rate_threshold}
    alarms = [
        DriftAlarm(
            name=naming.drift_alarm_name(settings.stack_name, endpoint, feature),
            namespace=NAMESPACE,
            metric=SCORE_METRIC,
            dimensions={"Endpoint": endpoint, "Feature": feature_dimension(feature)},
            statistic="Maximum",
            threshold=1.0,
            period_seconds=spec.period_seconds,
            description=AlarmInfo(
                kind="drift",
                endpoint=endpoint,
                feature=feature,
                backend="builtin",
                cooldown_minutes=spec.cooldown_minutes,
                model=rollout.model_name,
                version=rollout.version_label,
                deployment_id=rollout.deployment_id,
                text=f"PSI above {spec.psi_threshold:g} (numeric), JS distance above {spec.js_threshold:g} "
                f"(categorical) or missing values up more than {spec.missing_rate_threshold:.0%}",
                thresholds=limits,
            ).describe(),
        )
        for feature in features
    ]
    alarms.append(
        DriftAlarm(
            name=naming.drift_alarm_name(settings.stack_name, endpoint, naming.SCHEMA_FEATURE),
            namespace=NAMESPACE,
            metric=SCHEMA_METRIC,
            dimensions={"Endpoint": endpoint},
            statistic="Maximum",
            threshold=0.0,
            period_seconds=spec.period_seconds,
            description=AlarmInfo(
                kind="drift",
                endpoint=endpoint,
                feature=naming.SCHEMA_FEATURE,
                backend="builtin",
                cooldown_minutes=spec.cooldown_minutes,
                model=rollout.model_name,
                version=rollout.version_label,
                deployment_id=rollout.deployment_id,
                text="records with fields the baseline does not have, fields missing, or values of the wrong type",
            ).describe(),
        )
    )
    result = MonitoringResult(
        status="attached",
        detail=f"builtin drift schedule {name} ({spec.schedule_expression}) with {len(alarms)} alarms",
        schedule=name,
    )
    return result, alarms


def _model_monitor(
    request: MonitoringInput,
    spec: MonitoringSpec,
    features: list[str],
    monitoring: Monitoring,
    settings: Settings,
    region: str,
) -> tuple[MonitoringResult, list[DriftAlarm]]:
    rollout = request.rollout
    endpoint = request.deployment.endpoint_name
    if spec.baseline_constraints is None:  # the config refuses this; kept for a hand-written input
        raise ConfigInvalid("model-monitor needs monitoring.baseline_constraints", fix="add it to rollout.yaml")
    job_name = naming.monitoring_job_definition_name(
        endpoint, request.registration.package_version, rollout.deployment_id
    )
    schedule = naming.monitoring_schedule_name(endpoint)
    tags = {**rollout.config.tags, "mlrollout:endpoint": endpoint, naming.STACK_TAG: settings.stack_name}
    monitoring.create_data_quality_job(
        DataQualityJob(
            name=job_name,
            endpoint=endpoint,
            image_uri=settings.model_monitor_image or analyzer_image(region),
            role_arn=settings.require("sagemaker_role_arn"),
            statistics_uri=spec.baseline_statistics,
            constraints_uri=spec.baseline_constraints,
            output_uri=f"s3://{settings.require('artifact_bucket')}/monitoring/{endpoint}",
            instance_type=spec.instance_type,
            max_runtime_seconds=spec.max_runtime_seconds,
            tags=tags,
            subnets=tuple(rollout.config.vpc.subnets) if rollout.config.vpc else (),
            security_groups=tuple(rollout.config.vpc.security_groups) if rollout.config.vpc else (),
            network_isolation=rollout.config.network_isolation,
            volume_kms_key=rollout.config.kms_key,
        )
    )
    replaced = monitoring.upsert_schedule(schedule, job_name, spec.schedule_expression, tags)
    if replaced:
        monitoring.delete_job_definition(replaced)
    alarms = [
        DriftAlarm(
            name=naming.drift_alarm_name(settings.stack_name, endpoint, feature),
            namespace=DATA_METRICS_NAMESPACE,
            metric=f"feature_baseline_drift_{feature}",
            dimensions={"Endpoint": endpoint, "MonitoringSchedule": schedule},
            statistic="Maximum",
            threshold=spec.drift_threshold,
            period_seconds=spec.period_seconds,
            description=AlarmInfo(
                kind="drift",
                endpoint=endpoint,
                feature=feature,
                backend="model-monitor",
                cooldown_minutes=spec.cooldown_minutes,
                model=rollout.model_name,
                version=rollout.version_label,
                deployment_id=rollout.deployment_id,
                text=f"Model Monitor baseline drift above {spec.drift_threshold:g}",
                thresholds={"baseline_drift": spec.drift_threshold},
            ).describe(),
        )
        for feature in features
    ]
    result = MonitoringResult(
        status="attached",
        detail=f"data-quality schedule {schedule} ({spec.schedule_expression}) with {len(alarms)} drift alarms",
        schedule=schedule,
        job_definition=job_name,
    )
    return result, alarms


def _ours(monitoring: Monitoring, endpoint: str) -> list[str]:
    """The endpoint's job definitions that mlrollout created (an operator's own are left alone)."""
    return [n for n in monitoring.job_definitions(endpoint) if naming.is_monitoring_job_definition(n, endpoint)]


def _remove_model_monitor(endpoint: str, monitoring: Monitoring) -> None:
    if monitoring.delete_schedule(naming.monitoring_schedule_name(endpoint)):
        for name in _ours(monitoring, endpoint):
            monitoring.delete_job_definition(name)


def detach_monitoring(
    endpoint: str, *, monitoring: Monitoring, schedules: Schedules, alarms: Alarms, settings: Settings
) -> list[str]:
    """The endpoint is being deleted: remove every schedule, job definition and alarm created for it."""
    removed: list[str] = []
    if schedules.delete(naming.drift_schedule_name(endpoint), settings.require("schedule_group")):
        removed.append(f"schedule {naming.drift_schedule_name(endpoint)}")
    if monitoring.delete_schedule(naming.monitoring_schedule_name(endpoint)):
        removed.append(f"monitoring schedule {naming.monitoring_schedule_name(endpoint)}")
    for name in _ours(monitoring, endpoint):
        monitoring.delete_job_definition(name)
        removed.append(f"job definition {name}")
    stale = alarms.alarm_names(_alarm_prefix(settings, endpoint))
    alarms.delete_alarms(stale)
    removed += [f"alarm {n}" for n in stale]
    return removed
