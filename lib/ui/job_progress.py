"""A section that follows the tenant's background refresh: it polls only while the refresh runs.

Every rerun, a fragment's included, ends with Streamlit's full garbage collection (``runner.postScriptGC``),
so a section polling every second on an idle page costs a full collection a second for nothing. A
fragment's ``run_every`` cannot be switched off from inside it; so the polling fragment is drawn only when
the page's full run finds a refresh running, and once the refresh ends it reruns the whole page, whose
next run no longer draws it.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lib.jobs import RefreshJob, current_job

POLL_EVERY_S = 1.0
"""How often a running refresh's progress is redrawn."""


def is_running(job: RefreshJob | None) -> bool:
    return job is not None and not job.finished


def follow_refresh(tenant: str, draw: Callable[[RefreshJob], None]) -> None:
    """While ``tenant``'s refresh runs, ``draw`` its progress every second; when it ends, redraw the page
    once (with the new snapshot). Draws and polls nothing when no refresh runs."""
    if is_running(current_job(tenant)):
        _poll(tenant, draw)


@st.fragment(run_every=POLL_EVERY_S)
def _poll(tenant: str, draw: Callable[[RefreshJob], None]) -> None:
    job = current_job(tenant)
    if job is None or job.finished:
        st.rerun(scope="app")  # its end (or a job gone): the page's next run stops polling
    draw(job)
