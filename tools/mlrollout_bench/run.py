"""`make bench-judge`: the product's rollout policy on simulated canaries, against an SPRT and static alarms.

    python -m mlrollout_bench.run [--rollout-seeds 1000] [--seeds 300] [--tune-seeds 150] [--quick] [--workers 2]
                                  [--out bench/results]

0. Whole rollouts (issue 11's targets). Each (scenario, traffic) cell runs --rollout-seeds rollouts through the
   shipped default strategy and judge: the product's `judge()` and `policy.decide()` look by look, step by step,
   with bakes, deadlines and deadline rollbacks; Wald's SPRT and a 5-minute static alarm on the same streams.
   The per-step phases below compare the judge's statistics with other rules on single streams.

1. Tuning. On tuning seeds (1,000,000 and up, never used for evaluation) the static threshold's grid of
   (E, L, M, N) is scored on the no-regression and regression streams of every cell; the chosen setting has the
   highest mean detection rate over the regression scenarios among those whose false-rollback rate at every
   traffic level is at most max(ours on the same tuning streams, 1%).
2. Evaluation. On seeds 0..N-1 every (scenario, traffic, share) cell is simulated once per seed and all three
   rules judge the identical streams.
3. Base-rate sweep. The error-rate scenarios at 50 rps and a 10% share, and no regression at every cell, with
   other base 5XX rates.
4. Sensitivity. Our judge with other thresholds on the same streams (10% share): evidence for tuning it.
5. Report: bench/results/judge.md, judge.json (every number and seed), judge.png; the targets, met or not.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

import mlrollout.domain.config as config_module
import mlrollout.domain.judge as judge_module
from mlrollout.domain.config import Judge, Shadow, Strategy
from mlrollout.domain.estimate import DEADLINE_CAP_MINUTES, Traffic, estimate
from mlrollout.domain.estimate import planned as planned_estimate
from mlrollout.domain.judge import DISPERSION_MINUTES, VariantSeries, error_dispersion
from mlrollout.domain.policy import design_periods
from mlrollout_bench.judges import (
    NO_DECISION,
    PASS,
    ROLLBACK,
    Evidence,
    Outcome,
    SprtDesign,
    StaticSetting,
    StepResult,
    WindowSetting,
    breach_mask,
    error_rates,
    first_alarm,
    mann_whitney_judge,
    ours,
    p99s,
    product_step,
    sprt_step,
    static_threshold,
    step_periods_needed,
    window_step,
)
from mlrollout_bench.simulate import (
    CANARY_SHARES,
    SCENARIO_BY_NAME,
    SCENARIOS,
    TRAFFIC_RPS,
    Scenario,
    SimConfig,
    Stream,
    boundary_scenarios,
    lognormal_p99,
    simulate,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
TUNING_SEED_OFFSET = 1_000_000
JUDGES = ("ours", "static", "static_n5", "mann_whitney")
# The static alarm twice: the best setting on the whole grid, and the best with a window of at most 5 periods
# (Flagger's documented `threshold: 5` failed checks at a 1-minute interval; guardrail alarms rarely look longer).
STATIC_RULES: dict[str, Callable[[StaticSetting], bool]] = {
    "static": lambda setting: True,
    "static_n5": lambda setting: setting.n <= 5,
}
REGRESSIONS = tuple(s.name for s in SCENARIOS if s.regression)
NO_TRAFFIC = tuple(s.name for s in SCENARIOS if s.no_traffic)
MW_CONFIDENCE = 0.98  # NetflixACAJudge's MannWhitneyClassifier confLevel (the classifier's own default is 0.95)
MW_TOLERANCE = 0.25  # Kayenta's default tolerance fraction
FRR_TARGET = 0.01
TARGET_CELL = (50.0, 0.10)
TARGET_WITHIN = 5
BOUNDARY = ("errors_at_tolerance", "latency_at_tolerance")
SCENARIO_ORDER = (
    "no_regression",
    *REGRESSIONS,
    *BOUNDARY,
    *(s.name for s in SCENARIOS if not s.regression and s.name != "no_regression"),
)
SWEEP_SCENARIOS = ("no_regression", "errors_x1.5", "errors_x2", "errors_x3")
TIMING_SEED_OFFSET = 2_000_000
# Our judge with other thresholds, on the same streams: evidence for tuning it, not a rule of its own.
SENSITIVITY: dict[str, dict[str, Any]] = {
    "default": {},
    "confidence 0.95": {"confidence": 0.95},
    "error ratio 1.0": {"max_error_rate_ratio": 1.0},
    "error slack 0": {"max_error_rate_increase": 0.0},
    "ratio 1.0 + confidence 0.95": {"max_error_rate_ratio": 1.0, "confidence": 0.95},
}
SENSITIVITY_SCENARIOS = ("no_regression", "errors_x1.5", "errors_x2", "errors_x3", "baseline_degrades")
SENSITIVITY_SHARE = 0.10

GRID_ERROR_RATES = (
    *(0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10, 0.15, 0.20, 0.30),
    1.01,  # off
)
GRID_P99_MS = (
    *(85.0, 88.0, 90.0, 92.0, 95.0, 100.0, 105.0, 110.0, 115.0, 120.0, 130.0, 140.0, 150.0, 175.0, 200.0, 250.0),
    math.inf,  # off
)
GRID_M_OF_N = (
    *((1, 1), (2, 2), (2, 3), (3, 3), (2, 4), (3, 4), (4, 4), (2, 5), (3, 5), (4, 5), (5, 5)),
    *((5, 6), (6, 6), (8, 8), (10, 10), (12, 12), (15, 15), (20, 20)),
)
GRID = tuple(
    StaticSetting(e, p, m, n) for e, p, (m, n) in itertools.product(GRID_ERROR_RATES, GRID_P99_MS, GRID_M_OF_N)
)


# ---------------------------------------------------------------------------------------------------- workers


def evaluation_scenarios(config: SimConfig) -> tuple[Scenario, ...]:
    """The benchmark's scenarios plus two canaries exactly at the default judge's tolerances."""
    limits = Judge()
    boundary = boundary_scenarios(
        error_ratio=limits.max_error_rate_ratio,
        error_slack=limits.max_error_rate_increase,
        latency_increase=limits.max_latency_increase,
        base_5xx=config.base_5xx,
    )
    return (*SCENARIOS, *boundary)


@dataclass(frozen=True)
class CellTask:
    phase: str
    scenario: Scenario
    rps: float
    share: float
    seeds: tuple[int, ...]
    config: SimConfig
    statics: tuple[tuple[str, StaticSetting], ...] = ()
    run_ours: bool = True
    run_baselines: bool = True
    run_grid: bool = False
    limits: tuple[tuple[str, Any], ...] = ()
    variant: str = "default"


@dataclass
class CellResult:
    phase: str
    scenario: str
    rps: float
    share: float
    base_5xx: float
    variant: str = "default"
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    grid: list[list[int]] | None = None
    p99_log_ratio: float | None = None
    seconds: float = 0.0


def grid_histograms(streams: Sequence[Stream], horizon: int) -> list[list[int]]:
    """For every GRID setting, a histogram of the first alarm's period (index 0: no alarm by the horizon).

    Breach masks are computed once per stream and threshold; identical combined masks are counted once.
    """
    error_masks = [[breach_mask(error_rates(s.canary), e) for e in GRID_ERROR_RATES] for s in streams]
    p99_masks = [[breach_mask(p99s(s.canary), p) for p in GRID_P99_MS] for s in streams]
    histograms = [[0] * (horizon + 1) for _ in GRID]
    for ei, li in itertools.product(range(len(GRID_ERROR_RATES)), range(len(GRID_P99_MS))):
        combined = Counter(em[ei] | pm[li] for em, pm in zip(error_masks, p99_masks, strict=True))
        base = (ei * len(GRID_P99_MS) + li) * len(GRID_M_OF_N)
        for mask, count in combined.items():
            for mi, (m, n) in enumerate(GRID_M_OF_N):
                histograms[base + mi][first_alarm(mask, horizon, m, n) or 0] += count
    return histograms


def run_cell(task: CellTask) -> CellResult:
    """Simulate every seed of one cell and judge each stream with the rules the task asks for."""
    started = time.perf_counter()
    scenario = task.scenario
    horizon = task.config.horizon
    limits = Judge(**dict(task.limits))
    streams = [simulate(scenario, task.rps, task.share, seed, task.config) for seed in task.seeds]
    result = CellResult(task.phase, scenario.name, task.rps, task.share, task.config.base_5xx, task.variant)
    result.p99_log_ratio = mean_p99_log_ratio(streams)
    if task.run_ours:
        result.outcomes["ours"] = [
            ours(s.baseline, s.canary, limits, horizon=horizon, keep_looking=scenario.baseline_degrades)
            for s in streams
        ]
    if task.run_baselines:
        for name, setting in task.statics:
            result.outcomes[name] = [static_threshold(s.canary, setting, horizon=horizon) for s in streams]
    if task.run_baselines:
        result.outcomes["mann_whitney"] = [
            mann_whitney_judge(s.baseline, s.canary, horizon=horizon, confidence=MW_CONFIDENCE, tolerance=MW_TOLERANCE)
            for s in streams
        ]
    if task.run_grid:
        result.grid = grid_histograms(streams, horizon)
    result.seconds = time.perf_counter() - started
    return result


def mean_p99_log_ratio(streams: Sequence[Stream]) -> float | None:
    """Mean over every period of ln(canary p99 / baseline p99): the bias of the per-period p99 comparison."""
    ratios = [
        math.log(c.latency_p99_ms / b.latency_p99_ms)
        for s in streams
        for c, b in zip(s.canary.periods, s.baseline.periods, strict=True)
        if c.latency_p99_ms and b.latency_p99_ms
    ]
    return statistics.fmean(ratios) if ratios else None


def run_all(tasks: list[CellTask], pool: ProcessPoolExecutor | None) -> list[CellResult]:
    if pool is None:
        return [run_cell(t) for t in tasks]
    return list(pool.map(run_cell, tasks, chunksize=1))


# ---------------------------------------------------------------------------------------------------- rollouts

ROLLOUT_RULES = ("product", "sprt", "static_5min", "product_shadow", "product_history")
# The product with `strategy.shadow: {percent: 100}` (opt-in): a shadow phase before the default steps.
SHADOW_STRATEGY = Strategy(shadow=Shadow(percent=100.0))
ROLLOUT_SCENARIOS = (
    "no_regression",
    "errors_at_tolerance",
    "latency_at_tolerance",
    "errors_x3",
    "p99_+50%",
    "errors_x2",
    "p99_+20%",
    "no_traffic",
    "baseline_degrades",
)
TARGET_REGRESSIONS = ("errors_x3", "p99_+50%")
PROMOTE_LEVELS = (50.0, 500.0)
PROMOTE_TARGET = 0.99
SPEED_FACTOR = 1.5
ESTIMATE_WITHIN = 0.30
ROLLOUT_SEED_OFFSET = 3_000_000


@dataclass(frozen=True)
class RolloutOutcome:
    """A whole rollout: promoted to 100% (PASS) or rolled back, `minutes` after the first step's weights took
    effect (the bakes' looks only; endpoint updates between steps not counted), at step `step` (1-based)."""

    decision: str
    minutes: float
    step: int
    deadline: bool = False
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolloutTask:
    scenario: Scenario
    rps: float
    seeds: tuple[int, ...]
    config: SimConfig


@dataclass
class RolloutCell:
    scenario: str
    rps: float
    outcomes: dict[str, list[RolloutOutcome]] = field(default_factory=dict)
    seconds: float = 0.0


def static_window_setting(limits: Judge, config: SimConfig) -> WindowSetting:
    """The 5-minute alarm a user who knows the current variant's levels would set at the judge's tolerances:
    5XX rate above ratio x base + slack, p99 above (1 + latency increase) x the healthy population p99."""
    return WindowSetting(
        error_rate=limits.max_error_rate_ratio * config.base_5xx + limits.max_error_rate_increase,
        p99_ms=(1 + limits.max_latency_increase) * lognormal_p99(config.latency_median_ms, config.latency_sigma),
    )


StepRule = Callable[[Stream, int, bool, Evidence], StepResult]


def run_rollout(streams: Sequence[Stream], step_rule: StepRule) -> RolloutOutcome:
    """The steps in turn, each on its own stream, each with the evidence of the steps before it: the first
    rollback ends the rollout; after the last step's advance the candidate is promoted."""
    seconds = 0.0
    evidence = Evidence()
    for index, stream in enumerate(streams):
        result = step_rule(stream, index, index == len(streams) - 1, evidence)
        seconds += result.seconds
        if result.decision == ROLLBACK:
            return RolloutOutcome(ROLLBACK, seconds / 60, index + 1, result.deadline, result.signals)
        evidence = evidence.then(stream.baseline, stream.canary, result.periods)
    return RolloutOutcome(PASS, seconds / 60, len(streams))


def run_rollout_cell(task: RolloutTask) -> RolloutCell:
    """Every seed of one (scenario, traffic) cell through the shipped default strategy and judge, with each rule.

    Step i of seed s is the stream simulate(scenario, rps, steps[i] / 100, s): every rule and every scenario sees
    the same minutes (common random numbers)."""
    started = time.perf_counter()
    limits, strategy = Judge(), Strategy()
    design = SprtDesign.of(limits)
    setting = static_window_setting(limits, task.config)
    assert SHADOW_STRATEGY.shadow is not None
    shadowed = SHADOW_STRATEGY
    # The deadlines Plan sets for each phase at this traffic (domain/estimate.traffic_deadline), as the product
    # runs with them: Plan reads the current variant's recent traffic, which before the rollout is all of it.
    traffic = Traffic(task.rps * 60, task.config.base_5xx)
    deadlines = [p.deadline_minutes for p in estimate(traffic, limits, strategy).phases]
    shadow_deadlines = [p.deadline_minutes for p in estimate(traffic, limits, shadowed).phases]
    switched = strategy.model_copy(update={"type": "all_at_once"})
    longest = max([strategy.deadline_minutes, *deadlines, *shadow_deadlines])
    horizon = step_periods_needed(strategy.model_copy(update={"max_bake_minutes": longest}), task.config.period_seconds)
    config = replace(task.config, horizon=horizon)
    shares = [weight / 100 for weight in strategy.traffic_steps()]
    assert shadowed.shadow is not None  # `shadowed` is the strategy with its shadow phase
    shadow_share = shadowed.shadow.percent / 100
    cell = RolloutCell(task.scenario.name, task.rps, {rule: [] for rule in ROLLOUT_RULES})

    def planned(i: int, phases: list[float]) -> float | None:
        return phases[i] if i < len(phases) else None

    rules: dict[str, StepRule] = {
        "product": lambda s, i, final, evidence: product_step(
            s.baseline, s.canary, limits, strategy, final=final, evidence=evidence,
            deadline_minutes=planned(i, deadlines),
        ),
        "sprt": lambda s, i, final, evidence: sprt_step(
            s.baseline, s.canary, design, strategy, final=final, evidence=evidence,
            deadline_minutes=planned(i, deadlines),
        ),
        "static_5min": lambda s, i, final, evidence: window_step(s.canary, setting, strategy),
    }  # fmt: skip
    # Stream 0 is the shadow phase (a copy of every request), then the same steps' streams as the other rules.
    with_shadow: StepRule = lambda s, i, final, evidence: product_step(  # noqa: E731
        s.baseline, s.canary, limits, shadowed, final=final, evidence=evidence, shadow=i == 0,
        deadline_minutes=planned(i, shadow_deadlines),
    )  # fmt: skip

    # A serverless endpoint (services/evaluate.look_series): the candidate takes every request at once and each of
    # its minutes is judged against the current variant's minute as far before the switch, the judge and Plan's
    # deadline both assuming the error dispersion of the hour before the switch, as the product measures it.
    @functools.cache
    def history_deadline(dispersion: float) -> float:
        traffic = Traffic(task.rps * 60, task.config.base_5xx, error_dispersion=dispersion)
        [phase] = planned_estimate(traffic, limits, switched, history=True).phases
        return phase.deadline_minutes

    def against_history(seed: int) -> RolloutOutcome:
        before, dispersion = history_before(task, seed)
        # Plan's deadline at the measured dispersion to two significant digits (a plan takes 0.1 s; this way a cell
        # makes a few dozen), the judge at the exact one.
        deadline = history_deadline(float(f"{dispersion:.2g}"))
        needed = step_periods_needed(switched.model_copy(update={"max_bake_minutes": deadline}), 60)
        after = simulate(task.scenario, task.rps, 1.0, seed, replace(task.config, horizon=needed), shadow=True)
        return run_rollout(
            [replace(after, baseline=before)],
            lambda s, i, final, evidence: product_step(
                s.baseline,
                s.canary,
                limits,
                switched,
                final=True,
                evidence=evidence,
                deadline_minutes=deadline,
                dispersion_floor=dispersion,
            ),
        )

    for seed in task.seeds:
        streams = [simulate(task.scenario, task.rps, share, seed, config) for share in shares]
        for name, rule in rules.items():
            cell.outcomes[name].append(run_rollout(streams, rule))
        shadow_stream = simulate(task.scenario, task.rps, shadow_share, seed, config, shadow=True)
        cell.outcomes["product_shadow"].append(run_rollout([shadow_stream, *streams], with_shadow))
        cell.outcomes["product_history"].append(against_history(seed))
    cell.seconds = time.perf_counter() - started
    return cell


def history_before(task: RolloutTask, seed: int) -> tuple[VariantSeries, float]:
    """The current variant's minutes before the switch, nearest first (the order the judge pairs them with the
    candidate's after it), as many as the longest deadline needs, and the error dispersion of the hour before the
    switch (judge.error_dispersion, as Plan and the judge measure it). Other minutes of the same world: their own
    traffic noise and bursts (a burst before the switch is not one after it), and no scenario."""
    horizon = step_periods_needed(Strategy(max_bake_minutes=DEADLINE_CAP_MINUTES), task.config.period_seconds)
    config = replace(task.config, horizon=max(horizon, DISPERSION_MINUTES))
    before = simulate(SCENARIO_BY_NAME["no_regression"], task.rps, 1.0, -1 - seed, config, shadow=True).baseline
    hour = [(p.errors_5xx or 0.0, p.invocations or 0.0) for p in before.periods[:DISPERSION_MINUTES]]
    return before, error_dispersion(hour)


def rollout_median(outcomes: Sequence[RolloutOutcome], decision: str) -> float:
    """Median minutes to `decision` over all runs, a run that ended otherwise counting as never (infinity)."""
    times = [o.minutes if o.decision == decision else math.inf for o in outcomes]
    return statistics.median(times) if times else math.inf


def rollout_numbers(outcomes: Sequence[RolloutOutcome]) -> dict[str, Any]:
    runs = len(outcomes)
    rollbacks = sum(o.decision == ROLLBACK for o in outcomes)
    deadline = sum(o.decision == ROLLBACK and o.deadline for o in outcomes)
    promoted = runs - rollbacks
    return {
        "runs": runs,
        "rollbacks": rollbacks,
        "rollback_rate": rollbacks / runs if runs else 0.0,
        "rollback_ci95": wilson(rollbacks, runs),
        "deadline_rollbacks": deadline,
        "fail_rollbacks": rollbacks - deadline,
        "rollbacks_at_step": dict(Counter(str(o.step) for o in outcomes if o.decision == ROLLBACK)),
        "promoted": promoted,
        "promoted_rate": promoted / runs if runs else 0.0,
        "promoted_ci95": wilson(promoted, runs),
        "median_minutes_to_rollback": _finite_or_none(rollout_median(outcomes, ROLLBACK)),
        "median_minutes_to_promote": _finite_or_none(rollout_median(outcomes, PASS)),
        "signals": dict(
            Counter(f"{'deadline' if o.deadline else o.decision}:{n}" for o in outcomes for n in o.signals)
        ),
    }


def _share(numbers: dict[str, Any], key: str) -> str:
    lo, hi = numbers[f"{key}_ci95"]
    count = numbers["rollbacks" if key == "rollback" else "promoted"]
    return f"{numbers[f'{key}_rate']:.1%} ({count}/{numbers['runs']}, 95% CI {lo:.1%}-{hi:.1%})"


def issue_targets(cells: list[RolloutCell]) -> tuple[list[Target], dict[str, Any]]:
    """Issue 11's targets for the product at the shipped defaults, each level of traffic on its own."""
    table = {f"{c.scenario}@{c.rps:g}": {rule: rollout_numbers(out) for rule, out in c.outcomes.items()} for c in cells}

    def row(scenario: str, rps: float, rule: str = "product") -> dict[str, Any]:
        return table[f"{scenario}@{rps:g}"][rule]

    targets: list[Target] = []
    for scenario, what in (
        ("no_regression", "healthy canaries"),
        ("errors_at_tolerance", "canaries exactly at the error tolerance"),
        ("latency_at_tolerance", "canaries exactly at the latency tolerance"),
    ):
        for rps in TRAFFIC_RPS:
            r = row(scenario, rps)
            targets.append(
                Target(
                    f"false rollbacks (deadline ones included) <= 1% for {what}, {rps:g} rps",
                    r["rollback_rate"] <= FRR_TARGET,
                    f"{_share(r, 'rollback')}: {r['fail_rollbacks']} FAIL, {r['deadline_rollbacks']} at the deadline"
                    f"; SPRT {row(scenario, rps, 'sprt')['rollback_rate']:.1%}, static 5-min "
                    f"{row(scenario, rps, 'static_5min')['rollback_rate']:.1%}",
                )
            )
    for rps in TRAFFIC_RPS:
        r = row("no_regression", rps)
        required = rps in PROMOTE_LEVELS
        targets.append(
            Target(
                f"healthy promoted in >= 99% of runs within the default time limits, {rps:g} rps"
                + ("" if required else " (not required at 5 rps; shown for reference)"),
                r["promoted_rate"] >= PROMOTE_TARGET,
                f"{_share(r, 'promoted')}; SPRT {row('no_regression', rps, 'sprt')['promoted_rate']:.1%}",
            )
        )
    # The opt-in paths, each at the same targets: a shadow phase at 5 rps, and judging against history at each level.
    shadow = "with a shadow phase (strategy.shadow: {percent: 100}, opt-in), 5 rps"
    paths = [("product_shadow", 5.0, shadow, "canaries")]
    paths += [
        ("product_history", rps, f"judged against the endpoint's history (serverless), {rps:g} rps", "versions")
        for rps in TRAFFIC_RPS
    ]
    for rule, rps, where_, kind in paths:
        for scenario, what in (
            ("no_regression", f"healthy {kind}"),
            ("errors_at_tolerance", f"{kind} at the error tolerance"),
            ("latency_at_tolerance", f"{kind} at the latency tolerance"),
            *((s, f"regression {s}") for s in TARGET_REGRESSIONS),
        ):
            r = row(scenario, rps, rule)
            regression = scenario in TARGET_REGRESSIONS
            key = "promoted" if regression else "rollback"
            targets.append(
                Target(
                    f"{where_}: {what} " + ("promoted" if regression else "rolled back") + " in <= 1% of runs",
                    r[f"{key}_rate"] <= FRR_TARGET,
                    f"{_share(r, key)}; median minutes to promote {_fmt(r['median_minutes_to_promote'], 1)}, "
                    f"to roll back {_fmt(r['median_minutes_to_rollback'], 1)}",
                )
            )
    measured = row("no_regression", 5.0)["median_minutes_to_promote"]
    planned = estimate(Traffic(5.0 * 60, SimConfig().base_5xx), Judge(), Strategy(), with_options=False).total_minutes
    error = None if planned is None or not measured else planned / measured - 1
    targets.append(
        Target(
            "at 5 rps the plan's estimate within 30% of the measured median time to promote",
            error is not None and abs(error) <= ESTIMATE_WITHIN,
            f"estimate {_fmt(planned, 1)} min (domain/estimate.py at {5.0 * 60:g} requests/minute and a "
            f"{SimConfig().base_5xx:.0%} error rate), measured median {_fmt(measured, 1)} min"
            + (f" ({error:+.0%})" if error is not None else ""),
        )
    )
    for scenario in TARGET_REGRESSIONS:
        for rps in TRAFFIC_RPS:
            r = row(scenario, rps)
            targets.append(
                Target(
                    f"regression {scenario} promoted in <= 1% of runs, {rps:g} rps",
                    r["promoted_rate"] <= FRR_TARGET,
                    f"{_share(r, 'promoted')}; SPRT {row(scenario, rps, 'sprt')['promoted_rate']:.1%}, static 5-min "
                    f"{row(scenario, rps, 'static_5min')['promoted_rate']:.1%}",
                )
            )
    speed: list[tuple[str, str, str]] = [(s, "rollback", "median_minutes_to_rollback") for s in TARGET_REGRESSIONS]
    speed.append(("no_regression", "promote", "median_minutes_to_promote"))
    for scenario, verb, key in speed:
        for rps in TRAFFIC_RPS:
            ours_m, sprt_m = row(scenario, rps)[key], row(scenario, rps, "sprt")[key]
            if ours_m is None:
                met, ratio = False, "the product does not " + verb + " in half the runs"
            elif sprt_m is None:
                met, ratio = True, "the SPRT does not " + verb + " in half the runs"
            else:
                met, ratio = ours_m <= SPEED_FACTOR * sprt_m, f"ratio {ours_m / sprt_m:.2f}"
            targets.append(
                Target(
                    f"median time to {verb} ({scenario}) <= {SPEED_FACTOR:g} x the SPRT's, {rps:g} rps",
                    met,
                    f"product {_fmt(ours_m, 1)} min, SPRT {_fmt(sprt_m, 1)} min ({ratio})",
                )
            )
    return targets, table


# ---------------------------------------------------------------------------------------------------- statistics


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion k / n: (c -+ h) with c = (k + z^2/2) / (n + z^2) and
    h = z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2)."""
    if n == 0:
        return 0.0, 1.0
    center = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return max(0.0, center - half), min(1.0, center + half)


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile by nearest rank: the ceil(q n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def censored_median(outcomes: Sequence[Outcome]) -> float:
    """Median periods to rollback over all runs, a run without a rollback counting as infinitely late."""
    times = [o.period if o.decision == ROLLBACK and o.period is not None else math.inf for o in outcomes]
    return statistics.median(times) if times else math.inf


@dataclass
class Summary:
    """One cell's numbers for one rule."""

    judge: str
    scenario: str
    rps: float
    share: float
    base_5xx: float
    runs: int
    rollbacks: int
    passes: int
    undecided: int
    rollback_rate: float
    rollback_ci95: tuple[float, float]
    pass_rate: float
    to_rollback_median: float | None
    to_rollback_p90: float | None
    to_pass_median: float | None
    to_pass_p90: float | None
    to_decision_median: float | None
    to_decision_p90: float | None
    rollback_median_censored: float | None
    rollbacks_within_5: int
    any_look_fail: int | None
    signals: dict[str, int]
    variant: str = "default"


