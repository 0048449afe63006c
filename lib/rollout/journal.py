"""The operations journal: every bulk change, every user in it, every step each user took.

An operation is written with all its items before anything is sent (``pending``, and the plan's
skips as ``skipped`` with their reasons). The worker marks a chunk ``sending`` *before* the PATCH
leaves and settles each item *after* its answer (``applied``/``failed``/``cancelled``), appending an
event for every move to ``operation_events``. ``applied`` and ``skipped`` are final: an item can be
journaled as applied once and only once, whatever crashes, retries and resumes happen.

Liveness: a ``running`` operation names its ``owner`` (host/pid/token) and refreshes
``heartbeat_at``; when the owner is gone (its process died, or the heartbeat is older than
:data:`LEASE_S`) the operation is *interrupted*: it can be resumed, and it still blocks other
operations on its unfinished users until resumed to the end or cancelled.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lib.rollout._db import now_ns, reading, ts, wall_ns, writing
from lib.rollout.actor import actor_kind
from lib.rollout.errors import OperationConflict, OperationNotFound, OperationStateError, WaveError
from lib.rollout.plan import Plan
from lib.store import Store
from lib.store.queries import lock_tenant, require_tenant
from lib.store.schema import operation_events, operation_items, operations, snapshots, wave_members, waves

__all__ = [
    "EVENT_COLUMNS",
    "ITEM_COLUMNS",
    "LEASE_S",
    "OUTCOME_COLUMNS",
    "Operation",
    "OperationProgress",
    "Outcome",
    "WorkItem",
    "get_operation",
    "item_events",
    "item_outcomes",
    "list_operations",
    "operation_items_frame",
    "operation_progress",
    "operations_frame",
    "owner_id",
    "preview_difference",
]

LEASE_S = 15.0
SNAPSHOT_AT_FINISH = "snapshot_id_at_finish"
"""Summary key: the tenant's highest snapshot id (any status) when the run last finished. A snapshot with a
higher id began after the run ended, so it shows the run's outcome; one at or below it may not."""
"""A running operation whose heartbeat is older than this (seconds) has lost its worker."""
RATE_WINDOW_S = 20.0
"""Progress rate = items finished in this many seconds, per second."""
FINAL = ("applied", "skipped")
UNFINISHED = ("pending", "sending", "failed", "cancelled")
_CHUNK = 400
_HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex[:12]

ITEM_COLUMNS: dict[str, str] = {
    "seq": "int64",
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "before_state": "string",
    "requested_state": "string",
    "expected_state": "string",
    "read_state": "string",
    "after_state": "string",
    "status": "string",
    "reason_code": "string",
    "reason": "string",
    "attempts": "int64",
    "error_status": "Int64",
    "sent_at": "datetime64[ns, UTC]",
    "finished_at": "datetime64[ns, UTC]",
    "updated_at": "datetime64[ns, UTC]",
}
"""Columns of :func:`operation_items_frame` (the history page's per-user table)."""

EVENT_COLUMNS: dict[str, str] = {
    "id": "int64",
    "user_id": "string",
    "at": "datetime64[ns, UTC]",
    "event": "string",
    "state": "string",
    "detail": "string",
}

# -- process-local registry: which operations have a live worker in THIS process -------------------

_local_lock = threading.Lock()
_local_workers: dict[int, Any] = {}


def owner_id() -> str:
    """This process as an operation's owner: ``host/pid/token`` (pid read now, so a fork differs)."""
    return f"{_HOST}/{os.getpid()}/{_TOKEN}"


def register_local(operation_id: int, worker: Any) -> None:
    with _local_lock:
        _local_workers[operation_id] = worker


def unregister_local(operation_id: int, worker: Any) -> None:
    with _local_lock:
        if _local_workers.get(operation_id) is worker:
            del _local_workers[operation_id]


def local_worker(operation_id: int) -> Any | None:
    with _local_lock:
        return _local_workers.get(operation_id)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def owner_alive(operation_id: int, owner: str | None, heartbeat_at: int | None, now: int | None = None) -> bool:
    """Whether the worker that owns a running operation is still there."""
    if not owner:
        return False
    if owner == owner_id():
        return local_worker(operation_id) is not None
    now = wall_ns() if now is None else now
    fresh = heartbeat_at is not None and now - heartbeat_at <= LEASE_S * 1e9
    host, _, rest = owner.partition("/")
    pid_text = rest.partition("/")[0]
    if host == _HOST and pid_text.isdigit() and not _pid_alive(int(pid_text)):
        return False
    return fresh


