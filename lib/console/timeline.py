"""A user's timeline: rollout waves, this console's journal, and what consecutive snapshots revealed."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from lib import progress, rollout
from lib.console.workspace import Workspace


def user_timeline(ws: Workspace, user_id: str, *, waves: Iterable[rollout.Wave] = ()) -> pd.DataFrame:
    """Every recorded event of ``user_id``, oldest first; ``waves`` are the waves the user is a member of."""
    history = ws.store.user_history(ws.tenant_id, user_id)
    times = [s.started_at for s in ws.store.list_snapshots(ws.tenant_id) if s.status == "complete"]
    operations = rollout.list_operations(ws.store, ws.tenant_id)
    events = [rollout.item_events(ws.store, op.id, user_id).assign(operation_id=op.id) for op in operations]
    events = [e for e in events if not e.empty]
    member_of = list(waves)
    wave_names = {w.operation_id: w.name for w in rollout.list_waves(ws.store, ws.tenant_id)
                  if w.operation_id is not None}
    return progress.user_timeline(
        progress.wave_timeline(member_of),
        progress.journal_timeline(operations, pd.concat(events, ignore_index=True) if events else None,
                                  wave_names=wave_names),
        progress.history_timeline(history, times),
    )
