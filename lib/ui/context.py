"""What every page needs, built once: settings, the store, the demo tenant, the session's sign-in.

The only Streamlit-aware module in ``lib`` besides the widgets beside it. Process-wide things
(settings, store, demo tenant) are ``st.cache_resource``; everything that belongs to one signed-in
admin (MSAL cache, Graph gateway) lives in ``st.session_state`` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

import pandas as pd
import streamlit as st

from lib.auth import AuthConfig, AuthSession, SignedInAdmin
from lib.clock import utc_now
from lib.console import Workspace, discard_preview
from lib.demo import DemoTenant, demo_auth_config, demo_tenant, ensure_demo_history
from lib.errors import describe
from lib.graph import GraphGateway
from lib.private_files import secure_data_folder
from lib.settings import Settings, SettingsError, load_settings, read_secrets_file
from lib.store import Snapshot, Store, open_store
from lib.ui import browser_session
from lib.ui.browser_session import GATEWAY_KEY
from lib.ui.navigation import AUTH_KEY
from lib.ui.sign_in_routes import provide_auth_config

PLAN_OWNER_KEY = "plan_job_owner"
"""This session's own key to its background preview (``lib.ui.plan_job``: random, never shown, never shared)."""


@dataclass(frozen=True)
class Console:
    """The process-wide parts: where data lives and which tenant the console points at."""

    settings: Settings
    store: Store
    demo: DemoTenant | None

    @property
    def is_demo(self) -> bool:
        return self.demo is not None

    def now(self) -> datetime:
        """'Now' for ages, captions and everything stamped: the store's one clock (in demo mode the demo
        tenant's simulated time, see ``lib.demo``)."""
        return self.store.clock()


def _secrets() -> dict:
    """``st.secrets``; when Streamlit has none, the file read as the CLI reads it, so a malformed
    ``secrets.toml`` is a SettingsError naming the file and the line (Streamlit reports a file it cannot
    parse as "no secrets", which would silently start the demo instead)."""
    try:
        return dict(st.secrets)
    except (FileNotFoundError, KeyError, ValueError):
        return read_secrets_file()  # {} when there is no file: demo mode


@st.cache_resource(show_spinner=False)
def _console(settings_key: tuple) -> Console:
    """One console per distinct settings (the key is hashed: tests switch data folders)."""
    settings = load_settings(_secrets())
    secure_data_folder(settings.data_dir)  # 0700, its files 0600: secrets and the tenant's data live there
    demo = demo_tenant(settings) if settings.is_demo else None
    store = open_store(settings.database_url, clock=demo.now if demo is not None else utc_now)
    if demo is not None:
        ensure_demo_history(store, demo)
    return Console(settings, store, demo)


def console() -> Console:
    """The console, or a clear error on the page (then the script stops) when settings are wrong."""
    try:
        settings = load_settings(_secrets())
    except SettingsError as err:
        st.error(f"**The console is not configured correctly.** {err}")
        st.caption("Fix `.streamlit/secrets.toml` or the `MFA_*` environment variables, then reload. "
                   "Remove both MFA_TENANT_ID and MFA_CLIENT_ID to run on the built-in demo tenant.")
        st.stop()
    except Exception as err:  # e.g. a secrets.toml that is not valid TOML
        st.error(f"**The console's settings could not be read.** {type(err).__name__}: {err}")
        st.stop()
    key = (settings.database_url, settings.mode, settings.demo_users, settings.demo_seed, settings.demo_premium,
           settings.demo_security_defaults, settings.background_plan_above)
    with st.spinner("Preparing the demo tenant and its 90-day history…" if settings.is_demo else "Opening the store…"):
        try:
            app = _console(key)
        except Exception as err:
            st.error(f"**The console could not start.** {describe(err)}")
            st.stop()
    # The sign-in requests (lib.ui.sign_in_routes) sign in to this console's tenant from now on.
    provide_auth_config(lambda base_url: _auth_config_for(app, base_url))
    return app


def redirect_uri(settings: Settings) -> str:
    """Where the identity platform sends the browser back: the configured URI, or this app's own URL."""
    if not settings.is_demo:
        return settings.redirect_uri
    url = urlparse(getattr(st.context, "url", None) or "")
    if url.scheme in ("http", "https") and url.netloc:
        return f"{url.scheme}://{url.netloc}/"
    return f"http://localhost:{st.get_option('server.port')}/"


def auth_config(app: Console) -> AuthConfig:
    return _auth_config_for(app, redirect_uri(app.settings))


def _auth_config_for(app: Console, base_url: str) -> AuthConfig:
    """How to sign in: the demo tenant comes back to the URL the browser used; a real tenant to its
    registered redirect URI."""
    if app.demo is not None:
        return demo_auth_config(app.demo.emulator, redirect_uri=base_url)
    return AuthConfig.from_settings(app.settings)


def auth_session(app: Console) -> AuthSession:
    """This browser session's own sign-in (its own MSAL token cache)."""
    session = st.session_state.get(AUTH_KEY)
    if session is None:
        session = AuthSession(auth_config(app))
        st.session_state[AUTH_KEY] = session
    return session


def signed_in_admin() -> SignedInAdmin | None:
    session = st.session_state.get(AUTH_KEY)
    return session.admin if session is not None and session.signed_in else None


def gateway(app: Console) -> GraphGateway:
    """This session's Graph gateway, acting as the signed-in admin (delegated permissions)."""
    gw = st.session_state.get(GATEWAY_KEY)
    if gw is None:
        session = auth_session(app)
        gw = GraphGateway(session.config.graph_url, session.credential())
        st.session_state[GATEWAY_KEY] = gw
    return gw


def workspace(app: Console) -> Workspace:
    """What this session's use cases act on: the store, its own Graph gateway, its tenant, its admin (whose
    roles, re-read as they act, update this session's sign-in)."""
    admin = signed_in_admin()
    session = st.session_state.get(AUTH_KEY)
    on_roles = session.update_roles if isinstance(session, AuthSession) else None
    return Workspace(app.store, gateway(app), admin.tenant_id if admin else "", admin, on_roles)


def sign_out() -> None:
    """Sign out: the browser's sign-in ends for every tab, and this session forgets everything."""
    browser_session.end(st.session_state)
    owner = st.session_state.get(PLAN_OWNER_KEY)
    if isinstance(owner, str) and owner:  # a preview still reading with this session's token stops now
        discard_preview(owner, tenant_id())
    session = st.session_state.pop(AUTH_KEY, None)
    gw = st.session_state.pop(GATEWAY_KEY, None)
    if gw is not None:
        gw.close()
    if session is not None:
        session.sign_out()
    for key in list(st.session_state):
        del st.session_state[key]


def tenant_id() -> str:
    admin = signed_in_admin()
    return admin.tenant_id if admin else ""


def latest_snapshot(app: Console) -> Snapshot | None:
    return app.store.latest_snapshot(tenant_id())


def users_frame(app: Console, snapshot: Snapshot) -> pd.DataFrame:
    """The snapshot's users, from the store's own cache (keyed by tenant and snapshot; the same for every admin
    of the tenant). Pages cache only views derived from it."""
    return app.store.load_users(snapshot.tenant_id, snapshot.id)

