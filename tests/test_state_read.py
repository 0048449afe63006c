"""Per-user MFA states from the users listing, checked against authentication/requirements.

Against the demo tenant over real HTTP, with its counters (``state_reads``: GETs of
``authentication/requirements``; ``user_listings``: pages of ``/users``) as the evidence of which
path a read took, and the store (SQLite and PostgreSQL) for what the snapshot records.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lib.directory.refresh import refresh_snapshot
from lib.directory.snapshot import read_tenant
from lib.emulator.server import RunningEmulator
from lib.graph import FALLBACK, FAST
from lib.graph.state_read import NOT_SERVED, SAMPLE_SIZE
from tests.test_rollout_support import control, gateway_for, store_with_tenant


def stats(emu: RunningEmulator) -> dict:
    return control(emu, "GET", "/stats")


def reset(emu: RunningEmulator) -> None:
    control(emu, "POST", "/stats/reset", {})


def change_everyone(emu: RunningEmulator) -> None:
    """Give every user a new state, so each has a previous one the lagging listing can show."""
    tenant = emu.state.tenant
    for user in tenant.users:
        tenant.set_mfa_state(user, "enforced" if user.mfa_state != "enforced" else "disabled", "test")


def states_of(frame) -> dict[str, str]:
    return dict(zip(frame["id"], frame["state"].astype(str), strict=True))


def truth_states(emu: RunningEmulator) -> dict[str, str]:
    return {u.id: u.mfa_state for u in emu.state.tenant.users}


def test_snapshot_reads_states_from_the_listing_and_checks_a_sample(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=400, seed=11)
    with gateway_for(emu) as gw:
        reset(emu)
        read = read_tenant(gw)
    counters = stats(emu)
    assert read.state_read.as_dict() == {"path": FAST, "reason": None, "sampled": SAMPLE_SIZE, "disagreed": 0}
    assert states_of(read.frame) == truth_states(emu)
    assert counters["state_reads"] == SAMPLE_SIZE  # the sample only, not 400 users
    assert counters["user_listings"] == 1  # the one listing (999 a page) the snapshot makes anyway


def test_snapshot_goes_user_by_user_when_graph_does_not_serve_the_property(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=200, seed=12)
    control(emu, "PATCH", "/config", {"bulk_mfa_state": False})
    with gateway_for(emu) as gw:
        reset(emu)
        read = read_tenant(gw)
    assert read.state_read.path == FALLBACK and read.state_read.reason == NOT_SERVED
    assert read.state_read.sampled == 0
    assert states_of(read.frame) == truth_states(emu)
    assert stats(emu)["state_reads"] == 200


def test_a_sample_that_disagrees_sends_the_whole_read_user_by_user(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=150, seed=13)
    change_everyone(emu)
    control(emu, "PATCH", "/config", {"bulk_mfa_state_stale": 150})
    with gateway_for(emu) as gw:
        reset(emu)
        read = read_tenant(gw)
    how = read.state_read
    assert how.path == FALLBACK and how.sampled == SAMPLE_SIZE and how.disagreed == SAMPLE_SIZE
    assert "20 of 20 users checked at random had another state" in how.reason
    assert states_of(read.frame) == truth_states(emu)  # what the documented endpoint says, not the listing
    assert stats(emu)["state_reads"] == SAMPLE_SIZE + 150


def test_one_lagging_user_in_the_sample_is_enough(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=50, seed=14)  # the sample is 20 of 50: lag every user but 1 to be sure
    change_everyone(emu)
    control(emu, "PATCH", "/config", {"bulk_mfa_state_stale": 49})
    with gateway_for(emu) as gw:
        read = read_tenant(gw)
    assert read.state_read.path == FALLBACK and read.state_read.disagreed >= 19
    assert states_of(read.frame) == truth_states(emu)


def test_the_snapshot_record_says_which_path_and_why(
    make_emulator: Callable[..., RunningEmulator], database_url: str,
) -> None:
    emu = make_emulator(users=120, seed=15)
    store = store_with_tenant(database_url, emu.tenant_id)
    with gateway_for(emu) as gw:
        fast = refresh_snapshot(store, gw, mode="demo")
        control(emu, "PATCH", "/config", {"bulk_mfa_state": False})
        slow = refresh_snapshot(store, gw, mode="demo")
    assert store.get_snapshot(fast.snapshot_id).state_read == {
        "path": FAST, "reason": None, "sampled": SAMPLE_SIZE, "disagreed": 0}
    recorded = store.latest_snapshot(emu.tenant_id)
    assert recorded is not None and recorded.id == slow.snapshot_id
    assert recorded.state_read == {
        "path": FALLBACK, "reason": "Microsoft Graph does not list per-user MFA states with the users",
        "sampled": 0, "disagreed": 0}
    store.close()


@pytest.mark.parametrize("served", [True, False])
def test_reading_a_set_of_users_filters_the_listing_by_id(
    make_emulator: Callable[..., RunningEmulator], served: bool,
) -> None:
    emu = make_emulator(users=2000, seed=16)
    control(emu, "PATCH", "/config", {"bulk_mfa_state": served})
    wanted = [u.id for u in emu.state.tenant.users[100:400]]
    with gateway_for(emu) as gw:
        reset(emu)
        states, how = gw.read_states(wanted, tenant_size=2000)
    truth = truth_states(emu)
    assert states == {uid: truth[uid] for uid in wanted}
    counters = stats(emu)
    if served:
        assert how.as_dict() == {"path": FAST, "reason": None, "sampled": SAMPLE_SIZE, "disagreed": 0}
        assert counters["state_reads"] == SAMPLE_SIZE
        assert counters["user_listings"] == 300 // 15  # 15 ids per request (Graph's limit), batched
        assert counters["requests"] == 2  # one $batch of 20 filtered listings, one of the sample
    else:
        assert how.path == FALLBACK and counters["state_reads"] == 300


def test_a_large_set_reads_the_whole_listing_when_that_is_fewer_requests(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=700, seed=17)
    wanted = [u.id for u in emu.state.tenant.users[:650]]  # 3 $batch requests of filters, or 1 page
    with gateway_for(emu) as gw:
        reset(emu)
        states, how = gw.read_states(wanted, tenant_size=700)
    truth = truth_states(emu)
    assert how.path == FAST and states == {uid: truth[uid] for uid in wanted}
    counters = stats(emu)
    assert counters["user_listings"] == 1 and counters["state_reads"] == SAMPLE_SIZE  # 700 users in one page


def test_a_lagging_listing_never_answers_for_a_set(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=300, seed=18)
    change_everyone(emu)
    control(emu, "PATCH", "/config", {"bulk_mfa_state_stale": 300})
    wanted = [u.id for u in emu.state.tenant.users[:60]]
    with gateway_for(emu) as gw:
        states, how = gw.read_states(wanted, tenant_size=300)
    truth = truth_states(emu)
    assert how.path == FALLBACK and how.disagreed == SAMPLE_SIZE
    assert states == {uid: truth[uid] for uid in wanted}


def test_a_deleted_user_gets_the_documented_not_found(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=100, seed=19)
    ids = [u.id for u in emu.state.tenant.users[:30]]
    ghost = "00000000-0000-4000-8000-000000000000"
    with gateway_for(emu) as gw:
        states, how = gw.read_states([*ids, ghost], tenant_size=100)
    assert how.path == FAST
    assert getattr(states[ghost], "reason", None) == "not_found"
    assert all(isinstance(states[uid], str) for uid in ids)


def test_a_version_3_database_upgrades_and_its_snapshots_record_nothing(database_url: str) -> None:
    from lib.store import open_store
    from lib.store.migrations import MIGRATIONS

    with open_store(database_url, migrations=MIGRATIONS[:3]) as old:
        old.upsert_tenant("t-1", "Contoso", "contoso.example", "demo")
        earlier = old.begin_snapshot("t-1", "reports")
    with open_store(database_url) as upgraded:
        assert upgraded.schema_version == len(MIGRATIONS) >= 4
        assert upgraded.get_snapshot(earlier).state_read is None  # read before the console recorded it
