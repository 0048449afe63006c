"""A wave's stragglers and what to do about them: enforce the chosen ones (the shared preview and
confirmation), or remind them."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lib import rollout
from lib.console import preview_wave_enforcement
from lib.errors import describe
from lib.progress import (
    STRAGGLER_DISPLAY,
    STUCK_FLAGS,
    WaveSummary,
    progress_display,
    reminder_addresses,
    reminder_csv,
    reminder_mailto,
    stragglers,
)
from lib.ui.context import Console, signed_in_admin, workspace
from lib.ui.plan_job import ask_preview, follow_preview, selection_digest
from lib.ui.rollout_widgets import render_plan, watch_operation
from lib.ui.wave_members import TABLE_COLUMNS

PREFIX = "progress"
"""The shared plan preview, confirmation and live progress (``lib.ui.rollout_widgets``) keep their state here."""
PLAN_WAVE_KEY = "progress_plan_wave"
PLACE = "progress:stragglers"

REMINDER_SUBJECT = "Action needed: set up multi-factor authentication"
REMINDER_BODY = (
    "Hello,\n\nYour account now requires multi-factor authentication (MFA), and you have not finished setting it "
    "up yet. Please sign in at https://aka.ms/mfasetup and follow the steps to register the Microsoft "
    "Authenticator app or another method.\n\nIf you cannot sign in or need help, reply to this message.\n\n"
    "Thank you,\nIT Security"
)


# --- stragglers and actions ----------------------------------------------------------------------


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
        ids = chosen["id"].astype(str).tolist()
        key = (wave.id, selection_digest(ids))
        if st.button("Plan: set Enforced", key="progress_plan_enforce", disabled=not writer or chosen.empty,
                     icon=":material/lock:", help=reason):
            ws = workspace(app)

            def build(progress: Any, cancel: Any) -> rollout.Plan:
                return preview_wave_enforcement(ws, users, wave.id, member_ids=ids, on_progress=progress,
                                                cancel=cancel)

            def shown(wave_id: int = wave.id) -> None:
                st.session_state[PLAN_WAVE_KEY] = wave_id

            try:
                with st.spinner(f"Reading the current MFA state of {len(ids):,} members from Microsoft Graph…"):
                    ask_preview(app, PREFIX, place=PLACE, selection=key, size=len(ids), build=build,
                                title=f"enforce the chosen members of {wave.name}",
                                label=f"Enforce stragglers of {wave.name}"[:300], wave_allowed=False, on_plan=shown)
            except Exception as err:  # the session's sign-in or store trouble: say what, never a traceback
                st.error(f"The plan could not be made: {describe(err)}", icon=":material/error:")
        follow_preview(app, PREFIX, place=PLACE, selection=key)
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


def _slug(name: str) -> str:
    return "".join(c.lower() if c.isalnum() else "-" for c in name).strip("-")[:60] or "wave"


def stragglers_section(app: Console, tenant: str, wave: rollout.Wave, users: pd.DataFrame, progress: pd.DataFrame,
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


