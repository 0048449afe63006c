"""lib.auth.browser_sessions, the browser binding of pending flows, and the fixed sign-in error texts."""

from __future__ import annotations

import pytest

from lib.auth import ConfigurationError, FlowExpired, SessionExpired, SignInCancelled
from lib.auth.browser_sessions import BINDING_COOKIE, SESSION_COOKIE, BrowserSessions, CookieSigner
from lib.auth.errors import sign_in_error
from lib.auth.pending import PendingFlows
from lib.auth.web_sign_in import safe_landing
from lib.ui import browser_session


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeAuth:
    """Stands in for an AuthSession: the registry only asks whether it is signed in and signs it out."""

    def __init__(self) -> None:
        self.signed_in = True
        self.sign_outs = 0

    def sign_out(self) -> None:
        self.signed_in = False
        self.sign_outs += 1


def test_a_signed_value_verifies_only_for_its_purpose_and_its_secret() -> None:
    signer = CookieSigner(b"s" * 32)
    signed = signer.sign(SESSION_COOKIE, "abc")
    assert signer.verify(SESSION_COOKIE, signed) == "abc"
    assert signer.verify(BINDING_COOKIE, signed) is None
    assert CookieSigner(b"t" * 32).verify(SESSION_COOKIE, signed) is None
    for bad in ("", None, "abc", "abc.", ".mac", signed + "x", "x" + signed, "a" * 600):
        assert signer.verify(SESSION_COOKIE, bad) is None, bad


def test_open_resolve_end() -> None:
    sessions = BrowserSessions(clock=Clock())
    auth = FakeAuth()
    cookie = sessions.open(auth)  # type: ignore[arg-type]
    assert sessions.resolve(cookie) is auth and len(sessions) == 1
    assert sessions.end(cookie) is True
    assert (auth.signed_in, auth.sign_outs, len(sessions)) == (False, 1, 0)
    assert sessions.resolve(cookie) is None
    assert sessions.end(cookie) is False


def test_only_a_signed_in_session_is_kept() -> None:
    auth = FakeAuth()
    auth.signed_in = False
    with pytest.raises(ValueError, match="signed-in"):
        BrowserSessions().open(auth)  # type: ignore[arg-type]


def test_a_forged_or_other_purpose_cookie_is_no_session() -> None:
    sessions = BrowserSessions()
    cookie = sessions.open(FakeAuth())  # type: ignore[arg-type]
    session_id = cookie.rpartition(".")[0]
    assert sessions.resolve(session_id) is None
    assert sessions.resolve(f"{session_id}.{'A' * 43}") is None
    assert sessions.resolve(sessions.signer.sign(BINDING_COOKIE, session_id)) is None
    assert sessions.resolve(BrowserSessions().signer.sign(SESSION_COOKIE, session_id)) is None
    assert sessions.end(session_id) is False and len(sessions) == 1


def test_a_session_ends_at_its_lifetime_and_is_signed_out() -> None:
    clock = Clock()
    sessions = BrowserSessions(lifetime=3600, clock=clock)
    auth = FakeAuth()
    cookie = sessions.open(auth)  # type: ignore[arg-type]
    assert sessions.expires_at(cookie) == clock.now + 3600
    clock.now += 3599
    assert sessions.resolve(cookie) is auth
    clock.now += 1
    assert sessions.resolve(cookie) is None
    assert (auth.signed_in, len(sessions), sessions.expires_at(cookie)) == (False, 0, None)


def test_a_session_signed_out_elsewhere_resolves_to_nothing() -> None:
    sessions = BrowserSessions()
    auth = FakeAuth()
    cookie = sessions.open(auth)  # type: ignore[arg-type]
    auth.signed_in = False  # e.g. its refresh token was revoked
    assert sessions.resolve(cookie) is None and len(sessions) == 0