def summarise(judge: str, cell: CellResult) -> Summary:
    outcomes = cell.outcomes[judge]
    runs = len(outcomes)
    to_rollback = [o.period for o in outcomes if o.decision == ROLLBACK and o.period is not None]
    to_pass = [o.period for o in outcomes if o.decision == PASS and o.period is not None]
    decided = to_rollback + to_pass
    censored = censored_median(outcomes)
    rollbacks = len(to_rollback)
    return Summary(
        judge=judge,
        scenario=cell.scenario,
        rps=cell.rps,
        share=cell.share,
        base_5xx=cell.base_5xx,
        runs=runs,
        rollbacks=rollbacks,
        passes=sum(o.decision == PASS for o in outcomes),
        undecided=sum(o.decision == NO_DECISION for o in outcomes),
        rollback_rate=rollbacks / runs if runs else 0.0,
        rollback_ci95=wilson(rollbacks, runs),
        pass_rate=sum(o.decision == PASS for o in outcomes) / runs if runs else 0.0,
        to_rollback_median=statistics.median(to_rollback) if to_rollback else None,
        to_rollback_p90=nearest_rank(to_rollback, 0.9),
        to_pass_median=statistics.median(to_pass) if to_pass else None,
        to_pass_p90=nearest_rank(to_pass, 0.9),
        to_decision_median=statistics.median(decided) if decided else None,
        to_decision_p90=nearest_rank(decided, 0.9),
        rollback_median_censored=None if math.isinf(censored) else censored,
        rollbacks_within_5=sum(1 for p in to_rollback if p <= TARGET_WITHIN),
        any_look_fail=sum(o.any_fail for o in outcomes)
        if judge == "ours" and cell.scenario == "baseline_degrades"
        else None,
        signals=dict(Counter(f"{o.decision}:{name}" for o in outcomes for name in o.signals)),
        variant=cell.variant,
    )


