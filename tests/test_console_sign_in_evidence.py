"""The use case pages read sign-in evidence through: not read yet, read (kept once per read), and no P1."""

from __future__ import annotations

from datetime import datetime

from lib.console import Workspace
from lib.console.sign_in_evidence import NOT_READ_YET, evidence_frame, sign_in_evidence, sign_in_overview
from lib.directory.refresh import refresh_snapshot
from lib.scope import DEFAULT_SCOPE, Scope, scope_mask
from lib.signins.columns import EVIDENCE_COLUMNS
from lib.signins.figures import sign_in_figures
from lib.signins.reader import NEEDS_P1
from lib.store import open_store
from tests.test_rollout_support import gateway_for
from tests.test_signins_reader import serve, store_for

NOW = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


def test_before_the_first_read_the_evidence_says_what_will_fill_it(tmp_path: object) -> None:
    with serve() as emu:
        store = open_store(f"sqlite:///{tmp_path}/console.db", clock=lambda: NOW)
        store.upsert_tenant(emu.tenant_id, "Demo", "demo.example", "demo")
        seen = sign_in_evidence(Workspace(store, None, emu.tenant_id, None))
        assert (seen.has_log, seen.message, seen.read_at, len(seen.evidence.users)) == (False, NOT_READ_YET, None, 0)


def test_after_a_snapshot_the_evidence_is_the_stored_one_and_is_kept_per_read(tmp_path: object) -> None:
    with serve() as emu, gateway_for(emu) as gateway:
        url = f"sqlite:///{tmp_path}/console.db"
        refresh_snapshot(store_for(url, emu), gateway, mode="demo", clock=lambda: NOW, sign_in_pages=None)
        ws = Workspace(open_store(url, clock=lambda: NOW), None, emu.tenant_id, None)  # as another process
        first = sign_in_evidence(ws, ws.store.latest_snapshot(emu.tenant_id))
        assert first.has_log and first.message is None and first.read_at is not None
        assert len(first.evidence.users) > 100
        assert sign_in_evidence(ws).evidence is first.evidence  # one load per read, shared


def test_without_p1_the_status_says_the_log_needs_it(tmp_path: object) -> None:
    with serve(premium=False) as emu, gateway_for(emu) as gateway:
        store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
        refresh_snapshot(store, gateway, mode="demo", clock=lambda: NOW)
        ws = Workspace(store, None, emu.tenant_id, None)
        seen = sign_in_evidence(ws, store.latest_snapshot(emu.tenant_id))
        assert not seen.has_log and seen.message is not None and seen.message.startswith(NEEDS_P1)


def test_the_overview_figures_are_the_scoped_users_and_kept_per_read_and_scope(tmp_path: object) -> None:
    with serve() as emu, gateway_for(emu) as gateway:
        url = f"sqlite:///{tmp_path}/console.db"
        refresh_snapshot(store_for(url, emu), gateway, mode="demo", clock=lambda: NOW, sign_in_pages=None)
        ws = Workspace(open_store(url, clock=lambda: NOW), None, emu.tenant_id, None)
        snapshot = ws.store.latest_snapshot(emu.tenant_id)
        frame = ws.store.load_users(emu.tenant_id, snapshot.id)
        section = sign_in_overview(ws, snapshot, DEFAULT_SCOPE)
        seen = section.seen
        ids = frame.loc[scope_mask(frame, DEFAULT_SCOPE).to_numpy(), "id"].astype(str).tolist()
        want = sign_in_figures(seen.evidence, seen.as_of, ids)
        got = section.figures
        assert got is not None and (section.users, section.tenant_users) == (len(ids), len(frame))
        assert (got.single_factor, got.sign_ins, got.mfa, got.legacy_user_ids) == (
            want.single_factor, want.sign_ins, want.mfa, want.legacy_user_ids)
        assert got.single_factor > 0 and not section.whole_tenant
        assert sign_in_overview(ws, snapshot, DEFAULT_SCOPE).figures is got  # kept
        everyone = Scope(include_disabled_accounts=True, include_service=True, include_shared=True,
                         include_protected=True)
        wide = sign_in_overview(ws, snapshot, everyone)
        assert wide.whole_tenant and wide.figures is not got and wide.figures.sign_ins >= got.sign_ins
        joined = evidence_frame(seen, frame)
        assert list(joined.columns) == [*frame.columns, *EVIDENCE_COLUMNS] and len(joined) == len(frame)


def test_before_the_first_read_the_overview_has_no_figures_and_the_frame_no_columns(tmp_path: object) -> None:
    with serve() as emu, gateway_for(emu) as gateway:
        store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
        refresh_snapshot(store, gateway, mode="demo", clock=lambda: NOW, sign_ins=False)
        ws = Workspace(store, None, emu.tenant_id, None)
        snapshot = store.latest_snapshot(emu.tenant_id)
        section = sign_in_overview(ws, snapshot, DEFAULT_SCOPE)
        assert (section.figures, section.seen.message, section.seen.as_of) == (None, NOT_READ_YET, None)
        frame = store.load_users(emu.tenant_id, snapshot.id)
        assert evidence_frame(section.seen, frame) is frame
