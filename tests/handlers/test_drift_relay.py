"""Drift monitoring on the embedded AWS: Detect Drift, Relay Alert and Detach Monitoring, as Lambda runs them.

Every expected number is worked out in the comment above it (ln is the natural logarithm, log2 base 2, ε the
PSI floor 1e-4). The baseline is eight records built with four buckets per numeric feature:

    amount  0 10 20 30 40 50 60 80   edges 0 20 40 60 80: two values per bucket, p = 0 | ¼ ¼ ¼ ¼ | 0
    hour    1  2  3  4  5  6  7  8   edges 1 2.75 4.5 6.25 8: two per bucket, p = 0 | ¼ ¼ ¼ ¼ | 0
    country USx4 DEx2 FRx2           p = US ½, DE ¼, FR ¼

(the outer bins of the numeric distributions are the underflow and overflow ones).
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mlrollout.domain.drift import PSI_EPSILON, build_baseline
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.services.detect_drift import CAPTURE_GRACE  # the run's window ends this long before its tick
from support import IMAGE

NAMESPACE = "mlrollout/DataDrift"
BASELINE_RECORDS: list[dict[str, object]] = [
    {"amount": amount, "hour": hour, "country": country}
    for amount, hour, country in zip(
        [0, 10, 20, 30, 40, 50, 60, 80], [1, 2, 3, 4, 5, 6, 7, 8], ["US"] * 4 + ["DE"] * 2 + ["FR"] * 2, strict=True
    )
]
# The window's eight records. amount: six 70s in the last bucket, two 90s above the baseline's max (overflow);
# hour: 1 2 | 3 | 5 6 | 7 8 8, i.e. q = 0 | ¼ ⅛ ¼ ⅜ | 0; country USx4 DEx4; two records carry a new field.
WINDOW_RECORDS: list[dict[str, object]] = [
    {"amount": 70, "hour": 1, "country": "US"},
    {"amount": 70, "hour": 2, "country": "US"},
    {"amount": 70, "hour": 3, "country": "US"},
    {"amount": 70, "hour": 5, "country": "US", "channel": "web"},
    {"amount": 70, "hour": 6, "country": "DE"},
    {"amount": 70, "hour": 7, "country": "DE"},
    {"amount": 90, "hour": 8, "country": "DE", "channel": "web"},
    {"amount": 90, "hour": 8, "country": "DE"},
]
# Outside the window: would move every distribution if it were counted.
OUTSIDE = {"amount": 0, "hour": 1, "country": "FR"}

# hour: PSI = (⅛-¼)·ln(⅛/¼) + (⅜-¼)·ln(⅜/¼) = ⅛·ln 2 + ⅛·ln 1.5 = ⅛·ln 3 (bins empty on both sides give 0).
HOUR_PSI = math.log(3) / 8  # 0.137327
# amount: three buckets go from ¼ to ε, the last from ¼ to ¾, the overflow from ε to ¼:
# PSI = 3·(ε-¼)·ln(ε/¼) + ½·ln 3 + (¼-ε)·ln(¼/ε) = 4·(¼-ε)·ln 2500 + ½·ln 3
AMOUNT_PSI = 4 * (0.25 - PSI_EPSILON) * math.log(2500) + math.log(3) / 2  # 8.370223
# amount KS: cumulative p 0 ¼ ½ ¾ 1 1 against q 0 0 0 0 ¾ 1, largest gap ¾ (after the third bucket).
AMOUNT_KS = 0.75
# country JS: p = (½, ¼, ¼), q = (½, ½, 0), m = (½, ⅜, ⅛);
# KL(p‖m) = ¼·log2(⅔) + ¼·log2(2), KL(q‖m) = ½·log2(4/3); JS = sqrt(½·KL(p‖m) + ½·KL(q‖m)).
COUNTRY_JS = math.sqrt(0.5 * (0.25 * math.log2(2 / 3) + 0.25) + 0.5 * (0.5 * math.log2(4 / 3)))  # 0.394511


# ---------------------------------------------------------------------------------------------------- helpers


def capture_line(features: dict[str, object], at: datetime, score: float = 0.1) -> str:
    """One record as SageMaker data capture writes it (JSON content, both directions)."""
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": json.dumps(features),
                    "encoding": "JSON",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": json.dumps({"score": score}),
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {"eventId": str(uuid.uuid4()), "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
    )


def put_capture(stack: Any, endpoint: str, variant: str, started: datetime, name: str, lines: list[str]) -> str:
    """A capture file where SageMaker puts it: <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<name>."""
    key = f"capture/{endpoint}/{endpoint}/{variant}/{started:%Y/%m/%d/%H}/{name}"
    stack.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    return key


def put_baseline(stack: Any, endpoint: str, records: list[dict[str, object]], bins: int = 4) -> tuple[str, str]:
    statistics, constraints = build_baseline(records, bins=bins)
    s3 = stack.client("s3")
    uris = []
    for name, document in (("statistics", statistics), ("constraints", constraints)):
        key = f"baselines/{endpoint}/{name}.json"
        s3.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(document).encode())
        uris.append(f"s3://{stack.bucket}/{key}")
    return uris[0], uris[1]


def window_end(stack: Any, hours_ago: int = 3) -> datetime:
    """A window end 20 minutes past an hour, a few sandbox hours back (CloudWatch takes two weeks back)."""
    hour = (stack.aws.clock.now() - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
    return hour + timedelta(minutes=20)


def drift_input(stack: Any, endpoint: str, end: datetime, **overrides: Any) -> dict[str, Any]:
    statistics, constraints = put_baseline(stack, endpoint, BASELINE_RECORDS)
    return {
        "endpoint": endpoint,
        "model_name": "fraud-scorer",
        "version_label": "v2",
        "deployment_id": "fraud-scorer-abc",
        "baseline_statistics": statistics,
        "baseline_constraints": constraints,
        "capture_uri": f"s3://{stack.bucket}/capture/{endpoint}",
        "period_seconds": 3600,
        "thresholds": {"psi": 0.2, "js": 0.1, "missing_rate": 0.05},
        "min_records": 1,  # the hand-computed windows are tiny; the minimum has its own test
        "scheduled_time": (end + CAPTURE_GRACE).isoformat(),
        **overrides,
    }


def spread_window(stack: Any, endpoint: str, end: datetime, variants: tuple[str, str] = ("v1", "v2")) -> int:
    """WINDOW_RECORDS over two variants and the two hours the window [end - 1 h, end) touches, with records
    outside the window, malformed lines, a file of the hour before, and files the run must not read.
    Returns the number of capture files the run should read."""
    hour = end.replace(minute=0)
    first, second = variants
    w = WINDOW_RECORDS
    put_capture(  # started before the window; its later records are in it
        stack,
        endpoint,
        first,
        hour - timedelta(minutes=45),
        "a.jsonl",
        [
            capture_line(OUTSIDE, hour - timedelta(minutes=45)),
            capture_line(w[0], hour - timedelta(minutes=35)),
            "{not json",
            "",
            capture_line(w[1], hour - timedelta(minutes=30)),
        ],
    )
    put_capture(
        stack,
        endpoint,
        first,
        hour + timedelta(minutes=2),
        "b.jsonl",
        [
            capture_line(w[2], hour + timedelta(minutes=2)),
            json.dumps({"eventMetadata": {"inferenceTime": hour.isoformat()}, "eventVersion": "0"}),
            capture_line(w[3], hour + timedelta(minutes=10)),
        ],
    )
    put_capture(stack, endpoint, first, hour + timedelta(minutes=2), "notes.txt", [capture_line(OUTSIDE, hour)])
    put_capture(
        stack,
        endpoint,
        first,
        hour + timedelta(minutes=65),
        "late.jsonl",
        [capture_line(OUTSIDE, hour + timedelta(minutes=65))],
    )
    put_capture(  # the hour before the window's first hour: read, and nothing in it is in the window
        stack,
        endpoint,
        second,
        hour - timedelta(minutes=90),
        "old.jsonl",
        [capture_line(OUTSIDE, hour - timedelta(minutes=90))],
    )
    put_capture(
        stack,
        endpoint,
        second,
        hour - timedelta(minutes=41),
        "c.jsonl",
        [
            capture_line(OUTSIDE, hour - timedelta(minutes=41)),
            capture_line(w[4], hour - timedelta(minutes=39)),
            capture_line(w[5], hour - timedelta(minutes=5)),
        ],
    )
    no_time = json.loads(capture_line(w[0], hour))
    del no_time["eventMetadata"]
    put_capture(
        stack,
        endpoint,
        second,
        hour + timedelta(minutes=5),
        "d.jsonl",
        [
            capture_line(w[6], hour + timedelta(minutes=5)),
            json.dumps(no_time),
            capture_line(w[7], end - timedelta(seconds=1)),
            capture_line(OUTSIDE, end),  # the window's end is exclusive
            capture_line(OUTSIDE, end + timedelta(minutes=5)),
        ],
    )
    return 5  # a, b, old, c, d


def published(stack: Any, endpoint: str, at: datetime) -> dict[tuple[str, str | None], list[float]]:
    """Every value of the endpoint's drift metrics in the minute `at`, by (metric, feature)."""
    cw = stack.client("cloudwatch")
    metrics = [
        m
        for page in cw.get_paginator("list_metrics").paginate(
            Namespace=NAMESPACE, Dimensions=[{"Name": "Endpoint", "Value": endpoint}]
        )
        for m in page["Metrics"]
    ]
    if not metrics:
        return {}
    queries = [
        {"Id": f"m{i}", "MetricStat": {"Metric": m, "Period": 60, "Stat": "Maximum"}} for i, m in enumerate(metrics)
    ]
    response = cw.get_metric_data(MetricDataQueries=queries, StartTime=at, EndTime=at + timedelta(minutes=1))
    found: dict[tuple[str, str | None], list[float]] = {}
    for result in response["MetricDataResults"]:
        metric = metrics[int(result["Id"][1:])]
        feature = next((d["Value"] for d in metric["Dimensions"] if d["Name"] == "Feature"), None)
        found[(metric["MetricName"], feature)] = [float(v) for v in result["Values"]]
    return found


