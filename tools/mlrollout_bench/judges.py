"""The decision rules the benchmark compares, each run on the same simulated streams.

- ours: mlrollout's judge after every period on all periods so far; the first FAIL rolls back, the first PASS
  passes, INCONCLUSIVE up to the horizon is no decision.
- static threshold: what SageMaker deployment guardrails and Flagger users configure, an alarm on the canary's
  own per-period 5XX rate and p99 ModelLatency; it fires when at least M of the last N periods breach
  (rate > E or p99 > L) and rolls back at once; no alarm by the horizon is a pass.
- Mann-Whitney (Kayenta's NetflixACAJudge method): at the horizon only, per metric, a two-sided Mann-Whitney U
  test of the canary's per-period values against the baseline's, with a Hodges-Lehmann shift; a metric fails
  when the canary is significantly higher and the shift is beyond a tolerance; any failed metric rolls back.

Those three judge one stream of periods. The rules below run one whole step the way a rollout does, look by look in
wall-clock time, and end it with advance or rollback (a step never ends undecided):
- product_step: the product itself, `judge()`, `policy.decide()` and `policy.design_periods()` imported from the
  layer, with the step's bake, evaluation interval and deadline from `Strategy`, judging the evidence of the earlier
  steps together with this one's as the product does.
- sprt_step: Wald's sequential probability ratio test per signal on the same hypotheses (the tolerance against the
  regression), under the same policy (`decide()`: bakes, early steps advancing without harm, proof before 100%,
  deadlines): the statistical reference (see `SprtDesign`).
- window_step: a static alarm on the canary's own metrics aggregated over the last 5 minutes, evaluated every minute.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist

from mlrollout.domain.config import Judge, Strategy
from mlrollout.domain.judge import (
    LATENCY_LOG_SD_FLOOR,
    MIN_PERIODS_FOR_VARIANCE,
    SIGNAL_WEIGHTS,
    SPARSE_LATENCY_LOG_SD_FLOOR,
    SPARSE_PERIOD_REQUESTS,
    Judgement,
    Period,
    VariantSeries,
    Verdict,
    judge,
)
from mlrollout.domain.policy import Action, decide, design_periods

ROLLBACK = "rollback"
PASS = "pass"  # noqa: S105  (a decision, not a password)
NO_DECISION = "none"
_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Outcome:
    """A rule's decision on one stream.

    `period` is the number of periods seen when it decided (1-based), None without a decision. `any_fail` (ours,
    when asked to keep looking) records whether any look up to the horizon said FAIL, even after a PASS.
    `signals` (ours) names why: the failing checks of a FAIL, or the checks still open at the last look of a
    stream without a decision ("baseline_unhealthy" when the judge withheld blame for that reason).
    """

    decision: str
    period: int | None
    any_fail: bool = False
    signals: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------- ours


def ours(
    baseline: VariantSeries,
    canary: VariantSeries,
    limits: Judge,
    *,
    horizon: int,
    keep_looking: bool = False,
) -> Outcome:
    """mlrollout's judge at every look k = 1..horizon on periods [0, k), design_periods = horizon.

    Not the product's policy (it stops at the first PASS and has no deadline): `product_step` is."""
    decision: Outcome | None = None
    any_fail = False
    last: Judgement | None = None
    for k in range(1, horizon + 1):
        last = judge(
            VariantSeries(baseline.variant, baseline.periods[:k]),
            VariantSeries(canary.variant, canary.periods[:k]),
            limits,
            design_periods=horizon,
        )
        any_fail = any_fail or last.verdict is Verdict.FAIL
        if decision is None and last.verdict is not Verdict.INCONCLUSIVE:
            failed = last.verdict is Verdict.FAIL
            decision = Outcome(ROLLBACK if failed else PASS, k, signals=_names(last, "fail") if failed else ())
            if not keep_looking:
                break
        if decision is not None and any_fail:
            break
    if decision is None:
        open_checks = _names(last, "inconclusive") if last is not None else ()
        if last is not None and last.baseline_unhealthy:
            open_checks = (*open_checks, "baseline_unhealthy")
        decision = Outcome(NO_DECISION, None, signals=open_checks or ("other",))
    return replace(decision, any_fail=any_fail)