def where(
    *, scenarios: Collection[str] | None = None, rps: float | None = None, base_5xx: float | None = None
) -> Callable[[CellResult], bool]:
    """A predicate on cells: in these scenarios, at this traffic level, at this base 5XX rate (None: any)."""

    def test(cell: CellResult) -> bool:
        return (
            (scenarios is None or cell.scenario in scenarios)
            and (rps is None or cell.rps == rps)
            and (base_5xx is None or cell.base_5xx == base_5xx)
        )

    return test


def pooled(cells: Iterable[CellResult], judge: str, predicate: Callable[[CellResult], bool]) -> list[Outcome]:
    return [o for c in cells if predicate(c) and judge in c.outcomes for o in c.outcomes[judge]]


def rate(outcomes: Sequence[Outcome], decision: str = ROLLBACK) -> float:
    return sum(o.decision == decision for o in outcomes) / len(outcomes) if outcomes else 0.0


# ---------------------------------------------------------------------------------------------------- tuning


@dataclass
class Tuning:
    setting: StaticSetting
    caps: dict[str, float]
    ours_false_rollbacks: dict[str, float]
    setting_false_rollbacks: dict[str, float]
    setting_detection: dict[str, float]
    mean_detection: float
    feasible_settings: int
    runner_up: list[dict[str, Any]]
    best_per_scenario: dict[str, dict[str, Any]]


