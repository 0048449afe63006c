"""The overview's protection section (AppTest, real demo tenant and store) and its hand-off to the Users page.

Expected numbers come from the store's users frame of the same snapshot through ``lib.scope`` and plain pandas
(never from the page); each tile's link must land on the Users page showing exactly the users the tile counted.
"""

from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest

from lib.protection import PROTECTED
from lib.scope import DEFAULT_SCOPE, apply_scope
from lib.settings import Settings, load_settings
from lib.store import open_store
from lib.ui.context import AUTH_KEY
from lib.users_filters import PROTECTION_LABELS
from tests.test_page_overview import PAGE, current_page, no_errors, settled
from tests.ui_fixtures import ADMIN, READER, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

TILES = ("protected", "sms_voice", "phishing_resistant", "conflicts", "not_covered")


def scoped_users(settings: Settings, at: AppTest):
    with open_store(settings.database_url) as store:
        tenant = at.session_state[AUTH_KEY].admin.tenant_id
        return apply_scope(store.load_users(tenant), DEFAULT_SCOPE)


def expected_counts(frame) -> dict[str, int]:
    covered = frame["covered_by"].astype("string")
    method = frame["method_class"].astype("string")
    return {
        "protected": int(covered.isin([str(c) for c in PROTECTED]).sum()),
        "sms_voice": int((method == "sms_voice_only").sum()),
        "phishing_resistant": int((method == "phishing_resistant").sum()),
        "conflicts": int((frame["protection_conflict"].astype("string").fillna("") != "").sum()),
        "not_covered": int(covered.isin(["not_covered", "ca_report_only"]).sum()),  # report-only never asks
    }


def test_the_not_covered_tile_and_the_close_the_gap_plan_count_the_same_users(overview_app: AppTest,
                                                                              demo_settings: Settings) -> None:
    tile = {m.label: m.value for m in overview_app.metric}["Not covered by MFA"]
    plans = settled(new_app(demo_settings, ADMIN, page="pages/plans.py"))
    no_errors(plans)
    headline = next(m.value for m in plans.markdown if "covered by nothing" in m.value)
    assert headline.startswith(f"**{tile} users are covered by nothing.**"), (tile, headline)


def matching_rows(at: AppTest) -> int:
    heading = next(m.value for m in at.markdown if re.match(r"#### [\d,]+ matching of", m.value))
    return int(heading.removeprefix("#### ").split(" ")[0].replace(",", ""))


@pytest.fixture
def overview_app(demo_settings: Settings) -> AppTest:
    at = settled(new_app(demo_settings, ADMIN, page=PAGE))
    no_errors(at)
    return at


def test_protection_tiles_lead_with_the_stored_figures(overview_app: AppTest, demo_settings: Settings) -> None:
    at = overview_app
    frame = scoped_users(demo_settings, at)
    counts = expected_counts(frame)
    metrics = {m.label: m.value for m in at.metric}
    assert list(metrics)[:5] == ["Effectively protected", "Relying on SMS/voice only", "Phishing-resistant",
                                 "Conflicts to clean up", "Not covered by MFA"]  # before the adoption tiles
    assert metrics["Effectively protected"] == f"{100 * counts['protected'] / len(frame):.1f}%"
    assert metrics["Relying on SMS/voice only"] == f"{counts['sms_voice']:,}"
    assert metrics["Conflicts to clean up"] == f"{counts['conflicts']:,}"
    assert metrics["Not covered by MFA"] == f"{counts['not_covered']:,}"
    captions = [c.value for c in at.caption]
    assert f"{counts['protected']:,} of {len(frame):,} users in scope" in captions
    assert any(c.startswith("A share of all users of each day's snapshot") for c in captions)
    assert counts["protected"] and counts["sms_voice"]  # the demo has both kinds


@pytest.mark.parametrize("tile", TILES)
def test_each_tile_opens_the_users_page_with_exactly_its_users(tile: str, demo_settings: Settings) -> None:
    at = settled(new_app(demo_settings, ADMIN, page=PAGE))
    expected = expected_counts(scoped_users(demo_settings, at))[tile]
    if expected == 0:  # nothing to list: the tile offers no link
        assert f"show_protection_{tile}" not in [b.key for b in at.button]
        return
    at.button(key=f"show_protection_{tile}").click().run()
    if current_page(at) != "users.py":  # the switch happens on this run; the Users page draws on the next
        at.run()
    assert current_page(at) == "users.py"
    no_errors(at)
    assert matching_rows(at) == expected
    banner = [i.value for i in at.info if "(from the Overview)" in i.value]
    assert len(banner) == 1 and "counted" not in banner[0]  # the banner finds the number the tile counted


def test_the_read_only_role_sees_the_tiles_and_can_follow_them(demo_settings: Settings) -> None:
    at = settled(new_app(demo_settings, READER, page=PAGE))
    no_errors(at)
    assert at.session_state[AUTH_KEY].admin.can_change_mfa is False
    expected = expected_counts(scoped_users(demo_settings, at))["sms_voice"]
    at.button(key="show_protection_sms_voice").click().run()
    if current_page(at) != "users.py":
        at.run()
    assert matching_rows(at) == expected


@pytest.fixture
def no_p1_settings(tmp_path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Settings:
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path))
    monkeypatch.setenv("MFA_DEMO_PREMIUM", "false")
    return load_settings({}, os.environ)


def test_a_tenant_without_p1_shows_conditional_access_unavailable(no_p1_settings: Settings) -> None:
    at = settled(new_app(no_p1_settings, ADMIN, page=PAGE))
    no_errors(at)
    frame = scoped_users(no_p1_settings, at)
    unavailable = int((frame["covered_by"].astype("string") == "ca_unavailable").sum())
    assert unavailable > 0 and not (frame["covered_by"].astype("string") == "not_covered").any()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conditional Access unavailable (no Entra ID P1)"] == f"{unavailable:,}"
    assert "Not covered by MFA" not in metrics
    at.button(key="show_protection_ca_unavailable").click().run()
    if current_page(at) != "users.py":
        at.run()
    assert matching_rows(at) == unavailable


def test_the_users_table_shows_protection_in_words(demo_settings: Settings) -> None:
    at = settled(new_app(demo_settings, ADMIN, page=PAGE))
    at.button(key="show_protection_sms_voice").click().run()
    if current_page(at) != "users.py":
        at.run()
    no_errors(at)
    assert at.multiselect(key="users_f_method_classes").value == ["sms_voice_only"]
    frame = scoped_users(demo_settings, at)
    expected = frame[frame["method_class"].astype("string") == "sms_voice_only"]
    shown = at.dataframe[0].value
    assert len(shown) == len(expected) == matching_rows(at)
    assert set(shown["method_strength"]) == {"SMS or voice only"}
    assert set(shown["sms_voice_deadline"]) <= {"1 Feb 2027", "1 Jul 2027"}
    assert "" not in set(shown["sms_voice_deadline"])
    assert not shown["coverage"].str.contains("_").any()  # words, never the stored values
    assert set(shown["coverage"]) <= set(PROTECTION_LABELS.values())
