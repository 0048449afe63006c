"""Users: filter the tenant's users, select some (or all that match), preview a change of their MFA state,
confirm it, and watch it apply. Or import a CSV of UPNs and take it through the same preview.

Renders only: filters are ``lib.users_filters`` (pure), plans and operations ``lib.rollout``, the data the
latest snapshot in the store (never Graph on page load; the selected users' states are re-read from
Graph when a plan is made). The scope is the session's, shared with the Overview page.

Session-state contract (other pages and tests):

- filters handed over by another page (``lib.ui.handoff.take_users_filter``, e.g. the Overview's "admins
  without a registered method" tile): taken once; they become the filters, with a banner naming the page.
- ``users_table``: the table's selection state (``{"selection": {"rows": [...]}}``, positions in the rows
  shown). It is cleared whenever the filters change, so a selection never silently moves to other users.
- ``users_operation``: the id of the operation started here (its progress is shown until dismissed).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_change
from lib.console.sign_in_evidence import SignInEvidence, evidence_frame, sign_in_evidence
from lib.errors import describe
from lib.overview import protected_upns
from lib.scope import scope_mask
from lib.ui import navigation
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.csv_import_panel import csv_import_panel
from lib.ui.handoff import take_users_filter
from lib.ui.plan_job import ask_preview, follow_preview, selection_digest
from lib.ui.rollout_widgets import (
    VERBS,
    can_apply,
    md,
    render_plan,
    watch_operation,
)
from lib.ui.scope_controls import scope_controls
from lib.ui.sidebar import start_session_refresh
from lib.ui.snapshot_views import snapshot_view
from lib.ui.upn_list_note import upn_list_note
from lib.ui.users_filter_panel import apply_preset, filter_panel, preset_banner, reset_filters
from lib.ui.users_table import (
    counts_line,
    exports,
    observed_note,
    observed_overlay,
    reset_selection_on_change,
    selection,
    signature,
)
from lib.users_filters import (
    PreparedUsers,
    UserFilters,
    describe_filters,
    prepare_users,
)

PREFIX = "users"
ACTION_HELP = {
    "enabled": "Users must register a second factor at their next sign-in; those already registered become "
               "Enforced at once, except those an admin disabled since they registered (Entra's rules).",
    "enforced": "Users must answer MFA at every sign-in; legacy clients then need app passwords.",
    "disabled": "Turn per-user MFA off for these users.",
}


# --- data ----------------------------------------------------------------------------------------


def _prepared(app: Console, snapshot: Any, seen: SignInEvidence) -> PreparedUsers:
    """The snapshot's users with their sign-in evidence, sorted, indexed for search, with the filters' choices:
    once per (snapshot, sign-in log read), shared read-only by every session, and only the latest snapshot's
    kept (``lib.ui.snapshot_views``)."""
    return snapshot_view(app, snapshot.tenant_id, snapshot.id, ("users table", seen.version),
                         lambda: prepare_users(evidence_frame(seen, users_frame(app, snapshot)), seen.as_of))


# --- actions -------------------------------------------------------------------------------------


PLACE = "users:selection"


def selection_key(snapshot_id: int, ids: list[str]) -> tuple[int, tuple[int, str]]:
    """What is selected, as a small value: a preview made in the background answers only this selection."""
    return snapshot_id, selection_digest(ids)


def _plan_for(app: Console, frame: pd.DataFrame, ids: list[str], state: str, *, key: Any, title: str, label: str,
              source: str = "selection") -> None:
    ws = workspace(app)

    def build(progress: Any, cancel: Any) -> rollout.Plan:
        return preview_change(ws, frame, ids, state, source=source, on_progress=progress, cancel=cancel)

    try:
        with st.spinner(f"Reading the current MFA state of {len(ids):,} users from Microsoft Graph…"):
            ask_preview(app, PREFIX, place=PLACE, selection=key, size=len(ids), build=build, title=title,
                        label=label)
    except Exception as err:  # the session's sign-in or store trouble: say what, never a traceback
        st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")


def _actions(app: Console, frame: pd.DataFrame, ids: list[str], everyone: bool, filters: UserFilters,
             key: Any) -> None:
    writer, reason = can_apply()
    st.markdown("**Change the per-user MFA state of the selection**")
    cols = st.columns(3)
    count = len(ids)
    who = f"all {count:,} matching" if everyone else f"{count:,} selected"
    for col, state, icon in zip(cols, ("enabled", "enforced", "disabled"),
                                (":material/how_to_reg:", ":material/lock:", ":material/lock_open:"), strict=True):
        verb = VERBS[state]
        if col.button(f"{verb}…", key=f"users_action_{state}", icon=icon, width="stretch",
                      disabled=not writer or count == 0,
                      help=reason if not writer else f"Preview: {verb.lower()} {who} users. {ACTION_HELP[state]}"):
            described = "; ".join(describe_filters(filters))
            label = f"{verb} from the Users page" + (f" ({described})" if described else "")
            _plan_for(app, frame, ids, state, key=key, title=f"{verb} {who} {'user' if count == 1 else 'users'}",
                      label=label[:300])
    follow_preview(app, PREFIX, place=PLACE, selection=key)
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")
    else:
        st.caption("Each button makes a preview first: who changes from what to what, who is skipped and why. "
                   "Nothing is sent until you confirm.")
    st.page_link(navigation.PLANS.path, label="MFA plans: move users Conditional Access already covers off per-user "
                 "MFA, or cover the users nothing protects", icon=":material/checklist:")


# --- operation outcome ---------------------------------------------------------------------------


def _after_operation(app: Console) -> Any:
    def actions(progress: rollout.OperationProgress) -> None:
        st.caption("The table shows the states this operation observed until the next snapshot; refresh the "
                   "data to read everything else anew.")
        cols = st.columns(3)
        with contextlib.suppress(Exception):
            cols[0].page_link(navigation.OPERATIONS.path, label="Open in Operations", icon=":material/history:")
        if cols[1].button("Refresh the data", key="users_after_refresh", icon=":material/refresh:"):
            try:
                start_session_refresh(app)
            except Exception as err:
                st.error(f"The refresh could not start: {describe(err)}")
            st.rerun(scope="app")
        if cols[2].button("Dismiss", key="users_after_dismiss"):
            st.session_state.pop(f"{PREFIX}_operation", None)
            st.rerun()
    return actions


# --- the page ------------------------------------------------------------------------------------


def _no_snapshot(app: Console) -> None:
    st.info("**No snapshot of this tenant yet.** The users come from a snapshot the console takes of the tenant: "
            "press **Refresh data** in the sidebar (it runs in the background and takes a minute or two on a large "
            "tenant), then come back here.", icon=":material/photo_camera:")
    if st.button("Refresh data now", key="users_first_refresh", icon=":material/refresh:"):
        try:
            start_session_refresh(app)
        except Exception as err:
            st.error(f"The refresh could not start: {describe(err)}")
        st.rerun(scope="app")


def render() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    tenant = admin.tenant_id
    st.title("Users")
    st.caption("Filter the tenant's users, select some or all that match, preview the change of their per-user MFA "
               "state, confirm, and watch it apply.")
    preset = take_users_filter()
    if preset is not None:
        apply_preset(preset)

    snapshot = latest_snapshot(app)
    if snapshot is None:
        _no_snapshot(app)
        render_plan(app, PREFIX)
        watch_operation(app, PREFIX, actions=_after_operation(app))
        return
    seen = sign_in_evidence(workspace(app), snapshot)
    prepared, observed = observed_overlay(
        app.store, _prepared(app, snapshot, seen), tenant, snapshot.id)
    frame = prepared.frame
    scope = scope_controls("users", protected_upns(app.store, tenant, app.now()))
    tab_select, tab_import = st.tabs(["Filter and select", "Import a CSV"])
    with tab_select:
        if seen.message:
            st.info(seen.message, icon=":material/login:")
        filters, parsed, problems = filter_panel(prepared)
        in_scope = scope_mask(frame, scope).to_numpy()
        mask = in_scope & prepared.mask(filters, app.now())
        positions = np.flatnonzero(mask)
        preset_banner(filters, len(positions))
        for problem in problems:
            st.warning(problem, icon=":material/list:")
        if parsed is not None and parsed.upns:
            upn_list_note(prepared, filters, scope, parsed, app.now())
        counts_line(prepared, mask, int(in_scope.sum()))
        described = describe_filters(filters)
        top = st.columns([5, 1], vertical_alignment="center")
        top[0].caption(("Filters: " + " · ".join(md(d) for d in described)) if described else
                       "No filter: every user in scope is listed.")
        if filters.active:
            top[1].button("Reset filters", key="users_reset_filters", on_click=reset_filters, width="stretch")
        reset_selection_on_change(signature(filters, scope, (snapshot.id, observed.operation_ids)))
        if not len(positions):
            st.info("No user matches these filters and this scope. Loosen a filter, or **Reset filters**.",
                    icon=":material/search_off:")
            ids, everyone = [], False
        else:
            ids, everyone = selection(frame, positions, observed, snapshot_id=snapshot.id)
        as_of = pd.Timestamp(snapshot.state_read_at or snapshot.started_at)
        exports(frame, mask, len(positions), f"{as_of:%Y%m%d-%H%M}")
        st.caption(f"MFA states as of the snapshot ({as_of:%Y-%m-%d %H:%M} UTC); a plan re-reads the selected users' "
                   "states first.")
        observed_note(observed)
        _actions(app, frame, ids, everyone, filters, selection_key(snapshot.id, ids))
    with tab_import:
        csv_import_panel(app, frame)
    render_plan(app, PREFIX)
    watch_operation(app, PREFIX, actions=_after_operation(app))


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**The Users page could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, refresh the data from the sidebar.")
