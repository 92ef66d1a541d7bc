"""The judge's statistical behaviour, pinned with fixed seeds on small simulated streams."""

import math
import random
import re
import time

import pytest

from mlrollout.domain.config import ExtraMetric, Judge
from mlrollout.domain.judge import (
    Judgement,
    Period,
    SignalBound,
    VariantSeries,
    Verdict,
    WeightedSignal,
    check_evidence,
    cs_radius,
    judge,
    likelihood_ratio_bound,
    weighted_error_signal,
)

LIMITS = Judge()
CTR = ExtraMetric(name="ctr", namespace="shop", metric_name="ClickThrough", direction="lower_is_worse", tolerance=0.1)


def period(rng: random.Random, n: int, error_rate: float, p99: float = 80.0, mean: float = 40.0) -> Period:
    errors = rng.binomialvariate(n, error_rate) if n else 0
    jitter = math.exp(rng.gauss(0, 0.04))
    return Period(
        invocations=float(n),
        errors_5xx=float(errors),
        errors_4xx=0.0,
        latency_p99_ms=p99 * jitter if n else None,
        latency_mean_ms=mean * math.exp(rng.gauss(0, 0.02)) if n else None,
        overhead_mean_ms=2.0 * math.exp(rng.gauss(0, 0.03)) if n else None,
    )


def streams(
    seed: int,
    periods: int,
    *,
    rps: float = 50,
    share: float = 0.1,
    base_rate: float = 0.01,
    canary_factor: float = 1.0,
    canary_latency: float = 1.0,
    baseline_factor: float = 1.0,
) -> tuple[VariantSeries, VariantSeries]:
    rng = random.Random(seed)
    base, can = [], []
    for _ in range(periods):
        total = rng.gauss(rps * 60, math.sqrt(rps * 60))
        nc, nb = round(total * share), round(total * (1 - share))
        base.append(period(rng, nb, min(1.0, base_rate * baseline_factor)))
        can.append(period(rng, nc, min(1.0, base_rate * canary_factor), 80 * canary_latency, 40 * canary_latency))
    return VariantSeries("v1", base), VariantSeries("v2", can)


def errors_bound(result: Judgement) -> SignalBound:
    return next(b for b in result.bounds if b.name == "errors")


def first_decision(baseline: VariantSeries, canary: VariantSeries, limits: Judge = LIMITS) -> tuple[Verdict, int]:
    """The verdict at the first conclusive look, and that look's number (periods seen)."""
    for k in range(1, len(canary.periods) + 1):
        result = judge(
            VariantSeries(baseline.variant, baseline.periods[:k]),
            VariantSeries(canary.variant, canary.periods[:k]),
            limits,
            design_periods=len(canary.periods),
        )
        if result.verdict is not Verdict.INCONCLUSIVE:
            return result.verdict, k
    return Verdict.INCONCLUSIVE, len(canary.periods)


def test_the_confidence_sequence_narrows_with_data_and_widens_with_confidence() -> None:
    assert cs_radius(1.0, 100, 0.01, 50) < cs_radius(1.0, 10, 0.01, 50)
    assert cs_radius(1.0, 20, 0.001, 20) > cs_radius(1.0, 20, 0.01, 20)
    # Anytime validity costs width against a fixed-sample interval, but not much near the design point.
    fixed = 2.5758 / math.sqrt(20)
    assert fixed < cs_radius(1.0, 20, 0.01, 20) < 2.2 * fixed


def test_a_canary_with_no_traffic_never_passes() -> None:
    baseline, _ = streams(1, 30)
    silent = VariantSeries("v2", [Period(invocations=None, errors_5xx=None)] * 30)
    result = judge(baseline, silent, LIMITS, design_periods=30)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no data" in result.reason
    assert result.skipped_periods == 30


def test_missing_and_nan_periods_are_skipped_not_zeros() -> None:
    baseline, canary = streams(2, 12)
    holes = list(canary.periods)
    holes[3] = Period(invocations=math.nan, errors_5xx=5.0)
    holes[7] = Period(invocations=300.0, errors_5xx=None)
    result = judge(baseline, VariantSeries("v2", holes), LIMITS, design_periods=12)
    assert result.skipped_periods == 2
    assert result.usable_periods == 10


def test_a_healthy_canary_passes_once_the_evidence_bounds_it() -> None:
    verdict, looks = first_decision(*streams(3, 20, rps=500))
    assert verdict is Verdict.PASS
    assert looks <= 5
    # At 50 rps with a 1% error rate a 10% canary takes longer to bound, and it is never failed meanwhile.
    outcomes = [first_decision(*streams(200 + seed, 20)) for seed in range(20)]
    assert not [k for v, k in outcomes if v is Verdict.FAIL]
    assert sum(v is Verdict.PASS for v, _ in outcomes) >= 8


