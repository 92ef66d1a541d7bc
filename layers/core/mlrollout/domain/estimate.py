"""How long a rollout should take to decide, estimated before any traffic moves (docs/judge.md, "The plan's
estimate").

The estimate replays the rollout on the stream a healthy candidate is expected to produce at the current variant's
recent traffic: every minute, each variant gets its expected share of the requests and exactly the current
variant's error rate, and the same latency. Each look (on the `evaluation_interval_seconds` grid) runs the judge's
own `judge()` on that expected evidence of all phases so far and the rollout policy's own `decide()` on its verdict,
so the estimate moves with every change of the judge, its constants (variance floors, the sparse-period floor) and
the policy: nothing statistical is re-derived here. On the expected stream the bound of the promotion test is its
median path, so the look at which it clears the regression margin estimates the median time to decide.

What it leaves out, each making it a little optimistic: extra-binomial variation (bursts, drifting rates: the
judge's dispersion is 1 on the expected stream), a latency spread above the judge's floors, daily traffic cycles,
and the minutes endpoint updates take between phases. Extra metrics are assumed not to bind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from mlrollout.domain.config import DEADLINE_BAKES, Judge, Shadow, Strategy
from mlrollout.domain.judge import Judgement, Period, VariantSeries, judge, promotion_error_signal
from mlrollout.domain.policy import Action, decide, design_periods

# A phase's weights take effect within some minute and the judge reads complete minutes only
# (services/evaluate.judged_window), so a look `t` minutes in sees t - 1 periods of that phase.
START_LAG_PERIODS = 1
# How far past its deadline the estimate follows an undecided phase, to say how long it would need: a day.
HORIZON_MINUTES = 1440.0
# Any latency works on the expected stream (both variants have the same), as long as it is under the judge's cap.
_EXPECTED_LATENCY_MS = 1.0
# What the options try: a first share (percent) and the tolerated extra error rate (absolute), smallest first.
FIRST_SHARES = (20.0, 25.0, 33.0, 50.0)
ERROR_SLACKS = (0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02)
SHADOW_PERCENT = 100.0
# The slow path the plan also checks: the candidate's observed error signal 2.33 standard errors above the truth,
# where all but 1 run in 100 are at that look (the 1% false-rollback target).
UNLUCKY_Z = 2.33
# A phase whose deadline the config leaves to its default (steps without strategy.max_bake_minutes, the shadow
# phase) gets, at low traffic, the time the slow path of a candidate at the error tolerance needs plus one look
# (`at_tolerance`), so that such a candidate is rolled back at a deadline in about 1 run in 100 whatever the traffic;
# never more than this, so that a rollout at almost no traffic still ends (the plan warns and offers its options
# instead). 6 hours: at 5 rps that slow path needs about 5 (at 4 hours 2.3% of canaries at the tolerance were rolled
# back, at 6 hours 0.7%: bench/results/judge.md). Plan shortens grown deadlines that would not fit in the state
# machine's execution limit (domain/duration.py).
DEADLINE_CAP_MINUTES = 360.0

PhaseKind = Literal["shadow", "step", "history"]


@dataclass(frozen=True)
class Traffic:
    """The current variant's recent traffic: mean requests per minute and error rate (the judge's errors: 5XX, plus
    4XX when `judge.include_4xx`)."""

    requests_per_minute: float
    error_rate: float
    minutes: int = 60
    # How much more its error rate varied from minute to minute than sampling explains (judge.error_dispersion).
    error_dispersion: float = 1.0


@dataclass(frozen=True)
class Phase:
    """One phase of the rollout: `share` of the requests reach the candidate. In a shadow phase they are a copy, so
    the current variant still serves all of them; in a step they are taken from it. `policy` is the strategy
    `decide()` applies to it (the shadow phase has its own bake and deadline) and `design` the judge's design
    point, both as the product sets them (config.Strategy.shadow_phase, policy.design_periods)."""

    kind: PhaseKind
    percent: float
    needs_pass: bool
    policy: Strategy
    design: int

    @property
    def share(self) -> float:
        return self.percent / 100

    def label(self) -> str:
        if self.kind == "history":
            return "post-switch"
        return f"shadow {self.percent:g}%" if self.kind == "shadow" else f"{self.percent:g}%"


@dataclass(frozen=True)
class PhaseEstimate:
    phase: Phase
    minutes: float | None  # from the phase's weights to its decision; None: not within HORIZON_MINUTES
    deadline_minutes: float  # the phase's deadline at this traffic (traffic_deadline), or the config's
    why: str  # what decides the phase: its bake, the traffic `min_requests` needs, or the promotion bound

    @property
    def within_deadline(self) -> bool:
        return self.minutes is not None and self.minutes <= self.deadline_minutes

    @property
    def extended(self) -> bool:
        """The deadline grew for this traffic beyond the config's default."""
        return self.deadline_minutes > self.phase.policy.deadline_minutes


