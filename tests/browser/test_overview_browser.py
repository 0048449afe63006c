"""The adoption overview in a real browser: KPIs and charts render, the admins link, the HTML report."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, assert_no_exception, main, sign_in, wait_for_streamlit


@pytest.mark.browser
def test_overview_renders_links_to_admins_and_downloads_the_report(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    body = main(page)
    expect(body.get_by_role("heading", name="Adoption overview")).to_be_visible()
    expect(body.locator("[data-testid='stMetric']").nth(5)).to_be_visible(timeout=30_000)
    expect(body.locator(".js-plotly-plot").nth(5)).to_be_visible(timeout=30_000)
    assert_no_exception(page)

    with page.expect_download() as download:
        body.get_by_role("button", name="Download report").click()
    html = download.value.path().read_text(encoding="utf-8")
    assert html.count("<script") >= 1 and "plotly" in html.lower()
    assert "Adoption" in html or "adoption" in html

    admins = body.get_by_role("button", name=re.compile(r"Show (this admin|these admins)"))
    expect(admins).to_be_visible()
    admins.click()
    wait_for_streamlit(page)
    expect(main(page).get_by_role("heading", name=re.compile("Users"))).to_be_visible(timeout=30_000)
    assert_no_exception(page)
