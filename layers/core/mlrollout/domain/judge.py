"""The canary judge: the candidate variant against the current one, period by period, with anytime-valid bounds.

Each signal is a per-period paired difference between the canary and the current variant over the same minutes
(so diurnal trends and bursts that hit both cancel): the error rate against a tolerated multiple of the
baseline's, and the log-ratio of p99 and mean ModelLatency, of OverheadLatency, and of any extra metric. For
each signal the judge keeps a confidence sequence for its mean: an interval that covers the true value at every
look at once with probability at least 1 - alpha (the normal-mixture boundary of Robbins, in the asymptotic
form of Waudby-Smith et al.), so looking every minute does not inflate the false-rollback rate.

Two hypotheses per signal, as in a sequential test with an indifference zone: the tolerance (what the canary may
be worse by) and the regression (`regression_multiple` times the tolerated increase). FAIL when a signal's lower
bound clears its tolerance (the canary is worse than tolerated, beyond doubt), or at once when the canary breaks an
absolute guard the current variant keeps. PASS when every signal's upper bound is below the regression: the canary
is proven not to be a regression. A canary between the two may end either way; one at the tolerance is rolled
back at most 1 - confidence of the time, one at the regression promoted at most 1 - pass_confidence. Anything else,
including missing data, NaN and too little traffic, is INCONCLUSIVE: never a zero, never a pass. `looked` says
whether the look could have seen harm (enough traffic on both variants, a healthy current variant, every required
signal measured): the rollout policy lets an early step advance on that, never on a look that saw nothing.
docs/judge.md gives the method, its assumptions and its parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from mlrollout.domain.config import ExtraMetric
from mlrollout.domain.config import Judge as Thresholds

# A floor on a signal's per-period variance so two or three early periods that happen to agree cannot
# produce a confidently narrow interval.
MIN_PERIODS_FOR_VARIANCE = 3
PRIOR_PERIODS = 4
LATENCY_LOG_SD_FLOOR = 0.05
# Below ~100 canary requests a period, a period's p99 is nearly its maximum: skewed, and its spread over a few
# periods underestimates the truth. There the floor doubles: with 0.05 throughout, a canary exactly at the latency
# tolerance failed 2.4% of the time at 5 rps / 20% share in the benchmark (bench/results/judge.md).
SPARSE_PERIOD_REQUESTS = 100
SPARSE_LATENCY_LOG_SD_FLOOR = 0.10
SIGNAL_WEIGHTS = {"errors": 0.4, "latency_p99": 0.2, "latency_mean": 0.2, "overhead_mean": 0.1}
EXTRA_WEIGHT = 0.1


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105  (a verdict, not a password)
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Period:
    """One variant's CloudWatch values for one period (None = no data)."""

    invocations: float | None = None
    errors_5xx: float | None = None
    errors_4xx: float | None = None
    latency_p99_ms: float | None = None
    latency_mean_ms: float | None = None
    overhead_mean_ms: float | None = None
    extra: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantSeries:
    variant: str
    periods: list[Period]

    @property
    def invocations(self) -> float:
        return sum(_finite(p.invocations) or 0.0 for p in self.periods)


@dataclass(frozen=True)
class Check:
    """One test of a look. `unit` says how `canary`, `baseline` and `limit` read (`check_evidence`): "percent" (a
    rate), "ms", "requests", "points" (a paired difference of error rates), "relative" (a log ratio against the
    current variant) or "relative_drop" (the same, negated, for a metric whose drop is the harm); `measure` names
    what was measured, in words."""

    name: str
    canary: float | None
    baseline: float | None
    limit: float | None
    outcome: str
    detail: str
    unit: str = ""
    measure: str = ""