def _names(judgement: Judgement, outcome: str) -> tuple[str, ...]:
    return tuple(c.name for c in judgement.checks if c.outcome == outcome)


# ---------------------------------------------------------------------------------------------------- static


@dataclass(frozen=True)
class StaticSetting:
    """Alarm when at least `m` of the last `n` periods have a 5XX rate above `error_rate` or a p99 above `p99_ms`."""

    error_rate: float
    p99_ms: float
    m: int
    n: int

    def label(self) -> str:
        rate = "off" if self.error_rate >= 1 else f"{self.error_rate * 100:g}%"
        p99 = "off" if math.isinf(self.p99_ms) else f"{self.p99_ms:g} ms"
        return f"5XX rate > {rate} or p99 > {p99}, {self.m} of {self.n} periods"


def error_rates(series: VariantSeries) -> list[float | None]:
    """Per-period 5XX rate errors / invocations; None where CloudWatch has no datapoint or no requests."""
    rates: list[float | None] = []
    for p in series.periods:
        if p.invocations is None or p.invocations <= 0 or p.errors_5xx is None:
            rates.append(None)
        else:
            rates.append(p.errors_5xx / p.invocations)
    return rates


def p99s(series: VariantSeries) -> list[float | None]:
    return [p.latency_p99_ms for p in series.periods]


def breach_mask(values: Sequence[float | None], threshold: float) -> int:
    """Bit t set when period t's value is above the threshold; a missing value never breaches (CloudWatch's
    treatMissingData: missing/notBreaching, the default users keep)."""
    mask = 0
    for t, value in enumerate(values):
        if value is not None and value > threshold:
            mask |= 1 << t
    return mask


@lru_cache(maxsize=1 << 18)
def first_alarm(mask: int, horizon: int, m: int, n: int) -> int | None:
    """The first k in 1..horizon at which at least m of periods [max(0, k - n), k) breach, else None."""
    window = (1 << n) - 1
    for k in range(1, horizon + 1):
        recent = (mask >> max(0, k - n)) & (window if k >= n else (1 << k) - 1)
        if recent.bit_count() >= m:
            return k
    return None


def static_threshold(canary: VariantSeries, setting: StaticSetting, *, horizon: int) -> Outcome:
    """Roll back at the first M-of-N alarm on the canary's own metrics; pass at the horizon otherwise."""
    mask = breach_mask(error_rates(canary), setting.error_rate) | breach_mask(p99s(canary), setting.p99_ms)
    at = first_alarm(mask & ((1 << horizon) - 1), horizon, setting.m, setting.n)
    return Outcome(ROLLBACK, at) if at is not None else Outcome(PASS, horizon)


# ---------------------------------------------------------------------------------------------------- Mann-Whitney


@dataclass(frozen=True)
class MannWhitney:
    """A two-sided Mann-Whitney U test of x against y."""

    u: float
    z: float
    p_value: float


def average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks with ties sharing the average of their positions, and the size of each tie group."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for index in order[i : j + 1]:
            ranks[index] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """U_x = R_x - n_x (n_x + 1) / 2 with R_x the rank sum of x in the pooled sample (average ranks for ties).

    Normal approximation with tie and continuity corrections (as R's wilcox.test, which Kayenta calls):
    E[U] = n_x n_y / 2, Var[U] = n_x n_y / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))), N = n_x + n_y,
    z = (U - E[U] - 0.5 sign(U - E[U])) / sqrt(Var[U]), p = 2 (1 - Phi(|z|)). All values tied: p = 1.
    """
    nx, ny = len(x), len(y)
    total = nx + ny
    ranks, ties = average_ranks([*x, *y])
    u = sum(ranks[:nx]) - nx * (nx + 1) / 2
    mean = nx * ny / 2
    tie_term = sum(t**3 - t for t in ties) / (total * (total - 1)) if total > 1 else 0.0
    variance = nx * ny / 12 * ((total + 1) - tie_term)
    if variance <= 0:
        return MannWhitney(u, 0.0, 1.0)
    delta = u - mean
    correction = math.copysign(0.5, delta) if delta else 0.0
    z = (delta - correction) / math.sqrt(variance)
    return MannWhitney(u, z, min(1.0, 2 * (1 - _STANDARD_NORMAL.cdf(abs(z)))))


