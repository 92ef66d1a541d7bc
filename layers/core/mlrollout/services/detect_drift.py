"""Detect Drift (builtin backend): one scheduled window of captured traffic against the endpoint's baseline.

SageMaker writes capture files to <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl, the hour being
when the file was written. The run reads the files of every hour its window touches (and the hour before, whose
last file may hold the window's first records), keeps the records whose inferenceTime lies in the window, and
streams them line by line: a capture of any size costs constant memory. Malformed lines are counted, never
fatal. Metrics go to CloudWatch (the alarms read them); the full report goes to S3 for the record.

The window ends CAPTURE_GRACE before the scheduled time, and the run also reads the hour folders written up to
the scheduled time: SageMaker buffers captured records on the instance and writes them to S3 some time after the
requests (the documentation gives no bound), so a window ending at the tick would miss the records whose file
lands after it. Each window is [scheduled - period - grace, scheduled - grace): consecutive runs, a period apart,
tile time without a gap or an overlap, so no record is skipped or counted twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlrollout.contracts import DriftRunInput, DriftRunResult
from mlrollout.domain.drift import DriftAnalyzer
from mlrollout.domain.drift_metrics import COUNTS, NAMESPACE, Thresholds, WindowVerdict, judge_window
from mlrollout.ports import ArtifactStore, CaptureStore, MetricPublisher
from mlrollout.services.monitoring import load_baseline

HOUR = timedelta(hours=1)
# How long after a request its capture file may land in S3 and still be counted in its window. SageMaker writes
# capture files every few minutes in practice (no bound is documented); 10 minutes leaves a margin over that and
# delays a drift alarm by no more than a sixth of the default hourly period.
CAPTURE_GRACE = timedelta(minutes=10)


def window_of(request: DriftRunInput, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the records this run judges: one period, ending CAPTURE_GRACE before the scheduled time."""
    end = (request.scheduled_time or now).astimezone(UTC).replace(microsecond=0) - CAPTURE_GRACE
    return end - timedelta(seconds=request.period_seconds), end


def capture_keys(
    captures: CaptureStore, capture_uri: str, endpoint: str, start: datetime, written_before: datetime
) -> list[str]:
    """The capture files that can hold records from `start` on, written before `written_before` (the run's time:
    a file written after the window's end, within the grace, still holds records of the window)."""
    bucket, _, prefix = capture_uri.removeprefix("s3://").partition("/")
    root = "/".join(p for p in (prefix.strip("/"), endpoint) if p) + "/"
    hours: list[datetime] = []
    hour = (start - HOUR).replace(minute=0, second=0, microsecond=0)
    while hour < written_before:
        hours.append(hour)
        hour += HOUR
    keys: list[str] = []
    for variant in captures.folders(bucket, root):
        for moment in hours:
            keys.extend(k for k in captures.keys(bucket, f"{variant}{moment:%Y/%m/%d/%H}/") if k.endswith(".jsonl"))
    return keys


def detect_drift(
    request: DriftRunInput,
    *,
    artifacts: ArtifactStore,
    captures: CaptureStore,
    metrics: MetricPublisher,
    record_bucket: str,
    now: datetime,
) -> tuple[DriftRunResult, WindowVerdict]:
    baseline = load_baseline(
        artifacts,
        request.baseline_statistics,
        request.baseline_constraints,
        endpoint=request.endpoint,
        then=", then re-run the rollout",
    )
    start, end = window_of(request, now)
    bucket = request.capture_uri.removeprefix("s3://").partition("/")[0]
    keys = capture_keys(captures, request.capture_uri, request.endpoint, start, end + CAPTURE_GRACE)
    analyzer = DriftAnalyzer(baseline)
    for key in keys:
        analyzer.add_capture(captures.lines(bucket, key), window=(start, end))
    report = analyzer.report()
    thresholds = Thresholds(request.thresholds.psi, request.thresholds.js, request.thresholds.missing_rate)
    verdict = judge_window(report, baseline, thresholds, request.features, min_records=request.min_records)
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": end,
            "Value": value,
            "Unit": "Count" if name in COUNTS else "None",
        }
        for name, dimensions, value in verdict.datapoints(request.endpoint)
    ]
    requests = metrics.publish(NAMESPACE, data)
    record = {
        "endpoint": request.endpoint,
        "model": request.model_name,
        "version": request.version_label,
        "deployment_id": request.deployment_id,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "files": len(keys),
        "records": report.records,
        "malformed": report.malformed_lines,
        "malformed_reasons": dict(report.malformed_reasons),
        "features": [
            {
                "feature": f.feature,
                "kind": f.kind,
                "score": f.score,
                "crossed": list(f.crossed),
                "values": f.values,
                "limits": f.limits,
            }
            for f in verdict.features
        ],
        "violations": report.violations()["violations"],
        "statistics": report.statistics(),
    }
    key = f"monitoring/{request.endpoint}/builtin/{end:%Y/%m/%d/%H%M%S}/report.json"
    report_uri = artifacts.put_json(record_bucket, key, record)
    result = DriftRunResult(
        endpoint=request.endpoint,
        window_start=start,
        window_end=end,
        files=len(keys),
        records=report.records,
        malformed=report.malformed_lines,
        drifted=[f.feature for f in verdict.drifted],
        schema_violations=len(verdict.schema_violations),
        report_uri=report_uri,
        published=requests,
    )
    return result, verdict
