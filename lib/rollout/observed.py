"""What the journal observed after the latest snapshot: the states pages show until the next snapshot.

A finished operation's applied items were read back from (or confirmed by) Microsoft Graph, and its
re-checked skips were read just before sending. Those are newer than a snapshot that began before the
operation ended, so the Users page shows them instead of the snapshot's stale ones. Which operations
count is decided without clocks (the demo tenant runs on a simulated one): the journal records the
tenant's highest snapshot id when a run finishes (``SNAPSHOT_AT_FINISH``), and a snapshot with a higher
id began after that.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from lib.columns import STATES
from lib.rollout._db import reading
from lib.rollout.journal import SNAPSHOT_AT_FINISH, list_operations
from lib.store import Store
from lib.store.schema import operation_items

__all__ = ["ObservedStates", "observed_since"]

RECENT_OPERATIONS = 200
"""Newest operations looked at; older ones finished long before any snapshot worth showing."""


@dataclass(frozen=True)
class ObservedStates:
    """Per-user states the journal saw after the snapshot, and the finished operations they come from."""

    operation_ids: tuple[int, ...]
    """Finished operations newer than the snapshot (ascending); empty when the snapshot is current."""
    states: dict[str, str]
    """User id → observed state (the latest operation's wins)."""
    source: dict[str, int]
    """User id → the operation that observed it."""

    @property
    def empty(self) -> bool:
        return not self.states


NOTHING = ObservedStates((), {}, {})


def observed_since(store: Store, tenant_id: str, snapshot_id: int) -> ObservedStates:
    """The states finished operations observed that the snapshot ``snapshot_id`` may not show."""
    newer = [op.id for op in list_operations(store, tenant_id, limit=RECENT_OPERATIONS)
             if op.finished and int(op.summary.get(SNAPSHOT_AT_FINISH, -1)) >= snapshot_id]
    if not newer:
        return NOTHING
    newer.sort()
    t = operation_items
    observed = sa.case(
        (t.c.status == "applied", sa.func.coalesce(t.c.after_state, t.c.expected_state)),
        else_=t.c.read_state,
    )
    with reading(store) as conn:
        rows = conn.execute(
            sa.select(t.c.operation_id, t.c.user_id, observed.label("state"))
            .where(t.c.operation_id.in_(newer), t.c.status.in_(("applied", "skipped", "failed")))
            .order_by(t.c.operation_id, t.c.finished_at, t.c.seq)
        ).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["operation_id", "user_id", "state"])
    frame = frame[frame["state"].isin(STATES)].drop_duplicates("user_id", keep="last")
    return ObservedStates(tuple(newer), dict(zip(frame["user_id"], frame["state"], strict=True)),
                          {u: int(o) for u, o in zip(frame["user_id"], frame["operation_id"], strict=True)})
