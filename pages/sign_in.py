"""Sign-in: the only page an anonymous visitor sees."""

from __future__ import annotations

import html

import streamlit as st

from lib.auth import AuthError, SessionExpired
from lib.ui.browser_session import NOTICE_KEY
from lib.ui.context import auth_session, console
from lib.ui.demo_history import history_progress
from lib.ui.navigation import requested_page
from lib.ui.sign_in_routes import sign_in_url

app = console()
auth = auth_session(app)

st.title("MFA Rollout Console")
st.markdown("See where multi-factor authentication stands across the tenant, roll out per-user MFA in "
            "safe, journaled batches, and follow each user's registration.")
if app.is_demo:
    st.info("**Demo tenant.** You are on a built-in synthetic tenant: sign in as one of its demo admins. "
            "Nothing you do here touches a real directory.", icon=":material/science:")

# A reason code from the sign-in requests (or this session's own end): fixed text per code, never
# words from the URL.
code = st.session_state.pop(NOTICE_KEY, None)
if code:
    notice = auth.error_for(str(code))
    (st.warning if isinstance(notice, SessionExpired) else st.error)(notice.message)
elif auth.expired:
    st.warning("Your session has expired. Sign in again.")

# A plain link in the same tab to the console's own sign-in request, which sends the browser to the
# identity platform; it comes back to the page this browser asked for.
url = sign_in_url("/" + requested_page(getattr(st.context, "url", None)))
st.markdown(
    f'<a href="{html.escape(url)}" target="_self" id="sign-in-link" style="display:inline-block;'
    'padding:0.6rem 1.4rem;border-radius:0.5rem;background:#0B5CAD;color:white;text-decoration:none;'
    'font-weight:600;font-size:1.05rem">Sign in with Microsoft</a>',
    unsafe_allow_html=True,
)
st.caption("You will pick an account on the Microsoft sign-in page" +
           (" (the demo offers a Global Administrator, an Authentication Policy Administrator and a read-only "
            "Global Reader)." if app.is_demo else "."))
history_progress(app)

with st.expander("Sign in on another device (device code)"):
    st.caption("Useful where this browser cannot reach the sign-in page. Conditional Access may block it. "
               "It signs in this tab only: a reload or another tab asks you to sign in again.")
    prompt = auth.device_flow
    if prompt is None:
        if st.button("Get a code", key="device_code"):
            try:
                auth.start_device_flow()
            except AuthError as err:
                st.error(err.message)
            st.rerun()
    else:
        st.markdown(f"Open **{prompt.verification_uri}** and enter this code:")
        st.code(prompt.user_code, language=None)

        @st.fragment(run_every=max(1, prompt.interval))
        def wait_for_device_sign_in() -> None:
            try:
                if auth.poll_device_flow() is not None:
                    st.rerun(scope="app")
            except AuthError as err:
                st.error(err.message)
            else:
                st.caption("Waiting for you to finish signing in…")

        wait_for_device_sign_in()
        if st.button("Cancel", key="cancel_device_code"):
            auth.cancel_device_flow()
            st.rerun()
