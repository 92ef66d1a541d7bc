"""Auto-scaled endpoints (issue 12): how a rollout sizes its variants, what the rollback does about a registration,
and Finalize Promotion's critical alert when the promoted variant cannot be registered, against a small working
in-memory Application Auto Scaling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from fakes import held_lease
from mlrollout.contracts import FinalizeInput, NotifyInput, Registration, VariantScaling
from mlrollout.domain.alerts import EventType, Severity
from mlrollout.domain.config import RolloutConfig
from mlrollout.domain.errors import ScalingRefused
from mlrollout.domain.rollback import EndpointObservation, RollbackStep, StepKind, plan_scaling_restore
from mlrollout.domain.scaling import ScalableTarget, candidate_count, promoted_count, registration_problems
from mlrollout.services.finalize import finalize_promotion
from mlrollout.services.notify import build_alert
from support import IMAGE, a_deployment, a_rollout

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
POLICY = {
    "PolicyName": "invocations",
    "PolicyType": "TargetTrackingScaling",
    "TargetTrackingScalingPolicyConfiguration": {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    },
}


# ------------------------------------------------------------------------------------------ sizing


def test_the_candidate_is_the_live_fleet_at_its_largest_share_rounded_up_at_least_one() -> None:
    assert candidate_count(3, [10.0, 50.0]) == 2  # ceil(1.5)
    assert candidate_count(20, [10.0]) == 2  # exactly 2, not 3 from floating point
    assert candidate_count(4, [10.0]) == 1  # ceil(0.4)
    assert candidate_count(1, [1.0]) == 1  # never zero instances
    assert candidate_count(7, []) == 7  # all at once: the whole traffic


def test_the_promoted_variant_is_the_live_fleet_within_the_registered_bounds() -> None:
    assert promoted_count(4, 2, 6) == 4
    assert promoted_count(1, 2, 6) == 2
    assert promoted_count(9, 2, 6) == 6


def test_registration_problems_name_what_differs() -> None:
    same = registration_problems(
        variant="v2", min_capacity=2, max_capacity=6, seen_bounds=(2, 6), policies=[POLICY], seen_policies=[POLICY]
    )
    assert same == []
    missing = registration_problems(
        variant="v2", min_capacity=2, max_capacity=6, seen_bounds=None, policies=[POLICY], seen_policies=[]
    )
    assert missing == ["variant v2 is not registered as a scalable target"]
    other = {**POLICY, "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0}}
    differs = registration_problems(
        variant="v2", min_capacity=2, max_capacity=6, seen_bounds=(1, 6), policies=[POLICY], seen_policies=[other]
    )
    assert differs == [
        "variant v2 scales within 1-6 instances, not 2-6",
        "variant v2's scaling policy invocations differs from the one it should carry",
    ]


def test_the_rollback_registers_again_only_what_is_gone() -> None:
    done = RollbackStep(StepKind.DONE, "endpoint ep is InService on ep-v1 with all traffic on v1")
    assert plan_scaling_restore(done, "v1", registered=True) is done
    step = plan_scaling_restore(done, "v1", registered=False)
    assert step.kind is StepKind.RESTORE_SCALING
    assert "registering variant v1 for auto scaling again" in step.reason
    # Back at its config's count, below what it served with at Plan: that count first, then the registration.
    grow = plan_scaling_restore(done, "v1", registered=False, instances=1, serving=3)
    assert (grow.kind, grow.capacity) == (StepKind.RESTORE_CAPACITY, 3)
    assert "came back with 1 instances where it served with 3" in grow.reason
    assert plan_scaling_restore(done, "v1", registered=False, instances=3, serving=3).kind is StepKind.RESTORE_SCALING
    assert plan_scaling_restore(done, "v1", registered=True, instances=1, serving=3) is done


# ------------------------------------------------------------------------------- Finalize Promotion


def refused(operation: str, code: str, message: str) -> ScalingRefused:
    """What the adapter raises for AWS's refusal of `operation` (its message)."""
    return ScalingRefused(message)


