"""The demo tenant's users listing: every property of Microsoft's ``user`` type in ``$select``,
``perUserMfaState`` on the listing (v1.0 and beta), the switch that stops serving it, the knob that
makes it lag, and ``$filter=id in (…)`` with Graph's limit of 15 values."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msal
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from lib.emulator.server import RunningEmulator
from lib.emulator.user_schema import user_properties
from lib.emulator.wire import USER_PROPERTIES
from tests.conftest import GRAPH_SCOPE, control_headers, msal_http_client
from tests.test_emulator_graph import graph_error, http, leftovers, sdk, serve

ROOT = Path(__file__).resolve().parents[1]
REFUSED = "Could not find a property named 'perUserMfaState' on type 'Microsoft.DirectoryServices.User'."
ISSUE_NAMED = ("identities", "assignedPlans", "isResourceAccount", "onPremisesExtensionAttributes",
               "securityIdentifier", "preferredDataLocation", "licenseAssignmentStates")


@pytest.fixture
def emu() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


def _all_rows(c: httpx.Client, url: str) -> list[dict]:
    rows: list[dict] = []
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["value"]
        url = body.get("@odata.nextLink")
    return rows


def _config(emu: RunningEmulator, **changes: object) -> dict:
    with httpx.Client(base_url=emu.graph_url, headers=control_headers(emu)) as c:
        r = c.patch("/_emulator/config", json=changes)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_the_listing_serves_each_users_state_as_a_plain_string(emu: RunningEmulator, version: str) -> None:
    tenant = emu.state.tenant
    tenant.set_mfa_state(tenant.users[0], "enforced", "test")
    tenant.set_mfa_state(tenant.users[1], "enabled", "test")
    with http(emu) as c:
        rows = _all_rows(c, f"/{version}/users?$select=id,userPrincipalName,perUserMfaState&$top=7")
    truth = {u.id: u.mfa_state for u in tenant.users}
    assert {r["id"]: r["perUserMfaState"] for r in rows} == truth
    assert set(truth.values()) == {"disabled", "enabled", "enforced"}
    assert all(set(r) == {"id", "userPrincipalName", "perUserMfaState"} for r in rows)


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_select_accepts_every_property_of_microsofts_user_type(emu: RunningEmulator, version: str) -> None:
    names = list(user_properties(version))
    assert set(ISSUE_NAMED) <= set(names) and "id" in names and "deletedDateTime" in names
    with http(emu) as c:
        r = c.get(f"/{version}/users", params={"$select": ",".join([*names, "perUserMfaState"]), "$top": "3"})
        assert r.status_code == 200, r.text
        rows = r.json()["value"]
    schema = user_properties(version)
    no_data = set(schema) - set(USER_PROPERTIES)
    assert set(ISSUE_NAMED) <= no_data
    for row in rows:
        assert set(row) == {*names, "perUserMfaState"}
        for name, described in schema.items():
            if described["collection"]:
                assert isinstance(row[name], list), name
            if name in no_data:
                assert row[name] == ([] if described["collection"] else None), name
    row = rows[0]
    assert row["identities"] == [] and row["assignedPlans"] == [] and row["isResourceAccount"] is None
    assert row["onPremisesExtensionAttributes"] is None and row["securityIdentifier"] is None


def test_v1_and_beta_accept_different_lists(emu: RunningEmulator) -> None:
    beta_only = set(user_properties("beta")) - set(user_properties("v1.0"))
    assert "refreshTokensValidFromDateTime" in beta_only
    with http(emu) as c:
        assert c.get("/beta/users?$select=id,refreshTokensValidFromDateTime").status_code == 200
        assert graph_error(c.get("/v1.0/users?$select=id,refreshTokensValidFromDateTime")) == (
            400, "Request_BadRequest",
            "Could not find a property named 'refreshTokensValidFromDateTime' on type "
            "'Microsoft.DirectoryServices.User'.")


def test_the_sdks_typed_user_knows_every_property_but_per_user_mfa_state(emu: RunningEmulator) -> None:
    names = [*user_properties("v1.0"), "perUserMfaState"]

    async def read() -> list:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=names, top=5)
        page = await sdk(emu).users.get(request_configuration=RequestConfiguration(query_parameters=query))
        return page.value

    users = asyncio.run(read())
    assert len(users) == 5
    assert {path.rsplit(".", 1)[-1] for path in leftovers(users)} == {"perUserMfaState"}
    truth = {u.id: u.mfa_state for u in emu.state.tenant.users}
    assert all(u.additional_data["perUserMfaState"] == truth[u.id] for u in users)


def test_the_switch_makes_the_listing_refuse_the_property(emu: RunningEmulator) -> None:
    assert _config(emu, bulk_mfa_state=False)["bulk_mfa_state"] is False
    with http(emu) as c:
        for version in ("v1.0", "beta"):
            r = c.get(f"/{version}/users?$select=id,perUserMfaState")
            assert graph_error(r) == (400, "Request_BadRequest", REFUSED)
        assert c.get("/v1.0/users?$select=id,identities").status_code == 200
    _config(emu, bulk_mfa_state=True)
    with http(emu) as c:
        assert c.get("/v1.0/users?$select=id,perUserMfaState").status_code == 200


def test_a_single_user_is_not_where_graph_serves_it(emu: RunningEmulator) -> None:
    uid = emu.state.tenant.users[0].id
    with http(emu) as c:
        assert graph_error(c.get(f"/v1.0/users/{uid}?$select=id,perUserMfaState")) == (
            400, "Request_BadRequest", REFUSED)


def test_stale_knob_shows_the_previous_state_of_the_most_recently_changed_users(emu: RunningEmulator) -> None:
    tenant = emu.state.tenant
    changed = tenant.users[:3]
    before = {u.id: u.mfa_state for u in changed}
    for user in changed:
        tenant.set_mfa_state(user, "enforced" if user.mfa_state != "enforced" else "disabled", "test")
    _config(emu, bulk_mfa_state_stale=3)
    with http(emu) as c:
        rows = _all_rows(c, "/v1.0/users?$select=id,perUserMfaState&$top=999")
        listed = {r["id"]: r["perUserMfaState"] for r in rows}
        documented = {u.id: c.get(f"/beta/users/{u.id}/authentication/requirements").json()["perUserMfaState"]
                      for u in changed}
    assert {uid: listed[uid] for uid in before} == before
    assert documented == {u.id: u.mfa_state for u in changed} != before
    others = [u for u in tenant.users if u.id not in before]
    assert all(listed[u.id] == u.mfa_state for u in others)


def test_filter_by_id_in_returns_exactly_those_users_and_refuses_sixteen(emu: RunningEmulator) -> None:
    users = emu.state.tenant.users
    wanted = [u.id for u in users[3:18]]
    quoted = ",".join(f"'{uid}'" for uid in wanted)
    with http(emu) as c:
        r = c.get("/v1.0/users", params={"$filter": f"id in ({quoted})", "$select": "id,perUserMfaState"})
        assert r.status_code == 200, r.text
        assert sorted(row["id"] for row in r.json()["value"]) == sorted(wanted)
        batch = c.post("/v1.0/$batch", json={"requests": [
            {"id": "1", "method": "GET", "url": f"/users?$filter=id in ({quoted})&$select=id,perUserMfaState"}]})
        item = batch.json()["responses"][0]
        assert item["status"] == 200 and len(item["body"]["value"]) == 15
        sixteen = ",".join(f"'{u.id}'" for u in users[:16])
        assert graph_error(c.get("/v1.0/users", params={"$filter": f"id in ({sixteen})"})) == (
            400, "Request_UnsupportedQuery",
            "Too many child clauses specified in search filter expression containing 'OR' operators: 16. "
            "Max allowed: 15.")
        assert c.get("/v1.0/users", params={"$filter": "userType in ('Guest')"}).status_code == 400


@pytest.mark.slow
def test_the_command_line_flag_switches_the_property_off() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "lib.emulator", "--users", "50", "--no-bulk-mfa-state"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        app = msal.ConfidentialClientApplication(
            ready["client_id"], client_credential=ready["client_secret"], authority=ready["authority"],
            http_client=msal_http_client(ready["ca_cert"]), instance_discovery=False)
        token = app.acquire_token_for_client([GRAPH_SCOPE])["access_token"]
        with httpx.Client(trust_env=False, timeout=30, headers={"Authorization": f"Bearer {token}"}) as c:
            r = c.get(f"{ready['graph']}/v1.0/users?$select=id,perUserMfaState")
            assert graph_error(r) == (400, "Request_BadRequest", REFUSED)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