@dataclass(frozen=True)
class Option:
    """One change that would let the rollout decide in time, and the estimate it gives."""

    change: str
    total_minutes: float | None
    decides_in_time: bool


@dataclass(frozen=True)
class Estimate:
    traffic: Traffic
    phases: list[PhaseEstimate]
    options: list[Option] = field(default_factory=list)
    # The same rollout on the slow path (UNLUCKY_Z): None when not computed or the expected path is already late.
    slow: Estimate | None = None

    @property
    def decides_in_time(self) -> bool:
        return all(p.within_deadline for p in self.phases)

    @property
    def total_minutes(self) -> float | None:
        """Expected minutes from the first phase's weights to promotion (endpoint updates between phases not
        counted); None if some phase does not decide within HORIZON_MINUTES."""
        minutes = [p.minutes for p in self.phases]
        return None if any(m is None for m in minutes) else sum(m for m in minutes if m is not None)

    @property
    def tight(self) -> bool:
        """In time on the expected path, but not on the slow one: some healthy candidates will meet a deadline."""
        return self.decides_in_time and self.slow is not None and not self.slow.decides_in_time

    def warning(self) -> str | None:
        """What to tell an operator before the rollout starts when a phase cannot decide by its deadline, or can
        only on the expected path."""
        late = next((p for p in self.phases if not p.within_deadline), None)
        if late is None and self.tight and self.slow is not None:
            slow = next(p for p in self.slow.phases if not p.within_deadline)
            needs = f"up to {slow.minutes:g} minutes" if slow.minutes is not None else "more than a day"
            text = (
                f"At {self.traffic.requests_per_minute:.0f} requests/minute a healthy candidate is expected to be "
                f"promoted in {_minutes(self.total_minutes)}, but with little margin: in 1 run in 100 the "
                f"{slow.phase.label()} phase's proof takes {needs}, past its {slow.deadline_minutes:g}-minute "
                "deadline, so some healthy candidates will be rolled back there"
            )
            if self.options:
                text += ". To keep the slow path in time: " + "; ".join(
                    f"{o.change} ({_minutes(o.total_minutes)} in all on the slow path"
                    f"{'' if o.decides_in_time else ', still too slow'})"
                    for o in self.options
                )
            return text + "."
        if late is None:
            return None
        traffic = self.traffic
        if traffic.requests_per_minute <= 0:
            return (
                f"The current variant had no requests in the last {traffic.minutes} minutes, so no phase can be "
                f"judged and the rollout is expected to be rolled back at the {late.phase.label()} phase's "
                f"{late.deadline_minutes:g}-minute deadline: start it when the endpoint has traffic."
            )
        needs = f"about {late.minutes:g} minutes" if late.minutes is not None else "more than a day"
        text = (
            f"At {traffic.requests_per_minute:.0f} requests/minute and a {traffic.error_rate:.2%} error rate, the "
            f"{late.phase.label()} phase needs {needs} to decide ({late.why}) but its deadline is "
            f"{late.deadline_minutes:g} minutes, so even a healthy candidate is expected to be rolled back there"
        )
        if self.options:
            text += ". Options: " + "; ".join(
                f"{o.change} ({_minutes(o.total_minutes)} in all{'' if o.decides_in_time else ', still too slow'})"
                for o in self.options
            )
        return text + "."


