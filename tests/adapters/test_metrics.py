"""The judge's metrics: only what the judge reads is requested (GetMetricData bills each metric requested)."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlrollout.adapters.metrics import CloudWatchMetrics, series_from_columns
from mlrollout.domain.config import Judge
from mlrollout.domain.judge import judge

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _publish(cw: Any, endpoint: str, variant: str, *, errors_4xx: float, minutes: int = 3) -> None:
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    for minute in range(minutes):
        at = START + timedelta(minutes=minute)
        cw.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 500},
                {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": at, "Value": 0},
                {"MetricName": "Invocation4XXErrors", "Dimensions": dims, "Timestamp": at, "Value": errors_4xx},
                {
                    "MetricName": "ModelLatency",
                    "Dimensions": dims,
                    "Timestamp": at,
                    "Values": [10_000, 12_000],
                    "Counts": [495, 5],
                    "Unit": "Microseconds",
                },
                {"MetricName": "OverheadLatency", "Dimensions": dims, "Timestamp": at, "Value": 2_000},
            ],
        )


def _requested(fetched: Any) -> set[tuple[str, str]]:
    return {(q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"]) for q in fetched.queries}


def test_4xx_is_requested_only_when_the_judge_counts_it(stack: Any) -> None:
    endpoint = f"m-{uuid.uuid4().hex[:8]}"
    cw = stack.client("cloudwatch")
    for variant in ("v1", "v2"):
        _publish(cw, endpoint, variant, errors_4xx=1)
    metrics = CloudWatchMetrics(cw)
    end = START + timedelta(minutes=3)

    without = metrics.variant_series(endpoint, ["v1", "v2"], START, end, include_4xx=False)
    assert len(without.queries) == 10  # 5 metrics for each of the 2 variants
    assert ("Invocation4XXErrors", "Sum") not in _requested(without)
    assert "e4" not in without.raw["v2"]  # the decision record shows what was requested, nothing invented
    assert all(p.errors_4xx is None for p in without.series["v2"].periods)
    assert [p.invocations for p in without.series["v2"].periods] == [500.0, 500.0, 500.0]

    every = metrics.variant_series(endpoint, ["v1", "v2"], START, end)  # the default keeps every metric
    assert len(every.queries) == 12
    assert [p.errors_4xx for p in every.series["v2"].periods] == [1.0, 1.0, 1.0]


def test_the_judge_decides_the_same_on_the_smaller_request(stack: Any) -> None:
    """What leaving 4XX out must not change: every verdict of a judge that does not count 4XX."""
    endpoint = f"m-{uuid.uuid4().hex[:8]}"
    cw = stack.client("cloudwatch")
    _publish(cw, endpoint, "v1", errors_4xx=0, minutes=5)
    _publish(cw, endpoint, "v2", errors_4xx=200, minutes=5)  # a flood of 4XX the judge is told not to count
    metrics = CloudWatchMetrics(cw)
    end = START + timedelta(minutes=5)
    limits = Judge(min_requests=200)
    assert limits.include_4xx is False  # the shipped default

    every = metrics.variant_series(endpoint, ["v1", "v2"], START, end)
    fewer = metrics.variant_series(endpoint, ["v1", "v2"], START, end, include_4xx=limits.include_4xx)
    full = judge(every.series["v1"], every.series["v2"], limits)
    trimmed = judge(fewer.series["v1"], fewer.series["v2"], limits)
    assert (trimmed.verdict, trimmed.reason, trimmed.checks) == (full.verdict, full.reason, full.checks)

    counting = Judge(min_requests=200, include_4xx=True)
    fetched = metrics.variant_series(endpoint, ["v1", "v2"], START, end, include_4xx=counting.include_4xx)
    assert judge(fetched.series["v1"], fetched.series["v2"], counting).verdict == "FAIL"  # 40% 4XX, counted


def test_a_record_without_a_metric_replays_it_as_missing() -> None:
    """Decision records of looks that did not request 4XX have no `e4` column; replay reads None, not a KeyError."""
    columns: dict[str, list[float | None]] = {
        "inv": [100.0, 120.0],
        "e5": [1.0, 0.0],
        "p99": [12.0, 11.0],
        "avg": [5.0, 5.0],
        "ovh": [1.0, None],
    }
    series = series_from_columns("v2", columns)
    assert [p.errors_4xx for p in series.periods] == [None, None]
    assert [p.invocations for p in series.periods] == [100.0, 120.0]
    assert [p.overhead_mean_ms for p in series.periods] == [1.0, None]
