"""Graph rows → the users frame, on Microsoft's documented example bodies."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from lib.columns import USER_COLUMNS
from lib.directory.rows import (
    Registration,
    UserRecord,
    build_users_frame,
    infer_account_kind,
    method_name,
    registration_from_methods,
    registration_from_report,
)
from tests.fixtures import graph_example

T = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


def test_report_rows_from_the_documented_example() -> None:
    rows = graph_example("v1.0-userregistrationdetails-list.json")["value"]
    regs = [registration_from_report(r) for r in rows]
    assert regs[0] == Registration(("microsoftAuthenticatorPush", "softwareOneTimePasscode"), True, True, "push", False)
    assert regs[1] == Registration((), False, False, "", False)  # the guest with "" as preferred method
    assert regs[2].methods == ("mobilePhone", "microsoftAuthenticatorPush", "softwareOneTimePasscode")
    assert regs[2].preferred_method == "voiceMobile"


def test_method_names_from_the_documented_methods_lists() -> None:
    v1 = graph_example("v1.0-authentication-methods-list.json")["value"]
    assert [method_name(i) for i in v1] == ["fido2", "windowsHelloForBusiness"]
    # the beta example spells "odata.type" (no @) and authenticationPhoneType
    beta = graph_example("beta-authentication-methods-list.json")["value"]
    assert [method_name(i) for i in beta] == [None, "mobilePhone", "alternateMobilePhone"]


def test_registration_from_methods_counts_only_second_factors() -> None:
    password = {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod"}
    email = {"@odata.type": "#microsoft.graph.emailAuthenticationMethod"}
    office = {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "phoneType": "office"}
    assert registration_from_methods([password], True) == Registration((), False, False)
    assert registration_from_methods([password, email], True) == Registration(("email",), False, False)
    assert registration_from_methods([office, email], True) == Registration(("email", "officePhone"), True, True)
    assert registration_from_methods([office], False) == Registration(("officePhone",), True, False)


@pytest.mark.parametrize(
    ("user", "kind"),
    [
        ({"userPrincipalName": "breakglass01@contoso.onmicrosoft.com", "displayName": "Break Glass 1"}, "break_glass"),
        ({"userPrincipalName": "ea02@contoso.com", "displayName": "Emergency Access Account 2"}, "break_glass"),
        ({"userPrincipalName": "svc-backup@contoso.com", "displayName": "Backup", "assignedLicenses": []}, "service"),
        ({"userPrincipalName": "reception@contoso.com", "displayName": "Reception (shared)",
          "mail": "reception@contoso.com", "accountEnabled": False}, "shared"),
        ({"userPrincipalName": "scanner@contoso.com", "displayName": "Scanner", "accountEnabled": True}, "service"),
        ({"userPrincipalName": "alex@contoso.com", "displayName": "Alex Wilber", "givenName": "Alex",
          "assignedLicenses": [{"skuId": "x"}]}, "person"),
        ({"userPrincipalName": "svc_x#EXT#@contoso.onmicrosoft.com", "userType": "Guest"}, "person"),
    ],
)
def test_account_kind(user: dict, kind: str) -> None:
    assert infer_account_kind(UserRecord.from_graph({"id": "x", **user})) == kind


def test_frame_has_the_schema_and_exact_values() -> None:
    users = [
        {"id": "u1", "userPrincipalName": "a@x.com", "displayName": "A", "userType": "Member", "accountEnabled": True,
         "department": "IT", "usageLocation": "SE", "createdDateTime": "2024-01-02T03:04:05Z",
         "assignedLicenses": [{"skuId": "s"}], "givenName": "A",
         "signInActivity": {"lastSignInDateTime": "2026-11-20T08:00:00Z"}},
        {"id": "u2", "userPrincipalName": "g#EXT#@x.com", "displayName": "G", "userType": "Guest",
         "accountEnabled": False, "country": "Norway", "createdDateTime": "2025-01-01T00:00:00Z"},
    ]
    regs = {"u1": Registration(("mobilePhone", "fido2"), True, True, "sms", True)}
    records = [UserRecord.from_graph(u) for u in users]
    frame = build_users_frame(records, regs, {"u1": "enforced", "u2": "unknownFutureValue"}, None,
                              users_read_at=T, registration_read_at=T, state_read_at=T)
    assert list(frame.columns) == list(USER_COLUMNS)
    assert [str(frame[c].dtype) for c in frame.columns] == list(USER_COLUMNS.values())
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["state"], first["registered"], first["methods"], first["method_count"]) == (
        "enforced", True, "fido2,mobilePhone", 2)
    assert first["is_admin"] and first["country"] == "Sweden"  # usageLocation "SE", named as people name it
    assert first["last_sign_in"] == pd.Timestamp("2026-11-20T08:00:00Z")
    assert (second["state"], second["registered"], second["is_guest"], second["country"]) == (
        "unknown", False, True, "Norway")
    assert pd.isna(second["last_sign_in"])
    only_u2_admin = build_users_frame(records, regs, {}, {"u2"}, users_read_at=T, registration_read_at=T,
                                      state_read_at=T)
    assert only_u2_admin["is_admin"].tolist() == [False, True]
    assert only_u2_admin["state"].tolist() == ["unknown", "unknown"]


def test_no_users_gives_a_typed_empty_frame() -> None:
    frame = build_users_frame([], {}, {}, None, users_read_at=T, registration_read_at=T, state_read_at=T)
    assert frame.empty and list(frame.columns) == list(USER_COLUMNS)
