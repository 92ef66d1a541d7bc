"""Application Auto Scaling for the sandbox: SageMaker endpoint variants as scalable targets, and target tracking
that really moves their instance counts with the simulated traffic.

moto 5.2.5 stores scalable targets and scaling policies, but for SageMaker it creates no target tracking alarms,
so nothing ever scales; it accepts a policy for a target nobody registered, keeps a deregistered target's
policies, registers a new target without capacity bounds, matches DescribeScalingPolicies' ResourceId and
ScalableDimension as substrings and ignores its PolicyNames, and stamps times with the wall clock. This module
fixes those for the `sagemaker` namespace (other namespaces stay moto's) and adds what SageMaker and Application
Auto Scaling do together. Each fact, its AWS page and its test are listed in docs/sandbox-fidelity.md
("Auto-scaled endpoints"):

- RegisterScalableTarget: ResourceId `endpoint/<endpoint>/variant/<variant>` of an existing variant, dimension
  `sagemaker:variant:DesiredInstanceCount`, MinCapacity and MaxCapacity required for a new target, each at least
  1, min <= max. A second registration updates the bounds it names. An InService variant whose instance count is
  outside the bounds is brought inside them.
- DeregisterScalableTarget deletes the target's scaling policies (and their alarms).
- PutScalingPolicy needs a registered target (ObjectNotFoundException). A TargetTrackingScaling policy on the
  predefined metric SageMakerVariantInvocationsPerInstance gets the two CloudWatch alarms target tracking
  creates, on AWS/SageMaker InvocationsPerInstance (Sum per minute) of the variant: AlarmHigh above the target
  for 3 of 3 minutes, AlarmLow below 90% of it for 15 of 15 minutes, each with the policy as its action.
  Step scaling, customized metrics and scheduled actions on SageMaker variants are refused (SandboxUnsupported),
  not stored unexecuted.
- Target tracking: while AlarmHigh is in ALARM, the variant's DesiredInstanceCount is raised to what the load
  needs at the target (ceil(invocations per minute / target)), at most MaxCapacity; while AlarmLow is in ALARM,
  lowered the same way, at least MinCapacity, unless scale-in is disabled or suspended or the ScaleInCooldown of
  the previous scale-in has not passed (default cooldowns 300 s for SageMaker variants; a scale-out ends it).
  CloudWatch runs an Auto Scaling action on every evaluation while the alarm stays in ALARM, so this is checked
  every minute, and on each alarm transition (CloudWatch delivers the action here). The change goes through SageMaker's
  UpdateEndpointWeightsAndCapacities, so the endpoint is Updating, then InService with CurrentInstanceCount
  following; a variant whose endpoint is not InService is not scaled (the activity fails and is retried next
  minute). DescribeScalingActivities (which moto lacks) lists the activities, newest first.
- SageMaker's rules: UpdateEndpoint fails when the new configuration removes a variant registered as a scalable
  target or changes its instance type (a new model is allowed); DeleteEndpoint deregisters the endpoint's
  targets.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.applicationautoscaling.exceptions import AWSValidationException
from moto.applicationautoscaling.models import (
    ApplicationAutoscalingBackend,
    FakeApplicationAutoscalingPolicy,
    FakeScalableTarget,
    applicationautoscaling_backends,
)
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.core.exceptions import JsonRESTError
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError

from mlrollout_sandbox.emulator.sagemaker import DELETE_ENDPOINT, UPDATE_ENDPOINT, SandboxUnsupported

if TYPE_CHECKING:
    from mlrollout_sandbox.emulator import Emulator
    from mlrollout_sandbox.emulator._patching import Patcher

__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "DIMENSION",
    "HIGH_ALARM_MINUTES",
    "LOW_ALARM_MINUTES",
    "NAMESPACE",
    "PREDEFINED_METRIC",
    "SCALE_IN_RATIO",
    "Activity",
    "AutoScalingService",
    "install",
]

log = logging.getLogger(__name__)

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
PREDEFINED_METRIC = "SageMakerVariantInvocationsPerInstance"
METRIC_NAMESPACE = "AWS/SageMaker"
# The metric behind the predefined type: "The number of invocations sent to a model, normalized by
# InstanceCount in each ProductionVariant" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/
# API_ScalingPolicyMetric.html); its target is per instance per minute, hence Sum over 60 s.
METRIC_NAME = "InvocationsPerInstance"
PERIOD_SECONDS = 60
# The alarms target tracking creates: scale out after 3 of 3 minutes above the target, scale in after 15 of 15
# minutes below a threshold "typically more than 10% lower" than the target (https://docs.aws.amazon.com/
# autoscaling/application/userguide/target-tracking-scaling-policy-overview.html). AWS's reference pages do not
# give the datapoint counts; 3 and 15 are what the alarms Application Auto Scaling creates show in CloudWatch,
# and docs/sandbox-fidelity.md says so.
HIGH_ALARM_MINUTES = 3
LOW_ALARM_MINUTES = 15
SCALE_IN_RATIO = 0.9
# "Application Auto Scaling provides a default value of 300 for ... Amazon SageMaker endpoint variants"
# (ScaleInCooldown and ScaleOutCooldown, https://docs.aws.amazon.com/autoscaling/application/APIReference/
# API_TargetTrackingScalingPolicyConfiguration.html).
DEFAULT_COOLDOWN_SECONDS = 300
TRACKING_JOB = "application-autoscaling:target-tracking"
ACTIVITY_RETENTION_SECONDS = 6 * 7 * 86400  # "from the previous six weeks" (DescribeScalingActivities)
ACTIVITIES_PAGE = 50  # DescribeScalingActivities' MaxResults: at most 50, 50 by default

_RESOURCE_ID = re.compile(r"^endpoint/([^/]+)/variant/([^/]+)$")
_HIGH, _LOW = "AlarmHigh", "AlarmLow"


class _ObjectNotFound(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


@dataclass(frozen=True)
class Activity:
    """One scaling activity, with the fields DescribeScalingActivities shows."""

    activity_id: str
    account_id: str
    region: str
    resource_id: str
    description: str
    cause: str
    start_time: datetime
    status_code: str  # Successful | Failed
    status_message: str = ""
    desired_instance_count: int | None = None

    def as_response(self) -> dict[str, Any]:
        """The activity as DescribeScalingActivities returns it (the change is requested at once, so it ends
        when it starts; the endpoint's own Updating follows in SageMaker)."""
        found: dict[str, Any] = {
            "ActivityId": self.activity_id,
            "ServiceNamespace": NAMESPACE,
            "ResourceId": self.resource_id,
            "ScalableDimension": DIMENSION,
            "Description": self.description,
            "Cause": self.cause,
            "StartTime": self.start_time.timestamp(),
            "EndTime": self.start_time.timestamp(),
            "StatusCode": self.status_code,
        }
        if self.status_message:
            found["StatusMessage"] = self.status_message
        return found


def parse_resource_id(resource_id: str) -> tuple[str, str] | None:
    """(endpoint, variant) of a SageMaker variant's ResourceId, or None when it is not one."""
    found = _RESOURCE_ID.match(resource_id or "")
    return (found.group(1), found.group(2)) if found else None


def _invalid_resource_id(resource_id: str) -> AWSValidationException:
    return AWSValidationException(
        f"Unsupported resource ID {resource_id!r} for scalable dimension {DIMENSION}: a SageMaker variant's "
        "ResourceId is endpoint/<endpoint-name>/variant/<variant-name>"
    )


class AutoScalingService:
    """The sandbox's Application Auto Scaling state beyond moto: cooldowns, activities, and the scaling itself."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.clock = emulator.clock
        self.activities: list[Activity] = []
        # Never held while calling SageMaker: SageMaker's checks call in here under its own lock.
        self._lock = threading.RLock()
        self._last_scale_in: dict[tuple[str, str, str], float] = {}
        # moto's DeregisterScalableTarget (set by install), for the targets DeleteEndpoint deregisters.
        self.moto_deregister: Callable[..., None] = ApplicationAutoscalingBackend.deregister_scalable_target

    # ------------------------------------------------------------------------------------------ lookups
    def _sagemaker(self) -> Any:
        return self.emulator.services["sagemaker"]

    def _cloudwatch(self) -> Any:
        return self.emulator.services["cloudwatch"]

    @staticmethod
    def _backend(account_id: str, region: str) -> ApplicationAutoscalingBackend:
        return applicationautoscaling_backends[account_id][region]

    def targets_of(self, account_id: str, region: str, endpoint: str) -> list[FakeScalableTarget]:
        """The scalable targets registered for an endpoint's variants."""
        backend = self._backend(account_id, region)
        with self._lock:
            return [
                t
                for t in backend.targets.get(DIMENSION, {}).values()
                if t.service_namespace == NAMESPACE and (parse_resource_id(t.resource_id) or ("",))[0] == endpoint
            ]

    def _policies(self, backend: ApplicationAutoscalingBackend) -> list[FakeApplicationAutoscalingPolicy]:
        with self._lock:
            return [
                p
                for p in backend.policies.values()
                if p.service_namespace == NAMESPACE and p.scalable_dimension == DIMENSION
            ]

    def _all_policies(self) -> list[tuple[ApplicationAutoscalingBackend, FakeApplicationAutoscalingPolicy]]:
        found = []
        for _account, _region, backend in list(applicationautoscaling_backends.iter_backends()):
            assert isinstance(backend, ApplicationAutoscalingBackend)
            found += [(backend, policy) for policy in self._policies(backend)]
        return found

    # ------------------------------------------------------------------------- Application Auto Scaling
    def register(self, backend: ApplicationAutoscalingBackend, moto: Callable[..., Any], **kwargs: Any) -> Any:
        namespace, resource_id, dimension = kwargs["namespace"], kwargs["r_id"], kwargs["dimension"]
        if namespace != NAMESPACE:
            return moto(backend, **kwargs)
        if dimension != DIMENSION:
            raise AWSValidationException("Unsupported service namespace, resource type or scalable dimension")
        parsed = parse_resource_id(resource_id)
        if parsed is None:
            raise _invalid_resource_id(resource_id)
        endpoint, variant = parsed
        state = self._sagemaker().endpoint_state(endpoint, account_id=backend.account_id, region=backend.region_name)
        # A shadow variant scales like a production variant ("configure autoscaling on your shadow variants",
        # https://docs.aws.amazon.com/sagemaker/latest/dg/shadow-tests-best-practices.html).
        hosted = (*state.variants, *state.shadow_variants) if state is not None else ()
        if variant not in {v.name for v in hosted}:
            raise AWSValidationException(
                f"Cannot register scalable target {resource_id}: endpoint {endpoint!r} has no variant {variant!r}. "
                "Register an existing endpoint's variant."
            )
        low, high = kwargs.get("min_capacity"), kwargs.get("max_capacity")
        with self._lock:
            existing = backend.targets.get(DIMENSION, {}).get(resource_id)
            if existing is None and (low is None or high is None):
                raise AWSValidationException(
                    "MinCapacity and MaxCapacity are required to register a new scalable target "
                    f"({resource_id}); only an update of a registered target may leave them out."
                )
            low = existing.min_capacity if low is None and existing is not None else low
            high = existing.max_capacity if high is None and existing is not None else high
            if low is not None and int(low) < 1:
                raise AWSValidationException(
                    f"MinCapacity {low} is below 1: a SageMaker variant's minimum capacity must be at least 1."
                )
            if low is not None and high is not None and int(low) > int(high):
                raise AWSValidationException(
                    f"Minimum capacity {low} cannot be greater than maximum capacity {high} for {resource_id}."
                )
            target = moto(backend, **kwargs)
            if existing is None:
                target.creation_time = self.clock.time()
            low, high = int(target.min_capacity), int(target.max_capacity)
        # "If the specified resource is not active in the target service, this operation does not change the
        # resource's current capacity. Otherwise, it changes the resource's current capacity to a value that is
        # inside of this range" (RegisterScalableTarget); outside the lock, since SageMaker calls in here.
        current = next(v.desired_instance_count for v in hosted if v.name == variant)
        if state is not None and state.status == "InService" and current is not None and not low <= current <= high:
            self._set_capacity(endpoint, variant, min(high, max(low, current)))
        return target

    def deregister(self, backend: ApplicationAutoscalingBackend, moto: Callable[..., Any], **kwargs: Any) -> None:
        with self._lock:
            # DeregisterScalableTarget: ObjectNotFoundException for a target that does not exist (moto answers a
            # ValidationException). https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeregisterScalableTarget.html
            namespace, resource_id, dimension = kwargs["namespace"], kwargs["r_id"], kwargs["dimension"]
            if namespace == NAMESPACE and backend.targets.get(dimension, {}).get(resource_id) is None:
                raise _ObjectNotFound(
                    f"No scalable target found for service namespace: {NAMESPACE}, resource ID: {resource_id}, "
                    f"scalable dimension: {dimension}"
                )
            moto(backend, **kwargs)
            if kwargs["namespace"] == NAMESPACE:
                self._delete_policies(backend, kwargs["r_id"], kwargs["dimension"])

    def _delete_policies(self, backend: ApplicationAutoscalingBackend, resource_id: str, dimension: str) -> None:
        for key, policy in list(backend.policies.items()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                NAMESPACE,
                resource_id,
                dimension,
            ):
                policy.delete_alarms(backend.account_id, backend.region_name)
                del backend.policies[key]

    def put_policy(self, backend: ApplicationAutoscalingBackend, moto: Callable[..., Any], **kwargs: Any) -> Any:
        if kwargs["service_namespace"] != NAMESPACE:
            return moto(backend, **kwargs)
        resource_id, dimension = kwargs["resource_id"], kwargs["scalable_dimension"]
        with self._lock:
            if backend.targets.get(dimension, {}).get(resource_id) is None:
                raise _ObjectNotFound(
                    f"No scalable target registered for service namespace: {NAMESPACE}, resource ID: "
                    f"{resource_id}, scalable dimension: {dimension}"
                )
            key = FakeApplicationAutoscalingPolicy.formulate_key(
                NAMESPACE, resource_id, dimension, kwargs["policy_name"]
            )
            previous = backend.policies.get(key)
            # An update may leave out what it does not change (moto then keeps the policy's own).
            policy_type = kwargs.get("policy_type") or (previous.policy_type if previous is not None else None)
            if policy_type != "TargetTrackingScaling":
                raise SandboxUnsupported(
                    f"the sandbox emulates TargetTrackingScaling policies on SageMaker variants, not {policy_type}; "
                    f"use a target tracking policy on {PREDEFINED_METRIC}"
                )
            body = kwargs.get("policy_body") or (previous._policy_body if previous is not None else None) or {}
            metric = (body.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if metric != PREDEFINED_METRIC:
                raise SandboxUnsupported(
                    f"the sandbox's target tracking emulates the predefined metric {PREDEFINED_METRIC} only, "
                    f"not {metric or 'a customized metric'}"
                )
            if previous is not None:  # the policy's alarms are replaced with the policy
                previous.delete_alarms(backend.account_id, backend.region_name)
            policy = moto(backend, **kwargs)
            policy.creation_time = self.clock.time()
            return policy

    def create_alarms(self, policy: FakeApplicationAutoscalingPolicy) -> None:
        """The alarms target tracking creates for a SageMaker variant (moto creates none for SageMaker)."""
        from moto.cloudwatch.models import cloudwatch_backends

        parsed = parse_resource_id(policy.resource_id)
        config = policy.target_tracking_scaling_policy_configuration or {}
        if parsed is None or "TargetValue" not in config:
            return
        endpoint, variant = parsed
        target = float(config["TargetValue"])
        cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
        for kind, operator, threshold, minutes in (
            (_HIGH, "GreaterThanThreshold", target, HIGH_ALARM_MINUTES),
            (_LOW, "LessThanThreshold", target * SCALE_IN_RATIO, LOW_ALARM_MINUTES),
        ):
            policy.alarms.append(
                cloudwatch.put_metric_alarm(
                    name=f"TargetTracking-{policy.resource_id}-{kind}-{uuid.uuid4()}",
                    namespace=METRIC_NAMESPACE,
                    metric_name=METRIC_NAME,
                    comparison_operator=operator,
                    evaluation_periods=minutes,
                    datapoints_to_alarm=minutes,
                    period=PERIOD_SECONDS,
                    threshold=threshold,
                    statistic="Sum",
                    description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.policy_arn}.",
                    dimensions=[
                        {"Name": "EndpointName", "Value": endpoint},
                        {"Name": "VariantName", "Value": variant},
                    ],
                    alarm_actions=[policy.policy_arn],
                )
            )

    def describe_policies(
        self,
        backend: ApplicationAutoscalingBackend,
        namespace: str,
        resource_id: str | None,
        dimension: str | None,
        names: list[str] | None,
    ) -> list[FakeApplicationAutoscalingPolicy]:
        with self._lock:
            return [
                p
                for p in backend.policies.values()
                if p.service_namespace == namespace
                and (not resource_id or p.resource_id == resource_id)
                and (not dimension or p.scalable_dimension == dimension)
                and (not names or p.policy_name in names)
            ]

    # -------------------------------------------------------------------------------- SageMaker's rules
    def check_endpoint_operation(
        self, operation: str, endpoint: Any, new_variants: list[dict[str, Any]] | None
    ) -> None:
        """SageMaker's checks against Application Auto Scaling (called by the SageMaker emulator, under its lock).

        https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html,
        https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-delete-with-scaling.html
        """
        account_id, region = _account_and_region(endpoint.arn)
        targets = self.targets_of(account_id, region, endpoint.endpoint_name)
        if not targets:
            return
        if operation == DELETE_ENDPOINT:
            backend = self._backend(account_id, region)
            with self._lock:
                for target in targets:
                    self.deregister(
                        backend,
                        self.moto_deregister,
                        namespace=NAMESPACE,
                        r_id=target.resource_id,
                        dimension=DIMENSION,
                    )
            return
        if operation != UPDATE_ENDPOINT or new_variants is None:
            return
        running = [*endpoint.production_variants, *(getattr(endpoint, "shadow_production_variants", None) or [])]
        current = {v["VariantName"]: v for v in running}
        new = {v["VariantName"]: v for v in new_variants}
        blocked = []
        for target in targets:
            name = (parse_resource_id(target.resource_id) or ("", ""))[1]
            if name not in new:
                blocked.append(f"{name} (removed)")
            elif new[name].get("InstanceType") != (current.get(name) or {}).get("InstanceType"):
                blocked.append(
                    f"{name} (instance type {(current.get(name) or {}).get('InstanceType')} -> "
                    f"{new[name].get('InstanceType')})"
                )
        if blocked:
            raise SageMakerValidationError(
                f"Endpoint {endpoint.endpoint_name!r}: variant(s) {', '.join(blocked)} are registered as scalable "
                "targets with Application Auto Scaling, and an update may not remove such a variant or change its "
                "instance type. Delete the scaling policies and call DeregisterScalableTarget first, then register "
                "the updated variant again after the update."
            )

    # ------------------------------------------------------------------------------------- target tracking
    def on_alarm_action(self, action: str, message: dict[str, Any]) -> str:
        """CloudWatch ran a scaling policy action (an alarm of the policy changed state)."""
        found = next(((b, p) for b, p in self._all_policies() if p.policy_arn == action), None)
        if found is None:
            raise ValueError(f"no scaling policy {action}")
        backend, policy = found
        if message.get("NewStateValue") == "ALARM":
            alarm = next((a for a in policy.alarms if a.name == message.get("AlarmName")), None)
            if alarm is not None:
                self._track(backend, policy, alarm)
        return str(uuid.uuid4())

    def track_each_minute(self) -> None:
        """The ticker's job: every policy whose alarm is in ALARM is run again (CloudWatch repeats Auto Scaling
        actions while the alarm stays in that state)."""
        for backend, policy in self._all_policies():
            for alarm in list(policy.alarms):
                if alarm.state_value == "ALARM" and alarm.actions_enabled:
                    try:
                        self._track(backend, policy, alarm)
                    except Exception:  # one broken policy must not stop the others
                        log.exception("target tracking of %s failed", policy.resource_id)

    def _track(
        self, backend: ApplicationAutoscalingBackend, policy: FakeApplicationAutoscalingPolicy, alarm: Any
    ) -> Activity | None:
        scale_out = f"-{_HIGH}-" in alarm.name
        parsed = parse_resource_id(policy.resource_id)
        config = policy.target_tracking_scaling_policy_configuration or {}
        with self._lock:
            target = backend.targets.get(DIMENSION, {}).get(policy.resource_id)
            if parsed is None or target is None or "TargetValue" not in config:
                return None
            low, high = int(target.min_capacity or 1), int(target.max_capacity or 1)
            # moto keeps SuspendedState as the request gave it (a dict, typed as a string)
            raw: Any = target.suspended_state
            suspended: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if suspended.get("DynamicScalingOutSuspended" if scale_out else "DynamicScalingInSuspended"):
            return None
        if not scale_out and config.get("DisableScaleIn"):
            return None
        endpoint, variant = parsed
        key = (backend.account_id, backend.region_name, policy.resource_id)
        now = self.clock.time()
        if not scale_out:
            cooldown = float(config.get("ScaleInCooldown", DEFAULT_COOLDOWN_SECONDS))
            last = self._last_scale_in.get(key)
            if last is not None and now - last < cooldown:
                return None
        state = self._sagemaker().endpoint_state(endpoint, account_id=backend.account_id, region=backend.region_name)
        hosted = (*state.variants, *state.shadow_variants) if state is not None else ()
        current = next((v.desired_instance_count for v in hosted if v.name == variant), None)
        load = self._invocations_per_minute(backend, endpoint, variant, now)
        if current is None or load is None:
            return None
        needed = math.ceil(load / float(config["TargetValue"]))
        wanted = min(high, needed) if scale_out else max(low, needed)
        # Each alarm moves the count one way only: a count someone set outside the bounds stays until it must move.
        if (scale_out and wanted <= current) or (not scale_out and wanted >= current):
            return None
        cause = f"monitor alarm {alarm.name} in state ALARM triggered policy {policy.policy_name}"
        description = f"Setting desired instance count to {wanted}."
        if state is None or state.status != "InService":
            status = state.status if state else "gone"
            return self._record(policy, description, cause, "Failed", f"Endpoint is {status}; retried next minute.")
        try:
            self._set_capacity(endpoint, variant, wanted)
        except Exception as exc:  # recorded as the failed activity AWS would show; tried again next minute
            return self._record(policy, description, cause, "Failed", str(exc))
        if scale_out:  # "the scale-in cooldown period stops and doesn't complete"
            self._last_scale_in.pop(key, None)
        else:
            self._last_scale_in[key] = now
        return self._record(policy, description, cause, "Successful", "", wanted)

    def _set_capacity(self, endpoint: str, variant: str, count: int) -> None:
        # As Application Auto Scaling does: through SageMaker's API (so the endpoint goes Updating, then
        # InService with CurrentInstanceCount following), as the account's administrator in the sandbox.
        self.emulator.client("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": variant, "DesiredInstanceCount": count}]
        )

    def _invocations_per_minute(
        self, backend: ApplicationAutoscalingBackend, endpoint: str, variant: str, now: float
    ) -> float | None:
        """The variant's load: its Invocations in the latest complete minute with data (in the alarm's range)."""
        points = self._cloudwatch().get_metric_statistics(
            METRIC_NAMESPACE,
            "Invocations",
            now - (LOW_ALARM_MINUTES + 2) * PERIOD_SECONDS,
            now,
            PERIOD_SECONDS,
            statistics=["Sum"],
            dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            account_id=backend.account_id,
            region=backend.region_name,
        )
        complete = [p for p in points if _epoch(p["Timestamp"]) + PERIOD_SECONDS <= now]
        if not complete:
            return None
        return float(max(complete, key=lambda p: _epoch(p["Timestamp"]))["Sum"])

    def _record(
        self,
        policy: FakeApplicationAutoscalingPolicy,
        description: str,
        cause: str,
        status: str,
        message: str,
        desired: int | None = None,
    ) -> Activity:
        activity = Activity(
            activity_id=str(uuid.uuid4()),
            account_id=policy.account_id,
            region=policy.region_name,
            resource_id=policy.resource_id,
            description=description,
            cause=cause,
            start_time=datetime.fromtimestamp(self.clock.time(), UTC),
            status_code=status,
            status_message=message,
            desired_instance_count=desired,
        )
        with self._lock:
            self.activities.append(activity)
        return activity

    def activities_for(self, resource_id: str) -> list[Activity]:
        with self._lock:
            return [a for a in self.activities if a.resource_id == resource_id]

    def describe_activities(
        self, backend: ApplicationAutoscalingBackend, resource_id: str | None, dimension: str | None
    ) -> list[Activity]:
        """DescribeScalingActivities: "the scaling activities in the specified namespace from the previous six
        weeks", filtered by ResourceId and ScalableDimension; newest first (AWS states no order)."""
        since = self.clock.time() - ACTIVITY_RETENTION_SECONDS
        with self._lock:
            found = [
                a
                for a in self.activities
                if (a.account_id, a.region) == (backend.account_id, backend.region_name)
                and (not resource_id or a.resource_id == resource_id)
                and (not dimension or dimension == DIMENSION)
                and a.start_time.timestamp() >= since
            ]
        return sorted(found, key=lambda a: a.start_time, reverse=True)


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def _account_and_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


