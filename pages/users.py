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
import hashlib
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from lib import rollout
from lib.columns import STATES
from lib.console import preview_change, preview_csv
from lib.errors import describe
from lib.exports import to_csv_bytes, to_xlsx_bytes
from lib.overview import protected_upns
from lib.scope import scope_mask
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.handoff import take_users_filter
from lib.ui.rollout_widgets import (
    PlanEntry,
    can_apply,
    md,
    render_plan,
    set_plan,
    watch_operation,
)
from lib.ui.scope_controls import scope_controls
from lib.ui.sidebar import start_session_refresh
from lib.users_filters import (
    ACCOUNT_KIND_LABELS,
    SIGN_IN_OPTIONS,
    STATE_FILTER_OPTIONS,
    STATE_LABELS,
    PreparedUsers,
    UpnList,
    UserFilters,
    UsersFilterPreset,
    describe_filters,
    export_frame,
    parse_upn_list,
    prepare_users,
    unmatched_upns,
)

PREFIX = "users"
TABLE_KEY = "users_table"
SELECT_ALL_KEY = "users_select_all"
SIGNATURE_KEY = "users_filter_signature"
SELECT_ALL_TOUCHED_KEY = "users_select_all_touched"
PRESET_LABEL_KEY = "users_preset"
CSV_MEMO_KEY = "users_csv_memo"
DISPLAY_ROWS = 5_000  # rows of the matching users sent to the browser; "select all" and the exports cover all

TRI = ["any", "yes", "no"]  # not None/True/False: a selectbox shows None as "Choose an option"
TRI_LABELS = {"any": "Any", "yes": "Yes", "no": "No"}
TRI_VALUES: dict[str, bool | None] = {"any": None, "yes": True, "no": False}
FILTER_DEFAULTS: dict[str, Any] = {
    "users_f_text": "", "users_f_states": [], "users_f_sign_in": "any", "users_f_registered": "any",
    "users_f_capable": "any", "users_f_admin": "any", "users_f_guest": "any", "users_f_enabled": "any",
    "users_f_departments": [], "users_f_countries": [], "users_f_methods": [], "users_f_kinds": [],
    "users_f_upn_text": "",
}
VERBS = {"enabled": "Enable", "enforced": "Enforce", "disabled": "Disable"}
ACTION_HELP = {
    "enabled": "Users must register a second factor at their next sign-in; those already registered become "
               "Enforced at once (Entra's rule).",
    "enforced": "Users must answer MFA at every sign-in; legacy clients then need app passwords.",
    "disabled": "Turn per-user MFA off for these users.",
}
TABLE_COLUMNS = {
    "display_name": st.column_config.TextColumn("Name"),
    "upn": st.column_config.TextColumn("UPN"),
    "state": st.column_config.TextColumn("MFA state"),
    "registered": st.column_config.CheckboxColumn("Registered"),
    "methods": st.column_config.TextColumn("Methods"),
    "department": st.column_config.TextColumn("Department"),
    "country": st.column_config.TextColumn("Country"),
    "is_admin": st.column_config.CheckboxColumn("Admin"),
    "is_guest": st.column_config.CheckboxColumn("Guest"),
    "account_enabled": st.column_config.CheckboxColumn("Can sign in"),
    "account_kind": st.column_config.TextColumn("Kind"),
    "last_sign_in": st.column_config.DatetimeColumn("Last sign-in", format="YYYY-MM-DD HH:mm"),
}


# --- data ----------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=2)
def _prepared(_app: Console, _snapshot: Any, database_url: str, tenant: str, snapshot_id: int) -> PreparedUsers:
    """The snapshot's users sorted, indexed for search, with the filters' choices: once per snapshot, shared
    read-only by every session. Keyed by database, tenant and snapshot id; ``_app`` and ``_snapshot`` are
    what those name (the store and the snapshot record), so leaving them out of the key loses nothing."""
    return prepare_users(users_frame(_app, _snapshot))


@st.cache_data(show_spinner=False, max_entries=8)
def _parse_list(data: str | bytes) -> UpnList:
    return parse_upn_list(data)


# --- filters -------------------------------------------------------------------------------------


def _reset_filters() -> None:
    for key, value in FILTER_DEFAULTS.items():
        st.session_state[key] = list(value) if isinstance(value, list) else value
    st.session_state.pop(PRESET_LABEL_KEY, None)
    st.session_state["users_f_upn_file_nonce"] = st.session_state.get("users_f_upn_file_nonce", 0) + 1


