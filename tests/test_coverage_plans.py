"""The two protection plans' selections on constructed frames: exactly whom they change, whom they list, why."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from lib.rollout import SKIP_CODES, plan
from lib.rollout.coverage_plans import (
    CLOSE_GAP,
    MOVE_OFF,
    CoverageUnknown,
    close_gap_selection,
    move_off_selection,
    with_coverage_skips,
)
from tests.test_rollout_support import Admin, user, users

SALES = "Require MFA for Sales"
ALL = "Require MFA for all users"


def frame(*rows: tuple[int, dict[str, Any], str, str]) -> pd.DataFrame:
    """Users with the snapshot's coverage columns: (n, overrides, covered_by, covered_by_policies)."""
    base = users(*(user(n, **over) for n, over, _c, _p in rows))
    return base.assign(covered_by=pd.array([c for *_r, c, _p in rows], dtype="string"),
                       covered_by_policies=pd.array([p for *_r, p in rows], dtype="string"))


ENFORCED = {"state": "enforced", "registered": True}
ENABLED_REG = {"state": "enabled", "registered": True}


def move_off_world() -> pd.DataFrame:
    return frame(
        (1, ENFORCED, "ca_all_apps", SALES),                         # moves off: named policy
        (2, ENABLED_REG, "security_defaults", ""),                    # moves off: security defaults
        (3, {"state": "enabled", "registered": False}, "ca_all_apps", SALES),  # not registered yet
        (4, ENFORCED, "ca_partial", "Require MFA for Exchange"),     # partial
        (5, ENFORCED, "per_user_enforced", ""),                      # per-user is their only MFA
        (6, {"state": "disabled", "registered": True}, "ca_all_apps", SALES),  # already Disabled: not considered
        (7, ENFORCED, "blocked", "Block legacy"),                     # blocked
        (8, ENFORCED, "ca_not_readable", ""),                         # unknown
        (9, {"state": "disabled"}, "not_covered", ""),               # not considered
        (10, ENFORCED, "ca_all_apps", f"{SALES}; Require MFA for admins"),
    )


def test_move_off_selects_exactly_the_cleanly_covered_registered_users() -> None:
    sel = move_off_selection(move_off_world())
    assert sel.source == MOVE_OFF
    assert sel.target_ids == ("u001", "u002", "u010")
    assert {uid: code for uid, (code, _r) in sel.skips.items()} == {
        "u003": "not_registered_yet", "u004": "coverage_partial", "u005": "coverage_per_user_only",
        "u007": "coverage_blocked", "u008": "coverage_unknown"}
    assert "Require MFA for Exchange" in sel.skips["u004"][1]
    assert sel.considered == 8  # the Disabled users are not part of it


def test_move_off_names_the_policy_covering_each_user() -> None:
    sel = move_off_selection(move_off_world())
    cover = sel.coverage_of(sel.target_ids).set_index("user_id")["coverage"].to_dict()
    assert cover == {"u001": f"Conditional Access: all cloud apps ({SALES})",
                     "u002": "Security defaults",
                     "u010": f"Conditional Access: all cloud apps ({SALES}; Require MFA for admins)"}


def test_move_off_lists_report_only_and_excluded_with_the_reason() -> None:
    world = frame((1, ENFORCED, "ca_report_only", ALL), (2, ENABLED_REG, "ca_excluded", SALES))
    sel = move_off_selection(world)
    assert sel.target_ids == ()
    assert sel.skips["u001"][0] == "coverage_report_only" and ALL in sel.skips["u001"][1]
    assert sel.skips["u002"][0] == "coverage_excluded" and SALES in sel.skips["u002"][1]


def test_move_off_scope_is_the_selection_when_given() -> None:
    sel = move_off_selection(move_off_world(), ["u002", "u004", "u009"])
    assert sel.target_ids == ("u002",)
    assert set(sel.skips) == {"u004"}


def test_the_plan_disables_the_targets_and_lists_every_skip() -> None:
    world = move_off_world()
    sel = move_off_selection(world)
    preview = with_coverage_skips(plan(world, "disabled", sel.target_ids, actor=Admin(), source=sel.source),
                                  world, sel)
    assert preview.change_ids == ["u001", "u002", "u010"]
    assert set(preview.changes["expected"]) == {"disabled"}
    assert preview.skip_counts() == {"not_registered_yet": 1, "coverage_partial": 1, "coverage_blocked": 1,
                                     "coverage_per_user_only": 1, "coverage_unknown": 1}
    assert preview.source == MOVE_OFF and preview.selected == 8
    assert all(code in SKIP_CODES for code in preview.skipped["code"])


def test_protected_accounts_stay_out_of_the_move_off_plan() -> None:
    world = move_off_world()
    sel = move_off_selection(world)
    preview = with_coverage_skips(plan(world, "disabled", sel.target_ids, actor=Admin(),
                                       protected=["user1@contoso.example"]), world, sel)
    assert preview.change_ids == ["u002", "u010"]
    assert preview.skipped.set_index("user_id").loc["u001", "code"] == "protected"


def gap_world() -> pd.DataFrame:
    return frame(
        (1, {}, "not_covered", ""),
        (2, {"account_enabled": False}, "not_covered", ""),
        (3, {}, "ca_report_only", ALL),
        (4, {}, "ca_excluded", SALES),
        (5, ENFORCED, "per_user_enforced", ""),
        (6, {}, "ca_all_apps", SALES),
        (7, {}, "ca_unavailable", ""),
        (8, {"state": "enabled"}, "per_user_enabled_unregistered", ""),
    )


def test_close_gap_recommends_conditional_access_where_the_tenant_has_it() -> None:
    sel = close_gap_selection(gap_world(), ca_available=True)
    assert sel.source == CLOSE_GAP and sel.route == "conditional_access"
    assert "Conditional Access" in sel.recommendation and "stopgap" in sel.recommendation
    assert sel.target_ids == ("u001", "u002", "u003", "u007")  # report-only never asks for MFA
    assert f"report-only policies ({ALL})" in sel.recommendation
    assert {uid: code for uid, (code, _r) in sel.skips.items()} == {"u004": "coverage_excluded"}
    assert SALES in sel.skips["u004"][1]
    cover = sel.coverage_of(["u003"]).iloc[0]
    assert (cover["coverage"], cover["policies"]) == (
        "Conditional Access in report-only mode only (not enforced)", ALL)


def test_close_gap_without_p1_offers_per_user() -> None:
    sel = close_gap_selection(gap_world(), ca_available=False)
    assert sel.route == "per_user" and "no Entra ID P1" in sel.recommendation
    world = gap_world()
    preview = with_coverage_skips(plan(world, "enforced", sel.target_ids, actor=Admin(), source=sel.source),
                                  world, sel)
    assert "report-only" not in sel.recommendation
    assert preview.change_ids == ["u001", "u003", "u007"]
    assert preview.skip_counts() == {"account_disabled": 1, "coverage_excluded": 1}


def test_close_gap_explains_covered_users_it_was_handed() -> None:
    sel = close_gap_selection(gap_world(), ["u001", "u005", "u006", "u008"], ca_available=True)
    assert sel.target_ids == ("u001",)
    assert {uid: code for uid, (code, _r) in sel.skips.items()} == {
        "u005": "already_covered", "u006": "already_covered", "u008": "already_covered"}
    assert "Per-user MFA: Enforced" in sel.skips["u005"][1]
    assert "register at their next sign-in" in sel.skips["u008"][1]


def test_a_frame_without_coverage_says_to_take_a_snapshot() -> None:
    with pytest.raises(CoverageUnknown, match="take a snapshot"):
        move_off_selection(users(user(1)))
