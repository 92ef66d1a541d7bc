"""Per-period CloudWatch metrics of a baseline and a canary SageMaker variant, simulated.

Each period of `period_seconds` (60: SageMaker's invocation metrics are per minute) the simulator draws, for the
endpoint as a whole:
  - the request count, Poisson(rps * period * diurnal(t) * noise), with diurnal(t) = 1 + A sin(2 pi t / day + phase)
    (A = 0.3, phase uniform per seed) and noise a mean-one lognormal exp(N(0, s^2) - s^2 / 2);
  - a shared error-rate multiplier (mean-one lognormal) and a shared latency shift N(0, s^2) on the log scale;
  - a burst with probability 0.03: error rates x3 and latencies x1.4 for BOTH variants.
The canary's requests are Binomial(total, share); the baseline gets the rest. Then per variant:
  - 5XX errors ~ Binomial(n, min(1, rate)) and 4XX errors likewise;
  - ModelLatency per request ~ lognormal(mu, sigma), mu = ln(median) + shifts. Its p99 for the period is drawn as
    the k-th order statistic of n lognormals, k = ceil(0.99 n): exp(mu + sigma * Phi^-1(U)), U ~ Beta(k, n - k + 1)
    (the k-th order statistic of n uniforms), so 30,000 requests cost one draw. The mean is drawn from its normal
    approximation N(m, v / n), m = exp(mu + sigma^2 / 2), v = (exp(sigma^2) - 1) m^2;
  - OverheadLatency mean the same way from its own lognormal (median 3 ms).
A period with no requests for a variant is `Period()`: every value None, because SageMaker publishes its invocation
metrics per request (1 per request for Invocations, 0 or 1 for the error counts) and CloudWatch therefore has no
datapoint at all for a minute without requests; the metrics adapter turns a missing datapoint into None.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist

from mlrollout.domain.judge import Period, VariantSeries

_STANDARD_NORMAL = NormalDist()
_EDGE = 1e-15


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulated world is made of; the defaults are the benchmark's."""

    period_seconds: int = 60
    horizon: int = 20
    base_5xx: float = 0.01
    base_4xx: float = 0.005
    latency_median_ms: float = 40.0
    latency_sigma: float = 0.35
    overhead_median_ms: float = 3.0
    overhead_sigma: float = 0.5
    diurnal_amplitude: float = 0.3
    day_seconds: float = 86_400.0
    traffic_noise_sd: float = 0.10
    error_noise_sd: float = 0.25
    latency_noise_sd: float = 0.05
    variant_latency_noise_sd: float = 0.02
    burst_probability: float = 0.03
    burst_error_factor: float = 3.0
    burst_latency_factor: float = 1.4
    degrade_error_factor: float = 4.0
    degrade_latency_factor: float = 1.6


@dataclass(frozen=True)
class Scenario:
    """What differs between the canary and the baseline.

    `canary_latency_factor` scales the canary's ModelLatency lognormal (mu + ln f): every quantile, the p99
    included, and the mean rise by the factor. A baseline that degrades does so from a period drawn uniformly in
    [1, horizon // 2] (0-based), with its error rates x4 and latencies x1.6; the canary is unchanged.
    """

    name: str
    canary_error_factor: float = 1.0
    canary_latency_factor: float = 1.0
    canary_traffic: bool = True
    no_traffic_as_zero: bool = False
    baseline_degrades: bool = False
    boundary: bool = False  # the canary sits exactly at a judge's tolerance: neither a regression nor healthy

    @property
    def regression(self) -> bool:
        return not self.boundary and (self.canary_error_factor > 1.0 or self.canary_latency_factor > 1.0)

    @property
    def no_traffic(self) -> bool:
        return not self.canary_traffic


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("no_regression"),
    Scenario("errors_x1.5", canary_error_factor=1.5),
    Scenario("errors_x2", canary_error_factor=2.0),
    Scenario("errors_x3", canary_error_factor=3.0),
    Scenario("p99_+20%", canary_latency_factor=1.2),
    Scenario("p99_+50%", canary_latency_factor=1.5),
    Scenario("no_traffic", canary_traffic=False),
    Scenario("no_traffic_zeros", canary_traffic=False, no_traffic_as_zero=True),
    Scenario("baseline_degrades", baseline_degrades=True),
)
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}


