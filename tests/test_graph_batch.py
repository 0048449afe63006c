"""lib.graph.batch: the $batch executor against the demo tenant over real HTTP, faults and throttling on."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lib.emulator.graph_api import emulator_stats
from lib.emulator.server import RunningEmulator
from lib.emulator.throttle import IDENTITY, REPORT, WRITE, get_throttle
from lib.graph import (
    AsyncGraph,
    BatchExecutor,
    BatchItem,
    CancelToken,
    GraphServerError,
    GraphUnavailable,
    OperationCancelled,
    Progress,
    RetryPolicy,
    StaticTokenCredential,
    Throttle,
    Unauthorized,
)
from tests.conftest import emulator_config
from tests.test_graph_gateway import FAST_RETRY, FORGED, gateway

NOBODY = "00000000-0000-0000-0000-000000000000"
REPORT_ITEM = "/reports/authenticationMethods/userRegistrationDetails/{}"


def owe(emu: RunningEmulator, bucket: str, units: float) -> None:
    """Leave the app's bucket ``units`` in debt (0: just empty) until its first request, which meets a 429.

    The bucket holds the debt however long the setup takes, then refills from that request on.
    """
    throttle = get_throttle(emu.state)
    throttle.drain(emu.client_id, bucket, -units, hold=True)
    assert throttle.level(emu.client_id, bucket) == -units


def mfa_items(ids: list[str]) -> list[BatchItem]:
    return [BatchItem(uid, "GET", f"/users/{uid}/authentication/requirements") for uid in ids]


class Recorder:
    """A BatchTransport that sends through the real gateway and notes when each item went and came back."""

    def __init__(self, graph: AsyncGraph) -> None:
        self.graph = graph
        self.sends: list[tuple[float, float, list[tuple[str, str]], dict[str, Any]]] = []

    def batch_url(self, version: str) -> str:
        return self.graph.batch_url(version)

    async def post_batch(self, version: str, payload: bytes) -> httpx.Response:
        sent = time.monotonic()
        items = [(r["id"], r["url"]) for r in json.loads(payload)["requests"]]
        response = await self.graph.post_batch(version, payload)
        answers = {a["id"]: a for a in response.json()["responses"]} if response.status_code == 200 else {}
        self.sends.append((sent, time.monotonic(), items, answers))
        return response


# ------------------------------------------------------------------- faults + throttling change nothing

def test_faults_and_throttling_change_no_result(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=1200, seed=5, config=emulator_config(time_scale=0.1, seed=5))
    ids = [u.id for u in emu.state.tenant.users]
    with gateway(emu) as gw:
        clean = gw.read_mfa_states(ids)
        assert clean == {u.id: u.mfa_state for u in emu.state.tenant.users}
        assert (gw.stats.retries, gw.stats.throttled, gw.stats.faults) == (0, 0, 0)

        emu.state.config.fault_rate = 0.05
        owe(emu, IDENTITY, 1600.0)  # 0.2 s of 429s from the first batch on, whatever this machine's speed
        before = emulator_stats(emu.state).faults
        progress: list[Progress] = []
        report = gw.execute(mfa_items(ids), version="beta", on_progress=progress.append)

        assert len(report.results) == len(ids)
        assert [r.key for r in report.results] == ids
        assert {r.outcome for r in report.results} == {"ok"}
        assert {r.key: r.body["perUserMfaState"] for r in report.results} == clean
        assert emulator_stats(emu.state).faults > before
        assert report.throttled > 0 and report.retries >= report.throttled
        assert report.retries == sum(r.attempts - 1 for r in report.results)
        assert progress[-1] == Progress(len(ids), len(ids), 0, report.retries, progress[-1].rate_per_s, 0.0)


def test_writes_under_faults_and_a_drained_write_bucket_all_land(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=500, seed=9, config=emulator_config(time_scale=0.02, fault_rate=0.05, seed=9))
    users = emu.state.tenant.users[:400]
    wanted = {u.id: "enforced" for u in users}
    owe(emu, WRITE, 200.0)
    journal: list[str] = []
    with gateway(emu) as gw:
        report = gw.write_mfa_states(wanted, on_result=lambda r: journal.append(r.key))
        assert {(r.outcome, r.status) for r in report.results} == {("ok", 204)}
        assert sorted(journal) == sorted(wanted)
        assert report.throttled > 0
    assert {u.id: u.mfa_state for u in users} == wanted


# --------------------------------------------------------------------------- per-item 429 honoured

def test_no_item_is_retried_before_its_retry_after(make_emulator: Callable[..., RunningEmulator]) -> None:
    # The reports bucket allows 5 requests per (10 s x 0.02) and is empty when the first item comes:
    # 40 items make a 429 storm with Retry-After of 40 ms each, item by item, inside 200 OK envelopes.
    emu = make_emulator(users=60, seed=2, config=emulator_config(time_scale=0.02))
    users = [u for u in emu.state.tenant.users if u.account_enabled][:40]
    items = [BatchItem(u.id, "GET", REPORT_ITEM.format(u.id)) for u in users]
    owe(emu, REPORT, 0.0)
    with gateway(emu) as gw:
        recorder = Recorder(gw.aio)
        executor = BatchExecutor(recorder, version="v1.0", retry=FAST_RETRY, throttle=Throttle(16),
                                 stats=gw.stats)
        started = time.monotonic()
        report = gw.loop.run(executor.run(items))
        elapsed = time.monotonic() - started

    assert [(r.key, r.outcome, r.body["id"]) for r in report.results] == [(u.id, "ok", u.id) for u in users]
    retry_after_seen: dict[str, float] = {}  # url -> earliest moment it may be sent again
    throttled = 0
    for sent, received, sent_items, answers in sorted(recorder.sends):
        for rid, url in sent_items:
            assert sent >= retry_after_seen.get(url, 0.0), f"{url} re-sent before its Retry-After"
            answer = answers.get(rid)
            if answer is not None and answer["status"] == 429:
                throttled += 1
                retry_after_seen[url] = received + float(answer["headers"]["Retry-After"])
    assert throttled == report.throttled > 0
    assert sum(len(s[2]) for s in recorder.sends) == emulator_stats(emu.state).batch_items == 40 + throttled
    assert elapsed >= 40 * (10.0 * 0.02) / 5  # the documented limit from an empty bucket, never beaten


# ------------------------------------------------------------------------------------ cancellation

def test_cancel_mid_run_cancels_pending_items_and_stops_sending(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=400, seed=4, config=emulator_config(latency_ms=15))
    ids = [u.id for u in emu.state.tenant.users]
    token = CancelToken()
    at_cancel: dict[str, int] = {}

    def on_progress(p: Progress) -> None:
        if p.done >= 60 and not token.cancelled:
            at_cancel["requests"] = emulator_stats(emu.state).requests
            token.cancel()

    with gateway(emu, max_concurrency=2) as gw:
        before = emulator_stats(emu.state).requests
        report = gw.execute(mfa_items(ids), version="beta", on_progress=on_progress, cancel=token)
        time.sleep(0.1)
        after = emulator_stats(emu.state).requests

    outcomes = [r.outcome for r in report.results]
    assert len(outcomes) == 400 and [r.key for r in report.results] == ids
    ok = outcomes.count("ok")
    assert report.cancelled
    assert 60 <= ok <= 100 and ok % 20 == 0  # what was in flight when cancelled finished
    assert outcomes.count("cancelled") == 400 - ok
    cancelled = [r for r in report.results if r.outcome == "cancelled"]
    assert {(r.attempts, type(r.error)) for r in cancelled} == {(0, OperationCancelled)}
    assert after == before + ok // 20  # every batch sent came back ok; nothing else was sent
    assert after - at_cancel["requests"] <= 1  # at most the other batch already in flight (concurrency 2)
    assert emulator_stats(emu.state).batch_items >= ok


def test_a_threading_event_cancels_too(emulator: RunningEmulator) -> None:
    event = threading.Event()
    event.set()
    with gateway(emulator) as gw:
        items = mfa_items([u.id for u in emulator.state.tenant.users])
        report = gw.execute(items, version="beta", cancel=event)
        assert {r.outcome for r in report.results} == {"cancelled"}
        assert gw.stats.requests == 0


# ------------------------------------------------------------------------------------------ progress

def test_progress_is_monotonic_and_ends_at_total(emulator: RunningEmulator) -> None:
    seen: list[tuple[Progress, str]] = []
    ids = [u.id for u in emulator.state.tenant.users]
    with gateway(emulator, max_concurrency=3) as gw:
        gw.read_mfa_states(ids, on_progress=lambda p: seen.append((p, threading.current_thread().name)))
        loop_thread = gw.loop.thread.name
    progress = [p for p, _ in seen]
    assert progress[0] == Progress(0, 300, 0, 0, 0.0, None)
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert progress[-1][:4] == (300, 300, 0, 0) and progress[-1].eta_s == 0.0
    assert all(p.total == 300 and p.rate_per_s >= 0 for p in progress)
    assert all(p.eta_s is not None for p in progress[1:])
    assert {name for _, name in seen} == {loop_thread}
    assert {p.done for p in progress} >= {0, 300} and len(progress) >= 15


# ---------------------------------------------------------------------------- final and fatal errors

def test_each_item_fails_or_succeeds_on_its_own(emulator: RunningEmulator) -> None:
    user = emulator.state.tenant.users[5]
    items = [
        BatchItem("ok", "GET", f"/users/{user.id}/authentication/requirements"),
        BatchItem("missing", "GET", f"/users/{NOBODY}/authentication/requirements"),
        BatchItem("bad-value", "PATCH", f"/users/{user.id}/authentication/requirements",
                  body={"perUserMfaState": "sometimes"}),
        BatchItem("absolute", "GET",
                  f"{emulator.graph_url}/beta/users/{user.id}/authentication/requirements"),
    ]
    with gateway(emulator) as gw:
        report = gw.execute(items, version="beta")
    by_key = report.by_key
    assert (by_key["ok"].outcome, by_key["ok"].body) == ("ok", {"perUserMfaState": user.mfa_state})
    assert (by_key["absolute"].outcome, by_key["absolute"].status) == ("ok", 200)
    assert [(by_key[k].outcome, by_key[k].status, by_key[k].attempts, type(by_key[k].error).__name__)
            for k in ("missing", "bad-value")] == [
        ("failed", 404, 1, "NotFound"), ("failed", 400, 1, "BadRequest")]
    assert by_key["bad-value"].message == (
        "Invalid value 'sometimes' for property 'perUserMfaState'. "
        "Possible values are: disabled, enabled, enforced.")
    assert user.mfa_state in ("disabled", "enabled", "enforced")


def test_an_envelope_401_stops_the_run_and_cancels_what_was_not_sent(emulator: RunningEmulator) -> None:
    ids = [u.id for u in emulator.state.tenant.users[:45]]
    with gateway(emulator, StaticTokenCredential(FORGED), max_concurrency=1) as gw:
        report = gw.execute(mfa_items(ids), version="beta")
        assert gw.stats.requests == 1
    assert [r.outcome for r in report.results] == ["failed"] * 20 + ["cancelled"] * 25
    assert {type(r.error) for r in report.results} == {Unauthorized}
    assert isinstance(report.abort_error, Unauthorized) and report.cancelled


def test_after_max_attempts_an_item_carries_the_last_failure(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=60, seed=8, config=emulator_config(fault_rate=1.0, seed=8))
    ids = [u.id for u in emu.state.tenant.users[:30]]
    with gateway(emu, retry=RetryPolicy(max_attempts=3, backoff_base_s=0.001, backoff_max_s=0.002)) as gw:
        report = gw.execute(mfa_items(ids), version="beta")
    assert {(r.outcome, r.attempts) for r in report.results} == {("failed", 3)}
    for result in report.results:
        err = result.error
        if isinstance(err, GraphServerError):
            assert (err.status, err.graph_code) in {(500, "generalException"), (503, "serviceNotAvailable"),
                                              (504, "gatewayTimeout")}
            assert result.status == err.status
        else:
            assert isinstance(err, GraphUnavailable) and "connection dropped" in str(err)
    assert report.retries == 30 * 2


def test_a_failing_on_result_stops_the_run_and_is_raised(emulator: RunningEmulator) -> None:
    calls: list[str] = []

    def journal(result: Any) -> None:
        calls.append(result.key)
        if len(calls) == 3:
            raise OSError("journal disk full")

    ids = [u.id for u in emulator.state.tenant.users]
    with gateway(emulator, max_concurrency=1) as gw, pytest.raises(OSError, match="journal disk full"):
        gw.execute(mfa_items(ids), version="beta", on_result=journal)
    assert len(calls) == 3
    assert gw.stats.batch_requests == 1


def test_bad_work_is_refused_before_anything_is_sent(emulator: RunningEmulator) -> None:
    with gateway(emulator) as gw:
        with pytest.raises(ValueError, match="duplicate item key 'a'"):
            gw.execute([BatchItem("a", "GET", "/users/x"), BatchItem("a", "GET", "/users/y")])
        with pytest.raises(ValueError, match=r"is a beta URL; this batch is v1\.0"):
            gw.execute([BatchItem("a", "GET", "/beta/users/x/authentication/requirements")])
        assert gw.execute([]).results == []
        assert gw.stats.requests == 0


def test_concurrent_runs_share_the_limit_and_a_hard_cancel_leaks_no_slot(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=200, seed=6, config=emulator_config(latency_ms=10))
    expected = {u.id: u.mfa_state for u in emu.state.tenant.users}
    ids = list(expected)
    with gateway(emu, max_concurrency=2) as gw:
        futures = [gw.submit(gw.aio.read_mfa_states(ids)) for _ in range(3)]
        assert [f.result(30) for f in futures] == [expected] * 3

        doomed = gw.submit(gw.aio.read_mfa_states(ids))
        time.sleep(0.03)
        doomed.cancel()  # a hard cancel (not the token): tasks are cancelled, some before they start
        deadline = time.monotonic() + 30
        while gw.aio.throttle.inflight.get("read", 0) and time.monotonic() < deadline:
            gw.loop.run(asyncio.sleep(0.01))  # the cancelled tasks unwind on the gateway's loop
        assert gw.aio.throttle.inflight.get("read", 0) == 0
        assert gw.read_mfa_states(ids) == expected
