"""Judge Canary: one look at the canary and the current variant, and what the bake does next."""

from __future__ import annotations

from datetime import datetime, timedelta

from mlrollout.contracts import JudgeInput, JudgeOutput
from mlrollout.domain.judge import Judgement, Verdict, judge
from mlrollout.domain.policy import decide
from mlrollout.ports import Metrics

PERIOD = timedelta(seconds=60)


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def judged_window(step_started_at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """Complete minutes only: from the first full minute at the step's weights to the last finished minute."""
    start = _floor_minute(step_started_at)
    if start < step_started_at:
        start += PERIOD
    return start, _floor_minute(now)


def evaluate_canary(request: JudgeInput, *, metrics: Metrics) -> tuple[JudgeOutput, dict[str, object]]:
    """Returns the state machine's output and the decision record (queries, raw values, checks, verdict)."""
    rollout, deployment = request.rollout, request.deployment
    strategy = rollout.config.strategy
    start, end = judged_window(request.step_started_at, request.now)
    elapsed = (request.now - request.step_started_at).total_seconds()
    previous = request.previous if request.previous and request.previous.step_index == request.step_index else None
    record: dict[str, object] = {
        "deployment_id": rollout.deployment_id,
        "endpoint": deployment.endpoint_name,
        "step_index": request.step_index,
        "weight": rollout.steps[request.step_index],
        "window": {"start": start.isoformat(), "end": end.isoformat()},
    }
    if end - start < PERIOD:
        judgement = Judgement(
            Verdict.INCONCLUSIVE,
            "No complete minute of metrics at the step's weights yet; looking again after the next interval.",
        )
    else:
        baseline_variant = deployment.current_variant or ""
        fetched = metrics.variant_windows(
            deployment.endpoint_name, [baseline_variant, deployment.candidate_variant], start, end
        )
        record["queries"] = fetched.queries
        record["raw"] = fetched.raw
        judgement = judge(
            fetched.windows[baseline_variant],
            fetched.windows[deployment.candidate_variant],
            rollout.config.judge,
        )
    decision = decide(
        judgement.verdict,
        judgement.reason,
        strategy=strategy,
        elapsed_seconds=elapsed,
        held_since_seconds=previous.held_since_seconds if previous else None,
    )
    output = JudgeOutput(
        verdict=judgement.verdict.value,
        action=decision.action.value,
        reason=decision.reason,
        step_index=request.step_index,
        weight=rollout.steps[request.step_index],
        elapsed_seconds=round(elapsed, 1),
        held_since_seconds=decision.held_since_seconds,
        window_start=start,
        window_end=end,
        looks=(previous.looks + 1) if previous else 1,
        checks=[check.__dict__ for check in judgement.checks],
    )
    record.update(
        {
            "verdict": output.verdict,
            "action": output.action,
            "reason": output.reason,
            "checks": output.checks,
            "thresholds": rollout.config.judge.model_dump(),
            "baseline_unhealthy": judgement.baseline_unhealthy,
            "look": output.looks,
            "elapsed_seconds": output.elapsed_seconds,
        }
    )
    return output, record