def _apply_preset(preset: UsersFilterPreset) -> None:
    """Filters handed over by another page: reset the filters, then apply the preset's."""
    _reset_filters()
    for name, key in (("admin", "users_f_admin"), ("registered", "users_f_registered"),
                      ("guest", "users_f_guest"), ("capable", "users_f_capable")):
        value = getattr(preset, name)
        if isinstance(value, bool):
            st.session_state[key] = "yes" if value else "no"
    st.session_state[PRESET_LABEL_KEY] = preset


def _sanitise(key: str, options: list[Any]) -> None:
    """Drop chosen values a new snapshot no longer offers (a multiselect refuses unknown defaults)."""
    chosen = st.session_state.get(key)
    if isinstance(chosen, list):
        kept = [v for v in chosen if v in options]
        if kept != chosen:
            st.session_state[key] = kept


def _upn_list(container: Any) -> tuple[frozenset[str] | None, UpnList | None, list[str]]:
    """The pasted and uploaded UPN lists (merged): the keys to filter by, the parse, and any problems."""
    problems: list[str] = []
    text = st.session_state.get("users_f_upn_text") or ""
    nonce = st.session_state.get("users_f_upn_file_nonce", 0)
    with container:
        left, right = st.columns(2)
        left.text_area("Paste UPNs", key="users_f_upn_text", height=110,
                       placeholder="one per line, or separated by commas or semicolons",
                       help="Users whose UPN or e-mail address is on the list. Words without an @ are ignored.")
        upload = right.file_uploader("…or upload a list (.txt or .csv)", type=["txt", "csv"],
                                     key=f"users_f_upn_file_{nonce}",
                                     help="Any text file with one UPN per line; a CSV's UPN column is found by the @.")
    sources: list[str | bytes] = []
    if text.strip():
        sources.append(text)
    if upload is not None:
        sources.append(upload.getvalue())
    if not sources:
        return None, None, problems
    upns: list[str] = []
    invalid: list[str] = []
    duplicates = 0
    for source in sources:
        try:
            parsed = _parse_list(source)
        except ValueError as err:
            problems.append(str(err))
            continue
        upns.extend(parsed.upns)
        invalid.extend(parsed.invalid)
        duplicates += parsed.duplicates
    merged = UpnList(tuple(dict.fromkeys(upns)), tuple(invalid), duplicates)
    if not merged.upns:
        problems.append("No UPN found in the list (a UPN looks like name@domain): the list filter is off.")
        return None, merged, problems
    return merged.keys, merged, problems


def _filters(prepared: PreparedUsers) -> tuple[UserFilters, UpnList | None, list[str]]:
    options = prepared.options
    for key, values in (("users_f_departments", list(options.departments)),
                        ("users_f_countries", list(options.countries)),
                        ("users_f_methods", list(options.methods))):
        _sanitise(key, values)
    for key, value in FILTER_DEFAULTS.items():
        st.session_state.setdefault(key, list(value) if isinstance(value, list) else value)
    with st.container(border=True, key="users_filters"):
        top = st.columns([3, 2, 2], vertical_alignment="bottom")
        top[0].text_input("Search name or UPN", key="users_f_text", placeholder="e.g. anna, or @contoso.com",
                          help="Every word must appear in the display name or the UPN (case-insensitive).")
        top[1].multiselect("MFA state", list(STATE_FILTER_OPTIONS), key="users_f_states",
                           format_func=STATE_LABELS.get, placeholder="Any state")
        top[2].selectbox("Last sign-in", list(SIGN_IN_OPTIONS), key="users_f_sign_in",
                         format_func=lambda c: SIGN_IN_OPTIONS[c][0], disabled=not options.sign_ins_known,
                         help=None if options.sign_ins_known else
                         "Sign-in activity is not available for this tenant (it needs Entra ID P1).")
        flags = st.columns(5)
        for col, (key, label, help_text) in zip(flags, (
            ("users_f_registered", "Registered", "Has registered a second factor"),
            ("users_f_capable", "MFA capable", "Registered a method strong enough for MFA, and can sign in"),
            ("users_f_admin", "Admin", "Holds an administrator role"),
            ("users_f_guest", "Guest", "B2B guest account"),
            ("users_f_enabled", "Account enabled", "The account can sign in (accountEnabled)"),
        ), strict=True):
            col.selectbox(label, TRI, key=key, format_func=TRI_LABELS.get, help=help_text)
        more = st.columns(4)
        more[0].multiselect("Department", list(options.departments), key="users_f_departments",
                            placeholder="Any department")
        more[1].multiselect("Country", list(options.countries), key="users_f_countries", placeholder="Any country")
        more[2].multiselect("Registered method", list(options.methods), key="users_f_methods",
                            placeholder="Any method", help="Users with at least one of these methods")
        more[3].multiselect("Account kind", list(ACCOUNT_KIND_LABELS), key="users_f_kinds",
                            format_func=ACCOUNT_KIND_LABELS.get, placeholder="Any kind")
        listed = bool((st.session_state.get("users_f_upn_text") or "").strip())
        upns, parsed, problems = _upn_list(st.expander("Only users on a list (paste or upload UPNs)",
                                                       expanded=listed, icon=":material/list:"))
    state = st.session_state
    filters = UserFilters(
        text=state["users_f_text"] or "", states=tuple(state["users_f_states"]),
        registered=TRI_VALUES.get(state["users_f_registered"]), capable=TRI_VALUES.get(state["users_f_capable"]),
        admin=TRI_VALUES.get(state["users_f_admin"]), guest=TRI_VALUES.get(state["users_f_guest"]),
        account_enabled=TRI_VALUES.get(state["users_f_enabled"]),
        departments=tuple(state["users_f_departments"]), countries=tuple(state["users_f_countries"]),
        methods=tuple(state["users_f_methods"]), account_kinds=tuple(state["users_f_kinds"]),
        last_sign_in=state["users_f_sign_in"] if options.sign_ins_known else "any", upns=upns,
    )
    return filters, parsed, problems


