"""The sandbox clock: warp, throttling without jumps, and sleeps that follow a change of speed."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mlrollout_sandbox.clock import SandboxClock

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


def test_the_lambda_runtimes_lock_is_handed_over_in_arrival_order() -> None:
    from mlrollout_sandbox.emulator.lambda_runtime import FifoLock

    lock, order, ready = FifoLock(), [], []
    lock.acquire()

    def waiter(number: int) -> None:
        ready.append(number)
        with lock:
            order.append(number)
            with lock:  # reentrant, as an RLock is
                pass

    threads = []
    for number in range(6):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        threads.append(thread)
        while len(ready) <= number:  # each one queued before the next arrives
            time.sleep(0.001)
        time.sleep(0.01)
    lock.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError, match="does not hold"):
        lock.release()
