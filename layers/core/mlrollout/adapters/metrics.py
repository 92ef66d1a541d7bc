"""CloudWatch: per-variant SageMaker metrics for the judge, fetched with one GetMetricData call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlrollout.domain.judge import VariantWindow

NAMESPACE = "AWS/SageMaker"
PERIOD = 60
MICROSECONDS_PER_MS = 1000.0

# (query key, metric name, statistic, per-period?) for each variant.
_QUERIES = (
    ("inv", "Invocations", "Sum", True),
    ("e5", "Invocation5XXErrors", "Sum", True),
    ("e4", "Invocation4XXErrors", "Sum", True),
    ("p99", "ModelLatency", "p99", False),
    ("avg", "ModelLatency", "Average", False),
)


@dataclass
class MetricsFetch:
    windows: dict[str, VariantWindow]
    queries: list[dict[str, Any]]
    raw: dict[str, dict[str, list[float]]] = field(default_factory=dict)


class CloudWatchMetrics:
    def __init__(self, cloudwatch: Any) -> None:
        self.cw = cloudwatch

    def variant_windows(self, endpoint: str, variants: list[str], start: datetime, end: datetime) -> MetricsFetch:
        window_seconds = int((end - start).total_seconds())
        if window_seconds < PERIOD or window_seconds % PERIOD:
            raise ValueError(f"the window must be whole minutes, got {window_seconds} s")
        queries: list[dict[str, Any]] = []
        for index, variant in enumerate(variants):
            dimensions = [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ]
            for key, metric, stat, per_period in _QUERIES:
                queries.append(
                    {
                        "Id": f"{key}{index}",
                        "Label": f"{variant} {metric} {stat}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": NAMESPACE,
                                "MetricName": metric,
                                "Dimensions": dimensions,
                            },
                            "Period": PERIOD if per_period else window_seconds,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        values: dict[str, list[float]] = {}
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        while True:
            response = self.cw.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(float(v) for v in result.get("Values", []))
            if not response.get("NextToken"):
                break
            kwargs["NextToken"] = response["NextToken"]

        windows: dict[str, VariantWindow] = {}
        raw: dict[str, dict[str, list[float]]] = {}
        for index, variant in enumerate(variants):
            series = {key: values.get(f"{key}{index}", []) for key, *_ in _QUERIES}
            raw[variant] = series
            windows[variant] = VariantWindow(
                variant=variant,
                invocations=sum(series["inv"]) if series["inv"] else None,
                # SageMaker publishes zeros for error metrics when a variant serves traffic; an absent
                # series is missing data, never "no errors".
                errors_5xx=sum(series["e5"]) if series["e5"] else None,
                errors_4xx=sum(series["e4"]) if series["e4"] else None,
                latency_p99_ms=series["p99"][0] / MICROSECONDS_PER_MS if series["p99"] else None,
                latency_mean_ms=series["avg"][0] / MICROSECONDS_PER_MS if series["avg"] else None,
                periods=len(series["inv"]),
            )
        return MetricsFetch(windows=windows, queries=queries, raw=raw)
