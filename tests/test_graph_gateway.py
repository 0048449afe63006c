"""lib.graph.gateway against the demo tenant over real HTTP: real msgraph-sdk, real MSAL, real emulator."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from kiota_http.middleware import RetryHandler

from lib.emulator.model import App
from lib.emulator.server import RunningEmulator
from lib.emulator.throttle import REPORT, get_throttle
from lib.emulator.tokens import mint_access_token
from lib.emulator.wire import methods_json
from lib.graph import (
    BadRequest,
    Forbidden,
    GatewayOptions,
    GraphGateway,
    GraphUnavailable,
    MsalClientCredential,
    NoPremiumLicense,
    RetryPolicy,
    StaticTokenCredential,
    Unauthorized,
)

FAST_RETRY = RetryPolicy(backoff_base_s=0.002, backoff_max_s=0.02)
"""Client backoff scaled down like the emulator's clock (tests run with time_scale 0.01)."""
FORGED = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJub3QteW91cnMifQ.Zm9yZ2VkLXNpZ25hdHVyZQ"


def credential(
    emu: RunningEmulator, client_id: str | None = None, secret: str | None = None
) -> MsalClientCredential:
    """App-only tokens from the emulator's identity endpoints through real MSAL."""
    return MsalClientCredential(client_id or emu.client_id, secret or emu.client_secret, emu.authority,
                                ca_cert=emu.ca_cert)


@contextmanager
def gateway(emu: RunningEmulator, cred: Any = None, **options: Any) -> Iterator[GraphGateway]:
    opts = GatewayOptions(**{"retry": FAST_RETRY, **options})
    gw = GraphGateway(emu.graph_url, cred or credential(emu), options=opts)
    try:
        yield gw
    finally:
        gw.close()


def delegated(emu: RunningEmulator, upn_name: str = "admin") -> StaticTokenCredential:
    """A delegated token for a tenant user (as the auth module will get through MSAL's code flow)."""
    tenant = emu.state.tenant
    app = next(a for a in tenant.apps.values() if a.public_client)
    user = tenant.lookup(f"{upn_name}@{tenant.domain}")
    assert user is not None
    return StaticTokenCredential(mint_access_token(emu.state, app, app.permissions, user)[0])


# ------------------------------------------------------------------------------------------ paging

def test_users_over_many_pages_equal_the_tenant(emulator: RunningEmulator) -> None:
    users = emulator.state.tenant.users
    with gateway(emulator, page_size=7) as gw:
        rows = gw.list_users(["id", "userPrincipalName", "accountEnabled"])
        assert [(r["id"], r["userPrincipalName"], r["accountEnabled"]) for r in rows] == [
            (u.id, u.upn, u.account_enabled) for u in users]
        assert set(rows[0]) == {"id", "userPrincipalName", "accountEnabled"}
        assert gw.stats.requests == math.ceil(len(users) / 7) == 43


