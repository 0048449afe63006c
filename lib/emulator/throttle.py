"""Graph's documented throttle limits as token buckets, scaled in time by ``config.time_scale``.

Buckets per app (one tenant per emulator), as docs/graph.md lists the limits:

- ``identity``: resource units (RU), capacity 3,500 / 5,000 / 8,000 per 10 s for tenants of
  < 50 / 50–500 / > 500 users. Costs follow the throttling-limits doc: a single-entity GET 1, a
  collection GET 2, minus 1 with ``$select``, plus 1 with ``$expand``, at least 1; a write 1.
- ``write``: 3,000 writes per 150 s (a write also costs 1 RU in ``identity``).
- ``report``: identity-and-access reports, 5 requests per 10 s.
- ``conditionalAccess``: Conditional Access policies, 1 request per second per tenant for all apps together
  (charged under :data:`TENANT_WIDE`, not an app id); Graph's 429 then carries no ``Retry-After``.

A bucket starts full and refills continuously at capacity / window. A request that does not fit
is refused without consuming anything, and its ``Retry-After`` is the time until it fits, rounded
up: a client alone on the app that waits that long succeeds (the header tells the truth), and one
that honours it reaches exactly the documented throughput. ``throttle_bound_seconds`` gives the
model's minimum time for N requests, for benchmarks.

The console's demo runs at ``time_scale = 1 / MFA_DEMO_THROTTLE_SPEEDUP`` (10 by default, lib/demo.py): the
same limits and the same Retry-After contract, refilled that many times faster. Only this model moves; the
Graph client knows nothing of it, so a real tenant is throttled exactly as Graph throttles it.

Time comes from ``ThrottleBuckets.clock`` (``time.monotonic`` unless a test hands ``use_clock`` a
``ManualClock``, which moves only when told). ``drain(..., hold=True)`` keeps a bucket at the level
it is given until the next request charges it, so a test that starts from an exhausted bucket meets
it exhausted however long its own setup takes.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from lib.emulator.state import EmulatorState

IDENTITY = "identity"
WRITE = "write"
REPORT = "report"

IDENTITY_WINDOW = 10.0
WRITE_LIMIT = 3000
WRITE_WINDOW = 150.0
REPORT_LIMIT = 5
REPORT_WINDOW = 10.0
CONDITIONAL_ACCESS = "conditionalAccess"
CONDITIONAL_ACCESS_LIMIT = 1
CONDITIONAL_ACCESS_WINDOW = 1.0
TENANT_WIDE = "*"
"""The key a tenant-wide bucket is charged under, in place of an app id."""


def identity_capacity(user_count: int) -> int:
    """RU per 10 s for a tenant of this size (throttling-limits: identity and access)."""
    if user_count < 50:
        return 3500
    if user_count <= 500:
        return 5000
    return 8000


def read_cost(collection: bool, select: bool = False, expand: bool = False) -> int:
    """RU of a GET: single entity 1, collection 2, −1 with ``$select``, +1 with ``$expand``, ≥ 1."""
    return max(1, (2 if collection else 1) - (1 if select else 0) + (1 if expand else 0))


def limits(kind: str, user_count: int) -> tuple[float, float]:
    """(capacity, unscaled window seconds) of a bucket kind."""
    if kind == IDENTITY:
        return float(identity_capacity(user_count)), IDENTITY_WINDOW
    if kind == WRITE:
        return float(WRITE_LIMIT), WRITE_WINDOW
    if kind == REPORT:
        return float(REPORT_LIMIT), REPORT_WINDOW
    if kind == CONDITIONAL_ACCESS:
        return float(CONDITIONAL_ACCESS_LIMIT), CONDITIONAL_ACCESS_WINDOW
    raise ValueError(f"unknown throttle bucket {kind!r}")


def format_retry_after(seconds: float, time_scale: float) -> str:
    """The ``Retry-After`` value: whole seconds (≥ 1) at real time, else fractional milliseconds."""
    if time_scale == 1.0:
        return str(max(1, math.ceil(seconds - 1e-9)))
    ms = max(1, math.ceil(seconds * 1000 - 1e-6))
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".") if ms % 1000 else str(ms // 1000)


def retry_after_seconds(seconds: float, time_scale: float) -> float:
    """The wait ``format_retry_after`` announces, as a number."""
    return float(format_retry_after(seconds, time_scale))


def throttle_bound_seconds(
    kind: str, count: int, user_count: int, time_scale: float = 1.0, cost: int = 1
) -> float:
    """The least time ``count`` requests of a kind can take under the model, from full buckets.

    ``kind`` is ``identity`` (reads costing ``cost`` RU each), ``write`` (bounded by both the write
    bucket and 1 RU each) or ``report``. Used by benchmarks to compare a client with the floor.
    """
    def bucket_bound(k: str, units: float) -> float:
        capacity, window = limits(k, user_count)
        return max(0.0, units - capacity) * window / capacity

    if kind == IDENTITY:
        bound = bucket_bound(IDENTITY, count * cost)
    elif kind == WRITE:
        bound = max(bucket_bound(WRITE, count), bucket_bound(IDENTITY, count))
    elif kind == REPORT:
        bound = bucket_bound(REPORT, count)
    else:
        raise ValueError(f"unknown throttle bucket {kind!r}")
    return bound * time_scale


class ManualClock:
    """A time source that moves only when told: a throttle on it refills exactly as a test says."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock only moves forward, got {seconds!r}")
        with self._lock:
            self._now += seconds