# -- records ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Operation:
    """One operation as the journal holds it."""

    id: int
    tenant_id: str
    kind: str
    status: str
    requested_state: str | None
    source: str
    label: str | None
    actor: str
    actor_kind: str
    undo_of: int | None
    planned: int
    skipped: int
    summary: dict[str, Any]
    created_at: pd.Timestamp
    started_at: pd.Timestamp | None
    finished_at: pd.Timestamp | None
    heartbeat_at: pd.Timestamp | None
    owner: str | None
    cancel_requested: bool
    error: str | None
    live: bool
    """A worker owns it right now (in this process or another)."""

    @property
    def interrupted(self) -> bool:
        """Running in the journal, but its worker is gone (the process died): resume it."""
        return self.status == "running" and not self.live

    @property
    def display_status(self) -> str:
        return "interrupted" if self.interrupted else self.status

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True)
class OperationProgress:
    """Where an operation stands, read from the journal (so any page, in any process, can show it)."""

    operation_id: int
    status: str
    """``running``, ``interrupted``, ``complete``, ``partial``, ``cancelled`` or ``failed``."""
    planned: int
    """Users the plan set out to change."""
    applied: int
    failed: int
    skipped: int
    """Planned users skipped when re-checked just before sending (the plan's own skips are apart)."""
    cancelled: int
    pending: int
    unknown: int
    """Sent, no answer journaled yet (in flight, or the process died): re-read before any re-send."""
    plan_skipped: int
    rate_per_s: float
    eta_s: float | None
    started_at: pd.Timestamp | None
    finished_at: pd.Timestamp | None
    error: str | None
    live: bool
    differs_from_preview: int = 0
    """Planned users whose state, as Graph reported it afterwards, is not the one the preview expected."""
    unobserved: int = 0
    """Applied users whose state could not be read back yet (a resume reads them again)."""

    @property
    def done(self) -> int:
        return self.applied + self.failed + self.skipped + self.cancelled

    @property
    def remaining(self) -> int:
        return self.pending + self.unknown

    @property
    def fraction(self) -> float:
        return 1.0 if self.planned == 0 else min(1.0, self.done / self.planned)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id, "status": self.status, "planned": self.planned,
            "applied": self.applied, "failed": self.failed, "skipped": self.skipped, "cancelled": self.cancelled,
            "pending": self.pending, "unknown": self.unknown, "done": self.done, "remaining": self.remaining,
            "plan_skipped": self.plan_skipped, "rate_per_s": round(self.rate_per_s, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1), "error": self.error,
            "differs_from_preview": self.differs_from_preview, "unobserved": self.unobserved,
        }


@dataclass(frozen=True)
class WorkItem:
    """An unfinished item as the worker needs it."""

    user_id: str
    upn: str | None
    before_state: str | None
    requested_state: str
    expected_state: str
    status: str
    attempts: int
    read_state: str | None


@dataclass
class Outcome:
    """A move of one item to ``status``; unset fields keep their journaled value."""

    user_id: str
    status: str
    read_state: str | None = None
    after_state: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    attempts: int = 0
    error_status: int | None = None
    event_state: str | None = None
    detail: str | None = None
    at: int | None = None
    """When it happened (ns, the store's clock); None: when :func:`settle` journals it."""


def _operation(row: Any, now: int | None = None) -> Operation:
    live = row.status == "running" and owner_alive(row.id, row.owner, row.heartbeat_at, now)
    return Operation(
        id=row.id, tenant_id=row.tenant_id, kind=row.kind, status=row.status, requested_state=row.requested_state,
        source=row.source, label=row.label, actor=row.actor, actor_kind=row.actor_kind, undo_of=row.undo_of,
        planned=row.planned, skipped=row.skipped, summary=json.loads(row.summary) if row.summary else {},
        created_at=ts(row.created_at), started_at=ts(row.started_at), finished_at=ts(row.finished_at),
        heartbeat_at=ts(row.heartbeat_at), owner=row.owner, cancel_requested=bool(row.cancel_requested),
        error=row.error, live=live,
    )


def _operation_row(conn: Connection, operation_id: int) -> Any:
    row = conn.execute(sa.select(operations).where(operations.c.id == operation_id)).first()
    if row is None:
        raise OperationNotFound(f"there is no operation {operation_id}")
    return row


