"""Sandbox time: virtual time that runs `warp` times faster than the wall clock.

Everything in the sandbox that has a notion of "now" (Step Functions Wait states and retries, SageMaker
endpoint transitions, metric timestamps, alarm evaluation, schedules, the handlers' `now`) reads this one
clock, so a 10-minute bake with 60-second periods takes about a second at warp 600.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    def __init__(self, warp: float = 1.0, start: datetime | None = None) -> None:
        if warp <= 0:
            raise ValueError(f"warp must be positive, got {warp}")
        # (virtual origin, real origin, warp) replaced as one tuple, so readers never see a half-changed clock.
        self._state = ((start or datetime.now(UTC)).astimezone(UTC), time.monotonic(), float(warp))

    @property
    def warp(self) -> float:
        return self._state[2]

    def now(self) -> datetime:
        """Current virtual time, timezone-aware UTC."""
        origin_virtual, origin_real, warp = self._state
        return origin_virtual + timedelta(seconds=(time.monotonic() - origin_real) * warp)

    def time(self) -> float:
        """Current virtual time as POSIX seconds (the sandbox's `time.time()`)."""
        return self.now().timestamp()

    def set_warp(self, warp: float) -> None:
        """Change speed without a jump: time continues from now at the new rate (e.g. faster while idle).

        Sleeps already in progress keep the real duration they computed when they began.
        """
        if warp <= 0:
            raise ValueError(f"warp must be positive, got {warp}")
        self._state = (self.now(), time.monotonic(), float(warp))

    def real_seconds(self, virtual_seconds: float) -> float:
        return max(0.0, float(virtual_seconds)) / self.warp

    def sleep(self, virtual_seconds: float, interrupt: threading.Event | None = None) -> bool:
        """Sleep for `virtual_seconds` of sandbox time.

        Returns True when `interrupt` was set before the time passed (the caller was woken up early).
        """
        real = self.real_seconds(virtual_seconds)
        if interrupt is None:
            time.sleep(real)
            return False
        return interrupt.wait(real)

    def sleep_until(self, when: datetime, interrupt: threading.Event | None = None) -> bool:
        return self.sleep((when - self.now()).total_seconds(), interrupt)
