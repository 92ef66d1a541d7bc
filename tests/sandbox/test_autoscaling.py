"""Auto-scaled SageMaker endpoints in the sandbox: Application Auto Scaling through the embedded AWS's HTTP server,
SageMaker's refusals while a variant is a scalable target, and target tracking that follows simulated traffic.

Each AWS fact these tests pin is cited in docs/sandbox-fidelity.md ("Auto-scaled endpoints").
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import moto.applicationautoscaling.models as moto_models
import pytest
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.dataplane import DataPlane, FeatureProfile, TrafficProfile
from mlrollout_sandbox.emulator.autoscaling import (
    DEFAULT_COOLDOWN_SECONDS,
    DIMENSION,
    HIGH_ALARM_MINUTES,
    LOW_ALARM_MINUTES,
    PREDEFINED_METRIC,
    AutoScalingService,
)
from mlrollout_sandbox.emulator.sagemaker import SageMakerService
from mlrollout_sandbox.server import EmbeddedAws
from support import ready_endpoint, unique, wait_while
from support import sagemaker_model as model

pytestmark = pytest.mark.sandbox

WARP = 600.0
BUCKET = "sandbox-autoscaling-models"
POLL_SECONDS = 5.0


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=WARP)) as embedded:
        yield embedded


@pytest.fixture
def aas(aws: EmbeddedAws) -> Any:
    return aws.client("application-autoscaling")


@pytest.fixture
def scaling(aws: EmbeddedAws) -> AutoScalingService:
    found: AutoScalingService = aws.emulator.services["autoscaling"]
    return found


# ------------------------------------------------------------------------------------------- helpers


def config(sm: Any, *variants: tuple[Any, ...]) -> str:
    """An endpoint configuration of (variant, model, instance type, instance count[, weight, 1.0 if left out])."""
    name = unique("cfg")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": v[0],
                "ModelName": v[1],
                "InstanceType": v[2],
                "InitialInstanceCount": v[3],
                "InitialVariantWeight": v[4] if len(v) > 4 else 1.0,
            }
            for v in variants
        ],
    )
    return name


def single_variant_endpoint(sm: Any, service: SageMakerService, count: int = 1) -> tuple[str, str]:
    """An InService endpoint with variant "blue" (ml.m5.large); returns (endpoint, blue's model)."""
    blue = model(sm)
    return ready_endpoint(sm, service, config(sm, ("blue", blue, "ml.m5.large", count))), blue


def resource(endpoint: str, variant: str = "blue") -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def register(aas: Any, endpoint: str, variant: str = "blue", low: int = 1, high: int = 4) -> None:
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource(endpoint, variant),
        ScalableDimension=DIMENSION,
        MinCapacity=low,
        MaxCapacity=high,
    )


def track(aas: Any, endpoint: str, target: float, variant: str = "blue", name: str = "invocations") -> dict[str, Any]:
    answer: dict[str, Any] = aas.put_scaling_policy(
        PolicyName=name,
        ServiceNamespace="sagemaker",
        ResourceId=resource(endpoint, variant),
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC},
        },
    )
    return answer


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def counts(described: dict[str, Any], variant: str = "blue") -> tuple[int, int]:
    found = next(v for v in described["ProductionVariants"] if v["VariantName"] == variant)
    return found["CurrentInstanceCount"], found["DesiredInstanceCount"]


# ------------------------------------------------------------------------------ what moto lacks (drift)


def test_moto_still_lacks_what_the_emulator_adds() -> None:
    """Each patch in emulator/autoscaling.py makes up for one of these; when moto changes one, this fails: review
    whether the patch is still needed."""
    create_alarms = inspect.getsource(moto_models.FakeApplicationAutoscalingPolicy.create_alarms)
    assert "sagemaker" not in create_alarms  # no target tracking alarms for SageMaker variants
    describe = inspect.getsource(moto_models.ApplicationAutoscalingBackend.describe_scaling_policies)
    assert "policy.resource_id in resource_id" in describe  # ResourceId matched as a substring
    put = inspect.getsource(moto_models.ApplicationAutoscalingBackend.put_scaling_policy)
    assert "_scalable_target_exists" not in put  # a policy for a target nobody registered
    deregister = inspect.getsource(moto_models.ApplicationAutoscalingBackend.deregister_scalable_target)
    assert "policies" not in deregister  # the target's policies stay behind


