"""Registration progress: each rollout wave's funnel over time, its stragglers, and every member's road.

Renders only: the figures come from ``lib.progress`` (pure), the waves and actions from ``lib.rollout``,
the facts from the store's snapshots and versions. In demo mode a clock moves the simulated tenant
forward so a presenter can show a wave landing.
"""

from __future__ import annotations

import contextlib
import re

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_wave_enforcement, user_timeline
from lib.demo import advance_demo_clock
from lib.errors import describe
from lib.exports import to_csv_bytes
from lib.jobs import current_job
from lib.progress import (
    STRAGGLER_DISPLAY,
    STUCK_AFTER_DAYS,
    STUCK_FLAGS,
    WaveSummary,
    funnel_chart,
    funnel_over_time,
    progress_display,
    reminder_addresses,
    reminder_csv,
    reminder_mailto,
    stragglers,
    timeline_display,
    user_progress,
    wave_summary,
    waves_table,
)
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.rollout_widgets import PlanEntry, render_plan, set_plan, watch_operation
from lib.ui.sidebar import start_session_refresh

WAVE_KEY = "progress_wave"
FILTER_WAVES_KEY = "progress_filter_waves"
PREFIX = "progress"
"""The shared plan preview, confirmation and live progress (``lib.ui.rollout_widgets``) keep their state here."""
PLAN_WAVE_KEY = "progress_plan_wave"
USERS_PAGE = "pages/users.py"
CLOCK_NOTE_KEY = "progress_clock_note"
CLOCK_JOB_KEY = "progress_clock_job"
DETAIL_KEY = "progress_detail_user"
PICKED_KEY = "progress_members_picked"
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
STATE_OPTIONS = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced", "unknown": "Unknown"}
DETAIL_LIMIT = 2000

REMINDER_SUBJECT = "Action needed: set up multi-factor authentication"
REMINDER_BODY = (
    "Hello,\n\nYour account now requires multi-factor authentication (MFA), and you have not finished setting it "
    "up yet. Please sign in at https://aka.ms/mfasetup and follow the steps to register the Microsoft "
    "Authenticator app or another method.\n\nIf you cannot sign in or need help, reply to this message.\n\n"
    "Thank you,\nIT Security"
)


# --- demo clock ----------------------------------------------------------------------------------


@st.fragment(run_every=1.0)
def _clock_refresh(tenant: str) -> None:
    job = current_job(tenant)
    if job is None:
        return
    if not job.finished:
        st.progress(job.fraction, text=f"Refreshing after the clock moved — {job.label}")
        return
    if st.session_state.get(CLOCK_JOB_KEY) == id(job):
        st.session_state.pop(CLOCK_JOB_KEY, None)
        st.rerun(scope="app")  # the new snapshot is in: redraw the whole page


def _advance(app: Console, days: int) -> None:
    try:
        moved = advance_demo_clock(app.demo, days)
        job = start_session_refresh(app)
    except Exception as err:  # never a traceback on the page
        st.session_state[CLOCK_NOTE_KEY] = ("error", f"The clock could not move: {describe(err)}")
        return
    st.session_state[CLOCK_JOB_KEY] = id(job)
    span = "a day" if days == 1 else "a week" if days == 7 else f"{days} days"
    st.session_state[CLOCK_NOTE_KEY] = (
        "info",
        f"Moved the demo clock {span}: {moved.get('signed_in', 0):,} sign-ins, {moved.get('registered', 0):,} "
        f"registrations, {moved.get('enforced', 0):,} users became Enforced; the console then took a new snapshot.",
    )


def _demo_clock(app: Console, tenant: str) -> None:
    if not app.is_demo:
        return
    job = current_job(tenant)
    running = job is not None and not job.finished
    with st.container(border=True, key="demo_clock"):
        text, day, week = st.columns([4, 1, 1], vertical_alignment="center")
        text.markdown(f"**Demo clock** · simulated time **{app.now():%Y-%m-%d %H:%M} UTC**")
        text.caption("Move the demo tenant forward: people sign in and register, then the console takes a "
                     "new snapshot, so the waves' progress moves.")
        if day.button("+1 day", key="clock_day", disabled=running, width="stretch", icon=":material/schedule:"):
            _advance(app, 1)
            st.rerun()
        if week.button("+1 week", key="clock_week", disabled=running, width="stretch",
                       icon=":material/fast_forward:"):
            _advance(app, 7)
            st.rerun()
        note = st.session_state.get(CLOCK_NOTE_KEY)
        if note:
            kind, text_ = note
            (st.error if kind == "error" else st.caption)(text_)
        _clock_refresh(tenant)


