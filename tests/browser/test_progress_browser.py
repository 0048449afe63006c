"""Registration progress in a real browser: a wave launched on the Users page, moved a week by the demo
clock, shows its registered share rising and a straggler flagged; stragglers picked in the table (row
selection) are planned for Enforced and confirmed in the same preview and dialog as every other change."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import ADMIN, assert_no_exception, go_to, main, sign_in, wait_for_streamlit

REFRESH_TIMEOUT_MS = 120_000
WAVE = "Wave 3: Engineering"
IMPORTED_WAVE = "Wave 2: Sales, Marketing and Support"


def _metric(page: Page, label: str) -> Locator:
    """The metric labelled ``label``, not the stale copy a rerun leaves on the page until it has drawn anew."""
    fresh = main(page).locator("[data-testid='stElementContainer']:not([data-stale='true']) > [data-testid='stMetric']")
    return fresh.filter(has=page.get_by_test_id("stMetricLabel").filter(has_text=label))


def _metric_value(page: Page, label: str) -> str:
    return _metric(page, label).get_by_test_id("stMetricValue").inner_text().strip()


def _percent(text: str) -> float:
    return float(text.rstrip("%").replace(",", ""))


def _keyed(page: Page, key: str) -> Locator:
    """The element a widget key names (Streamlit puts ``st-key-<key>`` on its container)."""
    return main(page).locator(f".st-key-{key}")


def _wave_box(page: Page) -> Locator:
    """The wave selector's combobox (its value is the chosen wave's label)."""
    return _keyed(page, "progress_wave").get_by_role("combobox")


def _pick(page: Page, key: str, option: str | re.Pattern[str]) -> None:
    """Choose ``option`` in the select box or multiselect with widget key ``key`` (opened again if a rerun
    redrew the widget as it was clicked, which closes its list)."""
    choice = page.get_by_role("option", name=option).first
    for _ in range(3):
        _keyed(page, key).click()
        try:
            choice.wait_for(state="visible", timeout=15_000)
            break
        except PlaywrightTimeoutError:
            wait_for_streamlit(page)
    choice.click()
    wait_for_streamlit(page)


def _settle(page: Page) -> None:
    """Let a new session's first reruns pass before clicking into a grid: the sidebar's refresh fragment
    (every second) reruns the whole app once in each new session when the tenant has a finished refresh."""
    page.wait_for_timeout(2500)
    wait_for_streamlit(page)


def _confirm_in_dialog(page: Page, verb: str) -> int:
    """The confirmation dialog: type the count when asked, press the verb button; returns the count."""
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Confirm the change")).to_be_visible()
    button = dialog.get_by_role("button", name=re.compile(rf"^\s*\S*\s*{verb} [\d,]+ users?\s*$"))
    count = int(re.search(r"([\d,]+) user", button.inner_text()).group(1).replace(",", ""))
    typed = dialog.get_by_role("textbox", name=re.compile(r"^Type [\d,]+ to confirm"))
    if typed.count():
        typed.fill(str(count))
        typed.press("Enter")
    expect(button).to_be_enabled()
    button.click()
    expect(dialog).to_have_count(0)
    return count


def _operation_complete(page: Page, count: int) -> None:
    done = main(page).get_by_text(re.compile(rf"Operation \d+ complete: {count:,} applied, 0 failed"))
    expect(done).to_be_visible(timeout=REFRESH_TIMEOUT_MS)


@pytest.mark.browser
def test_a_wave_launched_on_the_users_page_moves_a_week_on_the_demo_clock(
        page: Page, console_server: str, console_errors: list[str]) -> None:
    sign_in(page, console_server, ADMIN)

    # Launch: on the Users page, every Engineering user, Enable, named as a wave.
    go_to(page, "Users")
    _settle(page)
    _pick(page, "users_f_departments", "Engineering")
    main(page).get_by_text(re.compile(r"^Select all [\d,]+ matching$")).click()
    expect(main(page).get_by_text(re.compile(r"All [\d,]+ matching users"))).to_be_visible()
    main(page).get_by_role("button", name=re.compile(r"Enable…")).click()
    wave_name = main(page).get_by_role("textbox", name="Name this Enable as a rollout wave (optional)")
    expect(wave_name).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    wave_name.fill(WAVE)
    wave_name.press("Enter")
    wait_for_streamlit(page)
    main(page).get_by_role("button", name=re.compile(r"Confirm…")).click()
    count = _confirm_in_dialog(page, "Enable")
    _operation_complete(page, count)

    # Follow it: the newest wave is shown first; the snapshot still predates its launch.
    go_to(page, "Registration progress")
    expect(_wave_box(page)).to_have_value(re.compile(rf"^{re.escape(WAVE)} · launched "))
    expect(main(page).get_by_text("The latest snapshot predates this wave's launch")).to_be_visible()
    before_registered = _percent(_metric_value(page, "Registered"))
    before_time = main(page).get_by_text("simulated time").first.inner_text()

    main(page).get_by_role("button", name="+1 week").click()
    # A snapshot at the end of each of the seven simulated days, with progress named by the day.
    expect(main(page).get_by_text(re.compile(r"Day [1-7] of 7"))).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    expect(main(page).get_by_text("Moved the demo clock a week:")).to_be_visible(timeout=REFRESH_TIMEOUT_MS)
    expect(main(page).get_by_text("a snapshot at the end of each of the 7 days")).to_be_visible()
    # Every figure is as of the data: "days since launch" moves when the new snapshot is in.
    expect(_metric(page, "Days since launch").get_by_test_id("stMetricValue")).to_have_text(
        re.compile(r"^[67]$"), timeout=REFRESH_TIMEOUT_MS)
    wait_for_streamlit(page)
    assert main(page).get_by_text("simulated time").first.inner_text() != before_time
    expect(main(page).get_by_text("The latest snapshot predates this wave's launch")).to_have_count(0)
    after_registered = _percent(_metric_value(page, "Registered"))
    assert after_registered > before_registered, (before_registered, after_registered)

    stragglers = int(_metric_value(page, "Stragglers").replace(",", ""))
    assert stragglers >= 1
    flagged = main(page).get_by_text(re.compile(r"Never signed in: [1-9]"))
    expect(flagged).to_be_visible()
    expect(_stragglers_grid(page)).to_be_visible()
    assert_no_exception(page)
    assert not [e for e in console_errors if e.startswith("uncaught:")], console_errors


def _stragglers_grid(page: Page) -> Locator:
    """The stragglers table (its element container carries the widget key ``progress_stragglers_<wave id>``)."""
    return main(page).locator("[class*='st-key-progress_stragglers_']").get_by_test_id("stDataFrame")


def _select_rows(grid: Locator, rows: int) -> None:
    """Tick the first ``rows`` row checkboxes of a Streamlit dataframe (a canvas grid: click by position)."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    header, height = 35, 35
    for row in range(rows):
        grid.page.mouse.click(box["x"] + 16, box["y"] + header + height * row + height / 2)