def choose_static(tuning: list[CellResult], horizon: int, allowed: Callable[[StaticSetting], bool]) -> Tuning:
    """The allowed grid setting with the best mean detection over the regression scenarios, subject to a
    false-rollback rate at each traffic level no higher than max(ours on the same tuning streams, 1%).

    Ties go to the earlier median detection (misses counted as never), then to fewer false rollbacks."""
    null = [c for c in tuning if c.scenario == "no_regression"]
    ours_frr = {f"{rps:g}": rate(pooled(null, "ours", where(rps=rps))) for rps in TRAFFIC_RPS}
    caps = {level: max(value, FRR_TARGET) for level, value in ours_frr.items()}

    def frr_of(index: int) -> dict[str, float]:
        out = {}
        for rps in TRAFFIC_RPS:
            hists = [c.grid[index] for c in null if c.rps == rps and c.grid is not None]
            total = sum(sum(h) for h in hists)
            out[f"{rps:g}"] = (total - sum(h[0] for h in hists)) / total
        return out

    def detection_of(index: int) -> tuple[dict[str, float], float, float]:
        per_scenario: dict[str, list[float]] = {name: [] for name in REGRESSIONS}
        merged = [0] * (horizon + 1)
        for c in tuning:
            if c.scenario in per_scenario and c.grid is not None:
                h = c.grid[index]
                per_scenario[c.scenario].append(1 - h[0] / sum(h))
                merged = [a + b for a, b in zip(merged, h, strict=True)]
        detection = {name: statistics.fmean(v) for name, v in per_scenario.items()}
        # median period of the first alarm, misses last
        total, running, median_at = sum(merged), 0, math.inf
        for period in range(1, horizon + 1):
            running += merged[period]
            if running >= total / 2:
                median_at = float(period)
                break
        return detection, statistics.fmean(detection.values()), median_at

    scored: list[tuple[float, float, float, int, dict[str, float], dict[str, float]]] = []
    for index in range(len(GRID)):
        if not allowed(GRID[index]):
            continue
        frr = frr_of(index)
        if all(frr[level] <= caps[level] for level in caps):
            detection, mean_detection, median_at = detection_of(index)
            scored.append((-mean_detection, median_at, sum(frr.values()), index, frr, detection))
    if not scored:
        raise SystemExit("no static setting meets the false-rollback cap; widen the grid")
    scored.sort(key=lambda row: row[:4])
    best = scored[0]
    # The ceiling: the best any feasible setting does on each scenario alone (a different setting each).
    ceiling: dict[str, dict[str, Any]] = {}
    for name in REGRESSIONS:
        top = max(scored, key=lambda row: row[5][name])
        ceiling[name] = {"detection": top[5][name], "setting": GRID[top[3]].label()}
    return Tuning(
        setting=GRID[best[3]],
        caps=caps,
        ours_false_rollbacks=ours_frr,
        setting_false_rollbacks=best[4],
        setting_detection=best[5],
        mean_detection=-best[0],
        feasible_settings=len(scored),
        runner_up=[
            {"setting": GRID[row[3]].label(), "mean_detection": -row[0], "false_rollbacks": row[4]}
            for row in scored[1:6]
        ],
        best_per_scenario=ceiling,
    )


# ---------------------------------------------------------------------------------------------------- timing


def time_one_evaluation(static: StaticSetting, config: SimConfig, samples: int) -> dict[str, dict[str, float]]:
    """Median and p90 wall time (microseconds) of one evaluation of a full `horizon`-period stream per rule.

    ours: one judge() look over all periods (what the Lambda runs each minute) and, separately, the whole
    sequence of looks 1..horizon up to the first decision; static: the M-of-N alarm over the stream;
    Mann-Whitney: both metric tests at the horizon."""
    limits = Judge()
    horizon = config.horizon
    streams = [
        simulate(SCENARIO_BY_NAME[name], TARGET_CELL[0], TARGET_CELL[1], TIMING_SEED_OFFSET + i, config)
        for i, name in zip(range(samples), itertools.cycle(("no_regression", "errors_x2", "p99_+50%")), strict=False)
    ]
    rules: dict[str, Callable[[Stream], object]] = {
        f"ours (one look, {horizon} periods)": lambda s: judge_module.judge(
            s.baseline, s.canary, limits, design_periods=horizon
        ),
        "ours (looks until decision)": lambda s: ours(s.baseline, s.canary, limits, horizon=horizon),
        "static": lambda s: static_threshold(s.canary, static, horizon=horizon),
        "mann_whitney": lambda s: mann_whitney_judge(
            s.baseline, s.canary, horizon=horizon, confidence=MW_CONFIDENCE, tolerance=MW_TOLERANCE
        ),
    }
    first_alarm.cache_clear()
    timings: dict[str, dict[str, float]] = {}
    for name, rule in rules.items():
        seconds = []
        for s in streams:
            started = time.perf_counter()
            rule(s)
            seconds.append(time.perf_counter() - started)
        timings[name] = {
            "median_us": statistics.median(seconds) * 1e6,
            "p90_us": (nearest_rank(seconds, 0.9) or 0.0) * 1e6,
            "samples": len(seconds),
        }
    return timings


# ---------------------------------------------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    met: bool
    detail: str


def fixed_sample_power(config: SimConfig, periods: int, factor: float, alpha: float) -> tuple[float, int]:
    """The power of an oracle one-sided two-proportion z-test at level alpha after `periods` periods at the
    target cell (expected counts, no noise, no tolerance), and the periods it needs for 95% power.

    power = Phi((p_c - p_b) / se - z_(1-alpha)), se = sqrt(p_c (1 - p_c) / n_c + p_b (1 - p_b) / n_b)."""
    rps, share = TARGET_CELL
    pb, pc = config.base_5xx, config.base_5xx * factor
    z_alpha = NormalDist().inv_cdf(1 - alpha)

    def power(k: int) -> float:
        nc, nb = rps * share * config.period_seconds * k, rps * (1 - share) * config.period_seconds * k
        se = math.sqrt(pc * (1 - pc) / nc + pb * (1 - pb) / nb)
        return NormalDist().cdf((pc - pb) / se - z_alpha)

    needed = next((k for k in range(1, 10_000) if power(k) >= 0.95), -1)
    return power(periods), needed


