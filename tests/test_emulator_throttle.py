"""Throttling (documented limits, scaled in time) and injected faults, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest

from lib.emulator.faults import HOSTILE, Fault, FaultInjector
from lib.emulator.server import RunningEmulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.throttle import (
    IDENTITY,
    REPORT,
    WRITE,
    ManualClock,
    ThrottleBuckets,
    format_retry_after,
    get_throttle,
    identity_capacity,
    read_cost,
    throttle_bound_seconds,
)
from tests.conftest import control_headers
from tests.fixtures import graph_example
from tests.test_emulator_graph import (
    APP_ID,
    LIMITED_APP_ID,
    app_token,
    graph_error,
    http,
    serve,
    small_tenant,
    tenant_user,
    uid,
)

REPORT_URL = "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=1&$select=id"


def requirements(name: str) -> str:
    return f"/beta/users/{uid(name)}/authentication/requirements"


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    with serve(throttle=True, time_scale=0.01) as running:
        yield running


@pytest.fixture
def clock(fresh: RunningEmulator) -> ManualClock:
    """The fresh emulator's throttle on a clock that moves only when the test moves it.

    Buckets then refill by exactly what the test says, whatever the machine's speed or load.
    """
    clock = ManualClock()
    get_throttle(fresh.state).use_clock(clock)
    return clock


# ------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize(("users", "capacity"), [(1, 3500), (49, 3500), (50, 5000), (500, 5000), (501, 8000)])
def test_identity_capacity_follows_tenant_size(users: int, capacity: int) -> None:
    assert identity_capacity(users) == capacity


@pytest.mark.parametrize(
    ("collection", "select", "expand", "cost"),
    [
        (False, False, False, 1),
        (True, False, False, 2),
        (True, True, False, 1),
        (False, True, False, 1),
        (True, False, True, 3),
        (True, True, True, 2),
        (False, True, True, 1),
    ],
)
def test_read_costs(collection: bool, select: bool, expand: bool, cost: int) -> None:
    assert read_cost(collection, select, expand) == cost


@pytest.mark.parametrize(
    ("seconds", "scale", "header"),
    [
        (0.003, 1.0, "1"),
        (1.0, 1.0, "1"),
        (1.2, 1.0, "2"),
        (9.9999, 1.0, "10"),
        (0.0021, 0.01, "0.003"),
        (0.02, 0.01, "0.02"),
        (2.128, 0.5, "2.128"),
        (3.0, 2.0, "3"),
        (0.0, 0.01, "0.001"),
    ],
)
def test_retry_after_is_rounded_up(seconds: float, scale: float, header: str) -> None:
    assert format_retry_after(seconds, scale) == header


def test_throughput_bounds() -> None:
    assert throttle_bound_seconds(REPORT, 5, 300) == 0.0
    assert throttle_bound_seconds(REPORT, 25, 300) == pytest.approx(40.0)
    # docs/graph.md: enforcing 10,000 users is bound by 3,000 writes per 150 s (from a full bucket)
    assert throttle_bound_seconds(WRITE, 10_000, 100_000) == pytest.approx(350.0)
    assert throttle_bound_seconds(WRITE, 10_000, 100_000, time_scale=0.01) == pytest.approx(3.5)
    # reading 100k users' state one GET (1 RU) each, 8,000 RU per 10 s
    assert throttle_bound_seconds(IDENTITY, 100_000, 100_000) == pytest.approx(115.0)
    assert throttle_bound_seconds(IDENTITY, 2_000, 40, cost=2) == pytest.approx(500 / 350)
    with pytest.raises(ValueError, match="unknown throttle bucket"):
        throttle_bound_seconds("graph", 1, 1)


def _throttle(time_scale: float = 1e6, users: int = 40, clock: ManualClock | None = None) -> ThrottleBuckets:
    state = SimpleNamespace(
        config=SimpleNamespace(throttle=True, time_scale=time_scale),
        tenant=SimpleNamespace(users=[None] * users),
    )
    return ThrottleBuckets(state, clock or ManualClock())  # type: ignore[arg-type]


def test_a_refused_charge_takes_nothing_and_tells_the_wait() -> None:
    throttle = _throttle()  # the clock stands still: nothing refills during the test
    assert throttle.charge("app", ((REPORT, 1.0),) * 1) == 0.0
    for _ in range(4):
        assert throttle.charge("app", ((REPORT, 1.0),)) == 0.0
    wait = throttle.charge("app", ((REPORT, 1.0),))
    assert wait == pytest.approx(1 / (5 / (10 * 1e6)), rel=1e-3)  # one request's refill time
    assert throttle.level("app", REPORT) == 0.0
    assert throttle.charge("other", ((REPORT, 1.0),)) == 0.0  # buckets are per app
    throttle.drain("app", WRITE, 0.0)
    assert throttle.charge("app", ((IDENTITY, 1.0), (WRITE, 1.0))) > 0.0
    assert throttle.level("app", IDENTITY) == pytest.approx(3500.0)  # all or nothing
    throttle.reset()
    assert throttle.level("app", WRITE) == 3000.0


def test_a_held_drain_waits_for_the_first_request_then_refills_by_the_clock() -> None:
    clock = ManualClock()
    throttle = _throttle(time_scale=1.0, clock=clock)  # reports: 5 per 10 s, one every 2 s
    throttle.drain("app", REPORT, -1.0, hold=True)
    clock.advance(60.0)  # however long the setup takes, a held bucket has not refilled
    assert throttle.level("app", REPORT) == -1.0
    assert throttle.charge("app", ((REPORT, 1.0),)) == pytest.approx(4.0)  # from -1 to 1 at 0.5/s
    clock.advance(3.999)
    assert throttle.charge("app", ((REPORT, 1.0),)) == pytest.approx(0.001)  # 0.0005 short
    clock.advance(0.001)
    assert throttle.charge("app", ((REPORT, 1.0),)) == 0.0
    assert throttle.level("app", REPORT) == pytest.approx(0.0, abs=1e-9)
    throttle.drain("app", REPORT, 0.0)  # without hold the bucket refills from now
    clock.advance(2.0)
    assert throttle.level("app", REPORT) == pytest.approx(1.0)
    throttle.use_clock(ManualClock(1000.0))  # a new clock starts every bucket full
    assert throttle.level("app", REPORT) == 5.0
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1.0)


# ------------------------------------------------------------------------------------------ HTTP 429


def test_whole_request_429_has_the_documented_shape_and_tells_the_truth(
    fresh: RunningEmulator, clock: ManualClock
) -> None:
    doc = graph_example("v1.0-throttling-429.json")
    fresh.state.config.time_scale = 1.0
    tenant_id = fresh.state.tenant.id
    with http(fresh) as c:
        get_throttle(fresh.state).drain(APP_ID, IDENTITY, -50.0)  # 51 RU short: 0.15 s at 350 RU/s
        r = c.get("/v1.0/users?$top=1")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"  # whole seconds at real time, at least 1
        assert r.headers["x-ms-throttle-scope"] == f"Tenant_Application/Read/{APP_ID}/{tenant_id}"
        body = r.json()["error"]
        assert list(body) == list(doc["error"]) and list(body["innerError"]) == list(
            doc["error"]["innerError"]
        )
        assert body["innerError"]["request-id"] == r.headers["request-id"]
        get_throttle(fresh.state).drain(APP_ID, WRITE, -2.0)  # 3 writes short: 0.15 s at 20 writes/s
        r = c.patch(requirements("bob"), json={"perUserMfaState": "enabled"})
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")
        assert r.headers["x-ms-throttle-scope"] == f"Tenant_Application/ReadWrite/{APP_ID}/{tenant_id}"
        assert tenant_user(fresh, "bob").mfa_state == "disabled"
        fresh.state.config.time_scale = 0.001
        clock.advance(0.01)  # 200 writes' refill at 20,000 writes/s
        assert c.patch(requirements("bob"), json={"perUserMfaState": "enabled"}).status_code == 204
    with http(fresh, app_token(fresh, LIMITED_APP_ID)) as c:  # another app has its own buckets
        get_throttle(fresh.state).drain(APP_ID, IDENTITY, 0.0)
        fresh.state.config.time_scale = 1.0
        assert c.get("/v1.0/users?$top=1").status_code == 200


def test_no_throttling_when_switched_off(fresh: RunningEmulator, clock: ManualClock) -> None:
    fresh.state.config.throttle = False
    get_throttle(fresh.state).drain(APP_ID, IDENTITY, 0.0)
    get_throttle(fresh.state).drain(APP_ID, REPORT, 0.0)
    with http(fresh) as c:
        assert [c.get(REPORT_URL).status_code for _ in range(10)] == [200] * 10


def _honour(
    c: httpx.Client, clock: ManualClock, method: str, url: str, count: int, **kw: object
) -> tuple[float, int]:
    """Send ``count`` requests one after another, waiting Retry-After on each 429; (seconds, 429s).

    The wait is on the throttle's own clock, so the seconds are the model's, not this machine's.
    """
    throttled = 0
    started = clock()
    for _ in range(count):
        r = c.request(method, url, **kw)  # type: ignore[arg-type]
        if r.status_code == 429:
            throttled += 1
            clock.advance(float(r.headers["retry-after"]))
            r = c.request(method, url, **kw)  # type: ignore[arg-type]
            assert r.status_code != 429, "Retry-After must tell the truth"
        assert r.status_code < 300, r.text
    return clock() - started, throttled


def test_reports_limit_five_per_window_and_a_patient_client_reaches_it(
    fresh: RunningEmulator, clock: ManualClock
) -> None:
    fresh.state.config.time_scale = 1.0  # 5 per 10 s at real time
    with http(fresh) as c:
        answers = [c.get(REPORT_URL) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert answers[-1].headers["retry-after"] == "2"  # one request's refill: 10 s / 5
        fresh.state.config.time_scale = 0.01
        r = c.get(REPORT_URL)
        assert (r.status_code, r.headers["retry-after"]) == (429, "0.02")  # 10 s / 5 × 0.01
        get_throttle(fresh.state).reset()
        elapsed, throttled = _honour(c, clock, "GET", REPORT_URL, 30)
    bound = throttle_bound_seconds(REPORT, 30, 40, time_scale=0.01)
    assert bound == pytest.approx(0.5)
    assert throttled == 25  # 5 from the full bucket, then each one waits for its refill
    assert elapsed == pytest.approx(bound, abs=throttled * 0.001)  # Retry-After is rounded up to the ms


def test_identity_bucket_throughput_from_empty(fresh: RunningEmulator, clock: ManualClock) -> None:
    fresh.state.config.time_scale = 3.5  # 100 RU/s
    with http(fresh) as c:
        get_throttle(fresh.state).drain(APP_ID, IDENTITY, 0.0)
        elapsed, throttled = _honour(c, clock, "GET", requirements("alice"), 40)
    assert throttled == 40
    assert elapsed == pytest.approx(0.4, abs=throttled * 0.001)  # 40 RU at 100 RU/s


def test_write_throughput_from_an_exhausted_write_bucket(fresh: RunningEmulator, clock: ManualClock) -> None:
    fresh.state.config.time_scale = 0.1  # 3,000 writes per 15 s: 200 writes/s
    values = ["enabled", "disabled"] * 30
    bob = tenant_user(fresh, "bob")
    with http(fresh) as c:
        get_throttle(fresh.state).drain(APP_ID, WRITE, 0.0)
        started = clock()
        throttled = 0
        for value in values:
            _, t = _honour(c, clock, "PATCH", requirements("bob"), 1, json={"perUserMfaState": value})
            throttled += t
        elapsed = clock() - started
    assert throttled == 60
    assert elapsed == pytest.approx(0.3, abs=throttled * 0.001)  # 60 writes at 200/s
    assert len(bob.events) == 60 and bob.mfa_state == "disabled"


# -------------------------------------------------------------------------------------------- faults


def _outcomes(emu: RunningEmulator, count: int) -> list[object]:
    out: list[object] = []
    with http(emu) as c:
        for _ in range(count):
            try:
                r = c.get(requirements("alice"))
            except httpx.TransportError as exc:
                assert isinstance(exc, httpx.RemoteProtocolError)
                out.append("drop")
                continue
            if r.status_code >= 500:
                code = r.json()["error"]["code"]
                expected = {500: "generalException", 503: "serviceNotAvailable", 504: "gatewayTimeout"}
                assert code == expected[r.status_code]
                assert ("retry-after" in r.headers) == (r.status_code == 503)
            out.append(r.status_code)
    return out


def test_every_request_fails_at_fault_rate_one_in_a_repeatable_mix() -> None:
    with (
        serve(fault_rate=1.0, seed=11, time_scale=0.01) as a,
        serve(fault_rate=1.0, seed=11, time_scale=0.01) as b,
    ):
        first, second = _outcomes(a, 60), _outcomes(b, 60)
        stats = httpx.get(f"{a.graph_url}/_emulator/stats", headers=control_headers(a)).json()
    assert first == second
    assert set(first) == {500, 503, 504, "drop"}
    assert stats["faults"] == 60 and stats["dropped"] == first.count("drop")


def test_a_fault_rate_fails_about_that_fraction() -> None:
    with serve(fault_rate=0.25, seed=5) as emu:
        outcomes = _outcomes(emu, 200)
    failures = sum(1 for o in outcomes if o != 200)
    assert 30 <= failures <= 70


def _patch_outcome(c: httpx.Client, name: str, value: str) -> object:
    try:
        return c.patch(requirements(name), json={"perUserMfaState": value}).status_code
    except httpx.TransportError:
        return "drop"


@pytest.mark.parametrize("applied_share", [0.0, 1.0])
def test_faulted_writes_apply_only_when_the_response_was_lost_after_applying(applied_share: float) -> None:
    with serve(fault_rate=1.0, seed=3) as emu:
        httpx.patch(f"{emu.graph_url}/_emulator/config", json={"fault_applied_share": applied_share},
                    headers=control_headers(emu))
        bob = tenant_user(emu, "bob")
        expected = "disabled"
        drops = changes = 0
        with http(emu) as c:
            for i in range(40):
                value = "enabled" if i % 2 == 0 else "disabled"
                outcome = _patch_outcome(c, "bob", value)
                assert outcome in (500, 503, 504, "drop")
                if outcome == "drop":
                    drops += 1
                    if applied_share == 1.0:  # applied, then the connection was cut
                        changes += value != expected
                        expected = value
                assert bob.mfa_state == expected
    assert drops >= 3
    assert [e.value for e in bob.events] == (["enabled", "disabled"] * 20)[:changes]
    assert (changes == 0) == (applied_share == 0.0)


def test_batch_items_fail_on_their_own_and_failed_writes_change_nothing() -> None:
    tenant = small_tenant(fillers=200)
    with serve(tenant, fault_rate=0.3, seed=9, time_scale=0.01) as emu:
        fillers = [u for u in tenant.users if u.upn.startswith("user")]
        seen: dict[int, int] = {}
        with http(emu) as c:
            for b in range(10):
                group = fillers[b * 20 : (b + 1) * 20]
                requests = [
                    {
                        "id": str(i),
                        "method": "PATCH",
                        "url": f"/users/{u.id}/authentication/requirements",
                        "body": {"perUserMfaState": "enforced"},
                        "headers": {"Content-Type": "application/json"},
                    }
                    for i, u in enumerate(group)
                ]
                try:
                    r = c.post("/beta/$batch", json={"requests": requests})
                except httpx.TransportError:
                    continue  # the whole batch was cut: before or after applying, unknown here
                if r.status_code != 200:
                    assert r.status_code in (500, 503, 504)
                    assert all(u.mfa_state == "disabled" for u in group)
                    continue
                for item in r.json()["responses"]:
                    user = group[int(item["id"])]
                    seen[item["status"]] = seen.get(item["status"], 0) + 1
                    if item["status"] == 204:
                        assert user.mfa_state == "enforced"
                    else:
                        assert item["status"] in (500, 503, 504) and user.mfa_state == "disabled"
                        assert ("Retry-After" in item["headers"]) == (item["status"] == 503)
    assert seen.get(204, 0) > 0 and sum(v for k, v in seen.items() if k >= 500) > 0


def test_injector_draws_only_item_errors_for_items() -> None:
    state = SimpleNamespace(config=EmulatorConfig(fault_rate=1.0, seed=4))
    injector = FaultInjector(state)  # type: ignore[arg-type]
    items = {injector.draw_item() for _ in range(300)}
    assert items == {Fault.ERROR_500, Fault.ERROR_503, Fault.ERROR_504}
    injector.applied_share = 0.5
    requests = {injector.draw_request() for _ in range(300)}
    assert requests == set(Fault) - HOSTILE  # hostile answers only when asked for by name
    state.config.fault_kinds = ("503", "truncated", "batch_missing")
    assert {injector.draw_item() for _ in range(100)} == {Fault.ERROR_503}
    assert {injector.draw_request("/users") for _ in range(100)} == {Fault.ERROR_503, Fault.TRUNCATED}
    assert {injector.draw_request("/$batch") for _ in range(100)} == {Fault.ERROR_503, Fault.TRUNCATED,
                                                                      Fault.BATCH_MISSING}
    state.config.fault_kinds = ("html_502",)
    assert {injector.draw_item() for _ in range(50)} == {None}
    state.config.fault_rate = 0.0
    assert {injector.draw_request() for _ in range(50)} == {None}


def test_latency_applies_once_per_http_request() -> None:
    with serve(latency_ms=150) as emu, http(emu) as c:
        started = time.monotonic()
        r = c.post(
            "/beta/$batch",
            json={
                "requests": [
                    {
                        "id": str(i),
                        "method": "GET",
                        "url": f"/users/{uid('alice')}/authentication/requirements",
                    }
                    for i in range(20)
                ]
            },
        )
        elapsed = time.monotonic() - started
    assert r.status_code == 200 and [x["status"] for x in r.json()["responses"]] == [200] * 20
    assert 0.15 <= elapsed < 20 * 0.15  # once for the envelope; once per item would be 3 s or more


def test_stats_count_statuses(fresh: RunningEmulator) -> None:
    with http(fresh) as c:
        assert graph_error(c.get("/v1.0/users/nobody@x"))[0] == 404
    stats = httpx.get(f"{fresh.graph_url}/_emulator/stats", headers=control_headers(fresh)).json()
    assert stats["statuses"] == {"404": 1}


# --- hostile answers (lib/emulator/faults.py) ---------------------------------------------------


def _hostile(emu: RunningEmulator, kind: str, **config: object) -> None:
    body = {"fault_rate": 1.0, "fault_kinds": [kind], **config}
    response = httpx.patch(f"{emu.graph_url}/_emulator/config", json=body, headers=control_headers(emu))
    assert response.status_code == 200, response.text


def _batch(*requests: dict) -> dict:
    return {"requests": list(requests)}


def _patch_item(rid: str, name: str, state: str) -> dict:
    return {"id": rid, "method": "PATCH", "url": f"/users/{uid(name)}/authentication/requirements",
            "headers": {"Content-Type": "application/json"}, "body": {"perUserMfaState": state}}


@pytest.mark.parametrize(("kind", "applied"), [("truncated", True), ("html_502", False),
                                               ("wrong_content_type", False), ("error_200", False)])
def test_hostile_answers_look_like_a_proxy_or_broken_service_and_say_whether_it_ran(kind: str,
                                                                                   applied: bool) -> None:
    with serve(time_scale=0.01) as emu:
        _hostile(emu, kind)
        with http(emu) as c:
            listing = c.get("/v1.0/users?$top=2")
            write = c.patch(requirements("bob"), json={"perUserMfaState": "enabled"})
        content_type = listing.headers["content-type"]
        if kind == "truncated":
            assert listing.status_code == 200 and content_type.startswith("application/json")
            assert len(listing.content) == int(listing.headers["content-length"]) > 0
            with pytest.raises(ValueError):
                listing.json()
            assert write.status_code == 200 and write.content == b"{"  # a 204 turned into a cut body
        elif kind == "html_502":
            assert listing.status_code == write.status_code == 502 and content_type == "text/html"
            assert "<title>502 Bad Gateway</title>" in listing.text
        elif kind == "wrong_content_type":
            assert listing.status_code == write.status_code == 200 and content_type.startswith("text/html")
            assert listing.text.startswith("<!DOCTYPE html>")
        else:
            assert listing.status_code == write.status_code == 200 and content_type.startswith("application/json")
            assert listing.json()["error"]["code"] == "generalException" and "value" not in listing.json()
        assert (tenant_user(emu, "bob").mfa_state == "enabled") is applied


def test_a_batch_answer_missing_ids_ran_every_item() -> None:
    with serve(time_scale=0.01) as emu:
        _hostile(emu, "batch_missing")
        with http(emu) as c:
            assert c.get("/v1.0/users?$top=1").json()["value"]  # only $batch answers lose items
            names = ("bob", "reader", "alice", "frank")
            assert {tenant_user(emu, n).mfa_state for n in names} == {"disabled"}
            r = c.post("/beta/$batch", json=_batch(*(_patch_item(str(i), n, "enabled")
                                                     for i, n in enumerate(names[:3], start=1))))
            alone = c.post("/beta/$batch", json=_batch(_patch_item("1", "frank", "enabled")))
        assert r.status_code == 200 and len(r.json()["responses"]) == 1
        assert alone.status_code == 200 and alone.json()["responses"] == []
        assert "disabled" not in {tenant_user(emu, n).mfa_state for n in names}  # every item ran


def test_faults_hit_only_the_paths_and_requests_asked_for() -> None:
    with serve(time_scale=0.01) as emu:
        _hostile(emu, "html_502", fault_paths=["/users"], fault_on="writes")
        with http(emu) as c:
            assert c.get("/v1.0/organization").status_code == 200
            assert c.get("/v1.0/users?$top=1").status_code == 200  # a read: not a target
            assert c.patch(requirements("bob"), json={"perUserMfaState": "enabled"}).status_code == 502
            _hostile(emu, "html_502", fault_paths=None, fault_on="reads")
            assert c.get("/v1.0/organization").status_code == 502
            assert c.patch(requirements("bob"), json={"perUserMfaState": "enabled"}).status_code == 204
            _hostile(emu, "html_502", fault_on="any")
            item = c.post("/beta/$batch", json=_batch({"id": "1", "method": "GET",
                                                       "url": f"/users/{uid('bob')}/authentication/requirements"}))
            assert item.status_code == 502  # the envelope; its items have no fault of that kind
            _hostile(emu, "500", fault_paths=["/organization"])
            inner = c.post("/beta/$batch", json=_batch({"id": "1", "method": "GET",
                                                        "url": f"/users/{uid('bob')}/authentication/requirements"}))
            assert [x["status"] for x in inner.json()["responses"]] == [500]  # items draw the 5xx kinds