class InMemoryAutoScaling:
    """Application Auto Scaling as dicts; `refuse` names the operations it refuses (as the adapter reports AWS's
    LimitExceeded)."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.targets: dict[tuple[str, str], ScalableTarget] = {}
        self.policy_sets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.refuse = refuse
        self.schedules: dict[tuple[str, str], list[str]] = {}

    def target(self, endpoint: str, variant: str) -> ScalableTarget | None:
        return self.targets.get((endpoint, variant))

    def policies(self, endpoint: str, variant: str) -> list[dict[str, Any]]:
        return list(self.policy_sets.get((endpoint, variant), {}).values())

    def register(self, endpoint: str, variant: str, target: ScalableTarget) -> None:
        if "RegisterScalableTarget" in self.refuse:
            raise refused("RegisterScalableTarget", "LimitExceededException", "too many scalable targets")
        self.targets[(endpoint, variant)] = target

    def put_policy(self, endpoint: str, variant: str, policy: dict[str, Any]) -> None:
        if "PutScalingPolicy" in self.refuse:
            raise refused("PutScalingPolicy", "LimitExceededException", "too many scaling policies")
        if (endpoint, variant) not in self.targets:
            raise refused("PutScalingPolicy", "ObjectNotFoundException", "No scalable target registered")
        self.policy_sets.setdefault((endpoint, variant), {})[policy["PolicyName"]] = dict(policy)

    def deregister(self, endpoint: str, variant: str) -> bool:
        self.policy_sets.pop((endpoint, variant), None)
        return self.targets.pop((endpoint, variant), None) is not None

    def scheduled_actions(self, endpoint: str, variant: str) -> list[str]:
        return sorted(self.schedules.get((endpoint, variant), []))


class PromotedEndpoint:
    """DescribeEndpoint after the promotion: InService on the final config; nothing left to delete."""

    def observe(self, endpoint: str) -> EndpointObservation:
        return EndpointObservation(exists=True, status="InService", config_name="ep-v2", weights={"v2": 1.0})

    def delete_config(self, name: str) -> bool:
        return False

    def delete_model(self, name: str) -> bool:
        return False


class Approvals:
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def set_status(self, arn: str, status: str, description: str, metadata: dict[str, str]) -> None:
        self.statuses.append(status)


def finalize_request(instance_type: str = "ml.m5.large") -> FinalizeInput:
    scaling = VariantScaling(
        variant="v1", instance_type="ml.m5.large", min_capacity=2, max_capacity=6, policies=[POLICY],
        live_instance_count=4,
    )  # fmt: skip
    return FinalizeInput(
        rollout=a_rollout(RolloutConfig(image=IMAGE, instance_type=instance_type)),
        registration=Registration(
            package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ep/2",
            package_version=2,
            group_name="ep",
        ),
        deployment=a_deployment().model_copy(update={"scaling": scaling}),
        now=NOW,
    )


def test_finalize_registers_the_promoted_variant_as_the_previous_one_was() -> None:
    autoscaling, announced = InMemoryAutoScaling(), []
    result = finalize_promotion(
        finalize_request(), endpoints=PromotedEndpoint(), registry=Approvals(), autoscaling=autoscaling,
        announce=announced.append,
    )  # fmt: skip
    assert autoscaling.target("ep", "v2") == ScalableTarget(2, 6)
    assert autoscaling.policies("ep", "v2") == [POLICY]
    assert result.scaling == "variant v2 registered for auto scaling (2-6 instances, invocations), verified"
    assert announced == []


def test_a_refused_registration_is_a_critical_alert_not_a_rollback() -> None:
    announced: list[NotifyInput] = []
    approvals = Approvals()
    result = finalize_promotion(
        finalize_request(), endpoints=PromotedEndpoint(), registry=approvals,
        autoscaling=InMemoryAutoScaling(refuse=frozenset({"PutScalingPolicy"})), announce=announced.append,
    )  # fmt: skip
    assert result.approved is True and approvals.statuses == ["Approved"]  # the version stays promoted
    assert result.scaling == "NOT auto-scaled: Application Auto Scaling refused: too many scaling policies"
    [request] = announced
    alert = build_alert(request, region="us-east-1", dashboard=None)
    assert alert.event is EventType.SCALING_NOT_RESTORED
    assert alert.severity is Severity.CRITICAL
    assert "its variant v2 is not auto-scaled as v1 was (2-6 instances, invocations)" in alert.reason
    assert "too many scaling policies" in alert.reason


def test_an_instance_type_change_carries_the_target_value_and_says_to_retune_it() -> None:
    autoscaling = InMemoryAutoScaling()
    result = finalize_promotion(
        finalize_request("ml.c5.xlarge"), endpoints=PromotedEndpoint(), registry=Approvals(), autoscaling=autoscaling,
        announce=lambda request: None,
    )  # fmt: skip
    assert autoscaling.policies("ep", "v2") == [POLICY]
    assert result.scaling is not None
    assert "instance type changed from ml.m5.large to ml.c5.xlarge" in result.scaling
    assert "re-tune" in result.scaling


# ------------------------------------------------------------------------------- what Plan refuses to carry


TRACKING = POLICY  # target tracking on a predefined metric: what mlrollout carries


def test_only_target_tracking_on_a_predefined_metric_is_carried() -> None:
    from mlrollout.domain.scaling import uncarried

    custom = {
        "PolicyName": "cpu",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 50.0,
            "CustomizedMetricSpecification": {"MetricName": "CPUUtilization", "Dimensions": []},
        },
    }
    step = {"PolicyName": "burst", "PolicyType": "StepScaling"}
    assert uncarried("v1", [TRACKING], []) == []
    assert uncarried("v1", [TRACKING, custom, step], ["nightly"]) == [
        "scheduled action nightly (deregistering deletes it)",
        "target tracking policy cpu on a customized metric (its dimensions name v1)",
        "StepScaling policy burst (the alarms that invoke it are yours)",
    ]


def test_plan_refuses_scaling_it_would_lose_before_anything_changes() -> None:
    from mlrollout.domain.errors import EndpointNotReady
    from mlrollout.services.scaling import read_scaling

    aas = InMemoryAutoScaling()
    aas.targets[("ep", "v1")] = ScalableTarget(1, 4)
    aas.policy_sets[("ep", "v1")] = {"invocations": dict(TRACKING)}
    carried = read_scaling(aas, "ep", "v1", instance_type="ml.m5.large", live=2)
    assert carried is not None and carried.policies == [TRACKING] and carried.live_instance_count == 2
    aas.schedules[("ep", "v1")] = ["nightly"]
    with pytest.raises(EndpointNotReady, match="scheduled action nightly") as refused:
        read_scaling(aas, "ep", "v1", instance_type="ml.m5.large", live=2)
    assert "add them to its variant" in (refused.value.fix or "")
    assert aas.targets[("ep", "v1")] == ScalableTarget(1, 4)  # nothing was changed


class RestoredEndpoint:
    """DescribeEndpoint after the rollback's update: InService on the previous config, the current variant alone."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def observe(self, endpoint: str) -> EndpointObservation:
        return EndpointObservation(exists=True, status="InService", config_name="ep-v1", weights={"v1": 1.0})

    def delete_config(self, name: str) -> bool:
        self.deleted.append(name)
        return True

    def delete_model(self, name: str) -> bool:
        self.deleted.append(name)
        return True