def test_typed_users_through_the_sdk_equal_the_dict_rows(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    # Typed models cost ~4 ms per user in msgraph-sdk's deserializer: a small tenant keeps this fast.
    emu = make_emulator(users=60, seed=12)
    with gateway(emu, page_size=25) as gw:
        typed = gw.list_users(["id", "userPrincipalName", "department"], typed=True)
        assert type(typed[0]).__name__ == "User"
        assert [(u.id, u.user_principal_name, u.department) for u in typed] == [
            (u.id, u.upn, u.department) for u in emu.state.tenant.users]
        assert gw.stats.requests == 3


def test_registration_report_pages_under_its_5_per_10s_limit(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=300, seed=11)
    expected = [u.id for u in emu.state.tenant.users if u.account_enabled]
    pages = math.ceil(len(expected) / 25)
    # 5 requests per (10 s x 0.01), from an empty bucket that waits for the first page: the report
    # bucket throttles this run however fast or slow the machine is
    get_throttle(emu.state).drain(emu.client_id, REPORT, 0.0, hold=True)
    with gateway(emu, page_size=25) as gw:
        rows = gw.list_registration_details()
        assert [r["id"] for r in rows] == expected
        # every 429 costs exactly one more request, honouring Retry-After (nothing given up, nothing skipped)
        assert gw.stats.throttled > 0
        assert gw.stats.requests == pages + gw.stats.throttled
        assert gw.stats.retries == gw.stats.throttled


def test_a_tenant_without_p1_raises_no_premium_licence(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=60, premium=False)
    with gateway(emu) as gw, pytest.raises(NoPremiumLicense) as caught:
        gw.list_registration_details()
    err = caught.value
    assert (err.status, err.graph_code) == (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    assert err.missing == "an Entra ID P1 or P2 licence (and the app needs Directory.Read.All to check it)"
    assert gw.stats.requests == 1  # a 403 is final: not retried


# ------------------------------------------------------------------------------------ batched reads

def test_mfa_states_and_methods_equal_the_tenant(emulator: RunningEmulator) -> None:
    tenant = emulator.state.tenant
    ids = [u.id for u in tenant.users]
    with gateway(emulator) as gw:
        states = gw.read_mfa_states(ids)
        assert states == {u.id: u.mfa_state for u in tenant.users}
        assert list(states) == ids
        assert (gw.stats.batch_requests, gw.stats.batch_items) == (15, 300)
        methods = gw.read_auth_methods(ids[:60])
        assert methods == {u.id: methods_json(u) for u in tenant.users[:60]}


def test_unknown_users_get_their_own_not_found(emulator: RunningEmulator) -> None:
    known = emulator.state.tenant.users[0]
    with gateway(emulator) as gw:
        states = gw.read_mfa_states([known.id, "00000000-0000-0000-0000-000000000000", "ghost#EXT#@x.test"])
    assert states[known.id] == known.mfa_state
    for key in ("00000000-0000-0000-0000-000000000000", "ghost#EXT#@x.test"):
        err = states[key]
        assert (type(err).__name__, err.status, err.graph_code) == ("NotFound", 404, "Request_ResourceNotFound")


def test_writes_apply_report_each_item_and_read_back(make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=120, seed=3)
    users = emu.state.tenant.users
    wanted = {u.id: ("enforced" if i % 3 else "disabled") for i, u in enumerate(users[:90])}
    seen: list[tuple[str, str, int, str]] = []

    def on_result(result: Any) -> None:
        seen.append((result.key, result.outcome, result.status, threading.current_thread().name))

    with gateway(emu) as gw:
        report = gw.write_mfa_states(wanted, on_result=on_result)
        assert [(r.key, r.outcome, r.status, r.attempts) for r in report.results] == [
            (uid, "ok", 204, 1) for uid in wanted]
        assert sorted(s[:3] for s in seen) == sorted((uid, "ok", 204) for uid in wanted)
        assert {s[3] for s in seen} == {gw.loop.thread.name}
        assert {uid: emu.state.tenant.by_id[uid].mfa_state for uid in wanted} == wanted
        assert gw.read_mfa_states(list(wanted)) == wanted
        with pytest.raises(ValueError, match="perUserMfaState must be one of"):
            gw.write_mfa_states({users[0].id: "on"})


# ------------------------------------------------------------------------ signed-in admin, tenant

def test_me_roles_and_organization_for_a_signed_in_admin(emulator: RunningEmulator) -> None:
    tenant = emulator.state.tenant
    admin = tenant.lookup(f"admin@{tenant.domain}")
    with gateway(emulator, delegated(emulator)) as gw:
        me = gw.me(["id", "userPrincipalName"])
        assert (me["id"], me["userPrincipalName"]) == (admin.id, admin.upn)
        assert [r["roleTemplateId"] for r in gw.my_directory_roles()] == list(admin.roles)
        org = gw.organization()
        assert (org["id"], org["displayName"]) == (tenant.id, tenant.name)


def test_me_with_an_app_only_token_is_a_final_bad_request(emulator: RunningEmulator) -> None:
    with gateway(emulator) as gw, pytest.raises(BadRequest) as caught:
        gw.me()
    assert (caught.value.status, caught.value.message) == (
        400, "/me request is only valid with delegated authentication flow.")
    assert gw.stats.requests == 1


# ------------------------------------------------------------------------------------------- errors

def test_a_bad_token_is_unauthorized_and_never_shown(emulator: RunningEmulator) -> None:
    with gateway(emulator, StaticTokenCredential(FORGED)) as gw:
        with pytest.raises(Unauthorized) as caught:
            gw.list_users()
        err = caught.value
        assert (err.status, err.graph_code) == (401, "InvalidAuthenticationToken")
        assert FORGED not in str(err) and FORGED not in repr(err) and FORGED not in str(err.to_dict())
        with pytest.raises(Unauthorized):
            gw.read_mfa_states([u.id for u in emulator.state.tenant.users[:30]])
        assert gw.stats.retries == 0


def test_an_app_without_policy_permission_gets_forbidden_naming_it(
    make_emulator: Callable[..., RunningEmulator],
) -> None:
    emu = make_emulator(users=60)
    reader = App("11111111-2222-3333-4444-555555555555", "Directory reader", "reader-secret",
                 frozenset({"User.Read.All"}))
    emu.state.tenant.apps[reader.client_id] = reader
    ids = [u.id for u in emu.state.tenant.users[:5]]
    with gateway(emu, credential(emu, reader.client_id, "reader-secret")) as gw:
        assert [r["id"] for r in gw.list_users(["id"])] == [u.id for u in emu.state.tenant.users]
        states = gw.read_mfa_states(ids)
        assert {type(e) for e in states.values()} == {Forbidden}
        assert {(e.status, e.graph_code, e.missing) for e in states.values()} == {
            (403, "Authorization_RequestDenied", "Policy.Read.All (application or delegated)")}
        report = gw.write_mfa_states({ids[0]: "enforced"})
        [result] = report.results
        assert (result.outcome, result.status, result.attempts) == ("failed", 403, 1)
        assert result.error.missing.startswith("Policy.ReadWrite.AuthenticationMethod")


def test_an_unreachable_graph_names_the_url_and_not_the_token() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "secret-token-value-123"
    options = GatewayOptions(retry=RetryPolicy(max_attempts=3, backoff_base_s=0.001, backoff_max_s=0.002))
    gw = GraphGateway(f"http://127.0.0.1:{port}", StaticTokenCredential(token), options=options)
    try:
        with pytest.raises(GraphUnavailable) as caught:
            gw.organization()
        assert str(caught.value) == (
            f"cannot reach Microsoft Graph at http://127.0.0.1:{port}/v1.0/organization: connection refused "
            "or host unreachable (All connection attempts failed)")
        assert token not in str(caught.value)
        assert (gw.stats.requests, gw.stats.retries) == (3, 2)
        states = gw.read_mfa_states(["a", "b"])
        assert {str(e) for e in states.values()} == {
            f"cannot reach Microsoft Graph at http://127.0.0.1:{port}/beta/$batch: connection refused or "
            "host unreachable (All connection attempts failed)"}
    finally:
        gw.close()


# -------------------------------------------------------------------------------- the loop thread

def test_the_loop_thread_survives_many_sync_calls_from_many_threads(emulator: RunningEmulator) -> None:
    tenant_id = emulator.state.tenant.id
    with gateway(emulator) as gw:
        for _ in range(30):
            assert gw.organization()["id"] == tenant_id
            asyncio.run(asyncio.sleep(0))  # loops come and go elsewhere: ours is untouched
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda _: gw.organization()["id"], range(40)))
        assert ids == [tenant_id] * 40
        with gateway(emulator) as second:  # a second gateway shares the loop thread
            assert second.loop is gw.loop
            assert second.organization()["id"] == tenant_id
        assert gw.organization()["id"] == tenant_id

        async def elsewhere() -> Any:
            return await gw.aio.organization()

        with pytest.raises(RuntimeError, match="bound to its own event loop thread"):
            asyncio.run(elsewhere())
        assert gw.submit(gw.aio.organization()).result(10)["id"] == tenant_id


def test_kiota_retry_middleware_is_left_out(emulator: RunningEmulator) -> None:
    with gateway(emulator) as gw:
        names = []
        handler = gw.aio.http._transport.pipeline._first_middleware
        while handler is not None:
            names.append(type(handler).__name__)
            assert not isinstance(handler, RetryHandler)
            handler = handler.next
        assert names == ["RedirectHandler", "ParametersNameDecodingHandler", "UrlReplaceHandler",
                         "UserAgentHandler", "HeadersInspectionHandler", "GraphTelemetryHandler",
                         "_StatsHandler"]


def test_requests_are_counted_for_the_thread_that_sent_them(emulator: RunningEmulator) -> None:
    """A snapshot reads its policies in a thread beside the users listing; each part counts its own."""
    from lib.graph import count_requests

    def own_pages() -> int:
        with count_requests() as sent:
            gw.list_users(["id"])
        return sent.requests

    with gateway(emulator, page_size=7) as gw, ThreadPoolExecutor(2) as pool:
        counted = list(pool.map(lambda _: own_pages(), range(2)))
        assert counted == [math.ceil(300 / 7)] * 2 == [43, 43]
        assert gw.stats.requests == 86
