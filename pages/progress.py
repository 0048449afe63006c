"""Registration progress: each rollout wave's funnel over time, its stragglers, and every member's road.

Renders only: the figures come from ``lib.progress`` (pure), the waves and actions from ``lib.rollout``,
the facts from the store's snapshots and versions. In demo mode a clock moves the simulated tenant
forward so a presenter can show a wave landing.
"""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from lib import rollout
from lib.errors import describe
from lib.progress import (
    STUCK_AFTER_DAYS,
    WaveSummary,
    days_text,
    funnel_chart,
    funnel_over_time,
    spacing_text,
    user_progress,
    wave_summary,
    waves_table,
)
from lib.ui import navigation
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame
from lib.ui.demo_clock import demo_clock
from lib.ui.snapshot_views import snapshot_view
from lib.ui.wave_actions import stragglers_section
from lib.ui.wave_members import FILTER_WAVES_KEY, members
from lib.ui.wave_readiness import readiness_section

WAVE_KEY = "progress_wave"
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


# --- data ----------------------------------------------------------------------------------------


def _wave_data(app: Console, users: pd.DataFrame, tenant: str, snapshot_id: int, as_of: pd.Timestamp,
               wave: rollout.Wave, sign_ins_known: bool) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """A wave's member ids, their versions and their per-user progress, once per snapshot and wave (``users``
    is the snapshot's users frame); each caller gets its own copies of the shared frames."""
    def build() -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
        ids = rollout.wave_member_ids(app.store, wave.id)
        versions = app.store.versions_for_users(tenant, ids)
        progress = user_progress(users, versions, ids, as_of, wave=wave.name, sign_ins_known=sign_ins_known)
        return ids, versions, progress

    key = ("wave", wave.id, wave.members, wave.name, as_of, sign_ins_known)
    ids, versions, progress = snapshot_view(app, tenant, snapshot_id, key, build)
    return list(ids), versions.copy(deep=False), progress.copy(deep=False)


def _snapshot_times(app: Console, tenant: str, snapshot_id: int) -> list[pd.Timestamp]:
    times = snapshot_view(app, tenant, snapshot_id, "snapshot times",
                          lambda: [s.started_at for s in app.store.list_snapshots(tenant) if s.status == "complete"])
    return list(times)


# --- empty state ---------------------------------------------------------------------------------


def _no_waves() -> None:
    with st.container(border=True):
        st.markdown("### No rollout waves yet")
        st.markdown(
            "A **wave** is a group of users you enable for MFA together and then follow until every one of them "
            "has registered. To create one:\n\n"
            "1. open the **Users** page and filter the users of the wave (a department, a country, a pasted list);\n"
            "2. select them and press **Enable…**;\n"
            "3. in the preview, fill in **Name this Enable as a rollout wave** (for example *Wave 3: Engineering*), "
            "then **Confirm…**.\n\n"
            "The wave then appears here with its funnel (enabled → registered → enforced), its stragglers and "
            "each member's timeline.")
        with contextlib.suppress(Exception):  # the Users page may not be part of this build
            st.page_link(navigation.USERS.path, label="Go to the Users page", icon=":material/group:")


# --- per wave ------------------------------------------------------------------------------------


def _days(value: float | None) -> str:
    return "—" if value is None else days_text(value)


def _median(summary: WaveSummary) -> tuple[str, str | None]:
    """The median time to register, rounded to what the snapshots can tell, and its resolution in words."""
    value = summary.median_days_to_register
    if value is None:
        return "—", None
    spacing = summary.snapshot_spacing
    coarse = spacing is not None and spacing[1] >= 1
    shown = days_text(float(round(value))) if coarse else days_text(value)
    return shown, spacing_text(spacing)


def _kpis(summary: WaveSummary, funnel: pd.DataFrame) -> None:
    row = st.columns(4)
    row[0].metric("Members", f"{summary.members:,}", border=True,
                  help=None if summary.present == summary.members else
                  f"{summary.members - summary.present:,} are no longer in the tenant")
    row[1].metric("Days since launch", f"{summary.days_since_launch:,}", border=True)
    row[2].metric("Registered", f"{summary.pct_registered:.1f}%", f"{summary.registered:,} of {summary.members:,}",
                  delta_color="off", delta_arrow="off", border=True, chart_data=funnel["pct_registered"].round(1),
                  chart_type="area", help="Members Enabled or Enforced who have a registered second factor")
    row[3].metric("Enforced", f"{summary.pct_enforced:.1f}%", f"{summary.enforced:,} of {summary.members:,}",
                  delta_color="off", delta_arrow="off", border=True, chart_data=funnel["pct_enforced"].round(1),
                  chart_type="area")
    row = st.columns(4)
    median, resolution = _median(summary)
    row[0].metric("Median time to register", median, resolution, delta_color="off", delta_arrow="off", border=True,
                  help=f"Over the {summary.registered_after_launch:,} members who registered after the launch, "
                       "from the launch to the first snapshot that saw each registration. A registration is known "
                       "only to within the time between two snapshots: rounded to whole days when they are a "
                       "day or more apart")
    projection = summary.projection
    if projection.at is not None:
        row[1].metric("Projected completion", f"{projection.at:%Y-%m-%d}", f"in {_days(projection.days)}",
                      delta_color="off", delta_arrow="off", border=True, help=projection.reason)
    else:
        done = projection.remaining == 0
        row[1].metric("Projected completion", "Complete" if done else "—", border=True, help=projection.reason)
    row[2].metric("Pace", f"{projection.pace_per_day:.1f} / day", border=True,
                  help=f"Registrations per day over the last {days_text(projection.window_days)}")
    row[3].metric("Stragglers", f"{summary.stragglers:,}", border=True,
                  help="Members with at least one stuck flag")
    if projection.at is None and projection.remaining:
        st.caption(f"No projection: {projection.reason}.")


