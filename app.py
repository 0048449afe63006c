"""MFA Rollout Console: the entrypoint. Settings, sign-in gate, role-based navigation, sidebar.

`streamlit run app.py` with no configuration starts the built-in demo tenant.
"""

from __future__ import annotations

import streamlit as st

from lib.ui import navigation

st.set_page_config(page_title="MFA Rollout Console", page_icon="🛡️", layout="wide")

if not navigation.signed_in(st.session_state):
    # Route before anything slow (the first visit builds the demo tenant).
    sign_in_page = st.navigation([navigation.SIGN_IN.page()], position="hidden")

    from lib.auth import AuthError, is_sign_in_callback
    from lib.ui.context import auth_session, console

    if is_sign_in_callback(st.query_params):
        params = st.query_params.to_dict()
        st.query_params.clear()  # never leave the authorization code in the address bar
        try:
            auth_session(console()).complete_sign_in(params)
        except AuthError as err:
            st.session_state["sign_in_error"] = err.message
        st.rerun()
    sign_in_page.run()
    st.stop()

from lib.ui.context import console, signed_in_admin  # noqa: E402  (after the navigation above)
from lib.ui.sidebar import render_sidebar  # noqa: E402

app = console()
sections = navigation.signed_in_pages(signed_in_admin().can_change_mfa)
current = st.navigation(sections, position="hidden")
navigation.render_links(sections)
render_sidebar(app)
current.run()
