"""The demo clock on the Registration progress page: move the demo tenant a day or a week, then refresh.

Moving the clock changes the tenant (people register and become Enforced), so only an admin who may
change MFA sees the buttons; the use case (``lib.console.advance_demo_clock``) checks the role again.
"""

from __future__ import annotations

import streamlit as st

from lib.console import advance_demo_clock
from lib.errors import describe
from lib.jobs import current_job
from lib.ui.context import Console, workspace
from lib.ui.rollout_widgets import can_apply
from lib.ui.sidebar import start_session_refresh

CLOCK_NOTE_KEY = "progress_clock_note"
CLOCK_JOB_KEY = "progress_clock_job"


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
        moved = advance_demo_clock(workspace(app), app.demo, days)
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


def demo_clock(app: Console, tenant: str) -> None:
    if not app.is_demo:
        return
    job = current_job(tenant)
    running = job is not None and not job.finished
    writer, reason = can_apply()
    with st.container(border=True, key="demo_clock"):
        heading = f"**Demo clock** · simulated time **{app.now():%Y-%m-%d %H:%M} UTC**"
        if not writer:  # the time, and why it does not move for this admin: no buttons, no empty space for them
            st.markdown(heading)
            st.caption(f"Only an admin who may change MFA moves the demo clock. {reason}")
        else:
            text, day, week = st.columns([4, 1, 1], vertical_alignment="center")
            text.markdown(heading)
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