def hodges_lehmann(x: Sequence[float], y: Sequence[float]) -> float:
    """The Hodges-Lehmann shift of x over y: the median of every pairwise difference x_i - y_j."""
    return statistics.median(a - b for a in x for b in y)


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    canary_values: int
    baseline_values: int
    p_value: float | None
    shift: float | None
    allowed_shift: float | None
    failed: bool


def compare_metric(
    name: str,
    canary: Iterable[float | None],
    baseline: Iterable[float | None],
    *,
    confidence: float,
    tolerance: float,
) -> MetricComparison:
    """Fail when p < 1 - confidence (two-sided), the Hodges-Lehmann shift canary - baseline is positive, and it
    exceeds tolerance * median(baseline). No canary or baseline values: no data, not a failure."""
    x = [v for v in canary if v is not None]
    y = [v for v in baseline if v is not None]
    if not x or not y:
        return MetricComparison(name, len(x), len(y), None, None, None, failed=False)
    test = mann_whitney(x, y)
    shift = hodges_lehmann(x, y)
    allowed = tolerance * abs(statistics.median(y))
    failed = test.p_value < 1 - confidence and shift > 0 and shift > allowed
    return MetricComparison(name, len(x), len(y), test.p_value, shift, allowed, failed)


def mann_whitney_judge(
    baseline: VariantSeries,
    canary: VariantSeries,
    *,
    horizon: int,
    confidence: float = 0.98,
    tolerance: float = 0.25,
) -> Outcome:
    """Fixed horizon: compare per-period 5XX rate and p99 over periods [0, horizon); roll back if either fails."""
    b = VariantSeries(baseline.variant, baseline.periods[:horizon])
    c = VariantSeries(canary.variant, canary.periods[:horizon])
    comparisons = (
        compare_metric("error_rate", error_rates(c), error_rates(b), confidence=confidence, tolerance=tolerance),
        compare_metric("latency_p99", p99s(c), p99s(b), confidence=confidence, tolerance=tolerance),
    )
    return Outcome(ROLLBACK if any(m.failed for m in comparisons) else PASS, horizon)


# ---------------------------------------------------------------------------------------------------- whole steps

# The step's weights take effect at some second within a minute, and the judge reads complete minutes only
# (services/evaluate.py `judged_window`): the look `j` intervals in sees `j * interval / 60 - 1` periods.
STEP_START_LAG_PERIODS = 1


@dataclass(frozen=True)
class StepResult:
    """How one step ended: ADVANCE (PASS) or ROLLBACK, after `seconds` at the step's weights.

    `deadline`: rolled back because no verdict came before the step's deadline (not because of a FAIL).
    `signals`: the failing checks of a FAIL, or those still open at a deadline rollback.
    """

    decision: str
    seconds: float
    deadline: bool = False
    signals: tuple[str, ...] = ()
    periods: int = 0  # complete periods of this step seen at the decision (the evidence later steps build on)


@dataclass(frozen=True)
class Evidence:
    """The complete periods the rollout's earlier steps saw, in order: every look of the product judges them with
    the current step's (the transition minutes between steps are left out, a slight understatement)."""

    baseline: tuple[Period, ...] = ()
    canary: tuple[Period, ...] = ()

    def then(self, baseline: VariantSeries, canary: VariantSeries, k: int) -> Evidence:
        return Evidence((*self.baseline, *baseline.periods[:k]), (*self.canary, *canary.periods[:k]))

    def with_prefix(self, series: VariantSeries, k: int, *, canary: bool) -> VariantSeries:
        earlier = self.canary if canary else self.baseline
        return VariantSeries(series.variant, [*earlier, *series.periods[:k]])


