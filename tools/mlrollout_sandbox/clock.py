"""Sandbox time: virtual time that runs `warp` times faster than the wall clock.

Everything in the sandbox that has a notion of "now" (Step Functions Wait states and retries, SageMaker
endpoint transitions, metric timestamps, alarm evaluation, schedules, the handlers' `now`) reads this one
clock, so a 10-minute bake with 60-second periods takes about a second at warp 600.

The warp asked for is a ceiling. Simulated traffic costs CPU in proportion to the sandbox time it covers, so on
a busy machine it could fall behind the clock, then cover ever longer spans and take ever longer (a spiral in
which a 3-minute bake passes hours of sandbox time). The data plane therefore throttles the clock
(`throttle`): time then runs only as fast as the traffic it serves, and every consumer still sees one
consistent clock, never a jump.

The sandbox's Lambda functions run in processes of their own (one per execution environment) and read the same
clock: `publish()` puts the clock's state in shared memory, rewritten at every change of speed, and
`SharedClock` reads it there. CLOCK_MONOTONIC is system-wide on Linux, so the state (virtual origin, monotonic
origin, warp) is all another process needs.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import IO

# A sleeper re-reads the clock at least this often (real seconds), so a change of speed moves its wake-up.
_RECHECK_SECONDS = 0.25

# The shared state: a sequence number (odd while a change is being written), virtual origin (POSIX seconds),
# monotonic origin, warp. Readers retry while the sequence is odd or moved (a seqlock: one writer, no lock).
_SHARED = struct.Struct("=Qddd")
_SEQUENCE = struct.Struct("=Q")


class ClockReader:
    """What every reader of a sandbox clock can do, given the clock's state."""

    @property
    def _state(self) -> tuple[datetime, float, float]:
        raise NotImplementedError

    @property
    def warp(self) -> float:
        """The speed sandbox time runs at now: the warp asked for, times the throttle."""
        return self._state[2]

    def now(self) -> datetime:
        """Current virtual time, timezone-aware UTC."""
        origin_virtual, origin_real, warp = self._state
        return origin_virtual + timedelta(seconds=(time.monotonic() - origin_real) * warp)

    def time(self) -> float:
        """Current virtual time as POSIX seconds (the sandbox's `time.time()`)."""
        return self.now().timestamp()

    def real_seconds(self, virtual_seconds: float) -> float:
        return max(0.0, float(virtual_seconds)) / self.warp

    def sleep(self, virtual_seconds: float, interrupt: threading.Event | None = None) -> bool:
        """Sleep for `virtual_seconds` of sandbox time, following changes of speed while asleep.

        Returns True when `interrupt` was set before the time passed (the caller was woken up early).
        """
        return self.sleep_until(self.now() + timedelta(seconds=max(0.0, float(virtual_seconds))), interrupt)

    def sleep_until(self, when: datetime, interrupt: threading.Event | None = None) -> bool:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return False
            real = min(self.real_seconds(remaining), _RECHECK_SECONDS)
            if interrupt is None:
                time.sleep(real)
            elif interrupt.wait(real):
                return True


class SandboxClock(ClockReader):
    def __init__(self, warp: float = 1.0, start: datetime | None = None) -> None:
        if warp <= 0:
            raise ValueError(f"warp must be positive, got {warp}")
        self._target = float(warp)
        self._factor = 1.0
        # (virtual origin, real origin, effective warp) replaced as one tuple, so readers never see a half-changed
        # clock.
        self._current = ((start or datetime.now(UTC)).astimezone(UTC), time.monotonic(), float(warp))
        self._lock = threading.Lock()
        self._shared: mmap.mmap | None = None
        self._shared_file: IO[bytes] | None = None

    @property
    def target_warp(self) -> float:
        """The warp asked for (`SandboxClock(warp=...)`, `set_warp`), before any throttling."""
        return self._target

    @property
    def throttle_factor(self) -> float:
        return self._factor

    @property
    def _state(self) -> tuple[datetime, float, float]:
        return self._current

    def set_warp(self, warp: float) -> None:
        """Change the speed asked for, without a jump: time continues from now at the new rate (e.g. faster while
        idle). A throttle in force still applies to it."""
        if warp <= 0:
            raise ValueError(f"warp must be positive, got {warp}")
        with self._lock:
            self._target = float(warp)
            self._rebase()

    def throttle(self, factor: float) -> None:
        """Run at `factor` (0 < factor <= 1) of the warp asked for, from now on, without a jump."""
        if not 0 < factor <= 1:
            raise ValueError(f"a throttle factor is in (0, 1], got {factor}")
        with self._lock:
            if factor != self._factor:
                self._factor = float(factor)
                self._rebase()

    def _rebase(self) -> None:
        self._current = (self.now(), time.monotonic(), self._target * self._factor)
        self._write_shared()

    def publish(self) -> int:
        """A file descriptor of shared memory that holds this clock's state from now on (map it with
        `SharedClock`); the same one on every call. It lives as long as this clock."""
        with self._lock:
            if self._shared is None:
                self._shared_file = tempfile.TemporaryFile(prefix="sandbox-clock-")  # noqa: SIM115 (lives with the clock)
                os.ftruncate(self._shared_file.fileno(), _SHARED.size)
                self._shared = mmap.mmap(self._shared_file.fileno(), _SHARED.size)
                self._write_shared()
            assert self._shared_file is not None
            return self._shared_file.fileno()

    def _write_shared(self) -> None:
        if self._shared is None:
            return
        origin_virtual, origin_real, warp = self._current
        sequence = _SEQUENCE.unpack_from(self._shared)[0]
        _SEQUENCE.pack_into(self._shared, 0, sequence + 1)
        _SHARED.pack_into(self._shared, 0, sequence + 1, origin_virtual.timestamp(), origin_real, warp)
        _SEQUENCE.pack_into(self._shared, 0, sequence + 2)


class SharedClock(ClockReader):
    """A read-only view of a clock another process published (`SandboxClock.publish`)."""

    def __init__(self, fd: int) -> None:
        self._memory = mmap.mmap(fd, _SHARED.size, prot=mmap.PROT_READ)

    @property
    def _state(self) -> tuple[datetime, float, float]:
        while True:
            sequence, origin_virtual, origin_real, warp = _SHARED.unpack_from(self._memory)
            if sequence % 2 == 0 and _SEQUENCE.unpack_from(self._memory)[0] == sequence:
                return datetime.fromtimestamp(origin_virtual, UTC), origin_real, warp
