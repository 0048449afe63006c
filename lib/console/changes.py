"""Previews of a change: re-read the chosen users' states from Graph, load the protections, make the plan.

The snapshot may be hours old and miss what operations changed since, so every preview reads the
current state of exactly the users it plans for (batched, on the read budget) before planning.

The re-read is the slow part (minutes for a whole large tenant), so each preview reports it as it goes
(``on_progress(read, total)``) and stops when ``cancel`` is set, raising ``OperationCancelled`` rather than
planning from a half-read selection; ``lib.console.plan_jobs`` runs a large one in the background.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from lib import rollout
from lib.console.legacy_warnings import not_ready_members, tenant_evidence, with_legacy_warnings
from lib.console.workspace import Workspace
from lib.graph import CancelToken, OperationCancelled
from lib.rollout.states import ReadProgress


def fresh_states(ws: Workspace, frame: pd.DataFrame, user_ids: Iterable[str], *,
                 on_progress: ReadProgress | None = None, cancel: CancelToken | None = None) -> pd.DataFrame:
    """``frame`` with the users' states as Graph gives them now; a cancelled read plans nothing (its unread
    users would otherwise show up as "state unknown" skips in a plan nobody asked for)."""
    fresh = rollout.with_current_states(ws.require_gateway(), frame, user_ids, cancel=cancel,
                                        read_at=pd.Timestamp(ws.clock()), on_progress=on_progress)
    if cancel is not None and cancel.cancelled:
        raise OperationCancelled("The preview was cancelled before every state was read; no plan was made.")
    return fresh


def stamped(ws: Workspace, preview: rollout.Plan) -> rollout.Plan:
    """The preview dated by the workspace's clock (the demo tenant's time in demo mode)."""
    return dataclasses.replace(preview, created_at=pd.Timestamp(ws.clock()))


def _due(ws: Workspace, frame: pd.DataFrame, targets: Mapping[str, str]) -> frozenset[str]:
    """Users an Enable would leave Enabled (disabled by an admin since they registered): Entra's rule."""
    enabling = [uid for uid, state in targets.items() if state == "enabled"]
    return rollout.awaiting_reregistration(ws.store, ws.tenant_id, frame, enabling) if enabling else frozenset()


def preview_change(ws: Workspace, frame: pd.DataFrame, user_ids: Sequence[str], state: str, *,
                   source: str = "selection", on_progress: ReadProgress | None = None,
                   cancel: CancelToken | None = None) -> rollout.Plan:
    """Plan setting ``user_ids`` (ids in ``frame``, the latest snapshot) to ``state``, from their states now."""
    ids = list(user_ids)
    fresh = fresh_states(ws, frame, ids, on_progress=on_progress, cancel=cancel)
    preview = rollout.plan(fresh, state, ids, protected=rollout.active_protection(ws.store, ws.tenant_id),
                           actor=ws.actor, source=source, reregistration_due=_due(ws, fresh, dict.fromkeys(ids, state)))
    return stamped(ws, with_legacy_warnings(ws, preview))


def preview_csv(ws: Workspace, frame: pd.DataFrame, imported: rollout.CsvImport, *,
                reread: bool = True, on_progress: ReadProgress | None = None,
                cancel: CancelToken | None = None) -> rollout.Plan:
    """Plan an imported CSV; ``reread=False`` when ``frame`` was read from Graph moments ago."""
    if reread:
        frame = fresh_states(ws, frame, imported.targets, on_progress=on_progress, cancel=cancel)
    preview = rollout.plan_from_csv(frame, imported, protected=rollout.active_protection(ws.store, ws.tenant_id),
                                    actor=ws.actor, reregistration_due=_due(ws, frame, imported.targets))
    return stamped(ws, with_legacy_warnings(ws, preview))


def preview_wave_enforcement(ws: Workspace, frame: pd.DataFrame, wave_id: int, *,
                             member_ids: Sequence[str] | None = None, include_not_ready: bool = False,
                             on_progress: ReadProgress | None = None,
                             cancel: CancelToken | None = None) -> rollout.Plan:
    """The one "enforce a wave" plan: by default the members who registered and are still Enabled
    (Graph does not promote re-enabled users itself), the ones ready to enforce proposed and the rest
    listed as ``not_ready`` skips with their reasons (``include_not_ready`` proposes them too); with
    ``member_ids``, exactly those members (e.g. the stragglers chosen on the Registration progress page)."""
    members = rollout.wave_member_ids(ws.store, wave_id)
    chosen = members if member_ids is None else [m for m in member_ids if m in set(members)]
    fresh = fresh_states(ws, frame, chosen, on_progress=on_progress, cancel=cancel)
    protection = rollout.active_protection(ws.store, ws.tenant_id)
    found = tenant_evidence(ws)
    if member_ids is None:
        held = not_ready_members(found, fresh, rollout.promotable_ids(ws.store, wave_id, fresh))
        preview = rollout.promote_plan(ws.store, ws.tenant_id, wave_id, fresh, protected=protection, actor=ws.actor,
                                       not_ready=held, include_not_ready=include_not_ready)
    else:
        preview = rollout.plan(fresh, "enforced", chosen, protected=protection, actor=ws.actor,
                               source="wave_stragglers")
    return stamped(ws, with_legacy_warnings(ws, preview, found))


def preview_undo(ws: Workspace, frame: pd.DataFrame, operation_id: int) -> rollout.Plan:
    """Plan putting back what ``operation_id`` changed; users who moved on since are shown, not reverted."""
    return stamped(ws, rollout.undo_preview(ws.store, ws.require_gateway(), operation_id, frame=frame,
                                             actor=ws.actor,
                                             protected=rollout.active_protection(ws.store, ws.tenant_id)))
