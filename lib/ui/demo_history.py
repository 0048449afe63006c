"""The demo tenant's 90-day history while it is being built: a progress bar, then the page itself.

The first start of a demo console builds the history in the background (``lib.demo.history_build``). The
sign-in page stays usable and shows the bar below its button; a signed-in page that needs the history says
it is being prepared instead of showing empty charts, and draws itself once it is ready, without a reload.
The bar polls once a second only while the build runs.
"""

from __future__ import annotations

import streamlit as st

from lib.demo import HistoryBuild
from lib.ui.context import Console, sign_out, signed_in_admin

__all__ = ["history_building", "history_pending", "history_progress", "pending_sidebar"]

POLL_SECONDS = 1.0


def _build(app: Console) -> HistoryBuild | None:
    build = app.demo_history()
    return None if build is None or build.ready else build


@st.fragment(run_every=POLL_SECONDS)
def _progress(app: Console) -> None:
    build = app.demo_history()
    if build is None or build.done:
        st.rerun(scope="app")  # ready (or failed): the page draws itself again, and this stops polling
    st.progress(build.fraction, text=f"Preparing the demo tenant's 90-day history: {build.words}…")


def _failed(build: HistoryBuild) -> None:
    st.error(f"**The demo tenant's history could not be prepared.** {build.error}")
    if st.button("Try again", key="demo_history_retry"):
        st.rerun()  # the next look at the history starts a new build


def history_building(app: Console) -> bool:
    """True while the demo tenant's first history is being written (or its build failed)."""
    return _build(app) is not None


def history_progress(app: Console, *, signed_in: bool = False) -> None:
    """Below the sign-in button (or where a page needs the first snapshot): how far the first build is
    (nothing once the history is ready; the page then draws itself again)."""
    build = _build(app)
    if build is None:
        return
    if build.done:
        _failed(build)
        return
    st.caption("This is the demo console's first start: it is building the demo tenant's past. "
               + ("This section fills in when it is ready." if signed_in
                  else "You can sign in meanwhile; the pages show it when it is ready."))
    _progress(app)


def history_pending(app: Console) -> bool:
    """True (after saying so, with the bar) while the history a signed-in page needs is not ready yet."""
    build = _build(app)
    if build is None:
        return False
    st.title("Preparing the demo tenant")
    if build.done:
        _failed(build)
        return True
    st.markdown("The demo tenant's 90-day history is being prepared: the adoption trend, the earlier rollout waves "
                "and today's snapshot. This happens once, on the first start; the page appears by itself when it is "
                "ready.")
    _progress(app)
    return True


def pending_sidebar() -> None:
    """The sidebar while the first history is written: who is signed in and the way out, but no refresh (the
    build is writing the first snapshots)."""
    admin = signed_in_admin()
    with st.sidebar:
        st.markdown(":orange-badge[Demo tenant] synthetic data, nothing real is changed")
        if admin is not None:
            st.markdown(f"{admin.name}  \n{admin.upn}  \n*{admin.role_label}*")
            if not admin.can_change_mfa:
                st.caption(f"Read-only: {admin.read_only_reason}")
        st.divider()
        if st.button("Sign out", key="sign_out", width="stretch"):
            sign_out()
            st.rerun()
