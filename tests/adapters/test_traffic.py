"""The current variant's recent traffic for the plan's estimate: one GetMetricData call, quiet minutes count as zero."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrollout.adapters.traffic import CloudWatchTraffic
from mlrollout.domain.errors import MetricsUnavailable
from support import unreachable_client

NOW = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)


def _publish(cw: Any, endpoint: str, variant: str, minute: datetime, requests: float, **errors: float) -> None:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    data = [{"MetricName": "Invocations", "Dimensions": dims, "Timestamp": minute, "Value": requests}]
    data += [{"MetricName": name, "Dimensions": dims, "Timestamp": minute, "Value": v} for name, v in errors.items()]
    cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


class Counting:
    """A CloudWatch client that counts GetMetricData calls and passes them on."""

    def __init__(self, cw: Any) -> None:
        self.cw, self.calls = cw, 0

    def get_metric_data(self, **kwargs: Any) -> Any:
        self.calls += 1
        return self.cw.get_metric_data(**kwargs)


def test_the_last_hour_of_the_current_variant_in_one_call(stack: Any) -> None:
    endpoint = f"m-{uuid.uuid4().hex[:8]}"
    cw = stack.client("cloudwatch")
    last_whole = NOW.replace(second=0) - timedelta(minutes=2)  # the window ends a settling minute before 12:00
    for back in range(30):  # traffic in half the hour's minutes: the quiet ones have no datapoint at all
        minute = last_whole - timedelta(minutes=back)
        _publish(cw, endpoint, "v1", minute, 120, Invocation5XXErrors=3, Invocation4XXErrors=6)
        _publish(cw, endpoint, "v2", minute, 999, Invocation5XXErrors=999)  # another variant: not read
    _publish(cw, endpoint, "v1", NOW.replace(second=0) - timedelta(minutes=1), 5)  # the settling minute: left out
    _publish(cw, endpoint, "v1", last_whole - timedelta(minutes=60), 10_000)  # before the hour: left out
    counting = Counting(cw)

    traffic = CloudWatchTraffic(counting).recent(endpoint, "v1", NOW)
    assert counting.calls == 1
    assert traffic.minutes == 60
    assert traffic.requests_per_minute == pytest.approx(30 * 120 / 60)
    assert traffic.error_rate == pytest.approx(3 / 120)

    counted = CloudWatchTraffic(cw).recent(endpoint, "v1", NOW, include_4xx=True)  # as the judge counts them
    assert counted.error_rate == pytest.approx(9 / 120)


def test_an_endpoint_without_traffic_reads_as_zero(stack: Any) -> None:
    traffic = CloudWatchTraffic(stack.client("cloudwatch")).recent(f"m-{uuid.uuid4().hex[:8]}", "v1", NOW)
    assert (traffic.requests_per_minute, traffic.error_rate) == (0.0, 0.0)


def test_cloudwatch_unreachable_is_metrics_unavailable_with_the_fix() -> None:
    unreachable = unreachable_client("cloudwatch")
    with pytest.raises(MetricsUnavailable, match="GetMetricData failed for the current variant v1") as raised:
        CloudWatchTraffic(unreachable).recent("m", "v1", NOW)
    assert "without an estimate" in (raised.value.fix or "")


def test_the_error_dispersion_of_the_hour_is_measured_minute_by_minute(stack: Any) -> None:
    endpoint = f"m-{uuid.uuid4().hex[:8]}"
    cw = stack.client("cloudwatch")
    last_whole = NOW.replace(second=0) - timedelta(minutes=2)
    # 40 steady minutes, then 20 in bursts: far more variation than 1,000 requests' sampling explains.
    minutes = [(1000, 10)] * 40 + [(1000, 10), (1000, 60)] * 10
    for back, (requests, errors) in enumerate(minutes):
        _publish(cw, endpoint, "v1", last_whole - timedelta(minutes=back), requests, Invocation5XXErrors=errors)
    traffic = CloudWatchTraffic(cw).recent(endpoint, "v1", NOW)
    # By hand: pooled rate (1100 + 0.5) / 60001; Pearson sum over the 60 minutes of (e - 1000 p)^2 / (1000 p (1 - p)),
    # over 59 degrees of freedom.
    rate = 1100.5 / 60_001
    pearson = sum((e - 1000 * rate) ** 2 / (1000 * rate * (1 - rate)) for _, e in minutes) / 59
    assert traffic.error_dispersion == pytest.approx(pearson) and pearson > 10
    steady = f"m-{uuid.uuid4().hex[:8]}"
    for back in range(60):
        _publish(cw, steady, "v1", last_whole - timedelta(minutes=back), 1000, Invocation5XXErrors=10)
    assert CloudWatchTraffic(cw).recent(steady, "v1", NOW).error_dispersion == 1.0
