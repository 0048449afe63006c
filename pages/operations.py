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
import json
from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_undo, preview_wave_enforcement, resume
from lib.errors import describe
from lib.exports import to_csv_bytes
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.rollout_widgets import (
    PlanEntry,
    can_apply,
    md,
    operation_status,
    render_plan,
    set_plan,
    state_label,
)

PREFIX = "ops"
SELECTED_KEY = "ops_selected"
NEXT_KEY = "ops_select_next"
TABLE_KEY = "ops_table"
TABLE_SEEN_KEY = "ops_table_seen"
ITEM_ROWS = 5_000
REPORT_ROWS = 50
RESUMABLE = ("interrupted", "partial", "cancelled", "failed")
OUTCOMES = {
    "applied": "Applied", "failed": "Failed", "skipped": "Skipped", "cancelled": "Cancelled",
    "pending": "Not sent yet", "sending": "Sent, answer unknown",
}


def _what(row: Any) -> str:
    if row.kind == "undo":
        return f"Undo of {int(row.undo_of)}" if not pd.isna(row.undo_of) else "Undo"
    return {"disabled": "Disable", "enabled": "Enable", "enforced": "Enforce"}.get(row.requested_state,
                                                                                   "Change (per user)")


def _history_view(history: pd.DataFrame, wave_of: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": history["id"],
        "status": history["status"],
        "what": [_what(r) for r in history.itertuples(index=False)],
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
            st.page_link("pages/users.py", label="Go to the Users page", icon=":material/group:")


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
        return f"{op_id} · {_what(row)} · {row.status} · {row.planned:,} planned{extra}"

    return st.selectbox("Operation", ids, key=SELECTED_KEY, format_func=label,
                        help="Or click a row in the table above")


def _items(store: Any, operation_id: int) -> None:
    try:
        items = rollout.operation_items_frame(store, operation_id)
    except Exception as err:
        st.error(f"The items could not be read: {describe(err)}")
        return
    st.markdown("**Users in this operation**")
    cols = st.columns([2, 2])
    present = [s for s in OUTCOMES if s in set(items["status"].dropna())]
    chosen = cols[0].multiselect("Outcome", present, format_func=OUTCOMES.get, key=f"ops_items_outcome_{operation_id}",
                                 placeholder="Any outcome")
    text = cols[1].text_input("Search name, UPN or reason", key=f"ops_items_search_{operation_id}")
    shown = items
    if chosen:
        shown = shown[shown["status"].isin(chosen)]
    words = [w for w in text.casefold().split() if w]
    if words:
        hay = (shown["display_name"].fillna("") + "\n" + shown["upn"].fillna("") + "\n"
               + shown["reason"].fillna("")).str.casefold()
        keep = pd.Series(True, index=shown.index)
        for word in words:
            keep &= hay.str.contains(word, regex=False)
        shown = shown[keep.to_numpy(dtype=bool)]
    counts = items["status"].value_counts()
    st.caption(f"{len(shown):,} of {len(items):,} users · " + " · ".join(
        f"{OUTCOMES.get(s, s)} {int(counts[s]):,}" for s in OUTCOMES if s in counts.index))
    view = pd.DataFrame({
        "display_name": shown["display_name"], "upn": shown["upn"],
        "outcome": shown["status"].map(lambda s: OUTCOMES.get(s, s)),
        "before": shown["before_state"].map(state_label, na_action="ignore"),
        "requested": shown["requested_state"].map(state_label, na_action="ignore"),
        "after": shown["after_state"].map(state_label, na_action="ignore"),
        "reason": shown["reason"], "attempts": shown["attempts"], "finished_at": shown["finished_at"],
    })
    if len(view) > ITEM_ROWS:
        st.caption(f"Showing the first {ITEM_ROWS:,}; the CSV has all {len(view):,}.")
    st.dataframe(view.head(ITEM_ROWS), hide_index=True, key=f"ops_items_{operation_id}", placeholder="—",
                 height=min(35 * (min(len(view), ITEM_ROWS) + 1) + 3, 420), column_config={
                     "display_name": "Name", "upn": "UPN", "outcome": "Outcome", "before": "Before",
                     "requested": "Requested", "after": "After", "reason": "Reason",
                     "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
                     "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                 })
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Users (CSV)", lambda: to_csv_bytes(shown), file_name=f"operation-{operation_id}-users.csv",
                         mime="text/csv", key=f"ops_items_csv_{operation_id}", icon=":material/download:",
                         on_click="ignore", width="stretch")

    def report() -> bytes:
        return json.dumps(rollout.operation_report(store, operation_id), indent=2, default=str).encode()

    right.download_button("Report (JSON)", report, file_name=f"operation-{operation_id}-report.json",
                          mime="application/json", key=f"ops_report_{operation_id}", icon=":material/description:",
                          on_click="ignore", width="stretch",
                          help="The operation's counts, and every skipped and failed user with the reason")
    with st.expander("Report", icon=":material/description:"):
        try:
            full = rollout.operation_report(store, operation_id)
        except Exception as err:
            st.error(f"The report could not be made: {describe(err)}")
            return
        shown = {k: (v[:REPORT_ROWS] if isinstance(v, list) else v) for k, v in full.items()}
        for name in ("skipped", "failed"):
            if len(full.get(name) or []) > REPORT_ROWS:
                st.caption(f"{name.title()}: the first {REPORT_ROWS} of {len(full[name]):,}; the download has all.")
        st.json(shown, expanded=1)


def _resume(app: Console, operation_id: int) -> None:
    try:
        resume(workspace(app), operation_id)
    except Exception as err:  # conflict (names the other operation), nothing left, permission: say which
        st.session_state["ops_notice"] = ("error", describe(err))
    else:
        st.session_state["ops_notice"] = ("success", f"Operation {operation_id} resumed: unfinished users are re-read "
                                                     "before anything is sent again.")


def _plan_undo(app: Console, operation_id: int) -> None:
    snapshot = latest_snapshot(app)
    try:
        if snapshot is None:
            raise rollout.OperationStateError("there is no snapshot of the tenant yet: refresh the data first")
        frame = users_frame(app, snapshot)
        with st.spinner("Reading the current state of the users the operation changed…"):
            undo = preview_undo(workspace(app), frame, operation_id)
    except Exception as err:
        st.error(f"The undo could not be planned: {describe(err)}", icon=":material/error:")
        return
    set_plan(PREFIX, PlanEntry(undo, title=f"undo operation {operation_id}", label=f"Undo of operation {operation_id}",
                               wave_allowed=False))


def _select_started(operation_id: int) -> None:
    st.session_state[NEXT_KEY] = operation_id


def _detail(app: Console, history: pd.DataFrame, operation_id: int, wave_of: dict[int, str]) -> None:
    row = history[history["id"] == operation_id].iloc[0]
    try:
        operation = rollout.get_operation(app.store, operation_id)
    except Exception as err:
        st.error(describe(err))
        return
    what = _what(row)
    st.subheader(f"Operation {operation_id}: {what}")
    facts = [f"by {md(operation.actor)}", f"source: {md(operation.source)}"]
    if operation.label:
        facts.append(md(operation.label))
    if operation_id in wave_of:
        facts.append(f"wave **{md(wave_of[operation_id])}**")
    facts.append(f"started {operation.started_at:%Y-%m-%d %H:%M:%S} UTC" if operation.started_at is not None else "")
    if operation.finished_at is not None:
        facts.append(f"finished {operation.finished_at:%Y-%m-%d %H:%M:%S} UTC")
    st.caption(" · ".join(f for f in facts if f))
    progress = operation_status(app.store, operation_id, f"ops_live_{operation_id}")
    status = progress.status if progress is not None else operation.display_status
    if progress is not None and status != "running":  # a running one shows its live figures above
        cols = st.columns(6)
        for col, (name, value) in zip(cols, (
                ("Planned", progress.planned), ("Applied", progress.applied), ("Failed", progress.failed),
                ("Skipped", progress.skipped + progress.plan_skipped), ("Cancelled", progress.cancelled),
                ("Unfinished", progress.remaining)), strict=True):
            col.metric(name, f"{int(value):,}")
    left_over = (progress.remaining + progress.failed + progress.cancelled) if progress is not None else 0
    applied = progress.applied if progress is not None else int(row.applied)
    writer, reason = can_apply()
    left, right, _ = st.columns([1, 1, 2])
    resumable = status in RESUMABLE and left_over > 0
    if left.button("Resume", key=f"ops_resume_{operation_id}", icon=":material/play_arrow:", width="stretch",
                   disabled=not writer or not resumable,
                   help=reason if not writer else "Finish the users not done yet: each is re-read first, and only sent "
                   "again if it is not already in the requested state." if resumable else
                   "Only an interrupted, cancelled, failed or partly failed operation with users left can resume."):
        _resume(app, operation_id)
        st.rerun()
    undoable = status != "running" and applied > 0
    if right.button("Plan the undo…", key=f"ops_undo_{operation_id}", icon=":material/undo:", width="stretch",
                    disabled=not writer or not undoable,
                    help=reason if not writer else "Preview putting back the states this operation changed; users "
                    "who moved on since are shown, not reverted." if undoable else
                    "Only a finished operation that changed someone can be undone."):
        _plan_undo(app, operation_id)
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")
    notice = st.session_state.pop("ops_notice", None)
    if notice:
        kind, text = notice
        (st.error if kind == "error" else st.success)(text)
    entry = st.session_state.get(f"{PREFIX}_plan")
    if isinstance(entry, PlanEntry) and entry.plan.kind == "undo" and entry.plan.undo_of == operation_id:
        render_plan(app, PREFIX, after_start=_select_started)
    _items(app.store, operation_id)


def _waves(app: Console, tenant: str) -> None:
    snapshot = latest_snapshot(app)
    waves = rollout.list_waves(app.store, tenant)
    if not waves:
        st.info("No rollout waves yet. Name an **Enable** as a wave in its preview on the Users page; the wave then "
                "appears here and on the Registration progress page.", icon=":material/waves:")
        return
    if snapshot is None:
        st.info("No snapshot of this tenant yet: refresh the data in the sidebar to see the waves' progress.")
        return
    frame = users_frame(app, snapshot)
    progress = rollout.wave_progress(app.store, tenant, frame)
    view = progress.assign(source=[
        "imported" if w.source == "imported" else f"operation {w.operation_id}" for w in waves])
    st.dataframe(view.drop(columns=["wave_id"]), hide_index=True, key="ops_waves", placeholder="—", column_config={
        "name": "Wave", "source": "Source", "launched_at": st.column_config.DatetimeColumn("Launched",
                                                                                            format="YYYY-MM-DD"),
        "members": "Members", "disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced",
        "unknown": "Unknown", "registered": "Registered",
        "promotable": st.column_config.NumberColumn("Ready to enforce", help="Registered and still Enabled"),
        "enforced_share": st.column_config.ProgressColumn("Enforced share", min_value=0.0, max_value=1.0,
                                                          format="percent"),
    })
    st.caption(f"Members by their state in the latest snapshot ({pd.Timestamp(snapshot.started_at):%Y-%m-%d %H:%M} "
               "UTC). The Registration progress page follows each wave over time.")
    by_id = {int(r.wave_id): r for r in progress.itertuples(index=False)}
    ids = [w.id for w in reversed(waves)]
    if st.session_state.get("ops_wave") not in ids:  # first the newest wave with members ready to enforce
        st.session_state["ops_wave"] = next((i for i in ids if by_id[i].promotable), ids[0])
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    wave_id = left.selectbox("Wave", ids, key="ops_wave", format_func=lambda i: f"{by_id[i].name} · "
                             f"{int(by_id[i].promotable):,} ready to enforce")
    writer, reason = can_apply()
    ready = int(by_id[wave_id].promotable)
    if right.button("Promote to Enforced…", key="ops_promote", icon=":material/lock:", width="stretch",
                    disabled=not writer or ready == 0,
                    help=reason if not writer else "Preview setting the wave's registered members who are still "
                    "Enabled to Enforced."):
        wave = next(w for w in waves if w.id == wave_id)
        try:
            with st.spinner(f"Reading the current state of the {int(by_id[wave_id].members):,} members…"):
                promote = preview_wave_enforcement(workspace(app), frame, wave.id)
        except Exception as err:
            st.error(f"The promotion could not be planned: {describe(err)}", icon=":material/error:")
        else:
            set_plan(PREFIX, PlanEntry(promote, title=f"promote {wave.name} to Enforced",
                                       label=f"Promote wave {wave.name} to Enforced"[:300], wave_allowed=False))
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")
    entry = st.session_state.get(f"{PREFIX}_plan")
    if isinstance(entry, PlanEntry) and entry.plan.source == "wave_promotion":
        render_plan(app, PREFIX, after_start=_select_started)


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
            operation_id = _pick(history, wave_of)
            if operation_id is not None:
                _detail(app, history, int(operation_id), wave_of)
    with tab_waves:
        _waves(app, tenant)


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**The Operations page could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, check the Connection page.")