def test_a_tripled_error_rate_fails_within_a_few_periods() -> None:
    outcomes = [first_decision(*streams(300 + seed, 20, canary_factor=3.0)) for seed in range(20)]
    assert all(v is Verdict.FAIL for v, _ in outcomes)
    assert sorted(k for _, k in outcomes)[10] <= 8
    verdict, looks = first_decision(*streams(4, 20, canary_factor=3.0, rps=500))
    assert verdict is Verdict.FAIL
    assert looks <= 2


def test_a_fifty_percent_slower_canary_fails_on_latency() -> None:
    baseline, canary = streams(5, 20, canary_latency=1.5)
    verdict, looks = first_decision(baseline, canary)
    assert verdict is Verdict.FAIL
    assert looks <= 4
    result = judge(baseline, canary, LIMITS, design_periods=20)
    assert "latency" in result.reason


def test_the_evidence_of_a_slower_canary_reads_in_the_units_of_its_reason() -> None:
    baseline, canary = streams(5, 20, canary_latency=1.5)
    result = judge(baseline, canary, LIMITS, design_periods=20)
    shown = {what: (value, limit) for what, value, limit in map(check_evidence, (c.__dict__ for c in result.checks))}
    value, limit = shown["ModelLatency p99 against the current variant's"]
    measured = re.fullmatch(r"canary \+([0-9]+)% \((fail|inconclusive|pass)\)", value)
    assert measured is not None and 35 <= int(measured.group(1)) <= 65, value  # 1.5x slower, not a log ratio
    assert limit == f"+{LIMITS.max_latency_increase:.0%}"
    value, limit = shown["5XX error rate (cap)"]
    assert re.fullmatch(r"canary [0-9.]+%, current [0-9.]+% \(pass\)", value) and limit == "5.00%", value
    value, limit = shown["5XX error rate over 1.25x the current variant's"]
    assert re.fullmatch(r"canary [+-][0-9.]+ points \((pass|inconclusive)\)", value) and limit == "+0.20 points"


def test_a_check_recorded_before_units_shows_its_bare_numbers() -> None:
    old = {"name": "errors", "canary": 0.1471, "baseline": None, "limit": 0.01, "outcome": "fail"}
    assert check_evidence(old) == ("errors", "canary 0.1471 (fail)", "0.01")


def test_a_degraded_baseline_is_reported_and_the_canary_not_blamed() -> None:
    baseline, canary = streams(6, 20, base_rate=0.03, baseline_factor=3.0)  # current variant at 9%, canary at 3%
    verdict, _ = first_decision(baseline, canary)
    assert verdict is not Verdict.FAIL
    result = judge(baseline, canary, LIMITS, design_periods=20)
    assert result.baseline_unhealthy
    assert "itself unhealthy" in result.reason


def test_a_canary_breaking_the_hard_cap_fails_at_the_first_look() -> None:
    baseline, canary = streams(7, 1, canary_factor=20.0)  # 20% errors against a 5% cap
    result = judge(baseline, canary, LIMITS, design_periods=10)
    assert result.verdict is Verdict.FAIL
    assert "cap" in result.reason


def test_too_few_requests_is_inconclusive_even_when_it_looks_fine() -> None:
    baseline, canary = streams(8, 2, rps=5, share=0.05)  # 30 canary requests
    result = judge(baseline, canary, LIMITS, design_periods=10)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "needs at least 200" in result.reason


def test_an_extra_metric_where_lower_is_worse() -> None:
    baseline, canary = streams(9, 10)
    base = VariantSeries("v1", [Period(**{**p.__dict__, "extra": {"ctr": 0.1}}) for p in baseline.periods])
    worse = VariantSeries("v2", [Period(**{**p.__dict__, "extra": {"ctr": 0.05}}) for p in canary.periods])
    result = judge(base, worse, LIMITS, design_periods=10, extras=[CTR])
    assert result.verdict is Verdict.FAIL
    assert "ctr" in result.reason
    [shown] = [check_evidence(c.__dict__) for c in result.checks if c.name == "ctr"]
    # half the click-through rate is a drop of 50%, against a tolerated drop of 1 - 1/1.1 (9%)
    assert shown == ("ctr against the current variant's (a drop counts as worse)", "canary -50% (fail)", "-9%")