@dataclass(slots=True)
class _Bucket:
    level: float
    stamp: float
    held: bool = False
    """No refill until the next charge (``drain(..., hold=True)``)."""


class ThrottleBuckets:
    """All buckets of one emulator, keyed by (kind, app id). Thread-safe, cheap per call."""

    def __init__(self, state: EmulatorState, clock: Callable[[], float] = time.monotonic) -> None:
        self._state = state
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()
        self.clock = clock
        """Seconds, monotonic; every bucket's refill is measured on it."""

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Measure time on ``clock`` from now on; every bucket starts full again on it."""
        with self._lock:
            self.clock = clock
            self._buckets.clear()

    def _refill(self, kind: str, app_id: str, now: float, capacity: float, rate: float) -> _Bucket:
        bucket = self._buckets.get((kind, app_id))
        if bucket is None:
            bucket = self._buckets[(kind, app_id)] = _Bucket(capacity, now)
        elif bucket.held:
            bucket.held = False
            bucket.stamp = now
        else:
            bucket.level = min(capacity, bucket.level + (now - bucket.stamp) * rate)
            bucket.stamp = now
        return bucket

    def charge(self, app_id: str, charges: tuple[tuple[str, float], ...]) -> float:
        """Take every (kind, units) or none; 0.0 when taken, else the seconds until all would fit.

        A request costing more than a bucket's capacity is let through once the bucket is full.
        """
        config = self._state.config
        if not config.throttle:
            return 0.0
        scale = config.time_scale
        users = len(self._state.tenant.users)
        with self._lock:
            now = self.clock()
            wait = 0.0
            taken: list[tuple[_Bucket, float]] = []
            for kind, units in charges:
                capacity, window = limits(kind, users)
                rate = capacity / (window * scale)
                bucket = self._refill(kind, app_id, now, capacity, rate)
                need = min(units, capacity)
                if bucket.level + 1e-9 < need:
                    wait = max(wait, (need - bucket.level) / rate)
                taken.append((bucket, units))
            if wait > 0.0:
                return wait
            for bucket, units in taken:
                bucket.level -= units
            return 0.0

    def drain(self, app_id: str, kind: str, level: float = 0.0, *, hold: bool = False) -> None:
        """Set a bucket's level (tests and benchmarks start from an exhausted bucket).

        A negative level is a debt. With ``hold`` the bucket stays at ``level`` until the next request
        charges it, and refills from that moment on: that request meets exactly this level.
        """
        capacity, _ = limits(kind, len(self._state.tenant.users))
        with self._lock:
            self._buckets[(kind, app_id)] = _Bucket(min(level, capacity), self.clock(), hold)

    def level(self, app_id: str, kind: str) -> float:
        """A bucket's current level (full when never used)."""
        users = len(self._state.tenant.users)
        capacity, window = limits(kind, users)
        with self._lock:
            bucket = self._buckets.get((kind, app_id))
            if bucket is None:
                return capacity
            if bucket.held:
                return bucket.level
            rate = capacity / (window * self._state.config.time_scale)
            return min(capacity, bucket.level + (self.clock() - bucket.stamp) * rate)

    def reset(self) -> None:
        """Every bucket full again."""
        with self._lock:
            self._buckets.clear()


def get_throttle(state: EmulatorState) -> ThrottleBuckets:
    """The emulator's throttle, created on first use in ``state.extras['throttle']``."""
    throttle = state.extras.get("throttle")
    if throttle is None:
        throttle = state.extras["throttle"] = ThrottleBuckets(state)
    return throttle