def _minutes(value: float | None) -> str:
    return f"~{value:g} min" if value is not None else "more than a day"


def phases_of(strategy: Strategy, *, history: bool = False) -> list[Phase]:
    """The rollout's phases in order: the shadow phase if the strategy has one (advances on a PASS), then each
    canary step (early ones advance after their bake without harm, the last one on a PASS). `history`: the
    candidate takes all the traffic at once and is judged against the current variant's minutes before the switch
    (Deployment.against_history), one phase that ends on a PASS."""
    if history:
        return [Phase("history", 100.0, True, strategy.history_phase(), design_periods(strategy))]
    steps = strategy.traffic_steps()
    phases = []
    if strategy.shadow is not None:
        shadow = strategy.shadow_phase()
        phases.append(Phase("shadow", strategy.shadow.percent, True, shadow, design_periods(strategy)))
    phases += [
        Phase("step", percent, index == len(steps) - 1, strategy, design_periods(strategy))
        for index, percent in enumerate(steps)
    ]
    return phases


def _periods(
    traffic: Traffic, phase: Phase, count: int, candidate_rate: float | None = None
) -> tuple[list[Period], list[Period]]:
    """`count` expected minutes of (current variant, candidate) in `phase`; the candidate fails at the current
    variant's rate, or at `candidate_rate`."""
    total = traffic.requests_per_minute
    if phase.kind == "history":
        # The judge assumes the history's dispersion for the errors (judge.judge's `error_dispersion`): a minute
        # of n requests then weighs what n / dispersion binomial requests would.
        total /= max(1.0, traffic.error_dispersion)
    canary_n = total * phase.share
    # A shadow copies the requests the current variant serves; history compares with minutes when it served them all.
    baseline_n = total if phase.kind in ("shadow", "history") else total - canary_n

    def period(n: float, rate: float) -> Period:
        return Period(
            invocations=n,
            errors_5xx=n * rate,
            errors_4xx=0.0,
            latency_p99_ms=_EXPECTED_LATENCY_MS,
            latency_mean_ms=_EXPECTED_LATENCY_MS,
        )

    rate = traffic.error_rate if candidate_rate is None else candidate_rate
    return [period(baseline_n, traffic.error_rate)] * count, [period(canary_n, rate)] * count


def _raised(periods: list[Period], excess: float) -> list[Period]:
    """The candidate's minutes with `excess` more of its requests failing."""
    return [
        replace(p, errors_5xx=min(p.invocations or 0.0, (p.errors_5xx or 0.0) + (p.invocations or 0.0) * excess))
        for p in periods
    ]


def _advances(
    traffic: Traffic,
    limits: Judge,
    earlier: tuple[list[Period], list[Period]],
    phase: Phase,
    elapsed_minutes: float,
    unlucky: float = 0.0,
    candidate_rate: float | None = None,
) -> tuple[bool, str]:
    """Whether the look `elapsed_minutes` into `phase` advances on the expected stream, and why it does not.

    `unlucky` (a z-score) judges instead the path on which the candidate's observed error signal sits that many
    standard errors above the truth at this look, 1 / sqrt(information) of the judge's weighted error signal: the
    look by which the proof comes in all but the unlucky tail of runs (z 2.33: 1 in 100)."""
    seen = max(0, math.floor(elapsed_minutes) - START_LAG_PERIODS)
    baseline, canary = _periods(traffic, phase, seen, candidate_rate)
    if not earlier[0] and not baseline:
        return False, "no complete minute yet"
    if unlucky > 0:
        counted = [
            (c.errors_5xx or 0.0, c.invocations or 0.0, b.errors_5xx or 0.0, b.invocations or 0.0)
            for b, c in zip(earlier[0] + baseline, earlier[1] + canary, strict=True)
        ]
        proof = promotion_error_signal(counted, limits, phase.design)
        if proof is not None and proof[0].information > 0:
            excess = unlucky / math.sqrt(proof[0].information)
            earlier, canary = (earlier[0], _raised(earlier[1], excess)), _raised(canary, excess)
    judgement = judge(
        VariantSeries("current", earlier[0] + baseline),
        VariantSeries("candidate", earlier[1] + canary),
        limits,
        design_periods=phase.design,
    )
    decision = decide(
        judgement.verdict,
        judgement.reason,
        strategy=phase.policy,
        elapsed_seconds=elapsed_minutes * 60,
        held_since_seconds=None,
        final=phase.needs_pass,
        looked=judgement.looked,
    )
    return decision.action is Action.ADVANCE, _holding(judgement, limits)


