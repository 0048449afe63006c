"""rollout.plan: who changes from what to what, who is skipped and why, and the warnings. Pure."""

from __future__ import annotations

import pandas as pd
import pytest

from lib.rollout import SKIP_CODES, AppActor, ProtectedAccount, expected_state, plan
from tests.test_rollout_support import READER, Admin, user, users

ADMIN = Admin()


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in r) for r in frame.loc[:, list(columns)].itertuples(index=False)]


def test_enable_changes_and_expected_state_follows_entra() -> None:
    frame = users(user(1), user(2, registered=True), user(3, state="enforced"), user(4, state="enabled"))
    p = plan(frame, "enabled", ["u001", "u002", "u003", "u004"], actor=ADMIN)
    assert rows(p.changes, "user_id", "before", "requested", "expected") == [
        ("u001", "disabled", "enabled", "enabled"),
        ("u002", "disabled", "enabled", "enforced"),  # registered: Entra enforces at once
    ]
    assert rows(p.skipped, "user_id", "code", "reason") == [
        ("u003", "already_stronger", "already Enforced: Enabled would be a step back"),
        ("u004", "already_in_state", "already Enabled"),
    ]
    assert p.kind == "apply" and p.requested_state == "enabled" and p.selected == 4
    assert p.expected_counts() == {"enabled": 1, "enforced": 1}
    assert rows(p.transitions(), "before", "expected", "users") == [("disabled", "enabled", 1),
                                                                    ("disabled", "enforced", 1)]


def test_expected_state_rule() -> None:
    assert expected_state("disabled", "enabled", True) == "enforced"
    assert expected_state("disabled", "enabled", False) == "enabled"
    assert expected_state("enabled", "enforced", False) == "enforced"
    assert expected_state("enforced", "disabled", True) == "disabled"


def test_every_skip_reason_with_its_text() -> None:
    frame = users(
        user(1, upn="Keep.Out@contoso.example"),
        user(2, account_kind="break_glass"),
        user(3, state="unknown"),
        user(4, account_enabled=False),
        user(5, upn="admin@contoso.example"),  # the actor, unregistered
        user(6),
    )
    protected = [ProtectedAccount("keep.out@CONTOSO.example", "CEO's assistant", "security team")]
    p = plan(frame, "enforced", ["u001", "u002", "u003", "u004", "u005", "ghost", "u006"], protected=protected,
             actor=ADMIN)
    assert rows(p.skipped, "user_id", "upn", "code", "reason") == [
        ("u001", "Keep.Out@contoso.example", "protected", "protected account (CEO's assistant; owner security team)"),
        ("u002", "user2@contoso.example", "likely_break_glass",
         "looks like a break-glass (emergency access) account: protect it on the Protected accounts page"),
        ("u003", "user3@contoso.example", "state_unknown", "MFA state unknown: refresh the snapshot (re-read) first"),
        ("u004", "user4@contoso.example", "account_disabled", "account disabled: it cannot sign in to register"),
        ("u005", "admin@contoso.example", "self_lockout",
         "this is you, and you have no registered method: Enforced would lock you out"),
        ("ghost", None, "unknown_user", "not in the tenant's latest snapshot (deleted, or a typo)"),
    ]
    assert p.change_ids == ["u006"]
    assert p.skip_counts() == {"unknown_user": 1, "protected": 1, "likely_break_glass": 1, "state_unknown": 1,
                               "account_disabled": 1, "self_lockout": 1}


def test_registered_admin_may_enforce_themselves_and_disable_is_never_a_lockout() -> None:
    frame = users(user(1, upn="admin@contoso.example", registered=True), user(2, upn="other@contoso.example",
                                                                              state="enforced"))
    assert plan(frame, "enforced", ["u001"], actor=ADMIN).change_ids == ["u001"]
    me_unregistered = users(user(1, upn="admin@contoso.example", state="enforced"))
    assert plan(me_unregistered, "disabled", ["u001"], actor=ADMIN).change_ids == ["u001"]


def test_disabled_account_may_still_be_disabled() -> None:
    frame = users(user(1, account_enabled=False, state="enabled"))
    assert plan(frame, "disabled", ["u001"], actor=ADMIN).change_ids == ["u001"]


