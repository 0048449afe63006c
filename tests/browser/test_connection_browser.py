"""The Connection page in a real browser: it says how the latest snapshot read per-user MFA states,
for an admin and for the read-only Global Reader, wide and at 420 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, READER, assert_no_exception, go_to, main, sign_in, wait_for_streamlit


@pytest.mark.browser
@pytest.mark.parametrize("who", [ADMIN, READER])
def test_connection_says_how_states_were_read(page: Page, console_server: str, who: str, tmp_path: Path) -> None:
    sign_in(page, console_server, who)
    go_to(page, "Connection")
    body = main(page)
    expect(body.get_by_role("heading", name="How MFA states are read")).to_be_visible()
    # On a first start the demo history may still be building: the section fills in by itself when it is ready.
    expect(body.get_by_text("Read from the users listing (fast).")).to_be_visible(timeout=300_000)
    expect(body.get_by_text("users picked at random were checked", exact=False)).to_be_visible()
    assert "perUserMfaState" not in body.inner_text()
    assert_no_exception(page)
    for width in (1280, 420):
        page.set_viewport_size({"width": width, "height": 900})
        if width < 600:  # as a phone opens it: the sidebar starts collapsed
            page.reload()
            wait_for_streamlit(page)
        body.get_by_role("heading", name="How MFA states are read").scroll_into_view_if_needed()
        expect(body.get_by_text("Read from the users listing (fast).")).to_be_visible()
        shot = tmp_path / f"connection-{who.split()[0].lower()}-{width}.png"
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