def _wave_caption(wave: rollout.Wave, as_of: pd.Timestamp) -> str:
    how = "imported from the tenant's past" if wave.source == "imported" else f"operation {wave.operation_id}"
    by = f" by {wave.actor}" if wave.actor else ""
    return f"Launched {wave.launched_at:%Y-%m-%d %H:%M} UTC{by} ({how}) · figures as of {as_of:%Y-%m-%d %H:%M} UTC"


# --- the page ------------------------------------------------------------------------------------


def _on_wave_change() -> None:
    st.session_state.pop(FILTER_WAVES_KEY, None)  # the members table follows the chosen wave


def render() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    tenant = admin.tenant_id
    st.title("Registration progress")
    st.caption("Each rollout wave from launch to Enforced: who registered, how fast, who is stuck, and what to do.")
    demo_clock(app, tenant)

    snapshot = latest_snapshot(app)
    if snapshot is None:
        st.info("No snapshot of this tenant yet: take the first one on the Overview page (or with Refresh data in "
                "the sidebar).", icon=":material/photo_camera:")
        return
    waves = rollout.list_waves(app.store, tenant)
    if not waves:
        _no_waves()
        return
    users = users_frame(app, snapshot)
    as_of = pd.Timestamp(snapshot.state_read_at or snapshot.started_at)
    sign_ins_known = bool(users["last_sign_in"].notna().any())

    newest_first = list(reversed(waves))
    by_id = {w.id: w for w in waves}
    if st.session_state.get(WAVE_KEY) not in by_id:
        st.session_state[WAVE_KEY] = newest_first[0].id
    wave_id = st.selectbox("Wave", [w.id for w in newest_first], key=WAVE_KEY, on_change=_on_wave_change,
                           format_func=lambda i: f"{by_id[i].name} · launched {by_id[i].launched_at:%Y-%m-%d} · "
                                                 f"{by_id[i].members:,} members")
    wave = by_id[wave_id]

    with st.spinner("Reading the waves' history…"):
        bundles = {w.id: _wave_data(app, users, tenant, snapshot.id, as_of, w, sign_ins_known) for w in waves}
    times = _snapshot_times(app, tenant, snapshot.id)
    summaries = {w.id: wave_summary(bundles[w.id][1], bundles[w.id][0], w.launched_at, as_of, bundles[w.id][2],
                                    snapshot_times=times)
                 for w in waves}  # every figure as of the data
    ids, versions, progress = bundles[wave.id]
    summary = summaries[wave.id]
    if len(waves) > 1:
        with st.expander(f"All {len(waves)} waves side by side"):
            st.dataframe(waves_table((w, summaries[w.id]) for w in waves), hide_index=True, column_config={
                "wave": "Wave", "launched": st.column_config.DatetimeColumn("Launched", format="YYYY-MM-DD"),
                "members": "Members", "days": "Days",
                "pct_registered": st.column_config.NumberColumn("Registered", format="%.1f%%"),
                "pct_enforced": st.column_config.NumberColumn("Enforced", format="%.1f%%"),
                "median_days_to_register": st.column_config.NumberColumn("Median days to register", format="%.1f"),
                "projected_completion": st.column_config.DatetimeColumn("Projected completion", format="YYYY-MM-DD"),
                "stragglers": "Stragglers"})

    st.caption(_wave_caption(wave, as_of))
    if as_of < wave.launched_at:
        st.info("The latest snapshot predates this wave's launch: refresh the data to see its members' progress.",
                icon=":material/update:")
    if not sign_ins_known:
        st.caption("Sign-in activity is not available for this tenant (it needs Entra ID P1): "
                   "the “Never signed in” flag is off.")
    funnel = funnel_over_time(versions, ids, wave.launched_at, as_of, snapshot_times=times)
    _kpis(summary, funnel)
    readiness_section(app, tenant, wave, users)

    st.subheader("Funnel over time")
    as_counts = st.toggle("Show counts instead of shares", key="progress_counts")
    st.plotly_chart(funnel_chart(funnel, as_percent=not as_counts), config=PLOTLY_CONFIG, key="progress_funnel")
    st.caption(f"A point per snapshot since the launch: members Enabled or Enforced, those of them registered, "
               "and those Enforced, as each snapshot saw them; a step holds until the next snapshot, since what "
               f"happened in between is not known. A member is stuck after {STUCK_AFTER_DAYS} days Enabled without "
               "registering.")

    stragglers_section(app, tenant, wave, users, progress, summary)
    members(app, tenant, waves, bundles, wave.name)


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**Registration progress could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, refresh the data from the sidebar.")
