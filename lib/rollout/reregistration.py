"""Who Entra will leave Enabled when enabled again: users an admin disabled since they last registered.

Entra's rule (docs/graph.md, *Per-user MFA lifecycle*): enabling a user with a registered second
factor makes them Enforced at once, except a user whom an admin disabled (from Enabled or Enforced)
and who has not registered again since: they stay Enabled until they re-register, or until an admin
sets Enforced. Graph shows no such flag, so the console rebuilds it from what it has seen itself:

- its own journal: applied changes to Disabled from Enabled/Enforced (a *disable*), and any state
  observed as Enforced (which clears the flag: it is only reachable by registering or by an admin);
- the tenant's snapshots: a version whose state went to Disabled from Enabled/Enforced (a disable),
  one that became Enforced (clears), one that shows a second factor more than the version before (a
  registration, which clears).

A snapshot only brackets when something happened: after the snapshot before it (which, as a version
is stored only when a fact changes, still saw the old facts) and before its own time.
A user awaits re-registration when no clearing event *certainly* follows their latest disable; when
the two cannot be ordered, the disable wins (the stricter of Entra's two outcomes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from lib.columns import METHODS_SEPARATOR, ids_among
from lib.directory.rows import NOT_SECOND_FACTORS
from lib.rollout._db import reading
from lib.store import Store
from lib.store.schema import operation_items, operations

__all__ = ["awaiting_reregistration"]

ACTIVE = ("enabled", "enforced")
DISABLE, CLEAR = "disable", "clear"

Event = tuple[str, str, int, int]
"""(user id, DISABLE or CLEAR, earliest and latest instant it can have happened, ns since the epoch)."""


def awaiting_reregistration(store: Store, tenant_id: str, frame: pd.DataFrame,
                            user_ids: Iterable[str]) -> frozenset[str]:
    """Of ``user_ids``, those registered in ``frame`` whom an admin disabled since they last registered.

    Only registered users matter (for anyone else Enable gives Enabled in any case), so only they are
    looked up: one journal query and one bulk read of their stored versions.
    """
    wanted = set(map(str, user_ids))
    rows = frame[ids_among(frame["id"], wanted) & frame["registered"].astype(bool).to_numpy()]
    ids = sorted(set(rows["id"].astype(str)))
    if not ids:
        return frozenset()
    disabled: dict[str, int] = {}
    clears: dict[str, list[int]] = {}
    for uid, kind, earliest, latest in (*_journal_events(store, tenant_id, ids),
                                         *_snapshot_events(store, tenant_id, ids)):
        if kind == DISABLE:
            disabled[uid] = max(latest, disabled.get(uid, latest))
        else:
            clears.setdefault(uid, []).append(earliest)
    return frozenset(uid for uid, at in disabled.items() if not any(c >= at for c in clears.get(uid, ())))


def _journal_events(store: Store, tenant_id: str, user_ids: list[str]) -> list[Event]:
    """The console's own applied changes: exact instants."""
    o, t = operations, operation_items
    out: list[Event] = []
    with reading(store) as conn:
        for start in range(0, len(user_ids), 500):
            chunk = user_ids[start:start + 500]
            rows = conn.execute(
                sa.select(t.c.user_id, t.c.finished_at, t.c.read_state, t.c.before_state, t.c.after_state)
                .join_from(t, o, t.c.operation_id == o.c.id)
                .where(o.c.tenant_id == tenant_id, t.c.status == "applied", t.c.user_id.in_(chunk),
                       t.c.finished_at.is_not(None))
            ).all()
            for row in rows:
                before = row.read_state or row.before_state
                at = int(row.finished_at)
                if row.after_state == "disabled" and before in ACTIVE:
                    out.append((row.user_id, DISABLE, at, at))
                elif row.after_state == "enforced":
                    out.append((row.user_id, CLEAR, at, at))
    return out


def _second_factors(methods: Any) -> frozenset[str]:
    if not isinstance(methods, str) or not methods:
        return frozenset()
    return frozenset(m for m in methods.split(METHODS_SEPARATOR) if m and m not in NOT_SECOND_FACTORS)


def _snapshot_events(store: Store, tenant_id: str, user_ids: list[str]) -> list[Event]:
    """What consecutive stored versions of a user show, between the two versions' times."""
    versions = store.versions_for_users(tenant_id, user_ids)
    out: list[Event] = []
    if versions.empty:
        return out
    # A version is written only when a fact changed, so the snapshot just before it still saw the old facts.
    times = sorted((s.id, int(s.started_at.value)) for s in store.list_snapshots(tenant_id)
                   if s.status == "complete")
    seen_before = {sid: times[i - 1][1] for i, (sid, _at) in enumerate(times) if i}
    previous: dict[str, Any] = {}
    for row in versions.itertuples(index=False):
        uid = str(row.id)
        last = previous.get(uid)
        previous[uid] = row
        if row.removed or last is None:
            continue
        span = (seen_before.get(int(row.snapshot_id), int(last.snapshot_at.value)), int(row.snapshot_at.value))
        if row.state == "disabled" and last.state in ACTIVE:
            out.append((uid, DISABLE, *span))
        elif row.state == "enforced" and last.state != "enforced":
            out.append((uid, CLEAR, *span))
        gained = _second_factors(row.methods) - _second_factors(last.methods)
        more = int(row.method_count) > int(last.method_count) and bool(_second_factors(row.methods))
        if gained or (more and row.methods == last.methods):
            out.append((uid, CLEAR, *span))
    return out