# ---------------------------------------------------------------------- registration round trips (HTTP)


def test_register_and_describe_a_variant_then_update_one_bound(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint, low=1, high=4)
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource(endpoint), ScalableDimension=DIMENSION, MaxCapacity=6
    )

    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])
    [target] = targets["ScalableTargets"]
    assert (target["ResourceId"], target["ScalableDimension"]) == (resource(endpoint), DIMENSION)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 6)  # an update changes only what it names
    assert abs((aws.clock.now() - target["CreationTime"]).total_seconds()) < 600  # sandbox time, not wall time


@pytest.mark.parametrize(
    ("case", "resource_id", "bounds", "needle"),
    [
        ("not a variant's resource id", "endpoint/{ep}", {"MinCapacity": 1, "MaxCapacity": 2}, "endpoint/<endpoint"),
        ("a variant the endpoint lacks", "endpoint/{ep}/variant/green", {"MinCapacity": 1, "MaxCapacity": 2}, "green"),
        (
            "an endpoint that does not exist",
            "endpoint/nowhere/variant/blue",
            {"MinCapacity": 1, "MaxCapacity": 2},
            "nowhere",
        ),
        (
            "a new target without bounds",
            "endpoint/{ep}/variant/blue",
            {"MaxCapacity": 2},
            "MinCapacity and MaxCapacity",
        ),
        ("a minimum below 1", "endpoint/{ep}/variant/blue", {"MinCapacity": 0, "MaxCapacity": 2}, "at least 1"),
        ("a minimum above the maximum", "endpoint/{ep}/variant/blue", {"MinCapacity": 3, "MaxCapacity": 2}, "greater"),
    ],
)
def test_register_refuses_what_application_auto_scaling_refuses(
    sm: Any, aas: Any, service: SageMakerService, case: str, resource_id: str, bounds: dict[str, int], needle: str
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    code, message = error_of(
        lambda: aas.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id.format(ep=endpoint),
            ScalableDimension=DIMENSION,
            **bounds,
        )
    )
    assert code == "ValidationException", case
    assert needle in message, case
    assert (
        aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])["ScalableTargets"]
        == []
    )


def test_registering_bounds_brings_an_in_service_variant_inside_them(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service, count=1)
    register(aas, endpoint, low=2, high=4)
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Updating"
    assert counts(described) == (1, 2)
    assert counts(wait_while(sm, endpoint, "Updating")) == (2, 2)


def test_a_policy_needs_a_registered_target(sm: Any, aas: Any, service: SageMakerService) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    code, message = error_of(lambda: track(aas, endpoint, 70.0))
    assert code == "ObjectNotFoundException"
    assert resource(endpoint) in message


def test_target_tracking_creates_the_high_and_the_low_alarm(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    answer = track(aas, endpoint, 70.0)
    names = [a["AlarmName"] for a in answer["Alarms"]]
    alarms = {a["AlarmName"]: a for a in aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]}
    high = next(a for n, a in alarms.items() if "-AlarmHigh-" in n)
    low = next(a for n, a in alarms.items() if "-AlarmLow-" in n)
    for alarm in (high, low):
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
            "AWS/SageMaker",
            "InvocationsPerInstance",
            "Sum",
            60,
        )
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"EndpointName": endpoint, "VariantName": "blue"}
        assert alarm["AlarmActions"] == [answer["PolicyARN"]]
    assert (high["ComparisonOperator"], high["Threshold"], high["EvaluationPeriods"]) == (
        "GreaterThanThreshold",
        70.0,
        HIGH_ALARM_MINUTES,
    )
    assert (low["ComparisonOperator"], low["Threshold"], low["EvaluationPeriods"]) == (
        "LessThanThreshold",
        pytest.approx(63.0),
        LOW_ALARM_MINUTES,
    )
    [policy] = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))[
        "ScalingPolicies"
    ]
    assert sorted(a["AlarmName"] for a in policy["Alarms"]) == sorted(names)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0


