"""The judge benchmark's arithmetic: the simulator's draws and the baseline rules, with fixed seeds.

These pin how numbers are made, not what the benchmark finds; `python -m mlrollout_bench.run` reports that.
"""

import math
import random
import statistics
from statistics import NormalDist

import pytest

from mlrollout.domain.config import Judge
from mlrollout.domain.judge import Period, VariantSeries
from mlrollout_bench.judges import (
    NO_DECISION,
    PASS,
    ROLLBACK,
    Outcome,
    StaticSetting,
    breach_mask,
    compare_metric,
    error_rates,
    first_alarm,
    hodges_lehmann,
    mann_whitney,
    mann_whitney_judge,
    ours,
    static_threshold,
)
from mlrollout_bench.run import censored_median, wilson
from mlrollout_bench.simulate import (
    SCENARIO_BY_NAME,
    SimConfig,
    boundary_scenarios,
    lognormal_mean_sample,
    lognormal_p99,
    p99_order_statistic,
    poisson,
    simulate,
)

Z99 = NormalDist().inv_cdf(0.99)


@pytest.mark.parametrize("lam", [0.7, 12.0, 450.0, 30_000.0])
def test_poisson_draws_have_the_poisson_mean_and_variance(lam: float) -> None:
    rng = random.Random(7)
    draws = [poisson(rng, lam) for _ in range(4000)]
    # mean and variance are both lam; 4000 draws put the sample mean within ~4 standard errors
    assert abs(statistics.fmean(draws) - lam) < 4 * math.sqrt(lam / 4000)
    assert statistics.variance(draws) == pytest.approx(lam, rel=0.1)
    assert poisson(rng, 0.0) == 0


def test_the_p99_of_one_request_is_that_request() -> None:
    # n = 1: k = 1, U ~ Beta(1, 1) is uniform, so the "p99" is a single lognormal draw with median exp(mu)
    rng = random.Random(3)
    draws = [p99_order_statistic(rng, 1, math.log(40), 0.35) for _ in range(4000)]
    assert statistics.median(draws) == pytest.approx(40, rel=0.03)


def test_the_p99_of_few_requests_is_their_maximum() -> None:
    # n < 100: ceil(0.99 n) = n, the maximum; compare with brute-force maxima of n lognormals
    n, mu, sigma = 20, math.log(40), 0.35
    rng = random.Random(11)
    drawn = [p99_order_statistic(rng, n, mu, sigma) for _ in range(3000)]
    brute = [max(rng.lognormvariate(mu, sigma) for _ in range(n)) for _ in range(3000)]
    assert statistics.median(drawn) == pytest.approx(statistics.median(brute), rel=0.03)
    assert statistics.quantiles(drawn, n=10)[8] == pytest.approx(statistics.quantiles(brute, n=10)[8], rel=0.05)


def test_the_p99_of_many_requests_converges_on_the_population_p99() -> None:
    rng = random.Random(5)
    draws = [p99_order_statistic(rng, 30_000, math.log(40), 0.35) for _ in range(500)]
    assert lognormal_p99(40, 0.35) == pytest.approx(40 * math.exp(0.35 * Z99))
    assert statistics.fmean(draws) == pytest.approx(lognormal_p99(40, 0.35), rel=0.005)
    assert statistics.stdev(draws) < 0.02 * lognormal_p99(40, 0.35)


def test_the_mean_latency_follows_its_normal_approximation() -> None:
    mu, sigma, n = math.log(40), 0.35, 200
    m = math.exp(mu + sigma**2 / 2)
    sd = math.sqrt((math.exp(sigma**2) - 1) * m * m / n)
    rng = random.Random(9)
    draws = [lognormal_mean_sample(rng, n, mu, sigma) for _ in range(4000)]
    assert statistics.fmean(draws) == pytest.approx(m, rel=0.005)
    assert statistics.stdev(draws) == pytest.approx(sd, rel=0.06)


