"""CloudWatch: the current variant's recent traffic, for the plan's estimate (domain/estimate.py), in one
GetMetricData call.

SageMaker publishes Invocations and Invocation5XXErrors (Invocation4XXErrors) per variant in AWS/SageMaker with the
dimensions EndpointName and VariantName, one datapoint a minute with requests; the Sum is the count
(https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html). A minute without requests has no
datapoint, so it counts as zero here: a quiet hour is a quiet hour, not a missing one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlrollout.adapters.metrics import NAMESPACE, describe_error, metric_query
from mlrollout.domain.errors import MetricsUnavailable
from mlrollout.domain.estimate import Traffic
from mlrollout.domain.judge import error_dispersion

# The newest minute may still be filling (SageMaker publishes each minute with a delay), so the window ends a minute
# before the last whole minute: counting a half-published minute would understate the traffic.
SETTLING = timedelta(minutes=1)


class CloudWatchTraffic:
    def __init__(self, cloudwatch: Any) -> None:
        self.cw = cloudwatch

    def recent(
        self, endpoint: str, variant: str, now: datetime, *, minutes: int = 60, include_4xx: bool = False
    ) -> Traffic:
        """Requests per minute and error rate of `variant` over the `minutes` whole minutes before `now` (less the
        settling minute); errors are 5XX, plus 4XX when `include_4xx` (as the judge counts them)."""
        end = now.replace(second=0, microsecond=0) - SETTLING
        start = end - timedelta(minutes=minutes)
        dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
        metrics = {"inv": "Invocations", "e5": "Invocation5XXErrors"}
        if include_4xx:
            metrics["e4"] = "Invocation4XXErrors"
        queries = [
            metric_query(key, f"{variant} {name}", NAMESPACE, name, dimensions, "Sum") for key, name in metrics.items()
        ]
        try:
            # 60 datapoints a metric are far below one response's 100,800, so there is no NextToken to follow.
            response = self.cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
        except (ClientError, BotoCoreError) as exc:
            raise MetricsUnavailable(
                f"CloudWatch GetMetricData failed for the current variant {variant} of endpoint {endpoint}: "
                f"{describe_error(exc)}",
                fix="nothing to do: the rollout goes on without an estimate of how long it will take",
            ) from exc
        by_minute: dict[str, dict[datetime, float]] = {key: {} for key in metrics}
        for result in response.get("MetricDataResults", []):
            if result.get("Id") in by_minute:
                found = by_minute[result["Id"]]
                for at, value in zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False):
                    found[at] = found.get(at, 0.0) + float(value)
        requests = sum(by_minute["inv"].values())
        errors = sum(by_minute["e5"].values()) + sum(by_minute.get("e4", {}).values())
        per_minute = [
            (by_minute["e5"].get(at, 0.0) + by_minute.get("e4", {}).get(at, 0.0), count)
            for at, count in by_minute["inv"].items()
        ]
        return Traffic(
            requests_per_minute=requests / minutes,
            error_rate=min(1.0, errors / requests) if requests else 0.0,
            minutes=minutes,
            error_dispersion=error_dispersion(per_minute),
        )