def test_the_registry_is_bounded_and_signs_out_the_oldest() -> None:
    sessions = BrowserSessions(max_sessions=2)
    first, second, third = FakeAuth(), FakeAuth(), FakeAuth()
    cookies = [sessions.open(a) for a in (first, second, third)]  # type: ignore[arg-type]
    assert len(sessions) == 2 and first.sign_outs == 1
    assert [sessions.resolve(c) for c in cookies] == [None, second, third]


def test_each_sign_in_gets_its_own_id() -> None:
    sessions = BrowserSessions()
    assert len({sessions.open(FakeAuth()) for _ in range(50)}) == 50  # type: ignore[arg-type]


def test_the_pages_read_the_cookie_the_routes_set() -> None:
    assert browser_session.SESSION_COOKIE == SESSION_COOKIE


# ------------------------------------------------------------------ pending flows bound to a browser


def test_a_flow_is_claimed_only_with_its_browsers_binding() -> None:
    pending = PendingFlows()
    pending.put({"state": "s1", "code_verifier": "v"}, binding="browser-a", landing="/users")
    assert pending.claim("s1", "browser-b") is None
    assert pending.claim("s1") is None
    assert "s1" in pending  # still waiting for its own browser
    claimed = pending.claim("s1", "browser-a")
    assert claimed is not None and (claimed.flow["code_verifier"], claimed.landing) == ("v", "/users")
    assert pending.claim("s1", "browser-a") is None  # single use


def test_an_unbound_flow_is_not_claimed_with_a_binding() -> None:
    pending = PendingFlows()
    pending.put({"state": "s1"})
    assert pending.claim("s1", "browser-a") is None
    assert pending.pop("s1") == {"state": "s1"}


@pytest.mark.parametrize(("path", "landing"), [
    ("/users", "/users"), ("/", "/"), ("", "/"), (None, "/"), ("users", "/"), ("//evil.example/x", "/"),
    ("https://evil.example/", "/"), ("/users?x=1", "/"), ("/a/b", "/"), ("/\\evil", "/"), ("/%2F%2Fevil", "/"),
])
def test_the_landing_page_is_one_of_the_apps_own_paths(path: str | None, landing: str) -> None:
    assert safe_landing(path) == landing


# ------------------------------------------------------------------ fixed text per error code


def _text(code: str) -> str:
    return sign_in_error(code, client_id="app-123", redirect_uri="http://localhost:8501/",
                         authority="https://login.example/tenant").message


@pytest.mark.parametrize(("code", "cls"), [
    ("access_denied", SignInCancelled), ("flow_expired", FlowExpired), ("AADSTS54005", FlowExpired),
    ("AADSTS50011", ConfigurationError), ("AADSTS700016", ConfigurationError), ("session_expired", SessionExpired),
    ("signed_out", SessionExpired),
])
def test_known_codes_have_their_own_class_and_text(code: str, cls: type) -> None:
    err = sign_in_error(code)
    assert type(err) is cls and err.code == code and err.message


def test_configuration_texts_name_the_fix_from_the_configuration() -> None:
    assert _text("AADSTS50011") == ("The redirect URI http://localhost:8501/ is not registered for the app app-123 "
                                   "(AADSTS50011): add it under Authentication in the app registration (or fix "
                                   "MFA_REDIRECT_URI).")
    assert "https://login.example/tenant" in _text("unreachable")


@pytest.mark.parametrize("code", [
    "[click](https://evil.example)", "<script>alert(1)</script>", "AADSTS1 **bold**", "a" * 65, "", "x y",
    "sign_in_failed",
])
def test_an_unknown_or_crafted_code_gets_the_generic_text(code: str) -> None:
    assert _text(code) == "Sign-in failed. Sign in again."


@pytest.mark.parametrize("code", ["server_error", "AADSTS9999999", "temporarily_unavailable"])
def test_an_unknown_plain_code_is_named(code: str) -> None:
    assert _text(code) == f"Sign-in failed ({code}). Sign in again."
