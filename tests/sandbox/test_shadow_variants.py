"""SageMaker shadow variants in the sandbox, seen through boto3 the way the rollout's shadow phase sees them.

One production and one shadow variant per endpoint configuration; the shadow gets a copy of production requests
(every request, at the only weights AWS documents: the production variant's), answers nobody, and publishes its own AWS/SageMaker
metrics under its own VariantName. Each AWS fact these tests pin is cited in docs/sandbox-fidelity.md.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import moto.sagemaker.responses
import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.dataplane import DataPlane, FeatureProfile, TrafficProfile
from mlrollout_sandbox.emulator.sagemaker import (
    SageMakerService,
)
from mlrollout_sandbox.server import EmbeddedAws
from support import SANDBOX_IMAGE, ready_endpoint, unique, wait_while
from support import sagemaker_model as model

pytestmark = pytest.mark.sandbox

WARP = 500.0
POLL_SECONDS = 5.0
BUCKET = "sandbox-shadow-models"


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(SandboxClock(warp=WARP)) as embedded:
        yield embedded


# ------------------------------------------------------------------------------------------- helpers


def variant(name: str, model_name: str, weight: float = 1.0) -> dict[str, Any]:
    return {
        "VariantName": name,
        "ModelName": model_name,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
        "InitialVariantWeight": weight,
    }


def shadow_config(sm: Any, *, models: tuple[str, str] | None = None) -> str:
    """An endpoint configuration with production variant "champion" and shadow variant "candidate"."""
    champion, candidate = models or (model(sm), model(sm))
    name = unique("cfg")
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[variant("champion", champion)],
        ShadowProductionVariants=[variant("candidate", candidate)],
    )
    return name


def plain_config(sm: Any) -> str:
    name = unique("cfg")
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant("champion", model(sm))])
    return name


@contextmanager
def watching(service: SageMakerService) -> Iterator[None]:
    """Wall-clock speed while a test looks at a state that lasts seconds of virtual time."""
    service.clock.set_warp(1.0)
    try:
        yield
    finally:
        service.clock.set_warp(WARP)


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


def runtime_view(described: dict[str, Any], key: str) -> dict[str, tuple[Any, ...]]:
    return {
        v["VariantName"]: (v.get("CurrentWeight"), v.get("DesiredWeight"), v.get("CurrentInstanceCount"))
        for v in described.get(key, [])
    }


# ------------------------------------------------------------------------- configuration and describe


def test_moto_still_drops_shadow_production_variants() -> None:
    """The emulator reads ShadowProductionVariants itself because moto 5.2.5 drops it. If moto starts storing it
    (its CreateEndpointConfig response or FakeEndpointConfig learns the parameter), this fails: review whether the
    emulator's patch is still needed."""
    assert "ShadowProductionVariants" not in inspect.getsource(moto.sagemaker.responses)
    assert "shadow_production_variants" not in inspect.signature(FakeEndpointConfig.__init__).parameters
    assert "shadow_production_variants" not in inspect.signature(FakeEndpoint.__init__).parameters


def test_describe_endpoint_config_returns_the_shadow_variant_as_given(sm: Any) -> None:
    champion, candidate = model(sm), model(sm)
    config = shadow_config(sm, models=(champion, candidate))
    described = sm.describe_endpoint_config(EndpointConfigName=config)
    assert described["ProductionVariants"] == [variant("champion", champion)]
    assert described["ShadowProductionVariants"] == [variant("candidate", candidate)]
    # A configuration without shadows has no such key at all.
    assert "ShadowProductionVariants" not in sm.describe_endpoint_config(EndpointConfigName=plain_config(sm))


def test_describe_endpoint_shows_the_shadow_variant_like_a_production_variant(
    sm: Any, service: SageMakerService
) -> None:
    config = shadow_config(sm)
    endpoint = unique("ep")
    with watching(service):
        sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
        creating = sm.describe_endpoint(EndpointName=endpoint)
        assert creating["EndpointStatus"] == "Creating"
        # Nothing is deployed yet: only the desired side, for the shadow as for the production variant.
        assert creating["ShadowProductionVariants"] == [
            {"VariantName": "candidate", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}
        ]

    ready = wait_while(sm, endpoint, "Creating")
    assert ready["EndpointStatus"] == "InService"
    assert runtime_view(ready, "ProductionVariants") == {"champion": (1.0, 1.0, 1)}
    assert runtime_view(ready, "ShadowProductionVariants") == {"candidate": (1.0, 1.0, 1)}
    (shadow,) = ready["ShadowProductionVariants"]
    assert shadow["DesiredInstanceCount"] == 1
    assert shadow["DeployedImages"][0]["SpecifiedImage"] == SANDBOX_IMAGE

    state = service.endpoint_state(endpoint)
    assert state is not None
    assert state.weights == {"champion": 1.0}  # callers are routed to production variants only
    assert [v.name for v in state.shadow_variants] == ["candidate"]
    assert state.shadow_sampling == {"candidate": 1.0}