def _phase_minutes(
    traffic: Traffic,
    limits: Judge,
    earlier: tuple[list[Period], list[Period]],
    phase: Phase,
    unlucky: float = 0.0,
    candidate_rate: float | None = None,
) -> tuple[float | None, str]:
    """The first look (on the evaluation grid) at which the phase advances on the expected stream, up to its
    deadline or HORIZON_MINUTES, whichever is later. On the expected stream the evidence only grows and the bounds
    only narrow, so advancing is monotone in time and a bisection finds that look in a dozen judgements, whatever
    the bake (a scan of every look of a 12-hour bake would take a Lambda seconds)."""
    strategy = phase.policy
    interval = strategy.evaluation_interval_seconds / 60

    def advances(look: int) -> tuple[bool, str]:
        return _advances(traffic, limits, earlier, phase, look * interval, unlucky, candidate_rate)

    low, high = 0, math.floor(max(HORIZON_MINUTES, strategy.deadline_minutes) / interval)
    advanced, reason = advances(high)
    if not advanced:
        return None, _blocked(reason)
    while high - low > 1:
        middle = (low + high) // 2
        if advances(middle)[0]:
            high = middle
        else:
            low = middle
    return high * interval, _why(phase, high * interval, strategy, traffic, limits)


def _why(phase: Phase, minutes: float, strategy: Strategy, traffic: Traffic, limits: Judge) -> str:
    if minutes <= strategy.bake_minutes + strategy.evaluation_interval_seconds / 60 - 1e-9:
        return f"its {strategy.bake_minutes:g}-minute bake"
    if not phase.needs_pass:
        return f"{limits.min_requests} candidate requests at {traffic.requests_per_minute * phase.share:.3g}/minute"
    return "the proof that the candidate is not a regression, from all phases' evidence"


def _holding(judgement: Judgement, limits: Judge) -> str:
    """What keeps a look of the expected stream from advancing, in the config's terms (the judge's own reason would
    name the placeholder latencies of the expected stream)."""
    if judgement.baseline_unhealthy:
        return (
            f"the current variant's own error rate is above judge.max_error_rate ({limits.max_error_rate:.2%}), "
            "and the judge neither blames nor passes a canary while the current variant is unhealthy"
        )
    traffic = next((c for c in judgement.checks if c.name == "canary_traffic"), None)
    if traffic is not None:
        return f"the candidate does not reach judge.min_requests ({limits.min_requests} requests)"
    return "the promotion bound does not come under the regression margin"


def _blocked(reason: str) -> str:
    return f"not within a day: {reason}"


def estimate(
    traffic: Traffic,
    limits: Judge,
    strategy: Strategy,
    *,
    with_options: bool = True,
    unlucky: float = 0.0,
    history: bool = False,
) -> Estimate:
    """Expected minutes each phase takes to decide for a healthy candidate at `traffic`; with `with_options`, also
    the slow path (UNLUCKY_Z), each phase's deadline at this traffic (traffic_deadline: the deadlines the rollout
    then runs with) and the options that would make a late or tight rollout decide in time. `unlucky` estimates the
    path with the candidate's error signal that many standard errors above the truth instead. `history`: judged
    against the endpoint's history (phases_of)."""
    if not with_options or traffic.requests_per_minute <= 0:
        return _replay(traffic, limits, strategy, unlucky, history=history)
    result = planned(traffic, limits, strategy, history=history)
    if not result.decides_in_time:
        return replace(result, options=options(traffic, limits, strategy, result, history=history))
    if result.tight and result.slow is not None:
        found = options(traffic, limits, strategy, result.slow, unlucky=UNLUCKY_Z, history=history)
        result = replace(result, options=found)
    return result