def periods_seen(elapsed_seconds: float, period_seconds: int = 60) -> int:
    """Complete periods in the judged window `elapsed_seconds` after the step's weights took effect."""
    return max(0, int(elapsed_seconds // period_seconds) - STEP_START_LAG_PERIODS)


def looks(interval_seconds: float, available: int) -> Iterator[tuple[float, int]]:
    """The step's looks, one every `interval_seconds`, while the stream has the periods they see: (seconds since
    the step's weights, complete periods seen)."""
    look = 1
    while (k := periods_seen(look * interval_seconds)) <= available:
        yield float(look * interval_seconds), k
        look += 1


def stream_ran_out(canary: VariantSeries) -> ValueError:
    return ValueError(f"the stream's {len(canary.periods)} periods ran out before the step decided")


def step_periods_needed(strategy: Strategy, period_seconds: int = 60) -> int:
    """Periods a stream needs so that every look up to the step's last possible one has its data."""
    last = strategy.deadline_minutes + (strategy.hold_minutes if strategy.on_deadline == "hold" else 0.0)
    return math.ceil(last * 60 / period_seconds) + 1


def with_deadline(strategy: Strategy, deadline_minutes: float | None) -> Strategy:
    """The phase's strategy with the deadline Plan set for it (services/evaluate.phase_strategy does the same)."""
    if deadline_minutes is None or deadline_minutes <= strategy.deadline_minutes:
        return strategy
    return strategy.model_copy(update={"max_bake_minutes": deadline_minutes})


def _prefix(series: VariantSeries, k: int) -> VariantSeries:
    return VariantSeries(series.variant, series.periods[:k])


def product_step(
    baseline: VariantSeries,
    canary: VariantSeries,
    limits: Judge,
    strategy: Strategy,
    *,
    final: bool = True,
    evidence: Evidence = Evidence(),
    shadow: bool = False,
    deadline_minutes: float | None = None,
    dispersion_floor: float = 1.0,
) -> StepResult:
    """One step (or the shadow phase, before the steps) as the product runs it: a look every
    `evaluation_interval_seconds`, `judge()` on the earlier phases' evidence and this one's complete periods so far,
    and `decide()` on its verdict (an early step advances at its bake's end without harm, the final one and the
    shadow phase on a PASS; a PASS before the bake keeps looking; an undecided step rolls back or holds at its
    deadline: `deadline_minutes`, the one Plan set for the phase at the rollout's traffic, when given).
    `dispersion_floor`: the judge's (against history, the history's own; services/evaluate.look_series)."""
    design = design_periods(strategy)
    if shadow:  # services/evaluate.py: the shadow phase ends on proof, with its own bake and deadline
        strategy, final = strategy.shadow_phase(), True
    strategy = with_deadline(strategy, deadline_minutes)
    interval = strategy.evaluation_interval_seconds
    held: float | None = None
    failing: tuple[str, ...]
    open_checks: tuple[str, ...]
    for elapsed, k in looks(interval, len(canary.periods)):
        looked = False
        if k + len(evidence.canary) < 1:
            verdict, reason, failing, open_checks = Verdict.INCONCLUSIVE, "No complete minute yet.", (), ()
        else:
            judgement = judge(
                evidence.with_prefix(baseline, k, canary=False),
                evidence.with_prefix(canary, k, canary=True),
                limits,
                design_periods=design,
                dispersion_floor=dispersion_floor,
            )
            verdict, reason, looked = judgement.verdict, judgement.reason, judgement.looked
            failing, open_checks = _names(judgement, "fail"), _names(judgement, "inconclusive")
            if judgement.baseline_unhealthy:
                open_checks = (*open_checks, "baseline_unhealthy")
        decision = decide(
            verdict,
            reason,
            strategy=strategy,
            elapsed_seconds=elapsed,
            held_since_seconds=held,
            final=final,
            looked=looked,
        )
        held = decision.held_since_seconds
        if decision.action is Action.ADVANCE:
            return StepResult(PASS, elapsed, periods=k)
        if decision.action is Action.ROLLBACK:
            if verdict is Verdict.FAIL:
                return StepResult(ROLLBACK, elapsed, signals=failing or ("other",), periods=k)
            return StepResult(ROLLBACK, elapsed, deadline=True, signals=open_checks or ("other",), periods=k)
    raise stream_ran_out(canary)


@dataclass(frozen=True)
class SprtDesign:
    """Wald's SPRT, one per signal, on the judge's own signals, hypotheses and error budgets.

    Hypotheses, per period and per signal, on the paired differences the judge uses, with m = `regression_multiple`:
      - errors: d = p_c - p_b; H0 (at the tolerance) E[d] = (r - 1) p_b + s, H1 (the regression) m times that,
        with r = `max_error_rate_ratio`, s = `max_error_rate_increase`, p_b the current variant's error rate over
        the rollout so far. The model is normal with the period's binomial variance p_c (1 - p_c) / n_c +
        p_b (1 - p_b) / n_b, p_b the current variant's pooled rate over the evidence so far and p_c the canary's
        rate at the regression (never its observed one: see `_SprtState.add`).
      - latency_p99, latency_mean, overhead_mean: d = ln(canary / current); H0 E[d] = ln(1 + i), H1 E[d] =
        ln(1 + m i), i = `max_latency_increase`; normal with the sample variance of d so far (shrunk toward twice
        the judge's floor with 2 prior degrees of freedom, never below the floor, and from the third period on).
    Error rates: alpha = 1 - `confidence` (0.01 by default) is the probability of a FAIL under H0, beta = 1 -
    `pass_confidence` (0.05) of a PASS under H1; alpha is split across signals with the judge's weights (errors
    0.5, p99 0.2, mean 0.2, overhead 0.1), beta is not (a PASS needs every signal, an intersection-union test, as
    in the judge); Wald's boundaries A_s = ln((1 - beta) / alpha_s) and B_s = ln(beta / (1 - alpha_s)). FAIL when
    any signal's log-likelihood ratio reaches A_s; PASS when every signal has reached B_s (each signal stops at its
    first crossing). Its verdicts go through the product's `decide()`, so the two differ
    only in the test: the confidence sequences against the SPRT, the most efficient test of two simple hypotheses.
    """

    alpha: float
    beta: float
    error_ratio: float
    error_slack: float
    latency_margin: float
    latency_regression: float
    multiple: float

    @classmethod
    def of(cls, limits: Judge) -> SprtDesign:
        return cls(
            alpha=1 - limits.confidence,
            beta=1 - limits.pass_confidence,
            error_ratio=limits.max_error_rate_ratio,
            error_slack=limits.max_error_rate_increase,
            latency_margin=math.log(1 + limits.max_latency_increase),
            latency_regression=math.log(1 + limits.regression_multiple * limits.max_latency_increase),
            multiple=limits.regression_multiple,
        )

    def weight(self, signal: str) -> float:
        # The judge gives errors the extra-metric share when there are no extra metrics (judge.EXTRA_WEIGHT).
        return SIGNAL_WEIGHTS[signal] + (1 - sum(SIGNAL_WEIGHTS.values()) if signal == "errors" else 0.0)

    def upper(self, signal: str) -> float:
        a, b = self.alpha * self.weight(signal), self.beta
        return math.log((1 - b) / a)

    def lower(self, signal: str) -> float:
        a, b = self.alpha * self.weight(signal), self.beta
        return math.log(b / (1 - a))


SPRT_PRIOR_DF = 2
SPRT_SIGNALS = ("errors", "latency_p99", "latency_mean", "overhead_mean")
_LATENCY_GETTERS: dict[str, Callable[[Period], float | None]] = {
    "latency_p99": lambda p: p.latency_p99_ms,
    "latency_mean": lambda p: p.latency_mean_ms,
    "overhead_mean": lambda p: p.overhead_mean_ms,
}


class _SprtState:
    """The running log-likelihood ratios of one step, fed one period at a time."""

    def __init__(self, design: SprtDesign) -> None:
        self.design = design
        self.llr = dict.fromkeys(SPRT_SIGNALS, 0.0)
        self.accepted: set[str] = set()
        self.rejected: list[str] = []
        self.logs: dict[str, list[float]] = {name: [] for name in _LATENCY_GETTERS}
        self.median_requests: list[float] = []
        self.baseline_errors = 0.0
        self.baseline_requests = 0.0
        self.canary_errors = 0.0
        self.canary_requests = 0.0
        self.seen = 0

    def add(self, c: Period, b: Period) -> None:
        nc, nb = c.invocations or 0.0, b.invocations or 0.0
        if nc <= 0 or nb <= 0 or c.errors_5xx is None or b.errors_5xx is None:
            return
        self.median_requests.append(nc)
        self.seen += 1
        self.baseline_errors += b.errors_5xx
        self.baseline_requests += nb
        self.canary_errors += c.errors_5xx
        self.canary_requests += nc
        if "errors" not in self.accepted:
            # The binomial variance from each variant's pooled rate over the evidence so far, as the judge weighs
            # its minutes, never from the minute's own counts: with those, a minute without errors (most minutes at
            # 5 rps) has a variance near zero and an enormous weight, and the LLR runs to acceptance on quiet
            # minutes (the reference promoted 99.7% of canaries at the error tolerance at 5 rps, evidence no valid
            # test of these hypotheses has in that time).
            baseline_rate = (self.baseline_errors + 0.5) / (self.baseline_requests + 1)
            mu0 = (self.design.error_ratio - 1) * baseline_rate + self.design.error_slack
            mu1 = self.design.multiple * mu0
            # The canary's variance at the regression, as the judge's promotion test weighs it: with its observed
            # rate, a run with few canary errors gets a lower mean and more information at once, and where errors
            # are sparse the test promotes a canary at the regression more often than beta.
            canary_rate = min(1.0, baseline_rate + mu1)
            variance = canary_rate * (1 - canary_rate) / nc + baseline_rate * (1 - baseline_rate) / nb
            d = c.errors_5xx / nc - b.errors_5xx / nb
            self.llr["errors"] += (mu1 - mu0) / variance * (d - (mu0 + mu1) / 2)
        typical = sorted(self.median_requests)[len(self.median_requests) // 2]
        floor = (SPARSE_LATENCY_LOG_SD_FLOOR if typical < SPARSE_PERIOD_REQUESTS else LATENCY_LOG_SD_FLOOR) ** 2
        mu0, mu1 = self.design.latency_margin, self.design.latency_regression
        for name, getter in _LATENCY_GETTERS.items():
            cv, bv = getter(c), getter(b)
            if cv is None or bv is None or cv <= 0 or bv <= 0:
                continue
            values = self.logs[name]
            values.append(math.log(cv / bv))
            if name in self.accepted:
                continue
            k = len(values)
            if k < MIN_PERIODS_FOR_VARIANCE:
                continue  # a spread from one or two periods means little (as in the judge)
            # The plug-in SPRT: the LLR over all periods so far with the current variance estimate, shrunk toward a
            # prior of SPRT_PRIOR_DF periods at twice the judge's floor (sd), so early looks are not overconfident.
            deviations = sum((v - statistics.fmean(values)) ** 2 for v in values)
            variance = max(floor, (deviations + SPRT_PRIOR_DF * 4 * floor) / (k - 1 + SPRT_PRIOR_DF))
            self.llr[name] = (mu1 - mu0) / variance * (sum(values) - k * (mu0 + mu1) / 2)

    def verdict(self) -> Verdict:
        for name in SPRT_SIGNALS:
            if name in self.accepted:
                continue
            if self.llr[name] >= self.design.upper(name):
                self.rejected.append(name)
                return Verdict.FAIL
            if self.llr[name] <= self.design.lower(name):
                self.accepted.add(name)
        # overhead is published only when the variant reports it; without values it is not required (as in judge)
        required = {n for n in SPRT_SIGNALS if n == "errors" or self.logs.get(n)}
        return Verdict.PASS if required <= self.accepted else Verdict.INCONCLUSIVE


def sprt_step(
    baseline: VariantSeries,
    canary: VariantSeries,
    design: SprtDesign,
    strategy: Strategy,
    *,
    final: bool = True,
    evidence: Evidence = Evidence(),
    deadline_minutes: float | None = None,
) -> StepResult:
    """The SPRT on the same looks, with the earlier steps' evidence, its verdicts through the product's `decide()`
    (with the product's deadline for the step)."""
    strategy = with_deadline(strategy, deadline_minutes)
    state = _SprtState(design)
    for b, c in zip(evidence.baseline, evidence.canary, strict=True):
        state.add(c, b)
        if state.verdict() is Verdict.FAIL:  # the earlier step would have rolled back: not reached
            break
    interval = strategy.evaluation_interval_seconds
    held: float | None = None
    fed = 0
    for elapsed, k in looks(interval, len(canary.periods)):
        verdict = state.verdict()
        while fed < k and verdict is Verdict.INCONCLUSIVE:
            state.add(canary.periods[fed], baseline.periods[fed])
            fed += 1
            verdict = state.verdict()
        decision = decide(
            verdict,
            "sprt",
            strategy=strategy,
            elapsed_seconds=elapsed,
            held_since_seconds=held,
            final=final,
            looked=state.seen > 0,
        )
        held = decision.held_since_seconds
        if decision.action is Action.ADVANCE:
            return StepResult(PASS, elapsed, periods=k)
        if decision.action is Action.ROLLBACK:
            if verdict is Verdict.FAIL:
                return StepResult(ROLLBACK, elapsed, signals=tuple(state.rejected), periods=k)
            open_checks = tuple(n for n in SPRT_SIGNALS if n not in state.accepted)
            return StepResult(ROLLBACK, elapsed, deadline=True, signals=open_checks, periods=k)
    raise stream_ran_out(canary)


@dataclass(frozen=True)
class WindowSetting:
    """A static alarm on the canary alone over the last `window` complete periods, aggregated: the 5XX rate
    sum(errors) / sum(requests) above `error_rate`, or the p99 above `p99_ms`."""

    error_rate: float
    p99_ms: float
    window: int = 5

    def label(self) -> str:
        return f"5XX rate > {self.error_rate:.2%} or p99 > {self.p99_ms:.0f} ms over the last {self.window} minutes"


def window_p99(periods: Sequence[Period]) -> float | None:
    """The window's p99 from per-minute p99s: their request-weighted geometric mean.

    CloudWatch computes a 5-minute p99 from the requests themselves; the simulator keeps one p99 per minute, and
    with equal minutes the weighted log-mean is close to it (a slight underestimate when minutes differ)."""
    pairs = [(p.invocations, p.latency_p99_ms) for p in periods if p.invocations and p.latency_p99_ms]
    total = sum(n for n, _ in pairs)
    if not total:
        return None
    return math.exp(sum(n * math.log(v) for n, v in pairs) / total)


ALARM_PERIOD_SECONDS = 60  # a CloudWatch alarm on per-minute metrics evaluates every minute, whatever the judge does


def window_step(canary: VariantSeries, setting: WindowSetting, strategy: Strategy) -> StepResult:
    """Look every minute once `window` complete periods exist (a sliding window, as a range query evaluated every
    minute); roll back at the first breach, advance at the end of the bake without one. Minutes without requests
    do not breach (CloudWatch's missing-data default), so a silent canary advances."""
    interval = ALARM_PERIOD_SECONDS
    bake = strategy.bake_minutes * 60
    look = 0
    while True:
        look += 1
        elapsed = float(look * interval)
        k = periods_seen(elapsed)
        if k >= setting.window:
            recent = canary.periods[k - setting.window : k]
            requests = sum(p.invocations or 0.0 for p in recent)
            errors = sum(p.errors_5xx or 0.0 for p in recent if p.invocations)
            p99 = window_p99(recent)
            if requests > 0 and errors / requests > setting.error_rate:
                return StepResult(ROLLBACK, elapsed, signals=("error_rate",))
            if p99 is not None and p99 > setting.p99_ms:
                return StepResult(ROLLBACK, elapsed, signals=("p99",))
        if elapsed >= bake:
            return StepResult(PASS, elapsed)
