"""The demo tenant survives a restart: what an admin changed and the demo clock are kept."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from lib.demo import _keep_saved, _load_tenant, save_tenant
from lib.emulator import model
from lib.emulator.clock import advance
from lib.emulator.generator import generate_tenant

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def test_saved_tenant_loads_back_with_its_changes(tmp_path: Path) -> None:
    tenant = generate_tenant(120, seed=4, now=NOW)
    user = next(u for u in tenant.users if u.kind == "person" and u.mfa_state == "disabled")
    tenant.set_mfa_state(user, "enabled", "admin@x")
    advance(tenant, timedelta(days=2))
    path = tmp_path / "demo.pickle"
    save_tenant(tenant, path)
    loaded = _load_tenant(path)
    assert loaded is not None and loaded.now == NOW + timedelta(days=2)
    assert loaded.lookup(user.id).mfa_state == tenant.lookup(user.id).mfa_state
    assert [len(u.events) for u in loaded.users] == [len(u.events) for u in tenant.users]
    assert loaded.by_upn.keys() == tenant.by_upn.keys()


def test_a_damaged_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "demo.pickle"
    path.write_bytes(b"not a pickle")
    assert _load_tenant(path) is None
    assert _load_tenant(tmp_path / "missing.pickle") is None


def test_changes_are_saved_in_the_background(tmp_path: Path) -> None:
    tenant = generate_tenant(60, seed=5, now=NOW)
    path = tmp_path / "demo.pickle"
    stop = threading.Event()
    saver = threading.Thread(target=_keep_saved, args=(tenant, path, stop, 0.02), daemon=True)
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
    assert _load_tenant(path).lookup(user.id).mfa_state == "enforced"


def test_a_file_saved_under_the_former_class_names_still_loads(tmp_path: Path) -> None:
    """Files written before the model's classes were renamed (``Tenant``, ``Wave``) keep their changes."""
    tenant = generate_tenant(60, seed=6, now=NOW)
    path = tmp_path / "demo.pickle"
    renamed = (("Tenant", model.SyntheticTenant), ("Wave", model.SyntheticWave))
    try:
        for old, cls in renamed:
            cls.__qualname__ = old
            setattr(model, old, cls)
        save_tenant(tenant, path)
    finally:
        for old, cls in renamed:
            cls.__qualname__ = cls.__name__
            delattr(model, old)
    assert b"SyntheticTenant" not in path.read_bytes() and b"Tenant" in path.read_bytes()
    loaded = _load_tenant(path)
    assert isinstance(loaded, model.SyntheticTenant) and loaded.by_id.keys() == tenant.by_id.keys()
    assert [type(w) for w in loaded.waves] == [model.SyntheticWave] * len(tenant.waves)