def test_break_glass_only_when_asked_for() -> None:
    frame = users(user(1, account_kind="break_glass"))
    assert plan(frame, "enforced", ["u001"], actor=ADMIN, include_break_glass=True).change_ids == ["u001"]


def test_protection_forms_and_expiry() -> None:
    frame = users(user(1), user(2), user(3))
    expired = ProtectedAccount("user2@contoso.example", "old exception", "it", pd.Timestamp("2020-01-01", tz="UTC"))
    p = plan(frame, "enabled", ["u001", "u002", "u003"], protected={"USER1@contoso.example": "service desk"},
             actor=ADMIN)
    assert rows(p.skipped, "user_id", "reason") == [("u001", "protected account (service desk)")]
    p = plan(frame, "enabled", ["u001", "u002", "u003"], protected=[expired, "user3@contoso.example"], actor=ADMIN)
    assert rows(p.skipped, "user_id", "reason") == [("u003", "protected account")]  # the expired one no longer


def test_selection_order_is_kept_and_duplicates_collapse() -> None:
    frame = users(*(user(n) for n in range(1, 6)))
    p = plan(frame, "enforced", ["u004", "u002", "u004", "nobody", "u001"], actor=ADMIN)
    assert p.change_ids == ["u004", "u002", "u001"]
    assert p.selected == 4


def test_per_user_targets() -> None:
    frame = users(user(1), user(2, state="enforced"), user(3, state="enabled"))
    p = plan(frame, targets={"u001": "enforced", "u002": "disabled", "u003": "enabled"}, actor=ADMIN)
    assert p.requested_state is None
    assert rows(p.changes, "user_id", "requested", "expected") == [("u001", "enforced", "enforced"),
                                                                   ("u002", "disabled", "disabled")]
    assert rows(p.skipped, "user_id", "code") == [("u003", "already_in_state")]


def test_warnings_name_counts_and_users() -> None:
    frame = users(
        user(1, is_admin=True, registered=True),
        user(2, account_kind="service"),
        user(3, is_guest=True),
        user(4),
    )
    p = plan(frame, "enforced", ["u001", "u002", "u003", "u004"], actor=ADMIN)
    assert [(w.code, w.count, w.user_ids, w.message) for w in p.warnings] == [
        ("admins", 1, ("u001",),
         "1 administrator is in the set: make sure they have a registered method and a way back in"),
        ("must_register", 3, ("u002", "u003", "u004"),
         "3 users have no registered method: they will be asked to register at their next sign-in"),
        ("app_passwords", 4, ("u001", "u002", "u003", "u004"),
         "4 users will be Enforced: legacy clients (old Office, IMAP/POP, SMTP AUTH) then need app passwords"),
        ("service_accounts", 1, ("u002",),
         "1 service or shared account is in the set: sign-ins that cannot answer MFA will break"),
        ("guests", 1, ("u003",), "1 guest is in the set: they register in your tenant, apart from their home tenant"),
    ]
    disable = plan(users(user(1, state="enforced", is_admin=True)), "disabled", ["u001"], actor=ADMIN)
    assert [w.code for w in disable.warnings] == ["admins"]


def test_undo_plan_restores_and_shows_who_moved_on() -> None:
    # current states as re-read: u1 still as left, u2 registered since (Enforced), u3 already back
    frame = users(user(1, state="enabled"), user(2, state="enforced", registered=True), user(3, state="disabled"),
                  user(4, state="enforced", registered=True))
    p = plan(frame, targets={"u001": "disabled", "u002": "disabled", "u003": "disabled", "u004": "enabled"},
             left_states={"u001": "enabled", "u002": "enabled", "u003": "enabled", "u004": "enforced"},
             kind="undo", undo_of=7, actor=ADMIN)
    assert p.kind == "undo" and p.undo_of == 7
    assert rows(p.changes, "user_id", "before", "requested", "expected") == [("u001", "enabled", "disabled",
                                                                              "disabled")]
    assert rows(p.skipped, "user_id", "code", "reason") == [
        ("u002", "moved_on", "moved on since the operation: it left Enabled, now Enforced; not reverted"),
        ("u003", "already_in_state", "already Disabled"),
        ("u004", "cannot_restore_enabled", SKIP_CODES["cannot_restore_enabled"]),
    ]


