"""Running a plan: a background worker per operation, journaled item by item, resumable, cancellable.

``start_operation`` checks the role (server side), journals the plan (refusing an overlap with a
running or interrupted operation) and starts a worker thread that outlives the page that started
it; pages then poll :func:`lib.rollout.journal.operation_progress`. The worker runs on the Graph
gateway's event loop, chunk by chunk, a few chunks at a time (so reads overlap writes):

1. re-check protected accounts (the list may have changed since the preview);
2. re-read each user's current state (batched GETs): a user already there is skipped, an undo of a
   user who moved on is skipped, and a user whose earlier send has no journaled answer (the process
   died, the connection dropped) and who is already in the requested state is journaled *applied*
   without sending again;
3. journal the rest ``sending`` (before anything leaves), then batched PATCHes through ``lib.graph``;
4. journal each answer (``applied``, ``failed`` with its reason) as it comes, a few times a second;
5. read back the state Graph reports for every user the chunk applied (from the users listing filtered
   by id when Graph serves it there and a sample of 20 agrees with ``authentication/requirements``,
   else user by user: ``lib.graph.state_read``), and journal that *observed* state as the outcome (an
   ``observed`` event says whether it matches the preview: Entra may leave an Enable as Enabled or make
   it Enforced, see docs/graph.md). Reads cost read budget,
   never writes; a read-back that fails is tried again once the passes are over.

Failed items whose error is ``retryable`` (throttled, 5xx, no answer: the error class says so, see
``lib.graph.errors``) get up to ``retry_rounds`` more passes, each starting with a re-read.
``resume_operation`` runs the same loop over every unfinished item of an interrupted, cancelled or
partly failed operation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lib.columns import STATES
from lib.errors import describe
from lib.graph import FAST, CancelToken, GraphError, GraphGateway, ItemResult, OperationCancelled
from lib.graph.state_read import SAMPLE_SIZE
from lib.rollout import journal as j
from lib.rollout.actor import require_writer
from lib.rollout.errors import OperationStateError
from lib.rollout.journal import Outcome, WorkItem
from lib.rollout.plan import Plan
from lib.rollout.protected import Protection, active_protection
from lib.store import Store

__all__ = [
    "ExecuteOptions",
    "OperationWorker",
    "cancel_operation",
    "operation_report",
    "resume_operation",
    "run_operation",
    "running_here",
    "start_operation",
    "wait_operation",
]

log = logging.getLogger("lib.rollout")

@dataclass(frozen=True)
class ExecuteOptions:
    """Knobs of the worker (the defaults suit Graph's write limit of 3,000 per 150 s)."""

    chunk_size: int = 400
    """Users per chunk: re-read, journaled ``sending``, then PATCHed in batches of 20."""
    window: int = 3
    """Chunks in flight at once (one being read while others are written)."""
    flush_interval_s: float = 0.25
    """How often answers are journaled (progress is at most this stale)."""
    heartbeat_s: float = 1.0
    """How often the lease is refreshed, a cross-process cancel noticed and protections reloaded."""
    retry_rounds: int = 2
    retry_pause_s: float = 0.5
    verify: bool = True
    """Read back every applied user's state after each chunk's writes and journal what Graph reports."""

    def __post_init__(self) -> None:
        if not 1 <= self.chunk_size <= 10_000:
            raise ValueError(f"chunk_size must be between 1 and 10000, got {self.chunk_size}")
        if not 1 <= self.window <= 32:
            raise ValueError(f"window must be between 1 and 32, got {self.window}")
        if self.flush_interval_s <= 0 or self.heartbeat_s <= 0 or self.retry_pause_s < 0:
            raise ValueError("intervals must be > 0")
        if self.retry_rounds < 0:
            raise ValueError("retry_rounds must be >= 0")


def _reason_of(error: GraphError | None) -> tuple[str, str, int | None]:
    """A failure's stable reason (the error's ``reason``: ``throttled``, ``unauthorized``…), its text, and
    the HTTP status."""
    if error is None:
        return "graph_error", "Graph gave no result", None
    return error.reason, str(error) or type(error).__name__, error.status


def _worth_retrying(error: GraphError | None) -> bool:
    """Another pass may help (the state is re-read first, so a retry never doubles a change): the error
    says it is ``retryable`` (throttled, 5xx, no answer, a broken answer), or Graph gave no result at all."""
    return error is None or error.retryable


class OperationWorker:
    """The background worker of one operation. Start it with :func:`start_operation` or
    :func:`resume_operation`; it registers itself so ``cancel_operation`` and ``wait_operation`` find it."""

    def __init__(
        self,
        store: Store,
        gateway: GraphGateway,
        operation: j.Operation,
        *,
        options: ExecuteOptions | None = None,
        resume: bool = False,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.operation_id = operation.id
        self.tenant_id = operation.tenant_id
        self.kind = operation.kind
        self.options = options or ExecuteOptions()
        self.resume = resume
        self.cancel = CancelToken()
        self.done = threading.Event()
        self.status: str | None = None
        """The final status once ``done`` is set."""
        self.error: str | None = None
        self._abort: str | None = None
        self._buffer: list[Outcome] = []
        self._protection = Protection()
        self._retryable: set[str] = set()
        self._taken_over = False
        self._verifying: list[asyncio.Task[None]] = []
        """Read-backs in flight: they hold no chunk slot, so the next chunk's writes need not wait."""
        self._later: dict[str, int] = {}
        """Users a later operation applied (resume only): user id → that operation."""
        self._flush_lock: asyncio.Lock | None = None
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rollout-journal-{operation.id}")
        self._thread = threading.Thread(target=self._main, name=f"rollout-operation-{operation.id}", daemon=True)

    def start(self) -> OperationWorker:
        j.register_local(self.operation_id, self)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    # -- thread body ------------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.status = self.gateway.loop.run(self._run())
        except BaseException as exc:  # the journal or the loop failed: record it if the database lets us
            log.exception("rollout operation %s failed", self.operation_id)
            self.error = describe(exc)
            try:
                self.status = j.finish_operation(self.store, self.operation_id, cancelled=False, error=self.error)
            except Exception:
                log.exception("could not journal the failure of operation %s", self.operation_id)
                self.status = "failed"
        finally:
            self._db_thread.shutdown(wait=False)
            j.unregister_local(self.operation_id, self)
            self.done.set()

    def _halted(self) -> bool:
        return self.cancel.cancelled or self._abort is not None

    async def _db(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a journal call on the worker's own database thread: one writer at a time, so the worker's
        writes never wait on each other's locks (SQLite's busy wait sleeps in steps of up to 100 ms)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, functools.partial(func, self.store, *args, **kwargs))

    async def _run(self) -> str:
        opts = self.options
        self._protection = await self._db(active_protection, self.tenant_id)
        flusher = asyncio.create_task(self._flusher())
        try:
            work = await self._db(j.load_work, self.operation_id)
            if self.resume:
                self._later = await self._db(j.later_applied, self.operation_id, self.tenant_id,
                                             [w.user_id for w in work])
            await self._pass(work)
            for round_no in range(opts.retry_rounds):
                if self._halted():
                    break
                again = [w for w in await self._db(j.load_work, self.operation_id, ("failed",))
                         if w.user_id in self._retryable]
                if not again:
                    break
                await asyncio.sleep(opts.retry_pause_s * (round_no + 1))
                self._retryable = set()
                await self._pass(again)
            # Make the journal exact: items sent without a final answer are re-read, never re-sent here.
            await self._flush()
            unsure = [w for w in await self._db(j.load_work, self.operation_id, ("sending", "failed"))
                      if w.status == "sending" or w.attempts > 0]
            if unsure and self._abort is None:
                await self._pass(unsure, send=False)
            if self._abort is None:
                await self._verify_rest()
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()
        self.error = self._abort
        if self._taken_over:  # the new owner finishes it; closing it here would stop that worker
            return "taken_over"
        return await self._db(j.finish_operation, self.operation_id, cancelled=self.cancel.cancelled,
                              error=self._abort)

    async def _pass(self, work: Sequence[WorkItem], *, send: bool = True) -> None:
        size = self.options.chunk_size
        gate = asyncio.Semaphore(self.options.window)
        tasks: list[asyncio.Task[None]] = []
        for start in range(0, len(work), size):
            await gate.acquire()
            if send and self._halted():
                gate.release()
                break
            task = asyncio.create_task(self._chunk(list(work[start:start + size]), send=send))
            task.add_done_callback(lambda _t: gate.release())
            tasks.append(task)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        while self._verifying:
            verifying, self._verifying = self._verifying, []
            results += await asyncio.gather(*verifying, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # -- one chunk --------------------------------------------------------------------------------

    async def _chunk(self, items: list[WorkItem], *, send: bool) -> None:
        cancel = self.cancel if send else None
        states = await self.gateway.aio.read_mfa_states([i.user_id for i in items], cancel=cancel)
        outcomes: list[Outcome] = []
        to_send: list[WorkItem] = []
        for item in items:
            decision = self._decide(item, states.get(item.user_id), send)
            if decision is None:
                to_send.append(item)
            elif decision is not False:
                outcomes.append(decision)
        if not send or self._halted():
            to_send = []
        now = j.now_ns(self.store)
        for item in to_send:
            read = states[item.user_id]
            outcomes.append(Outcome(item.user_id, "sending", read_state=read if isinstance(read, str) else None,
                                    event_state=item.requested_state, at=now))
        await self._db(j.settle, self.operation_id, outcomes)  # journaled BEFORE anything is sent
        confirmed = {o.user_id: (o.after_state, item.expected_state) for o in outcomes for item in items
                     if o.status == "applied" and o.after_state and item.user_id == o.user_id}
        await self._db(j.record_observed, self.operation_id, confirmed)  # read just now: already observed
        accepted: list[str] = []
        if to_send:
            report = await self.gateway.aio.write_mfa_states(
                {item.user_id: item.requested_state for item in to_send},
                on_result=self._on_result, cancel=self.cancel)
            refused = report.abort_error or next(
                (r.error for r in report.results if r.error is not None and r.status in (401, 403)), None)
            if refused is not None and self._abort is None:  # a missing role or permission stops everything
                self._abort = f"stopped: Microsoft Graph refused the change: {refused}"
                self.cancel.cancel()
            accepted = [str(r.key) for r in report.results if r.ok]
        await self._flush()
        if accepted and self.options.verify:
            done = set(accepted)
            self._verifying.append(asyncio.create_task(
                self._verify({item.user_id: item for item in to_send if item.user_id in done})))

    def _decide(self, item: WorkItem, current: Any, send: bool) -> Outcome | bool | None:
        """What to do with an item given its freshly read state: an Outcome, None = send, False = leave it.

        An item sent before without a journaled answer is settled by its state first (applied if it got
        there), so no later rule — a new protection, a later operation — can mislabel a change that landed.
        """
        uid = item.user_id
        if isinstance(current, OperationCancelled):
            return False
        if isinstance(current, GraphError):
            code, text, status = _reason_of(current)
            if not send and item.status == "failed":
                return False  # reconciling: keep the failure already journaled
            if code == "not_found":
                return Outcome(uid, "failed", reason_code="not_found", reason=f"user not found in the tenant: {text}",
                               error_status=status)
            if _worth_retrying(current):
                self._retryable.add(uid)
            return Outcome(uid, "failed", reason_code="read_failed", error_status=status,
                           reason=f"could not read the current state before sending: {text}")
        if not isinstance(current, str) or current not in STATES:
            self._retryable.add(uid)
            return Outcome(uid, "failed", reason_code="read_failed",
                           reason=f"Graph answered an unexpected state {current!r}")
        attempted = item.status == "sending" or item.attempts > 0
        reached = current in (item.requested_state, item.expected_state)
        if attempted and (reached or (item.requested_state == "enabled" and current == "enforced")):
            return Outcome(uid, "applied", after_state=current, event_state=current,
                           detail="confirmed by re-reading the state (the earlier answer was lost)")
        if not send:
            return False
        if (found := self._protection.find(uid, item.upn)) is not None:
            detail = found.describe()
            return Outcome(uid, "skipped", read_state=current, reason_code="protected",
                           reason=f"protected account ({detail})" if detail else "protected account")
        if uid in self._later:
            return Outcome(uid, "skipped", read_state=current, reason_code="changed_by_later_operation",
                           reason=f"operation {self._later[uid]} changed this user since: not re-sent")
        if reached:
            return Outcome(uid, "skipped", read_state=current, reason_code="already_in_state",
                           reason=f"already {current} when re-checked before sending")
        if self.kind == "apply" and item.requested_state == "enabled" and current == "enforced":
            return Outcome(uid, "skipped", read_state=current, reason_code="already_stronger",
                           reason="already Enforced when re-checked: Enabled would be a step back")
        if self.kind == "undo" and item.before_state and current != item.before_state:
            return Outcome(uid, "skipped", read_state=current, reason_code="moved_on",
                           reason=f"moved on since the preview (now {current}): not reverted")
        return None

    def _on_result(self, result: ItemResult) -> None:
        """Called on the loop thread for each PATCH's final answer: buffered, journaled by the flusher."""
        uid = str(result.key)
        if result.ok:  # the state Graph leaves is journaled by the read-back (_verify), not assumed
            outcome = Outcome(uid, "applied", attempts=result.attempts, detail="Graph accepted the change")
        elif result.outcome == "cancelled":
            if result.attempts == 0:
                outcome = Outcome(uid, "cancelled", reason_code="cancelled", reason="cancelled before it was sent")
            else:  # sent at least once, answer unknown: stays 'sending' until re-read
                outcome = Outcome(uid, "sending", attempts=result.attempts,
                                  detail="cancelled while retrying: outcome unknown until re-read")
        else:
            code, text, status = _reason_of(result.error)
            if _worth_retrying(result.error):
                self._retryable.add(uid)
            # the reason goes into the event log too: a later re-read may find the change landed after all
            outcome = Outcome(uid, "failed", reason_code=code, reason=text, attempts=result.attempts,
                              error_status=status, detail=text)
        self._buffer.append(outcome)

    async def _verify(self, items: dict[str, WorkItem]) -> None:
        """Read back what Graph reports for ``items`` (batched GETs) and journal it as their outcome.

        Not cancellable: the writes were answered, and their outcome is what a cancelled run must
        still know. Users whose read fails keep no observed state; :meth:`_verify_rest` tries again.
        """
        if not items:
            return
        states, how = await self.gateway.aio.read_states(list(items))
        if how.path != FAST and len(items) > SAMPLE_SIZE:
            log.info("operation %s read back %d users one by one: %s", self.operation_id, len(items), how.reason)
        observed = {uid: s for uid, s in states.items() if isinstance(s, str) and s in STATES}
        await self._db(j.record_observed, self.operation_id,
                       {uid: (state, items[uid].expected_state) for uid, state in observed.items()})

    async def _verify_rest(self) -> None:
        """A last read-back of applied users that still have no observed state (their read failed)."""
        if not self.options.verify:
            return
        left = await self._db(j.unobserved, self.operation_id)
        for start in range(0, len(left), self.options.chunk_size):
            part = left[start:start + self.options.chunk_size]
            await self._verify({item.user_id: item for item in part})

    # -- journaling -------------------------------------------------------------------------------

    async def _flush(self) -> None:
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            batch, self._buffer = self._buffer, []
            if batch:
                await self._db(j.settle, self.operation_id, batch)

    async def _flusher(self) -> None:
        opts = self.options
        last_beat = 0.0
        while True:
            await asyncio.sleep(opts.flush_interval_s)
            try:
                await self._flush()
                if time.monotonic() - last_beat >= opts.heartbeat_s:
                    last_beat = time.monotonic()
                    stop = await self._db(j.heartbeat, self.operation_id)
                    if stop == "taken_over" and self._abort is None:
                        self._abort = "stopped: another process took this operation over"
                        self._taken_over = True
                    if stop:
                        self.cancel.cancel()
                    self._protection = await self._db(active_protection, self.tenant_id)
            except Exception as exc:  # the journal cannot be written: stop sending at once
                log.exception("journal write failed for operation %s", self.operation_id)
                if self._abort is None:
                    self._abort = f"stopped: the journal could not be written ({exc})"
                self.cancel.cancel()
                return

    def __repr__(self) -> str:
        return f"OperationWorker(operation={self.operation_id}, alive={self.alive}, status={self.status!r})"


def _reprotect(the_plan: Plan, protection: Protection) -> Plan:
    """The plan with users protected since the preview moved from changes to skips."""
    reasons = {}
    for uid, upn in zip(the_plan.changes["user_id"], the_plan.changes["upn"], strict=True):
        found = protection.find(uid, upn if isinstance(upn, str) else None)
        if found is not None:
            detail = found.describe()
            reasons[uid] = ("protected", f"protected account ({detail})" if detail else "protected account")
    return the_plan.skip_users(reasons) if reasons else the_plan


def start_operation(
    store: Store,
    gateway: GraphGateway,
    the_plan: Plan,
    *,
    tenant_id: str,
    actor: Any,
    wave: str | None = None,
    label: str | None = None,
    options: ExecuteOptions | None = None,
) -> int:
    """Check the role, journal ``the_plan`` and start its background worker; returns the operation id.

    Raises ``PermissionDenied`` (nothing journaled, nothing sent) for an actor who may not change
    MFA, ``OperationConflict`` naming the running/interrupted operation that holds some of the same
    users, ``WaveError`` for a taken wave name, ``StoreError`` when the journal cannot be written.
    Users protected since the preview are skipped (journaled with the reason ``protected``).
    """
    require_writer(actor)
    if the_plan.kind == "undo" and the_plan.undo_of is not None:
        undone = j.get_operation(store, the_plan.undo_of)
        if undone.status == "running" and undone.live:
            raise OperationStateError(f"operation {undone.id} is still running: wait for it or cancel it first")
    the_plan = _reprotect(the_plan, active_protection(store, tenant_id))
    operation_id = j.create_operation(store, the_plan, tenant_id=tenant_id, actor=actor, label=label, wave=wave)
    operation = j.get_operation(store, operation_id)
    OperationWorker(store, gateway, operation, options=options, resume=False).start()
    return operation_id


def resume_operation(
    store: Store, gateway: GraphGateway, operation_id: int, *, actor: Any, options: ExecuteOptions | None = None
) -> int:
    """Resume an interrupted, cancelled or partly failed operation in a new worker; returns its id.

    Unfinished items are re-read before anything is re-sent: those already in the requested state
    are journaled applied (never sent twice), users a later operation changed are skipped; applied
    users not read back yet are read back. An operation with nothing left is closed as complete (if
    it was not) and no worker starts: resuming finished work succeeds and changes nothing.
    """
    require_writer(actor)
    operation = j.claim_operation(store, operation_id, actor=actor)
    if operation is not None:
        OperationWorker(store, gateway, operation, options=options, resume=True).start()
    return operation_id


def cancel_operation(store: Store, operation_id: int, *, actor: Any) -> j.Operation:
    """Stop an operation: its worker (here or in another process) stops sending; items already sent finish.

    Only an ``actor`` who may change MFA may stop someone's change (``PermissionDenied`` otherwise, and
    nothing is journaled). An interrupted operation (no worker) is closed at once. Returns the operation
    as journaled.
    """
    require_writer(actor)
    worker = j.local_worker(operation_id)
    operation = j.request_cancel(store, operation_id)
    if worker is not None:
        worker.cancel.cancel()
    return operation


def wait_operation(operation_id: int, timeout: float | None = None) -> bool:
    """Block until this process's worker of the operation is done; True if done (or none running here)."""
    worker = j.local_worker(operation_id)
    return True if worker is None else worker.wait(timeout)


def running_here() -> list[int]:
    """Operations with a live worker in this process."""
    with j._local_lock:
        return sorted(j._local_workers)


def run_operation(
    store: Store,
    gateway: GraphGateway,
    the_plan: Plan,
    *,
    tenant_id: str,
    actor: Any,
    wave: str | None = None,
    label: str | None = None,
    options: ExecuteOptions | None = None,
) -> int:
    """``start_operation`` and wait for the worker to finish (the CLI's way); returns the operation id."""
    operation_id = start_operation(store, gateway, the_plan, tenant_id=tenant_id, actor=actor, wave=wave,
                                   label=label, options=options)
    wait_operation(operation_id)
    return operation_id


def operation_report(store: Store, operation_id: int) -> dict[str, Any]:
    """What the CLI prints: the operation's counts, every skipped and failed user with the reason, and
    ``outcomes``: each planned user's before, expected and observed state (``after``, what Graph
    reported after the change) and whether they match, with ``differs_from_preview`` counting those
    that do not."""
    operation = j.get_operation(store, operation_id)
    items = j.operation_items_frame(store, operation_id)
    progress = j.operation_progress(store, operation_id)
    outcomes = j.item_outcomes(items)

    def text(value: Any) -> str | None:
        return None if pd.isna(value) else str(value)

    def listed(status: str) -> list[dict[str, Any]]:
        rows = items[items["status"] == status]
        return [{"upn": text(r.upn), "user_id": str(r.user_id), "code": text(r.reason_code), "reason": text(r.reason)}
                for r in rows.itertuples(index=False)]

    return {
        "operation_id": operation.id,
        "kind": operation.kind,
        "status": operation.display_status,
        "requested_state": operation.requested_state,
        "undo_of": operation.undo_of,
        "planned": operation.planned,
        "applied": progress.applied,
        "unknown": progress.unknown,
        "pending": progress.pending,
        "cancelled": progress.cancelled,
        "skipped": listed("skipped"),
        "failed": listed("failed"),
        "differs_from_preview": int((~outcomes["matches_preview"].fillna(True)).sum()),
        "outcomes": [{"upn": text(r.upn), "user_id": str(r.user_id), "before": text(r.before_state),
                      "expected": text(r.expected_state), "after": text(r.observed),
                      "matches_preview": None if pd.isna(r.matches_preview) else bool(r.matches_preview)}
                     for r in outcomes.itertuples(index=False)],
        "error": operation.error,
    }
