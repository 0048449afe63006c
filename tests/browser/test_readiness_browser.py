"""Enforcing a wave whose members include a legacy-client user, in Chromium: the wave's readiness names
who is not ready and why, the Enforce preview names the legacy client and the day it was last used, a week
on the demo clock later the overview's single-factor sign-ins have fallen, and the change is then undone (the
week on the clock stays, as test_progress_browser's does)."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, assert_no_exception, go_to, main, sidebar, sign_in, wait_for_streamlit
from tests.browser.test_progress_browser import REFRESH_TIMEOUT_MS, _confirm_in_dialog, _keyed, _pick

LEGACY = re.compile(r"signed in with (IMAP4|POP3|Authenticated SMTP|Exchange ActiveSync|Other clients) on "
                    r"(\d{1,2} [A-Z][a-z]{2}): Enforced breaks this client unless an app password is set up")
WAVES = ("Wave 2: Sales, Marketing and Support", "Pilot: IT and Finance")


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _download(page: Page, name: str) -> list[dict[str, str]]:
    with page.expect_download() as download:
        main(page).get_by_role("button", name=name).click()
    return _rows(download.value.path())


def _legacy_straggler(page: Page) -> tuple[str, str, str, str] | None:
    """(upn, name, client, day) of an Enabled straggler of the shown wave who used a legacy client, if any."""
    not_ready = _download(page, "Download who is not ready (CSV)")
    main(page).get_by_role("tab", name="Remind").click()
    stragglers = {row["upn"] for row in _download(page, "Download the reminder list (CSV)")}
    main(page).get_by_role("tab", name="Enforce").click()
    for row in not_ready:
        found = LEGACY.search(row["why_not_ready"])
        if found and row["state"] == "Enabled" and row["upn"] in stragglers:
            return row["upn"], row["display_name"], found.group(1), found.group(2)
    return None


def _single_factor_sign_ins(page: Page) -> int:
    """The overview's "Single-factor sign-ins (30 days)" tile, as a number."""
    value = main(page).locator(".st-key-kpi_signin_single_factor [data-testid='stMetricValue']")
    expect(value).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    return int(value.inner_text().strip().replace(",", ""))


@pytest.mark.browser
def test_enforcing_a_wave_names_the_legacy_client_and_the_day_then_it_is_undone(
        page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    area = main(page)
    go_to(page, "Registration progress")
    # The demo history has no sign-in read yet: a refresh reads the last 30 days of the sign-in log.
    sidebar(page).get_by_role("button", name="Refresh data").click()
    refreshing = sidebar(page).get_by_role("button", name="Refreshing…")
    with contextlib.suppress(AssertionError):  # a small tenant's refresh can finish between two looks
        expect(refreshing).to_be_visible(timeout=20_000)
    # Wait for it to end: a refresh finishing later would redraw the page under the plan made below.
    expect(refreshing).to_have_count(0, timeout=REFRESH_TIMEOUT_MS)
    expect(area.get_by_text("Sign-ins not read yet")).to_have_count(0, timeout=REFRESH_TIMEOUT_MS)
    wait_for_streamlit(page)

    picked = None
    for wave in WAVES:
        _pick(page, "progress_wave", re.compile(rf"^{re.escape(wave)} · launched "))
        expect(area.get_by_text(re.compile(r"^Ready to enforce: \d+ of \d+$"))).to_be_visible()
        picked = _legacy_straggler(page)
        if picked:
            break
    assert picked, "an imported wave has an Enabled straggler who signs in with a legacy client"
    upn, name, client, day = picked

    # Enforce the wave's stragglers: the preview names the client and the day, user by user.
    area.get_by_role("button", name="Plan: set Enforced").click()
    expect(area.get_by_role("heading", name=re.compile(r"^Preview: Enforce \d+ users?"))).to_be_visible(
        timeout=REFRESH_TIMEOUT_MS)
    expect(area.get_by_text(re.compile(r"signed in with a legacy client in the last 30 days: Enforced breaks "
                                       r"those clients"))).to_be_visible()
    row = _keyed(page, "progress_plan_box").get_by_test_id("stTable").get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text(client)
    expect(row).to_contain_text(re.compile(rf"{day} \d{{4}}"))
    expect(row).to_contain_text("Enforced breaks this client unless an app password is set up")
    with page.expect_download() as download:
        area.get_by_role("button", name="Dry run: download the plan (CSV)").click()
    planned = {r["upn"]: r for r in _rows(download.value.path())}
    assert re.search(rf"signed in with {re.escape(client)} on {day}:", planned[upn]["warning"])
    area.get_by_role("button", name="Confirm…").first.click()
    count = _confirm_in_dialog(page, "Enforce")

    # The Operations page shows the newest operation; it is undone after the week below.
    go_to(page, "Operations")
    done = area.get_by_text(re.compile(rf"^Operation (\d+) complete: {count:,} applied, 0 failed"))
    expect(done).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    operation = int(re.search(r"Operation (\d+)", done.inner_text()).group(1))

    # A week on the demo clock: the enforced users now sign in with MFA (a legacy client is refused, not let in
    # with one factor), so the overview's single-factor sign-ins over the last 30 days fall.
    go_to(page, "Overview")
    before = _single_factor_sign_ins(page)
    wait_for_streamlit(page)  # the overview's run has ended: the navigation click is not lost to a rerun
    go_to(page, "Registration progress")
    area.get_by_role("button", name="+1 week").click()
    expect(area.get_by_text("Moved the demo clock a week:")).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    go_to(page, "Overview")
    after = _single_factor_sign_ins(page)
    assert after < before, f"single-factor sign-ins over 30 days went from {before:,} to {after:,}"

    go_to(page, "Operations")
    expect(area.get_by_role("heading", name=f"Operation {operation}: Enforce")).to_be_visible()
    area.get_by_role("button", name="Plan the undo…").click()
    # Whoever registered during the week cannot be put back to Enabled (Entra would make them Enforced again):
    # the undo says so and restores the others.
    heading = area.get_by_role("heading", name=re.compile(rf"^Preview: Undo operation {operation}: restore \d+"))
    expect(heading).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    restore, skipped = (int(n) for n in re.search(r"restore (\d+) users?(?: · (\d+) skipped)?",
                                                  heading.inner_text()).groups(default="0"))
    assert restore + skipped == count and restore > 0
    expect(area.get_by_text(f"Enforced → Enabled: {restore}")).to_be_visible()
    area.get_by_role("button", name="Confirm…").first.click()
    page.get_by_role("dialog").get_by_role("button", name=re.compile(rf"^Undo: restore {restore} users?")).click()
    expect(area.get_by_text(re.compile(rf"^Operation \d+ complete: {restore:,} applied, 0 failed"))) \
        .to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    assert_no_exception(page)
