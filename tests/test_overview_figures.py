"""The overview's figures reconcile: tile, funnel and trend agree wherever they measure the same thing, and
every percentage says what it is a share of. Read from the demo tenant over HTTP into a real SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.columns import split_methods
from lib.directory.refresh import refresh_snapshot
from lib.directory.rows import NOT_SECOND_FACTORS
from lib.kpis import compute_kpis
from lib.overview import build_overview, chart_captions, tile_views
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope
from lib.store import Store, open_store
from tests.test_rollout_support import gateway_for, truth

EVERYONE = Scope(include_disabled_accounts=True, include_guests=True, include_service=True, include_shared=True,
                 include_protected=True)


@pytest.fixture
def tenant(make_emulator, tmp_path: Path) -> Iterator[tuple[object, Store, str]]:
    emulator = make_emulator(users=400, seed=3)
    gateway = gateway_for(emulator)
    store = open_store(f"sqlite:///{tmp_path / 'console.db'}")
    try:
        refresh_snapshot(store, gateway, mode="demo")
        yield emulator, store, emulator.tenant_id
    finally:
        gateway.close()
        store.close()


@pytest.mark.parametrize("scope", [DEFAULT_SCOPE, EVERYONE], ids=["default scope", "everyone"])
def test_tile_funnel_and_trend_agree_and_say_what_they_are_shares_of(tenant, scope: Scope) -> None:
    _, store, tenant_id = tenant
    snapshot = store.latest_snapshot(tenant_id)
    ov = build_overview(store, snapshot, scope)
    k = ov.kpis
    funnel = ov.tables["rollout_funnel"].set_index("stage")
    trend = ov.tables["adoption_trend"].iloc[-1]
    everyone = compute_kpis(store.load_users(tenant_id, snapshot.id))
    assert 0 < k.users <= everyone.users

    # The same measure, read from the tiles and from the funnel.
    assert funnel.loc["in_scope", "users"] == k.users and funnel.loc["in_scope", "percent"] == 100.0
    assert funnel.loc["enabled_or_enforced", "users"] == k.enabled + k.enforced
    assert funnel.loc["enforced", "users"] == k.enforced
    assert funnel.loc["enforced", "percent"] == pytest.approx(100 * k.enforced / k.users)
    assert funnel.loc["registered", "users"] <= k.registered  # only the Enabled or Enforced among them
    # The trend's last day is the latest snapshot, counted over every user whatever the scope.
    assert (trend["users"], trend["registered"], trend["enforced"]) == (
        everyone.users, everyone.registered, everyone.enforced)
    assert trend["pct_registered"] == pytest.approx(everyone.pct_registered)
    if scope == EVERYONE:  # then the tile and the trend measure the same thing
        assert trend["pct_registered"] == pytest.approx(k.pct_registered)
        assert trend["pct_enforced"] == pytest.approx(100 * k.enforced / k.users)

    # Every percentage says its base, with the numbers that reconcile them.
    tiles = {t.key: t for t in tile_views(k)}
    assert tiles["pct_registered"].basis == f"{k.registered:,} of {k.users:,} users in scope"
    assert tiles["pct_capable"].basis == f"{k.capable:,} of {k.users:,} users in scope"
    captions = chart_captions(ov)
    for key in ("state_distribution", "rollout_funnel", "methods", "method_strength"):
        assert f"the {k.users:,} users in scope" in captions[key], key
    stage = funnel.loc["registered", "users"]
    assert f"counts only the {stage:,} users Enabled or Enforced" in captions["rollout_funnel"]
    assert f"all {k.registered:,} registered users in scope" in captions["rollout_funnel"]
    assert (f"{trend['pct_registered']:.1f}% of all {everyone.users:,} users registered"
            in captions["adoption_trend"])
    assert f"({k.pct_registered:.1f}% registered)" in captions["adoption_trend"]
    for key in ("by_department", "by_country", "by_user_type"):
        assert "share of each" in captions[key] or "share of its own users" in captions[key]


def test_the_demo_tenant_has_users_registered_but_not_mfa_capable(tenant) -> None:
    emulator, store, tenant_id = tenant
    people = apply_scope(store.load_users(tenant_id), DEFAULT_SCOPE)  # accounts that can sign in
    odd = people[people["registered"] & ~people["capable"]]
    assert len(odd) > 0
    off = set(emulator.state.tenant.methods_off_by_policy)
    seen = truth(emulator)
    for uid, methods in zip(odd["id"], odd["methods"], strict=True):
        factors = {m for m in split_methods(methods) if m not in NOT_SECOND_FACTORS}
        assert factors and factors <= off, (uid, factors)  # only voice calls, which the policy turned off
        assert seen[uid]["account_enabled"]
    k = compute_kpis(people)
    assert k.capable < k.registered
    assert k.pct_capable < k.pct_registered
