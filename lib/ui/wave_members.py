"""A wave's members table and one member's timeline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import user_timeline
from lib.errors import describe
from lib.exports import to_csv_bytes
from lib.progress import (
    STUCK_FLAGS,
    progress_display,
    timeline_display,
)
from lib.ui.context import Console, workspace
from lib.ui.rollout_widgets import md

FILTER_WAVES_KEY = "progress_filter_waves"
DETAIL_KEY = "progress_detail_user"
PICKED_KEY = "progress_members_picked"
STATE_OPTIONS = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced", "unknown": "Unknown"}
DETAIL_LIMIT = 2000


TABLE_COLUMNS = {
    "display_name": st.column_config.TextColumn("Name"),
    "upn": st.column_config.TextColumn("UPN"),
    "wave": st.column_config.TextColumn("Wave"),
    "department": st.column_config.TextColumn("Department"),
    "state": st.column_config.TextColumn("State"),
    "registered": st.column_config.CheckboxColumn("Registered"),
    "methods": st.column_config.TextColumn("Methods"),
    "days_in_state": st.column_config.NumberColumn(
        "Days in state", help="Days since the snapshot that first saw the current state; "
                              "‘since’ says ‘before’ when the state predates the stored history"),
    "since": st.column_config.TextColumn("Since"),
    "last_sign_in": st.column_config.DatetimeColumn("Last sign-in", format="YYYY-MM-DD HH:mm"),
    "flags": st.column_config.TextColumn("Stuck flags"),
}


# --- members table and user detail ---------------------------------------------------------------


def members(app: Console, tenant: str, waves: list[rollout.Wave], bundles: dict[int, tuple], chosen_wave: str
             ) -> None:
    st.subheader("Members")
    everyone = pd.concat([bundles[w.id][2] for w in waves], ignore_index=True)
    cols = st.columns(4)
    names = [w.name for w in waves]
    departments = sorted({d for d in everyone["department"].dropna().tolist() if d})
    if FILTER_WAVES_KEY not in st.session_state:
        st.session_state[FILTER_WAVES_KEY] = [chosen_wave]
    for key, options in ((FILTER_WAVES_KEY, names), ("progress_filter_departments", departments)):
        kept = [v for v in st.session_state.get(key) or [] if v in options]  # a choice that is gone is dropped
        if key in st.session_state and kept != st.session_state[key]:
            st.session_state[key] = kept
    in_waves = cols[0].multiselect("Wave", names, key=FILTER_WAVES_KEY, placeholder="All waves")
    states = cols[1].multiselect("State", list(STATE_OPTIONS), format_func=STATE_OPTIONS.get,
                                 key="progress_filter_states", placeholder="Any state")
    flags = cols[2].multiselect("Stuck flag", ["any", *STUCK_FLAGS],
                                format_func=lambda f: "Any stuck flag" if f == "any" else STUCK_FLAGS[f],
                                key="progress_filter_flags", placeholder="Stuck or not")
    in_departments = cols[3].multiselect("Department", departments, key="progress_filter_departments",
                                         placeholder="Any department")
    shown = everyone
    if in_waves:
        shown = shown[shown["wave"].isin(in_waves)]
    if states:
        shown = shown[shown["state"].isin(states)]
    if flags:
        wanted = list(STUCK_FLAGS) if "any" in flags else flags
        shown = shown[shown[wanted].any(axis=1)]
    if in_departments:
        shown = shown[shown["department"].isin(in_departments)]
    shown = shown.reset_index(drop=True)
    st.caption(f"{len(shown):,} of {len(everyone):,} wave memberships")
    picked = st.dataframe(progress_display(shown), hide_index=True, column_config=TABLE_COLUMNS,
                          on_select="rerun", selection_mode="single-row", key="progress_members")
    rows = list(getattr(getattr(picked, "selection", None), "rows", []) or [])
    row_id = str(shown["id"].iloc[rows[0]]) if rows and rows[0] < len(shown) else None
    if row_id is not None and st.session_state.get(PICKED_KEY) != row_id:
        st.session_state[PICKED_KEY] = row_id  # a newly selected row opens that member's timeline below
        st.session_state[DETAIL_KEY] = row_id
    export = shown.drop(columns=["since_history_start", "stuck"])
    st.download_button("Download these members (CSV)", to_csv_bytes(export), key="progress_members_csv",
                       file_name="wave-members.csv", mime="text/csv", icon=":material/download:",
                       disabled=shown.empty)
    _detail(app, tenant, waves, bundles, shown)


def _detail(app: Console, tenant: str, waves: list[rollout.Wave], bundles: dict[int, tuple],
            shown: pd.DataFrame) -> None:
    st.subheader("User detail")
    people = shown.drop_duplicates("id")
    if people.empty:
        st.caption("No member matches the filters.")
        return
    if len(people) > DETAIL_LIMIT:
        st.caption(f"Showing the first {DETAIL_LIMIT:,} of {len(people):,}: narrow the filters to find someone.")
        people = people.head(DETAIL_LIMIT)
    labels = dict(zip(people["id"], people["display_name"].fillna("") + " — " + people["upn"].fillna(""),
                      strict=True))
    if st.session_state.get(DETAIL_KEY) not in labels:
        st.session_state[DETAIL_KEY] = None
    user_id = st.selectbox("Member", list(labels), format_func=labels.get, key=DETAIL_KEY,
                           placeholder="Choose a member (or select a row above) to see their timeline")
    if user_id is None:
        return
    facts = progress_display(people[people["id"] == user_id]).iloc[0]
    department = facts["department"] if isinstance(facts["department"], str) and facts["department"] else None
    st.markdown(f"**{md(facts['display_name'])}** · {md(facts['upn'])} · {md(department or 'no department')} · "
                f"{facts['state']} · "
                + (f"registered: {md(facts['methods'])}" if facts["registered"] else "no second factor")
                + (f" · :orange[{md(facts['flags'])}]" if facts["flags"] else ""))
    member_of = [w for w in waves if user_id in set(bundles[w.id][0])]
    try:
        timeline = user_timeline(workspace(app), user_id, waves=member_of)
    except Exception as err:
        st.error(f"The timeline could not be read: {describe(err)}")
        return
    if timeline.empty:
        st.caption("Nothing recorded for this user yet.")
        return
    st.table(timeline_display(timeline), hide_index=True, border="horizontal")
    st.caption("From *Snapshots*: what two consecutive snapshots revealed, so it happened between the two times "
               "named. From *Journal*: changes made through this console, and by whom. From *Wave*: the launch of "
               "a wave imported from the tenant's past.")


