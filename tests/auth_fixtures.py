"""Helpers for the sign-in tests: a person at the demo tenant's sign-in pages, driven with plain httpx.

A test module defines its fixtures from :func:`serve_idp`, :func:`reset_knobs` and ``PageBrowser``
(three lines each), so nothing here has to be a pytest plugin.

``PageBrowser`` does what a browser does on the authorize and device login pages (GET the page,
POST its form, read the redirect) without following the redirect to the app, so the test reads the
``code`` and ``state`` from the ``Location`` header and hands them to ``complete_sign_in``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from lib.demo_process import control
from lib.emulator.identity import IDENTITY_DEFAULTS, identity_config
from lib.emulator.server import RunningEmulator, start_emulator
from tests.conftest import emulator_config

ADMIN = "admin"
AUTHPOLICY = "authpolicy.admin"
READER = "security.reader"
REDIRECT_URI = "http://localhost:8501/"

_TXN = re.compile(r'name="txn" value="([^"]+)"')
_OPTION = re.compile(r'<input type="radio" name="user" id="user-\d+" value="([^"]+)"( checked)?')
_UPN = re.compile(r'<span class="upn">([^<]+)</span>')


def _truth_user(emulator: Any, local: str) -> dict:
    """A demo tenant in another process (a ``DemoLink``): its ground truth, over its control routes."""
    users = control(emulator, "GET", "/truth/users")["users"]
    found = next((u for u in users if u["upn"].split("@")[0] == local), None)
    assert found is not None, local
    return found


def upn(emulator: Any, local: str) -> str:
    if not hasattr(emulator, "state"):
        return _truth_user(emulator, local)["upn"]
    return f"{local}@{emulator.state.tenant.domain}"


def user_id(emulator: Any, local: str) -> str:
    if not hasattr(emulator, "state"):
        return _truth_user(emulator, local)["id"]
    user = emulator.state.tenant.lookup(upn(emulator, local))
    assert user is not None
    return user.id


@dataclass(frozen=True)
class Picker:
    """What the "Pick an account" page offers."""

    status: int
    txn: str
    user_ids: list[str]
    upns: list[str]
    checked: str | None
    text: str


def parse_picker(response: httpx.Response) -> Picker:
    text = response.text
    match = _TXN.search(text)
    options = _OPTION.findall(text)
    return Picker(
        status=response.status_code,
        txn=match.group(1) if match else "",
        user_ids=[value for value, _ in options],
        upns=[html.unescape(u) for u in _UPN.findall(text)],
        checked=next((value for value, checked in options if checked), None),
        text=text,
    )


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect ``Location`` (one value each)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


class PageBrowser:
    """A person on the emulator's sign-in pages (plain http, no redirects followed)."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.client = httpx.Client(follow_redirects=False, trust_env=False, timeout=10)

    def close(self) -> None:
        self.client.close()

    def open(self, auth_uri: str) -> Picker:
        return parse_picker(self.client.get(auth_uri))

    def choose(self, auth_uri: str, picker: Picker, user: str | None, action: str = "signin") -> httpx.Response:
        form = {"txn": picker.txn, "action": action}
        if user is not None:
            form["user"] = user
        return self.client.post(auth_uri.split("?")[0], data=form)

    def sign_in(self, auth_uri: str, local: str = ADMIN) -> dict[str, str]:
        """Pick ``local``'s identity and press Sign in; the redirect's query parameters."""
        picker = self.open(auth_uri)
        assert picker.status == 200, picker.text
        response = self.choose(auth_uri, picker, user_id(self.emulator, local))
        assert response.status_code == 302, response.text
        return query_of(response.headers["location"])

    def cancel(self, auth_uri: str) -> dict[str, str]:
        picker = self.open(auth_uri)
        response = self.choose(auth_uri, picker, None, action="cancel")
        assert response.status_code == 302, response.text
        return query_of(response.headers["location"])

    def enter_device_code(self, user_code: str) -> httpx.Response:
        return self.client.post(f"{self.emulator.graph_url}/devicelogin", data={"otc": user_code})

    def approve_device(self, user_code: str, local: str = ADMIN, action: str = "signin") -> httpx.Response:
        """Open the device login page, enter the code, pick ``local`` and press Sign in (or Cancel)."""
        picker = parse_picker(self.enter_device_code(user_code))
        assert picker.status == 200, picker.text
        return self.client.post(f"{self.emulator.graph_url}/devicelogin", data={
            "txn": picker.txn, "action": action, "user": user_id(self.emulator, local)})


def serve_idp() -> Iterator[RunningEmulator]:
    """A small demo tenant of a test module's own (60 users, seed 7), stopped at the end."""
    with start_emulator(users=60, seed=7, premium=True, config=emulator_config()) as running:
        yield running


def reset_knobs(emulator: RunningEmulator) -> None:
    """Put the identity knobs a test turned back to their defaults."""
    identity_config(emulator.state).update(IDENTITY_DEFAULTS)
