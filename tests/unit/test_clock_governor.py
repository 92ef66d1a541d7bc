"""The data plane's governor: simulated traffic may take a share of a core; past it, sandbox time slows."""

from datetime import UTC, datetime, timedelta

from mlrollout_sandbox.clock import SandboxClock
from mlrollout_sandbox.dataplane import ClockGovernor

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def steps(governor: ClockGovernor, cpu_per_sandbox_second: float, count: int = 20, span: float = 5.0) -> None:
    at = START
    for _ in range(count):
        governor.account(cpu_per_sandbox_second * span, at)
        at += timedelta(seconds=span)


def test_cheap_traffic_leaves_the_warp_asked_for() -> None:
    clock = SandboxClock(warp=600, start=START)
    steps(ClockGovernor(clock, budget=0.35), cpu_per_sandbox_second=0.0001)  # 0.06 of a core at warp 600
    assert clock.warp == 600


def test_expensive_traffic_slows_the_clock_to_what_the_budget_pays_for() -> None:
    clock = SandboxClock(warp=600, start=START)
    governor = ClockGovernor(clock, budget=0.35)
    steps(governor, cpu_per_sandbox_second=0.002)  # 1.2 cores at warp 600: at most 175 fits in 0.35 of one
    assert clock.target_warp == 600
    assert 170 <= clock.warp <= 180


def test_the_clock_speeds_up_again_when_traffic_gets_cheaper() -> None:
    clock = SandboxClock(warp=600, start=START)
    governor = ClockGovernor(clock, budget=0.35)
    steps(governor, cpu_per_sandbox_second=0.002)
    slowed = clock.warp
    at = START + timedelta(hours=1)
    for _ in range(30):
        governor.account(0.00001 * 5, at)
        at += timedelta(seconds=5)
    assert slowed < 200 and clock.warp == 600


def test_the_clock_never_stops() -> None:
    clock = SandboxClock(warp=600, start=START)
    steps(ClockGovernor(clock, budget=0.35, floor=0.05), cpu_per_sandbox_second=10.0)
    assert clock.warp == 30  # 0.05 of 600


def test_a_step_that_takes_the_wall_clock_slows_the_clock_even_when_its_cpu_is_cheap() -> None:
    # A loaded machine: the data plane uses 0.06 of a core at warp 600, but waits for the CPU so long that each
    # step takes 1.2 wall seconds per wall second of sandbox traffic. It would fall behind; at most 0.8 / 1.2 of
    # the warp keeps up.
    clock = SandboxClock(warp=600, start=START)
    governor = ClockGovernor(clock, budget=0.35, wall_share=0.8)
    at = START
    for _ in range(30):
        governor.account(0.0001 * 5, at, wall=0.002 * 5)
        at += timedelta(seconds=5)
    assert 390 <= clock.warp <= 410


def test_wall_time_within_its_share_changes_nothing() -> None:
    clock = SandboxClock(warp=600, start=START)
    governor = ClockGovernor(clock, budget=0.35, wall_share=0.8)
    at = START
    for _ in range(30):
        governor.account(0.0001 * 5, at, wall=0.0005 * 5)  # 0.3 of the wall clock at warp 600
        at += timedelta(seconds=5)
    assert clock.warp == 600
