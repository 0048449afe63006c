"""The Users page's table: counts, exports, the rows shown and which of them (or all matching) are selected.

The selection is reset whenever the filters, scope or snapshot change, so it never silently moves to other users.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib import rollout
from lib.charts import METHOD_LABELS
from lib.columns import STATES, split_methods
from lib.exports import to_csv_bytes, to_xlsx_bytes
from lib.users_filters import (
    ACCOUNT_KIND_LABELS,
    STATE_FILTER_OPTIONS,
    STATE_LABELS,
    PreparedUsers,
    UserFilters,
    export_frame,
    protection_words,
    with_states,
)

TABLE_KEY = "users_table"
SELECT_ALL_KEY = "users_select_all"
SIGNATURE_KEY = "users_filter_signature"
SELECT_ALL_TOUCHED_KEY = "users_select_all_touched"
DRAWN_KEY = "users_table_drawn"
"""This session's last table view and "all matching" ids, with what they were made from: a rerun that
changes neither (a click elsewhere, a background job's progress) reuses them instead of formatting the
rows and listing every matching id again (at 100k users that is most of a rerun)."""
DISPLAY_ROWS = 5_000  # rows of the matching users sent to the browser; "select all" and the exports cover all

TABLE_COLUMNS = {
    "display_name": st.column_config.TextColumn("Name"),
    "upn": st.column_config.TextColumn("UPN"),
    "state": st.column_config.TextColumn("MFA state"),
    "registered": st.column_config.CheckboxColumn("Registered"),
    "methods": st.column_config.TextColumn("Methods"),
    "legacy_clients": st.column_config.TextColumn(
        "Legacy clients (30 days)", help="Clients without modern authentication (IMAP4, POP3, SMTP, ActiveSync…) "
                                         "used in the 30 days up to the log's last read, with the last day of each"),
    "mfa_share": st.column_config.NumberColumn(
        "MFA at sign-in (30 days)", format="%.0f%%",
        help="Of the successful sign-ins in the 30 days whose requirement the log states, the share with MFA "
             "(empty: none to judge)"),
    "last_mfa_sign_in": st.column_config.TextColumn("Last MFA sign-in", help="From the sign-in log, in UTC"),
    "last_single_factor_sign_in": st.column_config.TextColumn(
        "Last single-factor sign-in", help="From the sign-in log, in UTC: a sign-in that asked for one factor only"),
    "coverage": st.column_config.TextColumn("Protected by", help="What asks the user for MFA, or why nothing does"),
    "coverage_policies": st.column_config.TextColumn("Conditional Access policies",
                                                     help="The policies behind the coverage"),
    "conflict": st.column_config.TextColumn("Conflict", help="A per-user MFA state Microsoft advises against"),
    "method_strength": st.column_config.TextColumn("Method strength", help="The strongest registered method"),
    "sms_voice_deadline": st.column_config.TextColumn(
        "SMS/voice ends", help="For users relying on SMS or voice alone: the day it stops working for them"),
    "department": st.column_config.TextColumn("Department"),
    "country": st.column_config.TextColumn("Country"),
    "is_admin": st.column_config.CheckboxColumn("Admin"),
    "is_guest": st.column_config.CheckboxColumn("Guest"),
    "account_enabled": st.column_config.CheckboxColumn("Can sign in"),
    "account_kind": st.column_config.TextColumn("Kind"),
    "last_sign_in": st.column_config.TextColumn("Last sign-in (UTC)"),
    "state_from": st.column_config.TextColumn(
        "State as of", help="The snapshot, or the operation that changed or re-read the user since"),
}


# --- table, selection, export --------------------------------------------------------------------


def signature(filters: UserFilters, scope: Any, data_version: Any) -> str:
    """Changes whenever the rows shown could be others: filters, scope, snapshot or observed operations."""
    def plain(value: Any) -> Any:  # sets in a stable order, so equal filters always give the same signature
        return tuple(sorted(value)) if isinstance(value, frozenset | set) else value

    parts = [plain(v) for v in filters.signature()]
    parts += [plain(getattr(scope, name)) for name in sorted(vars(scope))] if hasattr(scope, "__dict__") else [scope]
    raw = repr((parts, data_version)).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def select_all_touched() -> None:
    st.session_state[SELECT_ALL_TOUCHED_KEY] = True


def reset_selection_on_change(signature: str) -> None:
    """New filters, scope or snapshot: the rows shown are others, so the ticked rows must not carry over.

    "Select all matching" is reset too, unless it was switched in this very run (a filter changed and the
    toggle clicked before the page had redrawn: the person asked for all that match the new filters)."""
    touched = st.session_state.pop(SELECT_ALL_TOUCHED_KEY, False)
    if st.session_state.get(SIGNATURE_KEY) != signature:
        if SIGNATURE_KEY in st.session_state:
            st.session_state[TABLE_KEY] = {"selection": {"rows": [], "columns": [], "cells": []}}
            if not touched:
                st.session_state[SELECT_ALL_KEY] = False
        st.session_state[SIGNATURE_KEY] = signature


def observed_overlay(store: Any, prepared: PreparedUsers, tenant_id: str, snapshot_id: int
                     ) -> tuple[PreparedUsers, rollout.ObservedStates]:
    """The snapshot's users with the states operations observed since (until the next snapshot shows them)."""
    observed = rollout.observed_since(store, tenant_id, snapshot_id)
    return with_states(prepared, observed.states), observed


def observed_note(observed: rollout.ObservedStates) -> None:
    """Say which rows show an operation's observed state rather than the snapshot's."""
    if observed.empty:
        return
    ids = sorted(set(observed.source.values()))
    named = ", ".join(str(i) for i in ids[:5]) + (f" and {len(ids) - 5:,} more" if len(ids) > 5 else "")
    count = len(observed.states)
    st.caption(f":material/published_with_changes: {count:,} {'user shows' if count == 1 else 'users show'} the "
               f"state operation{'s' if len(ids) != 1 else ''} {named} observed after the snapshot "
               "(column **State as of**); the next snapshot confirms them.")


def display(rows: pd.DataFrame, observed: rollout.ObservedStates | None = None) -> pd.DataFrame:
    source = {} if observed is None else observed.source
    words = protection_words(rows)
    with_source = rows.drop(columns=[c for c in words.columns if c in rows.columns]).assign(
        state_from=[f"Operation {source[i]}" if i in source else "Snapshot" for i in rows["id"].astype(str)],
        **{c: words[c] for c in words.columns})
    view = with_source.loc[:, [c for c in TABLE_COLUMNS if c in with_source.columns]].reset_index(drop=True)
    view["state"] = view["state"].map(STATE_LABELS).fillna("Unknown")
    view["account_kind"] = view["account_kind"].map(ACCOUNT_KIND_LABELS).fillna(view["account_kind"])
    view["methods"] = view["methods"].fillna("").map(
        lambda cell: ", ".join(METHOD_LABELS.get(m, m) for m in split_methods(cell))).astype("string")
    view["last_sign_in"] = view["last_sign_in"].dt.strftime("%Y-%m-%d %H:%M").astype("string").fillna("never")
    for column in ("last_mfa_sign_in", "last_single_factor_sign_in"):
        if column in view.columns:
            view[column] = view[column].dt.strftime("%Y-%m-%d %H:%M").astype("string")
    if "mfa_share" in view.columns:
        view["mfa_share"] = (view["mfa_share"] * 100).round(1)
    return view


def counts_line(prepared: PreparedUsers, mask: np.ndarray, in_scope: int) -> None:
    counts = prepared.state_counts(mask)
    matching, total = sum(counts.values()), len(prepared)
    mix = " · ".join(f"{STATE_LABELS[s]} {counts[s]:,}" for s in STATE_FILTER_OPTIONS if s in STATES or counts[s])
    scope_note = f" in scope ({total:,} in the snapshot)" if in_scope != total else ""
    st.markdown(f"#### {matching:,} matching of {in_scope:,} users{scope_note}")
    st.caption(mix)


def exports(frame: pd.DataFrame, mask: np.ndarray, matching: int, stamp: str) -> None:
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Export CSV", lambda: to_csv_bytes(export_frame(frame, mask)),
                         file_name=f"users-{stamp}.csv", mime="text/csv", key="users_export_csv",
                         icon=":material/download:", disabled=matching == 0, on_click="ignore", width="stretch",
                         help=f"All {matching:,} matching users (formula-like cells neutralised)")
    right.download_button("Export XLSX", lambda: to_xlsx_bytes(export_frame(frame, mask)),
                          file_name=f"users-{stamp}.xlsx", key="users_export_xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          icon=":material/table_view:", disabled=matching == 0, on_click="ignore", width="stretch",
                          help=f"All {matching:,} matching users; built when you click (a large list takes a moment)")