def refusals(sm: Any) -> dict[str, tuple[dict[str, Any], str, str]]:
    a, b, c = model(sm), model(sm), model(sm)
    serverless = {"VariantName": "candidate", "ModelName": b, "ServerlessConfig": {"MemorySizeInMB": 2048}}
    return {
        "two production variants": (
            {
                "ProductionVariants": [variant("champion", a), variant("other", c)],
                "ShadowProductionVariants": [variant("candidate", b)],
            },
            "ValidationException",
            "exactly one production variant and one shadow variant; got 2 production and 1 shadow",
        ),
        "two shadow variants": (
            {
                "ProductionVariants": [variant("champion", a)],
                "ShadowProductionVariants": [variant("candidate", b), variant("other", c)],
            },
            "ValidationException",
            "exactly one production variant and one shadow variant; got 1 production and 2 shadow",
        ),
        "an empty shadow list": (
            {"ProductionVariants": [variant("champion", a)], "ShadowProductionVariants": []},
            "ValidationException",
            "Value '[]' at 'shadowProductionVariants' failed to satisfy constraint: Member must have length greater "
            "than or equal to 1",
        ),
        "a shadow model that does not exist": (
            {
                "ProductionVariants": [variant("champion", a)],
                "ShadowProductionVariants": [variant("candidate", "ghost")],
            },
            "ValidationException",
            "Could not find model 'arn:aws:sagemaker:us-east-1:123456789012:model/ghost'.",
        ),
        "a shadow with neither instances nor serverless": (
            {
                "ProductionVariants": [variant("champion", a)],
                "ShadowProductionVariants": [{"VariantName": "candidate", "ModelName": b}],
            },
            "ValidationException",
            "Invalid Keys for ProductionVariant",
        ),
        "one name for both variants": (
            {"ProductionVariants": [variant("champion", a)], "ShadowProductionVariants": [variant("champion", b)]},
            "SandboxUnsupportedOperation",
            'variant name "champion" is used by both the production and the shadow variant',
        ),
        "a serverless shadow": (
            {"ProductionVariants": [variant("champion", a)], "ShadowProductionVariants": [serverless]},
            "SandboxUnsupportedOperation",
            "shadow variants with serverless or asynchronous inference are not emulated",
        ),
        "a shadow weighted unlike the production variant": (
            {
                "ProductionVariants": [variant("champion", a)],
                "ShadowProductionVariants": [variant("candidate", b, 0.25)],
            },
            "SandboxUnsupportedOperation",
            "a shadow variant weighted 0.25 beside a production variant weighted 1 is not emulated",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "two production variants",
        "two shadow variants",
        "an empty shadow list",
        "a shadow model that does not exist",
        "a shadow with neither instances nor serverless",
        "one name for both variants",
        "a serverless shadow",
        "a shadow weighted unlike the production variant",
    ],
)
def test_create_endpoint_config_refuses_what_sagemaker_refuses(sm: Any, strict_sm: Any, case: str) -> None:
    request, code, message = refusals(sm)[case]
    name = unique("cfg")
    got_code, got_message = error_of(lambda: strict_sm.create_endpoint_config(EndpointConfigName=name, **request))
    assert got_code == code
    assert message in got_message
    # Nothing half-created is left behind: the name is still free.
    assert error_of(lambda: sm.describe_endpoint_config(EndpointConfigName=name))[1] == (
        f'Could not find endpoint configuration "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{name}".'
    )


# ------------------------------------------------------------------------------------- updates


