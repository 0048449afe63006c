"""MFA Rollout Console: the entrypoint. Web server, settings, sign-in gate, role-based navigation, sidebar.

`streamlit run app.py` with no configuration starts the built-in demo tenant.

The file has two roles. ``streamlit run`` first imports it to find ``app``, an ``st.App``: Streamlit's
own web server with the sign-in requests in front (:mod:`lib.ui.sign_in_routes`, which set the
browser's HttpOnly session cookie, something a script cannot do). That server then runs this file as
the app's script, once per rerun of each browser session (``__name__ == "__main__"``):
:func:`run_console`.
"""

from __future__ import annotations

import streamlit as st

from lib.ui import navigation


def run_console() -> None:
    """The script: find the browser's sign-in, route before anything slow, then the signed-in shell."""
    st.set_page_config(page_title="MFA Rollout Console", page_icon="🛡️", layout="wide")

    from lib.ui import browser_session

    browser_session.restore(st.session_state)
    if not navigation.signed_in(st.session_state):
        # Route before anything slow (the first visit builds the demo tenant). A deep link shows the
        # sign-in page at its own address, and the sign-in comes back to it.
        requested = navigation.requested_page(getattr(st.context, "url", None))
        sign_in_page = st.navigation(navigation.sign_in_pages(requested), position="hidden")

        from lib.auth import is_sign_in_callback
        code = st.query_params.get(browser_session.NOTICE_PARAM)
        if code or is_sign_in_callback(st.query_params):
            # A callback the sign-in routes did not take (no such flow here) is an expired link.
            st.session_state[browser_session.NOTICE_KEY] = code or "flow_expired"
            st.query_params.clear()  # never leave a code or a reason in the address bar
        sign_in_page.run()
        st.stop()

    from lib.gc_policy import collect_after_page_run
    from lib.ui.context import console, signed_in_admin
    from lib.ui.demo_history import history_building, history_pending, pending_sidebar
    from lib.ui.sidebar import render_sidebar

    shell = console()
    if browser_session.NOTICE_PARAM in st.query_params:  # e.g. an old sign-in link opened again: still signed in
        del st.query_params[browser_session.NOTICE_PARAM]
        st.toast("This sign-in link has expired or was already used. You are still signed in.")
    sections = navigation.signed_in_pages(signed_in_admin().can_change_mfa)
    current = st.navigation(sections, position="hidden")
    navigation.render_links(sections)
    if current.url_path != navigation.page_url_path(navigation.CONNECTION) and history_pending(shell):
        pending_sidebar()
        with st.sidebar:
            browser_session.watch()
        st.stop()
    if history_building(shell):  # the Connection page stays open meanwhile, without a refresh racing the build
        pending_sidebar()
    else:
        render_sidebar(shell)
    with st.sidebar:
        browser_session.watch()
    try:
        current.run()
    finally:
        collect_after_page_run()  # in place of Streamlit's collection after every run (lib/gc_policy.py)


if __name__ != "__main__":
    from starlette.middleware import Middleware
    from streamlit.runtime.pages_manager import PagesManager

    from lib.ui.context import warm_up
    from lib.ui.sign_in_routes import SignInMiddleware

    # Streamlit treats a folder named pages/ next to the entrypoint as its first multipage layout and
    # runs pages/users.py *instead of this script* for a deep link to /users, past the sign-in gate.
    # This console routes with st.navigation only, so every session runs this script first.
    PagesManager.uses_pages_directory = False
    app = st.App(__file__, middleware=[Middleware(SignInMiddleware)])
    warm_up()  # the demo tenant's process starts with the server, not with the first visit
else:
    run_console()
