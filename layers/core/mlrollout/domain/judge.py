"""The canary judge: the candidate variant against the current one, period by period, with anytime-valid bounds.

Each signal is a per-period paired difference between the canary and the current variant over the same minutes
(so diurnal trends and bursts that hit both cancel): the error rate against a tolerated multiple of the
baseline's, and the log-ratio of p99 and mean ModelLatency, of OverheadLatency, and of any extra metric. For
each signal the judge keeps a confidence sequence for its mean: an interval that covers the true value at every
look at once with probability at least 1 - alpha (the normal-mixture boundary of Robbins, in the asymptotic
form of Waudby-Smith et al.), so looking every minute does not inflate the false-rollback rate.

FAIL when a signal's lower bound clears its tolerance (the canary is worse, beyond doubt), or at once when the
canary breaks an absolute guard the current variant keeps. PASS when every signal's upper bound is inside its
tolerance. Anything else, including missing data, NaN and too little traffic, is INCONCLUSIVE: never a zero,
never a pass. docs/judge.md gives the method, its assumptions and its parameters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from mlrollout.domain.config import Judge as Thresholds

# A floor on a signal's per-period variance so two or three early periods that happen to agree cannot
# produce a confidently narrow interval.
MIN_PERIODS_FOR_VARIANCE = 3
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
class ExtraMetric:
    """A metric the config names: which direction is worse and the tolerated relative change."""

    name: str
    higher_is_worse: bool
    tolerance: float


@dataclass(frozen=True)
class Check:
    name: str
    canary: float | None
    baseline: float | None
    limit: float | None
    outcome: str
    detail: str


@dataclass(frozen=True)
class SignalBound:
    name: str
    estimate: float
    lower: float
    upper: float
    margin: float
    periods: int


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    checks: list[Check] = field(default_factory=list)
    bounds: list[SignalBound] = field(default_factory=list)
    baseline_unhealthy: bool = False
    usable_periods: int = 0
    skipped_periods: int = 0

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


def cs_radius(sd: float, n: int, alpha: float, design_n: float) -> float:
    """Half-width of the two-sided asymptotic confidence sequence for a mean after n observations.

    sd * sqrt(2 (n r^2 + 1) / (n^2 r^2) * log(sqrt(n r^2 + 1) / alpha)), with r^2 tuned so the sequence is
    tightest near `design_n` observations (Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas, 2021).
    """
    log_term = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)
    r2 = log_term / max(design_n, 1.0)
    return sd * math.sqrt(2 * (n * r2 + 1) / (n * n * r2) * math.log(math.sqrt(n * r2 + 1) / alpha))


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
) -> Judgement:
    """One look: everything observed since the step started, both variants period by period.

    `design_periods`: where the bounds are tightest (the step's bake, in periods); any value keeps validity.
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
    beta_of = {name: (1 - limits.pass_confidence) * weight for name, weight in weights.items()}
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
        extra = (period.errors_4xx or 0.0) if limits.include_4xx else 0.0
        return (period.errors_5xx or 0.0) + extra

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
            )
        )

    # Relative signals: paired per-period differences with a confidence sequence each.
    bounds: list[SignalBound] = []
    undecided: list[str] = []
    failing: list[str] = []

    def assess(
        name: str, values: list[float], variance_floor: float, margin: float, describe: str, *, required: bool = True
    ) -> None:
        if not values:
            if required:
                undecided.append(f"{describe} has no data")
            checks.append(Check(name, None, None, margin, "inconclusive" if required else "not published", describe))
            return
        k = len(values)
        variance = max(_sample_variance(values), variance_floor)
        if k < MIN_PERIODS_FOR_VARIANCE:  # a sample variance of one or two periods means little
            variance = max(variance, 2 * variance_floor)
        mean = _mean(values)
        sd = math.sqrt(variance)
        # One-sided bounds, each at its own level: the two-sided formula at twice that level. The lower bound
        # (rollback) spends the signal's share of alpha, the upper bound (pass) its share of 1 - pass_confidence.
        lower = mean - cs_radius(sd, k, min(0.5, 2 * alpha_of[name]), design_periods)
        upper = mean + cs_radius(sd, k, min(0.5, 2 * beta_of[name]), design_periods)
        bound = SignalBound(name, mean, lower, upper, margin, k)
        bounds.append(bound)
        if bound.lower > margin:
            failing.append(name)
            checks.append(
                Check(name, mean, None, margin, "fail", f"{describe}: lower bound {bound.lower:.4f} > {margin:.4f}")
            )
        elif bound.upper <= margin:
            checks.append(
                Check(name, mean, None, margin, "pass", f"{describe}: upper bound {bound.upper:.4f} <= {margin:.4f}")
            )
        else:
            undecided.append(describe)
            checks.append(
                Check(name, mean, None, margin, "inconclusive", f"{describe}: [{bound.lower:.4f}, {bound.upper:.4f}]")
            )

    # Errors: d = canary rate - ratio * baseline rate per period; tolerated up to the absolute slack.
    ratio = limits.max_error_rate_ratio
    error_diffs, error_variances = [], []
    for pair in pairs:
        nc, nb = pair.canary.invocations or 0.0, pair.baseline.invocations or 0.0
        if nc <= 0 or nb <= 0:
            continue
        pc, pb = errors_of(pair.canary) / nc, errors_of(pair.baseline) / nb
        error_diffs.append(pc - ratio * pb)
        sc = (errors_of(pair.canary) + 0.5) / (nc + 1)
        sb = (errors_of(pair.baseline) + 0.5) / (nb + 1)
        error_variances.append(sc * (1 - sc) / nc + ratio * ratio * sb * (1 - sb) / nb)
    assess(
        "errors",
        error_diffs,
        _mean(error_variances) if error_variances else 0.0,
        limits.max_error_rate_increase,
        f"{label} error rate vs {ratio:g}x the current variant's",
    )

    def log_ratios(getter: Any) -> list[float]:
        values = []
        for pair in pairs:
            c, b = getter(pair.canary), getter(pair.baseline)
            if c is not None and b is not None and c > 0 and b > 0 and math.isfinite(c) and math.isfinite(b):
                values.append(math.log(c / b))
        return values

    latency_margin = math.log(1 + limits.max_latency_increase)
    typical = sorted(p.canary.invocations or 0.0 for p in pairs)[len(pairs) // 2]
    floor = (SPARSE_LATENCY_LOG_SD_FLOOR if typical < SPARSE_PERIOD_REQUESTS else LATENCY_LOG_SD_FLOOR) ** 2
    assess("latency_p99", log_ratios(lambda p: p.latency_p99_ms), floor, latency_margin, "ModelLatency p99 ratio")
    assess("latency_mean", log_ratios(lambda p: p.latency_mean_ms), floor, latency_margin, "ModelLatency mean ratio")
    # OverheadLatency is secondary: judged when published, not required for a pass.
    assess(
        "overhead_mean",
        log_ratios(lambda p: p.overhead_mean_ms),
        floor,
        latency_margin,
        "OverheadLatency mean ratio",
        required=False,
    )
    for extra in extras:
        values = log_ratios(lambda p, n=extra.name: p.extra.get(n))
        if not extra.higher_is_worse:
            values = [-v for v in values]
        assess(extra.name, values, floor, math.log(1 + extra.tolerance), f"{extra.name} ratio")

    def verdict(outcome: Verdict, reason: str, *, unhealthy: bool = baseline_unhealthy) -> Judgement:
        return Judgement(outcome, reason, checks, bounds, unhealthy, len(pairs), skipped)

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
    if undecided or len(pairs) < limits.min_periods:
        missing = undecided or [f"only {len(pairs)} of {limits.min_periods} periods"]
        return verdict(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} is not worse so far ({_pct(canary_rate)} vs {_pct(baseline_rate or 0.0)} errors "
            f"over {canary_n:.0f} and {baseline_n:.0f} requests) but the evidence does not yet bound: "
            + ", ".join(missing)
            + ".",
        )
    return verdict(
        Verdict.PASS,
        f"Canary {canary.variant} is healthy: {_pct(canary_rate)} errors vs {_pct(baseline_rate or 0.0)} and latency "
        f"within +{limits.max_latency_increase:.0%} of {baseline.variant}, bounded over {len(pairs)} periods "
        f"({canary_n:.0f} and {baseline_n:.0f} requests).",
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