def get_operation(store: Store, operation_id: int) -> Operation:
    """One operation; ``OperationNotFound`` when the id names none."""
    with reading(store) as conn:
        return _operation(_operation_row(conn, operation_id))


def list_operations(store: Store, tenant_id: str | None = None, *, limit: int | None = None) -> list[Operation]:
    """Operations, newest first (all tenants when ``tenant_id`` is None)."""
    query = sa.select(operations).order_by(operations.c.id.desc())
    if tenant_id is not None:
        query = query.where(operations.c.tenant_id == tenant_id)
    if limit is not None:
        query = query.limit(limit)
    with reading(store) as conn:
        rows = conn.execute(query).all()
    now = wall_ns()
    return [_operation(r, now) for r in rows]


def _counts(conn: Connection, operation_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    t = operation_items
    out: dict[int, dict[str, int]] = {oid: {} for oid in operation_ids}
    if not operation_ids:
        return out
    planned_skip = t.c.expected_state.is_(None)
    rows = conn.execute(
        sa.select(t.c.operation_id, t.c.status, planned_skip.label("plan_skip"), sa.func.count())
        .where(t.c.operation_id.in_(list(operation_ids)))
        .group_by(t.c.operation_id, t.c.status, planned_skip)
    ).all()
    for oid, status, plan_skip, count in rows:
        key = "plan_skipped" if plan_skip else status
        out[oid][key] = out[oid].get(key, 0) + int(count)
    return out


def operations_frame(store: Store, tenant_id: str | None = None, *, limit: int | None = None) -> pd.DataFrame:
    """The history table: id, kind, status, requested state, actor, counts, started, finished."""
    ops = list_operations(store, tenant_id, limit=limit)
    with reading(store) as conn:
        counts = _counts(conn, [o.id for o in ops])
    rows = []
    for op in ops:
        c = counts.get(op.id, {})
        rows.append({
            "id": op.id, "kind": op.kind, "status": op.display_status, "requested_state": op.requested_state,
            "source": op.source, "label": op.label, "actor": op.actor, "undo_of": op.undo_of,
            "planned": op.planned, "applied": c.get("applied", 0), "failed": c.get("failed", 0),
            "skipped": op.skipped + c.get("skipped", 0), "cancelled": c.get("cancelled", 0),
            "unfinished": c.get("pending", 0) + c.get("sending", 0),
            "created_at": op.created_at, "started_at": op.started_at, "finished_at": op.finished_at,
        })
    dtypes = {"id": "int64", "kind": "string", "status": "string", "requested_state": "string", "source": "string",
              "label": "string", "actor": "string", "undo_of": "Int64", "planned": "int64", "applied": "int64",
              "failed": "int64", "skipped": "int64", "cancelled": "int64", "unfinished": "int64"}
    frame = pd.DataFrame(rows, columns=[*dtypes, "created_at", "started_at", "finished_at"])
    frame = frame.astype(dtypes)
    for name in ("created_at", "started_at", "finished_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


_items = operation_items.c
_DIFFERS = sa.or_(
    sa.and_(_items.status == "applied", _items.after_state.is_not(None), _items.after_state != _items.expected_state),
    sa.and_(_items.status == "skipped", _items.expected_state.is_not(None), _items.read_state.is_not(None),
            _items.read_state != _items.expected_state),
)
"""Planned items whose observed state is not the expected one (as :func:`item_outcomes` decides)."""


def operation_progress(store: Store, operation_id: int) -> OperationProgress:
    """Progress from the journal: counts, the rate over the last :data:`RATE_WINDOW_S` s, and ETA."""
    now = now_ns(store)  # finished_at and started_at are on the store's clock
    t = operation_items
    with reading(store) as conn:
        row = _operation_row(conn, operation_id)
        counts = _counts(conn, [operation_id])[operation_id]
        horizon = now - int(RATE_WINDOW_S * 1e9)
        recent = conn.execute(
            sa.select(sa.func.count()).where(
                t.c.operation_id == operation_id, t.c.finished_at >= horizon,
                t.c.status.in_(("applied", "failed")),
            )
        ).scalar() or 0
        differs = conn.execute(sa.select(sa.func.count()).where(t.c.operation_id == operation_id, _DIFFERS)
                               ).scalar() or 0
        unobserved = conn.execute(sa.select(sa.func.count()).where(
            t.c.operation_id == operation_id, t.c.status == "applied", t.c.after_state.is_(None),
            t.c.expected_state.is_not(None))).scalar() or 0
    op = _operation(row)
    pending, unknown = counts.get("pending", 0), counts.get("sending", 0)
    rate = 0.0
    if op.status == "running" and op.live and row.started_at is not None:
        elapsed = max(1e-3, min(RATE_WINDOW_S, (now - row.started_at) / 1e9))
        rate = recent / elapsed
    remaining = pending + unknown
    eta = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
    return OperationProgress(
        operation_id=operation_id, status=op.display_status, planned=op.planned,
        applied=counts.get("applied", 0), failed=counts.get("failed", 0), skipped=counts.get("skipped", 0),
        cancelled=counts.get("cancelled", 0), pending=pending, unknown=unknown,
        plan_skipped=counts.get("plan_skipped", 0), rate_per_s=rate, eta_s=eta if op.status == "running" else None,
        started_at=op.started_at, finished_at=op.finished_at, error=op.error, live=op.live,
        differs_from_preview=int(differs), unobserved=int(unobserved),
    )


def operation_items_frame(
    store: Store, operation_id: int, *, statuses: Iterable[str] | None = None
) -> pd.DataFrame:
    """Every item of an operation (or those in ``statuses``), in plan order."""
    t = operation_items
    query = sa.select(*(t.c[name] for name in ITEM_COLUMNS)).where(t.c.operation_id == operation_id)
    if statuses is not None:
        query = query.where(t.c.status.in_(list(statuses)))
    with reading(store) as conn:
        _operation_row(conn, operation_id)
        rows = conn.execute(query.order_by(t.c.seq)).all()
    return _frame(rows, ITEM_COLUMNS)


def item_events(store: Store, operation_id: int, user_id: str | None = None) -> pd.DataFrame:
    """The append-only event log of an operation (or of one of its users), oldest first."""
    e = operation_events
    query = sa.select(*(e.c[name] for name in EVENT_COLUMNS)).where(e.c.operation_id == operation_id)
    if user_id is not None:
        query = query.where(e.c.user_id == user_id)
    with reading(store) as conn:
        rows = conn.execute(query.order_by(e.c.id)).all()
    return _frame(rows, EVENT_COLUMNS)


def _frame(rows: Sequence[Any], dtypes: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(dtypes))
    for name, dtype in dtypes.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name].astype("Int64"), unit="ns", utc=True)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