def test_updating_a_policy_replaces_its_alarms(aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    before = [a["AlarmName"] for a in track(aas, endpoint, 70.0)["Alarms"]]
    after = [a["AlarmName"] for a in track(aas, endpoint, 100.0)["Alarms"]]
    cloudwatch = aws.client("cloudwatch")
    assert cloudwatch.describe_alarms(AlarmNames=before)["MetricAlarms"] == []
    thresholds = sorted(a["Threshold"] for a in cloudwatch.describe_alarms(AlarmNames=after)["MetricAlarms"])
    assert thresholds == [pytest.approx(90.0), 100.0]


def test_describe_scaling_policies_matches_the_resource_id_and_policy_names_exactly(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    one, two = model(sm), model(sm)
    endpoint = ready_endpoint(sm, service, config(sm, ("v", one, "ml.m5.large", 1), ("v2", two, "ml.m5.large", 1)))
    for variant in ("v", "v2"):
        register(aas, endpoint, variant)
        track(aas, endpoint, 50.0, variant, name=f"policy-{variant}")
    listed = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint, "v2"))
    assert [p["PolicyName"] for p in listed["ScalingPolicies"]] == ["policy-v2"]
    named = aas.describe_scaling_policies(ServiceNamespace="sagemaker", PolicyNames=["policy-v"])
    assert [p["ResourceId"] for p in named["ScalingPolicies"]] == [resource(endpoint, "v")]


def test_deregistering_deletes_the_targets_policies_and_their_alarms(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    names = [a["AlarmName"] for a in track(aas, endpoint, 70.0)["Alarms"]]
    aas.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource(endpoint), ScalableDimension=DIMENSION
    )
    assert (
        aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))["ScalingPolicies"]
        == []
    )
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"] == []
    # Deregistering it again: the target no longer exists.
    code, _ = error_of(
        lambda: aas.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=resource(endpoint), ScalableDimension=DIMENSION
        )
    )
    assert code == "ObjectNotFoundException"


@pytest.mark.parametrize(
    ("case", "policy"),
    [
        (
            "step scaling",
            {"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"}},
        ),
        (
            "a customized metric",
            {
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 50.0,
                    "CustomizedMetricSpecification": {
                        "MetricName": "CPUUtilization",
                        "Namespace": "/aws/sagemaker/Endpoints",
                        "Statistic": "Average",
                    },
                },
            },
        ),
    ],
)
def test_what_the_sandbox_does_not_run_is_refused_not_stored(
    sm: Any, aas: Any, service: SageMakerService, case: str, policy: dict[str, Any]
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    code, _ = error_of(
        lambda: aas.put_scaling_policy(
            PolicyName="p",
            ServiceNamespace="sagemaker",
            ResourceId=resource(endpoint),
            ScalableDimension=DIMENSION,
            **policy,
        )
    )
    assert code == "SandboxUnsupportedOperation", case
    assert (
        aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))["ScalingPolicies"]
        == []
    )


def autoscaling_as(aws: EmbeddedAws, role: str, policy: dict[str, Any]) -> Any:
    """An Application Auto Scaling client signed as a new Lambda role with just `policy`."""
    iam = aws.client("iam")
    name = unique(role)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
    credentials = aws.emulator.services["iam"].session(arn, "lambda.amazonaws.com")
    return boto3.client(
        "application-autoscaling",
        endpoint_url=aws.url,
        region_name=aws.region,
        **credentials,  # type: ignore[call-overload]
    )


