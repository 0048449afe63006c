"""lib.users_filters: every filter on a constructed users frame, with exact counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.columns import coerce_users
from lib.users_filters import (
    EXPORT_COLUMNS,
    NONE,
    PROTECTION_EXPORT_COLUMNS,
    UserFilters,
    address_keys,
    bool_mask,
    describe_filters,
    export_frame,
    filter_mask,
    filter_options,
    known_addresses,
    methods_mask,
    parse_upn_list,
    prepare_users,
    search_index,
    sign_in_mask,
    state_mask,
    text_mask,
    unmatched_upns,
    upn_list_mask,
    values_mask,
)

NOW = pd.Timestamp("2026-03-01T12:00:00Z")

# name, upn, mail, department, country, guest, enabled, admin, kind, state, registered, capable, methods, days ago
ROWS = [
    ("Anna Berg", "anna.berg@contoso.com", "anna.berg@contoso.com", "Sales", "Sweden", False, True, False, "person",
     "disabled", False, False, "", 1),
    ("Björn Åberg", "bjorn.aberg@contoso.com", "bjorn@contoso.com", "Sales", "Sweden", False, True, True, "person",
     "enabled", True, True, "microsoftAuthenticatorPush,mobilePhone", 3),
    ("Carla Diaz", "carla.diaz@contoso.com", "carla.diaz@contoso.com", "Engineering", "Spain", False, True, False,
     "person", "enforced", True, True, "fido2", 20),
    ("Dev Patel", "dev.patel@contoso.com", None, "Engineering", None, False, False, False, "person", "disabled",
     True, False, "mobilePhone", 45),
    ("Eve Guest (Guest)", "eve_partner.com#EXT#@contoso.onmicrosoft.com", "eve@partner.com", None, None, True, True,
     False, "person", "enabled", False, False, "", None),
    ("Backup Service", "svc-backup@contoso.com", None, "IT", "Sweden", False, True, False, "service", "disabled",
     False, False, "", 200),
    ("Break Glass 1", "breakglass01@contoso.onmicrosoft.com", None, None, None, False, True, True, "break_glass",
     "unknown", False, False, "", None),
    ("=HYPERLINK(\"x\")", "formula@contoso.com", None, "Sales", "Norway", False, True, False, "shared", "enforced",
     True, True, "email,mobilePhone", 95),
]


def frame() -> pd.DataFrame:
    columns = ["display_name", "upn", "mail", "department", "country", "is_guest", "account_enabled", "is_admin",
               "account_kind", "state", "registered", "capable", "methods", "days"]
    raw = pd.DataFrame(ROWS, columns=columns)
    raw["id"] = [f"id-{i}" for i in range(len(raw))]
    raw["job_title"] = None
    raw["method_count"] = [len([m for m in ms.split(",") if m]) for ms in raw["methods"]]
    raw["preferred_method"] = None
    raw["created"] = pd.Timestamp("2020-01-01", tz="UTC")
    raw["last_sign_in"] = [pd.NaT if pd.isna(d) else NOW - pd.Timedelta(days=d) for d in raw["days"]]
    for name in ("users_read_at", "registration_read_at", "state_read_at"):
        raw[name] = NOW
    return coerce_users(raw)


def names(users: pd.DataFrame, mask: np.ndarray) -> list[str]:
    return users.loc[mask, "display_name"].tolist()


# --- single filters -------------------------------------------------------------------------------


def test_state_mask_counts_each_state_and_unknown() -> None:
    users = frame()
    assert state_mask(users, ["disabled"]).sum() == 3
    assert state_mask(users, ["enabled"]).sum() == 2
    assert state_mask(users, ["enforced"]).sum() == 2
    assert names(users, state_mask(users, ["unknown"])) == ["Break Glass 1"]
    assert state_mask(users, ["enabled", "enforced"]).sum() == 4
    assert state_mask(users, []).sum() == 0


def test_bool_mask_yes_no_any() -> None:
    users = frame()
    assert bool_mask(users, "registered", True).sum() == 4
    assert bool_mask(users, "registered", False).sum() == 4
    assert bool_mask(users, "registered", None).sum() == 8
    assert names(users, bool_mask(users, "is_admin", True)) == ["Björn Åberg", "Break Glass 1"]
    assert names(users, bool_mask(users, "is_guest", True)) == ["Eve Guest (Guest)"]
    assert names(users, bool_mask(users, "account_enabled", False)) == ["Dev Patel"]
    assert bool_mask(users, "capable", True).sum() == 3


def test_values_mask_with_none_for_missing() -> None:
    users = frame()
    assert values_mask(users, "department", ["Sales"]).sum() == 3
    assert values_mask(users, "department", ["Sales", "IT"]).sum() == 4
    assert names(users, values_mask(users, "department", [NONE])) == ["Eve Guest (Guest)", "Break Glass 1"]
    assert values_mask(users, "country", ["Sweden", NONE]).sum() == 3 + 3
    assert values_mask(users, "account_kind", ["service", "shared"]).sum() == 2
    assert values_mask(users, "department", ["Nowhere"]).sum() == 0


def test_methods_mask_matches_whole_method_names() -> None:
    users = frame()
    assert names(users, methods_mask(users, ["mobilePhone"])) == ["Björn Åberg", "Dev Patel", '=HYPERLINK("x")']
    assert methods_mask(users, ["fido2", "email"]).sum() == 2
    assert methods_mask(users, ["Phone"]).sum() == 0  # a part of a name is no method
    assert methods_mask(users, [NONE]).sum() == 4
    assert methods_mask(users, ["microsoftAuthenticatorPush", NONE]).sum() == 5


@pytest.mark.parametrize(("code", "expected"), [
    ("any", 8), ("within_7", 2), ("within_30", 3), ("within_90", 4), ("older_30", 5), ("older_90", 4), ("never", 2),
])
def test_sign_in_mask_by_age(code: str, expected: int) -> None:
    assert sign_in_mask(frame(), code, NOW).sum() == expected


def test_sign_in_mask_accepts_naive_now_as_utc_and_refuses_unknown_codes() -> None:
    users = frame()
    assert sign_in_mask(users, "within_7", NOW.tz_localize(None)).sum() == 2
    with pytest.raises(ValueError, match="unknown last sign-in filter 'yesterday'"):
        sign_in_mask(users, "yesterday", NOW)


def test_text_mask_every_word_in_name_or_upn_case_insensitive() -> None:
    users = frame()
    assert names(users, text_mask(users, "BERG")) == ["Anna Berg", "Björn Åberg"]
    assert names(users, text_mask(users, "åberg")) == ["Björn Åberg"]
    assert names(users, text_mask(users, "contoso.onmicrosoft")) == ["Eve Guest (Guest)", "Break Glass 1"]
    assert names(users, text_mask(users, "anna sales")) == []  # department is not searched
    assert names(users, text_mask(users, "  carla   diaz ")) == ["Carla Diaz"]
    assert text_mask(users, "   ").sum() == 8
    assert text_mask(users, "(x").sum() == 0  # literal, not a regular expression
    assert names(users, text_mask(users, '=hyper')) == ['=HYPERLINK("x")']


def test_text_mask_uses_a_precomputed_index_of_the_same_frame() -> None:
    users = frame()
    index = search_index(users)
    assert text_mask(users, "diaz", index=index).sum() == 1
    with pytest.raises(ValueError, match="does not belong"):
        text_mask(users, "diaz", index=index.iloc[:3])


def test_upn_list_mask_matches_upn_or_mail_ignoring_case_and_spaces() -> None:
    users = frame()
    listed = [" ANNA.BERG@contoso.com", "bjorn@contoso.com", "eve@partner.com", "nobody@contoso.com"]
    assert names(users, upn_list_mask(users, listed)) == ["Anna Berg", "Björn Åberg", "Eve Guest (Guest)"]
    assert upn_list_mask(users, []).sum() == 0
    assert unmatched_upns(users, listed) == ["nobody@contoso.com"]


def test_upn_list_with_precomputed_keys_gives_the_same_answer() -> None:
    users = frame()
    keys = address_keys(users)
    listed = ["BJORN@contoso.com", "svc-backup@contoso.com", "ghost@contoso.com"]
    assert (upn_list_mask(users, listed, keys=keys) == upn_list_mask(users, listed)).all()
    assert upn_list_mask(users, listed, keys=keys).sum() == 2
    known = known_addresses(users, keys)
    assert "bjorn@contoso.com" in known and "bjorn.aberg@contoso.com" in known and "" not in known
    assert unmatched_upns(users, listed, known=known) == ["ghost@contoso.com"]
    with pytest.raises(ValueError, match="do not belong"):
        upn_list_mask(users, listed, keys=tuple(k.iloc[:2] for k in keys))


def test_parse_upn_list_from_lines_csv_and_separators() -> None:
    parsed = parse_upn_list("UserPrincipalName,State\r\nanna@contoso.com,enabled\nBob@contoso.com;carl@contoso.com "
                            "anna@CONTOSO.com\n\n<dana@contoso.com>\nnot-an-address\nbad@@x\n")
    assert parsed.upns == ("anna@contoso.com", "Bob@contoso.com", "carl@contoso.com", "dana@contoso.com")
    assert parsed.duplicates == 1
    assert parsed.invalid == ("bad@@x",)
    assert parsed.keys == frozenset({"anna@contoso.com", "bob@contoso.com", "carl@contoso.com", "dana@contoso.com"})


def test_parse_upn_list_bytes_bom_encoding_and_limit() -> None:
    assert parse_upn_list("\ufeffa@x.com\n".encode()).upns == ("a@x.com",)
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_upn_list("å@x.com".encode("cp1252"))
    with pytest.raises(ValueError, match="UTF-16"):
        parse_upn_list("a@x.com".encode("utf-16"))
    with pytest.raises(ValueError, match="more than 2 UPNs"):
        parse_upn_list("a@x.com b@x.com c@x.com", limit=2)


# --- all together ---------------------------------------------------------------------------------


def test_no_filter_keeps_everyone() -> None:
    users = frame()
    assert UserFilters().active is False
    assert filter_mask(users, UserFilters()).sum() == 8


def test_filters_combine_with_and() -> None:
    users = frame()
    filters = UserFilters(states=("disabled", "enabled"), registered=False, departments=("Sales", NONE))
    assert names(users, filter_mask(users, filters, NOW)) == ["Anna Berg", "Eve Guest (Guest)"]
    filters = UserFilters(admin=True, registered=False)  # the overview's "admins without a registered method"
    assert names(users, filter_mask(users, filters, NOW)) == ["Break Glass 1"]
    filters = UserFilters(text="contoso.com", account_enabled=True, guest=False, capable=True, last_sign_in="within_30",
                          methods=("mobilePhone",), countries=("Sweden",), account_kinds=("person",))
    assert names(users, filter_mask(users, filters, NOW)) == ["Björn Åberg"]
    filters = UserFilters(upns=frozenset({"carla.diaz@contoso.com", "svc-backup@contoso.com"}), states=("enforced",))
    assert names(users, filter_mask(users, filters, NOW)) == ["Carla Diaz"]
    assert filter_mask(users, UserFilters(upns=frozenset()), NOW).sum() == 0  # an empty list matches nobody


def test_last_sign_in_filter_needs_now() -> None:
    with pytest.raises(ValueError, match="needs 'now'"):
        filter_mask(frame(), UserFilters(last_sign_in="never"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"states": ("paused",)}, "unknown state 'paused'"),
    ({"states": "enabled"}, "not one string"),
    ({"account_kinds": ("robot",)}, "unknown account kind 'robot'"),
    ({"registered": "yes"}, "registered must be True, False or None"),
    ({"last_sign_in": "soon"}, "unknown last sign-in filter 'soon'"),
    ({"upns": "a@x.com"}, "not one string"),
    ({"text": None}, "text must be a string"),
])
def test_filters_validate_on_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UserFilters(**kwargs)


def test_signature_changes_with_any_filter_and_upns_are_normalised() -> None:
    assert UserFilters(upns=[" A@X.com "]).upns == frozenset({"a@x.com"})
    assert UserFilters(states=["enabled"]).signature() == UserFilters(states=("enabled",)).signature()
    assert UserFilters().signature() != UserFilters(guest=False).signature()


def test_describe_filters() -> None:
    assert describe_filters(UserFilters()) == []
    text = describe_filters(UserFilters(text=" anna ", states=("enabled", "unknown"), admin=True, registered=False,
                                        departments=("A", "B", "C", "D", "E", "F"), account_kinds=("break_glass",),
                                        last_sign_in="older_90", upns=frozenset({"a@x.com"})))
    assert text == ["name or UPN contains “anna”", "state: Enabled, Unknown", "registered: no", "admin: yes",
                    "department: A, B, C, D and 2 more", "kind: Break-glass", "last sign-in: not in 90 days (or never)",
                    "in a list of 1 UPN"]


# --- per snapshot ---------------------------------------------------------------------------------


def test_filter_options_list_present_values_and_none() -> None:
    options = filter_options(frame())
    assert options.departments == ("Engineering", "IT", "Sales", NONE)
    assert options.countries == ("Norway", "Spain", "Sweden", NONE)
    assert options.methods == ("email", "fido2", "microsoftAuthenticatorPush", "mobilePhone", NONE)
    assert options.sign_ins_known is True
    no_sign_ins = frame().assign(last_sign_in=pd.NaT)
    assert filter_options(no_sign_ins).sign_ins_known is False


def test_prepare_users_sorts_by_name_and_counts_states() -> None:
    prepared = prepare_users(frame())
    assert prepared.frame["display_name"].tolist()[:3] == ['=HYPERLINK("x")', "Anna Berg", "Backup Service"]
    assert len(prepared) == 8 and len(prepared.index) == 8
    assert prepared.state_counts() == {"disabled": 3, "enabled": 2, "enforced": 2, "unknown": 1}
    mask = filter_mask(prepared.frame, UserFilters(departments=("Sales",)), index=prepared.index)
    assert prepared.state_counts(mask) == {"disabled": 1, "enabled": 1, "enforced": 1, "unknown": 0}
    both = UserFilters(text="berg", upns=frozenset({"bjorn@contoso.com"}), last_sign_in="within_7")
    assert prepared.frame.loc[prepared.mask(both, NOW), "display_name"].tolist() == ["Björn Åberg"]
    assert "eve@partner.com" in prepared.known


def test_export_frame_keeps_the_rows_and_export_columns() -> None:
    users = frame()
    mask = state_mask(users, ["enforced"])
    out = export_frame(users, mask)
    assert list(out.columns) == [*EXPORT_COLUMNS, *PROTECTION_EXPORT_COLUMNS]
    assert out["display_name"].tolist() == ["Carla Diaz", '=HYPERLINK("x")']
    assert len(export_frame(users)) == 8