# -- writing (the engine's side) -----------------------------------------------------------------

def _describe(row: Any, live: bool) -> str:
    what = f"{row.kind} to {row.requested_state}" if row.requested_state else row.kind
    started = ts(row.created_at).strftime("%Y-%m-%d %H:%M UTC")
    state = "running" if live else "interrupted"
    return f"operation {row.id} ({what} by {row.actor}, started {started}, {state})"


def check_conflicts(conn: Connection, tenant_id: str, user_ids: set[str], *, exclude: int | None = None) -> None:
    """Refuse (``OperationConflict`` naming it) if a running or interrupted operation holds any of these users."""
    if not user_ids:
        return
    o, t = operations, operation_items
    query = sa.select(o).where(o.c.tenant_id == tenant_id, o.c.status == "running").order_by(o.c.id)
    now = wall_ns()
    for row in conn.execute(query).all():
        if row.id == exclude:
            continue
        held = conn.execute(
            sa.select(t.c.user_id, t.c.upn).where(t.c.operation_id == row.id, t.c.status.in_(UNFINISHED))
        ).all()
        overlap = [(uid, upn) for uid, upn in held if uid in user_ids]
        if overlap:
            live = owner_alive(row.id, row.owner, row.heartbeat_at, now)
            example = overlap[0][1] or overlap[0][0]
            advice = "wait for it to finish or cancel it" if live else "resume it or cancel it first"
            raise OperationConflict(
                f"refused: {_describe(row, live)} is still working on {len(overlap):,} of these users "
                f"(for example {example}); {advice}",
                operation_id=row.id, overlap=len(overlap),
            )