def read_report(stack: Any, uri: str) -> dict[str, Any]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    document: dict[str, Any] = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return document


def alerts(stack: Any) -> list[dict[str, Any]]:
    """The common-schema documents published to the alerts topic since the last call."""
    return [json.loads(envelope["Message"]) for envelope in stack.messages()]


@pytest.fixture
def endpoint() -> str:
    return f"drift-{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------------------------- Detect Drift


def test_detect_drift_scores_one_window_of_capture_against_the_baseline(
    stack: Any, handler: Any, endpoint: str
) -> None:
    end = window_end(stack)
    files = spread_window(stack, endpoint, end)

    result = handler("detect_drift")(drift_input(stack, endpoint, end))

    assert datetime.fromisoformat(result["window_start"]) == end - timedelta(hours=1)
    assert datetime.fromisoformat(result["window_end"]) == end
    assert (result["files"], result["records"], result["malformed"]) == (files, 8, 3)
    assert sorted(result["drifted"]) == ["amount", "country"]
    assert result["schema_violations"] == 1

    values = published(stack, endpoint, end)
    for key, points in values.items():
        assert len(points) == 1, f"{key}: one value per run, at the window's end"
    value = {key: points[0] for key, points in values.items()}
    assert value[("Records", None)] == 8
    assert value[("MalformedRecords", None)] == 3  # bad JSON, no captureData, no inferenceTime
    assert value[("SchemaViolations", None)] == 1  # the new field "channel"
    assert value[("FeaturesDrifted", None)] == 2
    assert value[("PSI", "hour")] == pytest.approx(HOUR_PSI, abs=1e-9)
    assert value[("PSI", "hour")] == pytest.approx(0.137327, abs=1e-6)
    assert value[("KSDistance", "hour")] == pytest.approx(0.125)
    assert value[("DriftScore", "hour")] == pytest.approx(HOUR_PSI / 0.2)  # 0.687: below 1, not drifted
    assert value[("PSI", "amount")] == pytest.approx(AMOUNT_PSI, abs=1e-9)
    assert value[("PSI", "amount")] == pytest.approx(8.370223, abs=1e-6)
    assert value[("KSDistance", "amount")] == pytest.approx(AMOUNT_KS)
    assert value[("DriftScore", "amount")] == pytest.approx(AMOUNT_PSI / 0.2)  # 41.9: drifted
    assert value[("JSDistance", "country")] == pytest.approx(COUNTRY_JS, abs=1e-9)
    assert value[("JSDistance", "country")] == pytest.approx(0.394511, abs=1e-6)
    assert value[("DriftScore", "country")] == pytest.approx(COUNTRY_JS / 0.1)
    assert ("PSI", "country") in value  # informative only: categorical features are judged on JS
    assert ("KSDistance", "country") not in value
    for feature in ("amount", "hour", "country"):
        assert value[("MissingRate", feature)] == 0
        assert value[("TypeMismatchRate", feature)] == 0
    assert not any(feature == "channel" for _, feature in value)  # not in the baseline: no score, a violation

    report = read_report(stack, result["report_uri"])
    assert result["report_uri"] == (
        f"s3://{stack.bucket}/monitoring/{endpoint}/builtin/{end:%Y/%m/%d/%H%M%S}/report.json"
    )
    assert (report["records"], report["malformed"], report["files"]) == (8, 3, files)
    assert report["malformed_reasons"] == {
        "bad JSON": 1,
        "missing captureData": 1,
        "missing or unreadable inferenceTime": 1,
    }
    assert report["window"] == {"start": (end - timedelta(hours=1)).isoformat(), "end": end.isoformat()}
    assert (report["model"], report["version"], report["deployment_id"]) == ("fraud-scorer", "v2", "fraud-scorer-abc")
    by_feature = {f["feature"]: f for f in report["features"]}
    assert set(by_feature) == {"amount", "hour", "country"}
    for (metric, feature), number in value.items():
        if metric in by_feature.get(feature or "", {}).get("values", {}):
            assert by_feature[feature or ""]["values"][metric] == number  # the report says what CloudWatch has
    assert by_feature["amount"]["crossed"] == ["PSI"]
    assert by_feature["country"]["crossed"] == ["JSDistance"]
    assert by_feature["hour"]["crossed"] == []
    assert by_feature["amount"]["score"] == value[("DriftScore", "amount")]
    assert {(v["feature_name"], v["constraint_check_type"]) for v in report["violations"]} >= {
        ("channel", "extra_column_check")
    }
    assert report["statistics"]["dataset"]["item_count"] == 8


