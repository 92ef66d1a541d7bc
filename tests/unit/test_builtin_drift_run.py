"""Detect Drift and Attach Monitoring (builtin backend) against in-memory S3 and CloudWatch that keep AWS's rules:
capture files in hour folders named by when they were written, and CloudWatch refusing a dimension value that is
not ASCII (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlrollout.contracts import (
    DriftRunInput,
    DriftThresholds,
    MonitoringInput,
    Registration,
)
from mlrollout.domain.config import RolloutConfig
from mlrollout.domain.drift import build_baseline
from mlrollout.domain.drift_metrics import dimension_value_problem, feature_dimension
from mlrollout.domain.errors import ConfigInvalid
from mlrollout.ports import DriftAlarm
from mlrollout.services.detect_drift import CAPTURE_GRACE, detect_drift
from mlrollout.services.monitoring import attach_monitoring
from mlrollout.settings import Settings
from support import IMAGE, a_deployment, a_rollout

BUCKET = "artifacts"
STATISTICS_URI = f"s3://{BUCKET}/baselines/ep/statistics.json"
CAPTURE_URI = f"s3://{BUCKET}/capture"  # the destination; SageMaker adds <endpoint>/<variant>/


class S3:
    """Objects by bucket and key: the ArtifactStore and CaptureStore ports over a dict."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put(self, uri: str, body: bytes) -> None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.objects[(bucket, key)] = body

    def read_json(self, uri: str) -> Any:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = self.objects.get((bucket, key))
        return None if body is None else json.loads(body)

    def put_json(self, bucket: str, key: str, document: Any) -> str:
        self.objects[(bucket, key)] = json.dumps(document, default=str).encode()
        return f"s3://{bucket}/{key}"

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def folders(self, bucket: str, prefix: str) -> list[str]:
        return sorted(
            {
                prefix + k[len(prefix) :].split("/")[0] + "/"
                for k in self.keys(bucket, prefix)
                if "/" in k[len(prefix) :]
            }
        )

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        yield from self.objects[(bucket, key)].splitlines()


class CloudWatch:
    """PutMetricData and PutMetricAlarm, refusing what CloudWatch refuses: a whole batch fails on one bad value."""

    def __init__(self) -> None:
        self.datapoints: list[dict[str, Any]] = []
        self.alarms: dict[str, DriftAlarm] = {}

    @staticmethod
    def _check(dimensions: dict[str, str]) -> None:
        for name, value in dimensions.items():
            if problem := dimension_value_problem(value):
                raise ValueError(f"InvalidParameterValue: dimension {name} value {value!r} {problem}")

    def publish(self, namespace: str, data: list[dict[str, Any]]) -> int:
        for point in data:
            self._check({d["Name"]: d["Value"] for d in point["Dimensions"]})
        self.datapoints += data
        return 1

    def put_drift_alarm(self, alarm: DriftAlarm) -> None:
        self._check(alarm.dimensions)
        self.alarms[alarm.name] = alarm

    def alarm_names(self, prefix: str) -> list[str]:
        return [name for name in self.alarms if name.startswith(prefix)]

    def delete_alarms(self, names: list[str]) -> None:
        for name in names:
            self.alarms.pop(name, None)


class Schedules:
    def __init__(self) -> None:
        self.schedules: dict[str, Any] = {}

    def upsert(self, schedule: Any) -> None:
        self.schedules[schedule.name] = schedule

    def delete(self, name: str, group: str) -> bool:
        return self.schedules.pop(name, None) is not None


class NoModelMonitor:
    def delete_schedule(self, name: str) -> bool:
        return False

    def job_definitions(self, endpoint: str) -> list[str]:
        return []


def capture(s3: S3, written: datetime, name: str, lines: list[str], variant: str = "v1") -> None:
    s3.put(f"{CAPTURE_URI}/ep/{variant}/{written:%Y/%m/%d/%H}/{name}", "\n".join(lines).encode())


def record(features: dict[str, Any], when: datetime) -> str:
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": json.dumps(features),
                    "encoding": "JSON",
                }
            },
            "eventMetadata": {"eventId": f"e{when:%H%M%S}", "inferenceTime": when.isoformat()},
            "eventVersion": "0",
        }
    )


def csv_record(row: str, when: datetime) -> str:
    section = {"observedContentType": "text/csv", "mode": "INPUT", "data": row, "encoding": "CSV"}
    return json.dumps(
        {
            "captureData": {"endpointInput": section},
            "eventMetadata": {"inferenceTime": when.isoformat()},
            "eventVersion": "0",
        }
    )


def put_baseline(s3: S3, rows: list[dict[str, Any]]) -> None:
    statistics, _ = build_baseline(rows)
    s3.put(STATISTICS_URI, json.dumps(statistics).encode())


def run_input(scheduled: datetime) -> DriftRunInput:
    return DriftRunInput(
        endpoint="ep",
        model_name="ep",
        version_label="v2",
        deployment_id="d",
        baseline_statistics=STATISTICS_URI,
        capture_uri=CAPTURE_URI,
        period_seconds=3600,
        thresholds=DriftThresholds(psi=0.2, js=0.1, missing_rate=0.05),
        min_records=1,
        scheduled_time=scheduled,
    )


def run(s3: S3, cloudwatch: CloudWatch, scheduled: datetime) -> Any:
    result, _ = detect_drift(
        run_input(scheduled), artifacts=s3, captures=s3, metrics=cloudwatch, record_bucket=BUCKET, now=scheduled
    )
    return result


TICK = datetime(2030, 1, 15, 13, tzinfo=UTC)