def test_repeated_looks_keep_false_rollbacks_near_alpha() -> None:
    """300 healthy streams, a look at every one of 20 periods each: the share ever rolled back stays small."""
    rolled_back = sum(first_decision(*streams(1000 + seed, 20))[0] is Verdict.FAIL for seed in range(300))
    assert rolled_back / 300 <= 0.02


def test_one_evaluation_is_fast() -> None:
    baseline, canary = streams(10, 30)
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        judge(baseline, canary, LIMITS, design_periods=30)
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[25] < 0.010


# --- the two hypotheses: the tolerance (harm) and the regression (proof) --------------------------------------------


def test_a_canary_at_the_tolerance_is_promoted_and_one_at_the_regression_is_not() -> None:
    # tolerated: 1.25 x 1% + 0.2 points = 1.45%; the regression: 1% + 2 x 0.45 points = 1.9%
    at_tolerance = [first_decision(*streams(400 + seed, 30, rps=500, canary_factor=1.45)) for seed in range(20)]
    assert sum(v is Verdict.PASS for v, _ in at_tolerance) >= 18
    assert not [v for v, _ in at_tolerance if v is Verdict.FAIL]
    at_regression = [first_decision(*streams(500 + seed, 30, rps=500, canary_factor=1.9)) for seed in range(20)]
    assert not [v for v, _ in at_regression if v is Verdict.PASS]
    assert sum(v is Verdict.FAIL for v, _ in at_regression) >= 15  # beyond the tolerance: rolled back once clear


def test_a_pass_states_what_it_proved() -> None:
    baseline, canary = streams(3, 20, rps=500)
    result = judge(baseline, canary, LIMITS, design_periods=20)
    assert result.verdict is Verdict.PASS and result.looked
    assert "not a regression" in result.reason and "+50%" in result.reason
    errors = errors_bound(result)
    assert errors.margin == LIMITS.max_error_rate_increase
    # The regression on the harm signal's scale (p_c - 1.25 p_b): 1.5 p_b + 0.4 points, i.e. 0.25 p_b + 0.4 points.
    pooled_b = (sum(p.errors_5xx or 0 for p in baseline.periods) + 0.5) / (
        sum(p.invocations or 0 for p in baseline.periods) + 1
    )
    assert errors.pass_margin == pytest.approx(0.25 * pooled_b + 2 * LIMITS.max_error_rate_increase)
    assert errors.upper <= errors.pass_margin


def test_looked_says_whether_the_look_could_have_seen_harm() -> None:
    # enough traffic on both and every signal measured, but not yet bounded: looked, undecided
    thin = judge(*streams(11, 3, rps=20), LIMITS, design_periods=20)
    assert thin.verdict is Verdict.INCONCLUSIVE and thin.looked
    # too few canary requests, or a current variant itself unhealthy: nothing could have been seen
    assert not judge(*streams(8, 2, rps=5, share=0.05), LIMITS, design_periods=10).looked
    assert not judge(*streams(6, 20, base_rate=0.03, baseline_factor=3.0), LIMITS, design_periods=20).looked
    # a required signal without data (no ModelLatency published)
    baseline, canary = streams(12, 10, rps=500)
    silent = VariantSeries("v2", [Period(**{**p.__dict__, "latency_p99_ms": None}) for p in canary.periods])
    result = judge(baseline, silent, LIMITS, design_periods=10)
    assert result.verdict is Verdict.INCONCLUSIVE and not result.looked and "no data" in result.reason


def test_minutes_weigh_by_their_evidence_and_never_by_their_own_errors() -> None:
    # one minute at a 50% share holds five times the requests of one at 10%: the weighted signal follows it
    small = [(0.0, 300.0, 27.0, 2700.0)]
    large = [(30.0, 1500.0, 15.0, 1500.0)]  # 2% against 1%
    signal = weighted_error_signal(small + large, 1.0, 10)
    assert not isinstance(signal, list)
    unweighted = (0 - 0.01 + 0.02 - 0.01) / 2
    assert unweighted == 0.0 and 0.005 < signal.mean < 0.01  # the 50% minute carries over three quarters
    # two minutes with the same requests and different errors get the same weight: the plain mean
    same = weighted_error_signal([(0.0, 1000.0, 10.0, 1000.0), (20.0, 1000.0, 10.0, 1000.0)], 1.0, 10)
    assert not isinstance(same, list) and same.mean == pytest.approx(0.0)
    assert same.dispersion >= 1.0  # never narrower than binomial


