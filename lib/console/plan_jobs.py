"""Previews of large selections made in the background: one job per session and tenant, with progress and cancel.

A preview re-reads every selected user's state from Graph first (``lib.console.changes``): for a whole
large tenant that is thousands of ``$batch`` calls, minutes on a real tenant. Inside a page rerun it would
freeze the page, so above ``BACKGROUND_ABOVE`` users the preview is built in a worker thread and the page
polls its counters (users read of total); at or below it, the same call runs inline, since a short read is
quicker than a round of polling. Either way the caller gets a :class:`PlanJob`: one code path.

- *Tokens stay in the session.* The job calls the session's own preview (its Workspace, so its gateway);
  nothing here builds a gateway or holds a credential of its own, and a job is found only by its
  ``owner`` (a value the session keeps to itself) and tenant.
- *One per session and tenant.* Starting another cancels the one running: it was for another selection.
- *For the selection it was asked for.* The job keeps the page's ``selection`` key; :meth:`PlanJob.is_for`
  tells a page whether a finished plan still answers what is selected now, else the page discards it.
- *Cancel leaves nothing half-made.* A preview journals nothing and sends no change; a cancelled re-read
  raises instead of planning from the users read so far, so the job ends with no plan at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lib import rollout
from lib.errors import describe
from lib.graph import CancelToken, OperationCancelled
from lib.rollout.states import ReadProgress
from lib.settings import DEFAULT_BACKGROUND_PLAN_ABOVE

__all__ = [
    "BACKGROUND_ABOVE",
    "PlanBuilder",
    "PlanJob",
    "discard_preview",
    "preview_job",
    "start_preview",
]

BACKGROUND_ABOVE = DEFAULT_BACKGROUND_PLAN_ABOVE
"""Selections of more users than this are previewed in the background (about 25 ``$batch`` reads inline);
``MFA_BACKGROUND_PLAN_ABOVE`` sets it for the pages."""
KEEP_FINISHED_S = 900.0
"""A finished job nobody collected (its tab was closed) is forgotten this long after it ended."""

PlanBuilder = Callable[[ReadProgress, CancelToken], rollout.Plan]
"""Makes the plan: one of ``lib.console``'s previews, told where to report its re-read and when to stop."""


@dataclass
class PlanJob:
    """One preview being made (or made): how far its re-read is, and what came of it."""

    owner: str
    tenant_id: str
    place: str
    """Where it was asked for (e.g. ``users:selection``): a page shows only its own jobs."""
    selection: Hashable
    """What was selected when it was asked for; the plan answers only that."""
    total: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    """What the page will show the plan with (its title, the journal's label)."""
    background: bool = False
    done: int = 0
    finished: bool = False
    plan: rollout.Plan | None = None
    error: str = ""
    cancelled: bool = False
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    cancel_token: CancelToken = field(default_factory=CancelToken, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ended: threading.Event = field(default_factory=threading.Event, repr=False)

    def on_progress(self, done: int, total: int) -> None:
        """Record the re-read's counters (called on the gateway's loop thread: numbers only); an ended job's
        counters stay as they were when it ended."""
        if not self.finished:
            self.done, self.total = done, total

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def label(self) -> str:
        return f"Reading the current MFA state: {self.done:,} of {self.total:,} users"

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def is_for(self, place: str, selection: Hashable) -> bool:
        """Whether this job answers ``selection`` asked for at ``place``."""
        return self.place == place and self.selection == selection

    def cancel(self) -> None:
        """Stop the re-read and end the job now, with no plan: a ``$batch`` already in flight still comes
        back (the worker winds down in a moment), but what it brings is dropped."""
        self.cancel_token.cancel()
        self._end(cancelled=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job has ended (its plan made, an error, or cancelled); True when it has."""
        return self._ended.wait(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the worker thread itself has stopped (after a cancel it may outlive the job briefly)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _end(self, *, plan: rollout.Plan | None = None, error: str = "", cancelled: bool = False) -> None:
        """Record the outcome once: the first of the worker's result and a cancel wins."""
        with self._guard:
            if self.finished:
                return
            self.plan, self.error, self.cancelled = (None if cancelled else plan), error, cancelled
            self.ended = time.monotonic()
            self.finished = True
        self._ended.set()

    def _run(self, build: PlanBuilder) -> None:
        try:
            plan = build(self.on_progress, self.cancel_token)
        except OperationCancelled:
            self._end(cancelled=True)
        except Exception as err:  # Graph, store or input trouble: shown on the page as one line
            self._end(error=describe(err), cancelled=self.cancel_token.cancelled)
        else:  # a cancel that came after the read still discards the plan
            self._end(plan=plan, cancelled=self.cancel_token.cancelled)
        finally:
            self._end(error="The preview stopped unexpectedly; try again.")


_lock = threading.Lock()
_jobs: dict[tuple[str, str], PlanJob] = {}


def _prune(now: float) -> None:
    """Forget finished jobs nobody collected for ``KEEP_FINISHED_S`` (under ``_lock``)."""
    for key, job in list(_jobs.items()):
        if job.finished and job.ended is not None and now - job.ended > KEEP_FINISHED_S:
            del _jobs[key]


def start_preview(owner: str, tenant_id: str, build: PlanBuilder, *, place: str, selection: Hashable, size: int,
                  meta: Mapping[str, Any] | None = None, background_above: int = BACKGROUND_ABOVE) -> PlanJob:
    """Make a preview of ``size`` users with ``build``: in the background above ``background_above`` users,
    else at once (the job returned is then finished). Any job of ``owner`` for ``tenant_id`` still running
    is cancelled first: it was asked for another selection."""
    if not owner:
        raise ValueError("a preview job needs its session's owner key")
    job = PlanJob(owner, tenant_id, place, selection, max(0, int(size)), dict(meta or {}),
                  background=size > background_above)
    with _lock:
        _prune(time.monotonic())
        previous = _jobs.pop((owner, tenant_id), None)
        if job.background:
            _jobs[(owner, tenant_id)] = job
    if previous is not None:
        previous.cancel()
    if not job.background:
        job._run(build)
        return job
    job._thread = threading.Thread(target=job._run, args=(build,), name=f"preview-{tenant_id[:8]}", daemon=True)
    job._thread.start()
    return job


def preview_job(owner: str, tenant_id: str) -> PlanJob | None:
    """The background preview ``owner`` asked for in ``tenant_id``, running or finished and not yet collected."""
    with _lock:
        return _jobs.get((owner, tenant_id))


def discard_preview(owner: str, tenant_id: str, job: PlanJob | None = None) -> None:
    """Forget ``owner``'s job (only ``job``, when given), cancelling it if it still runs."""
    with _lock:
        current = _jobs.get((owner, tenant_id))
        if current is None or (job is not None and current is not job):
            return
        del _jobs[(owner, tenant_id)]
    current.cancel()