def test_detect_drift_refuses_a_missing_baseline_naming_it(stack: Any, handler: Any, endpoint: str) -> None:
    end = window_end(stack)
    missing = f"s3://{stack.bucket}/baselines/{endpoint}/gone/statistics.json"
    with pytest.raises(
        ConfigInvalid, match=f"monitoring.baseline_statistics {missing} of endpoint {endpoint} does not exist"
    ):
        handler("detect_drift")(drift_input(stack, endpoint, end, baseline_statistics=missing))
    # The constraints too: without them the completeness and domain checks would silently stop.
    gone = f"s3://{stack.bucket}/baselines/{endpoint}/gone/constraints.json"
    with pytest.raises(
        ConfigInvalid, match=f"monitoring.baseline_constraints {gone} of endpoint {endpoint} does not exist"
    ):
        handler("detect_drift")(drift_input(stack, endpoint, end, baseline_constraints=gone))
    assert published(stack, endpoint, end) == {}


def test_a_window_without_traffic_says_so_and_judges_nothing(stack: Any, handler: Any, endpoint: str) -> None:
    end = window_end(stack)

    result = handler("detect_drift")(drift_input(stack, endpoint, end))  # no capture file at all

    assert (result["files"], result["records"], result["malformed"], result["drifted"]) == (0, 0, 0, [])
    assert result["schema_violations"] == 0
    # Records 0 is the news. Nothing is scored, and no SchemaViolations 0 either: with TreatMissingData=ignore
    # the alarms keep their state through a quiet window instead of reading it as "no drift, schema fine"
    # (test_a_quiet_window_keeps_the_alarm_state... shows it on the alarm itself).
    assert published(stack, endpoint, end) == {("Records", None): [0.0], ("MalformedRecords", None): [0.0]}
    report = read_report(stack, result["report_uri"])
    assert (report["records"], report["files"], report["features"]) == (0, 0, [])


def test_a_window_under_min_records_is_counted_not_judged(stack: Any, handler: Any, endpoint: str) -> None:
    end = window_end(stack)
    spread_window(stack, endpoint, end)  # the hand-made window: WINDOW_RECORDS records, one of them drifted hard

    result = handler("detect_drift")(drift_input(stack, endpoint, end, min_records=len(WINDOW_RECORDS) + 1))

    assert (result["records"], result["drifted"], result["schema_violations"]) == (len(WINDOW_RECORDS), [], 0)
    assert published(stack, endpoint, end) == {
        ("Records", None): [float(len(WINDOW_RECORDS))],
        ("MalformedRecords", None): [3.0],
    }


# ------------------------------------------------------------------------------------------------ performance


def big_window(stack: Any, endpoint: str, end: datetime, records: int) -> list[str]:
    """`records` records of eight features (five numeric, three categorical) in five files over two variants
    and two hours; the baseline is 1,000 records of the same generator."""

    def record(i: int) -> dict[str, object]:
        return {
            "amount": (i * 37) % 1000 / 10,
            "age": 18 + (i * 7) % 60,
            "balance": (i * 7919) % 100_000 / 100,
            "tenure": (i * 13) % 120,
            "score": ((i * 31) % 997) / 997,
            "country": ["US", "DE", "FR", "GB", "BR"][i % 5],
            "device": ["ios", "android", "web"][(i * 3) % 7 % 3],
            "segment": f"s{(i * 11) % 12}",
        }

    put_baseline(stack, endpoint, [record(i) for i in range(1000)], bins=10)
    start = end - timedelta(hours=1)
    per_file = records // 5
    keys = []
    for number in range(5):
        first = start + timedelta(minutes=12 * number)
        lines = [
            capture_line(record(i), first + timedelta(milliseconds=100 * (i - number * per_file)))
            for i in range(number * per_file, (number + 1) * per_file)
        ]
        keys.append(put_capture(stack, endpoint, f"v{1 + number % 2}", first, f"part-{number}.jsonl", lines))
    return keys


