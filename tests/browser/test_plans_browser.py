"""The MFA plans page in Chromium: move covered users off per-user MFA through the preview and the typed
confirmation, watch it finish, undo it from the Operations history; switch the registration campaign on and
undo it; the Global Reader sees both without controls. Screenshots at 1280 px and 420 px (kept in
``MFA_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ADMIN, READER, assert_no_exception, go_to, main, sign_in, wait_for_streamlit

SHOTS = os.environ.get("MFA_SCREENSHOTS")
"""A folder to keep the screenshots in (they are taken in every run, kept only when this is set)."""


def _shot(page: Page, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def _metric(page: Page, label: str) -> str:
    return main(page).get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue").inner_text()


@pytest.mark.browser
def test_move_off_per_user_preview_apply_undo(page: Page, console_server: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, console_server, ADMIN)
    go_to(page, "Users")  # the Users page's action bar leads to the plans
    area = main(page)
    area.get_by_role("link", name=re.compile(r"^MFA plans: move users Conditional Access already covers")).click()
    expect(area.get_by_role("heading", name="MFA plans", exact=True)).to_be_visible()
    headline = area.get_by_text(re.compile(r"^[\d,]+ users? can move off per-user MFA"))
    expect(headline).to_be_visible()
    count = int(re.match(r"^([\d,]+)", headline.inner_text()).group(1).replace(",", ""))
    assert count > 0
    _shot(page, tmp_path, "plans-admin-1280")

    area.get_by_role("button", name="Preview: move them off per-user MFA…").click()
    preview = area.get_by_role("heading", name=re.compile(r"^Preview: Disable [\d,]+ users?"))
    expect(preview).to_be_visible(timeout=60_000)
    assert _metric(page, "Will change") == f"{count:,}"
    area.get_by_text(re.compile(r"^What covers each of the [\d,]+ users this plan changes$")).click()
    wait_for_streamlit(page)
    _shot(page, tmp_path, "plans-preview-1280")
    area.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    go = dialog.get_by_role("button", name=re.compile(rf"^Disable {count:,} users?$"))
    if count > 50:
        expect(go).to_be_disabled()
        typed = dialog.get_by_label(f"Type {count} to confirm")
        typed.fill(str(count))
        typed.press("Enter")
    expect(go).to_be_enabled()
    go.click()
    outcome = area.get_by_text(re.compile(rf"^Operation (\d+) complete: {count} applied, 0 failed, [\d,]+ skipped\.$"))
    expect(outcome).to_be_visible(timeout=120_000)
    operation_id = int(re.search(r"Operation (\d+)", outcome.inner_text()).group(1))
    assert_no_exception(page)

    go_to(page, "Operations")
    expect(area.get_by_role("heading", name=re.compile(rf"^Operation {operation_id}: "))).to_be_visible()
    area.get_by_role("button", name="Plan the undo…").click()
    expect(area.get_by_role("heading", name=re.compile(rf"^Preview: Undo operation {operation_id}: restore "
                                                        rf"{count:,} users?"))).to_be_visible(timeout=60_000)
    area.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    if count > 50:
        typed = dialog.get_by_label(f"Type {count} to confirm")
        typed.fill(str(count))
        typed.press("Enter")
    dialog.get_by_role("button", name=re.compile(rf"^Undo: restore {count:,} users?$")).click()
    expect(area.get_by_role("heading", name=re.compile(rf"^Operation \d+: Undo of {operation_id}$"))) \
        .to_be_visible(timeout=60_000)
    expect(area.get_by_text(re.compile(rf"^Operation \d+ complete: {count} applied, 0 failed, 0 skipped\.$"))) \
        .to_be_visible(timeout=120_000)
    assert_no_exception(page)


@pytest.mark.browser
def test_campaign_toggle_and_undo(page: Page, console_server: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, console_server, ADMIN)
    go_to(page, "MFA plans")
    area = main(page)
    area.get_by_role("tab", name="Registration campaign").click()
    expect(area.get_by_role("heading", name="Registration campaign")).to_be_visible()
    before = _metric(page, "Campaign")
    area.get_by_role("button", name="Turn the campaign on").click()
    expect(area.get_by_text(re.compile(r"^Change \d+: applied, read back\.$"))).to_be_visible(timeout=60_000)
    expect(main(page).get_by_test_id("stMetric").filter(has_text="Campaign")
           .get_by_test_id("stMetricValue")).to_have_text("On")
    _shot(page, tmp_path, "campaign-admin-1280")
    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()  # a narrow window opens with the sidebar folded away, as on a phone
    area.get_by_role("tab", name="Registration campaign").click()
    expect(main(page).get_by_test_id("stMetric").filter(has_text="Campaign")
           .get_by_test_id("stMetricValue")).to_have_text("On")
    wait_for_streamlit(page)
    _shot(page, tmp_path, "campaign-admin-420")
    area.get_by_role("button", name=re.compile(r"^Undo change \d+$")).click()
    expect(area.get_by_text(re.compile(r"^Change \d+ restored the campaign change \d+ replaced"))) \
        .to_be_visible(timeout=60_000)
    expect(main(page).get_by_test_id("stMetric").filter(has_text="Campaign")
           .get_by_test_id("stMetricValue")).to_have_text(before)
    assert_no_exception(page)


@pytest.mark.browser
def test_the_reader_sees_plans_and_campaign_without_controls(page: Page, console_server: str,
                                                             tmp_path: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, console_server, READER)
    go_to(page, "MFA plans")
    area = main(page)
    expect(area.get_by_text(re.compile(r"^[\d,]+ users? can move off per-user MFA"))).to_be_visible()
    expect(area.get_by_text(re.compile(r"Read-only: .*You can preview the plan\.")).first).to_be_visible()
    _shot(page, tmp_path, "plans-reader-1280")
    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()  # a narrow window opens with the sidebar folded away, as on a phone
    expect(area.get_by_text(re.compile(r"^[\d,]+ users? can move off per-user MFA"))).to_be_visible()
    wait_for_streamlit(page)
    _shot(page, tmp_path, "plans-reader-420")
    area.get_by_role("tab", name="Registration campaign").click()
    expect(area.get_by_role("heading", name="Registration campaign")).to_be_visible()
    expect(area.get_by_role("button", name="Turn the campaign on")).to_have_count(0)
    expect(area.get_by_text(re.compile(r"Changing the campaign needs Authentication Policy Administrator"))) \
        .to_be_visible()
    _shot(page, tmp_path, "campaign-reader-420")
    assert_no_exception(page)

