"""The two protection plans on the Plans page: what each would do, in counts and words, and its Preview button.

The counts come from the snapshot (pure selections, no Graph); a Preview asks ``lib.console`` for the plan,
which re-reads the chosen users' states. The plan then goes through the page's usual preview and
confirmation (``lib.ui.rollout_widgets``); what covers each user it changes is shown under it.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from lib import console
from lib.console import Workspace
from lib.errors import describe
from lib.exports import to_csv_bytes
from lib.rollout.coverage_plans import CoverageSelection, CoverageUnknown, close_gap_selection, move_off_selection
from lib.ui.context import Console, workspace
from lib.ui.rollout_widgets import PlanEntry, can_apply, set_plan

COVER_KEY = "plans_coverage"
"""Session key: the coverage table of the plan on show (user, coverage, policies), for the preview."""


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _skip_lines(selection: CoverageSelection) -> list[str]:
    counts = pd.Series([code for code, _reason in selection.skips.values()], dtype="string").value_counts()
    gist = {code: reason for code, reason in selection.skips.values()}
    return [f"{int(n):,} × {gist[code].split(':')[0]}" for code, n in counts.items()]


def _preview(app: Console, make: Callable[[Workspace], console.CoveragePreview], title: str, label: str) -> None:
    try:
        with st.spinner("Reading the chosen users' current MFA state from Microsoft Graph…"):
            cover = make(workspace(app))
    except Exception as err:  # Graph, store or input trouble: say what, never a traceback
        st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")
        return
    st.session_state[COVER_KEY] = cover.coverage_of_changes()
    set_plan("plans", PlanEntry(cover.plan, title=title, label=label, wave_allowed=False))


def move_off_panel(app: Console, frame: pd.DataFrame) -> None:
    st.subheader("Move covered users off per-user MFA")
    try:
        selection = move_off_selection(frame)
    except CoverageUnknown as err:
        st.info(err.message, icon=":material/photo_camera:")
        return
    st.caption("Microsoft advises per-user MFA **Disabled** for users covered by Conditional Access or security "
               "defaults: they are asked for MFA either way. This plan sets it Disabled for users with per-user MFA "
               "on who are covered for all cloud apps (or by security defaults) and have registered.")
    n = len(selection.target_ids)
    if not selection.considered:
        st.success("No user has per-user MFA on: nothing to move.", icon=":material/check_circle:")
        return
    st.markdown(f"**{_count(n, 'user', 'users')}** can move off per-user MFA; "
                f"{_count(len(selection.skips), 'user keeps', 'users keep')} it.")
    if selection.skips:
        with st.expander("Who keeps per-user MFA, and why"):
            st.markdown("\n".join(f"- {line}" for line in _skip_lines(selection)))
    writer, reason = can_apply()
    if st.button("Preview: move them off per-user MFA…", key="plans_move_off", icon=":material/lock_open:",
                 disabled=n == 0, help="Makes a preview first; nothing is sent until you confirm."):
        _preview(app, lambda ws: console.preview_move_off_per_user(ws, frame),
                 f"Move {_count(n, 'covered user', 'covered users')} off per-user MFA",
                 "Move covered users off per-user MFA (Plans page)")
    if not writer:
        st.caption(f":material/lock: Read-only: {reason} You can preview the plan.")


def close_gap_panel(app: Console, frame: pd.DataFrame, ca_available: bool) -> None:
    st.subheader("Close the gap")
    try:
        selection = close_gap_selection(frame, ca_available=ca_available)
    except CoverageUnknown as err:
        st.info(err.message, icon=":material/photo_camera:")
        return
    n = len(selection.target_ids)
    if n == 0:
        st.success("Every user is covered by MFA (or deliberately excluded): there is no gap.",
                   icon=":material/check_circle:")
        return
    st.markdown(f"**{_count(n, 'user is', 'users are')} covered by nothing.** {selection.recommendation}")
    if selection.skips:
        with st.expander("Users left out, and why"):
            st.markdown("\n".join(f"- {line}" for line in _skip_lines(selection)))
    listed = selection.coverage_of(selection.target_ids).loc[:, ["upn", "display_name", "coverage"]]
    cols = st.columns(3)
    cols[0].download_button("Download the list (CSV)", to_csv_bytes(listed), file_name="mfa-gap-users.csv",
                            mime="text/csv",
                            icon=":material/download:", key="plans_gap_csv", width="stretch",
                            help="For a Conditional Access change: the users to include in a policy that "
                                 "requires MFA for all cloud apps.")
    writer, reason = can_apply()
    for col, state, verb, icon in ((cols[1], "enforced", "Enforce", ":material/lock:"),
                                   (cols[2], "enabled", "Enable", ":material/how_to_reg:")):
        alt = " (the alternative)" if selection.route == "conditional_access" else ""
        if col.button(f"Preview: {verb} per-user MFA{alt}…", key=f"plans_gap_{state}", icon=icon, width="stretch"):
            _preview(app, lambda ws, s=state: console.preview_close_gap(ws, frame, s),
                     f"{verb} per-user MFA for {_count(n, 'user', 'users')} covered by nothing",
                     f"Close the gap: {verb.lower()} per-user MFA (Plans page)")
    if not writer:
        st.caption(f":material/lock: Read-only: {reason} You can preview the plans and download the list.")


def coverage_of_plan() -> None:
    """Under the preview: the coverage (and the policy) behind each change."""
    cover = st.session_state.get(COVER_KEY)
    if isinstance(cover, pd.DataFrame) and len(cover):
        with st.expander(f"What covers each of the {len(cover):,} users this plan changes"):
            st.dataframe(cover.loc[:, ["upn", "display_name", "coverage"]].rename(columns={
                "upn": "User", "display_name": "Name", "coverage": "Covered by"}),
                hide_index=True, width="stretch", height=min(400, 38 + 35 * len(cover)))