def test_periods_are_what_the_metrics_adapter_builds() -> None:
    stream = simulate(SCENARIO_BY_NAME["no_regression"], 50, 0.1, seed=1)
    assert len(stream.canary.periods) == len(stream.baseline.periods) == 20
    for period in stream.canary.periods + stream.baseline.periods:
        for value in (period.invocations, period.errors_5xx, period.errors_4xx, period.latency_p99_ms):
            assert isinstance(value, float)
        assert period.errors_5xx is not None and period.invocations is not None
        assert 0 <= period.errors_5xx <= period.invocations
    # 50 rps over 60 s with a 10% share: about 300 canary requests a period (+-30% diurnal, noise, Poisson)
    assert 150 < statistics.fmean(p.invocations or 0 for p in stream.canary.periods) < 450


def test_a_canary_without_traffic_has_no_datapoints_or_zeros() -> None:
    silent = simulate(SCENARIO_BY_NAME["no_traffic"], 500, 0.2, seed=2)
    assert all(p == Period() for p in silent.canary.periods)
    assert all((p.invocations or 0) > 0 for p in silent.baseline.periods)
    zeros = simulate(SCENARIO_BY_NAME["no_traffic_zeros"], 500, 0.2, seed=2)
    assert all(p.invocations == 0.0 and p.errors_5xx == 0.0 and p.latency_p99_ms is None for p in zeros.canary.periods)


def test_scenarios_share_the_world_so_only_the_scenario_differs() -> None:
    healthy = simulate(SCENARIO_BY_NAME["no_regression"], 50, 0.1, seed=4)
    worse = simulate(SCENARIO_BY_NAME["errors_x3"], 50, 0.1, seed=4)
    slower = simulate(SCENARIO_BY_NAME["p99_+50%"], 50, 0.1, seed=4)
    assert healthy.baseline == worse.baseline == slower.baseline
    assert [p.invocations for p in healthy.canary.periods] == [p.invocations for p in worse.canary.periods]
    assert sum(p.errors_5xx or 0 for p in worse.canary.periods) > 2 * sum(
        p.errors_5xx or 0 for p in healthy.canary.periods
    )
    # mu + ln 1.5 with the same uniform draws: every latency value scales by exactly 1.5
    for h, s in zip(healthy.canary.periods, slower.canary.periods, strict=True):
        assert s.latency_p99_ms == pytest.approx(1.5 * (h.latency_p99_ms or 0), rel=1e-9)


def test_a_degrading_baseline_degrades_from_its_start_period_only() -> None:
    config = SimConfig(burst_probability=0.0, error_noise_sd=0.0)
    healthy = simulate(SCENARIO_BY_NAME["no_regression"], 500, 0.1, seed=6, config=config)
    degraded = simulate(SCENARIO_BY_NAME["baseline_degrades"], 500, 0.1, seed=6, config=config)
    start = degraded.degrade_from
    assert start is not None and 1 <= start <= 10
    assert degraded.baseline.periods[:start] == healthy.baseline.periods[:start]
    assert degraded.canary == healthy.canary
    after = degraded.baseline.periods[start:]
    rate = sum(p.errors_5xx or 0 for p in after) / sum(p.invocations or 0 for p in after)
    assert rate == pytest.approx(0.04, rel=0.15)
    for d, h in zip(after, healthy.baseline.periods[start:], strict=True):
        assert (d.latency_mean_ms or 0) > 1.4 * (h.latency_mean_ms or 0)


def test_boundary_scenarios_sit_on_the_judges_tolerance() -> None:
    errors, latency = boundary_scenarios(error_ratio=1.25, error_slack=0.002, latency_increase=0.25, base_5xx=0.01)
    assert errors.canary_error_factor == pytest.approx(1.45)  # 1.45% = 1.25 x 1% + 0.2 points
    assert latency.canary_latency_factor == pytest.approx(1.25)
    assert not errors.regression and not latency.regression


