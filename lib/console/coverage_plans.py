"""The two protection plans as use cases: preview who moves off per-user MFA, or who closes the gap.

Whom each plan picks is decided from the latest snapshot's coverage (``lib.rollout.coverage_plans``); the
chosen users' per-user states are then re-read from Graph, as for every preview, and the plan is the usual
one (``lib.rollout.plan``): confirmed with ``start_change``, journaled, verified by reading back, undone with
``preview_undo``. Protected accounts are skipped by the plan itself; the role is checked when it starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from lib import rollout
from lib.console.changes import fresh_states, stamped
from lib.console.legacy_warnings import with_legacy_warnings
from lib.console.protection_status import protection_status
from lib.console.workspace import Workspace
from lib.exports import to_csv_bytes
from lib.protection import CaAvailability, CoveredBy
from lib.rollout.coverage_plans import (
    CoverageSelection,
    close_gap_selection,
    move_off_selection,
    with_coverage_skips,
)

__all__ = ["CoveragePreview", "preview_close_gap", "preview_move_off_per_user"]

GAP_STATES = ("enabled", "enforced")


@dataclass(frozen=True)
class CoveragePreview:
    """A protection plan's preview: the per-user plan, and what covers each user it considered."""

    plan: rollout.Plan
    selection: CoverageSelection

    @property
    def recommendation(self) -> str:
        return self.selection.recommendation

    @property
    def route(self) -> str:
        return self.selection.route

    def coverage_of_changes(self) -> pd.DataFrame:
        """Each user the plan changes, with the coverage (and policy) behind the change."""
        return self.selection.coverage_of(self.plan.change_ids)

    def gap_list(self) -> pd.DataFrame:
        """The users in the gap (targets), for a Conditional Access change: UPN, name, coverage."""
        return self.selection.coverage_of(self.selection.target_ids).loc[:, ["upn", "display_name", "coverage"]]

    def gap_list_csv(self) -> bytes:
        return to_csv_bytes(self.gap_list())


def preview_move_off_per_user(ws: Workspace, frame: pd.DataFrame,
                              user_ids: Iterable[str] | None = None) -> CoveragePreview:
    """Plan setting per-user MFA Disabled for users covered cleanly by Conditional Access (all cloud apps) or
    security defaults who registered; ``user_ids`` narrows it to a selection (default: the whole snapshot)."""
    selection = move_off_selection(frame, user_ids)
    targets = list(selection.target_ids)
    fresh = fresh_states(ws, frame, targets)
    preview = rollout.plan(fresh, "disabled", targets, protected=rollout.active_protection(ws.store, ws.tenant_id),
                           actor=ws.actor, source=selection.source)
    return CoveragePreview(stamped(ws, with_coverage_skips(preview, fresh, selection)), selection)


def tenant_has_conditional_access(frame: pd.DataFrame) -> bool:
    """False when the snapshot says Conditional Access is unavailable (no Entra ID P1) for anyone."""
    return not bool((frame["covered_by"].astype("string") == CoveredBy.CA_UNAVAILABLE.value).fillna(False).any())


def preview_close_gap(ws: Workspace, frame: pd.DataFrame, state: str = "enforced",
                      user_ids: Iterable[str] | None = None) -> CoveragePreview:
    """Plan Enabling or Enforcing per-user MFA for users covered by nothing; the preview also says whether a
    Conditional Access change is the better fix (where the tenant has Conditional Access)."""
    if state not in GAP_STATES:
        raise rollout.RolloutError(f"Closing the gap sets per-user MFA Enabled or Enforced, not {state!r}.",
                                   code="bad_state")
    status = protection_status(ws)
    ca_available = (status.ca_availability is CaAvailability.AVAILABLE if status.evaluated
                    else tenant_has_conditional_access(frame))
    selection = close_gap_selection(frame, user_ids, ca_available=ca_available)
    targets = list(selection.target_ids)
    fresh = fresh_states(ws, frame, targets)
    due = rollout.awaiting_reregistration(ws.store, ws.tenant_id, fresh, targets) if state == "enabled" and targets \
        else frozenset()
    preview = rollout.plan(fresh, state, targets, protected=rollout.active_protection(ws.store, ws.tenant_id),
                           actor=ws.actor, source=selection.source, reregistration_due=due)
    preview = with_legacy_warnings(ws, with_coverage_skips(preview, fresh, selection))
    return CoveragePreview(stamped(ws, preview), selection)
