"""lib.scope: which users the overview and the users page count."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from lib.columns import USER_COLUMNS, coerce_users, empty_users_frame
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope, normalise_upns, scope_mask

T = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def users(*rows: dict) -> pd.DataFrame:
    base = {
        "display_name": "", "mail": None, "department": None, "country": None, "job_title": None,
        "is_guest": False, "account_enabled": True, "is_admin": False, "account_kind": "person",
        "state": "disabled", "registered": False, "capable": False, "methods": "", "method_count": 0,
        "preferred_method": "", "created": None, "last_sign_in": None,
        "users_read_at": T, "registration_read_at": T, "state_read_at": T,
    }
    records = [{**base, "id": row["id"], "upn": f"{row['id']}@contoso.com", **row} for row in rows]
    return coerce_users(pd.DataFrame(records)) if records else empty_users_frame()


@pytest.fixture
def tenant() -> pd.DataFrame:
    return users(
        {"id": "alice"},
        {"id": "bob", "account_enabled": False},
        {"id": "guest", "is_guest": True, "account_kind": "person", "upn": "guest_gmail.com#EXT#@contoso.com"},
        {"id": "guest-off", "is_guest": True, "account_enabled": False},
        {"id": "svc", "account_kind": "service"},
        {"id": "mailbox", "account_kind": "shared", "account_enabled": False},
        {"id": "shared-on", "account_kind": "shared"},
        {"id": "bg", "account_kind": "break_glass"},
        {"id": "ceo", "upn": "CEO@Contoso.com"},
        {"id": "nokind", "account_kind": None},
    )


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["id"])


def test_default_scope_is_enabled_people_and_guests(tenant: pd.DataFrame) -> None:
    scope = Scope(protected_upns=frozenset({"ceo@contoso.com"}))
    assert ids(apply_scope(tenant, scope)) == ["alice", "guest", "nokind"]


def test_default_scope_without_protected_list_keeps_the_ceo(tenant: pd.DataFrame) -> None:
    assert ids(apply_scope(tenant)) == ["alice", "guest", "ceo", "nokind"]
    assert (DEFAULT_SCOPE.include_disabled_accounts, DEFAULT_SCOPE.include_guests, DEFAULT_SCOPE.include_service,
            DEFAULT_SCOPE.include_shared, DEFAULT_SCOPE.include_protected) == (False, True, False, False, False)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"include_disabled_accounts": True}, ["alice", "bob", "guest", "guest-off", "nokind"]),
        ({"include_guests": False}, ["alice", "nokind"]),
        ({"include_service": True}, ["alice", "guest", "svc", "nokind"]),
        ({"include_shared": True}, ["alice", "guest", "shared-on", "nokind"]),
        ({"include_protected": True}, ["alice", "guest", "bg", "ceo", "nokind"]),
        ({"include_disabled_accounts": True, "include_shared": True},
         ["alice", "bob", "guest", "guest-off", "mailbox", "shared-on", "nokind"]),
    ],
)
def test_each_flag_includes_exactly_its_accounts(tenant: pd.DataFrame, change: dict, expected: list[str]) -> None:
    scope = replace(Scope(protected_upns=frozenset({"ceo@contoso.com"})), **change)
    assert ids(apply_scope(tenant, scope)) == expected


def test_everything_included_keeps_every_row(tenant: pd.DataFrame) -> None:
    scope = Scope(include_disabled_accounts=True, include_guests=True, include_service=True,
                  include_shared=True, include_protected=True, protected_upns=frozenset({"ceo@contoso.com"}))
    assert ids(apply_scope(tenant, scope)) == ids(tenant)


def test_protected_upns_match_ignoring_case_and_spaces(tenant: pd.DataFrame) -> None:
    scope = Scope(protected_upns=frozenset({"  Ceo@CONTOSO.com ", "ALICE@contoso.com"}))
    assert scope.protected_upns == frozenset({"ceo@contoso.com", "alice@contoso.com"})
    assert ids(apply_scope(tenant, scope)) == ["guest", "nokind"]


def test_result_is_still_a_users_frame(tenant: pd.DataFrame) -> None:
    scoped = apply_scope(tenant)
    assert dict(scoped.dtypes.astype(str)) == dict(coerce_users(scoped).dtypes.astype(str))
    assert list(scoped.columns) == list(USER_COLUMNS)
    assert list(scoped.index) == [0, 1, 2, 3]


def test_mask_is_aligned_with_the_frame(tenant: pd.DataFrame) -> None:
    mask = scope_mask(tenant)
    assert mask.dtype == bool
    assert list(mask.index) == list(tenant.index)
    assert int(mask.sum()) == 4


def test_empty_frame() -> None:
    assert len(apply_scope(empty_users_frame(), Scope(protected_upns=frozenset({"x@y"})))) == 0


def test_scope_validates_early() -> None:
    with pytest.raises(ValueError, match="include_guests"):
        Scope(include_guests="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not one string"):
        Scope(protected_upns="ceo@contoso.com")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a string"):
        normalise_upns([42])  # type: ignore[list-item]


def test_scope_is_hashable_for_cache_keys() -> None:
    assert hash(Scope(protected_upns=frozenset({"A@b"}))) == hash(Scope(protected_upns=frozenset({"a@b"})))
    assert Scope() != Scope(include_guests=False)


def test_describe() -> None:
    assert Scope().describe() == (
        "Enabled accounts only; guests included; service accounts excluded; shared accounts excluded; "
        "protected accounts excluded"
    )
    assert Scope(include_disabled_accounts=True, include_guests=False, include_protected=True).describe() == (
        "All accounts; guests excluded; service accounts excluded; shared accounts excluded; "
        "protected accounts included"
    )