# --- data ----------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _wave_data(_app: Console, _users: pd.DataFrame, database_url: str, tenant: str, snapshot_id: int,
               as_of: pd.Timestamp, wave_id: int, members: int, wave_name: str, sign_ins_known: bool
               ) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """A wave's member ids, their versions and their per-user progress, keyed by snapshot and wave
    (``_users`` is the snapshot's users frame: the snapshot id stands for it in the key)."""
    ids = rollout.wave_member_ids(_app.store, wave_id)
    versions = _app.store.versions_for_users(tenant, ids)
    progress = user_progress(_users, versions, ids, as_of, wave=wave_name, sign_ins_known=sign_ins_known)
    return ids, versions, progress


@st.cache_data(show_spinner=False, max_entries=8)
def _snapshot_times(_app: Console, database_url: str, tenant: str, snapshot_id: int) -> list[pd.Timestamp]:
    return [s.started_at for s in _app.store.list_snapshots(tenant) if s.status == "complete"]


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
            st.page_link(USERS_PAGE, label="Go to the Users page", icon=":material/group:")


# --- per wave ------------------------------------------------------------------------------------


def _days(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} days" if value < 10 else f"{value:.0f} days"


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
    row[0].metric("Median time to register", _days(summary.median_days_to_register), border=True,
                  help=f"Over the {summary.registered_after_launch:,} members who registered after the launch, "
                       "measured to the snapshot that first saw the registration")
    projection = summary.projection
    if projection.at is not None:
        row[1].metric("Projected completion", f"{projection.at:%Y-%m-%d}", f"in {_days(projection.days)}",
                      delta_color="off", delta_arrow="off", border=True, help=projection.reason)
    else:
        done = projection.remaining == 0
        row[1].metric("Projected completion", "Complete" if done else "—", border=True, help=projection.reason)
    row[2].metric("Pace", f"{projection.pace_per_day:.1f} / day", border=True,
                  help=f"Registrations per day over the last {projection.window_days:g} days")
    row[3].metric("Stragglers", f"{summary.stragglers:,}", border=True,
                  help="Members with at least one stuck flag")
    if projection.at is None and projection.remaining:
        st.caption(f"No projection: {projection.reason}.")


def _wave_caption(wave: rollout.Wave, as_of: pd.Timestamp) -> str:
    how = "imported from the tenant's past" if wave.source == "imported" else f"operation {wave.operation_id}"
    by = f" by {wave.actor}" if wave.actor else ""
    return f"Launched {wave.launched_at:%Y-%m-%d %H:%M} UTC{by} ({how}) · figures as of {as_of:%Y-%m-%d %H:%M} UTC"


# --- stragglers and actions ----------------------------------------------------------------------


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


def _actions(app: Console, tenant: str, wave: rollout.Wave, users: pd.DataFrame, chosen: pd.DataFrame,
             what: str) -> None:
    admin = signed_in_admin()
    enforce_tab, remind_tab = st.tabs(["Enforce", "Remind"])
    with enforce_tab:
        st.caption(f"Plan to set {what} to **Enforced**. Re-enabled members who registered need it (Graph will not "
                   "promote them); others must then register at their next sign-in. Protected accounts and "
                   "disabled accounts are skipped, each with the reason. You preview and confirm it right here.")
        writer = admin is not None and admin.can_change_mfa
        reason = None if writer else (admin.read_only_reason if admin else "You are not signed in.")
        if st.button("Plan: set Enforced", key="progress_plan_enforce", disabled=not writer or chosen.empty,
                     icon=":material/lock:", help=reason):
            ids = chosen["id"].tolist()
            try:
                with st.spinner(f"Reading the current MFA state of {len(ids):,} members from Microsoft Graph…"):
                    the_plan = preview_wave_enforcement(workspace(app), users, wave.id, member_ids=ids)
            except Exception as err:  # Graph, store or input trouble: say what, never a traceback
                st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")
            else:
                st.session_state[PLAN_WAVE_KEY] = wave.id
                set_plan(PREFIX, PlanEntry(the_plan, title=f"enforce the chosen members of {wave.name}",
                                           label=f"Enforce stragglers of {wave.name}"[:300], wave_allowed=False))
        if reason:
            st.caption(f":material/lock: Read-only: {reason}")
        if st.session_state.get(PLAN_WAVE_KEY) == wave.id:
            render_plan(app, PREFIX)
            watch_operation(app, PREFIX)
    with remind_tab:
        st.caption(f"A reminder for {what}: the list as CSV (for a mail merge or a ticket), and an e-mail with "
                   "everyone in Bcc.")
        st.download_button("Download the reminder list (CSV)", reminder_csv(chosen), key="progress_reminder_csv",
                           file_name=f"reminders-{_slug(wave.name)}.csv", mime="text/csv",
                           icon=":material/download:", disabled=chosen.empty)
        subject = st.text_input("Subject", REMINDER_SUBJECT, key="progress_mail_subject")
        body = st.text_area("Message", REMINDER_BODY, key="progress_mail_body", height=180)
        mail = reminder_mailto(reminder_addresses(chosen), subject, body)
        if mail.url:
            st.link_button(f"Write to {mail.recipients:,} {'person' if mail.recipients == 1 else 'people'} (Bcc)",
                           mail.url, icon=":material/mail:")
        else:
            st.info(f"No e-mail link: {mail.reason}.", icon=":material/info:")


