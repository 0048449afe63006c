"""Connection: is the console configured and permitted to do its job here? Says exactly what to fix."""

from __future__ import annotations

import streamlit as st

from lib.connection_check import granted_scopes, graph_checks, scope_checks, state_read_summary
from lib.errors import ConsoleError, describe
from lib.ui.context import auth_session, console, gateway, latest_snapshot, signed_in_admin
from lib.ui.demo_history import history_building, history_progress

app = console()
auth = auth_session(app)
admin = signed_in_admin()

st.title("Connection")
st.caption("What the console is connected to, what it is allowed to do, and what to fix if something is missing.")

SETTING_LABELS = {"mode": "Mode", "tenant_id": "Tenant ID", "client_id": "Application (client) ID",
                  "client_secret": "Client secret", "redirect_uri": "Redirect URI", "authority": "Sign-in authority",
                  "graph_url": "Microsoft Graph", "database_url": "Database"}

st.subheader("Settings")
shown = app.settings.redacted()
if app.is_demo:  # the demo tenant's own endpoints on this machine, not Microsoft's defaults
    shown.update({
        "mode": "demo (built-in synthetic tenant, served on this machine)",
        "tenant_id": admin.tenant_id, "client_id": auth.config.client_id,
        "client_secret": "set" if auth.config.client_secret else "(not set: public client with PKCE)",
        "redirect_uri": auth.config.redirect_uri, "authority": auth.config.authority,
        "graph_url": auth.config.graph_url,
    })
st.table({"Setting": [SETTING_LABELS.get(k, k) for k in shown], "Value": list(shown.values())})

st.subheader("Signed in")
st.markdown(f"**{admin.name}** ({admin.upn}) · {admin.role_label}")
if admin.can_change_mfa:
    st.success("Your directory role may change per-user MFA.", icon=":material/check_circle:")
else:
    st.warning(admin.read_only_reason or "Your role is read-only.", icon=":material/lock:")

st.subheader("How MFA states are read")
snapshot = latest_snapshot(app)
summary = None if snapshot is None else state_read_summary(
    snapshot.state_read_path, snapshot.state_read_reason, snapshot.state_read_sampled)
if snapshot is None and history_building(app):
    history_progress(app, signed_in=True)
elif snapshot is None:
    st.info("No snapshot yet. Press **Refresh data** in the sidebar: the page then says how the per-user MFA "
            "states were read.", icon=":material/info:")
elif summary is None:
    st.info("The latest snapshot was taken before the console recorded this. Press **Refresh data** in the "
            "sidebar to find out.", icon=":material/info:")
elif summary.ok:
    st.success(f"**{summary.headline}.** {summary.detail}", icon=":material/bolt:")
else:
    st.warning(f"**{summary.headline}.** {summary.detail}", icon=":material/hourglass_top:")

st.subheader("Permissions and access")
if st.button("Run the checks", key="run_checks", type="primary"):
    with st.spinner("Checking…"):
        try:
            token = auth.credential().get_token(*auth.config.scopes).token
            checks = scope_checks(granted_scopes(token)) + graph_checks(gateway(app))
        except ConsoleError as err:  # sign-in or Graph trouble: say what, never a traceback
            st.error(describe(err))
            st.stop()
    st.session_state["connection_checks"] = checks
checks = st.session_state.get("connection_checks")
if checks is None:
    st.info("Run the checks to verify the granted Graph permissions and live access.")
else:
    failed = [c for c in checks if not c.ok]
    if failed:
        st.error(f"{len(failed)} of {len(checks)} checks failed. Fix them in the order shown.")
    else:
        st.success(f"All {len(checks)} checks passed.")
    for check in checks:
        icon = ":material/check_circle:" if check.ok else ":material/error:"
        st.markdown(f"{icon} **{check.name}** — {check.detail}")
        if check.fix:
            st.caption(f"Fix: {check.fix}")
