"""Enforce previews that warn per user, wave readiness and "Promote to Enforced" ready first, against the
demo tenant over HTTP: the expected clients and dates are read from the demo tenant's own sign-in log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from lib import console, rollout
from lib.directory.refresh import refresh_snapshot
from lib.emulator.generator import generate_tenant
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from lib.graph import GraphGateway
from lib.rollout import app_actor_from_token
from lib.signins import is_legacy_client
from lib.signins.reader import NEEDS_P1
from lib.signins.readiness import legacy_warning
from lib.store import open_store
from tests.test_rollout_execute import FAST
from tests.test_rollout_support import control, gateway_for
from tests.test_signins_reader import whole_log

NOW = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


@dataclass
class Demo:
    emu: RunningEmulator
    gateway: GraphGateway
    ws: console.Workspace

    @property
    def tenant_id(self) -> str:
        return self.emu.tenant_id

    def frame(self) -> pd.DataFrame:
        return self.ws.store.load_users(self.tenant_id)

    def snapshot(self) -> None:
        refresh_snapshot(self.ws.store, self.gateway, mode="demo", clock=self.ws.clock, sign_in_pages=None)


def _demo(database_url: str, premium: bool = True) -> Iterator[Demo]:
    emu = start_emulator(generate_tenant(300, seed=5, premium=premium, now=NOW),
                         config=EmulatorConfig(throttle=False))
    gateway = gateway_for(emu)
    store = open_store(database_url, clock=lambda: emu.state.tenant.now)  # the demo tenant's time, as the app
    store.upsert_tenant(emu.tenant_id, "Demo", "demo.example", "demo")
    actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
    demo = Demo(emu, gateway, console.Workspace(store, gateway, emu.tenant_id, actor))
    demo.snapshot()
    try:
        yield demo
    finally:
        gateway.close()
        store.close()
        emu.stop()


@pytest.fixture
def demo(database_url: str) -> Iterator[Demo]:
    yield from _demo(database_url)


def last_legacy(log: list[dict], since: datetime) -> dict[str, dict[str, datetime]]:
    """User id → legacy client → the newest attempt at or after ``since`` (failed attempts count)."""
    out: dict[str, dict[str, datetime]] = {}
    for row in log:
        at = datetime.fromisoformat(row["createdDateTime"][:26] + "+00:00")
        if is_legacy_client(row["clientAppUsed"]) and at >= since:
            seen = out.setdefault(row["userId"], {})
            seen[row["clientAppUsed"]] = max(seen.get(row["clientAppUsed"], at), at)
    return out


def people(frame: pd.DataFrame, **where: Any) -> pd.DataFrame:
    mask = (frame["account_kind"] == "person") & frame["account_enabled"] & ~frame["is_guest"] & ~frame["is_admin"]
    for name, value in where.items():
        mask &= frame[name] == value
    return frame[mask]


def test_an_enforce_preview_names_each_legacy_client_user_with_the_client_and_the_date(demo: Demo) -> None:
    frame = demo.frame()
    legacy = last_legacy(whole_log(demo.emu), NOW - timedelta(days=30))
    candidates = people(frame, state="disabled")
    with_legacy = [u for u in candidates["id"] if u in legacy][:3]
    without = [u for u in candidates["id"] if u not in legacy][:2]
    assert len(with_legacy) == 3 and len(without) == 2
    preview = console.preview_change(demo.ws, frame, with_legacy + without, "enforced")
    assert preview.change_ids == with_legacy + without
    expected = [(uid, client, pd.Timestamp(at), legacy_warning(client, at))
                for uid in with_legacy for client, at in sorted(legacy[uid].items(), key=lambda kv: kv[1],
                                                                 reverse=True)]
    assert [(r.user_id, r.client, r.last_used, r.note) for r in preview.notes.itertuples()] == expected
    (warning,) = [w for w in preview.warnings if w.code == "legacy_clients"]
    assert (warning.count, set(warning.user_ids)) == (3, set(with_legacy))
    assert [w["user_id"] for w in preview.summary()["user_warnings"]] == [e[0] for e in expected]
    csv = preview.to_csv().decode("utf-8-sig")
    assert all(e[3] in csv for e in expected)


def test_an_enable_warns_about_the_registered_users_entra_makes_enforced(demo: Demo) -> None:
    frame = demo.frame()
    legacy = last_legacy(whole_log(demo.emu), NOW - timedelta(days=30))
    registered = [u for u in people(frame, state="disabled", registered=True)["id"] if u in legacy][:1]
    unregistered = [u for u in people(frame, state="disabled", registered=False)["id"] if u in legacy][:1]
    preview = console.preview_change(demo.ws, frame, registered + unregistered, "enabled")
    assert dict(zip(preview.changes["user_id"], preview.changes["expected"], strict=True)) == {
        registered[0]: "enforced", unregistered[0]: "enabled"}
    assert set(preview.notes["user_id"]) == set(registered)


def _stays_enabled_wave(demo: Demo, ids: list[str], name: str) -> rollout.Wave:
    """Registered members left Enabled (disabled by an admin since registering, then enabled as a wave)."""
    demo.gateway.write_mfa_states(dict.fromkeys(ids, "enforced"))
    demo.gateway.write_mfa_states(dict.fromkeys(ids, "disabled"))
    frame = demo.frame()
    operation_id = console.start_change(demo.ws, console.preview_change(demo.ws, frame, ids, "enabled"), wave=name,
                                        options=FAST)
    assert rollout.wait_operation(operation_id, 60)
    return rollout.get_wave(demo.ws.store, demo.tenant_id, name)


def test_promotion_proposes_the_ready_members_first_and_lists_the_rest_with_their_reasons(demo: Demo) -> None:
    frame = demo.frame()
    legacy_before = last_legacy(whole_log(demo.emu), NOW - timedelta(days=30))
    pool = people(frame, registered=True)  # whatever their state: the wave leaves them Enabled
    frequent = {u.id for u in demo.emu.state.tenant.users if u.sign_in_rate >= 0.5}
    legacy_ids = [u for u in pool["id"] if u in legacy_before and u in frequent][:2]
    clean_ids = [u for u in pool["id"] if u not in legacy_before and u in frequent][:3]
    assert len(legacy_ids) == 2 and len(clean_ids) == 3
    wave = _stays_enabled_wave(demo, legacy_ids + clean_ids, "Wave L: legacy")
    control(demo.emu, "POST", "/clock/advance", {"days": 15})  # Enabled and registered: MFA at every sign-in
    demo.snapshot()
    frame = demo.frame()
    assert set(frame.set_index("id").loc[legacy_ids + clean_ids, "state"]) == {"enabled"}
    now = demo.emu.state.tenant.now
    recent = last_legacy(whole_log(demo.emu), now - timedelta(days=14))
    assert set(recent) & set(legacy_ids + clean_ids) == set(legacy_ids)  # their old client kept trying

    ready = console.wave_readiness(demo.ws, frame, wave.id)
    assert (ready.ready, ready.to_enforce, ready.message) == (3, 5, None)
    reasons = {uid: "; ".join(legacy_warning(c, at) for c, at in sorted(recent[uid].items(), key=lambda kv: kv[1],
                                                                         reverse=True)) for uid in legacy_ids}
    assert dict(zip(ready.not_ready["user_id"], ready.not_ready["reasons"], strict=True)) == reasons

    preview = console.preview_wave_enforcement(demo.ws, frame, wave.id)
    assert sorted(preview.change_ids) == sorted(clean_ids) and preview.source == "wave_promotion"
    held = preview.skipped.set_index("user_id")
    assert sorted(held.index) == sorted(legacy_ids) and set(held["code"]) == {"not_ready"}
    assert {uid: held.at[uid, "reason"] for uid in legacy_ids} == {
        uid: f"not ready to enforce: {text}" for uid, text in reasons.items()}
    assert preview.skip_counts() == {"not_ready": 2} and preview.notes.empty

    everyone = console.preview_wave_enforcement(demo.ws, frame, wave.id, include_not_ready=True)
    assert sorted(everyone.change_ids) == sorted(legacy_ids + clean_ids) and everyone.skipped.empty
    assert sorted(set(everyone.notes["user_id"])) == sorted(legacy_ids)
    assert [w.count for w in everyone.warnings if w.code == "legacy_clients"] == [2]


def test_without_p1_the_preview_says_the_sign_in_log_could_not_be_checked(database_url: str) -> None:
    for demo in _demo(database_url, premium=False):
        frame = demo.frame()
        ids = people(frame, state="disabled")["id"].tolist()[:2]
        preview = console.preview_change(demo.ws, frame, ids, "enforced")
        (warning,) = [w for w in preview.warnings if w.code == "legacy_unchecked"]
        assert warning.count == 2 and warning.message.startswith(
            f"The sign-in log could not be checked for legacy clients: {NEEDS_P1}")
        assert preview.notes.empty
        assert [w.code for w in console.preview_change(demo.ws, frame, ids, "enabled").warnings
                if w.code.startswith("legacy")] == []  # nobody left Enforced: nothing to check
