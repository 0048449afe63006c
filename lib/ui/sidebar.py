"""The sidebar every signed-in page shares: who, which tenant, how fresh the data is, refresh, sign out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from lib.exports import describe_age
from lib.graph import GraphGateway
from lib.jobs import RefreshJob, current_job, start_refresh
from lib.ui.context import Console, auth_session, latest_snapshot, sign_out, signed_in_admin
from lib.ui.job_progress import follow_refresh, is_running

SOURCE_LABELS = {
    "reports": "registration from the reports API (Entra ID P1)",
    "methods": "registration from each user's authentication methods (no Entra ID P1)",
}


def throttle_note(speedup: float) -> str:
    """What the demo tenant's throttle does, in words: Graph's limits, refilled ``speedup`` times faster."""
    if speedup == 1:
        return "Demo: Graph throttling at Microsoft Graph's own documented limits"
    return f"Demo: Graph throttling ×{speedup:g} faster than Microsoft Graph's documented limits"


def data_age(app: Console, at: pd.Timestamp | datetime | None) -> str:
    if at is None or pd.isna(at):
        return "never"
    return describe_age(app.now() - pd.Timestamp(at).to_pydatetime())


def start_session_refresh(app: Console, *, before_each: Sequence[Callable[[], Mapping[str, Any]]] = (),
                          step_name: str = "Snapshot") -> RefreshJob:
    """Refresh this tenant in the background with the signed-in admin's own token (a series of snapshots,
    one after each of ``before_each``, when given)."""
    session = auth_session(app)
    admin = signed_in_admin()
    credential = session.credential()
    graph_url = session.config.graph_url
    return start_refresh(app.store, lambda: GraphGateway(graph_url, credential), admin.tenant_id,
                         mode="demo" if app.is_demo else "tenant", before_each=before_each, step_name=step_name)


def _refresh_progress(job: RefreshJob) -> None:
    """The running refresh's progress and its cancel button (redrawn each second by ``follow_refresh``)."""
    st.progress(job.fraction, text=job.label)
    if st.button("Cancel refresh", key="cancel_refresh", width="stretch"):
        job.cancel()


def render_sidebar(app: Console) -> None:
    admin = signed_in_admin()
    if admin is None:
        return
    tenant = app.store.get_tenant(admin.tenant_id)
    snapshot = latest_snapshot(app)
    with st.sidebar:
        if app.is_demo:
            st.markdown(":orange-badge[Demo tenant] synthetic data, nothing real is changed")
            st.caption(throttle_note(app.settings.demo_throttle_speedup))
        st.markdown(f"**{tenant.name if tenant else 'Tenant'}**  \n`{tenant.domain if tenant else admin.tenant_id}`")
        st.markdown(f"{admin.name}  \n{admin.upn}  \n*{admin.role_label}*")
        if not admin.can_change_mfa:
            st.caption(f"Read-only: {admin.read_only_reason}")
        st.divider()
        job = current_job(admin.tenant_id)
        running = is_running(job)
        if snapshot is None:
            st.caption("No snapshot of this tenant yet.")
        else:
            st.caption(f"Data as of {pd.Timestamp(snapshot.state_read_at or snapshot.started_at):%Y-%m-%d %H:%M} UTC "
                       f"({data_age(app, snapshot.state_read_at or snapshot.started_at)} ago)  \n"
                       f"{SOURCE_LABELS.get(snapshot.registration_source, snapshot.registration_source)}")
        if st.button("Refreshing…" if running else "Refresh data", key="refresh_data", disabled=running,
                     width="stretch", help="Read users, registration and MFA state from Graph again"):
            start_session_refresh(app)
            st.rerun()
        follow_refresh(admin.tenant_id, _refresh_progress)  # polls only while a refresh runs
        if job is not None and job.finished and job.error:
            (st.warning if job.cancelled else st.error)(job.error)
        st.divider()
        if st.button("Sign out", key="sign_out", width="stretch"):
            sign_out()
            st.rerun()