def test_evidence_from_an_earlier_smaller_step_adds_to_a_later_one() -> None:
    first_b, first_c = streams(13, 10, rps=50, share=0.1)
    second_b, second_c = streams(14, 6, rps=50, share=0.5)
    alone = judge(second_b, second_c, LIMITS, design_periods=20)
    pooled = judge(
        VariantSeries("v1", first_b.periods + second_b.periods),
        VariantSeries("v2", first_c.periods + second_c.periods),
        LIMITS,
        design_periods=20,
    )
    alone_errors, pooled_errors = errors_bound(alone), errors_bound(pooled)
    assert pooled_errors.estimate - pooled_errors.lower < alone_errors.estimate - alone_errors.lower


@pytest.mark.parametrize(("base_rate", "share"), [(0.01, 0.1), (0.001, 0.1), (0.001, 0.5)])
def test_the_promotion_bound_on_errors_is_a_likelihood_ratio_test_valid_at_the_regression(
    base_rate: float, share: float
) -> None:
    # Errors at 5 rps over 3 hours, a look every 5 minutes: a canary exactly at the regression
    # (1.5 x the current rate + 0.4 points) is promoted at most beta = 5% of the time over all minutes together
    # (Ville's inequality), also where errors are sparse (0.1%: a few a minute at most). Weighed by the canary's
    # observed rate instead, the sparse case passed it in 13-16% of runs (a review of this change).
    regression = (1.5 * base_rate + 0.004) / base_rate
    runs, passed = 150, 0
    for seed in range(runs):
        baseline, canary = streams(700 + seed, 180, rps=5, share=share, base_rate=base_rate, canary_factor=regression)
        for k in range(5, 181, 5):  # a look every 5 minutes, each on the evidence so far, as the product looks
            window = (VariantSeries("v1", baseline.periods[:k]), VariantSeries("v2", canary.periods[:k]))
            errors = next((b for b in judge(*window, LIMITS, design_periods=180).bounds if b.name == "errors"), None)
            if errors is not None and errors.upper <= errors.pass_margin:
                passed += 1
                break
    assert passed <= 0.05 * runs + 2 * math.sqrt(0.05 * 0.95 * runs)  # 5% and two binomial standard errors


def test_the_error_proof_is_the_running_minimum_of_walds_bound_over_the_evidence() -> None:
    baseline, canary = streams(42, 120, rps=5, share=0.5, canary_factor=1.45)
    counted = [(c.errors_5xx or 0.0, c.invocations or 0.0, b.errors_5xx or 0.0, b.invocations or 0.0)
               for c, b in zip(canary.periods, baseline.periods, strict=True)]  # fmt: skip
    signal = weighted_error_signal(counted, LIMITS.max_error_rate_ratio, 120)
    assert isinstance(signal, WeightedSignal)
    tol, beta, alpha = LIMITS.max_error_rate_increase, 1 - LIMITS.pass_confidence, (1 - LIMITS.confidence) * 0.5
    bound = likelihood_ratio_bound(signal, tol, beta, alpha, from_period=3)

    # Each prefix's bound, by hand: where the log-likelihood ratio of the tolerance against it meets Wald's boundary.
    def at(k: int) -> float:
        information = sum(signal.weights[:k])
        mean = sum(w * d for w, d in zip(signal.weights[:k], signal.diffs[:k], strict=True)) / information
        gap = mean - tol
        mu = tol + gap + math.sqrt(gap * gap - 2 * signal.dispersion * math.log(beta / (1 - alpha)) / information)
        llr = information * (mu - tol) * (mean - (tol + mu) / 2) / signal.dispersion
        assert llr == pytest.approx(math.log(beta / (1 - alpha)))
        return mu

    prefixes = [at(k) for k in range(3, 121)]
    assert bound == pytest.approx(min(prefixes))
    assert bound < prefixes[-1]  # a proof reached earlier stands through later noise
    assert tol < bound


def test_a_proof_reached_at_a_large_share_stands_through_a_smaller_step_after_it() -> None:
    # Two hours at a 50% share at 5 rps prove a canary at the error tolerance is no regression; 20 minutes at a
    # 10% share after it, whose own evidence is thin and noisy, do not take the proof back.
    shadow_b, shadow_c = streams(77, 120, rps=5, share=0.5, canary_factor=1.45)
    step_b, step_c = streams(78, 20, rps=5, share=0.1, canary_factor=1.45)
    earlier = judge(shadow_b, shadow_c, LIMITS, design_periods=140)
    later = judge(
        VariantSeries("v1", shadow_b.periods + step_b.periods),
        VariantSeries("v2", shadow_c.periods + step_c.periods),
        LIMITS,
        design_periods=140,
    )
    errors_then = errors_bound(earlier)
    errors_now = errors_bound(later)
    assert errors_then.upper <= errors_then.pass_margin
    assert errors_now.upper <= errors_then.upper  # a running minimum never rises
