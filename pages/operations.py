"""Operations: every bulk change made through the console, each user's outcome, and what to do next —
follow a running one, cancel it, resume an interrupted or partly failed one, undo one (with its own
preview), and promote a rollout wave's registered users to Enforced.

Renders only: the journal, reports, undo and wave plans all come from ``lib.rollout``; the preview,
confirmation and live progress from ``lib.ui.rollout_widgets`` (shared with the Users page).

Session state: ``ops_selected`` is the operation shown in detail (the history table's row selection
sets it; so does starting an undo, a resume or a promotion); ``ops_plan`` the undo or promotion
awaiting confirmation.
"""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from lib import rollout
from lib.errors import describe
from lib.ui import navigation
from lib.ui.context import console, signed_in_admin
from lib.ui.operation_detail import NEXT_KEY, STATUS_LABELS, detail, operation_title
from lib.ui.rollout_widgets import follow_running
from lib.ui.waves_panel import waves

SELECTED_KEY = "ops_selected"
TABLE_KEY = "ops_table"
TABLE_SEEN_KEY = "ops_table_seen"


def _history_view(history: pd.DataFrame, wave_of: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": history["id"],
        "status": history["status"].map(lambda s: STATUS_LABELS.get(s, s)),
        "what": [operation_title(r) for r in history.itertuples(index=False)],
        "wave": [wave_of.get(int(i)) for i in history["id"]],
        "label": history["label"],
        "actor": history["actor"],
        "planned": history["planned"], "applied": history["applied"], "failed": history["failed"],
        "skipped": history["skipped"], "cancelled": history["cancelled"], "unfinished": history["unfinished"],
        "started_at": history["started_at"], "finished_at": history["finished_at"],
    })


HISTORY_COLUMNS = {
    "id": st.column_config.NumberColumn("Id", format="%d", width="small"),
    "status": st.column_config.TextColumn("Status"),
    "what": st.column_config.TextColumn("Change"),
    "wave": st.column_config.TextColumn("Wave"),
    "label": st.column_config.TextColumn("Label"),
    "actor": st.column_config.TextColumn("By"),
    "planned": st.column_config.NumberColumn("Planned", format="%d"),
    "applied": st.column_config.NumberColumn("Applied", format="%d"),
    "failed": st.column_config.NumberColumn("Failed", format="%d"),
    "skipped": st.column_config.NumberColumn("Skipped", format="%d"),
    "cancelled": st.column_config.NumberColumn("Cancelled", format="%d"),
    "unfinished": st.column_config.NumberColumn("Unfinished", format="%d"),
    "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
}


def _no_operations() -> None:
    with st.container(border=True):
        st.markdown("### No operations yet")
        st.markdown("Every change of per-user MFA state made through the console — from the **Users** page, a CSV "
                    "import, the Registration progress page or the command line — is journaled here, user by user, "
                    "with its outcome. To make the first one, open the Users page, filter and select users, and "
                    "choose Enable, Enforce or Disable.")
        with contextlib.suppress(Exception):
            st.page_link(navigation.USERS.path, label="Go to the Users page", icon=":material/group:")


def _pick(history: pd.DataFrame, wave_of: dict[int, str]) -> int | None:
    """The history table (row selection) and the operation picker; returns the operation shown in detail."""
    ids = [int(i) for i in history["id"]]
    nxt = st.session_state.pop(NEXT_KEY, None)
    if nxt in ids:
        st.session_state[SELECTED_KEY] = nxt
    view = _history_view(history, wave_of)
    event = st.dataframe(view, hide_index=True, column_config=HISTORY_COLUMNS, key=TABLE_KEY, on_select="rerun",
                         placeholder="—",
                         selection_mode="single-row", height=min(35 * (len(view) + 1) + 3, 320))
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    clicked = ids[rows[0]] if rows and rows[0] < len(ids) else None
    if clicked is not None and st.session_state.get(TABLE_SEEN_KEY) != clicked:
        st.session_state[SELECTED_KEY] = clicked  # a newly clicked row opens that operation below
    st.session_state[TABLE_SEEN_KEY] = clicked
    if st.session_state.get(SELECTED_KEY) not in ids:
        st.session_state[SELECTED_KEY] = ids[0]
    by_id = {int(r.id): r for r in history.itertuples(index=False)}

    def label(op_id: int) -> str:
        row = by_id[op_id]
        extra = f" · {row.label}" if isinstance(row.label, str) and row.label else ""
        return (f"{op_id} · {operation_title(row)} · {STATUS_LABELS.get(row.status, row.status)} · "
                f"{row.planned:,} planned{extra}")

    return st.selectbox("Operation", ids, key=SELECTED_KEY, format_func=label,
                        help="Or click a row in the table above")


def _running_banner(history: pd.DataFrame) -> None:
    running = history[history["status"] == "running"]
    interrupted = history[history["status"] == "interrupted"]
    if len(running):
        st.info("Running now: " + ", ".join(f"operation {int(i)}" for i in running["id"]) + ". It continues in the "
                "background if you close the tab.", icon=":material/sync:")
    if len(interrupted):
        st.warning("Interrupted (its worker stopped, e.g. the server restarted): "
                   + ", ".join(f"operation {int(i)}" for i in interrupted["id"])
                   + ". Select it and **Resume**; until then its unfinished users cannot be part of another operation.",
                   icon=":material/warning:")


def render() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    tenant = admin.tenant_id
    st.title("Operations")
    st.caption("Every bulk change, user by user: follow, cancel, resume or undo it. Rollout waves and their "
               "promotion to Enforced are on the second tab.")
    history = rollout.operations_frame(app.store, tenant)
    wave_of = {w.operation_id: w.name for w in rollout.list_waves(app.store, tenant) if w.operation_id is not None}
    tab_history, tab_waves = st.tabs(["History", "Waves"])
    with tab_history:
        if history.empty:
            _no_operations()
        else:
            _running_banner(history)
            follow_running(app.store, history.loc[history["status"] == "running", "id"])
            operation_id = _pick(history, wave_of)
            if operation_id is not None:
                detail(app, history, int(operation_id), wave_of)
    with tab_waves:
        waves(app, tenant)


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**The Operations page could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, check the Connection page.")
