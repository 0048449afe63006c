"""The sign-in requests (lib.ui.sign_in_routes) over HTTP, against the demo tenant's identity platform.

The middleware sits in front of a stand-in for Streamlit (it answers "streamlit" to anything passed on) in a
real uvicorn server on loopback, and a "browser" is an httpx client with its own cookie jar: begin at
/auth/sign-in, sign in on the demo tenant's own pages (tests/auth_fixtures.py), and bring the callback
back to the middleware.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from lib.auth.browser_sessions import BINDING_COOKIE, SESSION_COOKIE, BrowserSessions
from lib.auth.pending import PendingFlows
from lib.demo import demo_auth_config
from lib.emulator.server import RunningEmulator
from lib.ui import sign_in_routes
from lib.ui.sign_in_routes import SIGN_IN_PATH, SignInMiddleware, sign_in_url
from tests.auth_fixtures import ADMIN, READER, PageBrowser, query_of, serve_idp, upn

Browsers = Callable[[], httpx.Client]
"""The ``server`` fixture: each call is a new browser (its own cookie jar) on the console's web server."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    yield from serve_idp()


@pytest.fixture
def registry() -> BrowserSessions:
    return BrowserSessions()


@pytest.fixture
def pending() -> PendingFlows:
    return PendingFlows()


@pytest.fixture
def server(emulator: RunningEmulator, registry: BrowserSessions,
           pending: PendingFlows) -> Iterator[Browsers]:
    """The middleware in front of a stand-in for Streamlit, served by uvicorn; yields a browser factory."""
    async def streamlit(request):  # what the middleware hands on
        return PlainTextResponse("streamlit")

    app = Starlette(routes=[Route("/{path:path}", streamlit, methods=["GET", "HEAD", "POST"])],
                    middleware=[Middleware(SignInMiddleware, sessions=registry, pending=pending)])
    sign_in_routes.provide_auth_config(lambda base_url: demo_auth_config(emulator, redirect_uri=base_url))
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert web.started, "uvicorn did not start"
    port = web.servers[0].sockets[0].getsockname()[1]
    browsers: list[httpx.Client] = []

    def browser() -> httpx.Client:
        browsers.append(httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False,
                                     trust_env=False, timeout=30))
        return browsers[-1]

    try:
        yield browser
    finally:
        for client in browsers:
            client.close()
        web.should_exit = True
        thread.join(timeout=10)
        sign_in_routes._factory = None


def _set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header of a response, by cookie name (the raw header, attributes included)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name = next(iter(SimpleCookie(header)))
        found[name] = header
    return found


def _begin(browser: httpx.Client, landing: str = "/") -> str:
    response = browser.get(sign_in_url(landing))
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _callback(emulator: RunningEmulator, auth_uri: str, local: str = ADMIN) -> str:
    """The path and query the identity platform redirects the browser to after ``local`` signs in."""
    person = PageBrowser(emulator)
    try:
        params = person.sign_in(auth_uri, local)
    finally:
        person.close()
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/?{query}"


def test_begin_binds_the_flow_to_the_browser_with_an_http_only_cookie(server: Browsers, pending: PendingFlows,
                                                                     emulator: RunningEmulator) -> None:
    with server() as browser:
        auth_uri = _begin(browser, "/users")
        assert "/oauth2/v2.0/authorize?" in auth_uri and "code_challenge_method=S256" in auth_uri
        assert parse_qs(urlsplit(auth_uri).query)["redirect_uri"] == [f"{browser.base_url}".rstrip("/") + "/"]
        response = browser.get(sign_in_url("/users"))
        header = _set_cookies(response)[BINDING_COOKIE]
        assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header and "Max-Age=600" in header
        assert response.headers["cache-control"] == "no-store"
        assert len(pending) == 2
        # A second sign-in in the same browser keeps the same binding: both tabs can finish.
        assert browser.cookies[BINDING_COOKIE] == SimpleCookie(header)[BINDING_COOKIE].value


def test_the_browser_that_began_signs_in_and_lands_on_the_page_it_asked_for(
        server: Browsers, registry: BrowserSessions, emulator: RunningEmulator) -> None:
    with server() as browser:
        callback = _callback(emulator, _begin(browser, "/users"))
        response = browser.get(callback)
        assert (response.status_code, response.headers["location"]) == (303, "/users")
        header = _set_cookies(response)[SESSION_COOKIE]
        assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
        assert f"Max-Age={int(registry.lifetime)}" in header and "Secure" not in header  # plain http on loopback
        auth = registry.resolve(browser.cookies[SESSION_COOKIE])
        assert auth is not None and auth.admin.upn == upn(emulator, ADMIN)
        token = auth.credential().get_token().token
        for name, value in response.headers.items():  # the browser gets the id, never a token
            assert token not in value and "eyJ" not in value, name

        assert browser.get("/users").text == "streamlit"  # everything else goes to Streamlit


