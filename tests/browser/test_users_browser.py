"""The Users and Operations pages in Chromium: filter by department, tick rows in the table, enforce them
through the preview and the confirmation dialog, watch the operation finish, find it in the Operations
history and undo it. Also: above 50 users the dialog asks for the count to be typed.

The table is a canvas (glide data grid): rows are ticked by clicking their checkbox column, as a person
does. Rows are 35 px high under a 35 px header.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN, assert_no_exception, go_to, main, sign_in, wait_for_streamlit

ROW_PX = 35


def _tick_rows(page: Page, table: Locator, rows: list[int]) -> None:
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None
    for row in rows:
        page.mouse.click(box["x"] + 18, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
        wait_for_streamlit(page)


def _pick_option(page: Page, widget: Locator, option: str) -> None:
    widget.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_streamlit(page)


@pytest.mark.browser
def test_enforce_selected_users_then_undo_from_the_history(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    go_to(page, "Users")
    area = main(page)
    expect(area.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    heading = area.get_by_role("heading", name=re.compile(r"^\d+ matching of \d+ users"))
    expect(heading).to_be_visible()

    # filter by department, and keep the users whose state Enforce changes
    _pick_option(page, area.get_by_test_id("stMultiSelect").filter(has_text="Department"), "Legal")
    _pick_option(page, area.get_by_test_id("stMultiSelect").filter(has_text="MFA state"), "Disabled")
    expect(heading).to_have_text(re.compile(r"^(\d+) matching of"))
    matching = int(re.match(r"^(\d+)", heading.inner_text()).group(1))
    assert matching >= 3

    # tick three rows of the table
    _tick_rows(page, area.get_by_test_id("stDataFrame").first, [0, 1, 2])
    expect(area.get_by_text("3 selected", exact=False)).to_be_visible()

    # Enforce → the preview → Confirm… → the dialog
    area.get_by_role("button", name="Enforce…").click()
    expect(area.get_by_role("heading", name="Preview: Enforce 3 users")).to_be_visible()
    expect(area.get_by_text("Disabled → Enforced:")).to_be_visible()
    area.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("Set 3 users to Enforced.")).to_be_visible()
    expect(dialog.get_by_label(re.compile(r"^Type \d+ to confirm"))).to_have_count(0)  # 50 or fewer: no typing
    dialog.get_by_role("button", name="Enforce 3 users").click()

    # the operation runs in the background; its progress ends in the outcome
    outcome = area.get_by_text(re.compile(r"^Operation (\d+) complete: 3 applied, 0 failed, 0 skipped\.$"))
    expect(outcome).to_be_visible(timeout=90_000)
    operation_id = int(re.search(r"Operation (\d+)", outcome.inner_text()).group(1))
    assert_no_exception(page)

    # the Operations history shows it; undo it through its own preview
    go_to(page, "Operations")
    expect(area.get_by_role("heading", name="Operations", exact=True)).to_be_visible()
    expect(area.get_by_role("heading", name=f"Operation {operation_id}: Enforce")).to_be_visible()
    expect(area.get_by_text(f"Operation {operation_id} complete: 3 applied, 0 failed, 0 skipped.")).to_be_visible()
    area.get_by_role("button", name="Plan the undo…").click()
    expect(area.get_by_role("heading", name=f"Preview: Undo operation {operation_id}: restore 3 users")).to_be_visible()
    expect(area.get_by_text("Enforced → Disabled:")).to_be_visible()
    area.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Put 3 users back to the state they had before operation {operation_id}.")) \
        .to_be_visible()
    dialog.get_by_role("button", name="Undo: restore 3 users").click()
    expect(area.get_by_role("heading", name=re.compile(rf"^Operation \d+: Undo of {operation_id}$"))) \
        .to_be_visible(timeout=60_000)
    expect(area.get_by_text(re.compile(r"^Operation \d+ complete: 3 applied, 0 failed, 0 skipped\.$"))) \
        .to_be_visible(timeout=90_000)
    assert_no_exception(page)


@pytest.mark.browser
def test_above_fifty_users_the_count_must_be_typed(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    go_to(page, "Users")
    area = main(page)
    heading = area.get_by_role("heading", name=re.compile(r"^\d+ matching of \d+ users"))
    expect(heading).to_be_visible()
    area.get_by_text(re.compile(r"^Select all [\d,]+ matching$")).click()
    wait_for_streamlit(page)
    area.get_by_role("button", name="Disable…").click()
    preview = area.get_by_role("heading", name=re.compile(r"^Preview: Disable [\d,]+ users( · [\d,]+ skipped)?$"))
    expect(preview).to_be_visible(timeout=60_000)
    count = int(area.get_by_test_id("stMetric").filter(has_text="Will change")
                .get_by_test_id("stMetricValue").inner_text().replace(",", ""))
    assert count > 50
    area.get_by_role("button", name="Confirm…").click()
    dialog = page.get_by_role("dialog")
    go = dialog.get_by_role("button", name=f"Disable {count:,} users")
    expect(go).to_be_disabled()
    typed = dialog.get_by_label(f"Type {count} to confirm")
    typed.fill(str(count - 1))
    typed.press("Enter")
    expect(dialog.get_by_text(f"That is not {count}.")).to_be_visible()
    expect(go).to_be_disabled()
    typed.fill(str(count))
    typed.press("Enter")
    expect(go).to_be_enabled()
    page.keyboard.press("Escape")  # changed my mind: nothing is sent
    expect(dialog).to_have_count(0)
    area.get_by_role("button", name="Discard").click()
    expect(preview).to_have_count(0)
    assert_no_exception(page)