def _md(text: object) -> str:
    """Tenant data shown inside markdown: its markdown characters shown as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", str(text))


def _slug(name: str) -> str:
    return "".join(c.lower() if c.isalnum() else "-" for c in name).strip("-")[:60] or "wave"


def _stragglers(app: Console, tenant: str, wave: rollout.Wave, users: pd.DataFrame, progress: pd.DataFrame,
                summary: WaveSummary) -> None:
    st.subheader("Stragglers")
    late = stragglers(progress)
    counts = " · ".join(f"{label}: **{summary.flag_counts.get(name, 0):,}**" for name, label in STUCK_FLAGS.items())
    st.markdown(counts)
    if late.empty:
        st.success("No member of this wave is stuck.", icon=":material/check_circle:")
        return
    picked = st.multiselect("Only these flags", list(STUCK_FLAGS), format_func=STUCK_FLAGS.get,
                            key=f"progress_straggler_flags_{wave.id}", placeholder="Any stuck flag")
    if picked:
        late = late[late[picked].any(axis=1)].reset_index(drop=True)
    event = st.dataframe(progress_display(late, STRAGGLER_DISPLAY), hide_index=True, column_config=TABLE_COLUMNS,
                         on_select="rerun", selection_mode="multi-row", key=f"progress_stragglers_{wave.id}")
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    chosen = late.iloc[[r for r in rows if r < len(late)]] if rows else late
    what = (f"the **{len(chosen):,} selected** {'straggler' if len(chosen) == 1 else 'stragglers'}" if rows
            else f"**all {len(chosen):,} stragglers shown** (select rows to narrow)")
    _actions(app, tenant, wave, users, chosen, what)


# --- members table and user detail ---------------------------------------------------------------


def _members(app: Console, tenant: str, waves: list[rollout.Wave], bundles: dict[int, tuple], chosen_wave: str
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
    st.markdown(f"**{_md(facts['display_name'])}** · {_md(facts['upn'])} · {_md(department or 'no department')} · "
                f"{facts['state']} · "
                + (f"registered: {_md(facts['methods'])}" if facts["registered"] else "no second factor")
                + (f" · :orange[{_md(facts['flags'])}]" if facts["flags"] else ""))
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
    _demo_clock(app, tenant)

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
        bundles = {w.id: _wave_data(app, users, app.settings.database_url, tenant, snapshot.id, as_of, w.id,
                                    w.members, w.name, sign_ins_known) for w in waves}
    summaries = {w.id: wave_summary(bundles[w.id][1], bundles[w.id][0], w.launched_at, as_of, bundles[w.id][2])
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
    times = _snapshot_times(app, app.settings.database_url, tenant, snapshot.id)
    funnel = funnel_over_time(versions, ids, wave.launched_at, as_of, snapshot_times=times)
    _kpis(summary, funnel)

    st.subheader("Funnel over time")
    as_counts = st.toggle("Show counts instead of shares", key="progress_counts")
    st.plotly_chart(funnel_chart(funnel, as_percent=not as_counts), config=PLOTLY_CONFIG, key="progress_funnel")
    st.caption(f"Each day with a snapshot since the launch: members Enabled or Enforced, those of them registered, "
               f"and those Enforced, as the snapshots saw them. A member is stuck after {STUCK_AFTER_DAYS} days "
               "Enabled without registering.")

    _stragglers(app, tenant, wave, users, progress, summary)
    _members(app, tenant, waves, bundles, wave.name)


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**Registration progress could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, refresh the data from the sidebar.")