def create_operation(
    store: Store,
    the_plan: Plan,
    *,
    tenant_id: str,
    actor: Any,
    label: str | None = None,
    wave: str | None = None,
) -> int:
    """Journal a plan as a new running operation owned by this process; returns its id.

    One transaction: the overlap check against other running/interrupted operations, the operation,
    every item (changes ``pending``, the plan's skips ``skipped``) and, with ``wave``, the wave.
    """
    if wave is not None:
        wave = wave.strip()
        if not wave:
            raise WaveError("a wave needs a name")
        if the_plan.kind != "apply" or the_plan.requested_state != "enabled":
            raise WaveError("only an Enable can be named as a wave")
    now = now_ns(store)
    change_ids = the_plan.change_ids
    o, t = operations, operation_items
    with writing(store) as conn:
        require_tenant(conn, tenant_id)
        lock_tenant(conn, tenant_id)
        check_conflicts(conn, tenant_id, set(change_ids))
        if wave is not None:
            taken = conn.execute(sa.select(waves.c.id).where(waves.c.tenant_id == tenant_id,
                                                             waves.c.name == wave)).first()
            if taken:
                raise WaveError(f"there is already a wave named {wave!r}; pick another name")
        result = conn.execute(sa.insert(o).values(
            tenant_id=tenant_id, kind=the_plan.kind, status="running", requested_state=the_plan.requested_state,
            source=the_plan.source, label=label, actor=str(getattr(actor, "upn", "") or the_plan.actor),
            actor_kind=actor_kind(actor), undo_of=the_plan.undo_of, planned=len(the_plan.changes),
            skipped=len(the_plan.skipped), summary=json.dumps(the_plan.summary(), default=str),
            created_at=now, started_at=now, heartbeat_at=wall_ns(), owner=owner_id(), cancel_requested=False,
        ))
        operation_id = int(result.inserted_primary_key[0])
        rows: list[dict[str, Any]] = []
        seq = 0
        for change in the_plan.changes.itertuples(index=False):
            rows.append({"operation_id": operation_id, "user_id": change.user_id, "seq": seq, "upn": change.upn,
                         "display_name": _text(change.display_name), "before_state": change.before,
                         "requested_state": change.requested, "expected_state": change.expected,
                         "status": "pending", "reason_code": None, "reason": None, "attempts": 0,
                         "updated_at": now})
            seq += 1
        for skip in the_plan.skipped.itertuples(index=False):
            rows.append({"operation_id": operation_id, "user_id": skip.user_id, "seq": seq, "upn": _text(skip.upn),
                         "display_name": _text(skip.display_name), "before_state": _text(skip.before),
                         "requested_state": skip.requested, "expected_state": None, "status": "skipped",
                         "reason_code": skip.code, "reason": skip.reason, "attempts": 0, "updated_at": now})
            seq += 1
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(t), rows[start:start + 5000])
        if wave is not None:
            wave_id = int(conn.execute(sa.insert(waves).values(
                tenant_id=tenant_id, name=wave, source="operation", operation_id=operation_id, launched_at=now,
                actor=str(getattr(actor, "upn", "") or the_plan.actor), created_at=now,
            )).inserted_primary_key[0])
            members = [{"wave_id": wave_id, "user_id": c.user_id, "upn": c.upn}
                       for c in the_plan.changes.itertuples(index=False)]
            for start in range(0, len(members), 5000):
                conn.execute(sa.insert(wave_members), members[start:start + 5000])
    return operation_id


def _text(value: Any) -> str | None:
    return None if value is None or value is pd.NA or (isinstance(value, float) and value != value) else str(value)


def claim_operation(store: Store, operation_id: int, *, actor: Any) -> Operation | None:
    """Take over an operation to resume it; refused while its worker lives.

    Checks overlaps with other running operations again (another one may have started meanwhile)
    and makes this process the owner. With nothing left to send or to read back, there is nothing to
    take over: an operation not yet closed as complete (interrupted after its last answer, or
    cancelled or failed after every user was done) is closed as complete here, and None is returned,
    so resuming finished work is a no-op that succeeds.
    """
    o, t = operations, operation_items
    now = wall_ns()
    with writing(store) as conn:
        row = _operation_row(conn, operation_id)
        lock_tenant(conn, row.tenant_id)
        if row.status == "running" and owner_alive(row.id, row.owner, row.heartbeat_at, now):
            raise OperationStateError(f"operation {operation_id} is running right now; wait for it or cancel it")
        unfinished = {uid for (uid,) in conn.execute(
            sa.select(t.c.user_id).where(t.c.operation_id == operation_id, t.c.status.in_(UNFINISHED)))}
        unread = conn.execute(sa.select(sa.func.count()).where(
            t.c.operation_id == operation_id, t.c.status == "applied", t.c.after_state.is_(None),
            t.c.expected_state.is_not(None))).scalar() or 0
        if not unfinished and not unread:
            if row.status != "complete":
                conn.execute(sa.update(o).where(o.c.id == operation_id).values(
                    status="complete", finished_at=now, heartbeat_at=now, cancel_requested=False, error=None))
            return None
        check_conflicts(conn, row.tenant_id, unfinished, exclude=operation_id)
        conn.execute(sa.update(o).where(o.c.id == operation_id).values(
            status="running", owner=owner_id(), heartbeat_at=now, cancel_requested=False, finished_at=None,
            error=None))
        row = _operation_row(conn, operation_id)
    return _operation(row, now)