def test_a_non_ascii_feature_is_published_and_alarmed_under_one_ascii_dimension() -> None:
    s3, cloudwatch = S3(), CloudWatch()
    put_baseline(s3, [{"température": 20.0 + i % 5, "ville": "Paris"} for i in range(50)])
    capture(
        s3,
        TICK - timedelta(minutes=30),
        "a.jsonl",
        [record({"température": 21.0, "ville": "Lyon"}, TICK - timedelta(minutes=30))],
    )
    result = run(s3, cloudwatch, TICK)
    assert result.records == 1
    published = {d["Value"] for p in cloudwatch.datapoints for d in p["Dimensions"] if d["Name"] == "Feature"}
    assert published == {feature_dimension("température"), "ville"}

    config = RolloutConfig.model_validate({"image": IMAGE, "monitoring": {"baseline_statistics": STATISTICS_URI}})
    attach_monitoring(
        monitoring_input(config),
        monitoring=NoModelMonitor(),  # type: ignore[arg-type]
        schedules=Schedules(),  # type: ignore[arg-type]
        alarms=cloudwatch,
        artifacts=s3,  # type: ignore[arg-type]
        settings=Settings(
            artifact_bucket=BUCKET,
            schedule_group="g",
            drift_function_arn="arn:aws:lambda:us-east-1:123456789012:function:drift",
            scheduler_role_arn="arn:aws:iam::123456789012:role/scheduler",
        ),
        region="us-east-1",
    )
    alarmed = {a.dimensions["Feature"] for a in cloudwatch.alarms.values() if "Feature" in a.dimensions}
    assert alarmed == published  # the alarms watch exactly the metrics the runs publish


def test_the_feature_dimension_is_readable_deterministic_and_keeps_names_apart() -> None:
    assert feature_dimension("amount") == "amount"  # ASCII names are unchanged: existing metrics keep their identity
    folded = feature_dimension("température")
    assert folded.startswith("temperature~") and folded.isascii() and folded == feature_dimension("température")
    # NFC and NFD spellings, and names that fold to the same ASCII, stay distinct
    assert len({feature_dimension(n) for n in ("température", "tempe\u0301rature", "temperatüre", "temperature")}) == 4
    for name in ("日本", " ", "\t", "a\x00b", "x" * 2000):
        assert dimension_value_problem(feature_dimension(name)) is None


def test_features_whose_dimensions_would_clash_are_refused_at_validation() -> None:
    s3 = S3()
    clash = feature_dimension("température")  # a feature literally named like another's dimension value
    put_baseline(s3, [{"température": 1.0, clash: 2.0}])
    config = RolloutConfig.model_validate({"image": IMAGE, "monitoring": {"baseline_statistics": STATISTICS_URI}})
    from mlrollout.services.monitoring import read_monitoring_baseline

    assert config.monitoring is not None
    with pytest.raises(ConfigInvalid, match="CloudWatch dimension values would be the same"):
        read_monitoring_baseline(config.monitoring, s3)  # type: ignore[arg-type]


def test_csv_capture_of_a_text_csv_model_is_judged_not_malformed() -> None:
    s3, cloudwatch = S3(), CloudWatch()
    put_baseline(s3, [{"amount": float(i % 10), "merchant": "m1" if i % 2 else "m2"} for i in range(40)])
    when = TICK - timedelta(minutes=40)
    capture(s3, when, "a.jsonl", [csv_record(f"{i % 10},m{1 + i % 2}", when) for i in range(20)])
    result = run(s3, cloudwatch, TICK)
    assert (result.records, result.malformed) == (20, 0)
    assert {d["Value"] for p in cloudwatch.datapoints for d in p["Dimensions"] if d["Name"] == "Feature"} == {
        "amount",
        "merchant",
    }


def test_records_whose_file_lands_after_the_tick_are_counted_once_by_the_window_they_belong_to() -> None:
    s3, cloudwatch = S3(), CloudWatch()
    put_baseline(s3, [{"x": float(i)} for i in range(10)])
    # requests at each minute from 11:40 to 13:59; each file holds a minute of them and is written 3 minutes later
    # (files written after 13:00 hold records from before it)
    start = TICK - timedelta(minutes=80)
    for minute in range(140):
        at = start + timedelta(minutes=minute)
        capture(s3, at + timedelta(minutes=3), f"{minute:03d}.jsonl", [record({"x": 1.0}, at)])
    windows = []
    total = 0
    for tick in (TICK, TICK + timedelta(hours=1)):
        written = {k for k in list(s3.objects) if k[1].startswith("capture/")}
        visible = S3()  # what S3 holds at the tick: only the files written by then
        visible.objects = {k: v for k, v in s3.objects.items() if k not in written or _written_at(k[1]) <= tick}
        result = run(visible, cloudwatch, tick)
        windows.append((result.window_start, result.window_end))
        total += result.records
    assert windows[0][1] == TICK - CAPTURE_GRACE and windows[1][0] == windows[0][1]  # contiguous
    # every request of both windows was counted exactly once: 60 per window, the files landing after each tick
    # (written up to 3 minutes late) included
    assert total == 120


def _written_at(key: str) -> datetime:
    # capture/ep/v1/yyyy/mm/dd/hh/NNN.jsonl: the file of minute NNN after TICK - 80 min, written 3 minutes later
    minute = int(key.rsplit("/", 1)[1].split(".", maxsplit=1)[0])
    return TICK - timedelta(minutes=80) + timedelta(minutes=minute + 3)


def monitoring_input(config: RolloutConfig) -> MonitoringInput:
    rollout, deployment = a_rollout(config, bucket=BUCKET), a_deployment(first=True)
    now = rollout.started_at
    registration = Registration(
        group_name="ep", package_arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/ep/1", package_version=1
    )
    return MonitoringInput(rollout=rollout, registration=registration, deployment=deployment, now=now)
