"""The canary judge: the candidate variant against the current one over the same window.

First version: absolute guard limits, and a one-sided two-proportion z-test for the error rate against the
current variant with a tolerance, plus a p99 latency ratio. Missing data, NaN and too little traffic are
INCONCLUSIVE, never zeros and never a pass; a current variant that is itself unhealthy is reported as such.
The judge is one function behind one signature so a sequential method can replace the statistics.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from statistics import NormalDist
from typing import Any

from mlrollout.domain.config import Judge as Thresholds


class Verdict(StrEnum):
    PASS = "PASS"  # noqa: S105  (a verdict, not a password)
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class VariantWindow:
    """What CloudWatch returned for one variant over the judged window (None = no data)."""

    variant: str
    invocations: float | None
    errors_5xx: float | None
    errors_4xx: float | None
    latency_p99_ms: float | None
    latency_mean_ms: float | None
    periods: int = 0

    def clean(self) -> VariantWindow:
        """NaN and negative values are missing data, never numbers."""

        def ok(value: float | None) -> float | None:
            if value is None or not math.isfinite(value) or value < 0:
                return None
            return float(value)

        return VariantWindow(
            variant=self.variant,
            invocations=ok(self.invocations),
            errors_5xx=ok(self.errors_5xx),
            errors_4xx=ok(self.errors_4xx),
            latency_p99_ms=ok(self.latency_p99_ms),
            latency_mean_ms=ok(self.latency_mean_ms),
            periods=self.periods,
        )

    def error_rate(self, include_4xx: bool) -> float | None:
        if not self.invocations or self.errors_5xx is None:
            return None
        errors = self.errors_5xx + ((self.errors_4xx or 0.0) if include_4xx else 0.0)
        return min(1.0, errors / self.invocations)


@dataclass(frozen=True)
class Check:
    name: str
    canary: float | None
    baseline: float | None
    limit: float | None
    outcome: str
    detail: str


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str
    checks: list[Check] = field(default_factory=list)
    baseline_unhealthy: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def judge(baseline: VariantWindow, canary: VariantWindow, limits: Thresholds) -> Judgement:
    baseline, canary = baseline.clean(), canary.clean()
    checks: list[Check] = []
    z = NormalDist().inv_cdf(limits.confidence)
    errors_label = "5XX+4XX" if limits.include_4xx else "5XX"

    canary_n = canary.invocations or 0.0
    if canary_n < limits.min_requests:
        seen = "no data" if canary.invocations is None else f"{canary_n:.0f} requests"
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} has {seen} in the window; the judge needs at least "
            f"{limits.min_requests} per variant before it can decide.",
            [Check("canary_traffic", canary.invocations, None, limits.min_requests, "inconclusive", seen)],
        )
    canary_rate = canary.error_rate(limits.include_4xx)
    if canary_rate is None:
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} served {canary_n:.0f} requests but its error metric is missing.",
            [Check("canary_errors", None, None, limits.max_error_rate, "inconclusive", "metric missing")],
        )

    baseline_n = baseline.invocations or 0.0
    baseline_rate = baseline.error_rate(limits.include_4xx) if baseline_n >= limits.min_requests else None
    baseline_p99 = baseline.latency_p99_ms if baseline_n >= limits.min_requests else None
    baseline_unhealthy = (baseline_rate is not None and baseline_rate > limits.max_error_rate) or (
        baseline_p99 is not None and baseline_p99 > limits.max_p99_latency_ms
    )

    # Absolute guard limits: a breach fails at once, unless the current variant breaches them too.
    breaches = []
    if canary_rate > limits.max_error_rate:
        breaches.append(f"{errors_label} error rate {_pct(canary_rate)} exceeds the {_pct(limits.max_error_rate)} cap")
    checks.append(
        Check(
            "error_rate_cap",
            canary_rate,
            baseline_rate,
            limits.max_error_rate,
            "fail" if canary_rate > limits.max_error_rate else "pass",
            f"{errors_label} errors / invocations",
        )
    )
    if canary.latency_p99_ms is not None:
        over = canary.latency_p99_ms > limits.max_p99_latency_ms
        if over:
            breaches.append(
                f"p99 latency {canary.latency_p99_ms:.0f} ms exceeds the {limits.max_p99_latency_ms:.0f} ms cap"
            )
        checks.append(
            Check(
                "p99_latency_cap",
                canary.latency_p99_ms,
                baseline_p99,
                limits.max_p99_latency_ms,
                "fail" if over else "pass",
                "ModelLatency p99 (ms)",
            )
        )
    if breaches and baseline_unhealthy and not _significantly_worse(canary, baseline, limits, z):
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"The current variant {baseline.variant} is itself unhealthy ("
            + _health(baseline, limits)
            + "); the canary is no worse, so it is not blamed.",
            checks,
            baseline_unhealthy=True,
        )
    if breaches:
        return Judgement(Verdict.FAIL, f"Canary {canary.variant}: " + "; ".join(breaches) + ".", checks)

    if baseline_rate is None:
        seen = "no data" if baseline.invocations is None else f"{baseline_n:.0f} requests"
        checks.append(Check("baseline_traffic", baseline.invocations, None, limits.min_requests, "inconclusive", seen))
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"The current variant {baseline.variant} has {seen} in the window; the canary cannot be compared "
            f"with it until both have {limits.min_requests} requests.",
            checks,
        )

    # Relative error rate: is the increase over the current variant above the tolerance?
    diff = canary_rate - baseline_rate
    se = _standard_error(canary_rate, canary_n, baseline_rate, baseline_n)
    tolerance = limits.max_error_rate_increase
    z_score = (diff - tolerance) / se
    upper = diff + z * se
    if z_score > z:
        checks.append(
            Check("error_rate_vs_baseline", canary_rate, baseline_rate, tolerance, "fail", f"z={z_score:.2f}")
        )
        return Judgement(
            Verdict.FAIL,
            f"Canary {canary.variant} has a {errors_label} error rate of {_pct(canary_rate)} against "
            f"{_pct(baseline_rate)} on {baseline.variant}: {_pct(diff)} worse, above the {_pct(tolerance)} "
            f"tolerance at {limits.confidence:.0%} confidence.",
            checks,
        )
    rate_settled = upper <= tolerance
    checks.append(
        Check(
            "error_rate_vs_baseline",
            canary_rate,
            baseline_rate,
            tolerance,
            "pass" if rate_settled else "inconclusive",
            f"increase {_pct(diff)}, upper bound {_pct(upper)}",
        )
    )

    # Relative latency: p99 ratio.
    if canary.latency_p99_ms is not None and baseline_p99:
        ratio = canary.latency_p99_ms / baseline_p99
        slower = ratio > 1 + limits.max_latency_increase
        checks.append(
            Check(
                "p99_latency_vs_baseline",
                canary.latency_p99_ms,
                baseline_p99,
                1 + limits.max_latency_increase,
                "fail" if slower else "pass",
                f"ratio {ratio:.2f}",
            )
        )
        if slower:
            return Judgement(
                Verdict.FAIL,
                f"Canary {canary.variant} has a p99 latency of {canary.latency_p99_ms:.0f} ms against "
                f"{baseline_p99:.0f} ms on {baseline.variant} (+{(ratio - 1) * 100:.0f}%, tolerance "
                f"+{limits.max_latency_increase * 100:.0f}%).",
                checks,
            )
    else:
        checks.append(
            Check(
                "p99_latency_vs_baseline",
                canary.latency_p99_ms,
                baseline_p99,
                None,
                "inconclusive",
                "no data",
            )
        )
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"ModelLatency p99 is missing for {canary.variant} or {baseline.variant}.",
            checks,
        )

    if not rate_settled:
        return Judgement(
            Verdict.INCONCLUSIVE,
            f"Canary {canary.variant} looks no worse so far ({_pct(canary_rate)} vs {_pct(baseline_rate)} errors) "
            f"but the evidence does not yet bound the increase below {_pct(tolerance)}.",
            checks,
        )
    return Judgement(
        Verdict.PASS,
        f"Canary {canary.variant} is healthy: {_pct(canary_rate)} errors vs {_pct(baseline_rate)} and p99 "
        f"{canary.latency_p99_ms:.0f} ms vs {baseline_p99:.0f} ms over {canary_n:.0f} and {baseline_n:.0f} requests.",
        checks,
    )


def _standard_error(p1: float, n1: float, p2: float, n2: float) -> float:
    # Add half an event to each side so a window with zero errors still has a usable spread.
    a = (p1 * n1 + 0.5) / (n1 + 1)
    b = (p2 * n2 + 0.5) / (n2 + 1)
    return math.sqrt(a * (1 - a) / n1 + b * (1 - b) / n2)


def _significantly_worse(canary: VariantWindow, baseline: VariantWindow, limits: Thresholds, z: float) -> bool:
    c_rate = canary.error_rate(limits.include_4xx) or 0.0
    b_rate = baseline.error_rate(limits.include_4xx) or 0.0
    se = _standard_error(c_rate, canary.invocations or 1.0, b_rate, baseline.invocations or 1.0)
    if (c_rate - b_rate - limits.max_error_rate_increase) / se > z:
        return True
    if canary.latency_p99_ms and baseline.latency_p99_ms:
        return canary.latency_p99_ms > baseline.latency_p99_ms * (1 + limits.max_latency_increase)
    return False


def _health(window: VariantWindow, limits: Thresholds) -> str:
    parts = []
    rate = window.error_rate(limits.include_4xx)
    if rate is not None and rate > limits.max_error_rate:
        parts.append(f"error rate {_pct(rate)} > {_pct(limits.max_error_rate)}")
    if window.latency_p99_ms is not None and window.latency_p99_ms > limits.max_p99_latency_ms:
        parts.append(f"p99 {window.latency_p99_ms:.0f} ms > {limits.max_p99_latency_ms:.0f} ms")
    return ", ".join(parts)