def test_iam_decides_each_application_auto_scaling_action(aws: EmbeddedAws, sm: Any, service: SageMakerService) -> None:
    """Strict mode knows the service's actions: a role that may only describe cannot register."""
    endpoint, _ = single_variant_endpoint(sm, service)
    reader = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "application-autoscaling:DescribeScalableTargets", "Resource": "*"}
        ],
    }
    client = autoscaling_as(aws, "reader", reader)
    client.describe_scalable_targets(ServiceNamespace="sagemaker")
    code, message = error_of(lambda: register(client, endpoint))
    assert code == "AccessDeniedException"
    assert "application-autoscaling:RegisterScalableTarget" in message


def test_the_namespace_and_dimension_condition_keys_limit_a_role_to_sagemaker_variants(
    aws: EmbeddedAws, sm: Any, service: SageMakerService
) -> None:
    """application-autoscaling:service-namespace and :scalable-dimension come from the request: a role that may
    register only SageMaker variants' instance counts registers one, and is refused an ECS service's task count
    before Application Auto Scaling looks at it."""
    endpoint, _ = single_variant_endpoint(sm, service)
    scoped = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "application-autoscaling:RegisterScalableTarget",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "application-autoscaling:service-namespace": "sagemaker",
                        "application-autoscaling:scalable-dimension": DIMENSION,
                    }
                },
            }
        ],
    }
    client = autoscaling_as(aws, "scaler", scoped)
    register(client, endpoint)
    code, message = error_of(
        lambda: client.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId="service/default/web",
            ScalableDimension="ecs:service:DesiredCount",
            MinCapacity=1,
            MaxCapacity=2,
        )
    )
    assert code == "AccessDeniedException"
    assert "application-autoscaling:RegisterScalableTarget" in message


# ------------------------------------------------------------------------------ SageMaker's refusals


