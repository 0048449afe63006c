"""The demo clock on the Registration progress page: move the demo tenant a day or a week, a snapshot a day.

Moving the clock changes the tenant (people register and become Enforced), so only an admin who may
change MFA sees the buttons; the use case (``lib.console.advance_demo_clock``) checks the role again
before each simulated day.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import streamlit as st

from lib.console import acting_writer, advance_demo_clock
from lib.errors import describe
from lib.jobs import RefreshJob, current_job
from lib.ui.context import Console, workspace
from lib.ui.job_progress import follow_refresh, is_running
from lib.ui.rollout_widgets import can_apply
from lib.ui.sidebar import start_session_refresh, throttle_note

CLOCK_NOTE_KEY = "progress_clock_note"
CLOCK_JOB_KEY = "progress_clock_job"


# --- demo clock ----------------------------------------------------------------------------------


def _span(days: int) -> str:
    return "a day" if days == 1 else "a week" if days == 7 else f"{days} days"


def moved_note(days: int, reports: list[Mapping[str, Any]]) -> str:
    """What a finished move of the clock did, in words: summed over its days."""
    total = {key: sum(int(r.get(key, 0)) for r in reports) for key in ("signed_in", "registered", "enforced")}
    snapshots = "a snapshot" if days == 1 else f"a snapshot at the end of each of the {days} days"
    became = "user became" if total["enforced"] == 1 else "users became"
    return (f"Moved the demo clock {_span(days)}: {_count(total['signed_in'], 'sign-in')}, "
            f"{_count(total['registered'], 'registration')}, {total['enforced']:,} {became} Enforced; "
            f"the console took {snapshots}.")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _clock_progress(job: RefreshJob) -> None:
    st.progress(job.fraction, text=f"Moving the clock, one simulated day at a time — {job.label}")


def _note_finished(job: RefreshJob | None) -> None:
    """This session's move of the clock has ended: say what it did (or why it stopped), once."""
    if job is None or not job.finished or st.session_state.get(CLOCK_JOB_KEY) != id(job):
        return
    st.session_state.pop(CLOCK_JOB_KEY, None)
    days = len(job.reports)
    if job.error:
        done = f" after {days - 1} of {job.steps} days" if days > 1 else ""
        st.session_state[CLOCK_NOTE_KEY] = ("error", f"The clock stopped{done}: {job.error}")
    else:
        st.session_state[CLOCK_NOTE_KEY] = ("info", moved_note(days, job.reports))


def _advance(app: Console, days: int) -> None:
    """Move the demo tenant ``days`` simulated days, one at a time, with a snapshot at the end of each: the
    history then has a point per day, as a console running all along would have."""
    demo = app.demo
    try:
        ws = workspace(app)
        acting_writer(ws)  # refused here, on the page, before a job starts; each day checks again
        job = start_session_refresh(app, before_each=[functools.partial(advance_demo_clock, ws, demo, 1)] * days,
                                    step_name="Day")
    except Exception as err:  # never a traceback on the page
        st.session_state[CLOCK_NOTE_KEY] = ("error", f"The clock could not move: {describe(err)}")
        return
    st.session_state[CLOCK_JOB_KEY] = id(job)
    st.session_state[CLOCK_NOTE_KEY] = ("info", f"Moving the demo clock {_span(days)}, with a snapshot at the end "
                                                "of each simulated day…")


def demo_clock(app: Console, tenant: str) -> None:
    if not app.is_demo:
        return
    job = current_job(tenant)
    _note_finished(job)
    running = is_running(job)
    writer, reason = can_apply()
    with st.container(border=True, key="demo_clock"):
        heading = f"**Demo clock** · simulated time **{app.now():%Y-%m-%d %H:%M} UTC**"
        if not writer:  # the time, and why it does not move for this admin: no buttons, no empty space for them
            st.markdown(heading)
            st.caption(f"Only an admin who may change MFA moves the demo clock. {reason}")
            st.caption(f"{throttle_note(app.settings.demo_throttle_speedup)}.")
        else:
            text, day, week = st.columns([4, 1, 1], vertical_alignment="center")
            text.markdown(heading)
            text.caption("Move the demo tenant forward: people sign in and register, and the console takes a "
                         "snapshot at the end of each simulated day, so the waves' progress moves day by day. "
                         f"{throttle_note(app.settings.demo_throttle_speedup)}.")
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
        follow_refresh(tenant, _clock_progress)  # polls only while the clock (or any refresh) runs


