"""Enforce previews warn per user about legacy clients, and the dry-run CSV and summary carry it. Pure."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from lib.rollout import NOTE_COLUMNS, LegacyUse, plan
from lib.signins.readiness import LEGACY_EFFECT, legacy_warning
from tests.test_rollout_support import Admin, user, users

ADMIN = Admin()
IMAP_AT = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
POP_AT = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def use(client: str, at: datetime) -> LegacyUse:
    return LegacyUse(client, at, legacy_warning(client, at), LEGACY_EFFECT)


FACTS = {"u001": [use("POP3", POP_AT), use("IMAP4", IMAP_AT)], "u003": [use("IMAP4", IMAP_AT)],
         "u004": [use("Authenticated SMTP", POP_AT)]}


def test_each_user_left_enforced_who_used_a_legacy_client_is_named_with_client_and_date() -> None:
    frame = users(user(1), user(2), user(3, state="enforced"), user(4, registered=True))
    p = plan(frame, "enforced", ["u001", "u002", "u003", "u004"], actor=ADMIN).with_legacy_use(FACTS)
    assert list(p.notes.columns) == list(NOTE_COLUMNS)
    assert [tuple(r) for r in p.notes[["user_id", "client", "note"]].itertuples(index=False)] == [
        ("u001", "IMAP4", "signed in with IMAP4 on 28 Nov: Enforced breaks this client unless an app password is "
                          "set up"),  # newest first
        ("u001", "POP3", "signed in with POP3 on 20 Nov: Enforced breaks this client unless an app password is "
                         "set up"),
        ("u004", "Authenticated SMTP", "signed in with Authenticated SMTP on 20 Nov: Enforced breaks this client "
                                       "unless an app password is set up"),
    ]  # u003 is already Enforced: skipped, so not warned about
    assert p.notes["last_used"].tolist() == [pd.Timestamp(IMAP_AT), pd.Timestamp(POP_AT), pd.Timestamp(POP_AT)]
    assert set(p.notes["effect"]) == {LEGACY_EFFECT}
    (warning,) = [w for w in p.warnings if w.code == "legacy_clients"]
    assert (warning.count, warning.user_ids) == (2, ("u001", "u004"))
    assert warning.message == ("2 users signed in with a legacy client in the last 30 days: Enforced breaks those "
                               "clients unless an app password is set up (see each user below)")


def test_an_enable_warns_only_about_users_entra_makes_enforced() -> None:
    frame = users(user(1), user(4, registered=True))
    p = plan(frame, "enabled", ["u001", "u004"], actor=ADMIN).with_legacy_use(FACTS)
    assert p.notes["user_id"].tolist() == ["u004"]  # u001 stays Enabled until they register
    assert [w.count for w in p.warnings if w.code == "legacy_clients"] == [1]
    disabling = plan(users(user(1, state="enforced")), "disabled", ["u001"], actor=ADMIN)
    assert disabling.with_legacy_use(FACTS) is disabling


def test_no_evidence_says_the_log_could_not_be_checked() -> None:
    p = plan(users(user(1), user(2)), "enforced", ["u001", "u002"], actor=ADMIN).with_legacy_use(
        None, unchecked="Sign-in evidence needs Entra ID P1.")
    (warning,) = [w for w in p.warnings if w.code == "legacy_unchecked"]
    assert (warning.count, warning.message) == (
        2, "The sign-in log could not be checked for legacy clients: Sign-in evidence needs Entra ID P1.")
    assert p.notes.empty and "user_warnings" not in p.summary()
    clean = plan(users(user(2)), "enforced", ["u002"], actor=ADMIN).with_legacy_use(FACTS)
    assert clean.notes.empty and [w.code for w in clean.warnings if w.code.startswith("legacy")] == []


def test_the_dry_run_csv_and_the_summary_carry_the_warnings() -> None:
    p = plan(users(user(1), user(2)), "enforced", ["u001", "u002"], actor=ADMIN).with_legacy_use(FACTS)
    lines = p.to_csv().decode("utf-8-sig").splitlines()
    assert lines[0] == '"action","user_id","upn","display_name","before","requested","expected","code","reason",' \
                       '"warning"'
    assert lines[1] == ('"change","u001","user1@contoso.example","User 1","disabled","enforced","enforced","","",'
                        '"signed in with IMAP4 on 28 Nov: Enforced breaks this client unless an app password is set '
                        'up; signed in with POP3 on 20 Nov: Enforced breaks this client unless an app password is '
                        'set up"')
    assert lines[2] == '"change","u002","user2@contoso.example","User 2","disabled","enforced","enforced","","",""'
    assert p.summary()["user_warnings"] == [
        {"user_id": "u001", "upn": "user1@contoso.example", "client": "IMAP4", "last_used": "2026-11-28T09:30:00Z",
         "warning": legacy_warning("IMAP4", IMAP_AT)},
        {"user_id": "u001", "upn": "user1@contoso.example", "client": "POP3", "last_used": "2026-11-20T08:00:00Z",
         "warning": legacy_warning("POP3", POP_AT)},
    ]


def test_users_turned_into_skips_lose_their_notes() -> None:
    p = plan(users(user(1), user(4)), "enforced", ["u001", "u004"], actor=ADMIN).with_legacy_use(FACTS)
    held = p.skip_users({"u001": ("not_ready", "not ready to enforce: signed in with one factor on 1 Dec")})
    assert held.notes["user_id"].tolist() == ["u004"] and held.change_ids == ["u004"]
    assert held.skipped[["user_id", "code"]].values.tolist() == [["u001", "not_ready"]]