def test_update_endpoint_may_not_remove_a_registered_variant(sm: Any, aas: Any, service: SageMakerService) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    green_only = config(sm, ("green", model(sm), "ml.m5.large", 1))
    code, message = error_of(lambda: sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green_only))
    assert code == "ValidationException"
    assert "blue (removed)" in message and "DeregisterScalableTarget" in message
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_a_registered_shadow_variant_may_not_be_removed_either(sm: Any, aas: Any, service: SageMakerService) -> None:
    blue = model(sm)
    with_shadow = unique("cfg")
    sm.create_endpoint_config(
        EndpointConfigName=with_shadow,
        ProductionVariants=[
            {"VariantName": "blue", "ModelName": blue, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        ShadowProductionVariants=[
            {"VariantName": "green", "ModelName": model(sm), "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    )
    endpoint = ready_endpoint(sm, service, with_shadow)
    register(aas, endpoint, "green")
    code, message = error_of(
        lambda: sm.update_endpoint(
            EndpointName=endpoint, EndpointConfigName=config(sm, ("blue", blue, "ml.m5.large", 1))
        )
    )
    assert code == "ValidationException"
    assert "green (removed)" in message


def test_update_endpoint_may_not_change_a_registered_variants_instance_type(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, blue = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    bigger = config(sm, ("blue", blue, "ml.m5.xlarge", 1))
    code, message = error_of(lambda: sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=bigger))
    assert code == "ValidationException"
    assert "ml.m5.large -> ml.m5.xlarge" in message


def test_update_endpoint_may_change_a_registered_variants_model_or_add_a_variant(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    new_model_and_canary = config(sm, ("blue", model(sm), "ml.m5.large", 1), ("green", model(sm), "ml.c5.large", 1))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_model_and_canary)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"


def test_update_endpoint_goes_through_once_the_variant_is_deregistered(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    aas.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource(endpoint), ScalableDimension=DIMENSION
    )
    green_only = config(sm, ("green", model(sm), "ml.m5.large", 1))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=green_only)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"


@pytest.mark.parametrize(
    ("case", "options", "blue"),
    [
        ("the configuration's count and weight", {}, (1, 0.9)),
        ("the running count and weight", {"RetainAllVariantProperties": True}, (3, 1.0)),
        (
            "the running count and the configuration's weight",
            {
                "RetainAllVariantProperties": True,
                "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
            },
            (3, 0.9),
        ),
    ],
)
def test_retain_all_variant_properties_keeps_the_running_variants_count_and_weight(
    sm: Any, aas: Any, service: SageMakerService, case: str, options: dict[str, Any], blue: tuple[int, float]
) -> None:
    """A canary configuration names the running variant again with its original count; auto scaling has grown it
    to 3 meanwhile. Only RetainAllVariantProperties keeps the 3 (and ExcludeRetainedVariantProperties takes the
    weight from the configuration); a new variant always gets its configuration's values."""
    endpoint, blue_model = single_variant_endpoint(sm, service, count=1)
    register(aas, endpoint, low=3, high=4)  # brings blue to 3, as a scale-out would
    wait_while(sm, endpoint, "Updating")
    canary = config(sm, ("blue", blue_model, "ml.m5.large", 1, 0.9), ("green", model(sm), "ml.m5.large", 1, 0.1))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=canary, **options)
    described = wait_while(sm, endpoint, "Updating")
    found = {v["VariantName"]: (v["CurrentInstanceCount"], v["CurrentWeight"]) for v in described["ProductionVariants"]}
    assert found == {"blue": blue, "green": (1, 0.1)}, case


def test_the_documented_update_procedure_carries_scaling_to_the_new_variant(
    sm: Any, aas: Any, service: SageMakerService
) -> None:
    """AWS's steps for updating an auto-scaled endpoint, as a promotion does them: deregister the variant, update
    (the live count kept with RetainAllVariantProperties), register the new variant with the same bounds and
    policy."""
    endpoint, blue = single_variant_endpoint(sm, service, count=1)
    register(aas, endpoint, low=2, high=5)
    track(aas, endpoint, 70.0)
    wait_while(sm, endpoint, "Updating")  # the registration brought blue to 2
    canary = config(sm, ("blue", blue, "ml.m5.large", 1, 0.9), ("green", model(sm), "ml.c5.xlarge", 1, 0.1))
    sm.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=canary,
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}],
    )
    assert counts(wait_while(sm, endpoint, "Updating")) == (2, 2)

    bounds = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])
    [policy] = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))[
        "ScalingPolicies"
    ]
    aas.deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=resource(endpoint), ScalableDimension=DIMENSION
    )
    promoted = config(sm, ("green", model(sm), "ml.c5.xlarge", 2))
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=promoted)
    wait_while(sm, endpoint, "Updating")
    [target] = bounds["ScalableTargets"]
    register(aas, endpoint, "green", low=target["MinCapacity"], high=target["MaxCapacity"])
    track(aas, endpoint, policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], "green")

    ids = [resource(endpoint), resource(endpoint, "green")]
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=ids)["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(ids[1], 2, 5)]
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["ResourceId"] for p in policies if p["ResourceId"] in ids] == [ids[1]]


def test_delete_endpoint_deregisters_its_variants(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service)
    register(aas, endpoint)
    names = [a["AlarmName"] for a in track(aas, endpoint, 70.0)["Alarms"]]
    sm.delete_endpoint(EndpointName=endpoint)
    assert (
        aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource(endpoint)])["ScalableTargets"]
        == []
    )
    assert aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"] == []


# ------------------------------------------------------------------------ target tracking with traffic


def artifact() -> bytes:
    code = """
import json


def model_fn(model_dir):
    return None


def input_fn(body, content_type):
    return json.loads(body)["features"]


def predict_fn(features, model):
    return 0.1


def output_fn(score, accept):
    return json.dumps({"score": score})
"""
    serving = {"latency_ms": {"p50": 20.0, "p99": 40.0}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("code/inference.py", code), ("model.json", json.dumps({"serving": serving}))):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def stored_model(aws: EmbeddedAws, sm: Any) -> str:
    s3 = aws.client("s3")
    with contextlib.suppress(ClientError):  # another test of this module made it
        s3.create_bucket(Bucket=BUCKET)
    key = f"{unique('m')}/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=artifact())
    return model(sm, f"s3://{BUCKET}/{key}")