def planned(traffic: Traffic, limits: Judge, strategy: Strategy, *, history: bool = False) -> Estimate:
    """The expected path and the slow one (its `slow`), each phase with the deadline it runs with at `traffic`."""
    result = _replay(traffic, limits, strategy, 0.0, history=history)
    slow = _replay(traffic, limits, strategy, UNLUCKY_Z, history=history)
    boundary = at_tolerance(traffic, limits, strategy, history=history)
    deadlines = [traffic_deadline(strategy, p, s) for p, s in zip(result.phases, boundary.phases, strict=False)]
    slow = replace(slow, phases=_with_deadlines(slow.phases, deadlines))
    return replace(result, phases=_with_deadlines(result.phases, deadlines), slow=slow)


def at_tolerance(traffic: Traffic, limits: Judge, strategy: Strategy, *, history: bool = False) -> Estimate:
    """The slow path (UNLUCKY_Z) of a candidate exactly at the error tolerance (`max_error_rate_ratio` times the
    current variant's rate plus `max_error_rate_increase`): the slowest candidate the judge must still promote, and
    the path the deadlines follow. A healthy candidate decides sooner and never waits for them; without them, one
    at the tolerance was rolled back at the deadline in 39% of rollouts at 5 rps (bench/results/judge.md)."""
    rate = limits.max_error_rate_ratio * traffic.error_rate + limits.max_error_rate_increase
    return _replay(traffic, limits, strategy, UNLUCKY_Z, min(1.0, rate), history=history)


def traffic_deadline(strategy: Strategy, expected: PhaseEstimate, slow: PhaseEstimate) -> float:
    """A phase's deadline at the plan's traffic: the config's, unless the config leaves it to its default and the
    slow path (`at_tolerance`'s) needs longer; then what it needs plus one look, at most DEADLINE_CAP_MINUTES. When
    even the expected path does not decide within the cap the default stays: the rollout cannot decide at this
    traffic, and the plan says so with its options rather than keep an endpoint waiting for hours."""
    phase, default = expected.phase, expected.deadline_minutes
    chosen = phase.kind != "shadow" and strategy.max_bake_minutes is not None
    look = phase.policy.evaluation_interval_seconds / 60
    if chosen or (slow.minutes is not None and slow.minutes <= default):
        return default
    if expected.minutes is None or expected.minutes + look > DEADLINE_CAP_MINUTES:
        return default
    return min(DEADLINE_CAP_MINUTES, (slow.minutes or math.inf) + look)


def _with_deadlines(phases: list[PhaseEstimate], deadlines: list[float]) -> list[PhaseEstimate]:
    """`phases` with the deadlines they run with (a phase the slow path never reached keeps its own)."""
    return [replace(p, deadline_minutes=d) for p, d in zip(phases, deadlines, strict=False)] + phases[len(deadlines) :]


def _replay(
    traffic: Traffic,
    limits: Judge,
    strategy: Strategy,
    unlucky: float,
    candidate_rate: float | None = None,
    *,
    history: bool = False,
) -> Estimate:
    """The rollout on the expected stream (or the `unlucky` path), phase by phase, with the config's deadlines; a
    healthy candidate, or one failing at `candidate_rate`."""
    phases: list[PhaseEstimate] = []
    earlier: tuple[list[Period], list[Period]] = ([], [])
    for phase in phases_of(strategy, history=history):
        minutes, why = _phase_minutes(traffic, limits, earlier, phase, unlucky, candidate_rate)
        phases.append(PhaseEstimate(phase, minutes, phase.policy.deadline_minutes, why))
        if minutes is None:
            # The rollout ends here (rolled back); later phases never start.
            break
        seen = max(0, math.floor(minutes) - START_LAG_PERIODS)
        baseline, canary = _periods(traffic, phase, seen, candidate_rate)
        earlier = (earlier[0] + baseline, earlier[1] + canary)
    return Estimate(traffic, phases)