def test_a_callback_in_another_browser_does_not_sign_in_and_leaves_the_flow(
        server: Browsers, registry: BrowserSessions, pending: PendingFlows, emulator: RunningEmulator) -> None:
    with server() as victim, server() as attacker:
        callback = _callback(emulator, _begin(victim, "/users"))
        response = attacker.get(callback)
        assert (response.status_code, response.headers["location"]) == (303, "/?sign_in_error=flow_expired")
        assert SESSION_COOKIE not in _set_cookies(response) and len(registry) == 0

        _begin(attacker)  # with a binding of its own, it is still another browser's flow
        response = attacker.get(callback)
        assert response.headers["location"] == "/?sign_in_error=flow_expired" and len(registry) == 0

        response = victim.get(callback)  # the browser that began it still can
        assert response.headers["location"] == "/users" and len(registry) == 1
        assert victim.get(callback).headers["location"] == "/?sign_in_error=flow_expired"  # once


def test_a_new_sign_in_replaces_the_browsers_previous_session(server: Browsers, registry: BrowserSessions,
                                                               emulator: RunningEmulator) -> None:
    with server() as browser:
        browser.get(_callback(emulator, _begin(browser)))
        first = registry.resolve(browser.cookies[SESSION_COOKIE])
        browser.get(_callback(emulator, _begin(browser), READER))
        second = registry.resolve(browser.cookies[SESSION_COOKIE])
        assert first is not None and not first.signed_in
        assert second is not None and second.admin.upn == upn(emulator, READER) and len(registry) == 1


def test_an_error_callback_comes_back_as_a_code_only(server: Browsers, emulator: RunningEmulator) -> None:
    with server() as browser:
        state = parse_qs(urlsplit(_begin(browser, "/operations")).query)["state"][0]
        crafted = "[sign in here](https://evil.example) <b>now</b>"
        response = browser.get("/", params={"state": state, "error": "server_error", "error_description": crafted})
        assert response.headers["location"] == "/operations?sign_in_error=server_error"

        person = PageBrowser(emulator)
        try:
            cancelled = person.cancel(_begin(browser))
        finally:
            person.close()
        response = browser.get("/", params=cancelled)
        assert response.headers["location"] == "/?sign_in_error=access_denied"

        state = parse_qs(urlsplit(_begin(browser)).query)["state"][0]
        response = browser.get("/", params={"state": state, "error": "invalid_request",
                                            "error_description": "AADSTS50011: The redirect URI ... does not match"})
        assert response.headers["location"] == "/?sign_in_error=AADSTS50011"


def test_a_probe_and_other_methods_pass_through(server: Browsers, pending: PendingFlows,
                                                emulator: RunningEmulator) -> None:
    with server() as browser:
        callback = _callback(emulator, _begin(browser))
        assert browser.head(callback).status_code in (200, 405)  # a HEAD never uses a flow up
        assert len(pending) == 1
        assert browser.post(SIGN_IN_PATH).text == "streamlit"
        assert browser.get(callback).status_code == 303 and len(pending) == 0


def test_before_the_console_runs_the_sign_in_link_goes_to_the_sign_in_page(server: Browsers) -> None:
    sign_in_routes._factory = None
    with server() as browser:
        assert browser.get(sign_in_url("/users")).headers["location"] == "/users"
        response = browser.get("/?state=s&code=c")
        assert response.headers["location"] == "/?sign_in_error=flow_expired"


def test_the_landing_page_is_never_another_site(server: Browsers, pending: PendingFlows,
                                                emulator: RunningEmulator) -> None:
    with server() as browser:
        response = browser.get(SIGN_IN_PATH, params={"next": "//evil.example/x"})
        callback = _callback(emulator, response.headers["location"])
        assert browser.get(callback).headers["location"] == "/"
        assert query_of(callback)["state"] not in pending


def test_a_tenants_registered_redirect_uri_is_where_the_callback_is_taken(server: Browsers,
                                                                          registry: BrowserSessions,
                                                                          emulator: RunningEmulator) -> None:
    """A real tenant's configuration names its redirect URI (MFA_REDIRECT_URI); the request's own URL
    does not matter, and only that path takes callbacks."""
    with server() as browser:
        registered = f"{str(browser.base_url).rstrip('/')}/signed-in"
        sign_in_routes.provide_auth_config(lambda _base_url: demo_auth_config(emulator, redirect_uri=registered))
        auth_uri = _begin(browser, "/users")
        assert parse_qs(urlsplit(auth_uri).query)["redirect_uri"] == [registered]
        callback = _callback(emulator, auth_uri)
        assert browser.get(callback).text == "streamlit"  # "/?code=…" is not this console's callback
        response = browser.get(callback.replace("/?", "/signed-in?", 1))
        assert (response.status_code, response.headers["location"]) == (303, "/users")
        assert registry.resolve(browser.cookies[SESSION_COOKIE]) is not None
