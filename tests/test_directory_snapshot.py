"""Reading the tenant through Graph into the users frame, against the demo tenant over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from lib.directory.refresh import refresh_snapshot
from lib.directory.snapshot import read_tenant
from lib.emulator.server import RunningEmulator
from lib.graph import CancelToken, GraphGateway, MsalClientCredential, OperationCancelled
from lib.store import open_store
from tests.conftest import emulator_config

VOLATILE = ["users_read_at", "registration_read_at", "state_read_at"]


def gateway_for(emu: RunningEmulator) -> GraphGateway:
    return GraphGateway(emu.graph_url, MsalClientCredential(emu.client_id, emu.client_secret, emu.authority,
                                                            ca_cert=emu.ca_cert))


def truth(emu: RunningEmulator) -> dict:
    return {u.id: u for u in emu.state.tenant.users}


def test_premium_snapshot_matches_ground_truth(emulator: RunningEmulator) -> None:
    phases: list[str] = []
    with gateway_for(emulator) as gw:
        read = read_tenant(gw, on_phase=lambda phase, done, total: phases.append(phase))
    frame, users = read.frame, truth(emulator)
    assert read.registration_source == "reports"
    assert len(frame) == len(users) == 300
    assert {"users", "registration", "state"} <= set(phases)
    assert read.tenant_id == emulator.tenant_id and read.tenant_domain == emulator.state.tenant.domain
    by_id = frame.set_index("id")
    assert all(by_id.loc[uid, "state"] == u.mfa_state for uid, u in users.items())
    assert all(by_id.loc[uid, "account_kind"] == u.kind for uid, u in users.items())
    visible = emulator.state.tenant.visible_methods
    assert all(by_id.loc[uid, "registered"] == any(m.kind not in ("email",) for m in visible(u))
               for uid, u in users.items())
    disabled = [u for u in users.values() if not u.account_enabled and u.has_mfa_method()]
    assert all(by_id.loc[u.id, "registered"] for u in disabled)  # the report leaves them out: read methods
    assert by_id["last_sign_in"].notna().sum() == sum(1 for u in users.values() if u.last_sign_in)
    assert read.stats["state_read_failures"] == 0 and read.stats["users"] == 300


def test_tenant_without_p1_reads_methods_and_roles(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=120, seed=3, premium=False)
    with gateway_for(emu) as gw:
        read = read_tenant(gw)
    users, by_id = truth(emu), read.frame.set_index("id")
    assert read.registration_source == "methods"
    assert all(by_id.loc[uid, "registered"] == u.has_mfa_method() for uid, u in users.items())
    assert all(by_id.loc[uid, "is_admin"] == u.is_admin for uid, u in users.items())
    assert by_id["last_sign_in"].isna().all()  # signInActivity needs P1
    assert by_id.loc[by_id["registered"], "preferred_method"].eq("").all()


def test_faults_and_throttling_give_exactly_the_fault_free_snapshot(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    clean = make_emulator(users=400, seed=21, config=emulator_config(throttle=False))
    noisy = make_emulator(users=400, seed=21, config=emulator_config(fault_rate=0.05, seed=5))
    with gateway_for(clean) as gw:
        expected = read_tenant(gw).frame.drop(columns=VOLATILE)
    with gateway_for(noisy) as gw:
        got = read_tenant(gw)
    assert got.stats["retries"] > 0
    pd.testing.assert_frame_equal(got.frame.drop(columns=VOLATILE), expected)


def test_refresh_stores_a_complete_snapshot_and_a_cancelled_one_never_becomes_current(
    make_emulator: Callable[..., RunningEmulator], database_url: str,
) -> None:
    emu = make_emulator(users=200, seed=4)
    store = open_store(database_url)
    with gateway_for(emu) as gw:
        first = refresh_snapshot(store, gw, mode="demo")
        cancel = CancelToken()
        cancel.cancel()
        with pytest.raises(OperationCancelled):
            refresh_snapshot(store, gw, mode="demo", cancel=cancel)
    assert first.summary.new == 200
    latest = store.latest_snapshot(emu.tenant_id)
    assert latest.id == first.snapshot_id and latest.status == "complete"
    assert [s.status for s in store.list_snapshots(emu.tenant_id)][-1] == "cancelled" or any(
        s.status == "cancelled" for s in store.list_snapshots(emu.tenant_id))
    loaded = store.load_users(emu.tenant_id)
    pd.testing.assert_frame_equal(loaded.drop(columns=VOLATILE).sort_values("id").reset_index(drop=True),
                                  first.read.frame.drop(columns=VOLATILE).sort_values("id").reset_index(drop=True))
    store.close()
