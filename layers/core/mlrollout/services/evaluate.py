"""Judge Canary: one look at the canary and the current variant, and what the bake does next."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from mlrollout.contracts import (
    DecisionRecord,
    JudgeInput,
    JudgeOutput,
    PlanEstimate,
    RecordedBound,
    RecordedCheck,
    RecordedHistory,
    RecordWindow,
)
from mlrollout.domain import naming
from mlrollout.domain.config import Judge as JudgeLimits
from mlrollout.domain.config import Strategy
from mlrollout.domain.errors import MetricsUnavailable
from mlrollout.domain.judge import (
    DISPERSION_MINUTES,
    Judgement,
    VariantSeries,
    Verdict,
    error_dispersion,
    judge_look,
    period_errors,
)
from mlrollout.domain.policy import decide, design_periods
from mlrollout.domain.rollback_alarms import firing, missing
from mlrollout.ports import AlarmStates, ArtifactStore, Metrics

PERIOD = timedelta(seconds=60)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def judged_window(step_started_at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """Complete minutes only: from the first full minute at the step's weights to the last finished minute."""
    start = _floor_minute(step_started_at)
    if start < step_started_at:
        start += PERIOD
    return start, _floor_minute(now)


def record_key(deployment_id: str, step_index: int, look: int, *, shadow: bool = False, history: bool = False) -> str:
    phase = "shadow" if shadow else "history" if history else f"step-{step_index + 1:02d}"
    return f"{naming.DECISIONS_PREFIX}{deployment_id}/{phase}/look-{look:03d}.json"


@dataclass(frozen=True)
class _AlarmLook:
    fail: Judgement | None = None  # a rollback alarm fires
    doubt: str | None = None  # why the look cannot pass: their state is unknown
    states: dict[str, str] | None = None  # for the decision record
    error: str | None = None


def _rollback_alarms(names: list[str], alarms: AlarmStates | None) -> _AlarmLook:
    """A FAIL if a rollback alarm fires, why the look cannot pass if their state is unknown, and what the decision
    record keeps of them."""
    if not names:
        return _AlarmLook()
    if alarms is None:
        raise ValueError("the config names rollback alarms: evaluate_canary needs `alarms` to read them")
    try:
        statuses = alarms.states(names)
    except MetricsUnavailable as exc:
        return _AlarmLook(doubt=f"the rollback alarms could not be read: {exc.reason}.", error=exc.reason)
    states = {name: status.state for name, status in statuses.items()}
    fired = firing(names, statuses)
    if fired:
        reason = "The canary fails: " + "; ".join(status.sentence() for status in fired) + "."
        return _AlarmLook(fail=Judgement(Verdict.FAIL, reason), states=states)
    absent = missing(names, statuses)
    if absent:
        doubt = f"rollback alarm {', '.join(absent)} no longer exists, so it cannot be confirmed quiet."
        return _AlarmLook(doubt=doubt, states=states)
    return _AlarmLook(states=states)


def phase_strategy(
    strategy: Strategy, plan: PlanEstimate | None, *, shadow: bool, step: int, history: bool = False
) -> Strategy:
    """The policy a look applies: the shadow phase is judged like a final step (it ends on proof) with its own bake
    and deadline; a phase whose deadline Plan extended for the endpoint's traffic (domain/estimate.traffic_deadline)
    runs with that deadline."""
    phased = strategy.shadow_phase() if shadow else strategy.history_phase() if history else strategy
    deadline = plan.deadline_for(shadow=shadow, step_index=step, history=history) if plan is not None else None
    if deadline is None or deadline <= phased.deadline_minutes:
        return phased
    return phased.model_copy(update={"max_bake_minutes": deadline})


@dataclass(frozen=True)
class LookSeries:
    """What one look judges: the current variant's periods and the candidate's, paired in order, and what the
    decision record keeps of the queries that fetched them."""

    baseline: VariantSeries
    canary: VariantSeries
    queries: list[dict[str, Any]]
    timestamps: list[str]
    raw: dict[str, dict[str, list[float | None]]]
    history: RecordedHistory | None = None
    # The least dispersion the judge's error signals assume (judge.judge's `dispersion_floor`).
    dispersion_floor: float = 1.0