def evaluate_targets(evaluation: list[CellResult], config: SimConfig) -> tuple[list[Target], dict[str, Any]]:
    numbers: dict[str, Any] = {}
    targets: list[Target] = []

    # 1. false rollbacks <= 1% on no-regression streams at every traffic level
    frr: dict[str, dict[str, Any]] = {}
    for rps in TRAFFIC_RPS:
        out = pooled(evaluation, "ours", where(scenarios=("no_regression",), rps=rps))
        k = sum(o.decision == ROLLBACK for o in out)
        frr[f"{rps:g}"] = {"rate": k / len(out), "rollbacks": k, "runs": len(out), "ci95": wilson(k, len(out))}
    numbers["false_rollbacks_by_level"] = frr
    worst = max(frr.values(), key=lambda v: v["rate"])
    targets.append(
        Target(
            "false rollbacks <= 1% on no-regression streams at every traffic level",
            all(v["rate"] <= FRR_TARGET for v in frr.values()),
            "; ".join(
                f"{level} rps: {v['rate']:.2%} ({v['rollbacks']}/{v['runs']}, 95% CI {v['ci95'][0]:.2%}-"
                f"{v['ci95'][1]:.2%})"
                for level, v in frr.items()
            )
            + f" (worst {worst['rate']:.2%})",
        )
    )

    # 2. an x2 error-rate regression detected in >= 95% of runs within 5 periods at 50 rps, 10% share
    cell = next(
        c
        for c in evaluation
        if c.scenario == "errors_x2" and (c.rps, c.share) == TARGET_CELL and c.base_5xx == config.base_5xx
    )
    within: dict[str, dict[str, Any]] = {}
    for judge in JUDGES:
        out = cell.outcomes[judge]
        k = sum(1 for o in out if o.decision == ROLLBACK and o.period is not None and o.period <= TARGET_WITHIN)
        within[judge] = {"rate": k / len(out), "count": k, "runs": len(out)}
    power, needed = fixed_sample_power(config, TARGET_WITHIN, 2.0, 0.01)
    numbers["x2_within_5_at_50rps_10pct"] = within
    numbers["oracle_z_test"] = {"power_at_5_periods": power, "periods_for_95pct_power": needed, "alpha": 0.01}
    targets.append(
        Target(
            "x2 error-rate regression detected in >= 95% of runs within 5 periods at 50 rps, 10% share",
            within["ours"]["rate"] >= 0.95,
            ", ".join(f"{j} {v['rate']:.1%} ({v['count']}/{v['runs']})" for j, v in within.items())
            + f" (Mann-Whitney only decides at period {config.horizon}). For scale: an oracle one-sided z-test at "
            f"alpha 0.01 on the expected counts, with no tolerance, no noise and one look, has {power:.0%} power "
            f"after 5 periods and needs {needed} periods for 95%",
        )
    )

    # 3. median periods-to-detect at most half the static threshold's, at an equal or lower false-rollback rate
    regression = where(scenarios=REGRESSIONS, base_5xx=config.base_5xx)
    null = where(scenarios=("no_regression",), base_5xx=config.base_5xx)
    rules = ("ours", *STATIC_RULES)
    medians = {j: censored_median(pooled(evaluation, j, regression)) for j in rules}
    frrs = {j: rate(pooled(evaluation, j, null)) for j in rules}
    per_scenario = {
        name: {
            j: censored_median(pooled(evaluation, j, where(scenarios=(name,), base_5xx=config.base_5xx))) for j in rules
        }
        for name in REGRESSIONS
    }
    # Cell by cell, where ours or that static rule detects in half the runs (so a median exists).
    by_cell: dict[str, list[dict[str, Any]]] = {}
    halved: dict[str, int] = {}
    for static in STATIC_RULES:
        rows: list[dict[str, Any]] = []
        for c in evaluation:
            if regression(c):
                o, st = censored_median(c.outcomes["ours"]), censored_median(c.outcomes[static])
                if math.isfinite(o) or math.isfinite(st):
                    rows.append({"scenario": c.scenario, "rps": c.rps, "share": c.share, "ours": o, static: st})
        by_cell[static] = rows
        halved[static] = sum(1 for row in rows if row["ours"] <= row[static] / 2)
    numbers["median_periods_to_detect_censored"] = {
        "pooled": medians,
        "by_scenario": per_scenario,
        "by_cell": by_cell,
        "cells_ours_at_most_half": halved,
    }
    numbers["false_rollbacks_pooled"] = frrs

    def verdict3(static: str) -> bool:
        return (
            math.isfinite(medians["ours"]) and medians["ours"] <= medians[static] / 2 and frrs["ours"] <= frrs[static]
        )

    numbers["median_target_by_static_rule"] = {static: verdict3(static) for static in STATIC_RULES}
    targets.append(
        Target(
            "median periods-to-detect at most half the static threshold's at an equal or lower false-rollback rate",
            verdict3("static"),
            "pooled over the regression scenarios and every cell, a miss counted as never (- = more than half "
            "missed): "
            + ", ".join(f"{j} {_fmt(medians[j])}" for j in rules)
            + " periods; false rollbacks "
            + ", ".join(f"{j} {frrs[j]:.2%}" for j in rules)
            + "; by scenario ("
            + " / ".join(rules)
            + "): "
            + ", ".join(f"{n} " + " / ".join(_fmt(v[j]) for j in rules) for n, v in per_scenario.items())
            + "; cells where ours takes at most half the static rule's median, of those where either detects in "
            "half the runs: "
            + ", ".join(f"vs {st} {halved[st]} of {len(by_cell[st])}" for st in STATIC_RULES)
            + (f"; against static_n5 alone the target is {'met' if verdict3('static_n5') else 'not met'}"),
        )
    )

    # 4. zero passes on canaries without traffic
    passes = {j: sum(o.decision == PASS for o in pooled(evaluation, j, where(scenarios=NO_TRAFFIC))) for j in JUDGES}
    runs = len(pooled(evaluation, "ours", where(scenarios=NO_TRAFFIC)))
    numbers["no_traffic_passes"] = {"by_judge": passes, "runs": runs}
    targets.append(
        Target(
            "zero passes on canaries that get no traffic",
            passes["ours"] == 0,
            ", ".join(f"{j} {passes[j]}/{runs}" for j in JUDGES)
            + " (for the static alarm and Mann-Whitney no data is not a failure, so they pass at the horizon)",
        )
    )

    # 5. zero canary blame on degraded-baseline streams
    blame = {
        j: sum(o.decision == ROLLBACK for o in pooled(evaluation, j, where(scenarios=("baseline_degrades",))))
        for j in JUDGES
    }
    degraded = pooled(evaluation, "ours", where(scenarios=("baseline_degrades",)))
    any_look = sum(o.any_fail for o in degraded)
    numbers["degraded_baseline_blame"] = {"by_judge": blame, "runs": len(degraded), "ours_any_look_fail": any_look}
    targets.append(
        Target(
            "zero canary blame on degraded-baseline streams",
            blame["ours"] == 0,
            ", ".join(f"{j} {blame[j]}/{len(degraded)}" for j in JUDGES)
            + f" rollbacks; ours said FAIL at any look up to the horizon, even after a PASS, in {any_look}",
        )
    )
    return targets, numbers


def calibration(evaluation: list[CellResult]) -> dict[str, Any]:
    """Our judge where validity is at stake: FAIL rates of canaries exactly at its tolerances (nominal at most
    1 - confidence), and the no-regression bias of the per-period p99 log-ratio it compares."""
    boundary: dict[str, dict[str, Any]] = {}
    for name in BOUNDARY:
        boundary[name] = {}
        for rps in TRAFFIC_RPS:
            out = pooled(evaluation, "ours", where(scenarios=(name,), rps=rps))
            k = sum(o.decision == ROLLBACK for o in out)
            boundary[name][f"{rps:g}"] = {
                "fail_rate": k / len(out),
                "fails": k,
                "runs": len(out),
                "ci95": wilson(k, len(out)),
                "pass_rate": rate(out, PASS),
            }
    bias = {
        f"{c.rps:g} rps, {c.share:.0%}": {
            "mean_log_ratio": c.p99_log_ratio,
            "ratio": math.exp(c.p99_log_ratio) if c.p99_log_ratio is not None else None,
        }
        for c in evaluation
        if c.scenario == "no_regression"
    }
    return {"nominal_fail_rate": 1 - Judge().confidence, "boundary": boundary, "p99_log_ratio_no_regression": bias}


