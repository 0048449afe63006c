"""No token, code or secret reaches a log record, MSAL's DEBUG output included."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from lib.auth import AuthSession, PendingFlows, install_log_redaction, redact_secrets
from lib.auth.logs import REDACTED_LOGGERS, SecretRedactingFilter
from lib.demo import demo_auth_config
from lib.emulator.identity import identity_config
from lib.emulator.server import RunningEmulator
from lib.graph import GRAPH_DEFAULT_SCOPE
from tests.auth_fixtures import ADMIN, REDIRECT_URI, PageBrowser, reset_knobs, serve_idp


@pytest.fixture(scope="module")
def idp_server() -> Iterator[RunningEmulator]:
    yield from serve_idp()


@pytest.fixture
def idp(idp_server: RunningEmulator) -> Iterator[RunningEmulator]:
    yield idp_server
    reset_knobs(idp_server)


class Capture(logging.Handler):
    """Every record from every logger, formatted as a real handler would (with tracebacks)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()
        self.paused = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.paused:
            self.lines.append(self.format(record))
            self.names.add(record.name)


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"code": "0.AXYZ", "code_verifier": "abc", "error_codes": [54005]}',
     '{"code": "***", "code_verifier": "***", "error_codes": [54005]}'),
    ("{'refresh_token': 'r1', 'client_secret': 's'}", "{'refresh_token': '***', 'client_secret': '***'}"),
    ("POST /token code=abc&state=xyz&device_code=dc&redirect_uri=http://x",
     "POST /token code=***&state=xyz&device_code=***&redirect_uri=http://x"),
    ("Authorization: Bearer abc.def", "Authorization: ***"),
    ("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig here", "got *** here"),
    ("session_state=abc state=ok error_code=54005", "session_state=abc state=ok error_code=54005"),
])
def test_redact_secrets(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_filter_rewrites_message_args_and_traceback() -> None:
    record = logging.LogRecord("msal.token_cache", logging.DEBUG, __file__, 1, "event=%s", ('{"code": "c0de"}',),
                               None)
    assert SecretRedactingFilter().filter(record) is True
    assert (record.getMessage(), record.args) == ('event={"code": "***"}', None)
    try:
        raise RuntimeError("refresh_token=rt-secret failed")
    except RuntimeError:
        import sys

        failed = logging.LogRecord("msal", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    SecretRedactingFilter().filter(failed)
    assert "rt-secret" not in (failed.exc_text or "")
    assert "RuntimeError: refresh_token=*** failed" in (failed.exc_text or "")


def test_install_is_idempotent_and_covers_msal() -> None:
    install_log_redaction()
    install_log_redaction()
    for name in ("msal.token_cache", "msal.application", "msal.oauth2cli.oauth2", "lib.auth.session"):
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, SecretRedactingFilter)]
        assert len(filters) == 1, name
    assert "msal.token_cache" in REDACTED_LOGGERS


def test_a_full_sign_in_at_debug_logs_no_secret(idp: RunningEmulator, capture: Capture) -> None:
    identity_config(idp.state)["access_token_lifetime"] = 120  # get_token refreshes: refresh tokens on the wire
    pending = PendingFlows()
    session = AuthSession(demo_auth_config(idp, REDIRECT_URI), pending=pending)
    browser = PageBrowser(idp)
    try:
        auth_uri = session.begin_sign_in()
        flow = pending.pop(parse_qs(urlsplit(auth_uri).query)["state"][0])
        assert flow is not None
        pending.put(flow)
        capture.paused = True  # the person's browser is not the console: it sees the code by design
        params = browser.sign_in(auth_uri, ADMIN)
        capture.paused = False
        session.complete_sign_in(params)
        cache = json.loads(session.token_cache.serialize())
        tokens = [session.credential().get_token(GRAPH_DEFAULT_SCOPE).token for _ in range(2)]
        cache_after = json.loads(session.token_cache.serialize())
        session.sign_out()
    finally:
        browser.close()
    secrets = {
        "code": params["code"],
        "code_verifier": flow["code_verifier"],
        **{f"access_token {n}": t for n, t in enumerate(tokens)},
        **{f"{kind} {when}.{n}": entry["secret"] for when, snapshot in enumerate((cache, cache_after))
           for kind in ("AccessToken", "RefreshToken", "IdToken")
           for n, entry in enumerate(snapshot[kind].values())},
    }
    assert len({v for k, v in secrets.items() if k.startswith("RefreshToken")}) == 2  # the refresh happened
    leaks = [(name, line) for line in capture.lines for name, secret in secrets.items() if secret in line]
    assert leaks == []
    # MSAL's DEBUG token events were logged, with the code and verifier masked: the test saw the risky path.
    assert {"msal.token_cache", "msal.application", "lib.auth.session"} <= capture.names
    assert any('"code": "***"' in line and '"code_verifier": "***"' in line for line in capture.lines)
    assert any(line.startswith("lib.auth.session INFO signed in: admin@") for line in capture.lines)


def test_device_flow_at_debug_logs_no_device_code(idp: RunningEmulator, capture: Capture) -> None:
    identity_config(idp.state)["device_code_interval"] = 0
    session = AuthSession(demo_auth_config(idp, REDIRECT_URI), pending=PendingFlows())
    prompt = session.start_device_flow()
    device_code = session._device_flow["device_code"]  # type: ignore[index]
    assert session.poll_device_flow() is None
    browser = PageBrowser(idp)
    capture.paused = True
    browser.approve_device(prompt.user_code)
    browser.close()
    capture.paused = False
    admin = session.poll_device_flow()
    assert admin is not None
    token = session.credential().get_token(GRAPH_DEFAULT_SCOPE).token
    assert [line for line in capture.lines if device_code in line or token in line] == []
    assert any('"device_code": "***"' in line for line in capture.lines)