def look_series(
    metrics: Metrics,
    endpoint: str,
    baseline: str,
    canary: str,
    window: tuple[datetime, datetime],
    limits: JudgeLimits,
    *,
    history_before: datetime | None = None,
) -> LookSeries:
    """Both variants over the judged window; raises MetricsUnavailable.

    `history_before` (Deployment.against_history): the candidate has replaced the current variant, so the current
    variant's periods are the endpoint's own history, as many minutes before the switch as the candidate has had
    since, paired as mirror images: the candidate's first minute with the last minute before the switch, its k-th
    with the k-th before. Each candidate minute keeps its partner at every look (so each look extends the same
    sequence of pairs, as the judge's bounds assume), and the nearest history is compared first."""
    start, end = window
    extras = list(limits.extra_metrics)
    if history_before is None:
        fetched = metrics.variant_series(
            endpoint, [baseline, canary], start, end, extras, include_4xx=limits.include_4xx
        )
        return LookSeries(
            fetched.series[baseline], fetched.series[canary], fetched.queries, fetched.timestamps, fetched.raw
        )
    switch = _floor_minute(history_before)
    paired = end - start
    # At least DISPERSION_MINUTES of history, for how much its error rate varies from minute to minute beyond
    # sampling: the two minutes of a pair share no burst, so the judge's error signals assume at least that much.
    past_start = switch - max(paired, timedelta(minutes=DISPERSION_MINUTES))
    past = metrics.variant_series(endpoint, [baseline], past_start, switch, extras, include_4xx=limits.include_4xx)
    since = metrics.variant_series(endpoint, [canary], start, end, extras, include_4xx=limits.include_4xx)
    count = len(since.series[canary].periods)
    nearest_first = list(reversed(past.series[baseline].periods))
    hour = nearest_first[:DISPERSION_MINUTES]  # the same hour at every look, however many minutes are paired
    dispersion = error_dispersion(
        [(period_errors(p, include_4xx=limits.include_4xx), p.invocations or 0.0) for p in hour]
    )
    history = RecordedHistory(
        window=RecordWindow(start=switch - paired, end=switch),
        timestamps=list(reversed(past.timestamps))[:count],
        pairing="mirror: the candidate's k-th minute after the switch against the k-th minute before it",
        dispersion_window=RecordWindow(start=switch - timedelta(minutes=DISPERSION_MINUTES), end=switch),
        error_dispersion=dispersion,
    )
    # The current variant's columns in the order they are paired (replay reads them as they are).
    raw = {
        baseline: {key: list(reversed(values))[:count] for key, values in past.raw[baseline].items()},
        canary: since.raw[canary],
    }
    return LookSeries(
        VariantSeries(baseline, nearest_first[:count]),
        since.series[canary],
        past.queries + since.queries,
        since.timestamps,
        raw,
        history,
        dispersion,
    )


