"""Protected accounts: storage (UPN, reason, owner, expiry), expiry, removal, and suggestions."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from lib.rollout import (
    ProtectionError,
    active_protection,
    list_protected,
    protect_account,
    protected_frame,
    protection_risks,
    suggest_protected,
    unprotect_account,
)
from lib.store import NotFoundError
from lib.store.schema import protected_accounts
from tests.test_rollout_support import TENANT, store_with_tenant, user, users

FUTURE = pd.Timestamp("2099-01-01", tz="UTC")
PAST = pd.Timestamp("2020-06-30", tz="UTC")


@pytest.fixture
def store(database_url: str):
    with store_with_tenant(database_url) as opened:
        yield opened


def test_protect_list_update_and_expiry(store) -> None:
    protect_account(store, TENANT, " BreakGlass01@Contoso.onmicrosoft.com ", reason="emergency access",
                    owner="security team", by="admin@contoso.example")
    protect_account(store, TENANT, "svc-backup@contoso.example", reason="backup daemon", owner="it ops",
                    expires_at=PAST)
    protect_account(store, TENANT, "ceo@contoso.example", reason="travelling", owner="helpdesk", expires_at=FUTURE)
    listed = list_protected(store, TENANT)
    assert [(a.upn, a.reason, a.owner, a.expires_at, a.created_by) for a in listed] == [
        ("BreakGlass01@Contoso.onmicrosoft.com", "emergency access", "security team", None, "admin@contoso.example"),
        ("ceo@contoso.example", "travelling", "helpdesk", FUTURE, None),
        ("svc-backup@contoso.example", "backup daemon", "it ops", PAST, None),
    ]
    active = active_protection(store, TENANT)
    assert sorted(active) == ["breakglass01@contoso.onmicrosoft.com", "ceo@contoso.example"]
    assert "BREAKGLASS01@contoso.onmicrosoft.com" in active and "svc-backup@contoso.example" not in active
    frame = protected_frame(store, TENANT)
    assert frame[["upn", "status"]].values.tolist() == [
        ["BreakGlass01@Contoso.onmicrosoft.com", "active"], ["ceo@contoso.example", "active"],
        ["svc-backup@contoso.example", "expired"],
    ]
    assert str(frame["expires_at"].dtype) == "datetime64[ns, UTC]"
    # updating keeps who created it
    updated = protect_account(store, TENANT, "breakglass01@contoso.onmicrosoft.com", reason="emergency access 1",
                              owner="ciso", by="other@contoso.example")
    assert (updated.reason, updated.owner, updated.created_by) == ("emergency access 1", "ciso",
                                                                   "admin@contoso.example")
    # protection as of a moment: the future expiry has passed by then
    later = active_protection(store, TENANT, now=pd.Timestamp("2100-01-01", tz="UTC"))
    assert sorted(later) == ["breakglass01@contoso.onmicrosoft.com"]


def test_unprotect_keeps_the_row_and_can_protect_again(store) -> None:
    protect_account(store, TENANT, "user1@contoso.example", reason="vip", owner="it")
    assert unprotect_account(store, TENANT, "USER1@contoso.example", by="admin@contoso.example") is True
    assert unprotect_account(store, TENANT, "user1@contoso.example") is False
    assert list_protected(store, TENANT) == [] and len(active_protection(store, TENANT)) == 0
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(protected_accounts.c.removed_by)).one()
    assert row.removed_by == "admin@contoso.example"
    protect_account(store, TENANT, "user1@contoso.example", reason="vip again", owner="it")
    assert [a.reason for a in list_protected(store, TENANT)] == ["vip again"]


def test_bad_input_is_refused(store) -> None:
    with pytest.raises(ValueError, match="'no-at-sign' is not a user principal name"):
        protect_account(store, TENANT, "no-at-sign", reason="x", owner="y")
    with pytest.raises(ValueError, match="reason is required"):
        protect_account(store, TENANT, "a@b.c", reason=" ", owner="y")
    with pytest.raises(ValueError, match="owner is required"):
        protect_account(store, TENANT, "a@b.c", reason="x", owner="")
    with pytest.raises(NotFoundError):
        protect_account(store, "no-such-tenant", "a@b.c", reason="x", owner="y")


HEALTHY = {"registered": True, "methods": "fido2", "method_count": 1}


def test_suggestions_only_healthy_break_glass_looking_accounts_most_certain_first() -> None:
    frame = users(
        user(1, upn="breakglass01@contoso.onmicrosoft.com", account_kind="break_glass", is_admin=True,
             last_sign_in=None, **HEALTHY),
        user(2, upn="old.admin@contoso.example", is_admin=True, last_sign_in=None),  # a risk, not an exemption
        user(3, upn="ca-excluded-ops@contoso.example", **HEALTHY),
        user(4, display_name="Emergency Access Account 2", upn="ea2@contoso.example", **HEALTHY),
        user(5, upn="plain@contoso.example", is_admin=True, **HEALTHY),  # signs in: not suggested
        user(6, upn="emergency-access02@contoso.example", account_kind="break_glass", **HEALTHY),
        user(7, upn="breakglass02@contoso.example", account_kind="break_glass"),  # no method: would not work
        user(8, upn="bg-admin@contoso.example", account_enabled=False, **HEALTHY),  # disabled: would not work
    )
    suggested = suggest_protected(frame, protected=["emergency-access02@contoso.example"])
    assert suggested[["user_id", "code"]].values.tolist() == [
        ["u001", "break_glass"], ["u003", "excluded_name"], ["u004", "excluded_name"],
    ]
    assert suggested["why"].tolist()[0] == "classified as a break-glass (emergency access) account"
    assert suggest_protected(frame.iloc[0:0]).columns.tolist() == ["user_id", "upn", "display_name", "code", "why"]

    risks = protection_risks(frame, protected=["breakglass02@contoso.example"])
    assert risks[["user_id", "code", "protected"]].values.tolist() == [
        ["u002", "admin_without_mfa", False], ["u008", "unhealthy_break_glass", False],
        ["u007", "unhealthy_break_glass", True],
    ]
    assert risks["why"].iloc[0].startswith("an administrator with no second factor: require MFA")


def test_a_upn_not_in_the_tenant_is_refused_unless_confirmed(database_url: str) -> None:
    store = store_with_tenant(database_url)
    try:
        known = ["anna@contoso.example"]
        with pytest.raises(ProtectionError, match="not in the tenant's latest snapshot: check the spelling"):
            protect_account(store, TENANT, "ana@contoso.example", reason="x", owner="y", known_upns=known)
        assert list_protected(store, TENANT) == []  # nothing recorded
        protect_account(store, TENANT, "ANNA@contoso.example", reason="x", owner="y", known_upns=known)
        protect_account(store, TENANT, "new.hire@contoso.example", reason="x", owner="y", known_upns=known,
                        confirm_unknown=True)
        assert [a.upn for a in list_protected(store, TENANT)] == ["ANNA@contoso.example", "new.hire@contoso.example"]
    finally:
        store.close()


def test_on_the_demo_tenant_the_healthy_break_glass_account_is_suggested_the_other_flagged() -> None:
    from lib.emulator.generator import generate_tenant

    tenant = generate_tenant(300, 7)
    glass = sorted(u.upn for u in tenant.users if u.kind == "break_glass")
    frame = users(*(user(n, upn=u.upn, account_kind=u.kind, is_admin=u.is_admin, last_sign_in=u.last_sign_in,
                         display_name=u.display_name, account_enabled=u.account_enabled,
                         registered=u.has_mfa_method()) for n, u in enumerate(tenant.users)))
    assert len(glass) == 2
    healthy = [u.upn for u in tenant.users if u.kind == "break_glass" and u.has_mfa_method()]
    assert len(healthy) == 1  # the demo's other break-glass account has no method: a risk, not a suggestion
    suggested = suggest_protected(frame)
    assert suggested.loc[suggested["code"] == "break_glass", "upn"].tolist() == healthy
    risks = protection_risks(frame)
    assert set(glass) - set(healthy) <= set(risks["upn"])  # an admin without a method: flagged as a risk