def options(
    traffic: Traffic,
    limits: Judge,
    strategy: Strategy,
    current: Estimate,
    *,
    unlucky: float = 0.0,
    history: bool = False,
) -> list[Option]:
    """The changes that would let the rollout decide in time, each with its estimate: a shadow phase, a larger first
    share, a longer deadline, a wider error tolerance: the smallest change of each kind that works. Only the kinds
    that work are offered when any does; otherwise each kind with its best estimate (`decides_in_time` False)."""

    def run(new_limits: Judge = limits, new_strategy: Strategy = strategy) -> Estimate:
        # Each option with the deadlines it would run with at this traffic (traffic_deadline), on the same path.
        result = planned(traffic, new_limits, new_strategy, history=history)
        return result.slow if unlucky and result.slow is not None else result

    found: list[Option] = []
    # Judged against history, the candidate already takes all the traffic: no shadow phase or share to offer.
    if not history and (strategy.shadow is None or strategy.shadow.percent < SHADOW_PERCENT):
        shadowed = run(new_strategy=strategy.model_copy(update={"shadow": Shadow(percent=SHADOW_PERCENT)}))
        found.append(
            Option(
                f"a shadow phase copying {SHADOW_PERCENT:g}% of the traffic before the canary steps "
                f"(strategy.shadow.percent: {SHADOW_PERCENT:g})",
                shadowed.total_minutes,
                shadowed.decides_in_time,
            )
        )
    steps = strategy.traffic_steps()
    if strategy.type == "canary" and steps and not history:
        larger = [s for s in FIRST_SHARES if s > steps[0] and (len(steps) < 2 or s < steps[1])]
        tried = None
        for share in larger:
            tried = (share, run(new_strategy=strategy.model_copy(update={"steps": [share, *steps[1:]]})))
            if tried[1].decides_in_time:
                break
        if tried is not None:
            share, result = tried
            found.append(
                Option(f"a first step of {share:g}% (strategy.steps)", result.total_minutes, result.decides_in_time)
            )
    late = [p for p in current.phases if not p.within_deadline]
    if late and all(p.minutes is not None for p in late):
        longer, changes = strategy, []
        late_steps = [p.minutes or 0.0 for p in late if p.phase.kind != "shadow"]
        if late_steps:
            needed = max(late_steps)
            longer = longer.model_copy(update={"max_bake_minutes": max(needed, strategy.bake_minutes)})
            per = "after the switch" if history else "per step"
            changes.append(f"a deadline of {needed:g} minutes {per} (strategy.max_bake_minutes)")
        late_shadow = [p.minutes or 0.0 for p in late if p.phase.kind == "shadow"]
        if late_shadow and strategy.shadow is not None:
            # The shadow phase's deadline is DEADLINE_BAKES of its bakes (config.Strategy.shadow_phase).
            bake = math.ceil(max(late_shadow) / DEADLINE_BAKES)
            longer = longer.model_copy(update={"shadow": strategy.shadow.model_copy(update={"bake_minutes": bake})})
            changes.append(f"a shadow bake of {bake:g} minutes (strategy.shadow.bake_minutes)")
        result = run(new_strategy=longer)
        found.append(Option(" and ".join(changes), result.total_minutes, result.decides_in_time))
    widened = None
    for slack in (s for s in ERROR_SLACKS if s > limits.max_error_rate_increase):
        widened = (slack, run(new_limits=limits.model_copy(update={"max_error_rate_increase": slack})))
        if widened[1].decides_in_time:
            break
    if widened is not None:
        slack, result = widened
        found.append(
            Option(
                f"a tolerated error increase of {slack * 100:g} points (judge.max_error_rate_increase)",
                result.total_minutes,
                result.decides_in_time,
            )
        )
    # Only what works when something does; otherwise what at least gets somewhere, marked as still too slow.
    return [o for o in found if o.decides_in_time] or [o for o in found if o.total_minutes is not None]
