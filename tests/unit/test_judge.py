import math

import pytest

from mlrollout.domain.config import Judge
from mlrollout.domain.judge import VariantWindow, Verdict, judge

LIMITS = Judge(min_requests=200, max_error_rate=0.05, max_p99_latency_ms=1000, max_error_rate_increase=0.01)


def window(
    name: str, n: float | None, e5: float | None, p99: float | None = 100.0, e4: float | None = 0.0
) -> VariantWindow:
    return VariantWindow(name, n, e5, e4, p99, (p99 or 0) / 3 if p99 else None, periods=5)


def test_too_little_canary_traffic_is_inconclusive_never_a_pass() -> None:
    result = judge(window("v1", 5000, 5), window("v2", 150, 0), LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "150 requests" in result.reason and "at least 200" in result.reason


def test_no_canary_data_at_all_is_inconclusive() -> None:
    result = judge(window("v1", 5000, 5), window("v2", None, None, None), LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no data" in result.reason


def test_nan_is_missing_data_not_zero() -> None:
    result = judge(window("v1", 5000, 5), window("v2", 3000, math.nan), LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "error metric is missing" in result.reason


def test_absolute_cap_fails_at_once() -> None:
    result = judge(window("v1", 5000, 5), window("v2", 1000, 80), LIMITS)
    assert result.verdict is Verdict.FAIL
    assert "8.00% exceeds the 5.00% cap" in result.reason


def test_latency_cap_fails_at_once() -> None:
    result = judge(window("v1", 5000, 5), window("v2", 1000, 1, p99=1500), LIMITS)
    assert result.verdict is Verdict.FAIL
    assert "1500 ms exceeds the 1000 ms cap" in result.reason


def test_a_clear_regression_against_the_baseline_fails() -> None:
    result = judge(window("v1", 20000, 100), window("v2", 4000, 160), LIMITS)  # 0.5% vs 4%
    assert result.verdict is Verdict.FAIL
    assert "4.00%" in result.reason and "0.50%" in result.reason


def test_a_healthy_canary_with_enough_traffic_passes() -> None:
    result = judge(window("v1", 20000, 100), window("v2", 4000, 20), LIMITS)
    assert result.verdict is Verdict.PASS
    assert {c.name for c in result.checks} >= {"error_rate_cap", "error_rate_vs_baseline", "p99_latency_vs_baseline"}


def test_not_enough_evidence_yet_is_inconclusive() -> None:
    # 300 requests with 1.3% errors: no breach, but the upper bound is above the 1-point tolerance.
    result = judge(window("v1", 20000, 100), window("v2", 300, 4), LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "does not yet bound" in result.reason


def test_a_latency_regression_against_the_baseline_fails() -> None:
    result = judge(window("v1", 20000, 10, p99=200), window("v2", 4000, 2, p99=300), LIMITS)
    assert result.verdict is Verdict.FAIL
    assert "+50%" in result.reason


def test_an_unhealthy_baseline_is_reported_not_blamed_on_the_canary() -> None:
    result = judge(window("v1", 20000, 1400), window("v2", 4000, 270), LIMITS)  # both ~7%
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.baseline_unhealthy
    assert "v1 is itself unhealthy" in result.reason


def test_a_canary_much_worse_than_an_unhealthy_baseline_still_fails() -> None:
    result = judge(window("v1", 20000, 1200), window("v2", 4000, 1200), LIMITS)  # 6% vs 30%
    assert result.verdict is Verdict.FAIL


def test_baseline_without_traffic_cannot_be_compared() -> None:
    result = judge(window("v1", 10, 0), window("v2", 4000, 4), LIMITS)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "cannot be compared" in result.reason


@pytest.mark.parametrize("include_4xx", [False, True])
def test_4xx_counts_only_when_configured(include_4xx: bool) -> None:
    limits = LIMITS.model_copy(update={"include_4xx": include_4xx})
    result = judge(window("v1", 20000, 10, e4=10), window("v2", 4000, 2, e4=400), limits)
    assert result.verdict is (Verdict.FAIL if include_4xx else Verdict.PASS)
