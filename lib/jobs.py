"""Tenant refreshes that run in the background, one per tenant, visible to every session.

A snapshot of a large tenant takes minutes (Graph's throttling is the floor), so it must not run
inside a page rerun: it runs in a worker thread that outlives the browser tab, and pages poll its
progress. Starting a second refresh of the same tenant returns the one already running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.directory.refresh import RefreshResult, refresh_snapshot
from lib.directory.snapshot import PHASES, Clock, utc_now
from lib.errors import describe
from lib.graph import CancelToken, GraphGateway, OperationCancelled
from lib.store import Store


@dataclass
class RefreshJob:
    """One running (or finished) refresh and what it has done so far."""

    tenant_id: str
    started: float = field(default_factory=time.monotonic)
    phase: str = "users"
    done: int = 0
    total: int = 0
    finished: bool = False
    result: RefreshResult | None = None
    error: str = ""
    cancelled: bool = False
    cancel_token: CancelToken = field(default_factory=CancelToken, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def on_phase(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    @property
    def label(self) -> str:
        text = PHASES.get(self.phase, self.phase)
        return f"{text}: {self.done:,} of {self.total:,}" if self.total else f"{text}…"

    @property
    def fraction(self) -> float:
        """Overall progress 0..1 (users, then registration and state, which overlap)."""
        weight = {"users": (0.0, 0.2), "registration": (0.2, 0.5), "state": (0.5, 1.0)}
        low, high = weight.get(self.phase, (0.0, 1.0))
        part = self.done / self.total if self.total else 0.0
        return min(1.0, low + (high - low) * part)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished


_lock = threading.Lock()
_jobs: dict[str, RefreshJob] = {}


def current_job(tenant_id: str) -> RefreshJob | None:
    """The tenant's running refresh, or the last one if it finished."""
    with _lock:
        return _jobs.get(tenant_id)


def start_refresh(
    store: Store,
    gateway_factory: Callable[[], GraphGateway],
    tenant_id: str,
    *,
    mode: str,
    clock: Clock = utc_now,
) -> RefreshJob:
    """Start refreshing ``tenant_id`` in the background (or return the refresh already running)."""
    with _lock:
        job = _jobs.get(tenant_id)
        if job is not None and not job.finished:
            return job
        job = RefreshJob(tenant_id)
        _jobs[tenant_id] = job

    def run() -> None:
        try:
            gateway = gateway_factory()
            job.result = refresh_snapshot(store, gateway, mode=mode, on_phase=job.on_phase,
                                          cancel=job.cancel_token, clock=clock)
        except OperationCancelled:
            job.cancelled = True
            job.error = "The refresh was cancelled; the previous snapshot is still the current one."
        except Exception as err:  # shown on the page; the snapshot row already says 'failed'
            job.error = _shortened(describe(err))
        finally:
            job.finished = True

    job._thread = threading.Thread(target=run, name=f"refresh-{tenant_id[:8]}", daemon=True)
    job._thread.start()
    return job


def _shortened(text: str, most: int = 600) -> str:
    """``text`` cut to ``most`` characters for the page's one error line."""
    return text if len(text) < most else text[:most] + "…"
