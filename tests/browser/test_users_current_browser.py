"""The Users page in Chromium stays current and accounts for a pasted list.

- After an enforce finishes, the table shows the new states without a reload: the rows it changed say so
  (State as of: Operation N), the counts by state move by exactly the users enforced, the selection resets.
- A pasted list's counts add up to the entries pasted.

The demo tenant (300 users, seed 7) is regenerated here to know real UPNs; the console's store is the
server's, so counts are compared before and after, never as absolute figures.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from lib.emulator.generator import generate_tenant
from tests.browser.conftest import ADMIN, assert_no_exception, go_to, main, sign_in, wait_for_streamlit

ROW_PX = 35
MIX = re.compile(r"^Disabled ([\d,]+) · Enabled ([\d,]+) · Enforced ([\d,]+)")


def _pick(page: Page, widget: Locator, option: str) -> None:
    widget.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_streamlit(page)


def _mix(area: Locator) -> tuple[int, int, int]:
    text = area.get_by_text(MIX).first.inner_text()
    disabled, enabled, enforced = (int(g.replace(",", "")) for g in MIX.match(text).groups())
    return disabled, enabled, enforced


def _matching(area: Locator) -> int:
    heading = area.get_by_role("heading", name=re.compile(r"^[\d,]+ matching of"))
    return int(re.match(r"^([\d,]+)", heading.inner_text()).group(1).replace(",", ""))


@pytest.mark.browser
def test_after_an_enforce_the_table_shows_the_new_states_without_a_reload(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    wait_for_streamlit(page)  # the Overview has finished drawing: a click on Users is not undone by its rerun
    go_to(page, "Users")
    area = main(page)
    expect(area.get_by_role("heading", name=re.compile(r"^[\d,]+ matching of"))).to_be_visible()
    before = _mix(area)
    _pick(page, area.get_by_test_id("stMultiSelect").filter(has_text="MFA state"), "Disabled")
    disabled_before = _matching(area)
    assert disabled_before >= 3 and disabled_before == before[0]

    table = area.get_by_test_id("stDataFrame").first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    for row in (0, 1, 2):
        page.mouse.click(box["x"] + 18, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)
        wait_for_streamlit(page)
    expect(area.get_by_text("3 selected", exact=False)).to_be_visible()
    area.get_by_role("button", name="Enforce…").click()
    area.get_by_role("button", name="Confirm…").click()
    page.get_by_role("dialog").get_by_role("button", name="Enforce 3 users").click()
    outcome = area.get_by_text(re.compile(r"^Operation (\d+) complete: 3 applied, 0 failed, 0 skipped\.$"))
    expect(outcome).to_be_visible(timeout=90_000)
    operation_id = int(re.search(r"Operation (\d+)", outcome.inner_text()).group(1))

    # no reload: the same page now counts the three as Enforced, and says where those states come from
    expect(area.get_by_role("heading", name=re.compile(r"^[\d,]+ matching of"))) \
        .to_have_text(re.compile(rf"^{disabled_before - 3} matching of"))
    # other tests' operations on this server may be named too: ours must be among them
    note = area.get_by_text(re.compile(r"users? shows? the state (operations? [\d, ]+(and [\d,]+ more )?)observed"))
    expect(note).to_be_visible()
    assert str(operation_id) in re.findall(r"\d+", note.inner_text().split("observed")[0].split("state")[1])
    expect(area.get_by_text("0 selected", exact=False)).to_be_visible()  # the selection reset
    area.get_by_role("button", name="Reset filters").click()
    wait_for_streamlit(page)
    disabled, enabled, enforced = before[0] - 3, before[1], before[2] + 3
    expect(area.get_by_text(MIX).first).to_have_text(  # waits for the rerun the reset starts
        re.compile(rf"^Disabled {disabled:,} · Enabled {enabled:,} · Enforced {enforced:,}"))
    assert_no_exception(page)


@pytest.mark.browser
def test_a_pasted_lists_counts_add_up(page: Page, console_server: str) -> None:
    people = [u for u in generate_tenant(300, 7).users]
    in_scope = [u.upn for u in people if u.kind == "person" and u.account_enabled and u.user_type == "Member"]
    disabled = next(u.upn for u in people if u.kind == "person" and not u.account_enabled)
    listed = [in_scope[0].upper(), *in_scope[1:7], disabled, "nobody.here@fabrikamconsulting.com", "not@@a-upn",
              in_scope[2]]
    assert len(listed) == 11
    sign_in(page, console_server, ADMIN)
    wait_for_streamlit(page)  # the Overview has finished drawing: a click on Users is not undone by its rerun
    go_to(page, "Users")
    area = main(page)
    area.get_by_text("Only users on a list (paste or upload UPNs)").click()
    box = area.get_by_test_id("stTextArea").filter(has_text="Paste UPNs").locator("textarea")
    box.fill("\n".join(listed))
    box.press("Control+Enter")
    wait_for_streamlit(page)
    line = area.get_by_text(re.compile(r"^11 entries on the list: "))
    expect(line).to_be_visible()
    text = line.inner_text()
    numbers = re.match(r"^11 entries on the list: (\d+) shown · (\d+) outside the scope \((.*)\) · "
                       r"(\d+) not in the snapshot · (\d+) not a UPN · (\d+) listed twice$", text)
    assert numbers, text
    shown, outside, rules, missing, not_upn, twice = numbers.groups()
    assert int(shown) + int(outside) + int(missing) + int(not_upn) + int(twice) == 11
    assert (int(missing), int(not_upn), int(twice)) == (1, 1, 1)
    assert "disabled account" in rules and int(outside) >= 1
    assert _matching(area) == int(shown)
    area.get_by_text("Which entries are not shown, and why").click()
    details = area.get_by_test_id("stExpander").filter(has_text="Which entries are not shown, and why")
    expect(details.get_by_text("nobody.here@fabrikamconsulting.com", exact=False)).to_be_visible()
    expect(details.get_by_text(disabled, exact=False)).to_be_visible()
    assert_no_exception(page)



@pytest.mark.browser
def test_a_preview_opens_in_view_with_the_focus_on_its_heading(page: Page, console_server: str) -> None:
    sign_in(page, console_server, ADMIN)
    wait_for_streamlit(page)
    go_to(page, "Users")
    page.set_viewport_size({"width": 420, "height": 800})  # narrow: the preview starts far below the buttons
    wait_for_streamlit(page)
    area = main(page)
    area.get_by_text(re.compile(r"^Select all [\d,]+ matching$")).click()
    wait_for_streamlit(page)
    area.get_by_role("button", name="Enforce…").click()
    heading = area.get_by_role("heading", name=re.compile(r"^Preview: Enforce [\d,]+ users · [\d,]+ skipped$"))
    expect(heading).to_be_in_viewport(timeout=60_000)
    expect(heading).to_be_focused()
    area.get_by_role("button", name="Discard").click()
    expect(heading).to_have_count(0)
    assert_no_exception(page)