class Unreadable(InMemoryAutoScaling):
    def target(self, endpoint: str, variant: str) -> ScalableTarget | None:
        raise ScalingRefused("Rate exceeded")


def test_a_rollback_that_cannot_read_the_scaling_fails_saying_so_and_deletes_nothing() -> None:
    """Roll Back verifies the registration before it calls the endpoint restored: when Application Auto Scaling does
    not answer, the rollback fails with the reason (an operator restores the scaling), leaving the configs."""
    from fakes import FakeLeases, FakeRecords
    from mlrollout.contracts import Failure, RollbackInput
    from mlrollout.services.ledger import LeaseKeeper
    from mlrollout.services.rollback import roll_back

    scaled = a_deployment().model_copy(update={"scaling": VariantScaling(variant="v1", min_capacity=1, max_capacity=4)})
    request = RollbackInput(
        rollout=a_rollout(now=NOW),
        deployment=scaled,
        failure=Failure(error="EndpointUpdateFailed", state="Await Promoted"),
        now=NOW,
    )
    endpoints = RestoredEndpoint()
    result = roll_back(
        request, endpoints=endpoints, lease=LeaseKeeper(FakeLeases(), FakeRecords(), 30), autoscaling=Unreadable()
    )
    assert (result.status, result.verified) == ("failed", False)
    assert "Application Auto Scaling could not be read: Rate exceeded" in result.reason
    assert endpoints.deleted == []


