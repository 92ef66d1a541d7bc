"""CloudWatch: per-variant, per-period SageMaker metrics for the judge, fetched with one GetMetricData call."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout.adapters.aws import error_code, error_message
from mlrollout.domain.config import ExtraMetric
from mlrollout.domain.errors import MetricsUnavailable
from mlrollout.domain.judge import Period, VariantSeries
from mlrollout.ports import MetricsFetch

NAMESPACE = "AWS/SageMaker"
PERIOD = 60
MICROSECONDS_PER_MS = 1000.0

# (query key, metric name, statistic, scale) for each variant; latencies arrive in microseconds.
_QUERIES = (
    ("inv", "Invocations", "Sum", 1.0),
    ("e5", "Invocation5XXErrors", "Sum", 1.0),
    ("e4", "Invocation4XXErrors", "Sum", 1.0),
    ("p99", "ModelLatency", "p99", 1 / MICROSECONDS_PER_MS),
    ("avg", "ModelLatency", "Average", 1 / MICROSECONDS_PER_MS),
    ("ovh", "OverheadLatency", "Average", 1 / MICROSECONDS_PER_MS),
)
# GetMetricData is billed per metric requested, and the judge reads 4XX only when `judge.include_4xx` counts them.
_ONLY_WITH_4XX = frozenset({"e4"})


class CloudWatchMetrics:
    def __init__(self, cloudwatch: Any) -> None:
        self.cw = cloudwatch

    def publish(self, namespace: str, data: list[dict[str, Any]]) -> int:
        """PutMetricData in batches CloudWatch accepts (1,000 values per request); returns requests made."""
        requests = 0
        for start in range(0, len(data), 500):
            self.cw.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])
            requests += 1
        return requests

    def latest(
        self, namespace: str, metrics: list[str], dimensions: dict[str, str], start: datetime, end: datetime
    ) -> dict[str, float]:
        """The newest Maximum of each metric in [start, end); metrics without data are left out."""
        queries = [
            metric_query(
                f"m{i}", name, namespace, name, [{"Name": k, "Value": v} for k, v in dimensions.items()], "Maximum"
            )
            for i, name in enumerate(metrics)
        ]
        for query in queries:
            query["MetricStat"]["Period"] = 300
        response = self.cw.get_metric_data(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampDescending"
        )
        found: dict[str, float] = {}
        for result in response.get("MetricDataResults", []):
            values = result.get("Values") or []
            if values:
                found[metrics[int(result["Id"][1:])]] = float(values[0])
        return found

    def variant_series(
        self,
        endpoint: str,
        variants: list[str],
        start: datetime,
        end: datetime,
        extras: list[ExtraMetric] | None = None,
        *,
        include_4xx: bool = True,
    ) -> MetricsFetch:
        """Every complete period of [start, end) for each variant, aligned; a period CloudWatch has nothing for
        is kept with None values (missing data is reported, never read as zero).

        `include_4xx=False` leaves Invocation4XXErrors out of the request (pass the judge's `include_4xx`): its
        periods then carry None for 4XX, which the judge ignores unless it counts 4XX."""
        window = int((end - start).total_seconds())
        if window < PERIOD or window % PERIOD:
            raise ValueError(f"the window must be whole minutes, got {window} s")
        extras = extras or []
        wanted = [q for q in _QUERIES if include_4xx or q[0] not in _ONLY_WITH_4XX]
        queries: list[dict[str, Any]] = []
        for index, variant in enumerate(variants):
            dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
            for key, metric, stat, _ in wanted:
                queries.append(
                    metric_query(f"{key}{index}", f"{variant} {metric} {stat}", NAMESPACE, metric, dimensions, stat)
                )
            for number, extra in enumerate(extras):
                extra_dimensions = dimensions + [{"Name": k, "Value": v} for k, v in sorted(extra.dimensions.items())]
                queries.append(
                    metric_query(
                        f"x{number}v{index}",
                        f"{variant} {extra.name}",
                        extra.namespace,
                        extra.metric_name,
                        extra_dimensions,
                        extra.statistic,
                    )
                )
        values: dict[str, dict[datetime, float]] = {}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            try:
                response = self.cw.get_metric_data(**kwargs)
            except (ClientError, BotoCoreError) as exc:  # raised once the client's retries are spent
                raise MetricsUnavailable(
                    f"CloudWatch GetMetricData failed for endpoint {endpoint}: {describe_error(exc)}",
                    fix="nothing to do if CloudWatch recovers: the judge looks again after the next interval",
                ) from exc
            for result in response.get("MetricDataResults", []):
                found = values.setdefault(result["Id"], {})
                for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    found[at] = float(value)
            if not response.get("NextToken"):
                break
            kwargs["NextToken"] = response["NextToken"]

        slots = [start.timestamp() + PERIOD * i for i in range(window // PERIOD)]
        series: dict[str, VariantSeries] = {}
        raw: dict[str, dict[str, list[float | None]]] = {}
        for index, variant in enumerate(variants):
            columns: dict[str, list[float | None]] = {}
            for key, _, _, scale in wanted:
                by_time = {at.timestamp(): v for at, v in values.get(f"{key}{index}", {}).items()}
                columns[key] = [_scaled(by_time.get(slot), scale) for slot in slots]
            for number, extra in enumerate(extras):
                by_time = {at.timestamp(): v for at, v in values.get(f"x{number}v{index}", {}).items()}
                columns[extra.name] = [_scaled(by_time.get(slot), 1.0) for slot in slots]
            raw[variant] = columns
            series[variant] = series_from_columns(variant, columns, extras)
        stamps = [datetime.fromtimestamp(slot, start.tzinfo).isoformat() for slot in slots]
        return MetricsFetch(series=series, queries=queries, timestamps=stamps, raw=raw)


def series_from_columns(
    variant: str, columns: dict[str, list[float | None]], extras: list[ExtraMetric] | None = None
) -> VariantSeries:
    """A variant's periods from the per-query value columns (as decision records store them); a metric that was
    not requested (no column) is None in every period, as CloudWatch's missing data is."""
    extras = extras or []
    length = len(columns.get("inv", []))

    def column(key: str) -> list[float | None]:
        return columns.get(key) or [None] * length

    return VariantSeries(
        variant,
        [
            Period(
                invocations=column("inv")[i],
                errors_5xx=column("e5")[i],
                errors_4xx=column("e4")[i],
                latency_p99_ms=column("p99")[i],
                latency_mean_ms=column("avg")[i],
                overhead_mean_ms=column("ovh")[i],
                extra={extra.name: column(extra.name)[i] for extra in extras},
            )
            for i in range(length)
        ],
    )


def metric_query(
    query_id: str, label: str, namespace: str, metric: str, dimensions: list[dict[str, str]], stat: str
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "Label": label,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": PERIOD,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _scaled(value: float | None, scale: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value * scale


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {error_message(exc)}"
    return str(exc)
