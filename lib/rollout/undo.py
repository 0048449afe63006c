"""Undo an operation: restore the before-states of the users it changed, with its own preview.

The preview re-reads every changed user's current state from Graph. A user still in the state the
operation left is put back; a user who moved on since (registered and became Enforced, or someone
changed them) is shown and skipped, never blindly reverted. The undo is itself an operation, with
its journal, progress, resume and — if need be — its own undo.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lib.columns import STATES
from lib.graph import GraphGateway
from lib.rollout import journal as j
from lib.rollout.errors import OperationStateError
from lib.rollout.plan import Plan, PlanWarning, plan
from lib.rollout.reregistration import awaiting_reregistration
from lib.rollout.states import with_current_states

__all__ = ["undo_preview"]


def undo_preview(
    store: Any,
    gateway: GraphGateway,
    operation_id: int,
    *,
    frame: pd.DataFrame,
    actor: Any,
    protected: Any = None,
) -> Plan:
    """The plan of undoing ``operation_id`` (kind ``undo``), from states re-read now.

    ``frame`` (the latest snapshot) supplies names, registration and account facts; its ``state``
    is replaced by what Graph says now. Start it with ``start_operation`` like any plan. Raises
    ``OperationStateError`` while the operation still runs, or when it applied nothing.
    """
    operation = j.get_operation(store, operation_id)
    if operation.status == "running" and operation.live:
        raise OperationStateError(f"operation {operation_id} is still running: wait for it or cancel it first")
    items = j.operation_items_frame(store, operation_id)
    applied = items[items["status"] == "applied"]
    if applied.empty:
        raise OperationStateError(f"operation {operation_id} changed nobody: there is nothing to undo")
    ids = applied["user_id"].astype(str).tolist()
    targets: dict[str, str] = {}
    left: dict[str, str] = {}
    for row in applied.itertuples(index=False):
        before = row.read_state if not pd.isna(row.read_state) else row.before_state
        after = row.after_state if not pd.isna(row.after_state) else row.expected_state
        if isinstance(before, str) and before in STATES:
            targets[str(row.user_id)] = before
            left[str(row.user_id)] = str(after)
    now = with_current_states(gateway, frame, [uid for uid in ids if uid in targets],
                              read_at=pd.Timestamp(store.clock()))
    due = awaiting_reregistration(store, operation.tenant_id, now,
                                  [uid for uid, state in targets.items() if state == "enabled"])
    undo = plan(now, targets=targets, left_states=left, kind="undo", undo_of=operation_id, protected=protected,
                actor=actor, source="undo", reregistration_due=due)
    changes = items[items["expected_state"].notna()]
    untouched = len(changes) - len(targets)
    if untouched:
        message = (f"{untouched:,} of the operation's planned users were not changed by it "
                   "(skipped, failed or unfinished): the undo leaves them alone")
        not_applied = tuple(changes.loc[changes["status"] != "applied", "user_id"].astype(str))
        undo = _with_warning(undo, PlanWarning("not_applied", message, untouched, not_applied))
    return undo


def _with_warning(the_plan: Plan, warning: PlanWarning) -> Plan:
    from dataclasses import replace

    return replace(the_plan, warnings=(*the_plan.warnings, warning))
