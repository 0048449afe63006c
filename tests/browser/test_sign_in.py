"""Interactive sign-in in a real browser: each demo identity, role-based navigation, sign-out, bad callbacks."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from lib.auth import GLOBAL_READER_REASON, FlowExpired, SignInCancelled
from tests.browser.conftest import (
    ADMIN,
    AUTH_POLICY_ADMIN,
    READER,
    assert_no_exception,
    expect_on_page,
    go_to,
    main,
    nav_link,
    nav_links,
    nav_titles,
    open_console,
    sidebar,
    sign_in,
    sign_out,
    wait_for_streamlit,
)

EVERY_ROLE_PAGES = ["Overview", "Registration progress", "Users", "MFA plans", "Operations", "Connection"]


def _expect_sign_in_page(page: Page) -> None:
    expect(page.locator("#sign-in-link")).to_be_visible()
    expect(main(page).get_by_role("heading", name="MFA Rollout Console")).to_be_visible()
    expect(nav_links(page)).to_have_count(0)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "role", "writer"),
    [
        (ADMIN, "Global Administrator", True),
        (AUTH_POLICY_ADMIN, "Authentication Policy Administrator", True),
        (READER, "Global Reader", False),
    ],
    ids=["global-admin", "auth-policy-admin", "global-reader"],
)
def test_sign_in_shows_the_roles_navigation_then_sign_out(page: Page, console_server: str, name: str, role: str,
                                                          writer: bool) -> None:
    open_console(page, console_server)
    _expect_sign_in_page(page)
    expect(page.get_by_text("Demo tenant.", exact=False).first).to_be_visible()
    assert_no_exception(page)

    sign_in(page, console_server, name)
    bar = sidebar(page)
    expect(bar.get_by_text(role, exact=True)).to_be_visible()
    expect(bar.get_by_text("Demo tenant")).to_be_visible()
    expect_on_page(page, "Overview")  # the default page
    titles = nav_titles(page)
    assert set(EVERY_ROLE_PAGES) <= set(titles), titles
    assert ("Protected accounts" in titles) is writer, titles
    expect(nav_link(page, "Protected accounts")).to_have_count(1 if writer else 0)
    read_only = bar.get_by_text(f"Read-only: {GLOBAL_READER_REASON}")
    expect(read_only).to_have_count(0 if writer else 1)
    if not writer:
        expect(read_only).to_be_visible()
    wait_for_streamlit(page)
    assert_no_exception(page)
    assert "code=" not in page.url and "state=" not in page.url, "the authorization code stays in the address bar"

    sign_out(page)
    _expect_sign_in_page(page)
    expect(page.get_by_text(name)).to_have_count(0)
    assert_no_exception(page)


@pytest.mark.browser
def test_cancel_on_the_account_picker_says_so_and_offers_sign_in_again(page: Page, console_server: str) -> None:
    open_console(page, console_server)
    page.locator("#sign-in-link").click()
    expect(page.get_by_role("heading", name="Pick an account")).to_be_visible()
    page.locator("#cancel").click()

    expect(main(page).get_by_text(SignInCancelled.default_message)).to_be_visible()
    _expect_sign_in_page(page)
    assert "error=" not in page.url and "state=" not in page.url
    assert_no_exception(page)

    # The way forward works: a fresh link, a fresh flow, and the sign-in completes.
    sign_in(page, console_server, READER)
    expect(sidebar(page).get_by_text("Global Reader", exact=True)).to_be_visible()
    assert_no_exception(page)


@pytest.mark.browser
def test_a_replayed_callback_in_the_same_browser_changes_nothing(page: Page, console_server: str) -> None:
    callback = sign_in(page, console_server, ADMIN)
    assert re.search(r"[?&]code=", callback) and re.search(r"[?&]state=", callback), callback

    page.goto(callback)  # the same code and state again: a used flow, and this browser is still signed in
    expect(page.get_by_text("This sign-in link has expired or was already used. You are still signed in.")
           ).to_be_visible()
    expect(sidebar(page).get_by_text(ADMIN).first).to_be_visible()
    expect_on_page(page, "Overview")
    assert "code=" not in page.url and "sign_in_error" not in page.url
    assert_no_exception(page)


@pytest.mark.browser
def test_a_forged_state_is_refused_without_a_traceback(page: Page, console_server: str) -> None:
    page.goto(f"{console_server}/?code=not-a-real-code&state=not-a-real-state&session_state=x")
    expect(main(page).get_by_text(FlowExpired.default_message)).to_be_visible()
    _expect_sign_in_page(page)
    assert_no_exception(page)


@pytest.mark.browser
def test_the_sign_in_page_raises_no_script_errors(page: Page, console_server: str, console_errors: list[str]) -> None:
    open_console(page, console_server)
    _expect_sign_in_page(page)
    wait_for_streamlit(page)
    assert_no_exception(page)
    assert console_errors == []


@pytest.mark.browser
def test_two_admins_at_once_keep_their_own_identity(page: Page, new_page: Callable[[], Page],
                                                    console_server: str) -> None:
    other = new_page()
    sign_in(page, console_server, ADMIN)
    sign_in(other, console_server, READER)

    go_to(page, "Connection")  # a rerun in each session after the other one signed in
    go_to(other, "Connection")
    expect(sidebar(page).get_by_text("Global Administrator", exact=True)).to_be_visible()
    expect(sidebar(page).get_by_text(READER)).to_have_count(0)
    expect(nav_link(page, "Protected accounts")).to_have_count(1)
    expect(sidebar(other).get_by_text("Global Reader", exact=True)).to_be_visible()
    expect(sidebar(other).get_by_text(ADMIN)).to_have_count(0)
    expect(nav_link(other, "Protected accounts")).to_have_count(0)

    sign_out(other)  # one admin signing out leaves the other signed in
    go_to(page, "Overview")
    expect(sidebar(page).get_by_text(ADMIN).first).to_be_visible()
    assert_no_exception(page)
