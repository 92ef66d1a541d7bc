"""The sandbox clock: warp, throttling without jumps, and sleeps that follow a change of speed."""

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mlrollout_sandbox.clock import SandboxClock, SharedClock

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_throttle_slows_time_from_now_on_without_a_jump() -> None:
    clock = SandboxClock(warp=1000, start=START)
    before = clock.now()
    clock.throttle(0.1)
    after = clock.now()
    assert timedelta(0) <= after - before < timedelta(seconds=5)
    assert (clock.warp, clock.target_warp, clock.throttle_factor) == (100.0, 1000.0, 0.1)
    time.sleep(0.2)
    # 0.2 s real at warp 100 is about 20 s of sandbox time, not the 200 s warp 1000 would give.
    assert timedelta(seconds=15) <= clock.now() - after < timedelta(seconds=60)


def test_set_warp_keeps_the_throttle_and_the_throttle_is_lifted_by_one() -> None:
    clock = SandboxClock(warp=600, start=START)
    clock.throttle(0.5)
    clock.set_warp(900)
    assert (clock.warp, clock.target_warp) == (450.0, 900.0)
    clock.throttle(1.0)
    assert clock.warp == 900.0


@pytest.mark.parametrize("factor", [0, -0.5, 1.5])
def test_a_throttle_outside_zero_to_one_is_refused(factor: float) -> None:
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        SandboxClock(warp=10).throttle(factor)


def test_a_sleeper_follows_a_slowdown_and_still_wakes_at_its_sandbox_time() -> None:
    clock = SandboxClock(warp=600, start=START)
    target = clock.now() + timedelta(minutes=10)  # 1 s real at warp 600
    woke: list[datetime] = []
    sleeper = threading.Thread(target=lambda: (clock.sleep_until(target), woke.append(clock.now())))
    sleeper.start()
    time.sleep(0.05)
    clock.throttle(0.5)  # from here, the rest of the 10 minutes takes twice as long
    sleeper.join(timeout=5)
    assert woke and woke[0] >= target  # never before the sandbox time it asked for


def test_a_sleeper_follows_a_speedup_instead_of_oversleeping() -> None:
    clock = SandboxClock(warp=10, start=START)
    began = time.monotonic()
    clock_thread = threading.Timer(0.1, clock.set_warp, args=(6000,))
    clock_thread.start()
    assert clock.sleep(600) is False  # 60 s real at warp 10; about 0.2 s once the clock runs at 6000
    assert time.monotonic() - began < 2.0


def test_an_interrupt_ends_the_sleep_early() -> None:
    clock = SandboxClock(warp=1, start=START)
    interrupt = threading.Event()
    threading.Timer(0.05, interrupt.set).start()
    began = time.monotonic()
    assert clock.sleep(3600, interrupt) is True
    assert time.monotonic() - began < 1.0


def test_a_published_clock_reads_the_same_in_another_process() -> None:
    """Lambda workers are processes of their own: they read the clock's state from shared memory."""
    clock = SandboxClock(warp=600, start=START)
    fd = clock.publish()
    clock.throttle(0.5)  # published after the first publish too
    reader = (
        "import sys; from mlrollout_sandbox.clock import SharedClock; "
        "c = SharedClock(int(sys.argv[1])); print(c.time(), c.warp)"
    )
    before = clock.time()
    seen, warp = subprocess.run(
        [sys.executable, "-c", reader, str(fd)], pass_fds=(fd,), capture_output=True, text=True, check=True
    ).stdout.split()
    after = clock.time()
    assert before <= float(seen) <= after
    assert float(warp) == 300.0


def test_a_shared_clock_follows_every_change_of_speed_without_a_jump() -> None:
    clock = SandboxClock(warp=600, start=START)
    shared = SharedClock(clock.publish())
    for change in (lambda: clock.set_warp(900), lambda: clock.throttle(0.25), lambda: clock.throttle(1.0)):
        change()
        assert shared.warp == clock.warp
        assert abs((shared.now() - clock.now()).total_seconds()) < 1  # 1 s of sandbox time is 1 ms real here


def test_an_invocation_counts_its_work_on_the_wall_clock_and_its_waits_on_the_sandbox_clock() -> None:
    from mlrollout_sandbox.emulator.lambda_worker import InvocationTime

    clock = SandboxClock(warp=600, start=START)
    used = InvocationTime(clock, timeout_seconds=60)
    time.sleep(0.1)  # work: 0.1 s, not the minute it is in sandbox time
    assert 0.1 <= used.elapsed() < 1
    used.asleep()
    clock.sleep(30)  # a wait: its 30 sandbox seconds (0.05 s real)
    used.awake()
    # Each real millisecond the thread waits for the CPU around the sleep is 0.6 sandbox seconds at warp 600: on a
    # loaded 2-core machine a few seconds more, far from the 0.15 s a wait counted as work would give.
    assert 30.1 <= used.elapsed() < 40
    assert 20 < used.remaining() <= 29.9
