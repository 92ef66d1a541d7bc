"""The judge benchmark's arithmetic: the simulator's draws and the baseline rules, with fixed seeds.

These pin how numbers are made, not what the benchmark finds; `python -m mlrollout_bench.run` reports that.
"""

import math
import random
import statistics
from dataclasses import replace
from statistics import NormalDist

import pytest

from mlrollout.domain.config import Judge, Strategy
from mlrollout.domain.judge import Period, VariantSeries
from mlrollout.domain.policy import design_periods
from mlrollout_bench.judges import (
    NO_DECISION,
    PASS,
    ROLLBACK,
    Outcome,
    SprtDesign,
    StaticSetting,
    StepResult,
    WindowSetting,
    breach_mask,
    compare_metric,
    error_rates,
    first_alarm,
    hodges_lehmann,
    mann_whitney,
    mann_whitney_judge,
    ours,
    periods_seen,
    product_step,
    sprt_step,
    static_threshold,
    step_periods_needed,
    window_p99,
    window_step,
)
from mlrollout_bench.run import (
    RolloutOutcome,
    censored_median,
    rollout_median,
    run_rollout,
    wilson,
)
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


# ---------------------------------------------------------------------------------------------------- whole steps


def test_steps_use_the_products_design_periods_looks_and_deadline() -> None:
    strategy = Strategy()
    # every look judges all minutes since the first step: the bounds are tightest at the end of this step's bake
    assert design_periods(strategy) == 20
    # weights take effect mid-minute: the look 10 minutes in has 9 complete minutes
    assert periods_seen(60.0) == 0 and periods_seen(600.0) == 9
    assert step_periods_needed(strategy) == 41  # 40-minute deadline (4 x bake) + 1
    assert step_periods_needed(Strategy(on_deadline="hold", hold_minutes=10)) == 51


def _deadline_config() -> SimConfig:
    return SimConfig(horizon=step_periods_needed(Strategy()))


def test_a_step_that_stays_undecided_is_a_deadline_rollback() -> None:
    stream = simulate(SCENARIO_BY_NAME["no_traffic"], 50, 0.1, seed=3, config=_deadline_config())
    result = product_step(stream.baseline, stream.canary, Judge(), Strategy())
    assert result.decision == ROLLBACK and result.deadline
    assert result.seconds == 40 * 60
    assert result.signals == ("canary_traffic",)
    sprt = sprt_step(stream.baseline, stream.canary, SprtDesign.of(Judge()), Strategy())
    assert sprt.decision == ROLLBACK and sprt.deadline and sprt.seconds == 40 * 60
    # under `on_deadline: hold` the step waits out the hold before rolling back
    hold = Strategy(on_deadline="hold", hold_minutes=5)
    longer = simulate(
        SCENARIO_BY_NAME["no_traffic"], 50, 0.1, seed=3, config=SimConfig(horizon=step_periods_needed(hold))
    )
    held = product_step(longer.baseline, longer.canary, Judge(), hold)
    assert held.decision == ROLLBACK and held.deadline and held.seconds == 45 * 60
    # a stream too short for the step's looks is an error, not a silent pass
    with pytest.raises(ValueError, match="periods"):
        product_step(stream.baseline, stream.canary, Judge(), hold)


def test_the_product_step_keeps_looking_after_an_early_pass_until_the_bake_ends() -> None:
    config = _deadline_config()
    healthy = simulate(SCENARIO_BY_NAME["no_regression"], 500, 0.5, seed=12, config=config)
    # the old per-stream rule stops at its first PASS, well before the 10-minute bake
    first = ours(healthy.baseline, healthy.canary, Judge(), horizon=10)
    assert first.decision == PASS and first.period is not None and first.period < 8
    assert product_step(healthy.baseline, healthy.canary, Judge(), Strategy()) == StepResult(PASS, 600.0, periods=9)
    # the canary breaks from minute 8 on: the product, still baking, rolls back
    broken = [
        replace(p, errors_5xx=(p.invocations or 0) * 0.5) if t >= 7 else p for t, p in enumerate(healthy.canary.periods)
    ]
    result = product_step(healthy.baseline, VariantSeries("candidate", broken), Judge(), Strategy())
    assert result.decision == ROLLBACK and not result.deadline and result.seconds <= 600
    # with advance_early the product stops at the first PASS, as the old rule did
    early = product_step(healthy.baseline, VariantSeries("candidate", broken), Judge(), Strategy(advance_early=True))
    assert early.decision == PASS and early.seconds < 600


def test_a_rollout_ends_at_its_first_rollback_and_promotes_after_the_last_step() -> None:
    results = iter([StepResult(PASS, 600.0), StepResult(ROLLBACK, 1800.0, deadline=True, signals=("errors",))])
    stream = simulate(SCENARIO_BY_NAME["no_regression"], 5, 0.1, seed=1)
    outcome = run_rollout([stream, stream, stream], lambda s, i, final, evidence: next(results))
    assert outcome == RolloutOutcome(ROLLBACK, 40.0, 2, deadline=True, signals=("errors",))
    promoted = run_rollout([stream, stream], lambda s, i, final, evidence: StepResult(PASS, 600.0))
    assert promoted == RolloutOutcome(PASS, 20.0, 2)
    assert rollout_median([outcome, outcome, promoted], ROLLBACK) == 40.0
    assert rollout_median([outcome, promoted, promoted], ROLLBACK) == math.inf


