"""The Wave 3 sequence in Chromium: enforce registered users, undo it, then enable them as a wave. Entra
leaves users disabled since they registered Enabled: the preview says so, the operation reports that
Graph left every user as previewed, and the member's timeline shows the state Graph reported."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    ADMIN,
    assert_no_exception,
    go_to,
    main,
    sidebar,
    sign_in,
    wait_for_streamlit,
)
from tests.browser.test_progress_browser import REFRESH_TIMEOUT_MS, _confirm_in_dialog, _pick, _settle
from tests.browser.test_users_browser import _tick_rows

COUNT = 3


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def _complete(page: Page, *earlier: int) -> int:
    """The operation just started, once complete; ``earlier`` operations of this test may still show their
    verdict on the page for a moment after the confirmation (a slow rerun), so they are not taken for it."""
    others = "".join(rf"(?!{n}\b)" for n in earlier)
    done = main(page).get_by_text(
        re.compile(rf"^Operation {others}(\d+) complete: {COUNT} applied, 0 failed, 0 skipped\.$"))
    expect(done).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    return int(re.search(r"Operation (\d+)", done.inner_text()).group(1))


def _confirm(area: Locator) -> None:
    """Press the preview's Confirm…: there is one, but a rerun may briefly show its stale copy beside it (the
    same widget, so either press is the same)."""
    button = area.get_by_role("button", name="Confirm…")
    expect(button).to_have_count(1)
    button.first.click()


@pytest.mark.browser
def test_enforce_undo_then_enable_as_a_wave_predicts_who_stays_enabled(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    area = main(page)

    # Enforce three registered, Disabled users.
    go_to(page, "Users")
    _settle(page)
    _pick(page, "users_f_states", "Disabled")
    _pick(page, "users_f_registered", "Yes")
    _tick_rows(page, area.get_by_test_id("stDataFrame").first, list(range(COUNT)))
    expect(area.get_by_text(f"{COUNT} selected", exact=False)).to_be_visible()
    area.get_by_role("button", name="Enforce…").click()
    expect(area.get_by_text(f"Disabled → Enforced: {COUNT}")).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    _confirm(area)
    _confirm_in_dialog(page, "Enforce")
    enforced = _complete(page)

    # Who they are, from the operation's users CSV; then undo it on the Operations page.
    go_to(page, "Operations")
    expect(area.get_by_role("heading", name=f"Operation {enforced}: Enforce")).to_be_visible()
    with page.expect_download() as download:
        area.get_by_role("button", name="Users (CSV)").click()
    rows = _csv_rows(download.value.path())
    upns = [row["upn"] for row in rows]
    assert len(upns) == COUNT and {row["observed"] for row in rows} == {"enforced"}
    area.get_by_role("button", name="Plan the undo…").click()
    expect(area.get_by_text(f"Enforced → Disabled: {COUNT}")).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    _confirm(area)
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=f"Undo: restore {COUNT} users").click()
    expect(area.get_by_role("heading", name=re.compile(rf"^Operation \d+: Undo of {enforced}$"))) \
        .to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    undone = _complete(page, enforced)

    # Enable exactly them as a wave: the preview says Entra leaves them Enabled.
    go_to(page, "Users")
    _settle(page)
    area.get_by_text("Only users on a list (paste or upload UPNs)").click()
    pasted = area.get_by_role("textbox", name="Paste UPNs")
    pasted.fill("\n".join(upns))
    pasted.press("Control+Enter")
    wait_for_streamlit(page)
    area.get_by_text(re.compile(rf"^Select all {COUNT} matching$")).click()
    wait_for_streamlit(page)
    area.get_by_role("button", name="Enable…").click()
    expect(area.get_by_text(f"Disabled → Enabled: {COUNT}")).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    expect(area.get_by_text(f"{COUNT} registered users were disabled by an admin since registering: Entra leaves "
                            "them Enabled until they register again")).to_be_visible()
    wave = f"Wave 3: Engineering {uuid.uuid4().hex[:6]}"
    name = area.get_by_role("textbox", name="Name this Enable as a rollout wave (optional)")
    name.fill(wave)
    name.press("Enter")
    wait_for_streamlit(page)
    _confirm(area)
    _confirm_in_dialog(page, "Enable")
    enabled = _complete(page, enforced, undone)
    expect(area.get_by_text("Read back from Graph: every applied user is in the state the preview expected.")) \
        .to_be_visible()

    # The operation reports nobody differing from the preview.
    go_to(page, "Operations")
    expect(area.get_by_role("heading", name=f"Operation {enabled}: Enable")).to_be_visible()
    expect(area.get_by_text(f"Operation {enabled} complete: {COUNT} applied, 0 failed, 0 skipped.")).to_be_visible()
    expect(area.get_by_text(re.compile(r"not in the state the preview expected"))).to_have_count(0)
    with page.expect_download() as download:
        area.get_by_role("button", name="Users (CSV)").click()
    rows = _csv_rows(download.value.path())
    assert {(row["expected_state"], row["observed"]) for row in rows} == {("enabled", "enabled")}

    # A member's timeline: each change with the state Graph reported afterwards.
    go_to(page, "Registration progress")
    _pick(page, "progress_wave", re.compile(rf"^{re.escape(wave)} · launched "))
    # the latest snapshot predates the launch (one clock): take one, and the members' progress shows
    expect(area.get_by_text("The latest snapshot predates this wave's launch")).to_be_visible()
    sidebar(page).get_by_role("button", name="Refresh data").click()
    expect(area.get_by_text("The latest snapshot predates this wave's launch")).to_have_count(
        0, timeout=REFRESH_TIMEOUT_MS)
    wait_for_streamlit(page)
    _pick(page, "progress_detail_user", re.compile(re.escape(upns[0])))
    timeline = area.get_by_test_id("stTable")
    expect(timeline.get_by_text(re.compile(r"^MFA Enabled by .*; Graph reports Enabled$"))).to_be_visible()
    expect(timeline.get_by_text(re.compile(r"^Set to Enforced by .*; Graph reports Enforced$"))).to_be_visible()
    expect(timeline.get_by_text(re.compile(r"undo of operation .*; Graph reports Disabled$"))).to_be_visible()
    assert_no_exception(page)
