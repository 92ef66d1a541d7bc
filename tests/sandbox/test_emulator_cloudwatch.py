"""The sandbox's CloudWatch: metric store, statistics and alarm evaluation on sandbox time.

Expected values are computed by hand in each test. Alarms are evaluated explicitly with
`evaluate_alarms(now=..., names=...)` (the ticker thread is stopped) so every transition is deterministic.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.emulator.cloudwatch import (
    INSUFFICIENT_DATA,
    AlarmPoint,
    CloudWatchService,
    decide_alarm_state,
    parse_statistic,
    percentile,
)
from mlrollout_sandbox.server import CREDENTIALS, EmbeddedAws

pytestmark = pytest.mark.sandbox

CLOCK_START = datetime(2030, 1, 15, 12, 0, 30, tzinfo=UTC)
T0 = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)  # data lives two hours before the clock starts


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    # warp 60: a virtual minute per real second, so the ticker test waits about a second.
    with EmbeddedAws(SandboxClock(warp=60.0, start=CLOCK_START)) as embedded:
        embedded.emulator.ticker.stop()  # alarms are evaluated explicitly; one test drives the ticker by hand
        yield embedded


@pytest.fixture(scope="module")
def cw(aws: EmbeddedAws) -> Any:
    return aws.client("cloudwatch")


@pytest.fixture(scope="module")
def service(aws: EmbeddedAws) -> CloudWatchService:
    found = aws.emulator.services["cloudwatch"]
    assert isinstance(found, CloudWatchService)
    return found


@pytest.fixture
def alarms(cw: Any) -> Iterator[list[str]]:
    """Names of the alarms a test creates; deleted afterwards so later evaluations do not see them."""
    names: list[str] = []
    yield names
    if names:
        cw.delete_alarms(AlarmNames=names)


def stat_query(
    query_id: str, namespace: str, metric: str, stat: str, period: int = 60, unit: str | None = None, **extra: Any
) -> dict[str, Any]:
    metric_stat = {"Metric": {"Namespace": namespace, "MetricName": metric}, "Period": period, "Stat": stat}
    return {"Id": query_id, "MetricStat": metric_stat | ({"Unit": unit} if unit else {}), **extra}


def by_id(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in response["MetricDataResults"]}


def points(result: dict[str, Any]) -> dict[datetime, float]:
    return {t.astimezone(UTC): v for t, v in zip(result["Timestamps"], result["Values"], strict=True)}


def put_per_minute(cw: Any, namespace: str, metric: str, values: dict[int, float], **extra: Any) -> None:
    cw.put_metric_data(
        Namespace=namespace,
        MetricData=[{"MetricName": metric, "Timestamp": minute(m), "Value": v, **extra} for m, v in values.items()],
    )


def subscribed_queue(aws: EmbeddedAws, name: str) -> tuple[str, str]:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue_url


def drain(aws: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    """Every SNS envelope waiting in the queue (deleted as read)."""
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


def state(cw: Any, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert len(found) == 1
    return found[0]


# ---------------------------------------------------------------------------------------------------------
# pure units: percentile, statistics, alarm decision
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rank", "expected"),
    [("0", 1.0), ("10", 2.0), ("50", 4.0), ("90", 4.0), ("91", 10.0), ("100", 10.0)],
)
def test_percentile_is_nearest_rank_over_weights(rank: str, expected: float) -> None:
    # 11 samples: 1, 2, 3, seven 4s, 10. p50 -> 5.5th sample -> 4; p91 -> 10.01th -> 10.
    assert percentile([1.0, 2.0, 3.0, 4.0, 10.0], [1, 1, 1, 7, 1], rank) == expected


def test_percentile_target_is_exact_and_empty_is_none() -> None:
    values = [float(v) for v in range(1, 1001)]
    weights = [1.0] * 1000
    assert percentile(values, weights, "99.9") == 999.0  # not 1000.0 from 0.999 * 1000 rounding up
    assert percentile(values, weights, Fraction(99)) == 990.0
    assert percentile([], [], "50") is None
    assert percentile([5.0], [0.0], "50") is None


def test_parse_statistic() -> None:
    assert parse_statistic("Average").percentile is None
    assert parse_statistic("p99.9").percentile == Fraction(999, 10)
    assert parse_statistic("p100").percentile == 100
    with pytest.raises(ValueError, match="does not compute the statistic 'tm99'"):
        parse_statistic("tm99")
    for invalid in ("p100.5", "Avg", "P99", ""):
        with pytest.raises(ValueError, match="not valid"):
            parse_statistic(invalid)


# Rows of CloudWatch's "How alarm state is evaluated when data is missing" tables, oldest datapoint first:
# 0 = not breaching, X = breaching, - = missing; columns MISSING, IGNORE, BREACHING, NOT BREACHING.
MISSING_DATA_TABLE = [
    (3, "0 - X - X", ("OK", "OK", "OK", "OK")),
    (3, "0 - - - -", ("OK", "OK", "OK", "OK")),
    (3, "- - - - -", ("INSUFFICIENT_DATA", "retain", "ALARM", "OK")),
    (3, "0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (3, "- - - - X", ("INSUFFICIENT_DATA", "retain", "ALARM", "OK")),
    (3, "X - - - -", ("ALARM", "retain", "ALARM", "OK")),
    (2, "0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (2, "0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    (2, "0 - X - -", ("OK", "OK", "ALARM", "OK")),
    (2, "- - - - 0", ("OK", "OK", "ALARM", "OK")),
    (2, "- - - - X", ("INSUFFICIENT_DATA", "retain", "ALARM", "OK")),
]


@pytest.mark.parametrize(("datapoints_to_alarm", "row", "expected"), MISSING_DATA_TABLE)
def test_alarm_decision_reproduces_cloudwatch_missing_data_tables(
    datapoints_to_alarm: int, row: str, expected: tuple[str, ...]
) -> None:
    values = {"0": 1.0, "X": 100.0, "-": None}
    oldest_first = [AlarmPoint(i * 300, values[c]) for i, c in enumerate(row.split())]
    newest_first = list(reversed(oldest_first))
    for treat, want in zip(("missing", "ignore", "breaching", "notBreaching"), expected, strict=True):
        decision = decide_alarm_state(newest_first, lambda v: v > 50, 3, datapoints_to_alarm, treat)
        assert (decision.state or "retain") == want, (row, treat)
        assert len(decision.evaluated) == 3


# ---------------------------------------------------------------------------------------------------------
# metrics over HTTP
# ---------------------------------------------------------------------------------------------------------
def test_statistics_from_values_counts_single_values_and_statistic_sets(cw: Any) -> None:
    ns = "Test/Stats"
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            # minute 0: 1, 2, 3, seven 4s, 10 (Values/Counts) and a single 5 -> 12 samples, sum 49
            {
                "MetricName": "lat",
                "Timestamp": minute(0),
                "Values": [1, 2, 3, 4, 10],
                "Counts": [1, 1, 1, 7, 1],
                "Unit": "Milliseconds",
            },
            {"MetricName": "lat", "Timestamp": minute(0) + timedelta(seconds=20), "Value": 5, "Unit": "Milliseconds"},
            # minute 1: a statistic set that hides its spread (no percentiles), in another unit
            {
                "MetricName": "lat",
                "Timestamp": minute(1),
                "Unit": "Count",
                "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 2, "Maximum": 8},
            },
        ],
    )
    stats = ["SampleCount", "Sum", "Average", "Minimum", "Maximum", "p50", "p90"]
    response = cw.get_metric_data(
        MetricDataQueries=[stat_query(f"q{i}", ns, "lat", s) for i, s in enumerate(stats)],
        StartTime=minute(0),
        EndTime=minute(2),
        ScanBy="TimestampAscending",
    )
    got = {stats[int(k[1:])]: list(r["Values"]) for k, r in by_id(response).items()}
    assert got == {
        "SampleCount": [12.0, 4.0],
        "Sum": [49.0, 20.0],
        "Average": [49 / 12, 5.0],
        "Minimum": [1.0, 2.0],
        "Maximum": [10.0, 8.0],
        "p50": [4.0],  # 6th of 12 samples; none for the statistic set
        "p90": [5.0],  # 10.8th sample: ten samples <= 4, the 11th is the 5
    }

    # GetMetricStatistics keeps units apart and filters by unit.
    datapoints = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="lat",
        StartTime=minute(0),
        EndTime=minute(2),
        Period=60,
        Statistics=["SampleCount", "Average", "Maximum"],
    )["Datapoints"]
    assert sorted((d["Unit"], d["SampleCount"], d["Average"], d["Maximum"]) for d in datapoints) == [
        ("Count", 4.0, 5.0, 8.0),
        ("Milliseconds", 12.0, 49 / 12, 10.0),
    ]
    extended = cw.get_metric_statistics(
        Namespace=ns,
        MetricName="lat",
        StartTime=minute(0),
        EndTime=minute(2),
        Period=120,
        ExtendedStatistics=["p50", "p100"],
        Unit="Milliseconds",
    )["Datapoints"]
    assert [(d["Unit"], d["ExtendedStatistics"]) for d in extended] == [("Milliseconds", {"p50": 4.0, "p100": 10.0})]
    by_unit = by_id(
        cw.get_metric_data(
            MetricDataQueries=[
                stat_query("s", ns, "lat", "Sum", unit="Seconds"),
                stat_query("c", ns, "lat", "Sum", unit="Count"),
            ],
            StartTime=minute(0),
            EndTime=minute(2),
        )
    )
    assert by_unit["s"]["Values"] == []  # no unit conversion: data in another unit is not returned
    assert points(by_unit["c"]) == {minute(1): 20.0}


def test_percentiles_need_raw_non_negative_values(cw: Any) -> None:
    ns = "Test/PercentileRules"
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            # a statistic set with Minimum == Maximum tells CloudWatch every value
            {
                "MetricName": "even",
                "Timestamp": minute(0),
                "StatisticValues": {"SampleCount": 3, "Sum": 21, "Minimum": 7, "Maximum": 7},
            },
            {"MetricName": "negative", "Timestamp": minute(0), "Values": [-1, 5]},
        ],
    )
    response = by_id(
        cw.get_metric_data(
            MetricDataQueries=[
                stat_query("e", ns, "even", "p99"),
                stat_query("n", ns, "negative", "p50"),
                stat_query("s", ns, "negative", "Sum"),
            ],
            StartTime=minute(0),
            EndTime=minute(1),
        )
    )
    assert response["e"]["Values"] == [7.0]
    assert response["n"]["Values"] == []
    assert response["s"]["Values"] == [4.0]


def test_period_alignment_scan_order_and_empty_periods(cw: Any) -> None:
    ns = "Test/Alignment"
    put_per_minute(cw, ns, "count", {m: float(m + 1) for m in range(10)} | {20: 100.0})
    query = stat_query("s", ns, "count", "Sum", period=300)
    # The start is rounded down to the minute; buckets start there, the last one is cut at EndTime.
    ascending = cw.get_metric_data(
        MetricDataQueries=[query],
        StartTime=minute(2) + timedelta(seconds=34),
        EndTime=minute(9),
        ScanBy="TimestampAscending",
    )
    assert points(by_id(ascending)["s"]) == {minute(2): 3 + 4 + 5 + 6 + 7, minute(7): 8 + 9}
    descending = cw.get_metric_data(MetricDataQueries=[query], StartTime=minute(2), EndTime=minute(9))
    assert [t.astimezone(UTC) for t in by_id(descending)["s"]["Timestamps"]] == [minute(7), minute(2)]
    # Periods without data are omitted rather than returned as zeros.
    sparse = cw.get_metric_data(MetricDataQueries=[query], StartTime=minute(0), EndTime=minute(30))
    assert points(by_id(sparse)["s"]) == {minute(0): 15.0, minute(5): 40.0, minute(20): 100.0}


def test_high_resolution_storage_and_periods(cw: Any) -> None:
    ns = "Test/HighRes"
    base = minute(30)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "hr", "Timestamp": base + timedelta(seconds=s), "Value": v, "StorageResolution": 1}
            for s, v in ((1, 1.0), (12, 2.0), (15, 4.0), (25, 8.0))
        ]
        # standard resolution data is kept per minute, so it lands in the minute's first 10 seconds
        + [{"MetricName": "std", "Timestamp": base + timedelta(seconds=42), "Value": 3.0}],
    )
    response = by_id(
        cw.get_metric_data(
            MetricDataQueries=[stat_query("h", ns, "hr", "Sum", period=10), stat_query("d", ns, "std", "Sum", 10)],
            StartTime=base + timedelta(seconds=7),
            EndTime=base + timedelta(seconds=60),
            ScanBy="TimestampAscending",
        )
    )
    # start rounds down to a multiple of the 10-second period: buckets :00, :10, :20
    assert points(response["h"]) == {base: 1.0, base + timedelta(seconds=10): 6.0, base + timedelta(seconds=20): 8.0}
    assert points(response["d"]) == {base: 3.0}


def test_return_data_and_labels_over_http(cw: Any) -> None:
    ns = "Test/Labels"
    put_per_minute(cw, ns, "errors", {0: 2.0, 1: 0.0, 3: 5.0})
    put_per_minute(cw, ns, "invocations", {0: 100.0, 1: 50.0, 2: 40.0, 3: 0.0})
    response = cw.get_metric_data(
        MetricDataQueries=[
            stat_query("errors", ns, "errors", "Sum", ReturnData=False),
            stat_query("calls", ns, "invocations", "Sum", Label="calls a minute"),
            stat_query("raw", ns, "invocations", "Maximum"),
        ],
        StartTime=minute(0),
        EndTime=minute(4),
        ScanBy="TimestampAscending",
    )
    results = by_id(response)
    assert list(results) == ["calls", "raw"]  # ReturnData=false computed, not returned
    assert results["calls"]["Label"] == "calls a minute"
    assert results["raw"]["Label"] == "invocations"  # the metric name when the query has no label
    assert all(r["StatusCode"] == "Complete" for r in results.values())
    assert points(results["calls"]) == {minute(0): 100.0, minute(1): 50.0, minute(2): 40.0, minute(3): 0.0}


@pytest.mark.parametrize(
    "expression", ["100 * m1 / 60", "FILL(m1, 0)", "ANOMALY_DETECTION_BAND(m1, 2)", "SELECT AVG(x) FROM y"]
)
def test_metric_math_is_refused_as_not_emulated(cw: Any, expression: str) -> None:
    def refused(call: Any, **kwargs: Any) -> str:
        with pytest.raises(ClientError) as failure:
            call(**kwargs)
        error = failure.value.response["Error"]
        assert (error["Code"], failure.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "SandboxUnsupportedOperation",
            400,
        )
        assert error["Message"].startswith("metric math is not emulated by the sandbox: ")
        return str(error["Message"])

    metric = stat_query("m1", "Test/Math", "errors", "Sum", ReturnData=False)
    message = refused(
        cw.get_metric_data,
        MetricDataQueries=[metric, {"Id": "e1", "Expression": expression}],
        StartTime=minute(0),
        EndTime=minute(4),
    )
    assert f"MetricDataQueries.member.2.Expression of query 'e1' is the expression {expression!r}" in message
    message = refused(
        cw.put_metric_alarm,
        AlarmName="refused-math",
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        Metrics=[metric, {"Id": "e1", "Expression": expression, "ReturnData": True}],
    )
    assert f"PutMetricAlarm Metrics of query 'e1' is the expression {expression!r}" in message
    assert cw.describe_alarms(AlarmNames=["refused-math"])["MetricAlarms"] == []


def test_pagination_with_max_datapoints(cw: Any) -> None:
    query = stat_query("s", "Test/Alignment", "count", "Sum")
    first = cw.get_metric_data(
        MetricDataQueries=[query],
        StartTime=minute(0),
        EndTime=minute(5),
        MaxDatapoints=3,
        ScanBy="TimestampAscending",
    )
    assert first["MetricDataResults"][0]["Values"] == [1.0, 2.0, 3.0]
    assert first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    second = cw.get_metric_data(
        MetricDataQueries=[query],
        StartTime=minute(0),
        EndTime=minute(5),
        MaxDatapoints=3,
        ScanBy="TimestampAscending",
        NextToken=first["NextToken"],
    )
    assert second["MetricDataResults"][0]["Values"] == [4.0, 5.0]
    assert second["MetricDataResults"][0]["StatusCode"] == "Complete"
    assert "NextToken" not in second


def test_timestamps_are_checked_against_the_sandbox_clock(aws: EmbeddedAws, cw: Any) -> None:
    ns = "Test/Timestamps"
    now = aws.clock.now()
    for when, message in (
        (now - timedelta(days=14, minutes=5), "within the past two weeks"),
        (now + timedelta(hours=2, minutes=5), "no more than two hours in the future"),
    ):
        with pytest.raises(ClientError) as failure:
            cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "m", "Timestamp": when, "Value": 1.0}])
        assert failure.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert (
            f"MetricData.member.1.Timestamp must specify a time {message}" in failure.value.response["Error"]["Message"]
        )
    cw.put_metric_data(
        Namespace=ns, MetricData=[{"MetricName": "m", "Timestamp": now + timedelta(hours=1), "Value": 2}]
    )
    # Without a timestamp the datum is stamped with the sandbox clock (years away from the wall clock here).
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "m", "Value": 5.0}])
    stamped = aws.clock.now()
    response = cw.get_metric_data(
        MetricDataQueries=[stat_query("m", ns, "m", "Sum")],
        StartTime=stamped - timedelta(minutes=5),
        EndTime=stamped + timedelta(minutes=1),
    )
    assert by_id(response)["m"]["Values"] == [5.0]


def test_invalid_put_is_rejected_as_a_whole(cw: Any) -> None:
    ns = "Test/Invalid"
    with pytest.raises(ClientError) as failure:
        cw.put_metric_data(
            Namespace=ns,
            MetricData=[
                {"MetricName": "ok", "Timestamp": minute(0), "Value": 1.0},
                {"MetricName": "bad", "Timestamp": minute(0), "Values": [1.0, 2.0], "Counts": [1.0]},
            ],
        )
    assert "must be of the same size" in failure.value.response["Error"]["Message"]
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []


def test_list_metrics_filters_by_dimensions_and_recent_activity(aws: EmbeddedAws, cw: Any) -> None:
    ns = "Test/List"
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {
                "MetricName": "latency",
                "Dimensions": [{"Name": "Variant", "Value": "canary"}, {"Name": "Endpoint", "Value": "e1"}],
                "Value": 1.0,
            },
            {"MetricName": "latency", "Dimensions": [{"Name": "Variant", "Value": "current"}], "Value": 1.0},
            {"MetricName": "errors", "Dimensions": [{"Name": "Variant", "Value": "canary"}], "Value": 1.0},
        ],
    )

    def listed(**params: Any) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
        return sorted(
            (m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
            for m in cw.list_metrics(Namespace=ns, **params)["Metrics"]
        )

    assert listed(Dimensions=[{"Name": "Variant", "Value": "canary"}]) == [
        ("errors", (("Variant", "canary"),)),
        ("latency", (("Endpoint", "e1"), ("Variant", "canary"))),
    ]
    assert listed(MetricName="latency", Dimensions=[{"Name": "Endpoint"}]) == [
        ("latency", (("Endpoint", "e1"), ("Variant", "canary")))
    ]
    assert len(listed(RecentlyActive="PT3H")) == 3
    dimension_query = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "c",
                "MetricStat": {
                    "Metric": {
                        "Namespace": ns,
                        "MetricName": "latency",
                        "Dimensions": [{"Name": "Variant", "Value": "current"}],
                    },
                    "Period": 60,
                    "Stat": "SampleCount",
                },
            }
        ],
        StartTime=aws.clock.now() - timedelta(minutes=10),
        EndTime=aws.clock.now() + timedelta(minutes=1),
    )
    assert by_id(dimension_query)["c"]["Values"] == [1.0]  # exact dimension set: the canary series is another one


# ---------------------------------------------------------------------------------------------------------
# alarms
# ---------------------------------------------------------------------------------------------------------
def test_alarm_transitions_deliver_one_sns_message_each_to_sqs(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/AlarmSqs", "latency-high"
    topic, queue = subscribed_queue(aws, "alarm-sqs")
    put_per_minute(cw, ns, "lat", {0: 1.0, 1: 9.0, 2: 2.0})
    cw.put_metric_alarm(
        AlarmName=name,
        AlarmDescription="canary latency",
        Namespace=ns,
        MetricName="lat",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        OKActions=[topic],
        TreatMissingData="missing",
    )
    alarms.append(name)
    created = state(cw, name)
    assert (created["StateValue"], created["StateReason"]) == (INSUFFICIENT_DATA, "Unchecked: Initial alarm creation")

    evaluate_at = [
        minute(1) + timedelta(seconds=5),
        minute(2) + timedelta(seconds=5),
        minute(2) + timedelta(seconds=50),
        minute(3) + timedelta(seconds=5),
        minute(3) + timedelta(seconds=40),
    ]
    observed = []
    for now in evaluate_at:
        service.evaluate_alarms(now=now, names=[name])
        observed.append(state(cw, name)["StateValue"])
    assert observed == ["OK", "ALARM", "ALARM", "OK", "OK"]

    alarm = state(cw, name)
    assert alarm["StateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (15/01/30 10:02:00)] was not greater than the "
        "threshold (5.0) (minimum 1 datapoint for ALARM -> OK transition)."
    )
    assert alarm["StateUpdatedTimestamp"].astimezone(UTC) == minute(3) + timedelta(seconds=5)
    assert json.loads(alarm["StateReasonData"]) == {
        "version": "1.0",
        "queryDate": "2030-01-15T10:03:05.000+0000",
        "startDate": "2030-01-15T10:02:00.000+0000",
        "statistic": "Maximum",
        "period": 60,
        "recentDatapoints": [1.0, 9.0, 2.0],
        "threshold": 5.0,
        "evaluatedDatapoints": [{"timestamp": "2030-01-15T10:02:00.000+0000", "sampleCount": 1.0, "value": 2.0}],
    }

    envelopes = drain(aws, queue)
    assert [e["Subject"] for e in envelopes] == [
        'OK: "latency-high" in US East (N. Virginia)',
        'ALARM: "latency-high" in US East (N. Virginia)',
        'OK: "latency-high" in US East (N. Virginia)',
    ]
    message = json.loads(envelopes[1]["Message"])
    assert message["NewStateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [9.0 (15/01/30 10:01:00)] was greater than the "
        "threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    assert {
        k: message[k]
        for k in (
            "AlarmName",
            "AlarmDescription",
            "AWSAccountId",
            "NewStateValue",
            "OldStateValue",
            "StateChangeTime",
            "Region",
            "AlarmArn",
        )
    } == {
        "AlarmName": name,
        "AlarmDescription": "canary latency",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "OldStateValue": "OK",
        "StateChangeTime": "2030-01-15T10:02:05.000+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
    }
    assert message["Trigger"] == {
        "MetricName": "lat",
        "Namespace": ns,
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [],
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 5.0,
        "TreatMissingData": "missing",
        "EvaluateLowSampleCountPercentile": "",
    }
    fired = [(n.old_state, n.new_state, n.topic_arn, n.delivered) for n in service.notifications_for(name)]
    assert fired == [
        ("INSUFFICIENT_DATA", "OK", topic, True),
        ("OK", "ALARM", topic, True),
        ("ALARM", "OK", topic, True),
    ]

    history = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending")
    assert [h["HistorySummary"] for h in history["AlarmHistoryItems"]] == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert {h["HistorySummary"] for h in actions} == {f"Successfully executed action {topic}"}


def test_m_out_of_n(cw: Any, service: CloudWatchService, alarms: list[str]) -> None:
    ns, name = "Test/MofN", "two-of-three"
    put_per_minute(cw, ns, "errors", {0: 5.0, 1: 15.0, 2: 5.0, 3: 15.0, 4: 5.0, 5: 5.0})
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarms.append(name)
    observed = []
    for m in (3, 4, 5, 6):
        service.evaluate_alarms(now=minute(m) + timedelta(seconds=5), names=[name])
        alarm = state(cw, name)
        observed.append((alarm["StateValue"], alarm["StateReason"]))
    assert [s for s, _r in observed] == ["OK", "ALARM", "OK", "OK"]
    assert observed[1][1] == (
        "Threshold Crossed: 2 out of the last 3 datapoints [15.0 (15/01/30 10:03:00), 15.0 (15/01/30 10:01:00)] "
        "were greater than the threshold (10.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert observed[2][1] == (
        "Threshold Crossed: 2 out of the last 3 datapoints [5.0 (15/01/30 10:04:00), 5.0 (15/01/30 10:02:00)] "
        "were not greater than the threshold (10.0) (minimum 2 datapoints for ALARM -> OK transition)."
    )
    transitions = [(t.old_state, t.new_state) for t in service.transitions if t.alarm_name == name]
    assert transitions == [("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM"), ("ALARM", "OK")]


def test_treat_missing_data_modes(cw: Any, service: CloudWatchService, alarms: list[str]) -> None:
    ns = "Test/Missing"
    # good at minute -1, breaching at 0..2, nothing at 3..5, good again at 6
    put_per_minute(cw, ns, "drift", {-1: 1.0, 0: 20.0, 1: 20.0, 2: 20.0, 6: 1.0})
    modes = ("missing", "ignore", "breaching", "notBreaching")
    for mode in modes:
        cw.put_metric_alarm(
            AlarmName=f"drift-{mode}",
            Namespace=ns,
            MetricName="drift",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=10.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData=mode,
        )
        alarms.append(f"drift-{mode}")
    timeline: dict[str, list[str]] = {mode: [] for mode in modes}
    for m in (0, 1, 4, 6, 7):
        service.evaluate_alarms(now=minute(m) + timedelta(seconds=5), names=alarms)
        for mode in modes:
            timeline[mode].append(state(cw, f"drift-{mode}")["StateValue"])
    # minute 4 still sees the breach at minute 2 inside the evaluation range (3 periods for 1 evaluation
    # period); at minute 6 the range (3..5) is empty and each mode decides differently.
    assert timeline == {
        "missing": ["OK", "ALARM", "ALARM", "INSUFFICIENT_DATA", "OK"],
        "ignore": ["OK", "ALARM", "ALARM", "ALARM", "OK"],
        "breaching": ["OK", "ALARM", "ALARM", "ALARM", "OK"],
        "notBreaching": ["OK", "ALARM", "ALARM", "OK", "OK"],
    }
    reasons = {t.alarm_name: t.reason for t in service.transitions if t.time == minute(6) + timedelta(seconds=5)}
    assert reasons == {
        "drift-missing": "Insufficient Data: 1 datapoint was unknown.",
        "drift-notBreaching": "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
        "was treated as [NonBreaching].",
    }


def test_sparse_data_with_missing_names_only_real_datapoints(
    cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    # The "0 - X - -" row of the 2-out-of-3 table: missing data is neither breaching nor not, so the one
    # non-breaching datapoint decides OK and the reason lists only real datapoints.
    ns, name = "Test/Sparse", "sparse"
    put_per_minute(cw, ns, "m", {0: 1.0, 2: 100.0})
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="m",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarms.append(name)
    (transition,) = service.evaluate_alarms(now=minute(5) + timedelta(seconds=5), names=[name])
    assert (transition.old_state, transition.new_state) == (INSUFFICIENT_DATA, "OK")
    assert transition.reason == (
        "Threshold Crossed: 1 out of the last 3 datapoints [1.0 (15/01/30 10:00:00)] was not greater than the "
        "threshold (50.0) (minimum 2 datapoints for ALARM -> OK transition)."
    )
    evaluated = json.loads(state(cw, name)["StateReasonData"])["evaluatedDatapoints"]
    assert evaluated == [
        {"timestamp": "2030-01-15T10:04:00.000+0000"},
        {"timestamp": "2030-01-15T10:02:00.000+0000", "sampleCount": 1.0, "value": 100.0},
        {"timestamp": "2030-01-15T10:00:00.000+0000", "sampleCount": 1.0, "value": 1.0},
    ]


def test_percentile_alarm_and_low_sample_count(cw: Any, service: CloudWatchService, alarms: list[str]) -> None:
    ns = "Test/PercentileAlarm"
    # minute 0: 10 samples with p90 = 900 (too few for p90: CloudWatch wants 10 / (1 - 0.9) = 100)
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[
            {"MetricName": "lat", "Timestamp": minute(0), "Values": [100, 900], "Counts": [8, 2]},
            {"MetricName": "lat", "Timestamp": minute(1), "Values": [100, 900], "Counts": [80, 20]},
        ],
    )
    for mode in ("evaluate", "ignore"):
        cw.put_metric_alarm(
            AlarmName=f"p90-{mode}",
            Namespace=ns,
            MetricName="lat",
            ExtendedStatistic="p90",
            Period=60,
            EvaluationPeriods=1,
            Threshold=500.0,
            ComparisonOperator="GreaterThanThreshold",
            EvaluateLowSampleCountPercentile=mode,
        )
        alarms.append(f"p90-{mode}")
    service.evaluate_alarms(now=minute(1) + timedelta(seconds=1), names=alarms)
    assert [state(cw, a)["StateValue"] for a in alarms] == ["ALARM", INSUFFICIENT_DATA]
    service.evaluate_alarms(now=minute(2) + timedelta(seconds=1), names=alarms)
    assert [state(cw, a)["StateValue"] for a in alarms] == ["ALARM", "ALARM"]
    assert state(cw, "p90-ignore")["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [900.0")


def test_alarm_on_metrics(aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]) -> None:
    ns, name = "Test/MetricsAlarm", "errors-on-metrics"
    topic, queue = subscribed_queue(aws, "metrics-alarm")
    put_per_minute(cw, ns, "errors", {0: 1.0, 1: 10.0, 2: 0.0})
    errors = {"Metric": {"Namespace": ns, "MetricName": "errors"}, "Period": 60, "Stat": "Sum"}
    cw.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        Metrics=[{"Id": "err", "MetricStat": errors, "ReturnData": True}],
    )
    alarms.append(name)
    observed = []
    for m in (1, 2, 3):
        service.evaluate_alarms(now=minute(m) + timedelta(seconds=5), names=[name])
        observed.append(state(cw, name)["StateValue"])
    assert observed == ["OK", "ALARM", "OK"]
    (envelope,) = drain(aws, queue)
    trigger = json.loads(envelope["Message"])["Trigger"]
    assert trigger["Metrics"] == [
        {
            "Id": "err",
            "MetricStat": {
                "Metric": {"Dimensions": [], "MetricName": "errors", "Namespace": ns},
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
    ]
    assert trigger["Period"] == 60


def test_set_alarm_state_runs_actions_and_the_next_evaluation_reverts_it(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/SetState", "manual"
    topic, queue = subscribed_queue(aws, "set-state")
    put_per_minute(cw, ns, "m", {0: 1.0})
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="m",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        OKActions=[topic],
    )
    alarms.append(name)
    service.evaluate_alarms(now=minute(1), names=[name])
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the rollback path")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="unchanged state, no action")
    service.evaluate_alarms(now=minute(1) + timedelta(seconds=30), names=[name])
    assert state(cw, name)["StateValue"] == "OK"
    messages = [json.loads(e["Message"]) for e in drain(aws, queue)]
    # OK (first evaluation), ALARM (SetAlarmState; the repeated one changes nothing), OK (next evaluation)
    assert [(m["OldStateValue"], m["NewStateValue"]) for m in messages] == [
        ("INSUFFICIENT_DATA", "OK"),
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    assert messages[1]["NewStateReason"] == "testing the rollback path"


def test_updating_an_alarm_keeps_its_state(cw: Any, service: CloudWatchService, alarms: list[str]) -> None:
    ns, name = "Test/Update", "updated"
    put_per_minute(cw, ns, "m", {0: 9.0})
    definition = {
        "AlarmName": name,
        "Namespace": ns,
        "MetricName": "m",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**definition, Threshold=5.0)
    alarms.append(name)
    service.evaluate_alarms(now=minute(1), names=[name])
    cw.put_metric_alarm(**definition, Threshold=50.0)
    assert state(cw, name)["StateValue"] == "ALARM"  # kept until the next evaluation
    service.evaluate_alarms(now=minute(1) + timedelta(seconds=10), names=[name])
    assert state(cw, name)["StateValue"] == "OK"
    summaries = [
        h["HistorySummary"]
        for h in cw.describe_alarm_history(AlarmName=name, ScanBy="TimestampAscending")["AlarmHistoryItems"]
    ]
    assert summaries[0] == f'Alarm "{name}" created'
    assert f'Alarm "{name}" updated' in summaries


# ---------------------------------------------------------------------------------------------------------
# alarm state change events on EventBridge
# ---------------------------------------------------------------------------------------------------------
CONFIGURATION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def alarm_events_queue(aws: EmbeddedAws, alarm_name: str) -> str:
    """An SQS queue that a rule fills with the alarm's "CloudWatch Alarm State Change" events."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=f"events-{alarm_name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"alarmName": [alarm_name]},
    }
    # EventBridge sends to a queue through the queue's policy (the sandbox enforces IAM).
    send = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    policy = {"Version": "2012-10-17", "Statement": [{**send, "Resource": queue_arn}]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    events.put_rule(Name=f"events-{alarm_name}", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"events-{alarm_name}", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(url)


def received(aws: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    """Every event the rule has delivered so far (EventBridge delivers asynchronously: drained first)."""
    assert aws.emulator.services["events"].drain(10)
    sqs = aws.client("sqs")
    out: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return out


def millis_timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}+0000"


def test_every_transition_of_an_alarm_without_actions_sends_one_state_change_event(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/AlarmEvents", "drift-events"
    queue = alarm_events_queue(aws, name)
    dimensions = [{"Name": "Endpoint", "Value": "churn"}]
    put_per_minute(cw, ns, "drift", {0: 0.1, 1: 0.5, 2: 0.5, 3: 0.05}, Dimensions=dimensions)
    definition = {
        "AlarmName": name,
        "AlarmDescription": "churn drift",
        "Namespace": ns,
        "MetricName": "drift",
        "Dimensions": dimensions,
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**definition, Threshold=0.2)
    alarms.append(name)
    created = state(cw, name)
    assert received(aws, queue) == []  # creating an alarm is not a state change

    described = []
    for now in (
        minute(1) + timedelta(seconds=5),  # 0.1: INSUFFICIENT_DATA -> OK
        minute(2) + timedelta(seconds=5),  # 0.5: OK -> ALARM
        minute(3) + timedelta(seconds=5),  # 0.5 again: no change
        minute(3) + timedelta(seconds=40),  # same period: no change
        minute(4) + timedelta(seconds=5),  # 0.05: ALARM -> OK
    ):
        service.evaluate_alarms(now=now, names=[name])
        described.append(state(cw, name))
    events = received(aws, queue)
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in events] == [
        ("INSUFFICIENT_DATA", "OK"),
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    assert [e["time"] for e in events] == ["2030-01-15T10:01:05Z", "2030-01-15T10:02:05Z", "2030-01-15T10:04:05Z"]
    assert len({e["id"] for e in events}) == 3

    first, alarming, _ = events
    assert first["detail"]["previousState"] == {
        "reason": "Unchecked: Initial alarm creation",
        "timestamp": millis_timestamp(created["StateUpdatedTimestamp"]),
        "value": "INSUFFICIENT_DATA",
    }
    metric_id = alarming["detail"]["configuration"]["metrics"][0]["id"]
    assert CONFIGURATION_ID.fullmatch(metric_id)
    assert {k: v for k, v in alarming.items() if k != "id"} == {
        "version": "0",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2030-01-15T10:02:05Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.5 (15/01/30 10:01:00)] was greater "
                "than the threshold (0.2) (minimum 1 datapoint for OK -> ALARM transition).",
                "reasonData": described[1]["StateReasonData"],
                "timestamp": "2030-01-15T10:02:05.000+0000",
                "value": "ALARM",
            },
            "previousState": {
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [0.1 (15/01/30 10:00:00)] was not "
                "greater than the threshold (0.2) (minimum 1 datapoint for ALARM -> OK transition).",
                "reasonData": described[0]["StateReasonData"],
                "timestamp": "2030-01-15T10:01:05.000+0000",
                "value": "OK",
            },
            "configuration": {
                "description": "churn drift",
                "metrics": [
                    {
                        "id": metric_id,
                        "metricStat": {
                            "metric": {"namespace": ns, "name": "drift", "dimensions": {"Endpoint": "churn"}},
                            "period": 60,
                            "stat": "Maximum",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }
    assert json.loads(alarming["detail"]["state"]["reasonData"]) == {
        "version": "1.0",
        "queryDate": "2030-01-15T10:02:05.000+0000",
        "startDate": "2030-01-15T10:01:00.000+0000",
        "statistic": "Maximum",
        "period": 60,
        "recentDatapoints": [0.1, 0.5],
        "threshold": 0.2,
        "evaluatedDatapoints": [{"timestamp": "2030-01-15T10:01:00.000+0000", "sampleCount": 1.0, "value": 0.5}],
    }
    assert {e["detail"]["configuration"]["metrics"][0]["id"] for e in events} == {metric_id}
    assert service.notifications_for(name) == []  # no actions: the events are all there is

    # A new configuration keeps the state (no event) and gives the metric a new id.
    cw.put_metric_alarm(**definition, Threshold=0.01)
    service.evaluate_alarms(now=minute(4) + timedelta(seconds=10), names=[name])
    (reconfigured,) = received(aws, queue)
    assert (reconfigured["detail"]["previousState"]["value"], reconfigured["detail"]["state"]["value"]) == (
        "OK",
        "ALARM",
    )
    assert CONFIGURATION_ID.fullmatch(reconfigured["detail"]["configuration"]["metrics"][0]["id"])
    assert reconfigured["detail"]["configuration"]["metrics"][0]["id"] != metric_id


def test_set_alarm_state_and_alarms_on_metrics_send_events_beside_their_sns_actions(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/MetricsEvents", "latency-events"
    topic, sns_queue = subscribed_queue(aws, "metrics-events")
    queue = alarm_events_queue(aws, name)
    cw.put_metric_alarm(
        AlarmName=name,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[topic],
        Metrics=[
            {
                "Id": "inv",
                "Label": "Canary p99",
                "MetricStat": {
                    "Metric": {
                        "Namespace": ns,
                        "MetricName": "calls",
                        "Dimensions": [{"Name": "Variant", "Value": "canary"}],
                    },
                    "Period": 60,
                    "Stat": "p99",
                },
                "ReturnData": True,
            },
        ],
    )
    alarms.append(name)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the rollback path")
    set_at = state(cw, name)["StateUpdatedTimestamp"].astimezone(UTC)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="unchanged state, no event")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="recovered", StateReasonData='{"checked":1}')

    alarming, recovered = received(aws, queue)
    assert alarming["detail"]["state"] == {
        "reason": "testing the rollback path",
        "timestamp": millis_timestamp(set_at),
        "value": "ALARM",
    }
    assert alarming["time"] == f"{set_at:%Y-%m-%dT%H:%M:%S}Z"
    assert alarming["detail"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    assert "reasonData" not in alarming["detail"]["previousState"]
    assert recovered["detail"]["previousState"]["reason"] == "unchanged state, no event"  # the state's last update
    assert (recovered["detail"]["state"]["value"], recovered["detail"]["state"]["reasonData"]) == (
        "OK",
        '{"checked":1}',
    )
    assert alarming["detail"]["configuration"] == {
        "metrics": [
            {
                "id": "inv",
                "label": "Canary p99",
                "metricStat": {
                    "metric": {"namespace": ns, "name": "calls", "dimensions": {"Variant": "canary"}},
                    "period": 60,
                    "stat": "p99",
                },
                "returnData": True,
            },
        ]
    }
    # The SNS action still runs, for the ALARM transition only (the alarm has no OK actions).
    assert [json.loads(e["Message"])["NewStateValue"] for e in drain(aws, sns_queue)] == ["ALARM"]


def test_ticker_evaluates_alarms_on_sandbox_time(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/Ticker", "ticker"
    now = aws.clock.now()
    cw.put_metric_data(
        Namespace=ns,
        MetricData=[{"MetricName": "m", "Timestamp": now + timedelta(minutes=k), "Value": 99.0} for k in range(-5, 4)],
    )
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="m",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarms.append(name)
    aws.clock.sleep(61)  # the job runs every 60 virtual seconds
    aws.emulator.ticker.run_due()
    assert state(cw, name)["StateValue"] == "ALARM"
    assert not aws.emulator.ticker.errors


def test_a_late_ticker_evaluates_the_minutes_it_missed(
    aws: EmbeddedAws, cw: Any, service: CloudWatchService, alarms: list[str]
) -> None:
    ns, name = "Test/LateTicker", "late"
    cw.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="m",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="ignore",
    )
    alarms.append(name)
    service.evaluate_each_minute()  # the ticker's last run
    breached = aws.clock.now()
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "m", "Timestamp": breached, "Value": 9.0}])
    # The ticker runs 6 virtual minutes late: the breaching minute has left the range of an evaluation made now
    # (EvaluationPeriods + 2 periods), so evaluating only now would never see it.
    aws.clock.set_warp(600.0)
    try:
        aws.clock.sleep(6 * 60)
    finally:
        aws.clock.set_warp(60.0)
    late = aws.clock.now()
    assert service.evaluate_alarms(now=late, names=[name]) == []

    transitions = [t for t in service.evaluate_each_minute() if t.alarm_name == name]

    assert [(t.old_state, t.new_state) for t in transitions] == [("INSUFFICIENT_DATA", "ALARM")]
    assert breached < transitions[0].time < late - timedelta(minutes=2)  # at a missed minute, not now
    assert state(cw, name)["StateValue"] == "ALARM"


def test_query_performance_at_simulator_scale(aws: EmbeddedAws, service: CloudWatchService) -> None:
    """20 series x 24 h of 1-minute Values/Counts (50 distinct values each); 10 queries over an hour."""
    ns, end = "Test/Perf", aws.clock.now().replace(second=0, microsecond=0)
    start = end - timedelta(hours=24)
    values = [float(v) for v in range(10, 510, 10)]
    for variant in range(20):
        data = [
            {
                "MetricName": "ModelLatency",
                "Dimensions": [{"Name": "Variant", "Value": f"v{variant}"}],
                "Timestamp": start + timedelta(minutes=m),
                "Values": values,
                "Counts": [float((m + i) % 7 + 1) for i in range(50)],
            }
            for m in range(1440)
        ]
        for i in range(0, len(data), 1000):
            service.put_metric_data(ns, data[i : i + 1000])
    stats = ["p99", "p50", "Average", "Sum", "SampleCount", "p99.9", "Maximum", "p90", "Minimum", "p95"]
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": ns,
                    "MetricName": "ModelLatency",
                    "Dimensions": [{"Name": "Variant", "Value": f"v{i}"}],
                },
                "Period": 60,
                "Stat": stats[i],
            },
        }
        for i in range(10)
    ]
    window = (end - timedelta(hours=2), end - timedelta(hours=1))
    started = time.perf_counter()
    result = service.get_metric_data(queries, *window)
    elapsed = time.perf_counter() - started
    assert [len(r["Values"]) for r in result["MetricDataResults"]] == [60] * 10
    assert elapsed < 1.0, f"GetMetricData took {elapsed * 1000:.0f} ms of backend time"
    over_http = aws.client("cloudwatch")
    started = time.perf_counter()
    over_http.get_metric_data(MetricDataQueries=queries, StartTime=window[0], EndTime=window[1])
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------------------------------------------------
# API faults
# ---------------------------------------------------------------------------------------------------------
def _error_of(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_api_faults_fail_only_the_named_action_once_before_it_runs(aws: EmbeddedAws) -> None:
    strict = boto3.client(
        "cloudwatch",
        endpoint_url=aws.url,
        region_name=aws.region,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        **CREDENTIALS,  # type: ignore[call-overload]
    )
    ns, at = "Test/Faults", aws.clock.now().replace(second=0, microsecond=0) - timedelta(minutes=2)
    query = stat_query("a", ns, "m", "Sum")
    window = {"StartTime": at - timedelta(minutes=5), "EndTime": at + timedelta(minutes=1)}

    aws.emulator.faults.arm("cloudwatch.api", "throttle", action="PutMetricData")
    assert _error_of(lambda: strict.put_metric_data(Namespace=ns, MetricData=[_datum(at, 4.0)])) == (
        "Throttling",
        "Rate exceeded",
        400,
    )
    assert strict.get_metric_data(MetricDataQueries=[query], **window)["MetricDataResults"][0]["Values"] == []
    strict.put_metric_data(Namespace=ns, MetricData=[_datum(at, 4.0)])  # the fault fired once

    aws.emulator.faults.arm("cloudwatch.api", "error", action="GetMetricData", params={"message": "try later"})
    assert _error_of(lambda: strict.get_metric_data(MetricDataQueries=[query], **window)) == (
        "InternalServiceError",
        "try later",
        500,
    )
    assert strict.get_metric_data(MetricDataQueries=[query], **window)["MetricDataResults"][0]["Values"] == [4.0]


def test_a_retrying_client_rides_out_throttling_and_a_server_error(aws: EmbeddedAws) -> None:
    aws.emulator.faults.arm("cloudwatch.api", "throttle", action="DescribeAlarms")
    aws.emulator.faults.arm("cloudwatch.api", "error", action="DescribeAlarms")
    response = aws.client("cloudwatch").describe_alarms(AlarmNames=["none"])
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert response["MetricAlarms"] == []


def _datum(at: datetime, value: float) -> dict[str, Any]:
    return {"MetricName": "m", "Timestamp": at, "Value": value}