def _preset_banner(filters: UserFilters, matching: int) -> None:
    preset = st.session_state.get(PRESET_LABEL_KEY)
    if not isinstance(preset, UsersFilterPreset):
        return
    if filters.admin != preset.admin or filters.registered != preset.registered:
        st.session_state.pop(PRESET_LABEL_KEY, None)  # the filters moved on: the label no longer says what is shown
        return
    text = f"**{md(preset.label)}** (from the {md(preset.came_from)})"
    counted = None if preset.user_ids is None else len(preset.user_ids)
    if counted is not None and counted != matching:
        text += (f". The {md(preset.came_from)} counted {counted:,}; {matching:,} match here with the other filters "
                 "and scope.")
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(text, icon=":material/filter_alt:")
    right.button("Clear filters", key="users_preset_clear", on_click=_reset_filters, width="stretch")


# --- table, selection, export --------------------------------------------------------------------


def _signature(filters: UserFilters, scope: Any, snapshot_id: int) -> str:
    def plain(value: Any) -> Any:  # sets in a stable order, so equal filters always give the same signature
        return tuple(sorted(value)) if isinstance(value, frozenset | set) else value

    parts = [plain(v) for v in filters.signature()]
    parts += [plain(getattr(scope, name)) for name in sorted(vars(scope))] if hasattr(scope, "__dict__") else [scope]
    raw = repr((parts, snapshot_id)).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def _select_all_touched() -> None:
    st.session_state[SELECT_ALL_TOUCHED_KEY] = True


def _reset_selection_on_change(signature: str) -> None:
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


def _display(rows: pd.DataFrame) -> pd.DataFrame:
    view = rows.loc[:, list(TABLE_COLUMNS)].reset_index(drop=True)
    view["state"] = view["state"].map(STATE_LABELS).fillna("Unknown")
    view["account_kind"] = view["account_kind"].map(ACCOUNT_KIND_LABELS).fillna(view["account_kind"])
    view["methods"] = view["methods"].str.replace(",", ", ", regex=False)
    return view


def _counts_line(prepared: PreparedUsers, mask: np.ndarray, in_scope: int) -> None:
    counts = prepared.state_counts(mask)
    matching, total = sum(counts.values()), len(prepared)
    mix = " · ".join(f"{STATE_LABELS[s]} {counts[s]:,}" for s in STATE_FILTER_OPTIONS if s in STATES or counts[s])
    scope_note = f" in scope ({total:,} in the snapshot)" if in_scope != total else ""
    st.markdown(f"#### {matching:,} matching of {in_scope:,} users{scope_note}")
    st.caption(mix)


def _exports(frame: pd.DataFrame, mask: np.ndarray, matching: int, stamp: str) -> None:
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


