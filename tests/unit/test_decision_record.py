"""The decision record (issue 14): one typed model, `contracts.DecisionRecord`, for what Judge Canary writes to S3
and `mlrollout replay` and `mlrollout cost` read back, and one judge step, `domain.judge.judge_look`, that the look
and its replay both run. Service tests on the in-memory Metrics port (tests/fakes.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes import FakeMetrics
from mlrollout.adapters.metrics import series_from_columns
from mlrollout.contracts import DecisionRecord, Expectation, JudgeInput, RecordedBound
from mlrollout.domain.config import Judge, RolloutConfig
from mlrollout.domain.judge import Judgement, Period, judge_look
from mlrollout.services.evaluate import evaluate_canary
from mlrollout_cli.errors import CliError
from mlrollout_cli.replay import read_record
from support import IMAGE, a_deployment, a_rollout

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 25, 12, 0, 20, tzinfo=UTC)

# A record as the code before the model wrote it (a dict built key by key in services/evaluate.py): the first look
# of a canary step at 10%, five complete minutes in.
PREVIOUS_SHAPE: dict[str, Any] = {
    "schema_version": "1",
    "deployment_id": "d",
    "endpoint": "ep",
    "baseline_variant": "v1",
    "canary_variant": "v2",
    "step_index": 0,
    "shadow": False,
    "against_history": False,
    "weight": 10.0,
    "look": 1,
    "now": "2026-11-25T12:06:20+00:00",
    "window": {"start": "2026-11-25T12:01:00+00:00", "end": "2026-11-25T12:06:00+00:00"},
    "thresholds": {
        "min_requests": 200,
        "min_periods": 3,
        "max_error_rate": 0.05,
        "max_p99_latency_ms": 2000.0,
        "max_error_rate_ratio": 1.25,
        "max_error_rate_increase": 0.002,
        "max_latency_increase": 0.25,
        "include_4xx": False,
        "confidence": 0.99,
        "pass_confidence": 0.95,
        "regression_multiple": 2.0,
        "extra_metrics": [],
        "rollback_alarms": [],
    },
    "design_periods": 20,
    "deadline_minutes": 40.0,
    "queries": [],
    "timestamps": [
        "2026-11-25T12:01:00+00:00",
        "2026-11-25T12:02:00+00:00",
        "2026-11-25T12:03:00+00:00",
        "2026-11-25T12:04:00+00:00",
        "2026-11-25T12:05:00+00:00",
    ],
    "raw": {
        "v1": {
            "inv": [500.0, 500.0, 500.0, 500.0, 500.0],
            "e5": [1.0, 1.0, 1.0, 2.0, 0.0],
            "e4": [0.0, 0.0, 0.0, 0.0, 0.0],
            "p99": [38.74, 41.6, 38.82, 41.49, 41.46],
            "avg": [19.63, 19.55, 20.13, 20.56, 19.43],
            "ovh": [None, None, None, None, None],
        },
        "v2": {
            "inv": [500.0, 500.0, 500.0, 500.0, 500.0],
            "e5": [0.0, 4.0, 1.0, 1.0, 0.0],
            "e4": [0.0, 0.0, 0.0, 0.0, 0.0],
            "p99": [41.91, 41.29, 38.94, 38.9, 41.06],
            "avg": [19.89, 20.26, 19.61, 19.45, 19.85],
            "ovh": [None, None, None, None, None],
        },
    },
    "verdict": "INCONCLUSIVE",
    "action": "continue",
    "reason": "Canary v2 is not worse so far (0.24% vs 0.20% errors over 2500 and 2500 requests) but the evidence "
    "does not yet rule out a regression: 5XX error rate over 1.25x the current variant's.",
    "judge_reason": "Canary v2 is not worse so far (0.24% vs 0.20% errors over 2500 and 2500 requests) but the "
    "evidence does not yet rule out a regression: 5XX error rate over 1.25x the current variant's.",
    "checks": [
        {
            "name": "error_rate_cap",
            "canary": 0.0024,
            "baseline": 0.002,
            "limit": 0.05,
            "outcome": "pass",
            "detail": "anytime bounds [0.00%, 0.64%]",
            "unit": "percent",
            "measure": "5XX error rate (cap)",
        },
        {
            "name": "p99_latency_cap",
            "canary": 41.06,
            "baseline": 41.46,
            "limit": 2000.0,
            "outcome": "pass",
            "detail": "ModelLatency p99 (ms), latest period",
            "unit": "ms",
            "measure": "ModelLatency p99 in the latest minute (cap)",
        },
        {
            "name": "errors",
            "canary": -0.00010000000000000014,
            "baseline": None,
            "limit": 0.002,
            "outcome": "inconclusive",
            "detail": "5XX error rate over 1.25x the current variant's: harm bound -0.0060 (tolerance 0.0020), "
            "promotion bound 0.0054 (regression 0.0045)",
            "unit": "points",
            "measure": "5XX error rate over 1.25x the current variant's",
        },
        {
            "name": "latency_p99",
            "canary": 2.1103930975749363e-05,
            "baseline": None,
            "limit": 0.22314355131420976,
            "outcome": "pass",
            "detail": "ModelLatency p99 against the current variant's: upper bound 0.1070 <= 0.4055 (regression)",
            "unit": "relative",
            "measure": "ModelLatency p99 against the current variant's",
        },
        {
            "name": "latency_mean",
            "canary": -0.0022909858510859566,
            "baseline": None,
            "limit": 0.22314355131420976,
            "outcome": "pass",
            "detail": "ModelLatency mean against the current variant's: upper bound 0.0994 <= 0.4055 (regression)",
            "unit": "relative",
            "measure": "ModelLatency mean against the current variant's",
        },
        {
            "name": "overhead_mean",
            "canary": None,
            "baseline": None,
            "limit": 0.22314355131420976,
            "outcome": "not published",
            "detail": "OverheadLatency mean against the current variant's",
            "unit": "relative",
            "measure": "OverheadLatency mean against the current variant's",
        },
    ],
    "bounds": [
        {
            "name": "errors",
            "estimate": -0.00010000000000000014,
            "lower": -0.0059544515993686115,
            "upper": 0.005372504309503088,
            "margin": 0.002,
            "periods": 5,
            "pass_margin": 0.004549780087964814,
        },
        {
            "name": "latency_p99",
            "estimate": 2.1103930975749363e-05,
            "lower": -0.14308803917096652,
            "upper": 0.10699474457601112,
            "margin": 0.22314355131420976,
            "periods": 5,
            "pass_margin": 0.4054651081081644,
        },
        {
            "name": "latency_mean",
            "estimate": -0.0022909858510859566,
            "lower": -0.1383422287075842,
            "upper": 0.09940689624911056,
            "margin": 0.22314355131420976,
            "periods": 5,
            "pass_margin": 0.4054651081081644,
        },
    ],
    "baseline_unhealthy": False,
    "looked": True,
    "final_step": True,
    "usable_periods": 5,
    "skipped_periods": 0,
    "elapsed_seconds": 360.0,
}


def minute(rng: random.Random, requests: int, error_rate: float) -> Period:
    return Period(
        invocations=float(requests),
        errors_5xx=float(sum(rng.random() < error_rate for _ in range(requests))),
        errors_4xx=0.0,
        latency_p99_ms=40 * rng.uniform(0.95, 1.05),
        latency_mean_ms=20 * rng.uniform(0.97, 1.03),
    )


def canary_look(minutes: int, canary_error_rate: float = 0.002) -> dict[str, Any]:
    """The record of a look at a 10% canary `minutes` after its step started (v1 and v2 at 500 requests a minute)."""
    rng = random.Random(5)
    metrics = FakeMetrics()
    for k in range(minutes + 1):
        at = START.replace(second=0) + timedelta(minutes=1 + k)
        metrics.put("v1", at, minute(rng, 500, 0.002))
        metrics.put("v2", at, minute(rng, 500, canary_error_rate))
    request = JudgeInput(
        rollout=a_rollout(),
        deployment=a_deployment(),
        step_index=0,
        step_started_at=START,
        now=START + timedelta(minutes=minutes),
    )
    return evaluate_canary(request, metrics=metrics)[1]


def short_history_look() -> dict[str, Any]:
    """A serverless endpoint judged against its own history, which has only 4 minutes of traffic before the switch
    (tests/unit/test_history_judge.py has the pairing itself)."""
    switch = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
    serving = switch + timedelta(minutes=3, seconds=40)
    rng = random.Random(7)
    metrics = FakeMetrics()
    for k in range(1, 5):
        metrics.put("v1", switch.replace(second=0) - timedelta(minutes=k), minute(rng, 300, 0.002))
    for k in range(30):
        metrics.put("v2", serving.replace(second=0) + timedelta(minutes=1 + k), minute(rng, 300, 0.002))
    config = RolloutConfig.model_validate(
        {"image": IMAGE, "serverless": {"memory_mb": 2048, "max_concurrency": 20}, "strategy": {"type": "all_at_once"}}
    )
    deployment = a_deployment().model_copy(
        update={"expected": Expectation(config_name="ep-v2", weights={"v2": 1.0}), "against_history": True}
    )
    request = JudgeInput(
        rollout=a_rollout(config).model_copy(update={"steps": []}),
        deployment=deployment,
        step_index=0,
        step_started_at=serving,
        evidence_started_at=serving,
        history_before=switch,
        now=serving + timedelta(minutes=15),
    )
    return evaluate_canary(request, metrics=metrics)[1]


def replayed(record: DecisionRecord, **overrides: Any) -> Judgement:
    """What `mlrollout replay` runs for a stored look: its thresholds (with --set's overrides), its raw columns."""
    limits = Judge.model_validate(record.thresholds | overrides)
    assert record.raw is not None
    baseline, canary = (
        series_from_columns(v, record.raw[v], list(limits.extra_metrics))
        for v in (record.baseline_variant or "", record.canary_variant)
    )
    return judge_look(
        baseline,
        canary,
        limits,
        design_periods=record.design_periods,
        dispersion_floor=record.history.error_dispersion if record.history else 1.0,
        against_history=record.against_history,
    )


def test_a_record_round_trips_from_model_to_json_and_back() -> None:
    written = canary_look(6)
    record = DecisionRecord.model_validate(json.loads(json.dumps(written)))
    assert record.model_dump(mode="json") == written
    assert DecisionRecord.model_validate(record.model_dump(mode="json")) == record
    # Times are written as datetime.isoformat() writes them, as every record so far.
    assert (written["now"], written["window"]["start"]) == ("2026-11-25T12:06:20+00:00", "2026-11-25T12:01:00+00:00")


def test_a_bound_without_evidence_keeps_its_infinity_through_json() -> None:
    bound = RecordedBound(name="errors", estimate=0.0, lower=float("-inf"), upper=float("inf"), margin=0.002, periods=0)
    text = json.dumps(bound.model_dump(mode="json"))
    assert "-Infinity" in text
    assert RecordedBound.model_validate(json.loads(text)) == bound


def test_a_record_the_previous_code_wrote_still_reads_unchanged() -> None:
    record = DecisionRecord.model_validate(PREVIOUS_SHAPE)
    dumped = record.model_dump(mode="json")
    assert {key: dumped[key] for key in PREVIOUS_SHAPE} == PREVIOUS_SHAPE
    # What that look had no occasion to write is absent there and empty here.
    assert {key: value for key, value in dumped.items() if key not in PREVIOUS_SHAPE} == {
        "rollback_alarms": None,
        "rollback_alarms_error": None,
        "metrics_error": None,
        "history": None,
    }


def test_a_record_from_before_against_history_and_check_units_still_reads() -> None:
    older = {key: value for key, value in PREVIOUS_SHAPE.items() if key != "against_history"}
    older["checks"] = [
        {key: value for key, value in check.items() if key not in {"unit", "measure"}}
        for check in PREVIOUS_SHAPE["checks"]
    ]
    record = DecisionRecord.model_validate(older)
    assert record.against_history is False
    assert {check.unit for check in record.checks} == {""}


def test_a_look_before_its_first_complete_minute_has_no_raw_columns() -> None:
    written = canary_look(0)
    record = DecisionRecord.model_validate(written)
    assert (record.verdict.value, record.raw, record.queries, record.looked) == ("INCONCLUSIVE", None, [], False)


def test_replay_judges_the_previous_code_s_record_as_its_look_did() -> None:
    record = DecisionRecord.model_validate(PREVIOUS_SHAPE)
    again = replayed(record)
    assert (again.verdict, again.reason) == (record.verdict, record.judge_reason)


@pytest.mark.parametrize(
    ("record", "verdict"),
    [
        pytest.param(lambda: canary_look(12), "PASS", id="a good canary"),
        pytest.param(lambda: canary_look(8, canary_error_rate=0.05), "FAIL", id="a failing canary"),
        pytest.param(short_history_look, "INCONCLUSIVE", id="against a short history"),
    ],
)
def test_replay_and_the_service_reach_the_same_verdict_through_judge_look(record: Any, verdict: str) -> None:
    stored = DecisionRecord.model_validate(json.loads(json.dumps(record())))
    assert stored.verdict.value == verdict
    again = replayed(stored)
    assert (again.verdict, again.reason) == (stored.verdict, stored.judge_reason)


def test_the_short_history_is_named_in_the_replayed_reason_too() -> None:
    stored = DecisionRecord.model_validate(short_history_look())
    assert "history before the switch has traffic for only 4 of" in replayed(stored).reason


def test_replay_s_threshold_overrides_reach_the_judge() -> None:
    stored = DecisionRecord.model_validate(canary_look(12))
    assert replayed(stored, min_requests=10**6).verdict.value == "INCONCLUSIVE"


def test_an_unreadable_record_names_the_object_the_problem_and_the_fix() -> None:
    with pytest.raises(CliError) as raised:
        read_record("s3://b/decisions/d/step-01/look-001.json", {"schema_version": "1", "verdict": "MAYBE"})
    assert raised.value.what.startswith("s3://b/decisions/d/step-01/look-001.json is not a decision record")
    assert raised.value.fix is not None and "mlrollout version that wrote it" in raised.value.fix
