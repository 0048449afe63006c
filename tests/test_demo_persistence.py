"""The demo tenant survives a restart: what an admin changed and the demo clock are kept, in a JSON file that
cannot run code (a replaced or foreign file gives a fresh tenant)."""

from __future__ import annotations

import dataclasses
import json
import pickle
import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lib.emulator.clock import advance
from lib.emulator.generator import generate_tenant
from lib.emulator.persistence import keep_saved, load_tenant, save_tenant
from lib.emulator.tenant_file import tenant_from_json, tenant_to_json

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def test_saved_tenant_loads_back_with_its_changes(tmp_path: Path) -> None:
    tenant = generate_tenant(120, seed=4, now=NOW)
    user = next(u for u in tenant.users if u.kind == "person" and u.mfa_state == "disabled")
    tenant.set_mfa_state(user, "enabled", "admin@x")
    advance(tenant, timedelta(days=2))
    path = tmp_path / "demo.json"
    save_tenant(tenant, path)
    loaded = load_tenant(path)
    assert loaded is not None and loaded.now == NOW + timedelta(days=2)
    assert loaded.lookup(user.id).mfa_state == tenant.lookup(user.id).mfa_state
    assert [len(u.events) for u in loaded.users] == [len(u.events) for u in tenant.users]
    assert loaded.by_upn.keys() == tenant.by_upn.keys()


def test_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "demo.json"
    path.write_bytes(b"not a demo tenant")
    assert load_tenant(path) is None
    assert load_tenant(tmp_path / "missing.json") is None


def test_changes_are_saved_in_the_background(tmp_path: Path) -> None:
    tenant = generate_tenant(60, seed=5, now=NOW)
    path = tmp_path / "demo.json"
    stop = threading.Event()
    saver = threading.Thread(target=keep_saved, args=(tenant, path, stop, 0.02), kwargs={"saved": tenant.revision},
                             daemon=True)
    saver.start()
    try:
        user = next(u for u in tenant.users if u.kind == "person" and u.mfa_state == "disabled")
        tenant.set_mfa_state(user, "enforced", "admin@x")
        deadline = time.monotonic() + 5
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        saver.join(2)
    assert load_tenant(path).lookup(user.id).mfa_state == "enforced"


class _Ticks:
    """Stands in for the saver's stop event: each ``wait`` is one tick of ``every`` seconds on ``now``;
    ``on_tick`` sees what the saver did up to ``now`` and acts during the tick."""

    def __init__(self, ticks: int, on_tick) -> None:
        self.ticks, self.on_tick, self.now = ticks, on_tick, 0.0

    def wait(self, timeout: float) -> bool:
        self.on_tick(self)
        self.now += timeout
        self.ticks -= 1
        return self.ticks <= 0


def test_a_save_waits_while_requests_keep_coming_but_not_longer_than_its_limit(tmp_path: Path) -> None:
    tenant = generate_tenant(60, seed=5, now=NOW)
    path = tmp_path / "demo.json"
    user = next(u for u in tenant.users if u.kind == "person" and u.mfa_state == "disabled")
    busy, saved_at = [False], []

    def tick(ticks: _Ticks) -> None:
        if ticks.now == 5:
            tenant.set_mfa_state(user, "enforced", "admin@x")  # a change, then a snapshot's stream of reads
        busy[0] = ticks.now < 60
        if path.exists() and not saved_at:
            saved_at.append(ticks.now)

    ticks = _Ticks(20, tick)
    keep_saved(tenant, path, ticks, 5.0, tenant.revision, quiet=lambda _s: not busy[0], longest=30.0,
               clock=lambda: ticks.now)
    assert saved_at == [40.0]  # changed (and busy) from 10 s on: saved at its 30 s limit, not before
    assert load_tenant(path).lookup(user.id).mfa_state == "enforced"
    path.unlink()
    saved_at.clear()
    quiet = _Ticks(6, lambda t: None)
    tenant.set_mfa_state(user, "disabled", "admin@x")
    keep_saved(tenant, path, quiet, 5.0, tenant.revision - 1, clock=lambda: quiet.now)
    assert path.exists()  # no requests: saved at the first tick


def test_the_file_is_json_and_private(tmp_path: Path) -> None:
    tenant = generate_tenant(60, seed=6, now=NOW)
    path = tmp_path / "new-folder" / "demo.json"
    save_tenant(tenant, path)
    document = json.loads(path.read_bytes())
    assert (document["format"], document["version"]) == ("mfa-console-demo-tenant", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = load_tenant(path)
    assert dataclasses.asdict(loaded) == dataclasses.asdict(tenant)


class _Planted:
    """What a replaced file could hold: unpickling it would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "demo.json"
    path.write_bytes(pickle.dumps(_Planted(marker)))
    assert load_tenant(path) is None
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(_Planted(marker))) is None and marker.exists()  # the payload is real


@pytest.mark.parametrize("record", ["os.system", "Path", "object", "__builtins__"])
def test_a_record_of_any_other_class_is_refused(tmp_path: Path, record: str) -> None:
    tenant = generate_tenant(60, seed=6, now=NOW)
    document = json.loads(tenant_to_json(tenant))
    document["tenant"]["$record"] = record
    with pytest.raises(ValueError, match="not a demo tenant record"):
        tenant_from_json(json.dumps(document).encode())
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(document))
    assert load_tenant(path) is None


def test_an_untagged_object_inside_the_tenant_is_refused(tmp_path: Path) -> None:
    tenant = generate_tenant(60, seed=6, now=NOW)
    document = json.loads(tenant_to_json(tenant))
    document["tenant"]["values"][1] = {"name": "not a tagged value"}  # the tenant's name, now a bare object
    with pytest.raises(ValueError, match="untagged object"):
        tenant_from_json(json.dumps(document).encode())
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(document))
    assert load_tenant(path) is None
