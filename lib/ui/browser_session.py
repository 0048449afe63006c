"""This Streamlit session's share of its browser's sign-in: found from the cookie, watched, ended.

Every tab, reload and deep link is a new Streamlit session. Before the sign-in gate, :func:`restore`
reads the browser's signed session cookie (``st.context.cookies``: Streamlit hands a script the
cookies of its WebSocket handshake, HttpOnly ones too) and, when it names a live sign-in in
:mod:`lib.auth.browser_sessions`, puts that ``AuthSession`` in this session's state. :func:`watch`
notices, within two seconds, when another tab signed out or the sign-in expired. A first visit has no
cookie and imports nothing of the sign-in machinery before ``st.navigation`` runs.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from lib.ui.navigation import AUTH_KEY, signed_in

COOKIE_KEY = "browser_session_cookie"
"""The signed session id this Streamlit session was restored from (to end it on sign-out)."""
GATEWAY_KEY = "graph_gateway"
NOTICE_KEY = "sign_in_error_code"
"""A reason code for the sign-in page to explain (lib.auth.errors.sign_in_error)."""
NOTICE_PARAM = "sign_in_error"
"""The query parameter the sign-in requests send such a code back in (lib.ui.sign_in_routes)."""
SESSION_COOKIE = "mfa_console_session"
"""lib.auth.browser_sessions.SESSION_COOKIE, repeated so a first visit need not import lib.auth."""
WATCH_EVERY_S = 2.0
ROLE_RECHECK_S = 600.0
"""A new tab or reload reads the admin's directory roles again when they are older than this (ten minutes)."""


def _drop_gateway(session_state: MutableMapping[str, Any]) -> None:
    gateway = session_state.pop(GATEWAY_KEY, None)
    if gateway is not None:
        gateway.close()


def restore(session_state: MutableMapping[str, Any]) -> None:
    """Sign this Streamlit session in from its browser's session cookie, when that names a live sign-in.

    A session whose sign-in ended elsewhere (another tab signed out, or it expired) is cleared, with a
    notice for the sign-in page.
    """
    cookie = st.context.cookies.get(SESSION_COOKIE)
    current = session_state.get(AUTH_KEY)
    if current is not None and session_state.get(COOKIE_KEY) and not signed_in(session_state):
        session_state[NOTICE_KEY] = "session_expired" if current.expired else "signed_out"
        session_state.pop(AUTH_KEY, None)
        session_state.pop(COOKIE_KEY, None)
        _drop_gateway(session_state)
    if not cookie or signed_in(session_state):
        return
    from lib.auth.browser_sessions import default_sessions

    auth = default_sessions().resolve(cookie)
    if auth is None or auth.recheck_roles(ROLE_RECHECK_S) is None:
        return
    _drop_gateway(session_state)
    session_state[AUTH_KEY] = auth
    session_state[COOKIE_KEY] = cookie
    session_state.pop(NOTICE_KEY, None)


def still_signed_in(session_state: MutableMapping[str, Any]) -> bool:
    """Whether this session's sign-in is still live (not ended in another tab, not expired)."""
    if not signed_in(session_state):
        return False
    cookie = session_state.get(COOKIE_KEY)
    if not cookie:
        return True  # signed in in this tab alone (device code): its own state says it all
    from lib.auth.browser_sessions import default_sessions

    return default_sessions().resolve(cookie) is session_state.get(AUTH_KEY)


def end(session_state: MutableMapping[str, Any]) -> None:
    """End the browser's sign-in (every tab of it), if this session was restored from one."""
    cookie = session_state.get(COOKIE_KEY)
    if cookie:
        from lib.auth.browser_sessions import default_sessions

        default_sessions().end(cookie)


@st.fragment(run_every=WATCH_EVERY_S)
def watch() -> None:
    """Rerun the whole app when the sign-in ended elsewhere, so this tab shows the sign-in page too."""
    if not still_signed_in(st.session_state):
        st.rerun(scope="app")
