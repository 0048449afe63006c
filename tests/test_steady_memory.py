"""Steady memory: no cache grows with the snapshots, and an old snapshot's frames are let go.

Counted, not measured: each cache says how many entries it keeps (``lib.store.memo``), and after many
snapshots (taken by the real background job against the demo tenant over HTTP, stored in a real SQLite
file or PostgreSQL database) every count is at its bound, whatever the number of snapshots.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib import overview as overviews
from lib import rollout
from lib.demo import app_gateway, demo_tenant, tenant_clock
from lib.jobs import start_refresh
from lib.overview import baseline_snapshot_id, cache_entries, overview, wait_for_baselines
from lib.scope import DEFAULT_SCOPE, Scope
from lib.settings import Settings, load_settings
from lib.store import open_store
from lib.store.memo import LatestMemo, Memo, cache_sizes
from lib.store.store import FRAMES_KEPT
from lib.ui.snapshot_views import VIEWS_PER_SNAPSHOT, views_held
from tests.test_rollout_support import control, gateway_for
from tests.ui_fixtures import ADMIN, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

EVERYONE = Scope(include_disabled_accounts=True, include_guests=True)


# --- the caches themselves -----------------------------------------------------------------------


def test_a_latest_memo_keeps_the_newest_snapshot_of_each_slot_only() -> None:
    memo: LatestMemo[str] = LatestMemo("test views", per_version=3, slots=2)
    builds: list[tuple] = []

    def build(*what: object):
        return lambda: builds.append(what) or f"{what}"

    for snapshot in range(1, 21):  # 20 snapshots, three views of each
        for view in ("a", "b", "c"):
            assert memo.get("tenant", snapshot, view, build(snapshot, view)) == f"{(snapshot, view)}"
            memo.get("tenant", snapshot, view, build("again"))  # kept: not built twice
        assert memo.held("tenant") == 3 and memo.version("tenant") == snapshot
    assert len(builds) == 60 and ("again",) not in builds
    assert cache_sizes()["test views"] == 3

    assert memo.get("tenant", 19, "a", build("older")) == "('older',)"  # an older snapshot: built, not kept
    assert memo.held("tenant") == 3 and memo.version("tenant") == 20
    memo.get("tenant", 20, "d", build(20, "d"))  # a fourth view: the least used goes
    assert memo.held("tenant") == 3
    for slot in ("other", "third"):  # two slots at most: the least used tenant goes
        memo.get(slot, 1, "a", build(slot))
    assert memo.held("tenant") == 0 and len(memo) == 2


def test_a_memo_builds_a_key_once_when_sessions_ask_at_the_same_time() -> None:
    memo: Memo[int] = Memo(2, name="test single flight")
    started, release, builds = threading.Event(), threading.Event(), []

    def build() -> int:
        builds.append(1)
        started.set()
        assert release.wait(30)
        return 7

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(memo.get("k", build))) for _ in range(4)]
    threads[0].start()
    assert started.wait(30)
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(30)
    assert results == [7, 7, 7, 7] and builds == [1]


# --- the store, the overview and the refresh job over many snapshots ----------------------------


def test_after_many_snapshots_every_cache_is_at_its_bound(make_emulator, database_url: str) -> None:
    emulator = make_emulator(users=300, seed=21)
    gateway = gateway_for(emulator)
    store = open_store(database_url, clock=tenant_clock(emulator))  # snapshots a simulated day apart
    days = 9  # more than a week: the overview then compares with a week-ago snapshot, read in the background

    def next_day() -> dict:
        return control(emulator, "POST", "/clock/advance", {"days": 1})

    try:
        job = start_refresh(store, lambda: gateway, emulator.tenant_id, mode="demo", before_each=[next_day] * days,
                            step_name="Day")
        seen: list[int] = []
        while not job.wait(0.05):  # each snapshot read by every view as it lands, as open pages would
            latest = store.latest_snapshot(emulator.tenant_id)
            if latest is not None and latest.id not in seen:
                seen.append(latest.id)
                _read_everything(store, latest)
        assert not job.error, job.error
        latest = store.latest_snapshot(emulator.tenant_id)
        _read_everything(store, latest)
        complete = [s.id for s in store.list_snapshots(emulator.tenant_id) if s.status == "complete"]
        assert len(complete) == days and job.snapshot_id == latest.id

        held = store.memory()
        assert held["users frames"] <= FRAMES_KEPT == 2, held  # the latest and the one it is compared with
        assert held["daily aggregates"] == 1 and held["latest state"] == 1, held
        assert store.holds_users(emulator.tenant_id, latest.id)
        baseline = baseline_snapshot_id(store.daily_aggregates(emulator.tenant_id), latest)
        assert baseline is not None and baseline < complete[-2]  # a week back: older than the day before
        older = [old for old in complete[:-1] if store.holds_users(emulator.tenant_id, old)]
        assert older == [baseline], older  # of the older snapshots, only the one the overview compares with
        kept = cache_entries(store, emulator.tenant_id)
        # two scopes of the latest snapshot only, each drawn before and after its week-ago snapshot was read
        assert kept["overviews"] <= 4 and kept["baseline reads"] <= 1, kept
        assert not hasattr(job, "result")  # the job keeps the outcome, not the read (a frame of every user)
    finally:
        gateway.close()
        overviews.clear_cache()
        store.close()


def _read_everything(store, snapshot) -> None:
    """What the pages read of a snapshot: its users, the trend, the overview in two scopes (with deltas)."""
    store.load_users(snapshot.tenant_id)
    store.daily_aggregates(snapshot.tenant_id)
    for scope in (DEFAULT_SCOPE, EVERYONE):
        overview(store, snapshot, scope, wait_for_baseline=False)
    wait_for_baselines()
    for scope in (DEFAULT_SCOPE, EVERYONE):
        overview(store, snapshot, scope, wait_for_baseline=False)


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Iterator[Settings]:
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    yield load_settings({}, os.environ)


def test_the_pages_keep_the_views_of_the_latest_snapshot_only(fresh_settings: Settings) -> None:
    demo = demo_tenant(fresh_settings)
    tenant = demo.emulator.tenant_id
    at = new_app(fresh_settings, ADMIN, "pages/progress.py")
    store = open_store(fresh_settings.database_url, clock=demo.now)
    try:
        waves = len(rollout.list_waves(store, tenant))
        assert waves >= 1
        for _ in range(3):  # a snapshot, then the Users page and the progress page, three times
            job = start_refresh(store, lambda: app_gateway(demo.emulator), tenant, mode="demo")
            assert job.wait(120) and not job.error, job.error
            for page in ("pages/users.py", "pages/progress.py"):
                at.switch_page(page)
                at.run()
                assert not at.exception, [e.value for e in at.exception]
            snapshot, held = views_held(fresh_settings.database_url, tenant)
            assert snapshot == store.latest_snapshot(tenant).id  # the newest snapshot's views, no older one's
            assert held == waves + 2 <= VIEWS_PER_SNAPSHOT, held  # each wave's, the snapshot times, the users table
    finally:
        store.close()