def test_update_to_a_config_with_a_shadow_and_back_goes_through_updating(sm: Any, service: SageMakerService) -> None:
    old = plain_config(sm)
    endpoint = ready_endpoint(sm, service, old)
    assert "ShadowProductionVariants" not in sm.describe_endpoint(EndpointName=endpoint)
    with_shadow = shadow_config(sm)

    service.update_seconds = 20
    with watching(service):
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=with_shadow)
        updating = sm.describe_endpoint(EndpointName=endpoint)
        assert updating["EndpointStatus"] == "Updating"
        assert updating["EndpointConfigName"] == old
        assert "ShadowProductionVariants" not in updating  # the old configuration serves until the update is done
        pending = updating["PendingDeploymentSummary"]
        assert pending["EndpointConfigName"] == with_shadow
        assert [(v["VariantName"], v["VariantStatus"][0]["Status"]) for v in pending["ShadowProductionVariants"]] == [
            ("candidate", "Creating")
        ]
    updated = wait_while(sm, endpoint, "Updating")
    assert (updated["EndpointStatus"], updated["EndpointConfigName"]) == ("InService", with_shadow)
    assert runtime_view(updated, "ShadowProductionVariants") == {"candidate": (1.0, 1.0, 1)}

    back = plain_config(sm)
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=back)
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
    restored = wait_while(sm, endpoint, "Updating")
    assert (restored["EndpointStatus"], restored["EndpointConfigName"]) == ("InService", back)
    assert "ShadowProductionVariants" not in restored
    state = service.endpoint_state(endpoint)
    assert state is not None and state.shadow_variants == () and state.shadow_sampling == {}
    assert [(t.operation, t.status) for t in service.transitions(endpoint)][-4:] == [
        ("UpdateEndpoint", "Updating"),
        ("UpdateEndpoint", "InService"),
        ("UpdateEndpoint", "Updating"),
        ("UpdateEndpoint", "InService"),
    ]


def test_the_shadow_capacity_is_updated_like_any_variants_and_its_weight_is_not_emulated(
    sm: Any, strict_sm: Any, service: SageMakerService
) -> None:
    endpoint = ready_endpoint(sm, service, shadow_config(sm))
    service.weights_seconds = 20
    with watching(service):
        sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "candidate", "DesiredInstanceCount": 2}],
        )
        updating = sm.describe_endpoint(EndpointName=endpoint)
        assert updating["EndpointStatus"] == "Updating"
        assert {v["VariantName"]: v["DesiredInstanceCount"] for v in updating["ShadowProductionVariants"]} == {
            "candidate": 2
        }
    done = wait_while(sm, endpoint, "Updating")
    assert runtime_view(done, "ShadowProductionVariants") == {"candidate": (1.0, 1.0, 2)}
    assert runtime_view(done, "ProductionVariants") == {"champion": (1.0, 1.0, 1)}
    state = service.endpoint_state(endpoint)
    assert state is not None and state.shadow_sampling == {"candidate": 1.0}  # still every request

    code, message = error_of(
        lambda: strict_sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "candidate", "DesiredWeight": 0.25}]
        )
    )
    assert code == "SandboxUnsupportedOperation" and 'new weight for shadow variant "candidate"' in message
    code, message = error_of(
        lambda: strict_sm.update_endpoint_weights_and_capacities(
            EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "ghost", "DesiredWeight": 1.0}]
        )
    )
    assert code == "ValidationException" and '"ghost"' in message


# ------------------------------------------------------------------------------------- invoking


def recording_plane(calls: list[str], *, shadow_status: int = 200) -> Any:
    def plane(endpoint: str, variant: str | None, body: bytes, content_type: str, accept: str | None) -> Any:
        calls.append(variant or "")
        if variant == "candidate":
            if shadow_status == 0:
                raise RuntimeError("the shadow's container crashed")
            return shadow_status, b"shadow answer", "application/json", variant
        return 200, b"production answer", "application/json", variant or ""

    return plane


@pytest.mark.parametrize("shadow_status", [200, 500, 0])
def test_invoke_answers_from_production_and_copies_the_request_to_the_shadow(
    sm: Any, runtime: Any, service: SageMakerService, shadow_status: int
) -> None:
    endpoint = ready_endpoint(sm, service, shadow_config(sm))
    calls: list[str] = []
    service.data_plane = recording_plane(calls, shadow_status=shadow_status)
    for _ in range(5):
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", ContentType="application/json")
        # The caller never sees the shadow: not its body, not its failure, not its name.
        assert answer["Body"].read() == b"production answer"
        assert answer["InvokedProductionVariant"] == "champion"
    assert calls == ["champion", "candidate"] * 5  # equal weights: every request is copied


def test_invoke_never_targets_the_shadow(sm: Any, runtime: Any, service: SageMakerService) -> None:
    endpoint = ready_endpoint(sm, service, shadow_config(sm))
    calls: list[str] = []
    service.data_plane = recording_plane(calls)
    # TargetVariant names "the production variant to send the inference request to"; a shadow is not one.
    code, message = error_of(
        lambda: runtime.invoke_endpoint(EndpointName=endpoint, Body=b"{}", TargetVariant="candidate")
    )
    assert code == "ValidationError" and '"candidate" is not present' in message
    assert calls == []  # refused before any variant served it