def later_applied(store: Store, operation_id: int, tenant_id: str, user_ids: Iterable[str]) -> dict[str, int]:
    """Of ``user_ids``, those a later operation of the tenant applied: user id → that operation's id."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    o, t = operations, operation_items
    with reading(store) as conn:
        rows = conn.execute(
            sa.select(t.c.user_id, t.c.operation_id)
            .join_from(t, o, t.c.operation_id == o.c.id)
            .where(o.c.tenant_id == tenant_id, o.c.id > operation_id, t.c.status == "applied")
        ).all()
    return {uid: oid for uid, oid in rows if uid in wanted}


def load_work(store: Store, operation_id: int, statuses: Sequence[str] = UNFINISHED) -> list[WorkItem]:
    """The operation's items in ``statuses`` (unfinished by default), in plan order."""
    t = operation_items
    with reading(store) as conn:
        rows = conn.execute(
            sa.select(t.c.user_id, t.c.upn, t.c.before_state, t.c.requested_state, t.c.expected_state, t.c.status,
                      t.c.attempts, t.c.read_state)
            .where(t.c.operation_id == operation_id, t.c.status.in_(list(statuses)),
                   t.c.expected_state.is_not(None))
            .order_by(t.c.seq)
        ).all()
    return [WorkItem(r.user_id, r.upn, r.before_state, r.requested_state, r.expected_state, r.status, r.attempts,
                     r.read_state) for r in rows]


def settle(store: Store, operation_id: int, outcomes: Sequence[Outcome]) -> int:
    """Journal item moves (one transaction); returns how many items actually moved.

    Final items (``applied``, ``skipped``) never move again, so an item is journaled as applied once.
    Each move appends an event.
    """
    if not outcomes:
        return 0
    t, e = operation_items, operation_events
    moved = 0
    stamped = now_ns(store)
    with writing(store) as conn:
        for start in range(0, len(outcomes), _CHUNK):
            part = outcomes[start:start + _CHUNK]
            current = dict(conn.execute(
                sa.select(t.c.user_id, t.c.status).where(
                    t.c.operation_id == operation_id, t.c.user_id.in_([x.user_id for x in part]))
            ).all())
            updates, events = [], []
            for x in part:
                status = current.get(x.user_id)
                if status is None or status in FINAL:
                    continue
                current[x.user_id] = x.status
                at = stamped if x.at is None else x.at
                finished = at if x.status in ("applied", "failed", "skipped", "cancelled") else None
                updates.append({
                    "b_op": operation_id, "b_uid": x.user_id, "b_status": x.status, "b_read": x.read_state,
                    "b_after": x.after_state, "b_code": x.reason_code, "b_reason": x.reason,
                    "b_attempts": x.attempts, "b_error": x.error_status, "b_at": at,
                    "b_sent": at if x.status == "sending" else None, "b_finished": finished,
                })
                events.append({"operation_id": operation_id, "user_id": x.user_id, "at": at, "event": x.status,
                               "state": x.event_state, "detail": x.detail})
            if not updates:
                continue
            conn.execute(
                sa.update(t)
                .where(t.c.operation_id == sa.bindparam("b_op"), t.c.user_id == sa.bindparam("b_uid"))
                .values(
                    status=sa.bindparam("b_status"),
                    read_state=sa.func.coalesce(sa.bindparam("b_read", type_=sa.String), t.c.read_state),
                    after_state=sa.func.coalesce(sa.bindparam("b_after", type_=sa.String), t.c.after_state),
                    reason_code=sa.bindparam("b_code"),
                    reason=sa.bindparam("b_reason"),
                    attempts=t.c.attempts + sa.bindparam("b_attempts", type_=sa.Integer),
                    error_status=sa.bindparam("b_error"),
                    updated_at=sa.bindparam("b_at"),
                    sent_at=sa.func.coalesce(sa.bindparam("b_sent", type_=sa.BigInteger), t.c.sent_at),
                    finished_at=sa.bindparam("b_finished"),
                ),
                updates,
            )
            conn.execute(sa.insert(e), events)
            moved += len(updates)
    return moved


