"""The Users page's CSV import: read a file of UPNs (and optional states), list every rejected row, plan the rest."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.columns import STATES
from lib.console import preview_csv
from lib.errors import describe
from lib.ui.context import Console, workspace
from lib.ui.plan_job import ask_preview, drop_preview, follow_preview
from lib.ui.rollout_widgets import (
    VERBS,
    can_apply,
    md,
)
from lib.ui.users_table import SIGNATURE_KEY
from lib.users_filters import (
    STATE_LABELS,
)

CSV_MEMO_KEY = "users_csv_memo"
PREFIX = "users"
PLACE = "users:csv"


DELIMITERS: dict[str | None, str] = {None: "Detect from the file", ",": "Comma (,)", ";": "Semicolon (;)",
                                     "\t": "Tab"}


def _plan(app: Console, frame: pd.DataFrame, imported: rollout.CsvImport, name: str, key: Any) -> None:
    """Preview the file's valid rows (in the background when there are many: ``lib.ui.plan_job``)."""
    ws = workspace(app)
    states = {row.state for row in imported.rows}
    valid = len(imported.rows)
    what = f"{VERBS[next(iter(states))]} {valid:,}" if len(states) == 1 else f"Change {valid:,}"

    def build(progress: Any, cancel: Any) -> rollout.Plan:
        return preview_csv(ws, frame, imported, on_progress=progress, cancel=cancel)

    try:
        with st.spinner(f"Reading the current MFA state of {len(imported.targets):,} users from Microsoft Graph…"):
            ask_preview(app, PREFIX, place=PLACE, selection=key, size=len(imported.targets), build=build,
                        title=f"{what} users from {name}", label=f"CSV import: {name}"[:300])
    except Exception as err:
        st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")


def csv_import_panel(app: Console, frame: pd.DataFrame) -> None:
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
        drop_preview(PLACE)  # the file it was for is gone
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
    rows = "row" if imported.data_rows == 1 else "rows"
    st.markdown(f"**{md(upload.name)}**: {imported.data_rows:,} {rows} read · **{valid:,} valid** · "
                f"**{rejected:,} rejected**")
    if delimiter is None:
        st.caption(f"Separated by {DELIMITERS[imported.delimiter].lower()}, as detected in the file.")
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
        _plan(app, frame, imported, upload.name, memo_key)
    follow_preview(app, PREFIX, place=PLACE, selection=memo_key)
    if not writer:
        st.caption(f":material/lock: Read-only: {reason}")