def test_the_sprt_splits_alpha_across_its_signals_as_the_judge_does_and_not_beta() -> None:
    design = SprtDesign.of(Judge())
    assert (design.alpha, design.beta) == pytest.approx((0.01, 0.05))
    assert sum(design.weight(n) for n in ("errors", "latency_p99", "latency_mean", "overhead_mean")) == pytest.approx(1)
    assert design.weight("errors") == pytest.approx(0.5)
    # a FAIL on any signal rolls back (a union: alpha is split); a PASS needs all (intersection-union: beta is not)
    assert design.upper("errors") == pytest.approx(math.log((1 - 0.05) / 0.005))
    assert design.lower("latency_p99") == pytest.approx(math.log(0.05 / (1 - 0.002)))
    # the judge's hypotheses: the tolerance against twice the tolerated increase
    assert (design.latency_margin, design.latency_regression) == pytest.approx((math.log(1.25), math.log(1.5)))


def test_the_sprt_errors_are_near_its_design_alpha_and_beta() -> None:
    # A world without shared noise or bursts, so the SPRT's model holds; alpha = beta = 0.1 so that 150 seeds can
    # see them. Canaries at the error tolerance (H0) are rolled back at most alpha of the time (Wald: about
    # alpha / (1 - beta)); canaries at the regression (H1: 1% + 2 x the tolerated 0.45 points) promoted at most beta.
    strategy = Strategy(bake_minutes=60, max_bake_minutes=180)  # the test decides, the deadline does not
    config = SimConfig(
        horizon=step_periods_needed(strategy),
        burst_probability=0.0,
        error_noise_sd=0.0,
        latency_noise_sd=0.0,
        variant_latency_noise_sd=0.0,
    )
    design = replace(SprtDesign.of(Judge()), alpha=0.1, beta=0.1)
    at_tolerance, _ = boundary_scenarios(error_ratio=1.25, error_slack=0.002, latency_increase=0.25, base_5xx=0.01)
    seeds = range(150)
    at_regression = replace(at_tolerance, name="errors_at_regression", canary_error_factor=1.9)
    tolerated = [
        sprt_step(s.baseline, s.canary, design, strategy)
        for s in (simulate(at_tolerance, 50, 0.5, seed, config) for seed in seeds)
    ]
    regressed = [
        sprt_step(s.baseline, s.canary, design, strategy)
        for s in (simulate(at_regression, 50, 0.5, seed, config) for seed in seeds)
    ]
    false_rollbacks = sum(r.decision == ROLLBACK for r in tolerated) / len(tolerated)
    promoted_regressions = sum(r.decision == PASS for r in regressed) / len(regressed)
    assert not any(r.deadline for r in tolerated + regressed)
    # the 95% Wilson lower bound of each measured rate is within its design rate, and the rates are not far above it
    assert wilson(round(false_rollbacks * 150), 150)[0] <= 0.1 and false_rollbacks <= 0.16
    assert wilson(round(promoted_regressions * 150), 150)[0] <= 0.1 and promoted_regressions <= 0.16
    # and it does decide: most canaries at the tolerance pass, most at the regression are rolled back
    assert 1 - false_rollbacks >= 0.84 and 1 - promoted_regressions >= 0.84


def test_the_static_window_aggregates_five_minutes_and_passes_a_silent_canary() -> None:
    setting = WindowSetting(error_rate=0.0145, p99_ms=113.0)
    quiet = VariantSeries("candidate", [Period()] * 31)
    assert window_step(quiet, setting, Strategy()) == StepResult(PASS, 600.0)
    # one bad minute of five: 100 errors in 5 x 2000 requests = 1% < 1.45%, no alarm
    periods = [Period(invocations=2000.0, errors_5xx=0.0, latency_p99_ms=90.0)] * 31
    periods[3] = Period(invocations=2000.0, errors_5xx=100.0, latency_p99_ms=90.0)
    assert window_step(VariantSeries("c", periods), setting, Strategy()).decision == PASS
    periods[4] = Period(invocations=2000.0, errors_5xx=100.0, latency_p99_ms=90.0)
    # two: 2% over minutes 1-5, seen at the first look with five complete minutes (6 minutes in)
    assert window_step(VariantSeries("c", periods), setting, Strategy()) == StepResult(
        ROLLBACK, 360.0, signals=("error_rate",)
    )
    assert window_p99(
        [Period(invocations=1.0, latency_p99_ms=100.0), Period(invocations=3.0, latency_p99_ms=10.0)]
    ) == (pytest.approx(10**1.25))