class ShortOfCapacity:
    """The endpoint back on its previous config after a failed promotion, v1 at its config's one instance; a count
    asked for is granted up to `quota` after one look of Updating, or refused outright (`refuse`)."""

    def __init__(self, *, quota: int = 10, refuse: bool = False) -> None:
        self.instances, self.quota, self.refuse = 1, quota, refuse
        self.asked: list[int] = []
        self.updating = False

    def observe(self, endpoint: str) -> EndpointObservation:
        status = "Updating" if self.updating else "InService"
        self.updating = False
        return EndpointObservation(True, status, "ep-v1", {"v1": 1.0}, instance_counts={"v1": self.instances})

    def set_capacity(self, name: str, variant: str, instances: int) -> None:
        from mlrollout.domain.errors import ChangeRefused

        self.asked.append(instances)
        if self.refuse:  # as the adapter translates AWS's refusal
            raise ChangeRefused(
                "SageMaker refused UpdateEndpointWeightsAndCapacities of endpoint ep: ResourceLimitExceeded: "
                "instance quota"
            )
        self.instances, self.updating = min(instances, self.quota), True

    def delete_config(self, name: str) -> bool:
        return True

    def delete_model(self, name: str) -> bool:
        return True


@pytest.mark.parametrize(
    ("endpoint", "steps"),
    [
        (ShortOfCapacity(), ["restore_capacity", "await_capacity", "restore_scaling", "done"]),
        # The quota grants 2 of 3: asked once, then registered as it is, never asked again at every look.
        (ShortOfCapacity(quota=2), ["restore_capacity", "await_capacity", "restore_scaling", "done"]),
        # Refused outright: registered anyway, so the variant is not left without auto scaling.
        (ShortOfCapacity(refuse=True), ["restore_capacity", "restore_scaling", "done"]),
    ],
    ids=["granted", "short-of-quota", "refused"],
)
def test_a_rollback_after_promote_asks_for_the_served_count_once_then_registers(
    endpoint: ShortOfCapacity, steps: list[str]
) -> None:
    from fakes import FakeLeases, FakeRecords
    from mlrollout.contracts import Failure, RollbackInput, RollbackResult
    from mlrollout.services.ledger import LeaseKeeper
    from mlrollout.services.rollback import roll_back

    scaling = VariantScaling(variant="v1", min_capacity=1, max_capacity=6, live_instance_count=3)
    deployment = a_deployment().model_copy(update={"scaling": scaling})
    autoscaling = InMemoryAutoScaling()
    lease = LeaseKeeper(FakeLeases(), FakeRecords(), 30)
    previous: RollbackResult | None = None
    seen = []
    for _ in range(8):
        request = RollbackInput(
            rollout=a_rollout(now=NOW),
            deployment=deployment,
            failure=Failure(error="EndpointUpdateFailed", state="Await Promoted"),
            previous=previous,
            now=NOW,
        )
        previous = roll_back(request, endpoints=endpoint, lease=lease, autoscaling=autoscaling)  # type: ignore[arg-type]
        seen.append(previous.step)
        if previous.status != "waiting":
            break
    assert seen == steps
    assert previous is not None and (previous.status, previous.verified) == ("done", True)
    assert endpoint.asked == [3]
    assert autoscaling.target("ep", "v1") == ScalableTarget(1, 6)


# ------------------------------------------------------------------ another change in progress (a scaling activity)


class ScalingActivity:
    """DescribeEndpoint while an auto scaling activity changes the endpoint's capacity: Updating on `config`."""

    def __init__(self, config: str) -> None:
        self.config = config
        self.writes: list[str] = []

    def observe(self, endpoint: str) -> EndpointObservation:
        return EndpointObservation(exists=True, status="Updating", config_name=self.config, weights={"v1": 1.0})

    def delete_config(self, name: str) -> bool:
        self.writes.append(f"delete_config {name}")
        return True

    def delete_model(self, name: str) -> bool:
        self.writes.append(f"delete_model {name}")
        return True


def test_plan_waits_out_a_scaling_activity_instead_of_refusing_the_upload() -> None:
    from mlrollout.contracts import PlanInput
    from mlrollout.domain.errors import EndpointChanging
    from mlrollout.services.deploy import plan_deployment

    endpoints = ScalingActivity("ep-v1")
    registration = Registration(package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ep/2",
                                package_version=2, group_name="ep")  # fmt: skip
    with pytest.raises(EndpointChanging) as changing:  # the ASL retries this name, for about an hour
        plan_deployment(PlanInput(rollout=a_rollout(), registration=registration, now=NOW), endpoints=endpoints)  # type: ignore[arg-type]
    assert "endpoint ep is Updating: another change" in changing.value.reason
    assert endpoints.writes == []