@pytest.mark.browser
def test_selected_stragglers_are_planned_and_confirmed_on_the_progress_page(
        page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    go_to(page, "Registration progress")
    _pick(page, "progress_wave", re.compile(rf"^{re.escape(IMPORTED_WAVE)} · "))
    expect(_wave_box(page)).to_have_value(re.compile(rf"^{re.escape(IMPORTED_WAVE)} · launched "))
    _settle(page)
    grid = _stragglers_grid(page)
    expect(grid).to_be_visible()
    _select_rows(grid, 2)
    expect(main(page).get_by_text("the 2 selected stragglers").first).to_be_visible()

    main(page).get_by_role("button", name="Plan: set Enforced").click()
    heading = main(page).get_by_role("heading", name=re.compile(r"^Preview: Enforce [\d,]+ users?"))
    expect(heading).to_be_visible()
    will_change = main(page).get_by_test_id("stMetric").filter(has_text="Will change")
    changing = int(will_change.get_by_test_id("stMetricValue").inner_text().replace(",", ""))
    if changing == 0:
        pytest.skip("both selected stragglers are skipped by the plan: nothing to confirm")

    main(page).get_by_role("button", name=re.compile(r"Confirm…")).click()
    assert _confirm_in_dialog(page, "Enforce") == changing
    # The journal's verdict, as the Operations page shows the newest operation.
    go_to(page, "Operations")
    _operation_complete(page, changing)
    assert_no_exception(page)
