"""The break-glass check on the Protected accounts page, in Chromium: a protected account without a FIDO2 key
or passkey is warned about, at a desktop width and in a 420 px window; a Global Reader is not offered the page
(changing the list is a writer's job), so the warning never reaches a read-only session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ADMIN,
    READER,
    assert_no_exception,
    go_to,
    main,
    nav_titles,
    sign_in,
    wait_for_streamlit,
)

SHOTS = os.environ.get("MFA_SCREENSHOTS")
"""A folder to keep the screenshots in (they are taken in every run, kept only when this is set)."""
KEYLESS = "emergency-access02@fabrikamconsulting.onmicrosoft.com"
"""The demo's second emergency account: no method registered at all."""
TITLE = "protected account has no phishing-resistant method for emergencies"


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


@pytest.mark.browser
def test_a_protected_account_without_a_key_is_warned_about(page: Page, console_server: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, console_server, ADMIN)
    go_to(page, "Protected accounts")
    form = main(page).get_by_test_id("stForm")
    form.get_by_label("User principal name").fill(KEYLESS)
    form.get_by_label("Reason").fill("Emergency access")
    form.get_by_role("button", name="Protect", exact=True).click()
    wait_for_streamlit(page)
    warning = main(page).get_by_test_id("stAlert").filter(has_text=TITLE)
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(KEYLESS)
    expect(warning).to_contain_text("it has no method registered")
    expect(warning).to_contain_text("register a security key or passkey")
    warning.scroll_into_view_if_needed()
    _shot(page, tmp_path, "protected-break-glass-1280")
    page.set_viewport_size({"width": 420, "height": 900})
    wait_for_streamlit(page)
    warning.scroll_into_view_if_needed()
    expect(warning).to_be_visible()
    _shot(page, tmp_path, "protected-break-glass-420")
    assert_no_exception(page)
    # leave the shared demo console as it was: remove the protection again
    page.set_viewport_size({"width": 1280, "height": 900})
    picker = main(page).get_by_test_id("stMultiSelect")
    picker.click()
    page.get_by_role("option", name=KEYLESS).click()
    page.keyboard.press("Escape")
    main(page).get_by_role("button", name="Remove protection").click()
    wait_for_streamlit(page)
    expect(main(page).get_by_test_id("stAlert").filter(has_text=TITLE)).to_have_count(0)
    assert_no_exception(page)


@pytest.mark.browser
def test_a_global_reader_is_not_offered_the_protected_page(page: Page, console_server: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 420, "height": 900})
    sign_in(page, console_server, READER)
    wait_for_streamlit(page)
    assert "Protected accounts" not in nav_titles(page)
    _shot(page, tmp_path, "protected-reader-420")
    assert_no_exception(page)