def test_finalize_waits_out_a_change_of_the_promoted_endpoint_and_deletes_nothing_meanwhile() -> None:
    from mlrollout.domain.errors import EndpointChanging, EndpointNotReady

    endpoints, approvals = ScalingActivity("ep-v2"), Approvals()
    with pytest.raises(EndpointChanging):
        finalize_promotion(
            finalize_request(), endpoints=endpoints, registry=approvals, autoscaling=InMemoryAutoScaling()
        )  # type: ignore[arg-type]
    assert endpoints.writes == [] and approvals.statuses == []
    # Updating on another config than the promoted one is not a moment to wait out: the promotion did not hold.
    with pytest.raises(EndpointNotReady):
        finalize_promotion(finalize_request(), endpoints=ScalingActivity("ep-v1"), registry=approvals)  # type: ignore[arg-type]


class AutoScaledEndpoint:
    """SageMaker hosting with v1 on config ep-v1 at the three instances auto scaling gave it (its config says one);
    every write is recorded, and an update takes effect at once."""

    def __init__(self) -> None:
        self.config = "ep-v1"
        self.configs: dict[str, list[dict[str, Any]]] = {
            "ep-v1": [
                {
                    "VariantName": "v1",
                    "ModelName": "ep-v1",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0,
                }
            ]
        }
        self.updates: list[tuple[str, bool]] = []

    def observe(self, endpoint: str) -> EndpointObservation:
        return EndpointObservation(True, "InService", self.config, {"v1": 1.0}, instance_counts={"v1": 3})

    def config_variants(self, name: str) -> list[dict[str, Any]]:
        return [dict(v) for v in self.configs[name]]

    def create_model(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_config(self, name: str, variants: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        self.configs.setdefault(name, variants)

    def update_endpoint(self, name: str, config: str, *, retain_variant_properties: bool = False) -> None:
        self.updates.append((config, retain_variant_properties))
        self.config = config


def test_the_canary_update_of_an_auto_scaled_endpoint_retains_the_live_count_and_is_not_repeated() -> None:
    from mlrollout.contracts import DeployInput
    from mlrollout.services.deploy import deploy_candidate
    from mlrollout.settings import Settings

    endpoints = AutoScaledEndpoint()
    request = DeployInput(
        rollout=a_rollout(), registration=finalize_request().registration,
        deployment=finalize_request().deployment, now=NOW,
    )  # fmt: skip
    settings = Settings(artifact_bucket="b", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm")
    deploy_candidate(request, endpoints=endpoints, settings=settings, lease=held_lease("ep", "d", NOW))  # type: ignore[arg-type]
    # the config states the live count, and the update keeps whatever auto scaling sets meanwhile (a scaling
    # activity that refused a first attempt may have changed it): RetainAllVariantProperties
    assert endpoints.updates == [("ep-v2-canary", True)]
    assert endpoints.configs["ep-v2-canary"][0]["InitialInstanceCount"] == 3
    # a retry of the step after its update went through changes nothing
    deploy_candidate(request, endpoints=endpoints, settings=settings, lease=held_lease("ep", "d", NOW))  # type: ignore[arg-type]
    assert endpoints.updates == [("ep-v2-canary", True)]


def test_promote_does_not_deregister_the_current_variant_while_a_scaling_activity_runs() -> None:
    from mlrollout.contracts import PromoteInput
    from mlrollout.domain.errors import EndpointChanging
    from mlrollout.services.deploy import promote_candidate
    from mlrollout.settings import Settings

    autoscaling = InMemoryAutoScaling()
    autoscaling.targets[("ep", "v1")] = ScalableTarget(2, 6)
    request = PromoteInput(rollout=a_rollout(), deployment=finalize_request().deployment, now=NOW)
    settings = Settings(artifact_bucket="b", sagemaker_role_arn="arn:aws:iam::123456789012:role/sm")
    with pytest.raises(EndpointChanging, match="deregisters the current variant only from an InService endpoint"):
        promote_candidate(
            request, endpoints=ScalingActivity("ep-v2-canary"), settings=settings,  # type: ignore[arg-type]
            lease=held_lease("ep", "d", NOW), autoscaling=autoscaling,
        )  # fmt: skip
    assert autoscaling.target("ep", "v1") == ScalableTarget(2, 6)  # still scaled: the retry comes when it is over
