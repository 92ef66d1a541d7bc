"""What a look does with an operator's request (`mlrollout promote|abort`)."""

import pytest

from mlrollout.domain.operator import OperatorRequest, apply_request

PROMOTE = OperatorRequest(action="promote", by="alice", at="2026-12-04T10:00:00+00:00", reason="hotfix")
ABORT = OperatorRequest(action="abort", by="bob", at="2026-12-04T10:00:00+00:00")


def test_promote_skips_the_rest_of_the_bake_and_says_who_and_what_the_judge_saw() -> None:
    done = apply_request(PROMOTE, "INCONCLUSIVE", "continue", "not bounded yet.")
    assert done.action == "promote"
    assert done.reason == (
        "Promoted by alice before the bake ended: hotfix (the judge's verdict at that look: INCONCLUSIVE: "
        "not bounded yet.)"
    )


@pytest.mark.parametrize(("verdict", "action"), [("FAIL", "rollback"), ("INCONCLUSIVE", "rollback")])
def test_promote_never_overrides_a_rollback_the_look_decided(verdict: str, action: str) -> None:
    done = apply_request(PROMOTE, verdict, action, "5XX error rate 9% over the 5% cap.")
    assert done.action == "rollback"
    assert (
        done.reason
        == "5XX error rate 9% over the 5% cap. The promotion alice asked for was not done: the canary failed."
    )


@pytest.mark.parametrize(("verdict", "action"), [("PASS", "advance"), ("FAIL", "rollback"), ("INCONCLUSIVE", "hold")])
def test_abort_always_rolls_back(verdict: str, action: str) -> None:
    done = apply_request(ABORT, verdict, action, "so far so good.")
    assert done.action == "abort"
    assert done.reason == f"Aborted by bob (the judge's verdict at that look: {verdict}: so far so good.)"


def test_a_record_entry_is_read_back_and_unknown_actions_are_ignored() -> None:
    assert OperatorRequest.from_record(PROMOTE.as_record()) == PROMOTE
    assert OperatorRequest.from_record({"action": "delete-endpoint", "by": "mallory"}) is None
