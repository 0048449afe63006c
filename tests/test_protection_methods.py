"""Method classes (the table in docs/graph.md), SMS/voice deadlines, the tenant summary and the labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

import pytest

from lib.protection import (
    LABELS,
    LATER_DEADLINE,
    SMS_VOICE_DEADLINE,
    CaAvailability,
    Conflict,
    CoveredBy,
    MethodClass,
    PolicyOutcome,
    ProtectionInputError,
    TenantConflict,
    days_left,
    label,
    method_strength,
    resolve_membership,
    sms_voice_deadline,
    summarize,
)
from tests.protection_support import ALICE, BOB, GUEST, ca_policy, guest, member, run

GA = "62e90394-69f5-4237-9190-012177145e10"

TABLE = [
    (("fido2",), MethodClass.PHISHING_RESISTANT),
    (("fido2SecurityKey",), MethodClass.PHISHING_RESISTANT),
    (("passKeyDeviceBound",), MethodClass.PHISHING_RESISTANT),
    (("passKeyDeviceBoundAuthenticator",), MethodClass.PHISHING_RESISTANT),
    (("passKeyDeviceBoundWindowsHello",), MethodClass.PHISHING_RESISTANT),
    (("passKeySynced",), MethodClass.PHISHING_RESISTANT),
    (("windowsHelloForBusiness",), MethodClass.PHISHING_RESISTANT),
    (("macOsSecureEnclaveKey",), MethodClass.PHISHING_RESISTANT),
    (("microsoftAuthenticatorPasswordless",), MethodClass.PASSWORDLESS),
    (("microsoftAuthenticatorPush",), MethodClass.MFA),
    (("softwareOneTimePasscode",), MethodClass.MFA),
    (("hardwareOneTimePasscode",), MethodClass.MFA),
    (("mobilePhone",), MethodClass.SMS_VOICE_ONLY),
    (("alternateMobilePhone",), MethodClass.SMS_VOICE_ONLY),
    (("officePhone",), MethodClass.SMS_VOICE_ONLY),
    (("email",), MethodClass.NONE),
    (("securityQuestion",), MethodClass.NONE),
    (("appPassword",), MethodClass.NONE),
    ((), MethodClass.NONE),
    (("mobilePhone", "email", "securityQuestion"), MethodClass.SMS_VOICE_ONLY),
    (("mobilePhone", "microsoftAuthenticatorPush"), MethodClass.MFA),
    (("microsoftAuthenticatorPush", "windowsHelloForBusiness", "mobilePhone"), MethodClass.PHISHING_RESISTANT),
    (("microsoftAuthenticatorPasswordless", "softwareOneTimePasscode"), MethodClass.PASSWORDLESS),
    (("MOBILEPHONE", "Fido2"), MethodClass.PHISHING_RESISTANT),
]


@pytest.mark.parametrize(("methods", "expected"), TABLE, ids=[",".join(m) or "nothing" for m, _ in TABLE])
def test_the_method_class_table(methods: tuple[str, ...], expected: MethodClass) -> None:
    strength = method_strength(methods)
    assert (strength.method_class, strength.unknown_methods, strength.temporary_access_pass) == (expected, (), False)


def test_a_temporary_access_pass_never_sets_the_lasting_class() -> None:
    assert method_strength(["temporaryAccessPass"]).method_class is MethodClass.NONE
    with_sms = method_strength(["temporaryAccessPass", "mobilePhone"])
    assert (with_sms.method_class, with_sms.temporary_access_pass) == (MethodClass.SMS_VOICE_ONLY, True)


def test_unknown_names_are_not_counted_and_are_named() -> None:
    strength = method_strength(["quantumToken", "mobilePhone", "email"])
    assert (strength.method_class, strength.unknown_methods) == (MethodClass.SMS_VOICE_ONLY, ("quantumToken",))


@pytest.mark.parametrize(("is_global_admin", "is_external", "deadline"), [
    (False, False, date(2027, 2, 1)), (True, False, date(2027, 7, 1)), (False, True, date(2027, 7, 1)),
    (True, True, date(2027, 7, 1))])
def test_the_sms_voice_deadline(is_global_admin: bool, is_external: bool, deadline: date) -> None:
    assert sms_voice_deadline(is_global_admin=is_global_admin, is_external=is_external) == deadline


def test_days_left_counts_whole_utc_days() -> None:
    assert days_left(SMS_VOICE_DEADLINE, datetime(2026, 12, 3, 17, 0, tzinfo=UTC)) == 60
    # 23:30 in UTC-5 on 31 Jan is already 1 Feb in UTC: the day itself.
    assert days_left(SMS_VOICE_DEADLINE, datetime(2027, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))) == 0
    assert days_left(LATER_DEADLINE, date(2027, 7, 11)) == -10
    with pytest.raises(ProtectionInputError, match="no time zone"):
        days_left(SMS_VOICE_DEADLINE, datetime(2026, 12, 3, 17, 0))


def test_each_user_gets_the_deadline_that_applies() -> None:
    users = [member(ALICE, methods_registered=("mobilePhone",)),
             member(BOB, methods_registered=("mobilePhone",)),
             guest(GUEST, methods_registered=("mobilePhone",)),
             member("flagged", is_global_admin=True)]
    result = run(users, [], membership=resolve_membership({}, {GA: [BOB]}))
    assert [u.sms_voice_deadline for u in result.users] == [SMS_VOICE_DEADLINE, LATER_DEADLINE, LATER_DEADLINE,
                                                            LATER_DEADLINE]
    assert [u.sms_voice_only for u in result.users] == [True, True, True, False]


def test_the_tenant_summary_counts_every_category() -> None:
    users = [
        member("u1", per_user_state="enforced", methods_registered=("mobilePhone",), is_mfa_registered=True),
        member("u2", methods_registered=("fido2",), is_mfa_registered=True, is_admin=True),
        member("u3", methods_registered=("email",)),
        guest("g1", methods_registered=("officePhone",), is_mfa_registered=True),
        member("x1", per_user_state="enabled", is_admin=True),
    ]
    policies = [ca_policy(users={"includeUsers": ["u1", "u2", "x1"], "excludeUsers": ["x1"]})]
    evaluation = run(users, policies)
    summary = summarize(evaluation, datetime(2026, 12, 3, 17, 0, tzinfo=UTC))
    assert summary.users == 5 and summary.protected == 2
    assert summary.by_covered_by == {**dict.fromkeys(CoveredBy, 0), CoveredBy.CA_ALL_APPS: 2,
                                     CoveredBy.NOT_COVERED: 2, CoveredBy.PER_USER_ENABLED_UNREGISTERED: 1}
    assert summary.by_method_class == {**dict.fromkeys(MethodClass, 0), MethodClass.SMS_VOICE_ONLY: 2,
                                       MethodClass.PHISHING_RESISTANT: 1, MethodClass.NONE: 2}
    assert summary.conflicts == {Conflict.PER_USER_WITH_CA: 1, Conflict.PER_USER_WITH_SECURITY_DEFAULTS: 0}
    assert summary.users_with_conflicts == 1
    assert [(d.deadline, d.users, d.days_left) for d in summary.sms_voice_only] == [
        (SMS_VOICE_DEADLINE, 1, 60), (LATER_DEADLINE, 1, 210)]
    assert summary.admins_not_protected == 1
    assert (summary.protected_share, summary.phishing_resistant_share) == (40.0, 20.0)
    as_json = summary.as_json()
    assert as_json["covered_by"]["ca_all_apps"] == 2 and as_json["method_class"]["sms_voice_only"] == 2
    assert as_json["sms_voice_only"][0] == {"deadline": "2027-02-01", "users": 1, "days_left": 60}


def test_an_empty_tenant_summarises_to_zeros() -> None:
    summary = summarize(run([], [], ca_availability=CaAvailability.NO_P1), date(2026, 12, 3))
    assert (summary.users, summary.protected_share, summary.phishing_resistant_share) == (0, 0.0, 0.0)
    assert set(summary.by_covered_by.values()) == {0}


CATEGORIES: list[type[StrEnum]] = [CoveredBy, MethodClass, Conflict, PolicyOutcome, TenantConflict, CaAvailability]


@pytest.mark.parametrize("value", [v for enum in CATEGORIES for v in enum], ids=str)
def test_every_category_has_words_a_person_uses(value: StrEnum) -> None:
    words = label(value)
    assert words.strip() and words != value.value and "_" not in words and words[0].isupper()


def test_the_label_table_has_no_stray_rows_and_no_label_twice_in_one_category() -> None:
    assert set(LABELS) == {v for enum in CATEGORIES for v in enum}
    for enum in CATEGORIES:
        words = [LABELS[v] for v in enum]
        assert len(set(words)) == len(words)


def test_no_p1_reads_as_unavailable() -> None:
    assert label(CoveredBy.CA_UNAVAILABLE) == "Conditional Access unavailable (no Entra ID P1)"