def _selection(frame: pd.DataFrame, positions: np.ndarray) -> tuple[list[str], bool]:
    """The table (first rows of the matching users) with its row selection; returns the target ids and
    whether they are "all matching"."""
    shown_positions = positions[:DISPLAY_ROWS]
    shown = frame.iloc[shown_positions]
    event = st.dataframe(_display(shown), hide_index=True, column_config=TABLE_COLUMNS, key=TABLE_KEY,
                         on_select="rerun", selection_mode="multi-row", height=420, placeholder="—")
    if len(positions) > DISPLAY_ROWS:
        st.caption(f"Showing the first {DISPLAY_ROWS:,} of {len(positions):,} matching users (by name). Narrow the "
                   "filters to see the others, or use **Select all matching** and the exports, which cover "
                   "every one.")
    rows = [r for r in (getattr(getattr(event, "selection", None), "rows", None) or []) if 0 <= r < len(shown)]
    left, right = st.columns([1, 2], vertical_alignment="center")
    everyone = left.toggle(f"Select all {len(positions):,} matching", key=SELECT_ALL_KEY,
                           disabled=len(positions) == 0, on_change=_select_all_touched,
                           help="Act on every user the filters match, not only the rows ticked in the table.")
    if everyone:
        ids = frame["id"].to_numpy(dtype=object)[positions].astype(str).tolist()
        right.markdown(f"**All {len(ids):,} matching users** are selected.")
        return ids, True
    ids = shown["id"].to_numpy(dtype=object)[rows].astype(str).tolist()
    right.markdown(f"**{len(ids):,} selected**" + (" — tick rows in the table, or select all matching."
                                                    if not ids else "."))
    return ids, False


# --- actions -------------------------------------------------------------------------------------


def _plan_for(app: Console, frame: pd.DataFrame, ids: list[str], state: str, *, title: str, label: str,
              source: str = "selection") -> None:
    try:
        with st.spinner(f"Reading the current MFA state of {len(ids):,} users from Microsoft Graph…"):
            the_plan = preview_change(workspace(app), frame, ids, state, source=source)
    except Exception as err:  # Graph, store or input trouble: say what, never a traceback
        st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")
        return
    set_plan(PREFIX, PlanEntry(the_plan, title=title, label=label))


def _actions(app: Console, frame: pd.DataFrame, ids: list[str], everyone: bool, filters: UserFilters) -> None:
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
            _plan_for(app, frame, ids, state, title=f"{verb} {who} {'user' if count == 1 else 'users'}",
                      label=label[:300])
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")
    else:
        st.caption("Each button makes a preview first: who changes from what to what, who is skipped and why. "
                   "Nothing is sent until you confirm.")


# --- CSV import ----------------------------------------------------------------------------------


DELIMITERS = {",": "Comma (,)", ";": "Semicolon (;)", "\t": "Tab"}


def _csv_import(app: Console, frame: pd.DataFrame) -> None:
    st.markdown("Upload a CSV of users to change: a column of UPNs (header **UserPrincipalName**, or none) and, "
                "optionally, a **State** column (disabled, enabled or enforced) per user. Valid rows become a plan "
                "with the same preview and confirmation; each rejected row is listed with the reason.")
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key="users_csv_file")
    left, right = st.columns(2)
    delimiter = left.selectbox("Separator", list(DELIMITERS), format_func=DELIMITERS.get, key="users_csv_delimiter")
    default = right.selectbox("State for rows without one", [None, *STATES], key="users_csv_default",
                              format_func=lambda s: "None: every row must give a state" if s is None
                              else STATE_LABELS[s])
    if upload is None:
        st.session_state.pop(CSV_MEMO_KEY, None)
        return
    data = upload.getvalue()
    memo_key = (upload.file_id, hashlib.blake2b(data, digest_size=12).hexdigest(), delimiter, default, len(frame),
                st.session_state.get(SIGNATURE_KEY))
    memo = st.session_state.get(CSV_MEMO_KEY)
    if not (isinstance(memo, tuple) and memo[0] == memo_key):
        try:
            result: Any = rollout.parse_users_csv(data, frame, default_state=default, delimiter=delimiter)
        except rollout.CsvImportError as err:
            result = err
        except Exception as err:  # anything unexpected in a file is still the file's problem to report
            result = rollout.CsvImportError(f"the file could not be read: {describe(err)}", code="not_text")
        memo = (memo_key, result)
        st.session_state[CSV_MEMO_KEY] = memo
    result = memo[1]
    if isinstance(result, rollout.CsvImportError):
        st.error(f"**{md(upload.name)}** cannot be used: {describe(result)}", icon=":material/error:")
        return
    imported: rollout.CsvImport = result
    valid, rejected = len(imported.rows), len(imported.errors)
    st.markdown(f"**{md(upload.name)}**: {imported.data_rows:,} rows read · **{valid:,} valid** · "
                f"**{rejected:,} rejected**")
    if rejected:
        counts = imported.error_counts()
        st.warning(imported.describe_errors() + ". By reason: "
                   + ", ".join(f"{code.replace('_', ' ')} {n:,}" for code, n in counts.items()),
                   icon=":material/rule:")
        errors = imported.errors_frame()
        st.dataframe(errors.head(5_000), hide_index=True, key="users_csv_errors", placeholder="—",
                     height=min(35 * (len(errors) + 1) + 3, 300),
                     column_config={"line": st.column_config.NumberColumn("Line", format="%d"), "upn": "UPN",
                                    "code": "Problem", "message": "Details"})
        st.download_button("Download the rejected rows (CSV)", imported.errors_csv(), key="users_csv_errors_csv",
                           file_name="rejected-rows.csv", mime="text/csv", icon=":material/download:",
                           on_click="ignore")
    writer, reason = can_apply()
    if st.button(f"Plan these {valid:,} users", key="users_csv_plan", type="primary", icon=":material/fact_check:",
                 disabled=not writer or valid == 0, help=reason if not writer else None):
        try:
            ids = [row.user_id for row in imported.rows]
            with st.spinner(f"Reading the current MFA state of {len(ids):,} users from Microsoft Graph…"):
                the_plan = preview_csv(workspace(app), frame, imported)
        except Exception as err:
            st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")
        else:
            state = the_plan.requested_state
            what = f"{VERBS[state]} {valid:,}" if state else f"Change {valid:,}"
            set_plan(PREFIX, PlanEntry(the_plan, title=f"{what} users from {upload.name}",
                                       label=f"CSV import: {upload.name}"[:300]))
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")


