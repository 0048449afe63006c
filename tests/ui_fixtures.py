"""Helpers for page tests (AppTest): the demo console in a temporary data folder, and signed-in sessions.

The console under test is the real one: ``lib.ui.context`` starts the demo tenant's own process, its history
is seeded into a SQLite file under a temporary folder (here, before the first page, so pages find it ready),
and the session signs in through the emulator's identity pages with MSAL exactly as a browser would (driven
here with httpx).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.auth import AuthSession
from lib.demo import DemoTenant, demo_auth_config, demo_tenant, ensure_demo_history
from lib.settings import Settings, load_settings
from lib.store import open_store
from lib.ui.context import AUTH_KEY
from tests.auth_fixtures import ADMIN, AUTHPOLICY, READER, PageBrowser

ROOT = Path(__file__).resolve().parents[1]
DEMO_USERS = "300"
__all__ = ["ADMIN", "AUTHPOLICY", "READER", "console_data", "demo_settings", "new_app", "signed_in_session"]


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Point the console at a fresh data folder and a small demo tenant for the whole test session."""
    data = tmp_path_factory.mktemp("console-data")
    keys = {"MFA_CONSOLE_DATA": str(data), "MFA_DEMO_USERS": DEMO_USERS, "MFA_DEMO_SEED": "7"}
    saved = {k: os.environ.get(k) for k in (*keys, "MFA_TENANT_ID", "MFA_CLIENT_ID")}
    os.environ.update(keys)
    os.environ.pop("MFA_TENANT_ID", None)
    os.environ.pop("MFA_CLIENT_ID", None)
    settings = load_settings({}, os.environ)
    with open_store(settings.database_url) as store:
        ensure_demo_history(store, demo_tenant(settings))
    yield settings
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def console_data(folder: Path | str) -> Iterator[Settings]:
    """Point the console at another data folder (so its own demo tenant and store) while inside."""
    saved = os.environ.get("MFA_CONSOLE_DATA")
    os.environ["MFA_CONSOLE_DATA"] = str(folder)
    try:
        settings = load_settings({}, os.environ)
        with open_store(settings.database_url) as store:
            ensure_demo_history(store, demo_tenant(settings))
        yield settings
    finally:
        if saved is None:
            os.environ.pop("MFA_CONSOLE_DATA", None)
        else:
            os.environ["MFA_CONSOLE_DATA"] = saved


def demo(settings: Settings) -> DemoTenant:
    return demo_tenant(settings)


def signed_in_session(settings: Settings, identity: str = ADMIN) -> AuthSession:
    """An AuthSession signed in as a demo identity through the authorize page and MSAL's PKCE flow."""
    emulator = demo(settings).emulator
    session = AuthSession(demo_auth_config(emulator, redirect_uri="http://localhost:8501/"))
    browser = PageBrowser(emulator)
    try:
        params = browser.sign_in(session.begin_sign_in(), identity)
    finally:
        browser.close()
    session.complete_sign_in(params)
    return session


def new_app(settings: Settings, identity: str | None = ADMIN, page: str | None = None,
            timeout: float = 60) -> AppTest:
    """``app.py`` under AppTest, signed in as ``identity`` (None: anonymous), optionally on ``page``."""
    current = load_settings({}, os.environ)  # what the app will read
    if current.is_demo:  # the history a first start builds in the background, ready before the first page
        with open_store(current.database_url) as store:
            ensure_demo_history(store, demo_tenant(current))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if identity is not None:
        at.session_state[AUTH_KEY] = signed_in_session(settings, identity)
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at