def boundary_scenarios(
    *, error_ratio: float, error_slack: float, latency_increase: float, base_5xx: float
) -> tuple[Scenario, Scenario]:
    """Canaries exactly at a tolerance of the form "rate <= ratio * baseline + slack" and "latency <= (1 + inc) x":
    error factor ratio + slack / base, latency factor 1 + inc. A judge at confidence c should fail them at most
    1 - c of the time."""
    return (
        Scenario("errors_at_tolerance", canary_error_factor=error_ratio + error_slack / base_5xx, boundary=True),
        Scenario("latency_at_tolerance", canary_latency_factor=1 + latency_increase, boundary=True),
    )


TRAFFIC_RPS: tuple[float, ...] = (5.0, 50.0, 500.0)
CANARY_SHARES: tuple[float, ...] = (0.05, 0.10, 0.20)


@dataclass(frozen=True)
class Stream:
    """One simulated step: both variants' periods, aligned, and how they were made."""

    scenario: str
    rps: float
    share: float
    seed: int
    baseline: VariantSeries
    canary: VariantSeries
    degrade_from: int | None


def poisson(rng: random.Random, lam: float) -> int:
    """An exact Poisson(lam) draw from the stdlib.

    While lam > 30: with m = floor(7 lam / 8), the m-th arrival of a unit-rate Poisson process comes at
    X ~ Gamma(m, 1). If X > lam, the count in [0, lam] is Binomial(m - 1, lam / X) (the first m - 1 arrivals are
    uniform on [0, X]); otherwise it is m plus a Poisson(lam - X) count (Ahrens and Dieter). Below 30, Knuth's
    product of uniforms: the smallest k with U_1 ... U_(k+1) <= exp(-lam).
    """
    if lam <= 0:
        return 0
    count = 0
    while lam > 30:
        m = int(lam * 7 / 8)
        x = rng.gammavariate(m, 1.0)
        if x > lam:
            return count + rng.binomialvariate(m - 1, lam / x)
        count += m
        lam -= x
    limit = math.exp(-lam)
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def p99_order_statistic(rng: random.Random, n: int, mu: float, sigma: float, q: float = 0.99) -> float:
    """The q-quantile of n lognormal(mu, sigma) requests, as the k-th order statistic, k = ceil(q n).

    The k-th smallest of n uniforms is Beta(k, n - k + 1); the lognormal quantile function maps it:
    exp(mu + sigma * Phi^-1(U)).
    """
    k = max(1, math.ceil(q * n))
    u = rng.betavariate(k, n - k + 1)
    u = min(max(u, _EDGE), 1 - _EDGE)
    return math.exp(mu + sigma * _STANDARD_NORMAL.inv_cdf(u))


def lognormal_mean_sample(rng: random.Random, n: int, mu: float, sigma: float) -> float:
    """The mean of n lognormal(mu, sigma) requests from its normal approximation.

    N(m, v / n) with m = exp(mu + sigma^2 / 2) and v = (exp(sigma^2) - 1) m^2, floored at m / 10 (the
    approximation can go negative for a handful of requests; a real mean cannot).
    """
    m = math.exp(mu + sigma * sigma / 2)
    sd = math.sqrt((math.exp(sigma * sigma) - 1) * m * m / n)
    return max(m / 10, rng.gauss(m, sd))


def lognormal_p99(median_ms: float, sigma: float) -> float:
    """The population p99 of a lognormal with that median: median * exp(sigma * Phi^-1(0.99))."""
    return median_ms * math.exp(sigma * _STANDARD_NORMAL.inv_cdf(0.99))


def _mean_one_lognormal(rng: random.Random, sd: float) -> float:
    """exp(N(0, sd^2) - sd^2 / 2): a multiplicative noise with mean 1."""
    return math.exp(rng.gauss(0.0, sd) - sd * sd / 2)


