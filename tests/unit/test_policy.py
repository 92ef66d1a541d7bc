"""How evidence flows through a rollout: harm at every look, early steps advance without harm, proof before 100%."""

import pytest

from mlrollout.domain.config import Shadow, Strategy
from mlrollout.domain.judge import Verdict
from mlrollout.domain.policy import Action, Decision, decide, design_periods

STRATEGY = Strategy(bake_minutes=10, max_bake_minutes=20)


def look(
    verdict: Verdict,
    elapsed: float,
    *,
    final: bool = True,
    looked: bool = True,
    strategy: Strategy = STRATEGY,
    held: float | None = None,
) -> Decision:
    reason = {Verdict.FAIL: "bad", Verdict.PASS: "ok", Verdict.INCONCLUSIVE: "thin"}[verdict]
    return decide(
        verdict, reason, strategy=strategy, elapsed_seconds=elapsed, held_since_seconds=held, final=final, looked=looked
    )


@pytest.mark.parametrize("final", [True, False])
def test_fail_rolls_back_at_once_in_every_step(final: bool) -> None:
    assert look(Verdict.FAIL, 60, final=final).action is Action.ROLLBACK


def test_the_final_step_promotes_only_on_proof_and_not_before_its_bake() -> None:
    assert look(Verdict.PASS, 300).action is Action.CONTINUE
    assert look(Verdict.PASS, 600).action is Action.ADVANCE
    # no harm seen is not proof: the final step keeps looking for it
    assert look(Verdict.INCONCLUSIVE, 600).action is Action.CONTINUE
    early = STRATEGY.model_copy(update={"advance_early": True})
    assert look(Verdict.PASS, 120, strategy=early).action is Action.ADVANCE


def test_an_early_step_advances_after_its_bake_when_the_look_saw_no_harm() -> None:
    assert look(Verdict.INCONCLUSIVE, 300, final=False).action is Action.CONTINUE  # still baking
    advanced = look(Verdict.INCONCLUSIVE, 600, final=False)
    assert advanced.action is Action.ADVANCE
    assert "No evidence of harm after the 10-minute bake" in advanced.reason and "thin" in advanced.reason
    assert look(Verdict.PASS, 600, final=False).action is Action.ADVANCE


def test_an_early_step_that_could_not_look_does_not_advance_and_ends_at_its_deadline() -> None:
    # too little traffic, an unhealthy current variant or a signal without data: no harm seen, but none could be
    assert look(Verdict.INCONCLUSIVE, 600, final=False, looked=False).action is Action.CONTINUE
    assert look(Verdict.INCONCLUSIVE, 1200, final=False, looked=False).action is Action.ROLLBACK


def test_inconclusive_waits_until_the_deadline_then_rolls_back() -> None:
    before = look(Verdict.INCONCLUSIVE, 1100)
    after = look(Verdict.INCONCLUSIVE, 1200)
    assert before.action is Action.CONTINUE
    assert after.action is Action.ROLLBACK
    assert "20-minute deadline" in after.reason and "thin" in after.reason


def test_hold_alerts_once_then_rolls_back_after_the_hold() -> None:
    holding = STRATEGY.model_copy(update={"on_deadline": "hold", "hold_minutes": 30})
    first = look(Verdict.INCONCLUSIVE, 1200, strategy=holding)
    assert first.action is Action.HOLD and first.held_since_seconds == 1200
    again = look(Verdict.INCONCLUSIVE, 1800, strategy=holding, held=1200)
    assert again.action is Action.CONTINUE and again.held_since_seconds == 1200
    done = look(Verdict.INCONCLUSIVE, 3000, strategy=holding, held=1200)
    assert done.action is Action.ROLLBACK
    assert look(Verdict.PASS, 3000, strategy=holding, held=1200).action is Action.ADVANCE


def test_the_bounds_are_designed_once_for_the_end_of_the_last_bake() -> None:
    assert design_periods(Strategy(bake_minutes=10)) == 20  # two steps
    assert design_periods(Strategy(bake_minutes=10, shadow=Shadow(bake_minutes=15))) == 35
    assert design_periods(Strategy(type="all_at_once", bake_minutes=0.5)) == 1
