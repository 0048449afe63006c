"""Plans: the protection plans (move covered users off per-user MFA, close the gap) and the registration
campaign. Renders only: the selections are pure (``lib.rollout.coverage_plans``), everything else
``lib.console``; plans go through the same preview and confirmation as every change.
"""

from __future__ import annotations

import streamlit as st

from lib import console as use_cases
from lib.errors import describe
from lib.overview import protected_upns
from lib.protection import CaAvailability
from lib.scope import scope_mask
from lib.ui.campaign_panel import campaign_panel
from lib.ui.context import console, latest_snapshot, signed_in_admin, users_frame, workspace
from lib.ui.coverage_plans_panel import close_gap_panel, coverage_of_plan, move_off_panel
from lib.ui.rollout_widgets import render_plan, watch_operation
from lib.ui.scope_controls import scope_controls

PREFIX = "plans"


def render() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    st.title("MFA plans")
    st.caption("Clean up per-user MFA where Conditional Access or security defaults already protect, cover the "
               "users nothing protects, and nudge everyone to register a stronger method.")
    snapshot = latest_snapshot(app)
    if snapshot is None:
        st.info("**No snapshot of this tenant yet.** Press **Refresh data** in the sidebar; the plans are made from "
                "what it reads.", icon=":material/photo_camera:")
        return
    frame = users_frame(app, snapshot)
    status = use_cases.protection_status(workspace(app), frame)
    ca_available = status.ca_availability is CaAvailability.AVAILABLE if status.evaluated else True
    st.caption(f"{status.headline} · {status.security_defaults_label}" if status.evaluated else status.headline)
    plans, campaign = st.tabs(["Per-user MFA plans", "Registration campaign"])
    with plans:
        # The same users the overview counts (its scope, shared across pages), so a tile and a plan agree.
        scope = scope_controls("plans", protected_upns(app.store, admin.tenant_id, app.now()))
        in_scope = frame.loc[scope_mask(frame, scope)]
        move_off_panel(app, in_scope)
        st.divider()
        close_gap_panel(app, in_scope, ca_available)
        if render_plan(app, PREFIX):
            coverage_of_plan()
        watch_operation(app, PREFIX)
    with campaign:
        campaign_panel(app, frame)


try:
    render()
except Exception as err:  # never a traceback on the page: say what failed and how to go on
    st.error(f"**The Plans page could not be shown.** {describe(err)}")
    st.caption("Reload the page; if it persists, refresh the data from the sidebar.")