# ---------------------------------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "-"
    return f"{value:.{digits}f}" if digits else f"{value:g}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def markdown(report: dict[str, Any], summaries: list[Summary], sweep: list[Summary], sensitivity: list[Summary]) -> str:
    cfg = report["config"]
    tunings = report["static_tuning"]
    lines = [
        "# Judge benchmark",
        "",
        f"Generated by `{report['command'].strip()}` in {report['wall_seconds']:.0f} s "
        f"({report['workers']} workers); {report['eval_seeds']} evaluation seeds per cell, "
        f"{report['tune_seeds']} tuning seeds per cell. judge.py sha256 `{report['judge_sha256'][:12]}`.",
        "",
    ]
    lines += rollout_markdown(report)
    lines += [
        "",
        "## Per-step comparison: targets of the earlier benchmark",
        "",
        "The sections from here on judge single streams of `--horizon` periods at fixed shares: `ours` there stops "
        "at the first PASS and has no deadline, so it is not the product's policy (the section above is). They "
        "compare the judge's statistics with the tuned static alarms and Mann-Whitney on identical streams.",
        "",
        "| target | result | numbers |",
        "|---|---|---|",
    ]
    lines += [f"| {t['name']} | **{'met' if t['met'] else 'not met'}** | {t['detail']} |" for t in report["targets"]]
    lines += [
        "",
        "## Setup",
        "",
        f"- {cfg['horizon']} periods of {cfg['period_seconds']} s per stream; traffic "
        f"{', '.join(_fmt(r) for r in TRAFFIC_RPS)} rps in total; canary shares "
        f"{', '.join(f'{s:.0%}' for s in CANARY_SHARES)}.",
        f"- Base 5XX rate {cfg['base_5xx']:.2%}, 4XX {cfg['base_4xx']:.2%}; ModelLatency lognormal, median "
        f"{cfg['latency_median_ms']:g} ms, sigma {cfg['latency_sigma']:g} (population p99 "
        f"{lognormal_p99(cfg['latency_median_ms'], cfg['latency_sigma']):.0f} ms); OverheadLatency median "
        f"{cfg['overhead_median_ms']:g} ms.",
        f"- Shared by both variants: Poisson traffic with a +-{cfg['diurnal_amplitude']:.0%} diurnal sinusoid "
        f"(random phase) and {cfg['traffic_noise_sd']:.0%} lognormal noise; a shared error-rate noise "
        f"({cfg['error_noise_sd']:.0%}) and latency noise ({cfg['latency_noise_sd']:.0%}); bursts in "
        f"{cfg['burst_probability']:.0%} of periods (errors x{cfg['burst_error_factor']:g}, latency "
        f"x{cfg['burst_latency_factor']:g}).",
        "- A canary without traffic has every value None (CloudWatch has no datapoint for a minute without "
        "requests: SageMaker emits its invocation metrics per request); `no_traffic_zeros` is the same canary as an "
        "adapter that filled the gaps with zeros would report it.",
        f"- The degrading baseline: from a period drawn in [1, {cfg['horizon'] // 2}], errors "
        f"x{cfg['degrade_error_factor']:g} and latency x{cfg['degrade_latency_factor']:g}; the canary is unchanged.",
        "- ours: `judge()` with the default `Judge()` after every period, design_periods = horizon; first FAIL = "
        "rollback, first PASS = pass, INCONCLUSIVE to the horizon = no decision.",
        "- static, static_n5: the alarm's best setting on the tuning seeds over the whole grid, and over windows of "
        "at most 5 periods; the false-rollback cap at each traffic level is max(ours on the same tuning streams, "
        f"1%) = {tunings['static']['caps']}.",
    ]
    for name, tuning in tunings.items():
        lines.append(
            f"  - {name}: **{tuning['setting_label']}**; tuning detection {tuning['mean_detection']:.1%}, false "
            f"rollbacks {tuning['setting_false_rollbacks']}; {tuning['feasible_settings']} settings feasible. The "
            "best any feasible setting does on one scenario alone: "
            + ", ".join(f"{n} {v['detection']:.0%} ({v['setting']})" for n, v in tuning["best_per_scenario"].items())
            + "."
        )
    lines += [
        f"- Mann-Whitney: at period {cfg['horizon']} only; two-sided U test (normal approximation, tie and "
        f"continuity corrections) at confidence {MW_CONFIDENCE} (NetflixACAJudge's; Kayenta's classifier default "
        f"is 0.95) and a Hodges-Lehmann shift above {MW_TOLERANCE} x the baseline median; 5XX rate and p99.",
        "",
        f"## Wall time of one evaluation ({cfg['horizon']}-period stream)",
        "",
        "| rule | median | p90 |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {t['median_us']:.0f} us | {t['p90_us']:.0f} us |" for name, t in report["timings_us"].items()
    ]
    lines += [
        "",
        "## Overview: rollback rate by traffic level (shares pooled)",
        "",
        "Detection for the regression scenarios, false rollbacks for the others. Median periods to rollback counts a "
        "miss as never (`-` when half or more are missed).",
        "",
        "| scenario | judge | 5 rps | 50 rps | 500 rps | median periods to rollback | passes |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in SCENARIO_ORDER:
        for judge in JUDGES:
            rows = [s for s in summaries if s.scenario == scenario and s.judge == judge]
            by_level = []
            for rps in TRAFFIC_RPS:
                level = [s for s in rows if s.rps == rps]
                k, n = sum(s.rollbacks for s in level), sum(s.runs for s in level)
                by_level.append(_pct(k / n) if n else "-")
            median = report["overview_censored_medians"][scenario][judge]
            passes = sum(s.passes for s in rows)
            lines.append(
                f"| {scenario} | {judge} | {' | '.join(by_level)} | {_fmt(median)} | "
                f"{_pct(passes / sum(s.runs for s in rows))} |"
            )
    cal = report["calibration"]
    lines += [
        "",
        "## Calibration of our judge",
        "",
        "Canaries exactly at the default tolerances (every share pooled): the error rate at ratio x baseline + slack, "
        "ModelLatency (all quantiles and the mean) at +tolerance. The judge promises at most "
        f"{cal['nominal_fail_rate']:.0%} FAILs here.",
        "",
        "| boundary scenario | rps | FAIL (95% CI) | PASS |",
        "|---|---|---|---|",
    ]
    for name, levels in cal["boundary"].items():
        for level, v in levels.items():
            lo, hi = v["ci95"]
            lines.append(
                f"| {name} | {level} | {_pct(v['fail_rate'])} ({_pct(lo)}-{_pct(hi)}) | {_pct(v['pass_rate'])} |"
            )
    lines += [
        "",
        "Per-period ModelLatency p99, canary over baseline, with no regression (mean of the log-ratio over every "
        "period): CloudWatch's p99 of a variant with few requests a minute is a lower quantile (for n < 100 it is "
        "the maximum, about the n / (n + 1) quantile), so a low-traffic canary looks faster than it is.",
        "",
        "| cell | mean log-ratio | as a ratio |",
        "|---|---|---|",
    ]
    lines += [
        f"| {cell} | {_fmt(v['mean_log_ratio'], 3)} | {_fmt(v['ratio'], 3)} |"
        for cell, v in cal["p99_log_ratio_no_regression"].items()
    ]
    lines += [
        "",
        f"## Base 5XX rate sweep ({_fmt(TARGET_CELL[0])} rps, {TARGET_CELL[1]:.0%} share; the static setting tuned at "
        f"{cfg['base_5xx']:.1%})",
        "",
        "| base 5XX | scenario | judge | rollback | within 5 periods | median / p90 periods to rollback |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.base_5xx:.1%} | {s.scenario} | {s.judge} | {_pct(s.rollback_rate)} | "
        f"{_pct(s.rollbacks_within_5 / s.runs)} | {_fmt(s.to_rollback_median)} / {_fmt(s.to_rollback_p90)} |"
        for s in sweep
        if (s.rps, s.share) == TARGET_CELL
    ]
    lines += [
        "",
        "The static alarms see only the canary, and the streams share their random numbers: a 2% canary is the same "
        "stream whether the baseline runs at 1% (errors x2) or at 2% (no regression), so their static rows are "
        "identical; that is the point of comparing against the current variant.",
    ]
    lines += [
        "",
        "False rollbacks on no-regression streams by base 5XX rate and traffic level (shares pooled), with the "
        "checks behind our judge's rollbacks:",
        "",
        "| base 5XX | rps | " + " | ".join(JUDGES) + " | ours: failing checks |",
        "|---|---|" + "---|" * (len(JUDGES) + 1),
    ]
    for base in sorted({s.base_5xx for s in sweep}):
        for rps in TRAFFIC_RPS:
            level = [s for s in sweep if s.base_5xx == base and s.rps == rps and s.scenario == "no_regression"]
            if not level:
                continue
            entries = []
            for judge in JUDGES:
                rows = [s for s in level if s.judge == judge]
                entries.append(f"{_pct(sum(s.rollbacks for s in rows) / sum(s.runs for s in rows))}")
            checks: Counter[str] = Counter()
            for s in level:
                if s.judge == "ours":
                    checks.update({k: v for k, v in s.signals.items() if k.startswith("rollback:")})
            why = ", ".join(f"{k.removeprefix('rollback:')} {v}" for k, v in checks.most_common()) or "-"
            lines.append(f"| {base:.1%} | {_fmt(rps)} | " + " | ".join(entries) + f" | {why} |")
    if sensitivity:
        variants = list(SENSITIVITY)
        lines += [
            "",
            f"## Our judge with other thresholds ({SENSITIVITY_SHARE:.0%} share, same streams)",
            "",
            "Evidence for tuning, not a recommendation by itself. Each entry: rollback rate (median periods to "
            "rollback) / pass rate.",
            "",
            "| scenario | rps | " + " | ".join(variants) + " |",
            "|---|---|" + "---|" * len(variants),
        ]
        for scenario in SENSITIVITY_SCENARIOS:
            for rps in TRAFFIC_RPS:
                entries = []
                for variant in variants:
                    row = next(
                        (x for x in sensitivity if (x.scenario, x.rps, x.variant) == (scenario, rps, variant)), None
                    )
                    entries.append(
                        "-"
                        if row is None
                        else f"{_pct(row.rollback_rate)} ({_fmt(row.to_rollback_median)}) / {_pct(row.pass_rate)}"
                    )
                lines.append(f"| {scenario} | {_fmt(rps)} | " + " | ".join(entries) + " |")
    lines += [
        "",
        "## Why our judge decided, or did not",
        "",
        "Per scenario and traffic level (shares pooled): the checks that failed at a rollback (`rollback:<check>`) "
        "and the checks still open at the horizon when there was no decision (`none:<check>`); `canary_traffic` "
        "is the minimum-requests gate.",
        "",
        "| scenario | rps | counts |",
        "|---|---|---|",
    ]
    for scenario in SCENARIO_ORDER:
        for rps in TRAFFIC_RPS:
            counts: Counter[str] = Counter()
            for row in summaries:
                if row.judge == "ours" and row.scenario == scenario and row.rps == rps:
                    counts.update(row.signals)
            text = ", ".join(f"{name} {n}" for name, n in counts.most_common()) or "-"
            lines.append(f"| {scenario} | {_fmt(rps)} | {text} |")
    lines += [
        "",
        "## Every cell",
        "",
        "rollback / pass / none: shares of the runs; periods to rollback and to pass over the runs that made that "
        "decision (median / p90). For `ours` on `baseline_degrades`, `any FAIL` counts runs with a FAIL at any look "
        "up to the horizon, even after a PASS.",
        "",
        "| scenario | rps | share | judge | runs | rollback (95% CI) | pass | none | to rollback | to pass "
        "| any FAIL |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        lo, hi = s.rollback_ci95
        lines.append(
            f"| {s.scenario} | {_fmt(s.rps)} | {s.share:.0%} | {s.judge} | {s.runs} | {_pct(s.rollback_rate)} "
            f"({_pct(lo)}-{_pct(hi)}) | {_pct(s.pass_rate)} | {_pct(s.undecided / s.runs)} | "
            f"{_fmt(s.to_rollback_median)} / {_fmt(s.to_rollback_p90)} | {_fmt(s.to_pass_median)} / "
            f"{_fmt(s.to_pass_p90)} | {'-' if s.any_look_fail is None else s.any_look_fail} |"
        )
    return "\n".join(lines) + "\n"


def rollout_markdown(report: dict[str, Any]) -> list[str]:
    """The whole-rollout section: issue 11's targets, the setup, and every (scenario, traffic) cell per rule."""
    roll = report["rollouts"]
    strategy = roll["strategy"]
    runs = roll["seeds"]
    lo, hi = wilson(0, runs)
    lo1, hi1 = wilson(round(runs * FRR_TARGET), runs)
    lines = [
        "## Targets of issue 11: whole rollouts, the product's policy, shipped defaults",
        "",
        f"{runs} rollouts per scenario and traffic level (95% Wilson intervals: 0/{runs} is {lo:.1%}-{hi:.1%}, "
        f"1% is {lo1:.1%}-{hi1:.1%}). Every rollout runs the default strategy, steps {strategy['steps']}% with a "
        f"{strategy['bake_minutes']:g}-minute bake each, a look every {strategy['evaluation_interval_seconds']} s, "
        f"design periods {roll['design_periods']}, deadline {Strategy().deadline_minutes:g} minutes with "
        f"`on_deadline: {strategy['on_deadline']}`, and the default `Judge()` (regression_multiple "
        f"{Judge().regression_multiple:g}): at every look `judge()` on the complete minutes of all steps so far and "
        "`policy.decide()` on its verdict, both imported from the layer. An early step advances at the end of its "
        "bake when the look saw no harm; the last step promotes on a PASS after its bake; a step that cannot advance "
        "by its deadline rolls back and counts as a rollback. The step's weights take effect mid-minute, so a look j "
        "minutes in sees j - 1 complete minutes of the step. Times are minutes from the first step's weights to the "
        "rollback or the promotion, the looks only (endpoint updates between steps are not counted). The hard caps "
        "are the judge's own.",
        "",
        f"- sprt: Wald's SPRT per signal (`SprtDesign` in tools/mlrollout_bench/judges.py) on the judge's "
        f"hypotheses: H0 canary at the tolerance, H1 canary at the regression ({Judge().regression_multiple:g} x the "
        f"tolerated increase); alpha {roll['sprt']['alpha']:.2g} (rollback under H0, split across signals with the "
        f"judge's weights) and beta {roll['sprt']['beta']:.2g} (promotion under H1); the same looks, evidence and "
        "policy (`decide()`), so the two differ only in the test.",
        f"- static_5min: {roll['static_5min']['label']} (the judge's tolerances at the healthy levels), evaluated "
        "every minute as a CloudWatch alarm is, advance at the end of the bake without an alarm.",
        "",
        "| target | result | numbers |",
        "|---|---|---|",
    ]
    lines += [
        f"| {t['name']} | **{'met' if t['met'] else 'NOT met'}** | {t['detail']} |" for t in report["issue_targets"]
    ]
    lines += [
        "",
        "A canary exactly at a tolerance is not a regression: the judge fails it at most 1 - `confidence` (1%) of the "
        "time over all its looks together, and promotes it once the evidence rules out the regression. A canary at "
        "the regression is promoted at most 1 - `pass_confidence` (5%) of the time; one between the two may go "
        "either way. Where a target is missed, the SPRT's numbers in the same cell show whether a test at these "
        "error rates could meet it with this traffic and these time limits.",
        "",
        "### Every rollout cell",
        "",
        "promoted / rolled back (of which at the deadline); median minutes to roll back and to promote, over all "
        "runs with a run that ended otherwise counted as never (- when more than half did); rollbacks by step.",
        "",
        "| scenario | rps | rule | promoted | rolled back | at deadline | to rollback | to promote | by step | why |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rules in roll["cells"].items():
        scenario, rps = key.split("@")
        for rule, n in rules.items():
            why = ", ".join(f"{k} {v}" for k, v in sorted(n["signals"].items(), key=lambda kv: -kv[1])[:4]) or "-"
            lines.append(
                f"| {scenario} | {rps} | {rule} | {_pct(n['promoted_rate'])} | {_pct(n['rollback_rate'])} | "
                f"{n['deadline_rollbacks']} | {_fmt(n['median_minutes_to_rollback'], 1)} | "
                f"{_fmt(n['median_minutes_to_promote'], 1)} | "
                + (", ".join(f"{k}: {v}" for k, v in sorted(n["rollbacks_at_step"].items())) or "-")
                + f" | {why} |"
            )
    return lines


def plot(path: Path, summaries: list[Summary], horizon: int) -> None:
    """Detection rate and censored median periods-to-detect per regression scenario against traffic (10% share),
    and false rollbacks per traffic level, for each rule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"ours": "tab:blue", "static": "tab:orange", "static_n5": "tab:red", "mann_whitney": "tab:green"}
    figure, axes = plt.subplots(2, len(REGRESSIONS) + 1, figsize=(4 * (len(REGRESSIONS) + 1), 7), sharex=True)
    share = 0.10
    for column, scenario in enumerate(REGRESSIONS):
        for judge in JUDGES:
            rows = sorted(
                (s for s in summaries if s.scenario == scenario and s.judge == judge and s.share == share),
                key=lambda s: s.rps,
            )
            xs = [s.rps for s in rows]
            axes[0][column].plot(xs, [s.rollback_rate for s in rows], "o-", color=colors[judge], label=judge)
            medians = [s.rollback_median_censored or horizon + 1 for s in rows]
            axes[1][column].plot(xs, medians, "o-", color=colors[judge], label=judge)
        axes[0][column].set_title(f"{scenario} ({share:.0%} share)")
        axes[0][column].set_ylim(-0.02, 1.02)
        axes[1][column].set_ylim(0, horizon + 2)
        axes[1][column].axhline(horizon + 1, color="grey", lw=0.5, ls=":")
    for judge in JUDGES:
        for row, scenario in ((0, "no_regression"), (1, "baseline_degrades")):
            rates = []
            for rps in TRAFFIC_RPS:
                level = [s for s in summaries if s.scenario == scenario and s.judge == judge and s.rps == rps]
                rates.append(sum(s.rollbacks for s in level) / sum(s.runs for s in level))
            axes[row][-1].plot(TRAFFIC_RPS, rates, "o-", color=colors[judge], label=judge)
    axes[0][-1].set_title("false rollbacks: no regression")
    axes[1][-1].set_title("false rollbacks: baseline degrades")
    axes[0][-1].axhline(FRR_TARGET, color="red", lw=0.8, ls="--")
    axes[1][-1].axhline(FRR_TARGET, color="red", lw=0.8, ls="--")
    axes[0][0].set_ylabel("detection rate")
    axes[1][0].set_ylabel(f"median periods to rollback ({horizon + 1} = missed)")
    for ax in axes[1]:
        ax.set_xlabel("total rps")
    for ax in itertools.chain(*axes):
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    figure.suptitle("mlrollout judge benchmark")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlrollout_bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rollout-seeds", type=int, default=1000, help="whole rollouts per (scenario, traffic) cell (default 1000)"
    )
    parser.add_argument(
        "--seeds", type=int, default=300, help="per-step comparison: evaluation seeds per cell (default 300)"
    )
    parser.add_argument("--tune-seeds", type=int, default=None, help="tuning seeds per cell (default: --seeds / 2)")
    parser.add_argument("--quick", action="store_true", help="50 seeds per cell, for a fast look")
    parser.add_argument(
        "--horizon", type=int, default=10, help="per-step comparison: periods per stream (default 10, the bake)"
    )
    parser.add_argument("--base-5xx", type=float, default=0.01, help="base 5XX rate (default 0.01)")
    parser.add_argument(
        "--sweep-bases", default="0.002,0.01,0.02,0.04", help="comma-separated base 5XX rates for the sweep"
    )
    parser.add_argument("--no-sensitivity", action="store_true", help="skip the judge-threshold sensitivity runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: CPUs)")
    parser.add_argument("--timing-samples", type=int, default=300, help="streams timed per rule")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output directory (default bench/results)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = 50
        args.rollout_seeds = 100
    if args.tune_seeds is None:
        args.tune_seeds = max(50, args.seeds // 2)
    if args.seeds < 1 or args.tune_seeds < 1 or args.rollout_seeds < 1 or args.horizon < TARGET_WITHIN:
        parser.error(f"--seeds and --tune-seeds must be positive and --horizon at least {TARGET_WITHIN}")
    return args


def _jsonable(value: Any) -> Any:
    """Infinities become null: strict JSON has no Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    config = SimConfig(horizon=args.horizon, base_5xx=args.base_5xx)
    eval_seeds = tuple(range(args.seeds))
    tune_seeds = tuple(range(TUNING_SEED_OFFSET, TUNING_SEED_OFFSET + args.tune_seeds))
    sweep_bases = [float(b) for b in args.sweep_bases.split(",") if b.strip()]
    cells = list(itertools.product(TRAFFIC_RPS, CANARY_SHARES))
    pool = ProcessPoolExecutor(max_workers=args.workers) if args.workers > 1 else None
    phases: dict[str, float] = {}
    try:
        print(f"whole rollouts at the shipped defaults, {args.rollout_seeds} seeds per cell ...", flush=True)
        t0 = time.perf_counter()
        rollout_seeds = tuple(range(ROLLOUT_SEED_OFFSET, ROLLOUT_SEED_OFFSET + args.rollout_seeds))
        scenarios = {s.name: s for s in evaluation_scenarios(config)}
        rollout_tasks = [
            RolloutTask(scenarios[name], rps, rollout_seeds, config)
            for name in ROLLOUT_SCENARIOS
            for rps in TRAFFIC_RPS
        ]
        rollout_cells = (
            [run_rollout_cell(t) for t in rollout_tasks]
            if pool is None
            else list(pool.map(run_rollout_cell, rollout_tasks, chunksize=1))
        )
        phases["rollouts"] = time.perf_counter() - t0
        print(f"  {phases['rollouts']:.0f} s", flush=True)

        print(f"tuning the static threshold on {len(tune_seeds)} seeds per cell ...", flush=True)
        t0 = time.perf_counter()
        tuning_tasks = [
            CellTask(
                "tune",
                SCENARIO_BY_NAME[name],
                rps,
                share,
                tune_seeds,
                config,
                run_ours=name == "no_regression",
                run_baselines=False,
                run_grid=True,
            )
            for name in ("no_regression", *REGRESSIONS)
            for rps, share in cells
        ]
        tuned = run_all(tuning_tasks, pool)
        tunings = {name: choose_static(tuned, config.horizon, allowed) for name, allowed in STATIC_RULES.items()}
        del tuned
        statics = tuple((name, t.setting) for name, t in tunings.items())
        phases["tuning"] = time.perf_counter() - t0
        for name, t in tunings.items():
            print(f"  {name}: {t.setting.label()}", flush=True)

        print(f"evaluating on {len(eval_seeds)} seeds per cell ...", flush=True)
        t0 = time.perf_counter()
        eval_tasks = [
            CellTask("eval", s, rps, share, eval_seeds, config, statics=statics)
            for s in evaluation_scenarios(config)
            for rps, share in cells
        ]
        evaluation = run_all(eval_tasks, pool)
        phases["evaluation"] = time.perf_counter() - t0
        print(f"  {phases['evaluation']:.0f} s", flush=True)

        print(f"base-rate sweep {sweep_bases} ...", flush=True)
        t0 = time.perf_counter()
        # The error scenarios at the target cell, and no regression at every cell (false rollbacks by base rate).
        sweep_tasks = [
            CellTask("sweep", SCENARIO_BY_NAME[name], rps, share, eval_seeds, replace(config, base_5xx=base), statics)
            for base in sweep_bases
            if base != config.base_5xx
            for name in SWEEP_SCENARIOS
            for rps, share in cells
            if (rps, share) == TARGET_CELL or name == "no_regression"
        ]
        sweep_cells = run_all(sweep_tasks, pool)
        sweep_cells += [
            c
            for c in evaluation
            if config.base_5xx in sweep_bases
            and c.scenario in SWEEP_SCENARIOS
            and ((c.rps, c.share) == TARGET_CELL or c.scenario == "no_regression")
        ]
        phases["sweep"] = time.perf_counter() - t0

        sensitivity_cells: list[CellResult] = []
        if not args.no_sensitivity:
            print("judge-threshold sensitivity ...", flush=True)
            t0 = time.perf_counter()
            sensitivity_tasks = [
                CellTask(
                    "sensitivity",
                    SCENARIO_BY_NAME[name],
                    rps,
                    SENSITIVITY_SHARE,
                    eval_seeds,
                    config,
                    run_baselines=False,
                    limits=tuple(overrides.items()),
                    variant=label,
                )
                for label, overrides in SENSITIVITY.items()
                if overrides
                for name in SENSITIVITY_SCENARIOS
                for rps in TRAFFIC_RPS
            ]
            sensitivity_cells = run_all(sensitivity_tasks, pool)
            sensitivity_cells += [
                c for c in evaluation if c.scenario in SENSITIVITY_SCENARIOS and c.share == SENSITIVITY_SHARE
            ]
            phases["sensitivity"] = time.perf_counter() - t0
    finally:
        if pool is not None:
            pool.shutdown()

    t0 = time.perf_counter()
    timings = time_one_evaluation(tunings["static"].setting, config, args.timing_samples)
    phases["timing"] = time.perf_counter() - t0

    order = {name: i for i, name in enumerate(SCENARIO_ORDER)}
    summaries = sorted(
        (summarise(j, c) for c in evaluation for j in JUDGES),
        key=lambda s: (order[s.scenario], s.rps, s.share, JUDGES.index(s.judge)),
    )
    sweep = sorted(
        (summarise(j, c) for c in sweep_cells for j in JUDGES),
        key=lambda s: (s.base_5xx, order[s.scenario], s.rps, s.share, JUDGES.index(s.judge)),
    )
    variants = list(SENSITIVITY)
    sensitivity = sorted(
        (summarise("ours", c) for c in sensitivity_cells),
        key=lambda s: (order[s.scenario], s.rps, variants.index(s.variant)),
    )
    targets, numbers = evaluate_targets(evaluation, config)
    rollout_targets, rollout_table = issue_targets(rollout_cells)
    overview = {
        s.name: {j: _finite_or_none(censored_median(pooled(evaluation, j, where(scenarios=(s.name,))))) for j in JUDGES}
        for s in evaluation_scenarios(config)
    }

    args.out.mkdir(parents=True, exist_ok=True)
    plot(args.out / "judge.png", summaries, config.horizon)
    report: dict[str, Any] = {
        "command": "python -m mlrollout_bench.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "wall_seconds": time.perf_counter() - started,
        "phase_seconds": phases,
        "workers": args.workers,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "judge_sha256": _sha256(judge_module.__file__),
        "config_sha256": _sha256(config_module.__file__),
        "judge_defaults": Judge().model_dump(),
        "config": asdict(config),
        "eval_seeds": len(eval_seeds),
        "tune_seeds": len(tune_seeds),
        "seeds": {
            "evaluation": list(eval_seeds),
            "tuning": list(tune_seeds),
            "timing": list(range(TIMING_SEED_OFFSET, TIMING_SEED_OFFSET + args.timing_samples)),
            "derivation": "random.Random(f'mlrollout-bench:{seed}:{rps:g}:{share:g}:' + one of world, baseline, "
            "canary); the same for every scenario (common random numbers), so every judge and every scenario of a "
            "cell sees the same minutes",
        },
        "static_grid": {
            "error_rates": list(GRID_ERROR_RATES),
            "p99_ms": list(GRID_P99_MS),
            "m_of_n": [list(mn) for mn in GRID_M_OF_N],
        },
        "static_tuning": {name: {**asdict(t), "setting_label": t.setting.label()} for name, t in tunings.items()},
        "mann_whitney": {"confidence": MW_CONFIDENCE, "tolerance": MW_TOLERANCE},
        "sensitivity_variants": SENSITIVITY,
        "timings_us": timings,
        "rollouts": {
            "seeds": args.rollout_seeds,
            "seed_derivation": f"seeds {ROLLOUT_SEED_OFFSET}..; step i of a seed is simulate(scenario, rps, "
            "steps[i] / 100, seed)",
            "strategy": Strategy().model_dump(),
            "design_periods": design_periods(Strategy()),
            "periods_per_step_stream": step_periods_needed(Strategy()),
            "sprt": asdict(SprtDesign.of(Judge())),
            "static_5min": {
                **asdict(static_window_setting(Judge(), config)),
                "label": static_window_setting(Judge(), config).label(),
            },
            "cells": rollout_table,
        },
        "issue_targets": [asdict(t) for t in rollout_targets],
        "targets": [asdict(t) for t in targets],
        "target_numbers": numbers,
        "overview_censored_medians": overview,
        "calibration": calibration(evaluation),
        "cells": [asdict(s) for s in summaries],
        "base_rate_sweep": [asdict(s) for s in sweep],
        "sensitivity": [asdict(s) for s in sensitivity],
    }
    (args.out / "judge.md").write_text(markdown(report, summaries, sweep, sensitivity))
    report["wall_seconds"] = time.perf_counter() - started
    (args.out / "judge.json").write_text(json.dumps(_jsonable(report), indent=1) + "\n")

    print()
    for target in rollout_targets:
        print(f"[{'met' if target.met else 'NOT met'}] {target.name}: {target.detail}")
    print()
    for target in targets:
        print(f"[{'met' if target.met else 'not met'}] {target.name}: {target.detail}")
    print()
    for name, timing in timings.items():
        print(f"one evaluation, {name}: median {timing['median_us']:.0f} us (p90 {timing['p90_us']:.0f} us)")
    print("phases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()))
    print(f"wrote {args.out}/judge.md, judge.json, judge.png; wall time {report['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