def selection(frame: pd.DataFrame, positions: np.ndarray, observed: rollout.ObservedStates | None = None, *,
              snapshot_id: int | None = None) -> tuple[list[str], bool]:
    """The table (first rows of the matching users) with its row selection; returns the target ids and
    whether they are "all matching". ``frame`` is the snapshot ``snapshot_id``'s users."""
    shown_positions = positions[:DISPLAY_ROWS]
    shown = frame.iloc[shown_positions]
    made_from = (snapshot_id, hashlib.blake2b(positions.tobytes(), digest_size=16).digest(),
                 int(pd.util.hash_pandas_object(shown, index=False).sum()), len(frame),
                 None if observed is None else tuple(sorted(observed.source.items())))
    drawn = st.session_state.get(DRAWN_KEY)
    if drawn is None or drawn[0] != made_from:
        drawn = (made_from, display(shown, observed), {})
        st.session_state[DRAWN_KEY] = drawn
    view, all_ids = drawn[1], drawn[2]
    event = st.dataframe(view, hide_index=True, column_config={c: TABLE_COLUMNS[c] for c in view.columns},
                         key=TABLE_KEY, on_select="rerun", selection_mode="multi-row", height=420, placeholder="—")
    if len(positions) > DISPLAY_ROWS:
        st.caption(f"Showing the first {DISPLAY_ROWS:,} of {len(positions):,} matching users (by name). Narrow the "
                   "filters to see the others, or use **Select all matching** and the exports, which cover "
                   "every one.")
    rows = [r for r in (getattr(getattr(event, "selection", None), "rows", None) or []) if 0 <= r < len(shown)]
    left, right = st.columns([1, 2], vertical_alignment="center")
    everyone = left.toggle(f"Select all {len(positions):,} matching", key=SELECT_ALL_KEY,
                           disabled=len(positions) == 0, on_change=select_all_touched,
                           help="Act on every user the filters match, not only the rows ticked in the table.")
    if everyone:
        if "ids" not in all_ids:
            all_ids["ids"] = frame["id"].to_numpy(dtype=object)[positions].astype(str).tolist()
        ids = list(all_ids["ids"])
        right.markdown(f"**All {len(ids):,} matching users** are selected.")
        return ids, True
    ids = shown["id"].to_numpy(dtype=object)[rows].astype(str).tolist()
    right.markdown(f"**{len(ids):,} selected**" + (" — tick rows in the table, or select all matching."
                                                    if not ids else "."))
    return ids, False


