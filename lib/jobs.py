"""Tenant refreshes that run in the background, one per tenant, visible to every session.

A snapshot of a large tenant takes minutes (Graph's throttling is the floor), so it must not run
inside a page rerun: it runs in a worker thread that outlives the browser tab, and pages poll its
progress. Starting a second refresh of the same tenant returns the one already running.

A refresh may be a series: one snapshot after each of several steps (the demo clock moving one
simulated day at a time), so the history holds a snapshot per day rather than one at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.directory.refresh import refresh_snapshot
from lib.directory.snapshot import PHASES, Clock
from lib.errors import describe
from lib.graph import CancelToken, GraphGateway, OperationCancelled
from lib.store import SnapshotSummary, Store


@dataclass
class RefreshJob:
    """One running (or finished) refresh and what it has done so far."""

    tenant_id: str
    started: float = field(default_factory=time.monotonic)
    phase: str = "users"
    done: int = 0
    total: int = 0
    finished: bool = False
    snapshot_id: int | None = None
    """The last snapshot this job completed."""
    summary: SnapshotSummary | None = None
    """What that snapshot changed. (Not the read itself: its frame of every user would stay alive with the
    job, until the tenant's next refresh, beside the store's own copy.)"""
    error: str = ""
    cancelled: bool = False
    steps: int = 1
    """Snapshots this job takes (one per step of a series)."""
    step: int = 1
    """The snapshot being taken, 1..``steps``."""
    step_name: str = "Snapshot"
    reports: list[Mapping[str, Any]] = field(default_factory=list)
    """What each step before a snapshot reported (e.g. the demo clock's sign-ins and registrations)."""
    cancel_token: CancelToken = field(default_factory=CancelToken, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def on_phase(self, phase: str, done: int, total: int) -> None:
        self.phase, self.done, self.total = phase, done, total

    @property
    def label(self) -> str:
        text = PHASES.get(self.phase, self.phase)
        text = f"{text}: {self.done:,} of {self.total:,}" if self.total else f"{text}…"
        return f"{self.step_name} {self.step} of {self.steps} · {text}" if self.steps > 1 else text

    @property
    def fraction(self) -> float:
        """Overall progress 0..1 (users, then registration and state, which overlap, then the policies, then
        sign-in evidence; steps in turn)."""
        weight = {"users": (0.0, 0.2), "registration": (0.2, 0.5), "state": (0.5, 0.85), "protection": (0.85, 0.9),
                  "sign_ins": (0.9, 1.0)}
        low, high = weight.get(self.phase, (0.0, 1.0))
        part = self.done / self.total if self.total else 0.0
        within = min(1.0, low + (high - low) * part)
        return min(1.0, (self.step - 1 + within) / self.steps)

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
    clock: Clock | None = None,
    before_each: Sequence[Callable[[], Mapping[str, Any]]] = (),
    step_name: str = "Snapshot",
) -> RefreshJob:
    """Start refreshing ``tenant_id`` in the background (or return the refresh already running).

    With ``before_each``, a series: each callable runs, then a snapshot is taken, in turn (what each
    returns is kept in ``job.reports``); ``step_name`` names a step in the progress label."""
    with _lock:
        job = _jobs.get(tenant_id)
        if job is not None and not job.finished:
            return job
        job = RefreshJob(tenant_id, steps=max(1, len(before_each)), step_name=step_name)
        _jobs[tenant_id] = job
    steps = list(before_each) or [None]

    def run() -> None:
        try:
            gateway = gateway_factory()
            for number, before in enumerate(steps, start=1):
                job.step, job.phase, job.done, job.total = number, "users", 0, 0
                if job.cancel_token.cancelled:  # stop between steps too, before the next one moves anything
                    raise OperationCancelled("cancelled between snapshots")
                if before is not None:
                    job.reports.append(before())
                result = refresh_snapshot(store, gateway, mode=mode, on_phase=job.on_phase,
                                          cancel=job.cancel_token, clock=clock)
                job.snapshot_id, job.summary = result.snapshot_id, result.summary
                del result  # the read's frame goes with it, before the next day's read
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
