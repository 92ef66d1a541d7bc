"""Judge Canary against the endpoint's own history (issue 12, serverless endpoints): the candidate has replaced the
current variant at once, so each of its minutes is paired with one of the current variant's before the switch.
Service tests on the in-memory Metrics port (tests/fakes.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from fakes import FakeMetrics
from mlrollout.contracts import Deployment, Expectation, JudgeInput, JudgeOutput
from mlrollout.domain.config import Judge, RolloutConfig
from mlrollout.domain.judge import Period, VariantSeries, error_dispersion, judge
from mlrollout.services.evaluate import evaluate_canary
from support import IMAGE, a_deployment, a_rollout

SWITCH = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)  # Deploy Candidate asked for the update
SERVING = SWITCH + timedelta(minutes=3, seconds=40)  # the endpoint is InService on the new config
RPM = 300


def serverless_rollout() -> Any:
    config = RolloutConfig.model_validate(
        {"image": IMAGE, "serverless": {"memory_mb": 2048, "max_concurrency": 20}, "strategy": {"type": "all_at_once"}}
    )
    return a_rollout(config).model_copy(update={"steps": []})


def replaced() -> Deployment:
    """Plan's answer for a serverless endpoint: v2 replaces v1 at once, judged against history."""
    return a_deployment().model_copy(
        update={"expected": Expectation(config_name="ep-v2", weights={"v2": 1.0}), "against_history": True}
    )


def minute(rng: random.Random, requests: int, error_rate: float, latency_ms: float) -> Period:
    errors = sum(rng.random() < error_rate for _ in range(requests))
    return Period(
        invocations=float(requests),
        errors_5xx=float(errors),
        errors_4xx=0.0,
        latency_p99_ms=latency_ms * 2 * rng.uniform(0.95, 1.05),
        latency_mean_ms=latency_ms * rng.uniform(0.97, 1.03),
    )


def traffic(history_minutes: int, candidate_error_rate: float, *, seed: int = 7) -> FakeMetrics:
    """v1 served `history_minutes` before the switch (each minute's request count its own, to trace the pairing),
    v2 everything from the minute the endpoint serves it."""
    rng = random.Random(seed)
    metrics = FakeMetrics()
    before = SWITCH.replace(second=0)
    for k in range(1, history_minutes + 1):
        metrics.put("v1", before - timedelta(minutes=k), minute(rng, RPM + k, 0.002, 20.0))
    first = SERVING.replace(second=0) + timedelta(minutes=1)
    for k in range(240):
        metrics.put("v2", first + timedelta(minutes=k), minute(rng, RPM, candidate_error_rate, 20.0))
    return metrics


def look(metrics: FakeMetrics, minutes: float, previous: JudgeOutput | None = None) -> tuple[JudgeOutput, dict]:
    request = JudgeInput(
        rollout=serverless_rollout(),
        deployment=replaced(),
        step_index=0,
        step_started_at=SERVING,
        evidence_started_at=SERVING,
        history_before=SWITCH,
        previous=previous,
        now=SERVING + timedelta(minutes=minutes),
    )
    return evaluate_canary(request, metrics=metrics)


def bake(metrics: FakeMetrics, until_minutes: int = 30) -> tuple[JudgeOutput, dict]:
    """Looks every 5 minutes (the default interval) until the bake decides or `until_minutes` pass."""
    output, record = look(metrics, 5)
    for minutes in range(10, until_minutes + 1, 5):
        if output.action != "continue":
            break
        output, record = look(metrics, minutes, output)
    return output, record


