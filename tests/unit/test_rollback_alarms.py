"""Rollback alarms: the pre-flight check and the config field that names them."""

import pytest

from mlrollout.domain.config import parse_config
from mlrollout.domain.errors import ConfigInvalid, RollbackAlarmFiring
from mlrollout.domain.rollback_alarms import AlarmStatus, firing, missing, preflight

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"
OK = AlarmStatus("payments", "OK")
NO_DATA = AlarmStatus("signups", "INSUFFICIENT_DATA")
FIRING = AlarmStatus("orders-low", "ALARM", "Threshold Crossed: 3 < 50", "2026-11-25T12:00:00+00:00")


def test_only_an_alarm_in_alarm_fires_and_only_an_absent_one_is_missing() -> None:
    statuses = {s.name: s for s in (OK, NO_DATA, FIRING)}
    names = ["payments", "signups", "orders-low", "typo"]
    assert firing(names, statuses) == [FIRING]
    assert missing(names, statuses) == ["typo"]


def test_preflight_passes_when_every_alarm_exists_and_none_fires() -> None:
    preflight(["payments", "signups"], {"payments": OK, "signups": NO_DATA}, endpoint="e")


def test_preflight_refuses_a_firing_alarm_with_what_it_says_and_the_fix() -> None:
    with pytest.raises(RollbackAlarmFiring) as refused:
        preflight(["payments", "orders-low"], {"payments": OK, "orders-low": FIRING}, endpoint="fraud")
    assert refused.value.reason == (
        "not rolling out to endpoint fraud: rollback alarm orders-low is in ALARM since 2026-11-25T12:00:00+00:00 "
        "(Threshold Crossed: 3 < 50)"
    )
    assert refused.value.fix is not None and "the endpoint was not changed" in refused.value.fix


def test_preflight_calls_an_alarm_that_does_not_exist_a_configuration_error() -> None:
    with pytest.raises(ConfigInvalid, match="judge.rollback_alarms names typo, which CloudWatch does not have"):
        preflight(["typo", "orders-low"], {"orders-low": FIRING}, endpoint="fraud")


def test_the_config_lists_rollback_alarms_and_defaults_to_none() -> None:
    assert parse_config({"image": IMAGE}, model_name="m").judge.rollback_alarms == []
    config = parse_config({"image": IMAGE, "judge": {"rollback_alarms": ["orders-low"]}}, model_name="m")
    assert config.judge.rollback_alarms == ["orders-low"]


@pytest.mark.parametrize(
    ("alarms", "problem"),
    [([""], "judge.rollback_alarms[0]: String should have at least 1 character"), ("orders", "valid list")],
)
def test_a_malformed_rollback_alarm_list_is_refused_naming_the_field(alarms: object, problem: str) -> None:
    with pytest.raises(ConfigInvalid, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_config({"image": IMAGE, "judge": {"rollback_alarms": alarms}}, model_name="m")