STATE_WORDS = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced"}


def preview_difference(expected: str | None, observed: str | None) -> str | None:
    """"differs from the preview: expected Enforced, Graph says Enabled", or None when they agree or
    either is unknown."""
    if not expected or not observed or expected == observed:
        return None
    return (f"differs from the preview: expected {STATE_WORDS.get(expected, expected)}, "
            f"Graph says {STATE_WORDS.get(observed, observed)}")


OUTCOME_COLUMNS: dict[str, str] = {"observed": "string", "matches_preview": "boolean", "difference": "string"}
"""Columns :func:`item_outcomes` adds to the items frame."""


def item_outcomes(items: pd.DataFrame) -> pd.DataFrame:
    """The planned items of :func:`operation_items_frame` (the plan's own skips left out) with their outcome.

    ``observed`` is what Graph last reported: the state read back after an applied change, or the
    state read just before sending for an item skipped then; unknown (NA) for items not finished or
    not read back. ``matches_preview`` compares it with ``expected_state`` (NA when unknown), and
    ``difference`` words a mismatch ("differs from the preview: expected …, Graph says …").
    """
    planned = items[items["expected_state"].notna()].copy()
    observed = planned["after_state"].where(planned["status"] == "applied")
    observed = observed.where(planned["status"] != "skipped", planned["read_state"])
    planned["observed"] = observed.astype("string")
    matches = (planned["observed"] == planned["expected_state"]).astype("boolean")
    planned["matches_preview"] = matches.where(planned["observed"].notna(), pd.NA)
    planned["difference"] = pd.Series(
        [preview_difference(_text(e), _text(o)) for e, o in zip(planned["expected_state"], planned["observed"],
                                                                 strict=True)],
        index=planned.index, dtype="string")
    return planned.reset_index(drop=True)


def record_observed(store: Store, operation_id: int, observed: dict[str, tuple[str, str | None]]) -> int:
    """Journal the state Graph reported after an applied change (user id → (observed, expected)).

    It becomes the item's ``after_state`` (the outcome, never the prediction), with an ``observed``
    event whose detail says whether it matches the preview. Items not applied are left alone;
    returns how many were recorded.
    """
    if not observed:
        return 0
    t, e = operation_items, operation_events
    now = now_ns(store)
    recorded = 0
    with writing(store) as conn:
        for start in range(0, len(observed), _CHUNK):
            part = dict(list(observed.items())[start:start + _CHUNK])
            applied = {uid for (uid,) in conn.execute(
                sa.select(t.c.user_id).where(t.c.operation_id == operation_id, t.c.user_id.in_(list(part)),
                                             t.c.status == "applied"))}
            rows = [(uid, state, expected) for uid, (state, expected) in part.items() if uid in applied]
            if not rows:
                continue
            conn.execute(
                sa.update(t)
                .where(t.c.operation_id == sa.bindparam("b_op"), t.c.user_id == sa.bindparam("b_uid"))
                .values(after_state=sa.bindparam("b_after"), updated_at=sa.bindparam("b_at")),
                [{"b_op": operation_id, "b_uid": uid, "b_after": state, "b_at": now} for uid, state, _ in rows],
            )
            conn.execute(sa.insert(e), [
                {"operation_id": operation_id, "user_id": uid, "at": now, "event": "observed", "state": state,
                 "detail": preview_difference(expected, state) or "as previewed"}
                for uid, state, expected in rows])
            recorded += len(rows)
    return recorded


