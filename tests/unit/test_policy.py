from mlrollout.domain.config import Strategy
from mlrollout.domain.judge import Verdict
from mlrollout.domain.policy import Action, decide

STRATEGY = Strategy(bake_minutes=10, max_bake_minutes=20)


def test_fail_rolls_back_at_once() -> None:
    assert (
        decide(Verdict.FAIL, "bad", strategy=STRATEGY, elapsed_seconds=60, held_since_seconds=None).action
        is Action.ROLLBACK
    )


def test_pass_waits_for_the_bake_unless_early_advance_is_allowed() -> None:
    assert (
        decide(Verdict.PASS, "ok", strategy=STRATEGY, elapsed_seconds=300, held_since_seconds=None).action
        is Action.CONTINUE
    )
    assert (
        decide(Verdict.PASS, "ok", strategy=STRATEGY, elapsed_seconds=600, held_since_seconds=None).action
        is Action.ADVANCE
    )
    early = STRATEGY.model_copy(update={"advance_early": True})
    assert (
        decide(Verdict.PASS, "ok", strategy=early, elapsed_seconds=120, held_since_seconds=None).action
        is Action.ADVANCE
    )


def test_inconclusive_waits_until_the_deadline_then_rolls_back() -> None:
    before = decide(Verdict.INCONCLUSIVE, "thin", strategy=STRATEGY, elapsed_seconds=1100, held_since_seconds=None)
    after = decide(Verdict.INCONCLUSIVE, "thin", strategy=STRATEGY, elapsed_seconds=1200, held_since_seconds=None)
    assert before.action is Action.CONTINUE
    assert after.action is Action.ROLLBACK
    assert "20-minute deadline" in after.reason and "thin" in after.reason


def test_hold_alerts_once_then_rolls_back_after_the_hold() -> None:
    holding = STRATEGY.model_copy(update={"on_deadline": "hold", "hold_minutes": 30})
    first = decide(Verdict.INCONCLUSIVE, "thin", strategy=holding, elapsed_seconds=1200, held_since_seconds=None)
    assert first.action is Action.HOLD and first.held_since_seconds == 1200
    again = decide(Verdict.INCONCLUSIVE, "thin", strategy=holding, elapsed_seconds=1800, held_since_seconds=1200)
    assert again.action is Action.CONTINUE and again.held_since_seconds == 1200
    done = decide(Verdict.INCONCLUSIVE, "thin", strategy=holding, elapsed_seconds=3000, held_since_seconds=1200)
    assert done.action is Action.ROLLBACK
    assert (
        decide(Verdict.PASS, "ok", strategy=holding, elapsed_seconds=3000, held_since_seconds=1200).action
        is Action.ADVANCE
    )