def variant_period(
    rng: random.Random,
    n: int,
    *,
    rate_5xx: float,
    rate_4xx: float,
    latency_mu: float,
    overhead_mu: float,
    config: SimConfig,
) -> Period:
    """One variant's period as the metrics adapter builds it: floats, and all None when there were no requests."""
    if n <= 0:
        return Period()
    return Period(
        invocations=float(n),
        errors_5xx=float(rng.binomialvariate(n, min(1.0, rate_5xx))),
        errors_4xx=float(rng.binomialvariate(n, min(1.0, rate_4xx))),
        latency_p99_ms=p99_order_statistic(rng, n, latency_mu, config.latency_sigma),
        latency_mean_ms=lognormal_mean_sample(rng, n, latency_mu, config.latency_sigma),
        overhead_mean_ms=lognormal_mean_sample(rng, n, overhead_mu, config.overhead_sigma),
    )


def simulate(
    scenario: Scenario, rps: float, share: float, seed: int, config: SimConfig | None = None, *, shadow: bool = False
) -> Stream:
    """One step of `config.horizon` periods for (scenario, traffic, share, seed).

    `shadow`: the candidate is a shadow variant: the current variant serves every request and the candidate gets a
    copy of `share` of them (SageMaker discards its answers), so both see the same minutes' requests.

    The shared world (traffic, bursts, noise, the degradation start) and the baseline's draws depend only on
    (seed, rps, share), not on the scenario: every scenario sees the same minutes (common random numbers), so
    differences between scenarios come from the scenario alone.
    """
    config = config or SimConfig()
    key = f"mlrollout-bench:{seed}:{rps:g}:{share:g}" + (":shadow" if shadow else "")
    world = random.Random(f"{key}:world")
    baseline_rng = random.Random(f"{key}:baseline")
    canary_rng = random.Random(f"{key}:canary")

    phase = world.uniform(0.0, 2 * math.pi)
    degrade_at = world.randint(1, max(1, config.horizon // 2))
    degrade_from = degrade_at if scenario.baseline_degrades else None
    base_latency_mu = math.log(config.latency_median_ms)
    base_overhead_mu = math.log(config.overhead_median_ms)

    baseline_periods: list[Period] = []
    canary_periods: list[Period] = []
    for t in range(config.horizon):
        seconds = t * config.period_seconds
        diurnal = 1 + config.diurnal_amplitude * math.sin(2 * math.pi * seconds / config.day_seconds + phase)
        expected = rps * config.period_seconds * diurnal * _mean_one_lognormal(world, config.traffic_noise_sd)
        burst = world.random() < config.burst_probability
        error_factor = _mean_one_lognormal(world, config.error_noise_sd) * (config.burst_error_factor if burst else 1.0)
        latency_shift = world.gauss(0.0, config.latency_noise_sd) + (
            math.log(config.burst_latency_factor) if burst else 0.0
        )
        total = poisson(world, expected)
        canary_requests = world.binomialvariate(total, share)
        if not scenario.canary_traffic:
            canary_requests = 0
        baseline_requests = total if shadow else total - canary_requests

        degraded = degrade_from is not None and t >= degrade_from
        b_error = error_factor * (config.degrade_error_factor if degraded else 1.0)
        b_latency = latency_shift + (math.log(config.degrade_latency_factor) if degraded else 0.0)
        baseline_periods.append(
            variant_period(
                baseline_rng,
                baseline_requests,
                rate_5xx=config.base_5xx * b_error,
                rate_4xx=config.base_4xx * b_error,
                latency_mu=base_latency_mu + b_latency + baseline_rng.gauss(0.0, config.variant_latency_noise_sd),
                overhead_mu=base_overhead_mu + b_latency,
                config=config,
            )
        )

        if not scenario.canary_traffic and scenario.no_traffic_as_zero:
            canary_periods.append(Period(invocations=0.0, errors_5xx=0.0, errors_4xx=0.0))
            continue
        canary_periods.append(
            variant_period(
                canary_rng,
                canary_requests,
                rate_5xx=config.base_5xx * error_factor * scenario.canary_error_factor,
                rate_4xx=config.base_4xx * error_factor,
                latency_mu=base_latency_mu
                + latency_shift
                + math.log(scenario.canary_latency_factor)
                + canary_rng.gauss(0.0, config.variant_latency_noise_sd),
                overhead_mu=base_overhead_mu + latency_shift,
                config=config,
            )
        )
    return Stream(
        scenario=scenario.name,
        rps=rps,
        share=share,
        seed=seed,
        baseline=VariantSeries("current", baseline_periods),
        canary=VariantSeries("candidate", canary_periods),
        degrade_from=degrade_from,
    )
