"""``$batch`` over real HTTP: item rules, dependsOn, per-item throttling, msgraph-core's batch content."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from lib.emulator.server import RunningEmulator
from lib.emulator.throttle import IDENTITY, WRITE, ManualClock, get_throttle
from tests.conftest import control_headers
from tests.fixtures import graph_example
from tests.test_emulator_graph import (
    APP_ID,
    DOMAIN,
    JSON_CT,
    graph_error,
    http,
    sdk,
    serve,
    tenant_user,
    uid,
)

BATCH_FAILED_DEPENDENCY = "The request failed because it depends on a request that failed."


def req_url(name: str) -> str:
    return f"/users/{uid(name)}/authentication/requirements"


def get(item_id: str, url: str, **extra: Any) -> dict:
    return {"id": item_id, "method": "GET", "url": url, **extra}


def patch(item_id: str, name: str, value: str, **extra: Any) -> dict:
    return {
        "id": item_id,
        "method": "PATCH",
        "url": req_url(name),
        "body": {"perUserMfaState": value},
        "headers": {"Content-Type": "application/json"},
        **extra,
    }


def by_id(body: dict) -> dict[str, dict]:
    ids = [r["id"] for r in body["responses"]]
    assert len(ids) == len(set(ids))
    return {r["id"]: r for r in body["responses"]}


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


def test_mixed_outcomes_each_item_on_its_own(fresh: RunningEmulator) -> None:
    requests = [
        get("1", req_url("alice")),
        patch("2", "bob", "enabled"),
        get("3", "/users/ghost@contoso.test/authentication/requirements"),
        get("4", f"/v1.0/users/{uid('bob')}"),
        get("5", f"https://graph.microsoft.com/beta/users/{uid('bob')}"),
        {"id": "6", "method": "PATCH", "url": req_url("frank"), "body": {"perUserMfaState": "enabled"}},
        get("7", f"users/{uid('alice')}?$select=id,displayName"),
        patch("8", "carol", "sometimes"),
        {"id": "9", "method": "POST", "url": "/users"},
        get("10", "users/$count", headers={"ConsistencyLevel": "eventual"}),
    ]
    with http(fresh) as c:
        r = c.post("/beta/$batch", json={"requests": requests})
    assert r.status_code == 200 and r.headers["content-type"] == JSON_CT
    items = by_id(r.json())
    assert {k: v["status"] for k, v in items.items()} == {
        "1": 200,
        "2": 204,
        "3": 404,
        "4": 400,
        "5": 400,
        "6": 400,
        "7": 200,
        "8": 400,
        "9": 400,
        "10": 200,
    }
    assert items["1"]["body"] == {"perUserMfaState": "disabled"}
    assert items["1"]["headers"] == {
        "Cache-Control": "no-cache",
        "x-ms-resource-unit": "1",
        "OData-Version": "4.0",
        "Content-Type": JSON_CT,
    }
    assert items["2"] == {
        "id": "2",
        "status": 204,
        "headers": {"Cache-Control": "no-cache", "x-ms-resource-unit": "1"},
        "body": None,
    }
    assert items["4"]["body"]["error"]["message"] == "Resource not found for the segment 'v1.0'."
    assert items["5"]["body"]["error"]["message"] == "Invalid batch payload format."
    assert items["6"]["body"]["error"]["message"] == (
        "Write request id : 6, does not contain Content-Type header or body."
    )
    assert items["7"]["body"] == {
        "@odata.context": f"{fresh.graph_url}/beta/$metadata#users(id,displayName)/$entity",
        "id": uid("alice"),
        "displayName": "Alice",
    }
    assert items["9"]["body"]["error"]["message"] == (
        "Write request id : 9, does not contain Content-Type header or body."
    )
    assert (items["10"]["headers"]["Content-Type"], items["10"]["body"]) == (
        "text/plain",
        "NDA=",
    )  # base64("40")
    error = items["3"]["body"]["error"]
    assert error["innerError"]["request-id"] == r.headers["request-id"]
    assert (
        tenant_user(fresh, "bob").mfa_state,
        tenant_user(fresh, "frank").mfa_state,
        tenant_user(fresh, "carol").mfa_state,
    ) == ("enabled", "disabled", "disabled")


def test_a_beta_route_inside_a_v1_batch_fails(fresh: RunningEmulator) -> None:
    with http(fresh) as c:
        body = c.post(
            "/v1.0/$batch", json={"requests": [patch("a", "bob", "enabled"), get("b", req_url("bob"))]}
        )
    items = by_id(body.json())
    assert [items[k]["status"] for k in "ab"] == [400, 400]
    assert items["a"]["body"]["error"] == {
        **items["a"]["body"]["error"],
        "code": "BadRequest",
        "message": "Resource not found for the segment 'requirements'.",
    }
    assert tenant_user(fresh, "bob").mfa_state == "disabled"


def test_responses_come_back_in_a_seeded_shuffled_order(emu: RunningEmulator) -> None:
    requests = [get(str(i), f"/users/{uid('alice')}?$select=id") for i in range(20)]
    with http(emu) as c:
        orders = [
            [x["id"] for x in c.post("/v1.0/$batch", json={"requests": requests}).json()["responses"]]
            for _ in range(2)
        ]
    assert sorted(orders[0], key=int) == [str(i) for i in range(20)]
    assert orders[0] != [str(i) for i in range(20)] and orders[0] != orders[1]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"requests": [get(str(i), req_url("bob")) for i in range(21)]}, "Batch request exceeds limit of 20"),
        ({"requests": []}, "Invalid batch payload format."),
        ({"items": []}, "Invalid batch payload format."),
        ({"requests": [{"method": "GET", "url": "/users"}]}, "Invalid batch payload format."),
        (
            {"requests": [get("a", "/users"), get("A", "/users")]},
            "Batch request contains duplicate request id 'A'.",
        ),
        (
            {"requests": [get("a", "/users", dependsOn=["z"])]},
            "Request id 'z' named in dependsOn was not found in the batch.",
        ),
        (
            {"requests": [get("a", "/users", dependsOn=["b"]), get("b", "/users", dependsOn=["a"])]},
            "Batch request has a circular dependency in dependsOn.",
        ),
    ],
)
def test_whole_batch_errors(emu: RunningEmulator, payload: dict, message: str) -> None:
    with http(emu) as c:
        assert graph_error(c.post("/beta/$batch", json=payload)) == (400, "BadRequest", message)


def test_a_body_that_is_not_json_fails_the_whole_batch(emu: RunningEmulator) -> None:
    with http(emu) as c:
        r = c.post("/v1.0/$batch", content=b"{", headers={"Content-Type": "application/json"})
    assert graph_error(r)[:2] == (400, "BadRequest")


def test_the_envelope_needs_a_token_and_items_cannot_nest(emu: RunningEmulator) -> None:
    with httpx.Client(base_url=emu.graph_url) as c:
        assert graph_error(c.post("/v1.0/$batch", json={"requests": [get("1", "/users")]}))[0] == 401
    with http(emu) as c:
        body = c.post(
            "/v1.0/$batch",
            json={
                "requests": [
                    {
                        "id": "1",
                        "method": "POST",
                        "url": "/$batch",
                        "body": {"requests": []},
                        "headers": {"Content-Type": "application/json"},
                    }
                ]
            },
        ).json()
    assert body["responses"][0]["status"] == 400
    assert body["responses"][0]["body"]["error"]["message"] == "Resource not found for the segment '$batch'."


def test_depends_on_a_failed_item_gives_424_down_the_chain(fresh: RunningEmulator) -> None:
    requests = [
        patch("4", "frank", "enabled", dependsOn=["2"]),
        get("1", "/users/ghost@contoso.test"),
        get("2", req_url("alice"), dependsOn=["1"]),
        get("3", req_url("alice")),
        patch("5", "bob", "enabled", dependsOn=["3"]),
    ]
    with http(fresh) as c:
        items = by_id(c.post("/beta/$batch", json={"requests": requests}).json())
    assert {k: v["status"] for k, v in items.items()} == {"1": 404, "2": 424, "3": 200, "4": 424, "5": 204}
    assert items["4"]["body"]["error"]["code"] == "FailedDependency"
    assert items["4"]["body"]["error"]["message"] == BATCH_FAILED_DEPENDENCY
    assert (tenant_user(fresh, "frank").mfa_state, tenant_user(fresh, "bob").mfa_state) == (
        "disabled",
        "enabled",
    )


def test_throttled_items_get_429_with_their_own_retry_after(fresh: RunningEmulator) -> None:
    doc = graph_example("v1.0-throttling-429.json")
    fresh.state.config.throttle = True
    fresh.state.config.time_scale = 1000.0  # 0.35 RU/s: one RU's refill takes 2.857 s
    requests = [get(str(i), req_url("alice")) for i in range(20)]
    with http(fresh) as c:
        get_throttle(fresh.state).use_clock(ManualClock())  # nothing refills while the batch runs
        get_throttle(fresh.state).drain(APP_ID, IDENTITY, 5.0)
        r = c.post("/beta/$batch", json={"requests": requests})
    assert r.status_code == 200
    items = by_id(r.json())
    statuses = sorted(v["status"] for v in items.values())
    assert statuses == [200] * 5 + [429] * 15
    throttled = [v for v in items.values() if v["status"] == 429]
    for item in throttled:
        assert set(item["headers"]) == {
            "Cache-Control",
            "Retry-After",
            "x-ms-throttle-scope",
            "x-ms-throttle-information",
            "Content-Type",
        }
        assert item["headers"]["Retry-After"] == "2.858"  # 1 RU at 0.35 RU/s, rounded up to the ms
        body = item["body"]["error"]
        assert list(body) == list(doc["error"]) and list(body["innerError"]) == list(
            doc["error"]["innerError"]
        )
        assert (body["code"], body["message"], body["innerError"]["code"], body["innerError"]["status"]) == (
            "TooManyRequests",
            "Please retry again later.",
            "429",
            "429",
        )


def test_a_client_honouring_item_retry_after_applies_every_write(fresh: RunningEmulator) -> None:
    """Writes beyond the 3,000 per 150 s bucket: retried items succeed once their Retry-After passed."""
    fresh.state.config.throttle = True
    fresh.state.config.time_scale = 0.1  # a 15 s window: 200 writes/s refill
    users = [u for u in fresh.state.tenant.users if u.upn.startswith("user")][:20]
    pending = {
        u.id: {
            "id": u.id,
            "method": "PATCH",
            "url": f"/users/{u.id}/authentication/requirements",
            "body": {"perUserMfaState": "enforced"},
            "headers": {"Content-Type": "application/json"},
        }
        for u in users
    }
    rounds = throttled = 0
    with http(fresh) as c:
        started = time.monotonic()
        get_throttle(fresh.state).drain(APP_ID, WRITE, 0.0, hold=True)  # empty when the first batch comes
        while pending and rounds < 200:
            rounds += 1
            items = c.post("/beta/$batch", json={"requests": list(pending.values())}).json()["responses"]
            waits = [float(i["headers"]["Retry-After"]) for i in items if i["status"] == 429]
            throttled += len(waits)
            for item in items:
                if item["status"] == 204:
                    del pending[item["id"]]
                else:
                    assert item["status"] == 429
            if waits:
                time.sleep(max(waits))
    elapsed = time.monotonic() - started
    assert pending == {} and throttled > 0
    assert elapsed >= 20 / 200 * 0.95  # the write bucket's refill (from the first batch on) is the floor
    assert all(u.mfa_state == "enforced" for u in users)


def test_msgraph_core_batch_content_against_the_emulator(fresh: RunningEmulator) -> None:
    """BatchRequestContent round trip: absolute item URLs fail as on Graph; fixed ones work."""

    async def run() -> tuple[dict, dict]:
        client = sdk(fresh, version="beta")
        items = [
            BatchRequestItem(client.users.by_user_id(uid(n)).to_get_request_information(), id=n)
            for n in ("alice", "bob")
        ]
        info = RequestInformation(
            Method.PATCH,
            "{+baseurl}/users/{id}/authentication/requirements",
            {"baseurl": f"{fresh.graph_url}/beta", "id": uid("bob")},
        )
        info.set_stream_content(json.dumps({"perUserMfaState": "enabled"}).encode(), "application/json")
        write = BatchRequestItem(info, id="write")
        assert write.url.startswith("http://")  # msgraph-core keeps the absolute URL
        first = await client.batch.post(BatchRequestContent({i.id: i for i in [*items, write]}))
        write.url = req_url("bob")  # what the console must do: make it relative
        second = await client.batch.post(BatchRequestContent({"write": write}))
        return (
            {k: v.status for k, v in first.responses.items()},
            {k: v.status for k, v in second.responses.items()},
        )

    first, second = asyncio.run(run())
    assert first == {"alice": 200, "bob": 200, "write": 400}
    assert second == {"write": 204}
    assert tenant_user(fresh, "bob").mfa_state == "enabled"
    assert tenant_user(fresh, "bob").events[-1].actor == "Rollout daemon"


def test_batch_items_are_counted(fresh: RunningEmulator) -> None:
    with http(fresh) as c:
        c.post(
            "/beta/$batch",
            json={
                "requests": [
                    patch("1", "bob", "enabled"),
                    get("2", req_url("bob")),
                    get("3", f"/users/nobody@{DOMAIN}"),
                ]
            },
        )
    stats = httpx.get(f"{fresh.graph_url}/_emulator/stats", headers=control_headers(fresh)).json()
    assert stats == {
        "requests": 1,
        "batch_items": 3,
        "throttled": 0,
        "faults": 0,
        "dropped": 0,
        "writes": 1,
        "held": 0,
        "state_reads": 1,
        "user_listings": 0,
        "statuses": {"200": 2, "204": 1, "404": 1},
    }