def test_mann_whitney_without_ties_matches_the_textbook_normal_approximation() -> None:
    # U = 0, E[U] = 4.5, Var[U] = 3 * 3 * 7 / 12 = 5.25, z = (0 - 4.5 + 0.5) / sqrt(5.25)
    result = mann_whitney([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert result.u == 0
    assert result.z == pytest.approx(-4 / math.sqrt(5.25))
    assert result.p_value == pytest.approx(0.08086, abs=1e-4)  # R: wilcox.test(exact = FALSE, correct = TRUE)


def test_mann_whitney_corrects_for_ties() -> None:
    # pooled 1, 2, 2, 2, 3, 4 -> ranks 1, 3, 3, 3, 5, 6; R_x = 7, U = 1; sum(t^3 - t) = 24 over N (N - 1) = 30
    result = mann_whitney([1.0, 2.0, 2.0], [2.0, 3.0, 4.0])
    variance = 9 / 12 * (7 - 24 / 30)
    assert result.u == 1
    assert result.z == pytest.approx((1 - 4.5 + 0.5) / math.sqrt(variance))
    assert mann_whitney([0.0, 0.0], [0.0, 0.0, 0.0]).p_value == 1.0


def test_hodges_lehmann_is_the_median_pairwise_difference() -> None:
    assert hodges_lehmann([1.0, 2.0, 3.0], [0.0, 0.0]) == 2.0
    assert hodges_lehmann([10.0], [1.0, 2.0, 4.0]) == 8.0


def test_a_metric_fails_only_when_significantly_and_materially_higher() -> None:
    baseline = [0.010, 0.011, 0.009, 0.010, 0.012, 0.008, 0.010, 0.011, 0.009, 0.010]
    doubled = [2 * v for v in baseline]
    slightly = [v * 1.1 + 0.0001 for v in baseline]
    failed = compare_metric("error_rate", doubled, baseline, confidence=0.98, tolerance=0.25)
    assert failed.failed and failed.shift == pytest.approx(0.010, abs=0.001)
    assert not compare_metric("error_rate", slightly, baseline, confidence=0.98, tolerance=0.25).failed
    assert not compare_metric("error_rate", baseline, doubled, confidence=0.98, tolerance=0.25).failed
    no_data = compare_metric("error_rate", [None, None], baseline, confidence=0.98, tolerance=0.25)
    assert not no_data.failed and no_data.p_value is None


def test_first_alarm_counts_m_of_the_last_n_periods() -> None:
    mask = 0b0110  # periods 1 and 2 (0-based) breach
    assert first_alarm(mask, 20, 1, 1) == 2
    assert first_alarm(mask, 20, 2, 2) == 3
    assert first_alarm(mask, 20, 2, 3) == 3
    assert first_alarm(mask, 20, 3, 3) is None
    assert first_alarm(0b101, 20, 2, 3) == 3
    assert first_alarm(0b1001, 20, 2, 3) is None


def test_missing_data_never_breaches_and_a_silent_canary_passes_the_static_alarm() -> None:
    assert breach_mask([None, 0.5, None, 0.01], 0.1) == 0b10
    silent = VariantSeries("candidate", [Period()] * 20)
    assert error_rates(silent) == [None] * 20
    setting = StaticSetting(0.02, 150.0, 1, 1)
    assert static_threshold(silent, setting, horizon=20) == Outcome(PASS, 20)
    noisy = VariantSeries("candidate", [Period(invocations=100.0, errors_5xx=5.0, latency_p99_ms=90.0)] * 20)
    assert static_threshold(noisy, setting, horizon=20) == Outcome(ROLLBACK, 1)


def test_the_rules_never_pass_or_blame_without_data_where_they_should_not() -> None:
    stream = simulate(SCENARIO_BY_NAME["no_traffic"], 50, 0.1, seed=8)
    outcome = ours(stream.baseline, stream.canary, Judge(), horizon=20)
    assert outcome.decision == NO_DECISION and outcome.period is None
    # Mann-Whitney has nothing to compare: no metric fails, so the fixed-horizon rule passes
    assert mann_whitney_judge(stream.baseline, stream.canary, horizon=20) == Outcome(PASS, 20)


def test_report_statistics() -> None:
    low, high = wilson(0, 600)
    assert low == 0.0 and high == pytest.approx(1.96**2 / (600 + 1.96**2))
    assert wilson(5, 10)[0] == pytest.approx(1 - wilson(5, 10)[1])
    outcomes = [Outcome(ROLLBACK, 3), Outcome(ROLLBACK, 5), Outcome(PASS, 20), Outcome(NO_DECISION, None)]
    assert censored_median(outcomes) == math.inf
    assert censored_median(outcomes[:3]) == 5