class ReadSpy:
    """Records every read of every S3 object body the client returns (botocore's StreamingBody), by key."""

    def __init__(self, client: Any) -> None:
        self.reads: dict[str, list[int | None]] = {}
        client.meta.events.register("before-parameter-build.s3.GetObject", self._remember_key)
        client.meta.events.register("after-call.s3.GetObject", self._wrap_body)

    def _remember_key(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["spied_key"] = params["Key"]

    def _wrap_body(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        body = parsed.get("Body")
        if body is None:
            return
        reads = self.reads.setdefault(context["spied_key"], [])
        original = body.read

        def read(amt: int | None = None) -> bytes:
            reads.append(amt)
            data: bytes = original(amt)
            return data

        body.read = read


def test_five_thousand_records_are_streamed_and_scored_well_under_a_second(stack: Any, endpoint: str) -> None:
    from mlrollout.adapters.artifacts import S3Artifacts
    from mlrollout.adapters.metrics import CloudWatchMetrics
    from mlrollout.contracts import DriftRunInput
    from mlrollout.services.detect_drift import detect_drift

    end = window_end(stack)
    request = DriftRunInput.model_validate(drift_input(stack, endpoint, end))
    keys = big_window(stack, endpoint, end, 5000)  # replaces the baseline drift_input wrote, at the same URIs
    s3 = stack.client("s3")
    spy = ReadSpy(s3)
    artifacts = S3Artifacts(s3)

    began = time.perf_counter()
    result, verdict = detect_drift(
        request,
        artifacts=artifacts,
        captures=artifacts,
        metrics=CloudWatchMetrics(stack.client("cloudwatch")),
        record_bucket=stack.bucket,
        now=end,
    )
    seconds = time.perf_counter() - began

    print(f"\ndetect_drift: {result.records} records x {len(verdict.features)} features in {seconds:.3f} s")
    assert (result.records, result.malformed, result.files) == (5000, 0, 5)
    assert len(verdict.features) == 8
    assert seconds < 3.0, f"{seconds:.2f} s for 5,000 records"
    # Streamed: every capture object is read in bounded chunks (iter_lines), never whole with read().
    for key in keys:
        chunks = spy.reads[key]
        assert None not in chunks, f"{key} was read whole"
        assert len(chunks) > 10
        assert max(c for c in chunks if c is not None) <= 1024


# ------------------------------------------------------------------------------------------------ Relay Alert


def attach_request(stack: Any, endpoint: str, *, package_version: int = 2, **monitoring: Any) -> dict[str, Any]:
    """What the state machine hands Attach Monitoring after a promotion (builtin backend unless told)."""
    from mlrollout.domain.config import RolloutConfig

    statistics, constraints = put_baseline(stack, endpoint, BASELINE_RECORDS)
    spec = {"baseline_statistics": statistics, "baseline_constraints": constraints, "min_records": 1, **monitoring}
    config = RolloutConfig.model_validate({"image": IMAGE, "endpoint_name": endpoint, "monitoring": spec})
    rollout = {
        "deployment_id": f"{endpoint}-abc",
        "execution_id": "arn:aws:states:us-east-1:123456789012:execution:m:e",
        "model_name": endpoint,
        "version_label": "v2",
        "endpoint_name": endpoint,
        "artifact": {
            "bucket": stack.bucket,
            "key": f"models/{endpoint}/v2/model.tar.gz",
            "version_id": "1",
            "size": 10,
            "sha256": "ab" * 32,
            "files": 2,
        },
        "config": config.model_dump(mode="json"),
        "steps": config.strategy.traffic_steps(),
        "started_at": stack.aws.clock.now().isoformat(),
    }
    deployment = {
        "endpoint_name": endpoint,
        "first_deployment": True,
        "candidate_variant": "v2",
        "candidate_model": f"{endpoint}-v2",
        "canary_config": f"{endpoint}-v2-canary",
        "final_config": f"{endpoint}-v2",
        "expected": {"config_name": f"{endpoint}-v2", "weights": {"v2": 1.0}},
    }
    registration = {
        "group_name": endpoint,
        "package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{endpoint}/{package_version}",
        "package_version": package_version,
    }
    return {
        "rollout": rollout,
        "registration": registration,
        "deployment": deployment,
        "now": stack.aws.clock.now().isoformat(),
    }


def stamp(at: datetime) -> str:
    """CloudWatch's timestamp format in alarm events: 2019-10-02T17:04:40.989+0000."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def alarm_event(alarm: dict[str, Any], state: str, previous: str, at: datetime, value: float = 2.0) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event for a metric alarm as described by DescribeAlarms, in the shape
    of CloudWatch's documented samples ("Alarm events and EventBridge")."""
    comparison = "was greater than" if state == "ALARM" else "was not greater than"
    metric = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
        "metricStat": {
            "metric": {
                "namespace": alarm["Namespace"],
                "name": alarm["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
            },
            "period": alarm["Period"],
            "stat": alarm["Statistic"],
        },
        "returnData": True,
    }

    def described(value_: str, when: datetime) -> dict[str, Any]:
        reason_data = {
            "version": "1.0",
            "queryDate": stamp(when),
            "startDate": stamp(when - timedelta(seconds=alarm["Period"])),
            "statistic": alarm["Statistic"],
            "period": alarm["Period"],
            "recentDatapoints": [value],
            "threshold": alarm["Threshold"],
            "evaluatedDatapoints": [
                {"timestamp": stamp(when - timedelta(seconds=alarm["Period"])), "sampleCount": 1.0, "value": value}
            ],
        }
        return {
            "value": value_,
            "reason": f"Threshold Crossed: 1 out of the last 1 datapoints [{value}] {comparison} the threshold "
            f"({alarm['Threshold']}) (minimum 1 datapoint for {previous} -> {state} transition).",
            "reasonData": json.dumps(reason_data),
            "timestamp": stamp(when),
        }

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [alarm["AlarmArn"]],
        "detail": {
            "alarmName": alarm["AlarmName"],
            "state": described(state, at),
            "previousState": described(previous, at - timedelta(hours=2)),
            "configuration": {"description": alarm["AlarmDescription"], "metrics": [metric]},
        },
    }


def attached_alarm(stack: Any, handler: Any, endpoint: str, feature: str, **monitoring: Any) -> dict[str, Any]:
    """Attach builtin monitoring to `endpoint` and return the feature's alarm as DescribeAlarms has it."""
    result = handler("attach_monitoring")(attach_request(stack, endpoint, **monitoring))
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNames=result["alarms"])["MetricAlarms"]
    [alarm] = [a for a in alarms if a["AlarmName"].endswith(f".drift.{feature}")]
    return alarm