# --- operation outcome ---------------------------------------------------------------------------


def _after_operation(app: Console) -> Any:
    def actions(progress: rollout.OperationProgress) -> None:
        st.caption("The table shows the snapshot: refresh the data to see the new states there.")
        cols = st.columns(3)
        with contextlib.suppress(Exception):
            cols[0].page_link("pages/operations.py", label="Open in Operations", icon=":material/history:")
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
        _apply_preset(preset)

    snapshot = latest_snapshot(app)
    if snapshot is None:
        _no_snapshot(app)
        render_plan(app, PREFIX)
        watch_operation(app, PREFIX, actions=_after_operation(app))
        return
    prepared = _prepared(app, snapshot, app.settings.database_url, tenant, snapshot.id)
    frame = prepared.frame
    scope = scope_controls("users", protected_upns(app.store, tenant, app.now()))
    tab_select, tab_import = st.tabs(["Filter and select", "Import a CSV"])
    with tab_select:
        filters, parsed, problems = _filters(prepared)
        in_scope = scope_mask(frame, scope).to_numpy()
        mask = in_scope & prepared.mask(filters, app.now())
        positions = np.flatnonzero(mask)
        _preset_banner(filters, len(positions))
        for problem in problems:
            st.warning(problem, icon=":material/list:")
        if parsed is not None and parsed.upns:
            missing = unmatched_upns(frame, parsed.upns, known=prepared.known)
            note = f"{len(parsed.upns):,} UPNs on the list"
            if missing:
                listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5:,} more" if len(missing) > 5 else "")
                note += f"; {len(missing):,} not in the snapshot ({md(listed)})"
            if parsed.invalid:
                note += f"; {len(parsed.invalid):,} not a UPN ({md(', '.join(parsed.invalid[:3]))})"
            st.caption(note + ".")
        _counts_line(prepared, mask, int(in_scope.sum()))
        described = describe_filters(filters)
        top = st.columns([5, 1], vertical_alignment="center")
        top[0].caption(("Filters: " + " · ".join(md(d) for d in described)) if described else
                       "No filter: every user in scope is listed.")
        if filters.active:
            top[1].button("Reset filters", key="users_reset_filters", on_click=_reset_filters, width="stretch")
        _reset_selection_on_change(_signature(filters, scope, snapshot.id))
        if not len(positions):
            st.info("No user matches these filters and this scope. Loosen a filter, or **Reset filters**.",
                    icon=":material/search_off:")
            ids, everyone = [], False
        else:
            ids, everyone = _selection(frame, positions)
        as_of = pd.Timestamp(snapshot.state_read_at or snapshot.started_at)
        _exports(frame, mask, len(positions), f"{as_of:%Y%m%d-%H%M}")
        st.caption(f"MFA states as of the snapshot ({as_of:%Y-%m-%d %H:%M} UTC); a plan re-reads the selected users' "
                   "states first.")
        _actions(app, frame, ids, everyone, filters)
    with tab_import:
        _csv_import(app, frame)
    render_plan(app, PREFIX)
    watch_operation(app, PREFIX, actions=_after_operation(app))


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**The Users page could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, refresh the data from the sidebar.")