def evaluate_canary(
    request: JudgeInput,
    *,
    metrics: Metrics,
    alarms: AlarmStates | None = None,
    artifacts: ArtifactStore | None = None,
    bucket: str | None = None,
) -> tuple[JudgeOutput, dict[str, Any]]:
    """Returns the state machine's output and the decision record (contracts.DecisionRecord: queries, raw values,
    bounds, verdict) as it is written, its JSON dump.

    With `artifacts` and `bucket`, the record is also written to S3 under decisions/<deployment>/ (for
    `mlrollout replay` and the audit trail).

    A rollback alarm in ALARM fails the canary at once. When CloudWatch does not answer (the metrics or the
    alarms, after the SDK's retries) the look is INCONCLUSIVE, never a pass: the bake keeps looking, and its
    deadline (strategy.max_bake_minutes, then on_deadline) ends a bake whose data stays unavailable.
    """
    rollout, deployment = request.rollout, request.deployment
    step = request.step_index
    history = request.history_before is not None
    strategy = phase_strategy(
        rollout.config.strategy, deployment.estimate, shadow=request.shadow, step=step, history=history
    )
    limits = rollout.config.judge
    # Every look judges the evidence of all steps so far: the error and latency signals are per-request rates and
    # ratios, paired minute by minute, so minutes at different weights estimate the same difference.
    start, end = judged_window(request.evidence_started_at or request.step_started_at, request.now)
    elapsed = (request.now - request.step_started_at).total_seconds()
    previous = request.previous
    if previous is not None and (previous.step_index, previous.shadow) != (request.step_index, request.shadow):
        previous = None
    look = (previous.looks + 1) if previous else 1
    # Judged against history, the candidate serves everything and the look is the last phase's.
    final = request.shadow or history or request.step_index == len(rollout.steps) - 1
    weight = 0.0 if request.shadow else 100.0 if history else rollout.steps[request.step_index]
    design = design_periods(rollout.config.strategy)
    alarm = _rollback_alarms(list(limits.rollback_alarms), alarms)
    fetched: LookSeries | None = None
    metrics_error: str | None = None
    if alarm.fail is not None:
        judgement = alarm.fail
    elif end - start < PERIOD:
        judgement = Judgement(
            Verdict.INCONCLUSIVE,
            "No complete minute of metrics at the step's weights yet; looking again after the next interval.",
        )
    else:
        try:
            fetched = look_series(
                metrics,
                deployment.endpoint_name,
                deployment.current_variant or "",
                deployment.candidate_variant,
                (start, end),
                limits,
                history_before=request.history_before,
            )
        except MetricsUnavailable as exc:
            metrics_error = exc.reason
            judgement = Judgement(
                Verdict.INCONCLUSIVE,
                f"Metrics unavailable, so no verdict from this look: {exc.reason}. Looking again after the next "
                "interval.",
            )
        else:
            judgement = judge_look(
                fetched.baseline,
                fetched.canary,
                limits,
                design_periods=design,
                dispersion_floor=fetched.dispersion_floor,
                against_history=history,
            )
    if alarm.doubt is not None and judgement.verdict is Verdict.PASS:
        judgement = replace(judgement, verdict=Verdict.INCONCLUSIVE, reason=f"{judgement.reason} But {alarm.doubt}")
    decision = decide(
        judgement.verdict,
        judgement.reason,
        strategy=strategy,
        elapsed_seconds=elapsed,
        held_since_seconds=previous.held_since_seconds if previous else None,
        final=final,
        looked=judgement.looked,
    )
    record = DecisionRecord(
        deployment_id=rollout.deployment_id,
        endpoint=deployment.endpoint_name,
        baseline_variant=deployment.current_variant,
        canary_variant=deployment.candidate_variant,
        step_index=request.step_index,
        shadow=request.shadow,
        against_history=history,
        weight=weight,
        look=look,
        now=request.now,
        window=RecordWindow(start=start, end=end),
        thresholds=limits.model_dump(mode="json"),
        design_periods=design,
        deadline_minutes=strategy.deadline_minutes,
        rollback_alarms=alarm.states,
        rollback_alarms_error=alarm.error,
        metrics_error=metrics_error,
        queries=fetched.queries if fetched else [],
        timestamps=fetched.timestamps if fetched else [],
        history=fetched.history if fetched else None,
        raw=fetched.raw if fetched else None,
        verdict=judgement.verdict,
        action=decision.action,
        reason=decision.reason,
        judge_reason=judgement.reason,
        checks=[RecordedCheck.model_validate(check.__dict__) for check in judgement.checks],
        bounds=[RecordedBound.model_validate(bound.__dict__) for bound in judgement.bounds],
        baseline_unhealthy=judgement.baseline_unhealthy,
        looked=judgement.looked,
        final_step=final,
        usable_periods=judgement.usable_periods,
        skipped_periods=judgement.skipped_periods,
        elapsed_seconds=round(elapsed, 1),
    )
    written = record.model_dump(mode="json")
    record_uri = None
    if artifacts is not None and bucket:
        key = record_key(rollout.deployment_id, request.step_index, look, shadow=request.shadow, history=history)
        record_uri = artifacts.put_json(bucket, key, written)
    output = JudgeOutput(
        verdict=judgement.verdict.value,
        action=decision.action.value,
        reason=decision.reason,
        step_index=request.step_index,
        shadow=request.shadow,
        weight=weight,
        elapsed_seconds=round(elapsed, 1),
        held_since_seconds=decision.held_since_seconds,
        window_start=start,
        window_end=end,
        looks=look,
        checks=[check.__dict__ for check in judgement.checks],
        record_uri=record_uri,
    )
    return output, written