# ------------------------------------------------------------------------------- simulated traffic


def artifact(latency_p50_ms: float, *, fails_on: str | None = None) -> bytes:
    """A model in the inference-toolkit layout that scores nothing; `fails_on` names a merchant it raises on."""
    code = f"""
import json


def model_fn(model_dir):
    return None


def input_fn(body, content_type):
    return json.loads(body)["features"]


def predict_fn(features, model):
    if features["merchant"] == {fails_on!r}:
        raise ValueError("cannot score this merchant")
    return 0.1


def output_fn(score, accept):
    return json.dumps({{"score": score}})
"""
    serving = {"latency_ms": {"p50": latency_p50_ms, "p99": latency_p50_ms * 2}}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in (("code/inference.py", code), ("model.json", json.dumps({"serving": serving}))):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def stored_model(aws: EmbeddedAws, sm: Any, key: str, data: bytes) -> str:
    s3 = aws.client("s3")
    with contextlib.suppress(ClientError):  # another test of this module made it
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return model(sm, f"s3://{BUCKET}/{key}")


def metric(cw: Any, endpoint: str, variant: str, name: str, stat: str, start: Any, end: Any) -> float:
    result = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/SageMaker",
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": endpoint},
                            {"Name": "VariantName", "Value": variant},
                        ],
                    },
                    "Period": 3600,
                    "Stat": stat,
                },
            }
        ],
        StartTime=start,
        EndTime=end,
    )
    values: list[float] = result["MetricDataResults"][0]["Values"]
    return sum(values) if stat == "Sum" else values[0]


def test_simulated_traffic_copies_requests_to_the_shadow_which_publishes_its_own_metrics(
    aws: EmbeddedAws, sm: Any, runtime: Any, service: SageMakerService
) -> None:
    champion = stored_model(aws, sm, "champion/model.tar.gz", artifact(20.0))
    candidate = stored_model(aws, sm, "candidate/model.tar.gz", artifact(200.0, fails_on="gaming"))
    endpoint = ready_endpoint(sm, service, shadow_config(sm, models=(champion, candidate)))
    plane = DataPlane(aws, seed=11)
    began = aws.clock.now()
    try:
        plane.start()
        # Callers' own requests are copied too, and answered by the production model.
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"features": {"amount": 5.0, "merchant": "gaming", "hour": 3}}),
            ContentType="application/json",
            Accept="application/json",
        )
        assert json.loads(answer["Body"].read()) == {"score": 0.1}
        traffic_began = aws.clock.now().replace(second=0, microsecond=0)
        plane.send_traffic(endpoint, TrafficProfile(rps=5.0, features=FeatureProfile(malformed=0.0)))
        time.sleep(0.6)  # about 300 virtual seconds of traffic at WARP
    finally:
        plane.stop()
    ended = aws.clock.now()

    cw = aws.client("cloudwatch")
    window = (began - timedelta(minutes=5), ended + timedelta(minutes=5))
    invocations = {v: metric(cw, endpoint, v, "Invocations", "Sum", *window) for v in ("champion", "candidate")}
    errors = {v: metric(cw, endpoint, v, "Invocation5XXErrors", "Sum", *window) for v in ("champion", "candidate")}
    latency = {v: metric(cw, endpoint, v, "ModelLatency", "p50", *window) for v in ("champion", "candidate")}

    assert invocations["champion"] > 500
    assert invocations["candidate"] == invocations["champion"]  # equal weights: each request copied once
    # The shadow's own model decides its metrics: it fails on gaming merchants (10% of requests) and is slower.
    assert errors["champion"] == 0
    assert 0.05 <= errors["candidate"] / invocations["candidate"] <= 0.15
    assert 15_000 <= latency["champion"] <= 25_000  # microseconds
    assert 150_000 <= latency["candidate"] <= 250_000
    # The timeline tells the split from the copies: the shadow's share is the fraction copied to it. (The minutes of
    # simulated traffic: a minute with only the caller's request above, if the clock crossed one, records no split.)
    shares = {
        (m.variant, m.weight_share, m.shadow)
        for m in plane.timeline
        if m.endpoint == endpoint and m.minute >= traffic_began
    }
    assert shares == {("champion", 1.0, False), ("candidate", 1.0, True)}
