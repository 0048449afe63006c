"""A sign-in belongs to its browser: it survives reloads, tabs and deep links, ends everywhere at sign-out,
cannot be taken to another browser, and leaves the browser nothing but an opaque signed cookie."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from lib.auth import FlowExpired
from lib.auth.browser_sessions import BINDING_COOKIE, SESSION_COOKIE
from tests.browser.conftest import (
    ADMIN,
    READER,
    _open_tab,
    assert_no_exception,
    expect_on_page,
    go_to,
    main,
    nav_links,
    sidebar,
    sign_in,
    wait_for_streamlit,
)


def _signed_in_as(page: Page, name: str) -> None:
    expect(sidebar(page).get_by_role("button", name="Sign out")).to_be_visible()
    expect(sidebar(page).get_by_text(name).first).to_be_visible()


def _signed_out(page: Page) -> None:
    expect(page.locator("#sign-in-link")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(nav_links(page)).to_have_count(0)


def _pick(page: Page, name: str) -> None:
    """On the demo tenant's "Pick an account" page: choose ``name`` and press Sign in."""
    page.get_by_role("radio", name=re.compile(rf"^\s*{re.escape(name)}\b")).check()
    page.locator("#signin").click()


def _held_callback(page: Page, base: str, name: str) -> str:
    """Sign in as ``name`` up to the identity platform's redirect back, which is held (not followed): its URL.

    The account picker's form POST is sent for the browser and its redirect read, so the browser never
    opens the callback (a redirect's follow-up request cannot be routed).
    """
    held: list[str] = []

    def hold(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch(max_redirects=0)
        held.append(answer.headers.get("location", ""))
        route.abort()

    def on_identity_platform(url: str) -> bool:
        return not url.startswith(base)

    page.goto(base)
    page.locator("#sign-in-link").click()
    expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    page.context.route(on_identity_platform, hold)
    try:
        with page.expect_event("requestfailed", lambda request: request.method == "POST"):
            _pick(page, name)  # the handler has read the redirect once the POST is aborted
    finally:
        page.context.unroute(on_identity_platform, hold)
    assert len(held) == 1 and held[0].startswith(base) and "code=" in held[0], held
    return held[0]


@pytest.mark.browser
def test_a_reload_and_a_new_tab_keep_the_admin_signed_in_on_the_page_asked_for(page: Page,
                                                                              console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    go_to(page, "Users")
    page.reload()
    expect_on_page(page, "Users")
    _signed_in_as(page, ADMIN)
    expect(page.get_by_text("Page not found")).to_have_count(0)

    other = page.context.new_page()  # a new tab of the same browser, opened on a deep link
    other.goto(f"{console_server}/operations")
    expect_on_page(other, "Operations")
    _signed_in_as(other, ADMIN)
    expect(main(other).get_by_role("heading", name="Operations").first).to_be_visible()
    assert_no_exception(other)
    assert_no_exception(page)


@pytest.mark.browser
def test_a_signed_out_deep_link_signs_in_to_that_page(page: Page, console_server: str) -> None:
    page.goto(f"{console_server}/progress")
    _signed_out(page)
    expect(page).to_have_url(re.compile(r"/progress$"))
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.locator("#sign-in-link").click()
    _pick(page, READER)
    _signed_in_as(page, READER)
    expect_on_page(page, "Registration progress")
    assert_no_exception(page)


@pytest.mark.browser
def test_sign_out_ends_the_sign_in_in_every_tab(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    other = page.context.new_page()
    other.goto(f"{console_server}/users")
    expect_on_page(other, "Users")
    _signed_in_as(other, ADMIN)

    sidebar(page).get_by_role("button", name="Sign out").click()
    _signed_out(page)
    _signed_out(other)  # without touching the other tab: it notices by itself
    expect(main(other).get_by_text("You were signed out")).to_be_visible()
    other.reload()
    _signed_out(other)
    page.reload()
    _signed_out(page)
    assert_no_exception(other)


@pytest.mark.browser
def test_a_callback_replayed_in_a_fresh_browser_does_not_sign_in(page: Page, browser: Browser,
                                                                  console_server: str) -> None:
    callback = _held_callback(page, console_server, ADMIN)

    stranger = _open_tab(browser)  # another browser: no cookies of the first one
    try:
        stranger.goto(callback)
        expect(main(stranger).get_by_text(FlowExpired.default_message)).to_be_visible()
        _signed_out(stranger)
        assert "code=" not in stranger.url
        assert [c for c in stranger.context.cookies() if c["name"] == SESSION_COOKIE] == []
        wait_for_streamlit(stranger)
        assert_no_exception(stranger)
    finally:
        stranger.context.close()

    page.goto(callback)  # the browser that began the sign-in can still finish it
    _signed_in_as(page, ADMIN)
    assert_no_exception(page)


@pytest.mark.browser
def test_the_browser_holds_only_an_opaque_signed_http_only_cookie(page: Page, browser: Browser,
                                                                   console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    wait_for_streamlit(page)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[SESSION_COOKIE]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Strict", "/")
    binding = cookies[BINDING_COOKIE]
    assert (binding["httpOnly"], binding["sameSite"]) == (True, "Lax")
    for cookie in cookies.values():  # no token (a JWT starts with "eyJ") and nothing readable in any cookie
        assert "eyJ" not in cookie["value"] and len(cookie["value"]) < 120, cookie["name"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}", session["value"])
    assert SESSION_COOKIE not in page.evaluate("document.cookie")  # out of reach of the page's scripts
    for key in page.evaluate("Object.keys(window.localStorage).concat(Object.keys(window.sessionStorage))"):
        assert "token" not in key.lower()

    forged = _open_tab(browser)  # the same id with a mac that does not match is no session
    try:
        value = session["value"]
        altered = value[:-1] + ("A" if value[-1] != "A" else "B")
        forged.context.add_cookies([{"name": SESSION_COOKIE, "value": altered, "url": console_server}])
        forged.goto(f"{console_server}/users")
        _signed_out(forged)
        wait_for_streamlit(forged)
        assert_no_exception(forged)
    finally:
        forged.context.close()


@pytest.mark.browser
def test_a_crafted_error_description_is_shown_as_fixed_text(page: Page, console_server: str) -> None:
    page.goto(console_server)
    page.locator("#sign-in-link").click()
    expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    state = re.search(r"[?&]state=([^&]+)", page.url).group(1)  # this browser's own pending flow
    crafted = ("[Your session is over, sign in here](https://evil.example/phish) **AADSTS-fake** "
               "<img src=x onerror=alert(1)>")
    page.goto(f"{console_server}/?state={state}&error=server_error&error_description={crafted}")

    expect(main(page).get_by_text("Sign-in failed (server_error). Sign in again.")).to_be_visible()
    _signed_out(page)
    expect(page.get_by_text("Your session is over")).to_have_count(0)
    expect(page.locator('a[href*="evil.example"]')).to_have_count(0)
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert "error_description" not in page.url and "sign_in_error" not in page.url
    assert_no_exception(page)


@pytest.mark.browser
def test_pages_open_with_the_reader_at_420_px(new_page: Callable[[], Page], console_server: str,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """The read-only role at a phone's width: the deep link's sign-in page and the page after a reload."""
    tab = new_page()
    tab.set_viewport_size({"width": 420, "height": 900})
    tab.goto(f"{console_server}/users")
    _signed_out(tab)
    shots = tmp_path_factory.mktemp("session-shots")
    tab.screenshot(path=str(shots / "sign-in-420.png"), full_page=True)
    tab.locator("#sign-in-link").click()
    _pick(tab, READER)
    expect(tab.get_by_role("heading", name="Users").first).to_be_visible()
    tab.reload()
    expect_on_page(tab, "Users")
    expect(tab.get_by_role("heading", name="Users").first).to_be_visible()
    wait_for_streamlit(tab)
    tab.screenshot(path=str(shots / "users-reader-420.png"), full_page=True)
    assert_no_exception(tab)
