"""One clock in demo mode: everything the console stamps reads the demo tenant's simulated time.

Unit tests drive :class:`lib.clock.SimulatedClock` with a hand-moved tenant time and real-time counter;
the integration test runs the demo tenant over HTTP with a real store (SQLite and PostgreSQL) and
launches one wave before advancing the demo clock a week and one after.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from lib import console, rollout
from lib.cli import main
from lib.clock import SimulatedClock, instant_ns
from lib.connect import demo_clock
from lib.demo import DemoTenant, advance_demo_clock, tenant_clock
from lib.directory.refresh import refresh_snapshot
from lib.emulator.generator import demo_public_app
from lib.progress import funnel_over_time, user_progress, wave_summary
from lib.rollout.actor import app_actor_from_token
from lib.store import open_store
from lib.ui.demo_clock import moved_note
from tests.test_rollout_execute import FAST
from tests.test_rollout_support import control, gateway_for

T = datetime(2031, 5, 4, 0, 0, tzinfo=timezone.utc)


class Manual:
    """A value a test moves by hand (the tenant's time, or the real-time counter)."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __call__(self) -> object:
        return self.value


def test_the_simulated_clock_runs_on_in_real_time_and_jumps_with_the_tenant() -> None:
    tenant, wall = Manual(T), Manual(100.0)
    clock = SimulatedClock(tenant, wall=wall)  # type: ignore[arg-type]
    assert clock() == T
    wall.value = 130.5
    assert clock() == T + timedelta(seconds=30.5)
    assert clock.catch_up() == timedelta(seconds=30.5)
    tenant.value = T + timedelta(days=7)  # the tenant's clock advanced: the reading follows it at once
    assert clock() == T + timedelta(days=7)
    wall.value = 190.5
    assert clock() == T + timedelta(days=7, seconds=60)


def test_the_simulated_clock_never_runs_backwards() -> None:
    tenant, wall = Manual(T), Manual(0.0)
    clock = SimulatedClock(tenant, wall=wall)  # type: ignore[arg-type]
    assert clock() == T
    wall.value = 3 * 3600.0
    ahead = clock()
    assert ahead == T + timedelta(hours=3)
    tenant.value = T + timedelta(hours=1)  # a jump shorter than the real time that passed
    assert clock() == ahead
    wall.value += 7200.0
    assert clock() == T + timedelta(hours=3)  # held until the tenant's time catches up
    wall.value += 60.0
    assert clock() == T + timedelta(hours=1, seconds=7260)


def test_instants_are_nanoseconds_since_the_epoch() -> None:
    moment = datetime(2031, 5, 4, 12, 30, 15, 250_000, tzinfo=timezone.utc)
    assert instant_ns(moment) == pd.Timestamp(moment).value
    with pytest.raises(ValueError, match="time zone"):
        instant_ns(datetime(2031, 5, 4))


# --- the demo tenant, end to end -----------------------------------------------------------------


@pytest.fixture
def demo(make_emulator) -> Iterator[DemoTenant]:
    emulator = make_emulator(users=240, seed=5)
    control(emulator, "POST", "/clock/advance", {"days": 40})  # demo time well apart from the wall clock
    yield DemoTenant(emulator, demo_public_app(emulator.state.tenant).client_id, tenant_clock(emulator))


def _near(stamp: object, moment: datetime, slack: timedelta = timedelta(minutes=5)) -> bool:
    """``stamp`` at ``moment`` or up to ``slack`` later (the demo time runs on in real time)."""
    value = pd.Timestamp(stamp).to_pydatetime()
    return moment <= value <= moment + slack


def _launch(ws: console.Workspace, frame: pd.DataFrame, name: str, count: int) -> rollout.Wave:
    f = frame
    ids = f.loc[(f["account_kind"] == "person") & f["account_enabled"] & ~f["is_guest"] & (f["state"] == "disabled")
                & ~f["registered"], "id"].tolist()[:count]
    assert len(ids) == count
    preview = console.preview_change(ws, f, ids, "enabled")
    assert _near(preview.created_at, ws.clock() - timedelta(minutes=1))
    operation_id = console.start_change(ws, preview, wave=name, options=FAST)
    assert rollout.wait_operation(operation_id, 120)
    return rollout.get_wave(ws.store, ws.tenant_id, name)


def test_waves_launched_before_and_after_a_week_on_the_demo_clock(demo: DemoTenant, database_url: str) -> None:
    start = demo.emulator.state.tenant.now
    assert abs(start - datetime.now(timezone.utc)) > timedelta(days=30)
    gateway = gateway_for(demo.emulator)
    store = open_store(database_url, clock=demo.now)
    try:
        actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
        first = refresh_snapshot(store, gateway, mode="demo")  # stamped by the store's clock
        tenant = first.read.tenant_id
        ws = console.Workspace(store, gateway, tenant, actor)
        assert ws.clock is store.clock
        assert _near(store.latest_snapshot(tenant).started_at, start)

        before = _launch(ws, store.load_users(tenant), "Wave A: before the week", 30)
        assert _near(before.launched_at, start)
        operation = rollout.get_operation(store, before.operation_id)
        for stamp in (operation.created_at, operation.started_at, operation.finished_at):
            assert _near(stamp, start), stamp
        events = rollout.item_events(store, before.operation_id)
        assert len(events) and all(_near(at, start) for at in events["at"])
        items = rollout.operation_items_frame(store, before.operation_id)
        assert all(_near(at, start) for at in items["finished_at"])

        moved = advance_demo_clock(demo, 7)
        week_later = start + timedelta(days=7)
        assert week_later <= demo.emulator.state.tenant.now < week_later + timedelta(minutes=5)
        assert moved["registered"] > 0
        refresh_snapshot(store, gateway, mode="demo")
        second = store.latest_snapshot(tenant)
        assert _near(second.started_at, demo.emulator.state.tenant.now)

        after = _launch(ws, store.load_users(tenant), "Wave B: after the week", 20)
        assert _near(after.launched_at, demo.emulator.state.tenant.now)
        assert after.launched_at > second.started_at
        refresh_snapshot(store, gateway, mode="demo")
        latest = store.latest_snapshot(tenant)
        users = store.load_users(tenant)
        as_of = pd.Timestamp(latest.state_read_at or latest.started_at)
        times = [s.started_at for s in store.list_snapshots(tenant) if s.status == "complete"]

        summaries = {}
        for wave in (before, after):
            ids = rollout.wave_member_ids(store, wave.id)
            versions = store.versions_for_users(tenant, ids)
            progress = user_progress(users, versions, ids, as_of, wave=wave.name)
            summaries[wave.name] = wave_summary(versions, ids, wave.launched_at, as_of, progress)
            funnel = funnel_over_time(versions, ids, wave.launched_at, as_of, snapshot_times=times)
            assert len(funnel) >= 1, wave.name  # a chart with points, on the demo tenant's days
            assert funnel["as_of"].min() >= wave.launched_at.normalize()
            assert funnel["as_of"].max() <= as_of
        old, new = summaries[before.name], summaries[after.name]
        assert old.days_since_launch == 7
        assert old.registered_after_launch > 0 and old.pct_registered > 0
        assert new.days_since_launch == 0
        assert new.projection.remaining > 0 and new.projection.at is None
        assert not new.projection.reason.startswith("complete")
    finally:
        gateway.close()
        store.close()


def test_the_cli_stamps_by_the_demo_tenants_clock(demo: DemoTenant, tmp_path, capsys) -> None:
    graph, key = demo.emulator.graph_url, demo.emulator.control_key
    reading = demo_clock(graph, key)
    assert reading is not None and _near(reading(), demo.emulator.state.tenant.now)
    assert demo_clock(graph, "a key from an earlier run") is None
    assert demo_clock("https://graph.microsoft.com", key) is None  # a real tenant: real time
    db = f"sqlite:///{tmp_path / 'console.db'}"
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": graph, "control_key": key}))
    base = ["snapshot", "--graph", graph, "--emulator-info", str(info), "--db", db]
    assert main(base) == 0
    first = json.loads(capsys.readouterr().out)
    control(demo.emulator, "POST", "/clock/advance", {"days": 3})
    assert main(base) == 0
    capsys.readouterr()
    with open_store(db) as store:
        taken = [s for s in store.list_snapshots(first["tenant_id"]) if s.status == "complete"]
    assert len(taken) == 2
    assert _near(taken[0].started_at, demo.emulator.state.tenant.now - timedelta(days=3))
    assert _near(taken[1].started_at, demo.emulator.state.tenant.now)


def test_the_clock_note_sums_the_days_in_words() -> None:
    day = {"signed_in": 2, "registered": 1, "enforced": 1}
    assert moved_note(7, [day] * 7) == (
        "Moved the demo clock a week: 14 sign-ins, 7 registrations, 7 users became Enforced; the console took a "
        "snapshot at the end of each of the 7 days.")
    assert moved_note(1, [{"signed_in": 1, "registered": 1, "enforced": 1}]) == (
        "Moved the demo clock a day: 1 sign-in, 1 registration, 1 user became Enforced; the console took a snapshot.")
