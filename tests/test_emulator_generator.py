"""The synthetic tenant, its lifecycle rules and the simulated clock."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lib.emulator.clock import advance
from lib.emulator.generator import HISTORY_DAYS, demo_app, demo_public_app, generate_tenant, new_method
from lib.emulator.model import GLOBAL_ADMINISTRATOR, GLOBAL_READER, METHOD_KINDS, SyntheticTenant, User

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def fingerprint(tenant: SyntheticTenant) -> list[tuple]:
    return [
        (u.id, u.upn, u.mfa_state, u.account_enabled, u.department, tuple(m.kind for m in u.methods),
         u.last_sign_in, len(u.events))
        for u in tenant.users
    ]


@pytest.fixture(scope="module")
def tenant() -> SyntheticTenant:
    return generate_tenant(3000, seed=7, now=NOW)


def test_same_seed_same_tenant_and_other_seed_differs() -> None:
    first = generate_tenant(400, seed=11, now=NOW)
    again = generate_tenant(400, seed=11, now=NOW)
    other = generate_tenant(400, seed=12, now=NOW)
    assert fingerprint(first) == fingerprint(again)
    assert first.id == again.id
    assert fingerprint(first) != fingerprint(other)


@pytest.mark.parametrize("users", [49, 200_001])
def test_user_count_outside_bounds_is_refused(users: int) -> None:
    with pytest.raises(ValueError, match="between 50 and 200000"):
        generate_tenant(users, seed=1, now=NOW)


def test_exact_size_unique_identities(tenant: SyntheticTenant) -> None:
    assert len(tenant.users) == 3000
    assert len({u.id for u in tenant.users}) == 3000
    assert len({u.upn.lower() for u in tenant.users}) == 3000


def test_realistic_mix(tenant: SyntheticTenant) -> None:
    kinds = Counter(u.kind for u in tenant.users)
    assert kinds["break_glass"] == 2
    assert 20 <= kinds["service"] <= 50
    assert 30 <= kinds["shared"] <= 60
    guests = sum(u.is_guest for u in tenant.users)
    assert 0.02 <= guests / 3000 <= 0.04
    admins = sum(u.is_admin for u in tenant.users)
    assert 0.005 <= admins / 3000 <= 0.02
    assert 0.02 <= sum(not u.account_enabled for u in tenant.users) / 3000 <= 0.1
    states = Counter(u.mfa_state for u in tenant.users)
    assert set(states) == {"disabled", "enabled", "enforced"}
    assert all(states[s] >= 100 for s in ("disabled", "enabled", "enforced"))


def test_break_glass_accounts_look_like_real_ones(tenant: SyntheticTenant) -> None:
    glass = [u for u in tenant.users if u.kind == "break_glass"]
    assert [u.upn.split("@")[0] for u in glass] == ["breakglass01", "emergency-access02"]
    assert all(u.roles == (GLOBAL_ADMINISTRATOR,) and u.mfa_state == "disabled" for u in glass)
    assert all(u.upn.endswith(".onmicrosoft.com") for u in glass)


def test_demo_identities_exist(tenant: SyntheticTenant) -> None:
    assert tenant.lookup(f"admin@{tenant.domain}").roles == (GLOBAL_ADMINISTRATOR,)
    assert tenant.lookup(f"SECURITY.READER@{tenant.domain}").roles == (GLOBAL_READER,)
    assert demo_app(tenant).client_secret
    assert demo_public_app(tenant).public_client
    assert "Policy.ReadWrite.AuthenticationMethod" in demo_app(tenant).permissions


def test_history_has_two_waves_within_ninety_days(tenant: SyntheticTenant) -> None:
    assert [w.name for w in tenant.waves] == ["Pilot: IT and Finance", "Wave 2: Sales, Marketing and Support"]
    for wave in tenant.waves:
        assert NOW - timedelta(days=HISTORY_DAYS) < wave.launched_at < NOW
        assert len(wave.user_ids) > 100
        members = [tenant.by_id[i] for i in wave.user_ids]
        assert all(u.events and any(e.kind == "wave" and e.value == wave.name for e in u.events) for u in members)
    pilot = [tenant.by_id[i] for i in tenant.waves[0].user_ids]
    assert {u.department for u in pilot} == {"IT", "Finance"}


def test_state_follows_events_and_registration(tenant: SyntheticTenant) -> None:
    for user in tenant.users:
        states = [e.value for e in user.events if e.kind == "state"]
        assert (states[-1] if states else "disabled") == user.mfa_state
        assert [e.at for e in user.events] == sorted(e.at for e in user.events) or user.account_enabled is False
        if user.mfa_state == "enforced" and not user.is_admin:
            assert user.has_mfa_method()


def test_reenabled_users_stay_enabled_with_a_method(tenant: SyntheticTenant) -> None:
    stuck = [u for u in tenant.users if u.mfa_state == "enabled" and u.has_mfa_method()]
    assert len(stuck) >= 2
    assert all(u.needs_reregistration for u in stuck)
    assert all([e.value for e in u.events if e.kind == "state"][-2:] == ["disabled", "enabled"] for u in stuck)


def make_user_with_method(tenant: SyntheticTenant) -> User:
    return next(u for u in tenant.users if u.kind == "person" and u.mfa_state == "disabled" and u.has_mfa_method())


def test_enabling_a_user_with_a_method_makes_them_enforced() -> None:
    tenant = generate_tenant(300, seed=3, now=NOW)
    user = make_user_with_method(tenant)
    assert tenant.set_mfa_state(user, "enabled", "admin@x") == "enforced"
    assert user.mfa_state == "enforced"


def test_disabled_then_reenabled_user_is_not_promoted() -> None:
    tenant = generate_tenant(300, seed=3, now=NOW)
    user = make_user_with_method(tenant)
    tenant.set_mfa_state(user, "enforced", "admin@x")
    tenant.set_mfa_state(user, "disabled", "admin@x")
    assert tenant.set_mfa_state(user, "enabled", "admin@x") == "enabled"
    tenant.register_method(user, new_method(random.Random(1), "fido2", NOW, "SE"))
    assert user.mfa_state == "enforced"


def test_unknown_state_is_refused() -> None:
    tenant = generate_tenant(300, seed=3, now=NOW)
    with pytest.raises(ValueError, match="unknown per-user MFA state"):
        tenant.set_mfa_state(tenant.users[0], "on", "admin@x")


def test_registration_report_lags() -> None:
    tenant = generate_tenant(300, seed=3, now=NOW)
    user = next(u for u in tenant.users if u.kind == "person" and not u.methods)
    tenant.register_method(user, new_method(random.Random(1), "mobilePhone", NOW, "SE"))
    assert tenant.visible_methods(user) == []
    tenant.now = NOW + tenant.report_lag
    assert [m.kind for m in tenant.visible_methods(user)] == ["mobilePhone"]


def test_clock_moves_enabled_users_to_enforced_deterministically() -> None:
    one = generate_tenant(2000, seed=5, now=NOW)
    two = generate_tenant(2000, seed=5, now=NOW)
    for t in (one, two):
        for user in t.users:
            if user.kind == "person" and user.account_enabled and user.department == "Engineering":
                t.set_mfa_state(user, "enabled", "admin@x")
    pending = sum(1 for u in one.users if u.mfa_state == "enabled" and not u.has_mfa_method())
    report = advance(one, timedelta(days=7))
    assert report == advance(two, timedelta(days=7))
    assert fingerprint(one) == fingerprint(two)
    assert one.now == NOW + timedelta(days=7)
    assert report["registered"] > 0.2 * pending
    assert 0 < report["enforced"] <= report["registered"]
    assert all(METHOD_KINDS[m.kind] for u in one.users for m in u.methods)


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(days=-1), timedelta(days=400)])
def test_clock_refuses_bad_steps(delta: timedelta) -> None:
    tenant = generate_tenant(100, seed=1, now=NOW)
    with pytest.raises(ValueError):
        advance(tenant, delta)
