"""The overview's protection tiles in Chromium: a tile's link lands on the Users page filtered to its users.

The tile's number is read off the page and compared with the Users page's "N matching" heading, so the test
holds whatever the demo clock and earlier tests did to the tenant. Screenshots (wide, 420 px, Global Reader) go
to ``MFA_SCREENSHOTS`` when set, for a person to look at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, READER, assert_no_exception, main, sign_in, wait_for_streamlit


def shot(page: Page, name: str, element: str | None = None, *, window: bool = False) -> None:
    """A screenshot of the page (or of the first ``element`` matching, scrolled into view) when asked for."""
    folder = os.environ.get("MFA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = str(Path(folder) / f"{name}.png")
        if element is None:
            page.screenshot(path=path, full_page=True)
        else:
            target = main(page).locator(element).first
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            if window or (box and box["height"] > page.viewport_size["height"]):
                page.screenshot(path=path)  # taller than the window: what a person sees scrolled to it
            else:
                target.screenshot(path=path)


def tile_value(page: Page, label: str) -> str:
    card = main(page).locator("[data-testid='stMetric']").filter(has_text=label).first
    expect(card).to_be_visible(timeout=60_000)
    return card.locator("[data-testid='stMetricValue']").inner_text().strip()


def follow(page: Page, tile_key: str) -> int:
    """Click the tile's link; the Users page's matching count."""
    main(page).locator(f".st-key-show_protection_{tile_key} button:visible").first.click()
    wait_for_streamlit(page)
    heading = main(page).get_by_role("heading", name=re.compile(r"^[\d,]+ matching of"))
    expect(heading).to_be_visible(timeout=60_000)
    expect(main(page).get_by_text("(from the Overview)")).to_be_visible()
    return int(heading.inner_text().split(" ")[0].replace(",", ""))


@pytest.mark.browser
def test_sms_voice_tile_lands_on_the_users_it_counted(page: Page, console_server: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, console_server, ADMIN)
    expect(main(page).get_by_role("heading", name="Who is effectively protected")).to_be_visible(timeout=60_000)
    expect(main(page).locator(".js-plotly-plot").nth(1)).to_be_visible(timeout=60_000)
    shot(page, "overview-wide")
    shot(page, "overview-wide-charts", ".st-key-protection_charts")
    counted = int(tile_value(page, "Relying on SMS/voice only").replace(",", ""))
    assert counted > 0
    assert follow(page, "sms_voice") == counted
    expect(main(page).get_by_text("SMS or voice only").first).to_be_visible()  # the chosen filter, in words
    expect(main(page).locator("[data-testid='stDataFrame']")).to_be_visible(timeout=60_000)
    shot(page, "users-sms-voice-wide")
    shot(page, "users-sms-voice-table", "[data-testid='stDataFrame']")
    assert_no_exception(page)


@pytest.mark.browser
def test_narrow_window_as_global_reader(page: Page, console_server: str) -> None:
    page.set_viewport_size({"width": 420, "height": 900})
    sign_in(page, console_server, READER)
    expect(main(page).get_by_role("heading", name="Who is effectively protected")).to_be_visible(timeout=60_000)
    expect(main(page).locator(".js-plotly-plot").nth(1)).to_be_visible(timeout=60_000)
    shot(page, "overview-narrow-reader")
    shot(page, "overview-narrow-charts", ".st-key-protection_charts")
    share = tile_value(page, "Effectively protected")
    assert share.endswith("%")
    basis = main(page).get_by_text(re.compile(r"^[\d,]+ of [\d,]+ users in scope")).first.inner_text()
    protected = int(basis.split(" ")[0].replace(",", ""))
    assert follow(page, "protected") == protected
    expect(main(page).get_by_text("Protected by", exact=True)).to_be_visible(timeout=60_000)
    expect(main(page).get_by_text("Read-only", exact=False).first).to_be_visible(timeout=60_000)
    shot(page, "users-protected-narrow-reader")
    shot(page, "users-filters-narrow-reader", "label:has-text('Protected by')", window=True)
    assert_no_exception(page)