def test_each_minute_after_the_switch_is_paired_with_the_one_as_far_before_it() -> None:
    metrics = traffic(120, 0.002)
    output, record = look(metrics, 10)
    # The candidate's complete minutes since it serves: 12:05 to 12:14; the history as many minutes before 12:00.
    assert (record["window"]["start"], record["window"]["end"]) == (
        "2026-11-25T12:05:00+00:00",
        "2026-11-25T12:14:00+00:00",
    )
    assert record["history"]["window"] == {"start": "2026-11-25T11:51:00+00:00", "end": "2026-11-25T12:00:00+00:00"}
    assert ("v1",) in [w[0] for w in metrics.windows] and ("v2",) in [w[0] for w in metrics.windows]
    # Mirror pairing: the candidate's first minute against 11:59 (RPM + 1 requests), its ninth against 11:51.
    assert record["raw"]["v1"]["inv"] == [float(RPM + k) for k in range(1, 10)]
    assert record["history"]["timestamps"][0] == "2026-11-25T11:59:00+00:00"
    assert record["against_history"] is True and output.weight == 100.0 and record["weight"] == 100.0


def test_a_version_as_good_as_the_history_is_proven_and_promoted_after_its_bake() -> None:
    output, record = bake(traffic(120, 0.002))
    assert (output.verdict, output.action) == ("PASS", "advance"), output.reason
    assert record["final_step"] is True
    assert record["usable_periods"] >= 10


def test_a_version_worse_than_the_history_fails_and_is_rolled_back() -> None:
    output, _ = bake(traffic(120, 0.03))
    assert (output.verdict, output.action) == ("FAIL", "rollback"), output.reason
    assert "error rate" in output.reason


def test_a_history_shorter_than_the_evidence_is_named_in_the_reason() -> None:
    # The endpoint served only 4 minutes before the switch: most of the candidate's minutes have no partner.
    output, record = look(traffic(4, 0.002), 12)
    assert output.verdict == "INCONCLUSIVE"
    assert "history before the switch has traffic for only 4 of the 11 minutes" in output.reason
    assert record["usable_periods"] == 4


def test_the_error_dispersion_is_one_for_sampling_noise_and_grows_with_bursts() -> None:
    rng = random.Random(3)
    binomial = [(float(sum(rng.random() < 0.01 for _ in range(2000))), 2000.0) for _ in range(60)]
    assert 1.0 <= error_dispersion(binomial) < 1.6
    bursts = [(e * (3 if k % 10 == 0 else 1), n) for k, (e, n) in enumerate(binomial)]
    assert error_dispersion(bursts) > 3
    assert error_dispersion([(5.0, 100.0)]) == 1.0 and error_dispersion([(0.0, 0.0), (3.0, 100.0)]) == 1.0


def test_the_history_s_own_dispersion_is_read_from_its_last_hour_and_widens_the_bounds() -> None:
    rng = random.Random(5)
    bursty = FakeMetrics()
    before = SWITCH.replace(second=0)
    for k in range(1, 121):
        rate = 0.02 if k % 7 == 0 else 0.002  # the workload's own bursts
        bursty.put("v1", before - timedelta(minutes=k), minute(rng, RPM, rate, 20.0))
    first = SERVING.replace(second=0) + timedelta(minutes=1)
    for k in range(60):
        bursty.put("v2", first + timedelta(minutes=k), minute(rng, RPM, 0.002, 20.0))
    _, record = look(bursty, 10)
    # Nine minutes are paired, but an hour is read for the dispersion.
    assert record["history"]["dispersion_window"] == {
        "start": "2026-11-25T11:00:00+00:00",
        "end": "2026-11-25T12:00:00+00:00",
    }
    assert len(record["raw"]["v1"]["inv"]) == 9
    assert record["history"]["error_dispersion"] > 2
    # The judge with that dispersion is less sure than with none: its errors bound is wider.
    series = [
        VariantSeries(
            "v1", [bursty.minutes.get(("v1", before - timedelta(minutes=k)), Period()) for k in range(1, 10)]
        ),
        VariantSeries("v2", [bursty.minutes[("v2", first + timedelta(minutes=k))] for k in range(9)]),
    ]
    narrow, wide = (
        next(b for b in judge(*series, Judge(), dispersion_floor=d).bounds if b.name == "errors")
        for d in (1.0, record["history"]["error_dispersion"])
    )
    assert wide.lower < narrow.lower and wide.upper > narrow.upper
