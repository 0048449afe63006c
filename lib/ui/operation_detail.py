"""One operation in detail: its figures, resume and undo, and every user's item with the outcome."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_undo, resume
from lib.errors import describe
from lib.exports import to_csv_bytes
from lib.ui.context import Console, latest_snapshot, users_frame, workspace
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
NEXT_KEY = "ops_select_next"
ITEM_ROWS = 5_000
REPORT_ROWS = 50
RESUMABLE = ("interrupted", "partial", "cancelled", "failed")
STATUS_LABELS = {
    "running": "Running", "complete": "Complete", "partial": "Partly done", "cancelled": "Cancelled",
    "failed": "Failed", "interrupted": "Interrupted",
}
"""An operation's journal status as the history table and the picker say it."""
SOURCE_LABELS = {
    "selection": "Users page", "csv": "CSV import", "undo": "undo", "wave_promotion": "wave promotion",
    "wave_stragglers": "a wave's stragglers",
    "move_off_per_user": "the plan moving covered users off per-user MFA", "close_gap": "the plan closing the gap",
}
OUTCOMES = {
    "applied": "Applied", "failed": "Failed", "skipped": "Skipped", "cancelled": "Cancelled",
    "pending": "Not sent yet", "sending": "Sent, answer unknown",
}


def operation_title(row: Any) -> str:
    if row.kind == "undo":
        return f"Undo of {int(row.undo_of)}" if not pd.isna(row.undo_of) else "Undo"
    return {"disabled": "Disable", "enabled": "Enable", "enforced": "Enforce"}.get(row.requested_state,
                                                                                   "Change (per user)")


def _items(store: Any, operation_id: int) -> None:
    try:
        items = rollout.operation_items_frame(store, operation_id)
    except Exception as err:
        st.error(f"The items could not be read: {describe(err)}")
        return
    st.markdown("**Users in this operation**")
    outcomes = rollout.item_outcomes(items).set_index("user_id")
    items = items.assign(observed=items["user_id"].map(outcomes["observed"]),
                         difference=items["user_id"].map(outcomes["difference"]))
    differing = int(items["difference"].notna().sum())
    cols = st.columns([2, 2])
    present = [s for s in OUTCOMES if s in set(items["status"].dropna())]
    chosen = cols[0].multiselect("Outcome", present, format_func=OUTCOMES.get, key=f"ops_items_outcome_{operation_id}",
                                 placeholder="Any outcome")
    text = cols[1].text_input("Search name, UPN or reason", key=f"ops_items_search_{operation_id}")
    only_differing = differing > 0 and st.toggle(
        f"Only the {differing:,} not in the state the preview expected", key=f"ops_items_differ_{operation_id}")
    shown = items
    if chosen:
        shown = shown[shown["status"].isin(chosen)]
    if only_differing:
        shown = shown[shown["difference"].notna()]
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
        "expected": shown["expected_state"].map(state_label, na_action="ignore"),
        "after": shown["observed"].map(state_label, na_action="ignore"),
        "preview": [_preview_check(d, o, e) for d, o, e in
                    zip(shown["difference"], shown["observed"], shown["expected_state"], strict=True)],
        "reason": shown["reason"], "attempts": shown["attempts"], "finished_at": shown["finished_at"],
    })
    if len(view) > ITEM_ROWS:
        st.caption(f"Showing the first {ITEM_ROWS:,}; the CSV has all {len(view):,}.")
    st.dataframe(view.head(ITEM_ROWS), hide_index=True, key=f"ops_items_{operation_id}", placeholder="—",
                 height=min(35 * (min(len(view), ITEM_ROWS) + 1) + 3, 420), column_config={
                     "display_name": "Name", "upn": "UPN", "outcome": "Outcome", "before": "Before",
                     "requested": "Requested", "expected": "Expected (preview)",
                     "after": st.column_config.TextColumn(
                         "After (Graph)", help="The state Graph reported when it was read back after the change"),
                     "preview": "Matches the preview?", "reason": "Reason",
                     "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
                     "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                 })
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Users (CSV)", lambda frame=shown: to_csv_bytes(frame),
                         file_name=f"operation-{operation_id}-users.csv", mime="text/csv",
                         key=f"ops_items_csv_{operation_id}", icon=":material/download:", on_click="ignore",
                         width="stretch")

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
        trimmed = {k: (v[:REPORT_ROWS] if isinstance(v, list) else v) for k, v in full.items()}
        for name in ("skipped", "failed", "outcomes"):
            if len(full.get(name) or []) > REPORT_ROWS:
                st.caption(f"{name.title()}: the first {REPORT_ROWS} of {len(full[name]):,}; the download has all.")
        st.json(trimmed, expanded=1)


def _preview_check(difference: Any, observed: Any, expected: Any) -> str | None:
    """"as previewed", the difference in words, or nothing when the state is not known (or not planned)."""
    if isinstance(difference, str):
        return difference
    if isinstance(observed, str) and isinstance(expected, str):
        return "as previewed"
    return None


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


def select_started(operation_id: int) -> None:
    st.session_state[NEXT_KEY] = operation_id


def detail(app: Console, history: pd.DataFrame, operation_id: int, wave_of: dict[int, str]) -> None:
    row = history[history["id"] == operation_id].iloc[0]
    try:
        operation = rollout.get_operation(app.store, operation_id)
    except Exception as err:
        st.error(describe(err))
        return
    what = operation_title(row)
    st.subheader(f"Operation {operation_id}: {what}")
    facts = [f"by {md(operation.actor)}", f"from: {md(SOURCE_LABELS.get(operation.source, operation.source))}"]
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
        render_plan(app, PREFIX, after_start=select_started)
    _items(app.store, operation_id)


