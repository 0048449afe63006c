"""What "now" means for everything the console stamps: real time, or the demo tenant's simulated time.

One clock per store (``Store.clock``): snapshots, journal entries, waves, protections and the pages'
"as of" captions all read it, so the demo never mixes its simulated days with the wall clock. Only
liveness (a worker's heartbeat and lease) keeps to real time, since it measures whether a process is
still there, not when something happened in the tenant.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

Clock = Callable[[], datetime]
"""A function returning an aware UTC ``datetime``."""


def utc_now() -> datetime:
    """Real time (a real tenant's clock)."""
    return datetime.now(timezone.utc)


def instant_ns(moment: datetime) -> int:
    """``moment`` as nanoseconds since the epoch (how the store keeps instants)."""
    if moment.tzinfo is None:
        raise ValueError("an instant needs a time zone")
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class SimulatedClock:
    """A simulated tenant's time that runs on in real time between the jumps its owner makes.

    The demo tenant's own clock stands still until someone advances it; stamping a whole bulk change
    with that one instant would make every operation take no time and its rate infinite. So this clock
    reads ``tenant_now()`` and adds the real seconds since that value last changed. It never runs
    backwards: a jump smaller than the real time that passed since the previous one keeps the
    current reading (see :meth:`catch_up`, which the demo clock uses before it jumps).
    """

    def __init__(self, tenant_now: Clock, *, wall: Callable[[], float] = time.monotonic) -> None:
        self._tenant_now = tenant_now
        self._wall = wall
        self._lock = threading.Lock()
        self._base: datetime | None = None
        self._anchor = 0.0
        self._last: datetime | None = None

    def __call__(self) -> datetime:
        with self._lock:
            base = self._tenant_now()
            tick = self._wall()
            if base != self._base:
                self._base, self._anchor = base, tick
            reading = base + timedelta(seconds=max(0.0, tick - self._anchor))
            if self._last is not None and reading < self._last:
                reading = self._last
            self._last = reading
            return reading

    def catch_up(self) -> timedelta:
        """How far this clock has run ahead of the tenant's own time: advance the tenant by that much
        first, and the two agree again afterwards."""
        reading = self()
        return max(timedelta(0), reading - self._tenant_now())