def test_read_only_actor_may_preview_but_the_plan_says_so() -> None:
    p = plan(users(user(1)), "enforced", ["u001"], actor=READER)
    assert p.change_ids == ["u001"] and p.actor_can_apply is False and p.actor_kind == "user"
    app = plan(users(user(1)), "enforced", ["u001"], actor=AppActor("console", frozenset()))
    assert app.actor_kind == "app" and app.actor == "console" and app.actor_can_apply is False


def test_dry_run_csv_bytes() -> None:
    frame = users(user(1), user(2, display_name="=HYPERLINK(\"http://x\")", state="enforced"))
    p = plan(frame, "enforced", ["u001", "u002"], actor=ADMIN)
    assert p.to_csv() == (
        '\ufeff"action","user_id","upn","display_name","before","requested","expected","code","reason","warning"\r\n'
        '"change","u001","user1@contoso.example","User 1","disabled","enforced","enforced","","",""\r\n'
        '"skip","u002","user2@contoso.example","\'=HYPERLINK(""http://x"")","enforced","enforced","",'
        '"already_in_state","already Enforced",""\r\n'
    ).encode("utf-8")


def test_summary_is_json_ready() -> None:
    p = plan(users(user(1), user(2, state="enabled")), "enabled", ["u001", "u002"], actor=ADMIN)
    assert p.summary() == {
        "kind": "apply", "requested_state": "enabled", "source": "selection", "actor": "admin@contoso.example",
        "selected": 2, "changes": 1, "skipped": 1, "expected": {"enabled": 1},
        "skipped_by_reason": {"already_in_state": 1},
        "warnings": [{"code": "must_register", "count": 1,
                      "message": "1 user has no registered method: they will be asked to register at their next "
                                 "sign-in"}],
        "undo_of": None,
    }
    assert (p.needs_typed_confirmation(50), p.needs_typed_confirmation(1), p.needs_typed_confirmation(0)) == (
        False, False, True)


def test_skip_users_moves_changes_to_skips() -> None:
    p = plan(users(user(1), user(2)), "enforced", ["u001", "u002"], actor=ADMIN)
    moved = p.skip_users({"u002": ("protected", "protected account")})
    assert moved.change_ids == ["u001"]
    assert rows(moved.skipped, "user_id", "code") == [("u002", "protected")]
    assert p.change_ids == ["u001", "u002"]  # the original is untouched


def test_empty_selection_is_an_empty_plan() -> None:
    p = plan(users(user(1)), "enforced", [], actor=ADMIN)
    assert p.changes.empty and p.skipped.empty and p.warnings == ()
    assert list(p.changes.columns) == ["user_id", "upn", "display_name", "before", "requested", "expected",
                                       "registered", "is_admin"]


def test_bad_arguments_fail_early() -> None:
    frame = users(user(1))
    with pytest.raises(ValueError, match="requested state must be one of disabled, enabled, enforced, got 'on'"):
        plan(frame, "on", ["u001"], actor=ADMIN)
    with pytest.raises(ValueError, match="kind must be one of apply, undo"):
        plan(frame, "enabled", ["u001"], actor=ADMIN, kind="redo")
    with pytest.raises(ValueError, match="an undo plan needs targets"):
        plan(frame, "enabled", ["u001"], actor=ADMIN, kind="undo")
    with pytest.raises(TypeError, match="not a single string"):
        plan(frame, "enabled", "u001", actor=ADMIN)
    with pytest.raises(ValueError, match="actor is required"):
        plan(frame, "enabled", ["u001"], actor=None)
    with pytest.raises(ValueError, match="either requested_state with selection_ids, or targets"):
        plan(frame, "enabled", ["u001"], targets={"u001": "enabled"}, actor=ADMIN)


def test_plan_over_100k_users_stays_fast_enough_to_preview() -> None:
    big = users(*(user(n, registered=n % 3 == 0, state=("disabled", "enabled", "enforced")[n % 3])
                  for n in range(1, 2001)))
    frame = pd.concat([big.assign(id=big["id"] + f"-{k}") for k in range(50)], ignore_index=True)
    p = plan(frame, "enforced", frame["id"].tolist(), actor=ADMIN)
    assert len(p.changes) == 66_650 and len(p.skipped) == 33_350