def wait_for(condition: Callable[[], Any], what: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds}s of real time")


def metric_sum(aws: EmbeddedAws, endpoint: str, name: str, start: Any, end: Any) -> float:
    result = aws.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": "blue"},
                        ],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=start,
        EndTime=end,
    )
    return float(sum(result["MetricDataResults"][0]["Values"]))


def test_each_request_counts_one_over_the_instance_count_in_invocations_per_instance(
    aws: EmbeddedAws, sm: Any, runtime: Any, service: SageMakerService
) -> None:
    endpoint = ready_endpoint(sm, service, config(sm, ("blue", stored_model(aws, sm), "ml.m5.large", 2)))
    plane = DataPlane(aws, seed=3)
    began = aws.clock.now()
    try:
        plane.start()
        for _ in range(4):
            runtime.invoke_endpoint(
                EndpointName=endpoint,
                Body=json.dumps({"features": {"amount": 5.0, "merchant": "fuel", "hour": 3}}),
                ContentType="application/json",
            )
    finally:
        plane.stop()  # publishes the minutes served
    window = (began - timedelta(hours=1), aws.clock.now() + timedelta(hours=1))
    assert metric_sum(aws, endpoint, "Invocations", *window) == 4.0
    assert metric_sum(aws, endpoint, "InvocationsPerInstance", *window) == 2.0


def test_traffic_above_the_target_scales_the_variant_out_and_back_in(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService
) -> None:
    endpoint = ready_endpoint(sm, service, config(sm, ("blue", stored_model(aws, sm), "ml.m5.large", 1)))
    register(aas, endpoint, low=1, high=3)
    track(aas, endpoint, 60.0)  # invocations per instance per minute
    plane = DataPlane(aws, seed=5)
    began = aws.clock.now()
    try:
        plane.start()
        # 4 requests a second: 240 a minute on 1 instance, 4 times the target. Three minutes above it fire
        # AlarmHigh; the load needs ceil(240 / 60) = 4 instances, bounded by MaxCapacity 3.
        plane.send_traffic(endpoint, TrafficProfile(rps=4.0, features=FeatureProfile(malformed=0.0)))
        scaled_out = wait_for(
            lambda: counts(sm.describe_endpoint(EndpointName=endpoint)) == (3, 3), "scale out to 3 instances", 20.0
        )
        assert scaled_out
        out_at = aws.clock.now()
        # 0.5 a second: 30 a minute, 10 per instance, under 90% of the target. After 15 minutes of that,
        # AlarmLow fires and the load needs ceil(30 / 60) = 1 instance, MinCapacity 1.
        plane.send_traffic(endpoint, TrafficProfile(rps=0.5, features=FeatureProfile(malformed=0.0)))
        wait_for(lambda: counts(sm.describe_endpoint(EndpointName=endpoint)) == (1, 1), "scale in to 1 instance", 30.0)
        in_at = aws.clock.now()
    finally:
        plane.stop()

    # Not before the alarms could have fired: 3 minutes above the target, then 15 below it (less one: the minute in
    # which the traffic changes already counts when part of it is past the threshold).
    assert out_at - began >= timedelta(minutes=HIGH_ALARM_MINUTES - 1)
    assert in_at - out_at >= timedelta(minutes=LOW_ALARM_MINUTES - 1)
    listed = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=resource(endpoint))
    done = [a for a in reversed(listed["ScalingActivities"]) if a["StatusCode"] == "Successful"]  # oldest first
    assert [a["Description"] for a in done] == [
        "Setting desired instance count to 3.",
        "Setting desired instance count to 1.",
    ]
    assert "AlarmHigh" in done[0]["Cause"] and "AlarmLow" in done[1]["Cause"]
    assert {(a["ServiceNamespace"], a["ScalableDimension"]) for a in done} == {("sagemaker", DIMENSION)}
    # The SageMaker side went through UpdateEndpointWeightsAndCapacities both times.
    operations = [t.operation for t in service.transitions(endpoint) if t.status == "Updating"]
    assert operations.count("UpdateEndpointWeightsAndCapacities") == 2
    # CloudWatch ran the policy as the alarm's action (not an undelivered SNS notification).
    cloudwatch = aws.emulator.services["cloudwatch"]
    history = [
        h
        for name in (a["Cause"].split()[2] for a in done)
        for h in cloudwatch.alarm_history(name)
        if h["HistoryItemType"] == "Action"
    ]
    assert history and all(h["HistorySummary"].startswith("Successfully executed action") for h in history)


