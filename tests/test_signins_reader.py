"""The incremental sign-in reader against the demo tenant over HTTP, with SQLite and PostgreSQL stores:
the first read is bounded to 30 days, a later read fetches only the new pages (counted on the demo
tenant), a cancel keeps the finished windows, no P1 falls back, and the snapshot's own phase."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from lib.directory.refresh import refresh_snapshot
from lib.emulator.generator import demo_app, generate_tenant
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.tokens import mint_access_token
from lib.graph import CancelToken, GatewayOptions, GraphGateway, MsalClientCredential, RetryPolicy
from lib.signins import TenantEvidence, event_from_graph, fold
from lib.signins.reader import (
    NEEDS_P1,
    PATH_ACTIVITY,
    PATH_LOG,
    PATH_NONE,
    page_budget,
    read_sign_ins,
    window_size,
    windows,
)
from lib.signins.saved import load_evidence, read_saved_evidence
from lib.store import Store, open_store
from tests.test_rollout_support import control, gateway_for

NOW = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


def serve(premium: bool = True, **config: object) -> RunningEmulator:
    config.setdefault("throttle", False)
    tenant = generate_tenant(300, seed=5, premium=premium, now=NOW)
    return start_emulator(tenant, config=EmulatorConfig(**config))  # type: ignore[arg-type]


def whole_log(emu: RunningEmulator) -> list[dict]:
    """Every sign-in the demo tenant serves, read in one go (what the windows must add up to)."""
    app = demo_app(emu.state.tenant)
    token = mint_access_token(emu.state, app, app.permissions)[0]
    rows: list[dict] = []
    url: str | None = f"{emu.graph_url}/beta/auditLogs/signIns"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        while url:
            body = c.get(url).json()
            rows += body["value"]
            url = body.get("@odata.nextLink")
    return rows


def folded(rows: list[dict], now: datetime) -> TenantEvidence:
    events = [e for e in map(event_from_graph, rows) if e is not None]
    return fold(TenantEvidence(), events, read_until=max(e.at for e in events), now=now)


def requests(emu: RunningEmulator) -> int:
    return control(emu, "GET", "/stats")["requests"]


def store_for(database_url: str, emu: RunningEmulator) -> Store:
    store = open_store(database_url)
    store.upsert_tenant(emu.tenant_id, "Demo", "demo.example", "demo")
    return store


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


@pytest.fixture
def gateway(emu: RunningEmulator) -> Iterator[GraphGateway]:
    with gateway_for(emu) as gw:
        yield gw


def test_first_read_covers_30_days_and_the_evidence_survives_the_store(
        emu: RunningEmulator, gateway: GraphGateway, database_url: str) -> None:
    log = whole_log(emu)
    store = store_for(database_url, emu)
    before = requests(emu)
    windows_seen: list[tuple[int, int]] = []
    result = read_sign_ins(gateway, store, emu.tenant_id, now=NOW,
                           on_progress=lambda done, total: windows_seen.append((done, total)))
    assert (result.path, result.read, result.note) == (PATH_LOG, len(log), None)
    assert result.since == NOW - timedelta(days=30) and result.until == NOW
    assert windows_seen[0] == (0, 30) and windows_seen[-1] == (30, 30)
    assert requests(emu) - before == result.pages
    expected = folded(log, NOW)
    assert result.evidence.users == expected.users
    assert result.evidence.single_factor_by_day == expected.single_factor_by_day
    assert load_evidence(store, emu.tenant_id) is result.evidence  # kept as saved: the pages do not load it again
    assert open_store(database_url).schema_version == store.schema_version  # a second process reads it too
    assert read_saved_evidence(open_store(database_url), emu.tenant_id) == result.evidence
    assert result.summary()["window"] == {"since": "2026-10-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}


def test_a_later_read_fetches_only_the_new_pages(emu: RunningEmulator, gateway: GraphGateway,
                                                 tmp_path: object) -> None:
    store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
    first = read_sign_ins(gateway, store, emu.tenant_id, now=NOW)
    at_first = folded(whole_log(emu), NOW)
    control(emu, "POST", "/clock/advance", {"days": 1})
    later = NOW + timedelta(days=1)
    log = whole_log(emu)
    new = [row for row in log if row["createdDateTime"] >= "2026-11-20"]
    before = requests(emu)
    second = read_sign_ins(gateway, store, emu.tenant_id, now=later)
    assert second.read == len(new) > 100
    assert second.pages == math.ceil(len(new) / 1000) == requests(emu) - before  # one window, no re-reads
    assert second.since == first.evidence.read_until
    events = [e for e in map(event_from_graph, log) if e is not None]
    expected = fold(at_first, events, read_until=max(e.at for e in events), now=later)  # one fold, no windows
    assert load_evidence(store, emu.tenant_id).users == expected.users
    assert read_sign_ins(gateway, store, emu.tenant_id, now=later).read in (0, 1)  # nothing new (a boundary one)


def test_a_cancel_keeps_the_finished_windows_and_the_next_read_continues(
        emu: RunningEmulator, gateway: GraphGateway, tmp_path: object) -> None:
    store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
    cancel = CancelToken()

    def on_progress(done: int, total: int) -> None:
        if done == 3:
            cancel.cancel()

    stopped = read_sign_ins(gateway, store, emu.tenant_id, now=NOW, on_progress=on_progress, cancel=cancel)
    assert stopped.note is not None and stopped.note.startswith("cancelled: sign-ins read up to 24 Oct 00:00")
    assert load_evidence(store, emu.tenant_id).read_until == NOW - timedelta(days=27)
    rest = read_sign_ins(gateway, store, emu.tenant_id, now=NOW)
    assert rest.since == NOW - timedelta(days=27) and stopped.read + rest.read == len(whole_log(emu))
    assert load_evidence(store, emu.tenant_id).users == folded(whole_log(emu), NOW).users


def test_a_page_budget_stops_after_a_window_and_the_next_snapshot_continues(
        emu: RunningEmulator, gateway: GraphGateway, tmp_path: object) -> None:
    store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
    part = read_sign_ins(gateway, store, emu.tenant_id, now=NOW, catch_up_pages=4)
    assert part.pages == 4 and part.note is not None and "next snapshot continues" in part.note
    rest = read_sign_ins(gateway, store, emu.tenant_id, now=NOW)
    assert rest.since == part.until and part.read + rest.read == len(whole_log(emu))


def test_without_p1_the_read_says_so_and_falls_back_to_sign_in_activity(tmp_path: object) -> None:
    with serve(premium=False) as emu, gateway_for(emu) as gateway:
        store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
        bare = read_sign_ins(gateway, store, emu.tenant_id, now=NOW)
        assert bare.path == PATH_NONE and bare.note is not None and bare.note.startswith(NEEDS_P1)
        frame = refresh_snapshot(store, gateway, mode="demo", clock=lambda: NOW, sign_ins=False).read.frame
        assert frame["last_sign_in"].isna().all()  # no P1: the listing has no signInActivity either
        with_dates = frame.assign(last_sign_in=NOW - timedelta(days=2))
        fallback = read_sign_ins(gateway, store, emu.tenant_id, now=NOW, users=with_dates)
        assert fallback.path == PATH_ACTIVITY and fallback.users == len(frame)
        assert fallback.evidence.users[frame["id"][0]].last_sign_in == NOW - timedelta(days=2)
        assert load_evidence(store, emu.tenant_id) == TenantEvidence()  # nothing from a log that is not there


def test_the_snapshot_reads_sign_ins_as_its_own_phase(emu: RunningEmulator, gateway: GraphGateway,
                                                     tmp_path: object) -> None:
    store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
    phases: list[str] = []
    result = refresh_snapshot(store, gateway, mode="demo", clock=lambda: NOW, sign_in_pages=None,
                              on_phase=lambda phase, done, total: phases.append(phase))
    assert phases[-1] == "sign_ins" and "state" in phases
    assert result.sign_ins is not None and result.sign_ins.read == len(whole_log(emu))
    assert store.latest_snapshot(emu.tenant_id).status == "complete"


def test_a_failing_sign_in_read_does_not_fail_the_snapshot(emu: RunningEmulator, tmp_path: object) -> None:
    store = store_for(f"sqlite:///{tmp_path}/console.db", emu)
    control(emu, "PATCH", "/config", {"fault_rate": 1.0, "fault_kinds": ["html_502"], "fault_paths": ["/auditLogs"]})
    credential = MsalClientCredential(emu.client_id, emu.client_secret, emu.authority, ca_cert=emu.ca_cert)
    options = GatewayOptions(retry=RetryPolicy(max_attempts=2, backoff_base_s=0.0, backoff_max_s=0.0))
    with GraphGateway(emu.graph_url, credential, options=options) as gateway:
        result = refresh_snapshot(store, gateway, mode="demo", clock=lambda: NOW)
    assert store.latest_snapshot(emu.tenant_id).status == "complete"
    assert result.sign_ins is not None and result.sign_ins.path == PATH_NONE
    assert result.sign_ins.note is not None and result.sign_ins.note.startswith("sign-in evidence not read: ")
    assert "Traceback" not in result.sign_ins.note


def test_windows_are_a_day_for_a_large_log_and_longer_for_a_small_one() -> None:
    since = NOW - timedelta(days=30)
    assert len(windows(since, NOW, window_size(TenantEvidence(), 100_000))) == 30  # ~67k a day: a day each
    assert len(windows(since, NOW, window_size(TenantEvidence(), 10_000))) == 10  # ~6,700 a day: 3 days each
    assert windows(since, NOW, window_size(TenantEvidence(), 1_000)) == [(since, NOW)]  # ~670 a day: one
    assert windows(since, NOW, window_size(TenantEvidence(), 0)) == windows(since, NOW, timedelta(days=1))
    day_and_a_bit = windows(NOW, NOW + timedelta(days=1, minutes=7), timedelta(days=1))
    assert day_and_a_bit == [(NOW, NOW + timedelta(days=1, minutes=7))]  # not a second request for 7 minutes
    assert windows(NOW, NOW) == []


def _evidence_of(days: int, per_day: int, read_until: datetime) -> TenantEvidence:
    """A large tenant's evidence that covers only its first ``days`` days so far (1,000 users)."""
    from lib.signins.evidence import DayCount, UserEvidence

    first = (read_until - timedelta(days=days)).date()
    user = UserEvidence(days={first + timedelta(days=n): DayCount(total=per_day // 1000) for n in range(days)})
    return TenantEvidence(users={f"u{n}": user for n in range(1000)}, read_until=read_until)


def test_a_partly_read_log_is_measured_over_the_days_it_covers() -> None:
    # Two days of a 67k-a-day log read so far: still a day a window (not 30 days' worth spread thin, which
    # would make the next window 4.5 days and 300 pages, past any snapshot's budget).
    evidence = _evidence_of(2, 67_000, NOW - timedelta(days=28))
    assert window_size(evidence, 100_000) == timedelta(days=1)
    assert window_size(_evidence_of(2, 6_000, NOW), 10_000) == timedelta(days=20_000 / 6_000)


def test_a_snapshot_reads_what_the_log_gained_since_the_last_read_and_some_older() -> None:
    evidence = _evidence_of(30, 67_000, NOW)
    assert page_budget(evidence, 100_000, NOW + timedelta(days=1), 10) == 10 + 67  # a day: 67 pages, kept pace
    assert page_budget(evidence, 100_000, NOW + timedelta(days=7), 10) == 10 + 469
    assert page_budget(evidence, 100_000, NOW, 10) == 10
    assert page_budget(TenantEvidence(), 100_000, NOW, 10) == 10  # a new tenant's month: caught up bit by bit
