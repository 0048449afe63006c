"""MFA Rollout Console: the entrypoint. Settings, sign-in gate, role-based navigation, sidebar.

`streamlit run app.py` with no configuration starts the built-in demo tenant.
"""

from __future__ import annotations

import streamlit as st

from lib.auth import AuthError, is_sign_in_callback
from lib.ui.context import auth_session, console
from lib.ui.sidebar import render_sidebar

st.set_page_config(page_title="MFA Rollout Console", page_icon="🛡️", layout="wide")

app = console()
auth = auth_session(app)

if is_sign_in_callback(st.query_params):
    params = st.query_params.to_dict()
    st.query_params.clear()  # never leave the authorization code in the address bar
    try:
        auth.complete_sign_in(params)
    except AuthError as err:
        st.session_state["sign_in_error"] = err.message
    st.rerun()

if not auth.signed_in:
    st.navigation([st.Page("pages/sign_in.py", title="Sign in", icon=":material/login:")],
                  position="hidden").run()
    st.stop()

admin = auth.admin
pages = {
    "Adoption": [
        st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
        st.Page("pages/progress.py", title="Registration progress", icon=":material/trending_up:"),
    ],
    "Rollout": [
        st.Page("pages/users.py", title="Users", icon=":material/group:"),
        st.Page("pages/operations.py", title="Operations", icon=":material/history:"),
    ],
    "Setup": [
        # Only an admin who may change MFA may change which accounts are protected from changes.
        *([st.Page("pages/protected.py", title="Protected accounts", icon=":material/verified_user:")]
          if admin.can_change_mfa else []),
        st.Page("pages/connection.py", title="Connection", icon=":material/cable:"),
    ],
}
render_sidebar(app)
st.navigation(pages).run()