# ---------------------------------------------------------------------------------------------------------
# installation: every change to moto goes through the Patcher
# ---------------------------------------------------------------------------------------------------------
def install(emulator: Emulator, patcher: Patcher) -> AutoScalingService:
    service = AutoScalingService(emulator)
    backend_class = ApplicationAutoscalingBackend

    def register_scalable_target(self: ApplicationAutoscalingBackend, *args: Any, **kwargs: Any) -> Any:
        names = ("namespace", "r_id", "dimension", "min_capacity", "max_capacity", "role_arn", "suspended_state")
        return service.register(self, original_register, **dict(zip(names, args, strict=False)), **kwargs)

    def deregister_scalable_target(
        self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str
    ) -> None:
        service.deregister(self, original_deregister, namespace=namespace, r_id=r_id, dimension=dimension)

    def put_scaling_policy(self: ApplicationAutoscalingBackend, **kwargs: Any) -> Any:
        return service.put_policy(self, original_put_policy, **kwargs)

    def put_scheduled_action(self: ApplicationAutoscalingBackend, **kwargs: Any) -> None:
        if kwargs.get("service_namespace") == NAMESPACE:
            raise SandboxUnsupported(
                "the sandbox does not run scheduled actions; on SageMaker variants it emulates target tracking only"
            )
        original_scheduled(self, **kwargs)

    def create_alarms(self: FakeApplicationAutoscalingPolicy) -> None:
        if self.service_namespace == NAMESPACE and self.policy_type == "TargetTrackingScaling":
            service.create_alarms(self)
        else:
            original_create_alarms(self)

    def describe_scaling_policies(self: ApplicationAutoScalingResponse) -> str:
        namespace = self._get_param("ServiceNamespace")
        if namespace != NAMESPACE:
            return str(original_describe_policies(self))
        backend = self.applicationautoscaling_backend
        found = service.describe_policies(
            backend,
            namespace,
            self._get_param("ResourceId"),
            self._get_param("ScalableDimension"),
            self._get_param("PolicyNames"),
        )
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_int_param("MaxResults") or 50)
        page = found[start : start + size]
        token = str(start + size) if start + size < len(found) else None
        from moto.applicationautoscaling.responses import _build_policy

        return json.dumps({"ScalingPolicies": [_build_policy(p) for p in page], "NextToken": token})

    def describe_scaling_activities(self: ApplicationAutoScalingResponse) -> str:
        if self._get_param("ServiceNamespace") != NAMESPACE:
            return json.dumps({"ScalingActivities": []})  # the sandbox scales SageMaker variants only
        found = service.describe_activities(
            self.applicationautoscaling_backend, self._get_param("ResourceId"), self._get_param("ScalableDimension")
        )
        start = int(self._get_param("NextToken") or 0)
        size = min(ACTIVITIES_PAGE, int(self._get_int_param("MaxResults") or ACTIVITIES_PAGE))
        token = str(start + size) if start + size < len(found) else None
        page = [a.as_response() for a in found[start : start + size]]
        return json.dumps({"ScalingActivities": page, "NextToken": token})

    original_register = patcher.replace(backend_class, "register_scalable_target", register_scalable_target)
    original_deregister = patcher.replace(backend_class, "deregister_scalable_target", deregister_scalable_target)
    original_put_policy = patcher.replace(backend_class, "put_scaling_policy", put_scaling_policy)
    original_scheduled = patcher.replace(backend_class, "put_scheduled_action", put_scheduled_action)
    original_create_alarms = patcher.replace(FakeApplicationAutoscalingPolicy, "create_alarms", create_alarms)
    original_describe_policies = patcher.replace(
        ApplicationAutoScalingResponse, "describe_scaling_policies", describe_scaling_policies
    )
    service.moto_deregister = original_deregister
    patcher.add(ApplicationAutoScalingResponse, "describe_scaling_activities", describe_scaling_activities)

    sagemaker = emulator.services["sagemaker"]
    sagemaker.endpoint_checks.append(service.check_endpoint_operation)
    emulator.services["cloudwatch"].action_handlers["autoscaling"] = service.on_alarm_action
    emulator.ticker.every(TRACKING_JOB, PERIOD_SECONDS, service.track_each_minute)
    return service