def unobserved(store: Store, operation_id: int) -> list[WorkItem]:
    """Applied items with no state read back yet (the read-back failed, or the process died first)."""
    t = operation_items
    with reading(store) as conn:
        rows = conn.execute(
            sa.select(t.c.user_id, t.c.upn, t.c.before_state, t.c.requested_state, t.c.expected_state, t.c.status,
                      t.c.attempts, t.c.read_state)
            .where(t.c.operation_id == operation_id, t.c.status == "applied", t.c.after_state.is_(None),
                   t.c.expected_state.is_not(None))
            .order_by(t.c.seq)
        ).all()
    return [WorkItem(r.user_id, r.upn, r.before_state, r.requested_state, r.expected_state, r.status, r.attempts,
                     r.read_state) for r in rows]


def heartbeat(store: Store, operation_id: int) -> str | None:
    """Refresh the lease. Returns why the worker must stop, else None: ``cancel`` (asked from any
    process) or ``taken_over`` (another process claimed the operation, e.g. after a lease lapse)."""
    o = operations
    with writing(store) as conn:
        result = conn.execute(sa.update(o).where(o.c.id == operation_id, o.c.owner == owner_id())
                              .values(heartbeat_at=wall_ns()))
        flag = conn.execute(sa.select(o.c.cancel_requested).where(o.c.id == operation_id)).scalar()
    if not result.rowcount:
        return "taken_over"
    return "cancel" if flag else None


def request_cancel(store: Store, operation_id: int) -> Operation:
    """Ask the operation to stop. A running one stops at its worker's next heartbeat; an interrupted
    one (no worker) is closed at once: its pending items become ``cancelled``, and items whose
    outcome is unknown stay ``sending`` (a later resume re-reads them)."""
    o = operations
    now, wall = now_ns(store), wall_ns()
    with writing(store) as conn:
        row = _operation_row(conn, operation_id)
        if row.status != "running":
            raise OperationStateError(f"operation {operation_id} is {row.status}; only a running one can be cancelled")
        conn.execute(sa.update(o).where(o.c.id == operation_id).values(cancel_requested=True))
        if not owner_alive(row.id, row.owner, row.heartbeat_at, wall):
            _close_pending(conn, operation_id, now)
            conn.execute(sa.update(o).where(o.c.id == operation_id).values(
                status="cancelled", finished_at=now, error="cancelled while interrupted"))
        row = _operation_row(conn, operation_id)
    return _operation(row, wall)


def _close_pending(conn: Connection, operation_id: int, now: int) -> None:
    t, e = operation_items, operation_events
    pending = [uid for (uid,) in conn.execute(
        sa.select(t.c.user_id).where(t.c.operation_id == operation_id, t.c.status == "pending"))]
    if not pending:
        return
    conn.execute(sa.update(t).where(t.c.operation_id == operation_id, t.c.status == "pending").values(
        status="cancelled", reason_code="cancelled", reason="cancelled before it was sent", updated_at=now,
        finished_at=now))
    for start in range(0, len(pending), 5000):
        conn.execute(sa.insert(e), [{"operation_id": operation_id, "user_id": uid, "at": now, "event": "cancelled",
                                     "state": None, "detail": "cancelled before it was sent"}
                                    for uid in pending[start:start + 5000]])


def finish_operation(store: Store, operation_id: int, *, cancelled: bool, error: str | None) -> str:
    """Close the run: pending items of a cancelled run become ``cancelled``; returns the final status.

    ``failed`` when the run aborted (``error``), ``cancelled`` when asked to stop, ``partial`` when
    any item failed or is still unknown, else ``complete``.
    """
    o, t = operations, operation_items
    now = now_ns(store)
    with writing(store) as conn:
        if cancelled or error:
            _close_pending(conn, operation_id, now)
        left = conn.execute(
            sa.select(sa.func.count()).where(t.c.operation_id == operation_id,
                                             t.c.status.in_(("pending", "sending", "failed")))
        ).scalar() or 0
        status = "failed" if error else "cancelled" if cancelled else "partial" if left else "complete"
        row = _operation_row(conn, operation_id)
        summary = json.loads(row.summary) if row.summary else {}
        summary[SNAPSHOT_AT_FINISH] = conn.execute(  # clock-free: a snapshot begun later has a higher id
            sa.select(sa.func.max(snapshots.c.id)).where(snapshots.c.tenant_id == row.tenant_id)).scalar() or 0
        conn.execute(sa.update(o).where(o.c.id == operation_id).values(
            status=status, finished_at=now, heartbeat_at=wall_ns(), error=error,
            summary=json.dumps(summary, default=str)))
    return status
