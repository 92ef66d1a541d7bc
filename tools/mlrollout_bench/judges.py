"""The decision rules the benchmark compares, each run on the same simulated streams.

- ours: mlrollout's judge after every period on all periods so far; the first FAIL rolls back, the first PASS
  passes, INCONCLUSIVE up to the horizon is no decision.
- static threshold: what SageMaker deployment guardrails and Flagger users configure, an alarm on the canary's
  own per-period 5XX rate and p99 ModelLatency; it fires when at least M of the last N periods breach
  (rate > E or p99 > L) and rolls back at once; no alarm by the horizon is a pass.
- Mann-Whitney (Kayenta's NetflixACAJudge method): at the horizon only, per metric, a two-sided Mann-Whitney U
  test of the canary's per-period values against the baseline's, with a Hodges-Lehmann shift; a metric fails
  when the canary is significantly higher and the shift is beyond a tolerance; any failed metric rolls back.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist

from mlrollout.domain.config import Judge
from mlrollout.domain.judge import Judgement, VariantSeries, Verdict, judge

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
    """mlrollout's judge at every look k = 1..horizon on periods [0, k), design_periods = horizon."""
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
