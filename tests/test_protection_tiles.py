"""The overview's protection tiles, chart tables and the Users page's protection filters, on constructed frames.

Every expected number is counted by hand from the rows built here; the tile/filter agreement is checked by
applying each tile's preset as the Users page does (``UserFilters`` from the preset) and counting the rows kept.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from lib.protection import PROTECTED, CoveredBy
from lib.protection_charts import coverage_chart, protection_trend_chart, protection_trend_data
from lib.protection_kpis import COVERAGE_GROUPS, NOT_READ, coverage_group_data, protection_kpis, with_clock
from lib.protection_tiles import TILE_LABELS, protection_tiles, trend_note
from lib.users_filters import NONE, UserFilters, describe_filters, export_frame, filter_mask, prepare_users
from tests.test_rollout_support import user, users

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FEB, JUL = "2027-02-01", "2027-07-01"

# (covered_by, policies, conflict, method_class, deadline, how many)
ROWS = [
    ("ca_all_apps", "Require MFA for all users; Require MFA for admins", "", "mfa", "", 5),
    ("ca_all_apps", "Require MFA for Sales", "per_user_with_ca", "phishing_resistant", "", 2),
    ("blocked", "Block legacy", "", "none", "", 1),
    ("security_defaults", "", "per_user_with_security_defaults", "sms_voice_only", FEB, 3),
    ("per_user_enforced", "", "", "sms_voice_only", JUL, 2),
    ("per_user_enabled_registered", "", "", "phishing_resistant", "", 1),
    ("per_user_enabled_unregistered", "", "", "none", "", 2),
    ("ca_partial", "Require MFA for Sales EU", "", "sms_voice_only", FEB, 4),
    ("ca_report_only", "Require MFA for all users", "", "mfa", "", 1),
    ("ca_excluded", "", "", "passwordless", "", 1),
    ("not_covered", "", "", "none", "", 6),
    ("", "", "", "", "", 3),  # a snapshot from before protection was read
]


def frame(rows: list[tuple] = ROWS) -> pd.DataFrame:
    built, extra, n = [], [], 0
    for covered_by, policies, conflict, method, deadline, count in rows:
        for _ in range(count):
            n += 1
            built.append(user(n))
            extra.append((covered_by or None, policies, conflict, method or None, deadline or None))
    out = users(*built)
    out["covered_by"] = pd.Series([e[0] for e in extra], dtype="string")
    out["covered_by_policies"] = pd.Series([e[1] for e in extra], dtype="string")
    out["protection_conflict"] = pd.Series([e[2] for e in extra], dtype="string")
    out["method_class"] = pd.Series([e[3] for e in extra], dtype="string")
    out["sms_voice_deadline"] = pd.Series([e[4] for e in extra], dtype="string")
    return out


def test_every_covered_by_value_is_in_exactly_one_group_and_protected_groups_come_first() -> None:
    members = [m for g in COVERAGE_GROUPS for m in g.members]
    assert sorted(members) == sorted([str(c) for c in CoveredBy] + [NOT_READ])
    flags = [g.protected for g in COVERAGE_GROUPS]
    assert flags == sorted(flags, reverse=True)
    assert {m for g in COVERAGE_GROUPS if g.protected for m in g.members} == {str(c) for c in PROTECTED}


def test_tile_figures_are_exact() -> None:
    k = protection_kpis(frame(), NOW)
    assert k.users == 31 and k.read == 28
    assert k.protected == 5 + 2 + 1 + 3 + 2 + 1 == 14
    assert k.pct_protected == pytest.approx(100 * 14 / 31)
    assert k.phishing_resistant == 3 and k.pct_phishing_resistant == pytest.approx(100 * 3 / 31)
    assert k.conflicts == 5
    assert k.not_covered == 6 + 1 and k.ca_unavailable == 0  # covered by nothing, or only report-only
    assert k.sms_voice_only == 9
    assert [(d.deadline, d.users, d.days_left) for d in k.deadlines] == [
        (date(2027, 2, 1), 7, 60), (date(2027, 7, 1), 2, 210)]
    assert k.by_group == {"conditional_access": 8, "security_defaults": 3, "per_user_enforced": 2,
                          "per_user_enabled": 1, "per_user_unregistered": 2, "partial": 4, "report_only": 1,
                          "excluded": 1, "ca_unavailable": 0, "unknown": 0, "not_covered": 6, NOT_READ: 3}
    moved = with_clock(k, datetime(2027, 2, 2, tzinfo=UTC))
    assert [d.days_left for d in moved.deadlines] == [-1, 149] and moved.sms_voice_only == 9


def test_coverage_table_leaves_out_empty_groups_and_keeps_the_page_order() -> None:
    data = coverage_group_data(protection_kpis(frame(), NOW))
    assert data["group"].tolist() == ["conditional_access", "security_defaults", "per_user_enforced",
                                      "per_user_enabled", "per_user_unregistered", "partial", "report_only",
                                      "excluded", "not_covered", NOT_READ]
    assert data["users"].sum() == 31
    assert data["percent"].iloc[0] == pytest.approx(100 * 8 / 31)
    assert data["protected"].tolist() == [True] * 4 + [False] * 6
    figure = coverage_chart(data)
    assert [t.name for t in figure.data] == ["Protected on every sign-in", "Not protected on every sign-in",
                                             "Not read"]
    assert sum(sum(t.x) for t in figure.data) == 31
    assert figure.layout.xaxis.range[1] >= 8 * 1.5  # "8 (25.8%)" fits beside the longest bar at 420 px
    assert all(t.cliponaxis is False and t.textposition == "outside" for t in figure.data)


def rows_for(preset, data: pd.DataFrame) -> int:
    """How many rows the Users page shows for ``preset`` (its filters, as ``apply_preset`` sets them)."""
    filters = UserFilters(admin=preset.admin, registered=preset.registered, covered_by=preset.covered_by,
                          conflicts=preset.conflicts, method_classes=preset.method_classes,
                          sms_voice_deadlines=preset.sms_voice_deadlines)
    return int(filter_mask(data, filters).sum())


def test_each_tile_lists_exactly_the_users_it_counts() -> None:
    data = frame()
    tiles = protection_tiles(protection_kpis(data, NOW))
    assert [t.key for t in tiles] == ["protected", "sms_voice", "phishing_resistant", "conflicts", "not_covered"]
    assert {t.key: t.count for t in tiles} == {"protected": 14, "sms_voice": 9, "phishing_resistant": 3,
                                               "conflicts": 5, "not_covered": 7}
    for tile in tiles:
        assert rows_for(tile.preset, data) == tile.count == tile.preset.count, tile.key
    by_key = {t.key: t for t in tiles}
    assert by_key["protected"].value == "45.2%"
    assert by_key["protected"].basis == "14 of 31 users in scope; 3 not read"
    assert by_key["sms_voice"].basis == ("7 users by 1 Feb 2027 (60 days left) · 2 users by 1 Jul 2027 "
                                         "(210 days left), of 31 users in scope")
    assert by_key["not_covered"].link == "Show these 7 users"


def test_a_tenant_without_p1_says_conditional_access_unavailable_never_not_covered() -> None:
    data = frame([("ca_unavailable", "", "", "none", "", 4), ("per_user_enforced", "", "", "mfa", "", 2)])
    tiles = {t.key: t for t in protection_tiles(protection_kpis(data, NOW))}
    assert "not_covered" not in tiles
    assert {t.label for t in tiles.values()} | {t.label for t in protection_tiles(protection_kpis(frame(), NOW))} \
        == TILE_LABELS
    assert tiles["ca_unavailable"].label == "Conditional Access unavailable (no Entra ID P1)"
    assert tiles["ca_unavailable"].count == 4 == rows_for(tiles["ca_unavailable"].preset, data)
    labels = coverage_group_data(protection_kpis(data, NOW))["label"].tolist()
    assert "Not covered by MFA" not in labels and "Conditional Access unavailable (no Entra ID P1)" in labels


def test_a_snapshot_from_before_protection_was_read_has_no_tiles() -> None:
    data = frame([("", "", "", "", "", 4)])
    assert protection_tiles(protection_kpis(data, NOW)) == []
    legacy = users(user(1), user(2))  # no protection columns at all
    k = protection_kpis(legacy, NOW)
    assert (k.users, k.read, k.protected) == (2, 0, 0) and protection_tiles(k) == []


def test_policy_conflict_strength_and_deadline_filters() -> None:
    data = frame()
    assert filter_mask(data, UserFilters(policies=("Require MFA for Sales",))).sum() == 2  # not "Sales EU"
    assert filter_mask(data, UserFilters(policies=("Require MFA for all users",))).sum() == 6
    assert filter_mask(data, UserFilters(conflicts=(NONE,))).sum() == 26
    assert filter_mask(data, UserFilters(sms_voice_deadlines=(FEB,))).sum() == 7
    assert filter_mask(data, UserFilters(sms_voice_deadlines=(JUL,), covered_by=("per_user_enforced",))).sum() == 2
    assert filter_mask(data, UserFilters(method_classes=(NOT_READ,))).sum() == 3
    assert filter_mask(data, UserFilters(covered_by=(NOT_READ,))).sum() == 3
    with pytest.raises(ValueError, match="unknown covered by 'covered'"):
        UserFilters(covered_by=("covered",))
    assert describe_filters(UserFilters(covered_by=("not_covered",), sms_voice_deadlines=(FEB,))) == [
        "protected by: Not covered by MFA", "deadline: SMS/voice only, ends 1 Feb 2027"]


def test_prepared_users_offer_the_policies_present() -> None:
    options = prepare_users(frame()).options
    assert options.protection_read
    assert options.policies == ("Block legacy", "Require MFA for admins", "Require MFA for all users",
                                "Require MFA for Sales", "Require MFA for Sales EU")


def test_the_export_says_protection_in_words() -> None:
    data = frame()
    out = export_frame(data, filter_mask(data, UserFilters(sms_voice_deadlines=(FEB,), covered_by=("ca_partial",))))
    assert len(out) == 4
    row = out.iloc[0]
    assert row["coverage"] == "Conditional Access: some apps or conditions only"
    assert row["protected"] == "no"
    assert row["coverage_policies"] == "Require MFA for Sales EU"
    assert row["method_strength"] == "SMS or voice only" and row["sms_voice_deadline"] == "1 Feb 2027"
    assert row["conflict"] == ""
    unread = export_frame(data, filter_mask(data, UserFilters(covered_by=(NOT_READ,)))).iloc[0]
    assert unread["coverage"].startswith("Not read") and unread["protected"] == "" and unread["method_strength"] == ""


def test_the_trend_replays_versions_and_leaves_days_before_protection_out() -> None:
    days = pd.DataFrame({"day": pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]),
                         "snapshot_id": [10, 20, 30, 40]})
    versions = pd.DataFrame({
        "id": ["a", "b", "c", "a", "b", "c", "d", "b"],
        "snapshot_id": [10, 10, 10, 30, 30, 30, 30, 40],
        "removed": [False, False, False, False, False, False, False, True],
        "covered_by": [None, None, None, "ca_all_apps", "not_covered", "security_defaults", "ca_partial",
                       "not_covered"],
    })
    trend = protection_trend_data(versions, days)
    assert trend["users"].tolist() == [3, 3, 4, 3]
    assert trend["read"].tolist() == [0, 0, 4, 3]
    assert trend["protected"].tolist() == [0, 0, 2, 2]
    assert np.isnan(trend["pct_protected"].iloc[0]) and np.isnan(trend["pct_protected"].iloc[1])
    assert trend["pct_protected"].iloc[2:].tolist() == pytest.approx([50.0, 100 * 2 / 3])
    assert trend_note(trend).endswith("2 earlier days had snapshots taken before the console read protection, so "
                                      "the line starts on 3 Nov 2026.")
    drawn = protection_trend_chart(trend).data[0]
    assert list(drawn.y[:2]) == [None, None] and drawn.connectgaps is False
    nothing = protection_trend_data(versions.assign(covered_by=None), days)
    assert nothing["pct_protected"].isna().all()
    assert "No stored snapshot has read protection yet" in trend_note(nothing)
    assert protection_trend_chart(nothing).layout.annotations[0].text == "No snapshot has read protection yet"


def test_every_protection_filter_value_has_its_own_words() -> None:
    from lib.users_filters import PROTECTION_LABELS

    assert PROTECTION_LABELS["blocked"] == "Blocked by Conditional Access"  # not the policy outcome's words
    coverage = [PROTECTION_LABELS[str(c)] for c in CoveredBy]
    assert len(set(coverage)) == len(coverage)
    assert all("_" not in words for words in PROTECTION_LABELS.values())