def memory(stack: Any, alarm: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        stack.client("dynamodb")
        .get_item(TableName=stack.state_table, Key={"id": {"S": f"alarm#{alarm}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def test_drift_alarms_reach_operators_once_per_episode_with_the_published_evidence(
    stack: Any, handler: Any, endpoint: str
) -> None:
    alarm = attached_alarm(stack, handler, endpoint, "amount", cooldown_minutes=60)
    # The run the schedule makes: its real payload, at a scheduled time, over real capture.
    schedule = stack.client("scheduler").get_schedule(Name=f"{endpoint}-drift", GroupName=stack.schedule_group)
    end = window_end(stack)
    spread_window(stack, endpoint, end, variants=("v2", "v3"))
    payload = json.loads(schedule["Target"]["Input"])
    run = handler("detect_drift")({**payload, "scheduled_time": (end + CAPTURE_GRACE).isoformat()})
    assert "amount" in run["drifted"]
    report = read_report(stack, run["report_uri"])
    amount = next(f for f in report["features"] if f["feature"] == "amount")
    relay = handler("relay_alert")
    name = alarm["AlarmName"]

    first = alarm_event(alarm, "ALARM", "OK", end + timedelta(minutes=3), amount["score"])
    assert relay(first)["outcome"] == "reported"
    [detected] = alerts(stack)
    assert detected["schema_version"] == "1"
    assert (detected["event"], detected["severity"]) == ("drift_detected", "warning")
    assert (detected["model"], detected["version"], detected["endpoint"], detected["deployment_id"]) == (
        endpoint,
        "v2",
        endpoint,
        f"{endpoint}-abc",
    )
    assert detected["occurred_at"] == (end + timedelta(minutes=3)).isoformat()
    assert detected["reason"] == (
        f"Feature amount of endpoint {endpoint} drifted from its training baseline: PSI 8.37 is above 0.2."
    )
    assert detected["subject"] == f"[mlrollout] {endpoint} version v2 input drifted on {endpoint}"
    evidence = {e["name"]: (e["value"], e["limit"]) for e in detected["evidence"]}
    values = amount["values"]
    assert evidence == {
        # What the run published to CloudWatch, read back from there (3 significant digits).
        "PSI of amount": (f"{values['PSI']:.3g}", "0.2"),
        "KS distance of amount": (f"{values['KSDistance']:.3g}", None),
        "JS distance of amount": (f"{values['JSDistance']:.3g}", None),
        "missing rate of amount": ("0", None),
        "wrong-type rate of amount": ("0", None),
        "drift score of amount": (f"{amount['score']:.3g}", "1"),
        "alarm": (name, None),
    }
    assert evidence["PSI of amount"][0] == "8.37"
    assert detected["links"] == {
        "endpoint": f"https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/endpoints/{endpoint}",
        "alarm": f"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/{name}",
    }

    # The same event delivered twice, then the alarm firing again within its 60-minute cooldown: quiet.
    assert relay(first)["outcome"].startswith("quiet: reported 0 min ago")
    assert relay(alarm_event(alarm, "ALARM", "INSUFFICIENT_DATA", end + timedelta(minutes=50)))["outcome"] == (
        "quiet: reported 47 min ago (cooldown 60 min)"
    )
    assert relay(alarm_event(alarm, "INSUFFICIENT_DATA", "ALARM", end + timedelta(minutes=55)))["outcome"] == (
        "quiet: INSUFFICIENT_DATA is not news"
    )
    assert alerts(stack) == []
    # After the cooldown a firing is news again.
    assert relay(alarm_event(alarm, "ALARM", "INSUFFICIENT_DATA", end + timedelta(minutes=64)))["outcome"] == "reported"
    [again] = alerts(stack)
    assert again["event"] == "drift_detected"

    # Recovery: said once.
    assert relay(alarm_event(alarm, "OK", "ALARM", end + timedelta(minutes=70), 0.5))["outcome"] == "reported"
    [resolved] = alerts(stack)
    assert (resolved["event"], resolved["severity"]) == ("drift_resolved", "info")
    assert resolved["reason"] == f"Feature amount of endpoint {endpoint} is back within its baseline."
    assert relay(alarm_event(alarm, "OK", "ALARM", end + timedelta(minutes=71), 0.5))["outcome"] == (
        "quiet: no drift alert to resolve"
    )
    # A flap: drifting again 10 minutes after the reported recovery, within the cooldown of the last report, is
    # not paged; operators' last word stays "recovered", so its return to OK is not news either.
    assert relay(alarm_event(alarm, "ALARM", "OK", end + timedelta(minutes=80)))["outcome"].startswith(
        "quiet: reported"
    )
    assert relay(alarm_event(alarm, "OK", "ALARM", end + timedelta(minutes=85), 0.5))["outcome"] == (
        "quiet: no drift alert to resolve"
    )
    assert alerts(stack) == []
    remembered = memory(stack, name)
    assert remembered is not None
    assert (remembered["reported_state"]["S"], remembered["version"]["N"]) == ("OK", "3")
    assert int(remembered["expiration"]["N"]) > (end + timedelta(days=29)).timestamp()

    # Each alarm has its own memory; a categorical feature's evidence gives the JS limit, not the PSI one.
    [country] = stack.client("cloudwatch").describe_alarms(AlarmNames=[name.replace(".amount", ".country")])[
        "MetricAlarms"
    ]
    assert relay(alarm_event(country, "ALARM", "OK", end + timedelta(minutes=4)))["outcome"] == "reported"
    [categorical] = alerts(stack)
    limits = {e["name"]: (e["value"], e["limit"]) for e in categorical["evidence"]}
    assert limits["JS distance of country"] == ("0.395", "0.1")
    assert limits["PSI of country"][1] is None
    assert "KS distance of country" not in limits


def wait_for(condition: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_quiet_window_keeps_the_alarm_state_and_the_relay_speaks_the_emulators_events(
    stack: Any, handler: Any, endpoint: str
) -> None:
    """CloudWatch (the emulator's alarm evaluation on sandbox time) decides; EventBridge carries its events."""
    alarm = attached_alarm(stack, handler, endpoint, "@schema", schedule="rate(5 minutes)")
    name = alarm["AlarmName"]
    assert (alarm["Period"], alarm["TreatMissingData"]) == (300, "ignore")
    events, sqs = stack.client("events"), stack.client("sqs")
    queue = sqs.create_queue(QueueName=f"alarms-{endpoint}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # EventBridge sends to a queue through the queue's policy (the sandbox enforces IAM).
    send = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
    policy = {"Version": "2012-10-17", "Statement": [{**send, "Resource": queue_arn}]}
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    pattern = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    events.put_rule(Name=f"alarms-{endpoint}", EventPattern=json.dumps({**pattern, "detail": {"alarmName": [name]}}))
    events.put_targets(Rule=f"alarms-{endpoint}", Targets=[{"Id": "inbox", "Arn": queue_arn}])
    cw = stack.client("cloudwatch")
    clock = stack.aws.clock
    payload = json.loads(
        stack.client("scheduler").get_schedule(Name=f"{endpoint}-drift", GroupName=stack.schedule_group)["Target"][
            "Input"
        ]
    )

    def run(records: list[dict[str, object]]) -> datetime:
        """A run for the next five-minute window ending 10 sandbox minutes ahead: however long the handler
        takes (the sandbox runs 1000 times faster than the wall clock), its datapoint is published before or
        soon after its timestamp, while the alarm's evaluation range still covers it."""
        ahead = clock.now() + timedelta(minutes=10)
        end = ahead.replace(minute=ahead.minute // 5 * 5, second=0, microsecond=0)
        lines = [capture_line(r, end - timedelta(minutes=4, seconds=-i)) for i, r in enumerate(records)]
        if lines:
            put_capture(stack, endpoint, "v2", end - timedelta(minutes=4), f"{end:%H%M}.jsonl", lines)
        result = handler("detect_drift")({**payload, "scheduled_time": (end + CAPTURE_GRACE).isoformat()})
        assert result["records"] == len(records)
        return end

    def state() -> str:
        return str(cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"])

    # A window with a new field: SchemaViolations 1, the alarm fires.
    run(WINDOW_RECORDS)
    wait_for(lambda: state() == "ALARM", "the schema alarm to fire")
    # A window without traffic publishes Records 0 and nothing to judge: the alarm stays where it is, also
    # once the quiet window's datapoint time is long past (a SchemaViolations 0 there would have made it OK).
    quiet = run([])
    wait_for(lambda: clock.now() > quiet + timedelta(minutes=20), "the quiet window to be evaluated")
    assert state() == "ALARM"
    # Traffic that matches the schema again: SchemaViolations 0, the alarm recovers.
    run([{k: v for k, v in r.items() if k != "channel"} for r in WINDOW_RECORDS])
    wait_for(lambda: state() == "OK", "the schema alarm to recover")

    delivered: list[dict[str, Any]] = []

    def both() -> bool:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            delivered.append(json.loads(message["Body"]))
        return len(delivered) >= 2

    wait_for(both, "two state change events")
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in delivered] == [
        ("INSUFFICIENT_DATA", "ALARM"),
        ("ALARM", "OK"),
    ]
    relay = handler("relay_alert")
    assert [relay(e)["outcome"] for e in delivered] == ["reported", "reported"]
    drifted, resolved = alerts(stack)
    assert (drifted["event"], resolved["event"]) == ("drift_detected", "drift_resolved")
    assert drifted["evidence"][0] == {"name": "schema violations", "value": "1", "limit": "0"}


def test_the_schema_alarm_reports_the_violations_and_records(stack: Any, handler: Any, endpoint: str) -> None:
    alarm = attached_alarm(stack, handler, endpoint, "@schema")
    end = window_end(stack)
    spread_window(stack, endpoint, end, variants=("v2", "v3"))
    payload = json.loads(
        stack.client("scheduler").get_schedule(Name=f"{endpoint}-drift", GroupName=stack.schedule_group)["Target"][
            "Input"
        ]
    )
    handler("detect_drift")({**payload, "scheduled_time": (end + CAPTURE_GRACE).isoformat()})

    assert handler("relay_alert")(alarm_event(alarm, "ALARM", "OK", end + timedelta(minutes=2), 1))["outcome"] == (
        "reported"
    )
    [alert] = alerts(stack)
    assert alert["reason"].startswith(f"Live requests to endpoint {endpoint} no longer match the baseline's schema")
    assert [(e["name"], e["value"], e["limit"]) for e in alert["evidence"]] == [
        ("schema violations", "1", "0"),
        ("records in the window", "8", None),
        ("alarm", alarm["AlarmName"], None),
    ]


def test_alarms_that_are_not_ours_are_ignored(stack: Any, handler: Any, endpoint: str) -> None:
    alarm = attached_alarm(stack, handler, endpoint, "amount")
    at = window_end(stack)
    foreign = alarm_event({**alarm, "AlarmName": "ServerCpuTooHigh", "AlarmDescription": "CPU high"}, "ALARM", "OK", at)
    undescribed = alarm_event(alarm, "ALARM", "OK", at)
    del undescribed["detail"]["configuration"]["description"]
    other_marker = alarm_event({**alarm, "AlarmDescription": json.dumps({"mlrollout": "latency"})}, "ALARM", "OK", at)
    relay = handler("relay_alert")
    for event in (foreign, undescribed, other_marker):
        assert relay(event)["outcome"] == "ignored: not an mlrollout drift alarm"
    assert alerts(stack) == []
    assert memory(stack, "ServerCpuTooHigh") is None
    assert memory(stack, alarm["AlarmName"]) is None


def test_a_failed_publish_is_raised_and_forgotten_so_the_retry_reports_once(
    stack: Any, handler: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alarm = attached_alarm(stack, handler, endpoint, "country")
    at = window_end(stack)
    relay = handler("relay_alert")
    missing_topic = stack.topic_arn.rsplit(":", 1)[0] + ":no-such-topic"
    drifted = alarm_event(alarm, "ALARM", "OK", at)

    monkeypatch.setenv("ALERTS_TOPIC_ARN", missing_topic)
    with pytest.raises(ClientError, match="NotFound"):
        relay(drifted)
    assert memory(stack, alarm["AlarmName"]) is None  # the first report's memory is undone entirely
    monkeypatch.setenv("ALERTS_TOPIC_ARN", stack.topic_arn)
    assert relay(drifted)["outcome"] == "reported"  # EventBridge's retry
    assert [a["event"] for a in alerts(stack)] == ["drift_detected"]
    before = memory(stack, alarm["AlarmName"])

    # A later report that fails restores what was remembered before it, expiry included.
    recovered = alarm_event(alarm, "OK", "ALARM", at + timedelta(minutes=30), 0.1)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", missing_topic)
    with pytest.raises(ClientError, match="NotFound"):
        relay(recovered)
    assert memory(stack, alarm["AlarmName"]) == before
    monkeypatch.setenv("ALERTS_TOPIC_ARN", stack.topic_arn)
    assert relay(recovered)["outcome"] == "reported"
    assert relay(recovered)["outcome"] == "quiet: no drift alert to resolve"
    assert [a["event"] for a in alerts(stack)] == ["drift_resolved"]


# -------------------------------------------------------------------------------- Model Monitor violations


def processing_job_event(
    endpoint: str, schedule: str, at: datetime, *, status: str = "Completed", exit_message: str | None = None
) -> dict[str, Any]:
    """ "SageMaker Processing Job State Change" of a Model Monitor run (the DescribeProcessingJob shape)."""
    job = f"model-monitoring-{at:%Y%m%d%H%M}-{uuid.uuid4().hex[:8]}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Processing Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{job}"],
        "detail": {
            "ProcessingJobName": job,
            "ProcessingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/{job}",
            "ProcessingJobStatus": status,
            "ExitMessage": exit_message
            if exit_message is not None
            else "CompletedWithViolations: Job completed successfully with 3 violations.",
            "Environment": {
                "dataset_format": '{"sagemakerCaptureJson":{"captureIndexNames":["endpointInput"]}}',
                "dataset_source": "/opt/ml/processing/input/endpoint",
                "output_path": "/opt/ml/processing/resultdata",
                "publish_cloudwatch_metrics": "Enabled",
                "sagemaker_endpoint_name": endpoint,
                "sagemaker_monitoring_schedule_name": schedule,
            },
            "MonitoringScheduleArn": f"arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/{schedule}",
            "RoleArn": "arn:aws:iam::123456789012:role/sagemaker",
            "CreationTime": int(at.timestamp() * 1000),
            "LastModifiedTime": int(at.timestamp() * 1000),
        },
    }


def monitoring_schedule(stack: Any, endpoint: str, schedule: str, owner: str | None) -> None:
    """A data-quality schedule as Attach Monitoring leaves it (tagged with its stack), or another team's (untagged)."""
    tags = [{"Key": "mlrollout:endpoint", "Value": endpoint}]
    if owner is not None:
        tags.append({"Key": "mlrollout:stack", "Value": owner})
    stack.client("sagemaker").create_monitoring_schedule(
        MonitoringScheduleName=schedule,
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
            "MonitoringType": "DataQuality",
            "MonitoringJobDefinition": {
                "MonitoringInputs": [
                    {"EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input/endpoint"}}
                ],
                "MonitoringOutputConfig": {
                    "MonitoringOutputs": [
                        {
                            "S3Output": {
                                "S3Uri": f"s3://{stack.bucket}/monitoring/{endpoint}",
                                "LocalPath": "/opt/ml/processing/output",
                            }
                        }
                    ]
                },
                "MonitoringResources": {
                    "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}
                },
                "MonitoringAppSpecification": {"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/analyzer"},
                "RoleArn": stack.role_arn,
            },
        },
        Tags=tags,
    )


def test_model_monitor_violations_are_reported_once_per_schedule_per_cooldown(
    stack: Any, handler: Any, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIOLATIONS_COOLDOWN_MINUTES", "60")
    relay = handler("relay_alert")
    schedule = f"{endpoint}-data-quality"
    monitoring_schedule(stack, endpoint, schedule, os.environ["STACK_NAME"])
    monitoring_schedule(stack, f"{endpoint}-b", f"{endpoint}-b-data-quality", os.environ["STACK_NAME"])
    at = window_end(stack)

    assert relay(processing_job_event(endpoint, schedule, at))["outcome"] == "reported"
    [alert] = alerts(stack)
    assert (alert["event"], alert["severity"], alert["endpoint"]) == ("drift_detected", "warning", endpoint)
    assert alert["reason"] == f"Model Monitor's data-quality run on endpoint {endpoint} found 3 constraint violations."
    assert [(e["name"], e["value"]) for e in alert["evidence"]] == [
        ("monitoring schedule", schedule),
        ("job result", "CompletedWithViolations: Job completed successfully with 3 violations."),
    ]
    assert alert["schema_version"] == "1"

    # The next hourly run finds them again: quiet within the cooldown, news after it.
    assert relay(processing_job_event(endpoint, schedule, at + timedelta(minutes=59)))["outcome"].startswith("quiet")
    assert alerts(stack) == []
    assert relay(processing_job_event(endpoint, schedule, at + timedelta(minutes=61)))["outcome"] == "reported"
    assert len(alerts(stack)) == 1
    # Each schedule has its own cooldown.
    other = f"{endpoint}-b-data-quality"
    assert relay(processing_job_event(f"{endpoint}-b", other, at + timedelta(minutes=62)))["outcome"] == "reported"
    assert [a["endpoint"] for a in alerts(stack)] == [f"{endpoint}-b"]


@pytest.mark.parametrize(
    ("status", "exit_message"),
    [
        ("Completed", "Completed: Job completed successfully with no violations."),
        ("Failed", "Algorithm Error: (caused by ValueError)"),
        ("Stopped", ""),
    ],
)
def test_monitoring_runs_without_violations_are_ignored(
    stack: Any, handler: Any, endpoint: str, status: str, exit_message: str
) -> None:
    event = processing_job_event(
        endpoint, f"{endpoint}-data-quality", window_end(stack), status=status, exit_message=exit_message
    )
    assert handler("relay_alert")(event)["outcome"] == "ignored: not a monitoring run with violations"
    assert alerts(stack) == []


@pytest.mark.parametrize("owner", [None, "another-stack"], ids=["untagged", "another-stack"])
def test_violations_of_schedules_this_stack_did_not_create_are_not_reported(
    stack: Any, handler: Any, endpoint: str, owner: str | None
) -> None:
    # The rule sees every data-quality run in the account; other teams' schedules (and another mlrollout stack's)
    # are not this stack's operators' business. A schedule already deleted has no tags to show.
    schedule = f"{endpoint}-data-quality"
    monitoring_schedule(stack, endpoint, schedule, owner)
    relay = handler("relay_alert")
    outcome = relay(processing_job_event(endpoint, schedule, window_end(stack)))["outcome"]
    assert outcome == f"ignored: schedule {schedule} is not one of stack {os.environ['STACK_NAME']}'s"
    gone = relay(processing_job_event(endpoint, f"{endpoint}-gone-data-quality", window_end(stack)))["outcome"]
    assert gone.startswith("ignored: schedule ")
    assert alerts(stack) == []


def test_a_violations_event_without_the_schedule_arn_is_matched_by_the_schedule_name(
    stack: Any, handler: Any, endpoint: str
) -> None:
    # DescribeProcessingJob shows MonitoringScheduleArn, but no AWS page shows it in the EventBridge event: the
    # relay also finds the schedule from the name Model Monitor passes its container.
    schedule = f"{endpoint}-data-quality"
    monitoring_schedule(stack, endpoint, schedule, os.environ["STACK_NAME"])
    event = processing_job_event(endpoint, schedule, window_end(stack))
    del event["detail"]["MonitoringScheduleArn"]
    assert handler("relay_alert")(event)["outcome"] == "reported"
    [alert] = alerts(stack)
    assert alert["endpoint"] == endpoint


# ------------------------------------------------------------------------------------------ Detach Monitoring


def endpoint_state_change(endpoint: str, status: str, at: datetime) -> dict[str, Any]:
    """ "SageMaker Endpoint State Change" as EventBridge delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker Endpoint State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{endpoint}"],
        "detail": {
            "EndpointName": endpoint,
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{endpoint}",
            "EndpointConfigName": f"{endpoint}-v2",
            "EndpointStatus": status,
            "CreationTime": int(at.timestamp() * 1000),
            "LastModifiedTime": int(at.timestamp() * 1000),
            "Tags": {},
        },
    }


def create_endpoint(stack: Any, endpoint: str) -> None:
    sm = stack.client("sagemaker")
    sm.create_model(ModelName=f"{endpoint}-m", PrimaryContainer={"Image": IMAGE}, ExecutionRoleArn=stack.role_arn)
    sm.create_endpoint_config(
        EndpointConfigName=f"{endpoint}-v2",
        ProductionVariants=[
            {
                "VariantName": "v2",
                "ModelName": f"{endpoint}-m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"{endpoint}-v2")


def data_quality_job(stack: Any, name: str, endpoint: str) -> None:
    """A data-quality job definition for the endpoint, created outside mlrollout's attach."""
    from mlrollout.adapters.monitoring import SageMakerMonitoring
    from mlrollout.ports import DataQualityJob

    SageMakerMonitoring(stack.client("sagemaker")).create_data_quality_job(
        DataQualityJob(
            name=name,
            endpoint=endpoint,
            image_uri="156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer",
            role_arn=stack.role_arn,
            statistics_uri=f"s3://{stack.bucket}/baselines/{endpoint}/statistics.json",
            constraints_uri=f"s3://{stack.bucket}/baselines/{endpoint}/constraints.json",
            output_uri=f"s3://{stack.bucket}/monitoring/{endpoint}",
            instance_type="ml.m5.large",
            max_runtime_seconds=1800,
            tags={},
        )
    )


def job_definitions_of(stack: Any, endpoint: str) -> list[str]:
    """The data-quality job definitions whose input is the endpoint, read from each definition itself (moto
    5.2.5 answers ListDataQualityJobDefinitions with every definition and EndpointName "EndpointName")."""
    sm = stack.client("sagemaker")
    names = [s["MonitoringJobDefinitionName"] for s in sm.list_data_quality_job_definitions()["JobDefinitionSummaries"]]
    return sorted(
        name
        for name in names
        if sm.describe_data_quality_job_definition(JobDefinitionName=name)["DataQualityJobInput"]["EndpointInput"][
            "EndpointName"
        ]
        == endpoint
    )


def monitoring_of(stack: Any, endpoint: str) -> dict[str, Any]:
    """The schedules and alarms that exist for the endpoint."""
    from mlrollout.domain.naming import drift_alarm_name

    scheduler = stack.client("scheduler")
    try:
        scheduler.get_schedule(Name=f"{endpoint}-drift", GroupName=stack.schedule_group)
        drift_schedule = True
    except scheduler.exceptions.ResourceNotFoundException:
        drift_schedule = False
    prefix = drift_alarm_name(os.environ["STACK_NAME"], endpoint, "")
    return {
        "drift schedule": drift_schedule,
        "monitoring schedules": [
            s["MonitoringScheduleName"]
            for s in stack.client("sagemaker").list_monitoring_schedules(EndpointName=endpoint)[
                "MonitoringScheduleSummaries"
            ]
        ],
        "alarms": sorted(
            a["AlarmName"] for a in stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
        ),
    }


def test_a_deleted_endpoint_loses_everything_monitoring_made_for_it_and_nothing_else(
    stack: Any, handler: Any, endpoint: str
) -> None:
    from mlrollout.domain.naming import monitoring_job_definition_name

    attach = handler("attach_monitoring")
    detach = handler("detach_monitoring")
    mm = {"backend": "model-monitor", "schedule": "cron(0 * ? * * *)"}
    # Endpoint one: builtin, then Model Monitor (which removes the builtin schedule and the schema alarm); an
    # earlier deployment's job definition whose deletion failed; the operator's own job definition.
    create_endpoint(stack, endpoint)
    attach(attach_request(stack, endpoint))
    attach(attach_request(stack, endpoint, package_version=3, **mm))
    leftover = monitoring_job_definition_name(endpoint, 1, "an-earlier-deployment")
    data_quality_job(stack, leftover, endpoint)
    operators = f"{endpoint}-nightly-quality"
    data_quality_job(stack, operators, endpoint)
    # Endpoint two, whose name extends the first: Model Monitor, then builtin. It must not notice the first go.
    neighbour = f"{endpoint}-2"
    create_endpoint(stack, neighbour)
    attach(attach_request(stack, neighbour, **mm))
    attach(attach_request(stack, neighbour))
    neighbour_before = monitoring_of(stack, neighbour)
    assert neighbour_before["drift schedule"]
    assert len(neighbour_before["alarms"]) == 4  # amount, country, hour, @schema
    assert job_definitions_of(stack, neighbour) == []  # the switch to builtin removed its Model Monitor job

    before = monitoring_of(stack, endpoint)
    assert (before["drift schedule"], before["monitoring schedules"]) == (False, [f"{endpoint}-data-quality"])
    assert len(before["alarms"]) == 3  # amount, country, hour: Model Monitor has no schema alarm
    ours = monitoring_job_definition_name(endpoint, 3, f"{endpoint}-abc")
    assert job_definitions_of(stack, endpoint) == sorted([ours, leftover, operators])

    at = stack.aws.clock.now()
    stack.client("sagemaker").delete_endpoint(EndpointName=endpoint)
    removed = detach(endpoint_state_change(endpoint, "DELETING", at))
    assert removed["endpoint"] == endpoint
    assert sorted(removed["removed"]) == sorted(
        [
            f"monitoring schedule {endpoint}-data-quality",
            f"job definition {ours}",
            f"job definition {leftover}",
            *(f"alarm {a}" for a in before["alarms"]),
        ]
    )
    assert monitoring_of(stack, endpoint) == {"drift schedule": False, "monitoring schedules": [], "alarms": []}
    assert job_definitions_of(stack, endpoint) == [operators]  # not ours: left alone
    assert monitoring_of(stack, neighbour) == neighbour_before
    # EventBridge delivers at least once: the second delivery finds nothing to do.
    assert detach(endpoint_state_change(endpoint, "DELETING", at)) == {"endpoint": endpoint, "removed": []}

    # Endpoint two goes too: its builtin schedule and all four alarms.
    removed = detach(endpoint_state_change(neighbour, "DELETING", at))
    assert sorted(removed["removed"]) == sorted(
        [f"schedule {neighbour}-drift", *(f"alarm {a}" for a in neighbour_before["alarms"])]
    )
    assert monitoring_of(stack, neighbour) == {"drift schedule": False, "monitoring schedules": [], "alarms": []}


def test_an_event_without_an_endpoint_is_logged_and_ignored(stack: Any, handler: Any) -> None:
    event = endpoint_state_change("x", "DELETING", stack.aws.clock.now())
    del event["detail"]["EndpointName"]
    assert handler("detach_monitoring")(event) == {"endpoint": None, "removed": []}