def check_evidence(check: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(what, value, limit) of a check (`Check` as its decision record keeps it) in the units of the reasons: "+38%
    against a limit of +25%", not a log ratio. A check recorded before `unit` existed shows its bare numbers."""
    unit = check.get("unit") or ""
    canary, baseline, limit = check.get("canary"), check.get("baseline"), check.get("limit")

    def shown(value: float) -> str:
        if unit == "percent":
            return _pct(value)
        if unit == "ms":
            return f"{value:.0f} ms"
        if unit == "requests":
            return f"{value:.0f} requests"
        if unit == "points":
            return f"{value * 100:+.2f} points"
        if unit == "relative":
            return f"{math.expm1(value):+.0%}" if abs(value) < 50 else f"{value:+.3g} (log ratio)"
        if unit == "relative_drop":  # the log ratio of current over canary: the canary's change is exp(-v) - 1
            return f"{math.expm1(-value):+.0%}" if abs(value) < 50 else f"{-value:+.3g} (log ratio)"
        return f"{value:.4g}"

    if canary is None:
        value = "no data"
    elif unit in {"points", "relative", "relative_drop"}:
        value = f"canary {shown(float(canary))}"
    else:
        value = f"canary {shown(float(canary))}" + (
            f", current {shown(float(baseline))}" if baseline is not None else ""
        )
    return (
        check.get("measure") or str(check["name"]),
        f"{value} ({check['outcome']})",
        shown(float(limit)) if limit is not None else None,
    )


@dataclass(frozen=True)
class SignalBound:
    """`lower` against `margin` (the tolerance) is the harm test; `upper` against `pass_margin` (the regression) the
    promotion test. For errors the two are different paired differences (each against its own multiple of the
    current variant's rate), so `estimate` is the harm test's."""

    name: str
    estimate: float
    lower: float
    upper: float
    margin: float
    periods: int
    pass_margin: float = 0.0


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    checks: list[Check] = field(default_factory=list)
    bounds: list[SignalBound] = field(default_factory=list)
    baseline_unhealthy: bool = False
    usable_periods: int = 0
    skipped_periods: int = 0
    looked: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _sample_variance(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def cs_radius(sd: float, n: float, alpha: float, design_n: float) -> float:
    """Half-width of the two-sided asymptotic confidence sequence for a mean after n observations.

    sd * sqrt(2 (n r^2 + 1) / (n^2 r^2) * log(sqrt(n r^2 + 1) / alpha)), with r^2 tuned so the sequence is
    tightest near `design_n` observations (Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, 2021).
    """
    log_term = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)
    r2 = log_term / max(design_n, 1.0)
    return sd * math.sqrt(2 * (n * r2 + 1) / (n * n * r2) * math.log(math.sqrt(n * r2 + 1) / alpha))


def regression_error_ratio(limits: Thresholds) -> float:
    """The promotion test's multiple of the current error rate: the tolerated excess ratio - 1, `regression_multiple`
    times over (with `regression_multiple` times the slack on top)."""
    return 1 + limits.regression_multiple * (limits.max_error_rate_ratio - 1)


@dataclass(frozen=True)
class WeightedSignal:
    """A per-period paired difference averaged with inverse-variance weights, and what its bound needs: the
    information (the sum of the weights), the information at the design point, and the overdispersion."""

    mean: float
    information: float
    design: float
    dispersion: float
    periods: int
    # Each period's difference and weight, in order (what the running bounds need).
    diffs: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    def __len__(self) -> int:
        return self.periods


Signal = list[float] | WeightedSignal


# Judged against history: the hour before the switch whose minute-to-minute error variation the judge assumes at
# least (services/evaluate.look_series; Plan measures the hour before it, the benchmark the same).
DISPERSION_MINUTES = 60


def period_errors(period: Period, *, include_4xx: bool) -> float:
    """A period's errors as the judge counts them: 5XX, plus 4XX with `judge.include_4xx`."""
    return (period.errors_5xx or 0.0) + ((period.errors_4xx or 0.0) if include_4xx else 0.0)


def error_dispersion(counts: list[tuple[float, float]]) -> float:
    """How much more one variant's error rate varies from minute to minute than binomial sampling explains: the
    Pearson dispersion sum((e_i - n_i p)^2 / (n_i p (1 - p))) / (k - 1) of its (errors, requests) minutes about
    their pooled rate p, at least 1 (1 with fewer than two minutes with requests). Bursts and drifts that a variant
    beside it would share raise it."""
    usable = [(e, n) for e, n in counts if n > 0]
    if len(usable) < 2:
        return 1.0
    rate = (sum(e for e, _ in usable) + 0.5) / (sum(n for _, n in usable) + 1)
    pearson = sum((e - n * rate) ** 2 / (n * rate * (1 - rate)) for e, n in usable) / (len(usable) - 1)
    return max(1.0, pearson)


def weighted_error_signal(
    counted: list[tuple[float, float, float, float]],
    ratio: float,
    design_periods: int,
    *,
    canary_rate: float | None = None,
    dispersion_floor: float = 1.0,
) -> WeightedSignal | list[float]:
    """The error signal d = p_c - ratio * p_b per period, averaged with weights 1 / Var(d): minutes at a 50% share
    carry five times the evidence of minutes at 10%, which an unweighted mean over periods would throw away. The
    variances use the pooled rates of the whole window, never the period's own counts (weights that depend on a
    period's errors would bias the mean toward the quiet minutes). The bound is the normal-mixture confidence
    sequence on the weighted sum in information time (the sum of the weights), so it stays anytime-valid; extra-
    binomial variation (bursts, drifting rates) widens it through the Pearson dispersion, never below 1, and
    doubled while fewer than MIN_PERIODS_FOR_VARIANCE periods exist. `canary_rate`: the canary's rate the
    variances assume, instead of its pooled one (the promotion test's, at the regression). `dispersion_floor`: the
    least dispersion to assume (against history, the history's own: `error_dispersion`)."""
    usable = [(ec, nc, eb, nb) for ec, nc, eb, nb in counted if nc > 0 and nb > 0]
    if not usable:
        return []
    total_c, total_b = sum(nc for _, nc, _, _ in usable), sum(nb for _, _, _, nb in usable)
    rate_c = (sum(ec for ec, _, _, _ in usable) + 0.5) / (total_c + 1) if canary_rate is None else canary_rate
    rate_b = (sum(eb for _, _, eb, _ in usable) + 0.5) / (total_b + 1)
    diffs, weights = [], []
    for ec, nc, eb, nb in usable:
        diffs.append(ec / nc - ratio * eb / nb)
        weights.append(1 / (rate_c * (1 - rate_c) / nc + ratio * ratio * rate_b * (1 - rate_b) / nb))
    information = sum(weights)
    mean = sum(w * d for w, d in zip(weights, diffs, strict=True)) / information
    k = len(diffs)
    pearson = sum(w * (d - mean) ** 2 for w, d in zip(weights, diffs, strict=True)) / (k - 1) if k > 1 else 1.0
    dispersion = max(1.0, pearson, dispersion_floor) * (2.0 if k < MIN_PERIODS_FOR_VARIANCE else 1.0)
    return WeightedSignal(
        mean, information, information / k * design_periods, dispersion, k, tuple(diffs), tuple(weights)
    )


def promotion_error_signal(
    counted: list[tuple[float, float, float, float]],
    limits: Thresholds,
    design_periods: int,
    *,
    dispersion_floor: float = 1.0,
) -> tuple[WeightedSignal, float] | None:
    """The errors signal the promotion test bounds, and the regression on its scale; None without usable periods.

    The signal is d = p_c - r p_b per minute, as the harm test's, but its minutes are weighed with the canary's
    variance at the regression (rate r' p_b + m s), never its observed rate: with the observed rate, a run with few
    canary errors gets both a lower mean and more information, and where errors are sparse a canary at the
    regression passed three times as often as beta allows (a review; tests/unit/test_judge.py). The regression on
    d's scale is (r' - r) p_b + m s, with p_b the current variant's pooled rate."""
    usable = [(eb, nb) for _, nc, eb, nb in counted if nc > 0 and nb > 0]
    if not usable:
        return None
    pooled_b = (sum(eb for eb, _ in usable) + 0.5) / (sum(nb for _, nb in usable) + 1)
    ratio, slack, multiple = limits.max_error_rate_ratio, limits.max_error_rate_increase, limits.regression_multiple
    regression_ratio = regression_error_ratio(limits)
    at_regression = min(1.0, regression_ratio * pooled_b + multiple * slack)
    signal = weighted_error_signal(
        counted, ratio, design_periods, canary_rate=at_regression, dispersion_floor=dispersion_floor
    )
    if not isinstance(signal, WeightedSignal):
        return None
    return signal, (regression_ratio - ratio) * pooled_b + multiple * slack


def likelihood_ratio_bound(
    signal: WeightedSignal, tolerance: float, beta: float, alpha: float, *, from_period: int = 1
) -> float:
    """The smallest mean of the weighted error signal that the evidence has ruled out against `tolerance` at any
    period since `from_period`: for each prefix of k periods (mean d_k, information V_k), the least mu above the
    tolerance whose log-likelihood ratio against it, on the signal's normal model with dispersion phi, has fallen
    to Wald's lower boundary ln(beta / (1 - alpha)):

        V_k (mu - tol) (d_k - (tol + mu) / 2) / phi <= ln(beta / (1 - alpha)), i.e. mu >= tol + x_k,
        x_k = (d_k - tol) + sqrt((d_k - tol)^2 - 2 phi ln(beta / (1 - alpha)) / V_k),

    and the smallest of those over the prefixes. Under a canary whose error signal is at mu, the likelihood ratio of
    the tolerance against mu is a nonnegative martingale, and Ville's inequality bounds its ever reaching
    (1 - alpha) / beta by beta / (1 - alpha): the accept side of Wald's SPRT, whose running minimum is what "ever"
    allows, so a proof reached once (at a 100% shadow, say) stands through a later step's thinner evidence. Only
    approximately here: the signal is a normal model of counts, and its weights (the canary's variance at the
    regression, the caller's choice) and phi are the whole window's, recomputed at each look (docs/judge.md)."""
    boundary = math.log(beta / (1 - alpha))
    best = math.inf
    information = weighted = 0.0
    for k, (diff, weight) in enumerate(zip(signal.diffs, signal.weights, strict=True), start=1):
        information += weight
        weighted += weight * diff
        if k < from_period:
            continue
        gap = weighted / information - tolerance
        best = min(best, tolerance + gap + math.sqrt(gap * gap - 2 * signal.dispersion * boundary / information))
    return best


def _pooled_rate_bound(errors: float, n: float, alpha: float, design_n: float) -> tuple[float, float]:
    """Anytime-valid bounds on one variant's own error rate, from its pooled requests."""
    rate = errors / n
    smoothed = (errors + 0.5) / (n + 1)
    radius = cs_radius(math.sqrt(smoothed * (1 - smoothed)), max(int(n), 1), alpha, design_n)
    return max(0.0, rate - radius), min(1.0, rate + radius)


@dataclass
class _Pair:
    canary: Period
    baseline: Period


def judge(
    baseline: VariantSeries,
    canary: VariantSeries,
    limits: Thresholds,
    *,
    design_periods: int = 10,
    extras: list[ExtraMetric] | None = None,
    dispersion_floor: float = 1.0,
) -> Judgement:
    """One look: everything observed since the step started, both variants period by period.

    `design_periods`: where the bounds are tightest (the step's bake, in periods); any value keeps validity.
    `dispersion_floor`: the least dispersion the error signals assume. 1 for two variants over the same minutes,
    whose shared bursts cancel; against history (services/evaluate.look_series) the current variant's own over
    the hour before the switch (`error_dispersion`), since a pair's two minutes do not share them.
    """
    extras = extras or []
    alpha = 1 - limits.confidence
    # The false-rollback budget, split across signals (Bonferroni, weighted toward errors): the union of all
    # signals at all looks keeps alpha. Each test is one-sided (worse than tolerated), so a signal spends its
    # whole share on that side.
    weights = dict(SIGNAL_WEIGHTS)
    if extras:
        weights.update({e.name: EXTRA_WEIGHT / len(extras) for e in extras})
    else:
        weights["errors"] += EXTRA_WEIGHT
    alpha_of = {name: alpha * weight for name, weight in weights.items()}
    # The promotion test needs no split: a PASS needs every signal's bound below its regression (an
    # intersection-union test), so a canary that regresses on any one signal passes only if that signal's bound
    # errs, at most 1 - pass_confidence of the time.
    beta_of = dict.fromkeys(weights, 1 - limits.pass_confidence)
    alpha_each = alpha_of["errors"]

    pairs: list[_Pair] = []
    skipped = 0
    for c, b in zip(canary.periods, baseline.periods, strict=False):
        usable = _finite(c.invocations) and _finite(b.invocations)
        errors_known = _finite(c.errors_5xx) is not None and _finite(b.errors_5xx) is not None
        if usable and errors_known:
            pairs.append(_Pair(c, b))
        else:
            skipped += 1
    canary_n = sum(p.canary.invocations or 0.0 for p in pairs)
    baseline_n = sum(p.baseline.invocations or 0.0 for p in pairs)
    checks: list[Check] = []

    def errors_of(period: Period) -> float:
        return period_errors(period, include_4xx=limits.include_4xx)

    label = "5XX+4XX" if limits.include_4xx else "5XX"
    if canary_n < limits.min_requests:
        seen = "no data" if not pairs else f"{canary_n:.0f} requests"
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} has {seen} in {len(pairs)} usable periods; the judge needs at least "
            f"{limits.min_requests} before it can decide (and never passes without them).",
            [
                Check(
                    "canary_traffic",
                    canary_n,
                    baseline_n,
                    limits.min_requests,
                    "inconclusive",
                    f"{skipped} periods missing",
                    "requests",
                    "requests judged",
                )
            ],
            usable_periods=len(pairs),
            skipped_periods=skipped,
        )

    canary_errors = sum(errors_of(p.canary) for p in pairs)
    baseline_errors = sum(errors_of(p.baseline) for p in pairs)
    canary_rate = canary_errors / canary_n
    baseline_rate = baseline_errors / baseline_n if baseline_n else None
    design_requests = canary_n / len(pairs) * design_periods
    canary_low, canary_high = _pooled_rate_bound(canary_errors, canary_n, alpha_each, design_requests)

    # The current variant's own health: a shared problem is not the canary's fault.
    latest_baseline_p99 = next((p.baseline.latency_p99_ms for p in reversed(pairs) if p.baseline.latency_p99_ms), None)
    latest_canary = pairs[-1].canary
    # The current variant's point estimate, not its lower bound, over the cap counts: in a burst both variants share,
    # the canary's bound can cross the cap while the current variant's (over more requests) has not yet.
    baseline_unhealthy = (baseline_rate is not None and baseline_rate > limits.max_error_rate) or (
        latest_baseline_p99 is not None and latest_baseline_p99 > limits.max_p99_latency_ms
    )

    breaches = []
    if canary_low > limits.max_error_rate:
        breaches.append(f"{label} error rate {_pct(canary_rate)} is above the {_pct(limits.max_error_rate)} cap")
    checks.append(
        Check(
            "error_rate_cap",
            canary_rate,
            baseline_rate,
            limits.max_error_rate,
            "fail" if canary_low > limits.max_error_rate else "pass",
            f"anytime bounds [{_pct(canary_low)}, {_pct(canary_high)}]",
            "percent",
            f"{label} error rate (cap)",
        )
    )
    if latest_canary.latency_p99_ms is not None:
        over = latest_canary.latency_p99_ms > limits.max_p99_latency_ms
        if over:
            breaches.append(
                f"p99 latency {latest_canary.latency_p99_ms:.0f} ms in the latest period is above the "
                f"{limits.max_p99_latency_ms:.0f} ms cap"
            )
        checks.append(
            Check(
                "p99_latency_cap",
                latest_canary.latency_p99_ms,
                latest_baseline_p99,
                limits.max_p99_latency_ms,
                "fail" if over else "pass",
                "ModelLatency p99 (ms), latest period",
                "ms",
                "ModelLatency p99 in the latest minute (cap)",
            )
        )

    # Relative signals: paired per-period differences with a confidence sequence each.
    bounds: list[SignalBound] = []
    undecided: list[str] = []
    unmeasured: list[str] = []
    failing: list[str] = []
    multiple = limits.regression_multiple

    def bounded(values: Signal, variance_floor: float, level: float, side: int) -> tuple[float, float]:
        """(mean, its one-sided anytime bound at `level` on `side`: -1 lower, +1 upper)."""
        if isinstance(values, WeightedSignal):
            spread = math.sqrt(values.dispersion)
            radius = spread * cs_radius(1.0, values.information, min(0.5, 2 * level), values.design)
            return values.mean, values.mean + side * radius
        k = len(values)
        # The sample variance, shrunk toward twice the floor's standard deviation with PRIOR_PERIODS periods of
        # weight: four or nine minutes of p99 ratios can agree by chance, and then a bare sample variance let a
        # candidate exactly at the latency tolerance fail 1.5% of the time in a 5 rps shadow (bench), against the
        # p99 signal's 0.2% share of alpha; with the prior, 0.2%.
        deviations = _sample_variance(values) * (k - 1)
        variance = max(variance_floor, (deviations + PRIOR_PERIODS * 4 * variance_floor) / (k - 1 + PRIOR_PERIODS))
        if k < MIN_PERIODS_FOR_VARIANCE:  # a sample variance of one or two periods means little
            variance = max(variance, 2 * variance_floor)
        mean = _mean(values)
        # One-sided, so the two-sided formula at twice the level.
        return mean, mean + side * cs_radius(math.sqrt(variance), k, min(0.5, 2 * level), design_periods)

    def assess(
        name: str,
        values: Signal,
        variance_floor: float,
        margin: float,
        pass_margin: float,
        describe: str,
        *,
        required: bool = True,
        promotion: tuple[float, float] | None = None,
        unit: str = "relative",
    ) -> None:
        """The harm test (lower bound over `margin`, spending the signal's share of alpha) and the promotion test
        (upper bound under `pass_margin`, spending its share of 1 - pass_confidence): the confidence sequence's
        upper bound, or `promotion` = (bound, regression) when the signal has its own (errors)."""
        if not len(values):
            if required:
                unmeasured.append(f"{describe} has no data")
            outcome = "inconclusive" if required else "not published"
            checks.append(Check(name, None, None, margin, outcome, describe, unit, describe))
            return
        mean, lower = bounded(values, variance_floor, alpha_of[name], -1)
        if promotion is None:
            _, upper = bounded(values, variance_floor, beta_of[name], +1)
        else:
            upper, pass_margin = promotion
        bound = SignalBound(name, mean, lower, upper, margin, len(values), pass_margin)
        bounds.append(bound)
        if bound.lower > margin:
            failing.append(name)
            checks.append(
                Check(
                    name,
                    mean,
                    None,
                    margin,
                    "fail",
                    f"{describe}: lower bound {bound.lower:.4f} > {margin:.4f}",
                    unit,
                    describe,
                )
            )
        elif bound.upper <= pass_margin:
            checks.append(
                Check(
                    name,
                    mean,
                    None,
                    margin,
                    "pass",
                    f"{describe}: upper bound {bound.upper:.4f} <= {pass_margin:.4f} (regression)",
                    unit,
                    describe,
                )
            )
        else:
            undecided.append(describe)
            checks.append(
                Check(
                    name,
                    mean,
                    None,
                    margin,
                    "inconclusive",
                    f"{describe}: harm bound {bound.lower:.4f} (tolerance {margin:.4f}), promotion bound "
                    f"{bound.upper:.4f} (regression {pass_margin:.4f})",
                    unit,
                    describe,
                )
            )

    # Errors: d = canary rate - ratio * baseline rate per period, tolerated up to the absolute slack. The regression
    # is the same form with `multiple` times the tolerated excess, ratio' = 1 + m (ratio - 1) and slack' = m slack:
    # on d's scale, (ratio' - ratio) * p_b + m slack, with p_b the current variant's pooled rate. Promotion is the
    # likelihood-ratio test of the tolerance against that regression (`likelihood_ratio_bound`).
    ratio = limits.max_error_rate_ratio

    counted = [
        (errors_of(p.canary), p.canary.invocations or 0.0, errors_of(p.baseline), p.baseline.invocations or 0.0)
        for p in pairs
    ]
    error_signal = weighted_error_signal(counted, ratio, design_periods, dispersion_floor=dispersion_floor)
    slack = limits.max_error_rate_increase
    promotion = None
    proof = promotion_error_signal(counted, limits, design_periods, dispersion_floor=dispersion_floor)
    if proof is not None:
        promotion_signal, regression = proof
        promotion = (
            likelihood_ratio_bound(
                promotion_signal, slack, beta_of["errors"], alpha_of["errors"], from_period=limits.min_periods
            ),
            regression,
        )
    assess(
        "errors",
        error_signal,
        0.0,
        slack,
        multiple * slack,
        f"{label} error rate over {ratio:g}x the current variant's",
        promotion=promotion,
        unit="points",
    )

    def log_ratios(getter: Any) -> list[float]:
        values = []
        for pair in pairs:
            c, b = getter(pair.canary), getter(pair.baseline)
            if c is not None and b is not None and c > 0 and b > 0 and math.isfinite(c) and math.isfinite(b):
                values.append(math.log(c / b))
        return values

    latency_margin = math.log(1 + limits.max_latency_increase)
    latency_regression = math.log(1 + multiple * limits.max_latency_increase)
    typical = sorted(p.canary.invocations or 0.0 for p in pairs)[len(pairs) // 2]
    floor = (SPARSE_LATENCY_LOG_SD_FLOOR if typical < SPARSE_PERIOD_REQUESTS else LATENCY_LOG_SD_FLOOR) ** 2
    for name, getter, describe in (
        ("latency_p99", lambda p: p.latency_p99_ms, "ModelLatency p99 against the current variant's"),
        ("latency_mean", lambda p: p.latency_mean_ms, "ModelLatency mean against the current variant's"),
    ):
        assess(name, log_ratios(getter), floor, latency_margin, latency_regression, describe)
    # OverheadLatency is secondary: judged when published, not required for a pass.
    assess(
        "overhead_mean",
        log_ratios(lambda p: p.overhead_mean_ms),
        floor,
        latency_margin,
        latency_regression,
        "OverheadLatency mean against the current variant's",
        required=False,
    )
    for extra in extras:
        values = log_ratios(lambda p, n=extra.name: p.extra.get(n))
        if not extra.higher_is_worse:
            values = [-v for v in values]
        tolerance = extra.tolerance
        assess(
            extra.name,
            values,
            floor,
            math.log(1 + tolerance),
            math.log(1 + multiple * tolerance),
            f"{extra.name} against the current variant's"
            + ("" if extra.higher_is_worse else " (a drop counts as worse)"),
            unit="relative" if extra.higher_is_worse else "relative_drop",
        )

    def verdict(outcome: Verdict, reason: str, *, looked: bool = False) -> Judgement:
        return Judgement(outcome, reason, checks, bounds, baseline_unhealthy, len(pairs), skipped, looked)

    if breaches and not baseline_unhealthy:
        return verdict(Verdict.FAIL, f"Canary {canary.variant}: " + "; ".join(breaches) + ".")
    if failing:
        return verdict(
            Verdict.FAIL,
            _failure_reason(canary.variant, baseline.variant, failing, bounds, canary_rate, baseline_rate, label),
        )
    if baseline_unhealthy:
        return verdict(
            Verdict.INCONCLUSIVE,
            f"The current variant {baseline.variant} is itself unhealthy (error rate {_pct(baseline_rate or 0.0)}"
            + (f", p99 {latest_baseline_p99:.0f} ms" if latest_baseline_p99 else "")
            + "); the canary is not significantly worse, so it is not blamed.",
        )
    if baseline_n < limits.min_requests:
        return verdict(
            Verdict.INCONCLUSIVE,
            f"The current variant {baseline.variant} has {baseline_n:.0f} requests; the canary cannot be compared "
            f"with it until both have {limits.min_requests}.",
        )
    looked = not unmeasured and len(pairs) >= limits.min_periods
    if unmeasured or undecided or len(pairs) < limits.min_periods:
        missing = unmeasured + undecided or [f"only {len(pairs)} of {limits.min_periods} periods"]
        return verdict(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} is not worse so far ({_pct(canary_rate)} vs {_pct(baseline_rate or 0.0)} errors "
            f"over {canary_n:.0f} and {baseline_n:.0f} requests) but the evidence does not yet rule out a regression: "
            + ", ".join(missing)
            + ".",
            looked=looked,
        )
    return verdict(
        Verdict.PASS,
        f"Canary {canary.variant} is not a regression: {_pct(canary_rate)} errors vs {_pct(baseline_rate or 0.0)}, "
        f"and latency below +{multiple * limits.max_latency_increase:.0%} of {baseline.variant}, bounded over "
        f"{len(pairs)} periods ({canary_n:.0f} and {baseline_n:.0f} requests).",
        looked=True,
    )


def judge_look(
    baseline: VariantSeries,
    canary: VariantSeries,
    limits: Thresholds,
    *,
    design_periods: int,
    dispersion_floor: float = 1.0,
    against_history: bool = False,
) -> Judgement:
    """The judge step of one look, from the config's thresholds: the one definition services/evaluate and
    `mlrollout replay` both run, so a replayed look is judged as the look was.

    The extra metrics are the thresholds' own (`limits.extra_metrics`). `against_history`: the current variant's
    periods are the endpoint's history before the switch (services/evaluate.look_series); an undecided look whose
    candidate minutes outnumber that history's says so, since the minutes without a partner add no evidence and
    waiting longer cannot help."""
    judgement = judge(
        baseline,
        canary,
        limits,
        design_periods=design_periods,
        extras=list(limits.extra_metrics),
        dispersion_floor=dispersion_floor,
    )
    if not against_history or judgement.verdict is not Verdict.INCONCLUSIVE:
        return judgement
    served = sum(1 for p in canary.periods if p.invocations)
    partnered = sum(
        1 for c, b in zip(canary.periods, baseline.periods, strict=False) if c.invocations and b.invocations
    )
    if partnered >= served:
        return judgement
    return replace(
        judgement,
        reason=f"{judgement.reason} The endpoint's history before the switch has traffic for only {partnered} of "
        f"the {served} minutes the new version has served, and a minute without its partner adds no evidence: "
        "roll out to a serverless endpoint once it has served at least the deadline's minutes.",
    )


def _failure_reason(
    canary: str,
    baseline: str,
    failing: list[str],
    bounds: list[SignalBound],
    canary_rate: float,
    baseline_rate: float | None,
    label: str,
) -> str:
    parts = []
    by_name = {b.name: b for b in bounds}
    for name in failing:
        bound = by_name[name]
        if name == "errors":
            parts.append(f"a {label} error rate of {_pct(canary_rate)} against {_pct(baseline_rate or 0.0)}")
        else:
            low = math.exp(bound.lower) - 1
            what = {"latency_p99": "p99 latency", "latency_mean": "mean latency", "overhead_mean": "overhead latency"}
            estimate = math.exp(bound.estimate) - 1
            parts.append(f"{what.get(name, name)} at least {low:+.0%} vs {baseline} (estimate {estimate:+.0%})")
    return f"Canary {canary} is worse than {baseline} beyond tolerance: " + "; ".join(parts) + "."
