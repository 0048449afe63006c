"""The demo clock by role, in Chromium: a Global Reader sees the simulated time and why it cannot move it,
but no clock buttons; a writer sees the buttons. Both at a desktop width and in a 420 px window."""

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
    sign_in,
    wait_for_streamlit,
)

SHOTS = os.environ.get("MFA_SCREENSHOTS")
"""A folder to keep the screenshots in (they are taken in every run, kept only when this is set)."""


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


def _clock(page: Page):
    return main(page).locator(".st-key-demo_clock")


def _on_progress_page(page: Page, base_url: str, who: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, base_url, who)
    go_to(page, "Registration progress")
    wait_for_streamlit(page)


def _narrow(page: Page) -> None:
    """The same session in a 420 px window (a phone, or a window docked beside another)."""
    page.set_viewport_size({"width": 420, "height": 900})
    wait_for_streamlit(page)
    _clock(page).scroll_into_view_if_needed()


@pytest.mark.browser
def test_a_reader_sees_the_demo_clock_but_no_controls(page: Page, console_server: str, tmp_path: Path) -> None:
    _on_progress_page(page, console_server, READER)
    clock = _clock(page)
    expect(clock.get_by_text("simulated time")).to_be_visible()
    expect(clock.get_by_text("Only an admin who may change MFA moves the demo clock.")).to_be_visible()
    expect(clock.get_by_role("button")).to_have_count(0)
    _shot(page, tmp_path, "clock-reader-1280")
    _narrow(page)
    expect(clock.get_by_text("Only an admin who may change MFA moves the demo clock.")).to_be_visible()
    _shot(page, tmp_path, "clock-reader-420")
    assert_no_exception(page)


@pytest.mark.browser
def test_a_writer_sees_the_clock_buttons(page: Page, console_server: str, tmp_path: Path) -> None:
    _on_progress_page(page, console_server, ADMIN)
    clock = _clock(page)
    expect(clock.get_by_role("button", name="+1 day")).to_be_visible()
    expect(clock.get_by_role("button", name="+1 week")).to_be_visible()
    _shot(page, tmp_path, "clock-writer-1280")
    _narrow(page)
    expect(clock.get_by_role("button", name="+1 week")).to_be_visible()
    _shot(page, tmp_path, "clock-writer-420")
    assert_no_exception(page)