def put_load(aws: EmbeddedAws, endpoint: str, minutes: range, invocations: float, instances: int) -> None:
    """What the data plane would publish for these minutes (relative to now): Invocations and
    InvocationsPerInstance of variant "blue"."""
    now = aws.clock.now().replace(second=0, microsecond=0)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "blue"}]
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": now + timedelta(minutes=m), "Value": value}
        for m in minutes
        for name, value in (("Invocations", invocations), ("InvocationsPerInstance", invocations / instances))
    ]
    cloudwatch = aws.client("cloudwatch")
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[start : start + 500])


def test_a_scale_in_waits_for_the_previous_scale_ins_cooldown(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService, scaling: AutoScalingService
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service, count=3)
    # 100 a minute from 17 minutes ago to 3 minutes from now (33 per instance, under 90% of 60): AlarmLow fires
    # within a minute or two, and the load needs ceil(100 / 60) = 2 instances. Then 30 a minute: 1 instance would
    # do from 4 minutes on, but only once the scale-in cooldown (300 s by default) has passed since the first.
    put_load(aws, endpoint, range(-17, 3), 100.0, 3)
    put_load(aws, endpoint, range(3, 33), 30.0, 2)
    register(aas, endpoint, low=1, high=3)
    track(aas, endpoint, 60.0)
    wait_for(lambda: counts(sm.describe_endpoint(EndpointName=endpoint)) == (1, 1), "scale in to 1 instance", 10.0)

    done = [a for a in scaling.activities_for(resource(endpoint)) if a.status_code == "Successful"]
    assert [a.desired_instance_count for a in done] == [2, 1]
    assert done[1].start_time - done[0].start_time >= timedelta(seconds=DEFAULT_COOLDOWN_SECONDS)


@pytest.mark.parametrize("switch", ["DisableScaleIn", "DynamicScalingInSuspended"])
def test_scale_in_can_be_disabled_or_suspended(
    aws: EmbeddedAws, sm: Any, aas: Any, service: SageMakerService, scaling: AutoScalingService, switch: str
) -> None:
    endpoint, _ = single_variant_endpoint(sm, service, count=3)
    put_load(aws, endpoint, range(-17, 30), 30.0, 3)  # 10 per instance: AlarmLow fires at once
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource(endpoint),
        ScalableDimension=DIMENSION,
        MinCapacity=1,
        MaxCapacity=3,
        SuspendedState={"DynamicScalingInSuspended": switch == "DynamicScalingInSuspended"},
    )
    answer = aas.put_scaling_policy(
        PolicyName="invocations",
        ServiceNamespace="sagemaker",
        ResourceId=resource(endpoint),
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": PREDEFINED_METRIC},
            "DisableScaleIn": switch == "DisableScaleIn",
        },
    )
    low = next(a["AlarmName"] for a in answer["Alarms"] if "-AlarmLow-" in a["AlarmName"])
    cloudwatch = aws.client("cloudwatch")
    wait_for(
        lambda: cloudwatch.describe_alarms(AlarmNames=[low])["MetricAlarms"][0]["StateValue"] == "ALARM",
        "AlarmLow in ALARM",
        5.0,
    )
    in_alarm = aws.clock.now()
    wait_for(lambda: aws.clock.now() - in_alarm > timedelta(minutes=3), "three minutes in ALARM", 5.0)
    assert counts(sm.describe_endpoint(EndpointName=endpoint)) == (3, 3)
    assert scaling.activities_for(resource(endpoint)) == []
