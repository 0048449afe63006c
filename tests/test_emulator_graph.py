"""The emulator's Graph routes over real HTTP, read through the real msgraph-sdk where it has the endpoint.

A small hand-built tenant (``small_tenant``) gives every assertion an exact expected value. The
helpers at the top (tenant, tokens, SDK client, server) are shared with test_emulator_batch.py and
test_emulator_throttle.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.serialization import Parsable
from msgraph import GraphServiceClient
from msgraph.generated.models.email_authentication_method import EmailAuthenticationMethod
from msgraph.generated.models.fido2_authentication_method import Fido2AuthenticationMethod
from msgraph.generated.models.microsoft_authenticator_authentication_method import (
    MicrosoftAuthenticatorAuthenticationMethod,
)
from msgraph.generated.models.password_authentication_method import PasswordAuthenticationMethod
from msgraph.generated.models.phone_authentication_method import PhoneAuthenticationMethod
from msgraph.generated.models.temporary_access_pass_authentication_method import (
    TemporaryAccessPassAuthenticationMethod,
)
from msgraph.generated.models.windows_hello_for_business_authentication_method import (
    WindowsHelloForBusinessAuthenticationMethod,
)
from msgraph.generated.reports.authentication_methods.user_registration_details.user_registration_details_request_builder import (  # noqa: E501
    UserRegistrationDetailsRequestBuilder,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core.tasks.page_iterator import PageIterator

from lib.emulator.model import (
    AUTHENTICATION_POLICY_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    App,
    AuthMethod,
    Event,
    SyntheticTenant,
    SyntheticWave,
    User,
)
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.tokens import mint_access_token
from tests.conftest import control_headers
from tests.fixtures import graph_example

JSON_CT = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)
DOMAIN = "contoso.test"
ALL_APP_PERMISSIONS = frozenset(
    {
        "User.Read.All",
        "Directory.Read.All",
        "AuditLog.Read.All",
        "Policy.Read.All",
        "Policy.ReadWrite.AuthenticationMethod",
        "UserAuthenticationMethod.Read.All",
        "Organization.Read.All",
        "RoleManagement.Read.Directory",
    }
)
DELEGATED = frozenset(
    {
        "User.Read",
        "User.Read.All",
        "Directory.Read.All",
        "AuditLog.Read.All",
        "Policy.Read.All",
        "Policy.ReadWrite.AuthenticationMethod",
        "UserAuthenticationMethod.Read.All",
        "RoleManagement.Read.Directory",
    }
)
APP_ID = "11111111-1111-4111-8111-111111111111"
LIMITED_APP_ID = "22222222-2222-4222-8222-222222222222"
PUBLIC_APP_ID = "33333333-3333-4333-8333-333333333333"
FILLERS = 30


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


def make_user(
    name: str,
    *,
    display: str | None = None,
    user_type: str = "Member",
    enabled: bool = True,
    roles: tuple[str, ...] = (),
    state: str = "disabled",
    methods: tuple[tuple[str, timedelta], ...] = (),
    department: str | None = "Sales",
    upn: str | None = None,
) -> User:
    user = User(
        id=uid(name),
        upn=upn or f"{name}@{DOMAIN}",
        display_name=display or name.capitalize(),
        given_name=name.capitalize(),
        surname="Test",
        mail=f"{name}@{DOMAIN}",
        user_type=user_type,
        account_enabled=enabled,
        department=department,
        job_title="Engineer",
        usage_location="SE",
        country="Sweden",
        created=NOW - timedelta(days=400),
        on_premises_sync=False,
        license_skus=("05e9a617-0261-4cee-bb44-138d3ef5d965",),
        kind="person",
        roles=roles,
        mfa_state=state,
    )
    for i, (kind, age) in enumerate(methods):
        user.methods.append(AuthMethod(kind, uid(f"{name}-m{i}"), NOW - age, f"{name} {kind}"))
    return user


def small_tenant(premium: bool = True, fillers: int = FILLERS) -> SyntheticTenant:
    """10 named users + ``fillers`` plain members (User000…): under 50, so 3,500 RU per 10 s."""
    d = timedelta(days=1)
    users = [
        make_user(
            "admin",
            roles=(GLOBAL_ADMINISTRATOR,),
            state="enforced",
            methods=(("microsoftAuthenticatorPush", 30 * d),),
            department="IT",
        ),
        make_user("reader", roles=(GLOBAL_READER,), department="IT"),
        make_user("alice", methods=(("mobilePhone", 10 * d), ("softwareOneTimePasscode", 5 * d))),
        make_user("bob"),
        make_user("carol", methods=(("fido2", timedelta(hours=1)),)),
        make_user("dave", enabled=False, methods=(("mobilePhone", 20 * d),)),
        make_user(
            "eve",
            display="Eve Guest",
            user_type="Guest",
            upn=f"eve_example.com#EXT#@{DOMAIN}",
            department=None,
        ),
        make_user("frank", methods=(("email", 7 * d),)),
        make_user(
            "policy",
            roles=(AUTHENTICATION_POLICY_ADMINISTRATOR,),
            state="enforced",
            methods=(("windowsHelloForBusiness", 40 * d),),
            department="IT",
        ),
        make_user(
            "grace",
            methods=tuple(
                (k, (9 - i) * d)
                for i, k in enumerate(
                    (
                        "microsoftAuthenticatorPasswordless",
                        "alternateMobilePhone",
                        "officePhone",
                        "hardwareOneTimePasscode",
                        "temporaryAccessPass",
                        "windowsHelloForBusiness",
                        "email",
                        "microsoftAuthenticatorPush",
                        "fido2",
                    )
                )
            ),
        ),
    ]
    users += [make_user(f"user{i:03d}", display=f"User {i:03d}", department="Ops") for i in range(fillers)]
    users[0].last_sign_in = NOW - timedelta(hours=5)
    users[0].events.append(Event(NOW - 30 * d, "state", "enforced", "admin@contoso.test"))
    apps = {
        APP_ID: App(APP_ID, "Rollout daemon", "secret", ALL_APP_PERMISSIONS),
        LIMITED_APP_ID: App(LIMITED_APP_ID, "Directory reader", "secret2", frozenset({"User.Read.All"})),
        PUBLIC_APP_ID: App(PUBLIC_APP_ID, "Rollout console", None, DELEGATED, public_client=True),
    }
    waves = [SyntheticWave("Wave 1", NOW - 20 * d, "admin@contoso.test", [users[0].id, users[8].id])]
    return SyntheticTenant(
        id=uid("tenant"),
        name="Contoso Test",
        domain=DOMAIN,
        premium=premium,
        created=NOW - 900 * d,
        now=NOW,
        seed=1,
        users=users,
        waves=waves,
        apps=apps,
    )


def serve(tenant: SyntheticTenant | None = None, **config: Any) -> RunningEmulator:
    """An emulator for ``tenant`` (default: a fresh ``small_tenant``); no throttling unless asked."""
    config.setdefault("throttle", False)
    return start_emulator(tenant or small_tenant(), config=EmulatorConfig(**config))


def app_token(emu: RunningEmulator, app_id: str = APP_ID, permissions: frozenset[str] | None = None) -> str:
    app = emu.state.tenant.apps[app_id]
    return mint_access_token(emu.state, app, app.permissions if permissions is None else permissions)[0]


def user_token(emu: RunningEmulator, name: str, scopes: frozenset[str] = DELEGATED) -> str:
    tenant = emu.state.tenant
    return mint_access_token(
        emu.state, tenant.apps[PUBLIC_APP_ID], scopes, tenant.lookup(f"{name}@{DOMAIN}")
    )[0]


def http(emu: RunningEmulator, token: str | None = None, **kw: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token or app_token(emu)}"}
    return httpx.Client(base_url=emu.graph_url, headers=headers, timeout=30, **kw)


class StaticCredential:
    """What msgraph-sdk needs from a credential: ``get_token(*scopes) -> AccessToken``."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kw: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def sdk(emu: RunningEmulator, token: str | None = None, version: str = "v1.0") -> GraphServiceClient:
    """msgraph-sdk pointed at the emulator (call inside the event loop that will use it)."""
    client = GraphServiceClient(
        credentials=StaticCredential(token or app_token(emu)), scopes=["https://graph.microsoft.com/.default"]
    )
    client.request_adapter.base_url = f"{emu.graph_url}/{version}"
    return client


def leftovers(obj: Any, path: str = "") -> list[str]:
    """Keys that landed in ``additional_data`` anywhere in a typed model (OData annotations excepted)."""
    found: list[str] = []
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            found += leftovers(item, f"{path}[{i}]")
    elif isinstance(obj, Parsable) and dataclasses.is_dataclass(obj):
        extra = getattr(obj, "additional_data", None) or {}
        found += [f"{path}.{k}" for k in extra if not k.startswith("@odata.")]
        for f in dataclasses.fields(obj):
            if f.name != "additional_data":
                found += leftovers(getattr(obj, f.name), f"{path}.{f.name}")
    return found


def graph_error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    """Read-only tests share one emulator (premium, no throttling)."""
    with serve() as running:
        yield running


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    """Tests that change the tenant get their own."""
    with serve() as running:
        yield running


def tenant_user(emu: RunningEmulator, name: str) -> User:
    user = emu.state.tenant.lookup(f"{name}@{DOMAIN}")
    assert user is not None
    return user


# ------------------------------------------------------------------------------------------- users


def test_users_default_page_has_the_documented_shape(emu: RunningEmulator) -> None:
    doc = graph_example("v1.0-users-list.json")
    with http(emu) as c:
        r = c.get("/v1.0/users", headers={"client-request-id": "abc-123"})
    assert r.status_code == 200
    assert r.headers["content-type"] == JSON_CT
    assert r.headers["client-request-id"] == "abc-123"
    uuid.UUID(r.headers["request-id"])
    body = r.json()
    assert list(body) == ["@odata.context", "value"]  # 40 users fit the default page of 100
    assert body["@odata.context"] == f"{emu.graph_url}/v1.0/$metadata#users"
    assert [list(u) for u in body["value"]] == [list(doc["value"][0])] * 40
    assert body["value"][2] == {
        "businessPhones": [],
        "displayName": "Alice",
        "givenName": "Alice",
        "jobTitle": "Engineer",
        "mail": f"alice@{DOMAIN}",
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": "Test",
        "userPrincipalName": f"alice@{DOMAIN}",
        "id": uid("alice"),
    }


def test_users_through_the_sdk_with_select_filter_top_and_count(emu: RunningEmulator) -> None:
    async def run() -> Any:
        client = sdk(emu)
        qp = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=[
                "id",
                "displayName",
                "userPrincipalName",
                "mail",
                "userType",
                "accountEnabled",
                "department",
                "jobTitle",
                "usageLocation",
                "createdDateTime",
                "onPremisesSyncEnabled",
                "assignedLicenses",
                "country",
                "givenName",
                "surname",
                "businessPhones",
                "mobilePhone",
                "officeLocation",
                "preferredLanguage",
                "signInActivity",
            ],
            filter="accountEnabled eq true and userType eq 'Member' and startsWith(userPrincipalName,'a')",
            top=1,
            count=True,
        )
        config = RequestConfiguration(query_parameters=qp)
        config.headers.add("ConsistencyLevel", "eventual")
        return await client.users.get(request_configuration=config)

    page = asyncio.run(run())
    assert page.odata_count == 2  # admin, alice
    assert page.odata_next_link is not None and "$skiptoken=" in page.odata_next_link
    [admin] = page.value
    assert leftovers(page) == []
    assert (admin.id, admin.display_name, admin.user_type, admin.account_enabled) == (
        uid("admin"),
        "Admin",
        "Member",
        True,
    )
    assert admin.created_date_time == NOW - timedelta(days=400)
    assert admin.assigned_licenses[0].sku_id == uuid.UUID("05e9a617-0261-4cee-bb44-138d3ef5d965")
    assert admin.assigned_licenses[0].disabled_plans == []
    assert admin.on_premises_sync_enabled is None
    assert admin.sign_in_activity.last_sign_in_date_time == NOW - timedelta(hours=5)


def test_paging_with_page_iterator_visits_every_user_once(emu: RunningEmulator) -> None:
    seen: list[str] = []
    pages: list[int] = []

    async def run() -> None:
        client = sdk(emu)
        qp = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=["id"], top=7)
        first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=qp))
        pages.append(len(first.value))

        def collect(user: Any) -> bool:
            seen.append(user.id)
            return True

        await PageIterator(first, client.request_adapter).iterate(collect)

    asyncio.run(run())
    assert seen == [u.id for u in emu.state.tenant.users]
    assert pages == [7]


def _follow(c: httpx.Client, url: str, **kw: Any) -> list[dict]:
    bodies = []
    while url:
        r = c.get(url, **kw)
        assert r.status_code == 200, r.text
        bodies.append(r.json())
        url = bodies[-1].get("@odata.nextLink")
    return bodies


def test_filtered_paging_has_no_gaps_no_duplicates_and_count_on_first_page_only(emu: RunningEmulator) -> None:
    with http(emu) as c:
        bodies = _follow(
            c,
            "/v1.0/users?$filter=startsWith(displayName,'user 01')&$top=3&$count=true&$select=id,displayName",
            headers={"ConsistencyLevel": "eventual"},
        )
    names = [u["displayName"] for b in bodies for u in b["value"]]
    assert names == [f"User {i:03d}" for i in range(10, 20)]
    assert [len(b["value"]) for b in bodies] == [3, 3, 3, 1]
    assert bodies[0]["@odata.count"] == 10
    assert all("@odata.count" not in b for b in bodies[1:])
    link = bodies[0]["@odata.nextLink"]
    assert link.startswith(f"{emu.graph_url}/v1.0/users?$filter=startsWith(displayName,'user%2001')&$top=3")
    assert "@odata.nextLink" not in bodies[-1]


def test_a_tampered_or_foreign_skiptoken_is_refused(emu: RunningEmulator) -> None:
    with http(emu) as c:
        link = c.get("/v1.0/users?$top=5").json()["@odata.nextLink"]
        token = link.split("$skiptoken=")[1]
        mac, pos = token.split("_")
        forged = link.replace(token, f"{mac}_{int(pos) + 5}")
        other_query = link.replace("$top=5", "$top=6")
        assert c.get(link).status_code == 200
        for url in (forged, other_query, "/v1.0/users?$skiptoken=garbage"):
            r = c.get(url)
            assert graph_error(r) == (
                400,
                "Request_BadRequest",
                "The specified page token value is invalid or has expired.",
            )


@pytest.mark.parametrize(
    ("query", "status", "code", "message"),
    [
        (
            "$select=id,strongAuthenticationRequirements",
            400,
            "Request_BadRequest",
            "Could not find a property named 'strongAuthenticationRequirements' on type "
            "'Microsoft.DirectoryServices.User'.",
        ),
        (
            "$top=1000",
            400,
            "Request_BadRequest",
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.",
        ),
        (
            "$top=0",
            400,
            "Request_BadRequest",
            "Invalid page size specified: '0'. Must be between 1 and 999 inclusive.",
        ),
        ("$top=ten", 400, "BadRequest", "Invalid $top query option value 'ten'."),
        ("$skip=5", 400, "Request_BadRequest", "'$skip' is not supported by the service."),
        (
            "$top=5&$top=6",
            400,
            "BadRequest",
            "Query option '$top' was specified more than once, but it must be specified at most once.",
        ),
        ("$count=true", 400, "Request_BadRequest", "$count is not currently supported."),
        (
            "$count=maybe",
            400,
            "BadRequest",
            "Invalid value 'maybe' for $count query option found. "
            "The $count query option requires a Boolean value.",
        ),
        (
            "$filter=accountEnabled eq",
            400,
            "BadRequest",
            "Invalid filter clause: Syntax error at position 17 in 'accountEnabled eq'.",
        ),
        (
            "$filter=accountEnabled eq 'true'",
            400,
            "BadRequest",
            "Invalid filter clause: A binary operator with incompatible types was detected. "
            "Found operand types 'Edm.Boolean' and 'Edm.String' for operator kind 'Equal'.",
        ),
        (
            "$filter=department eq 'Sales'",
            400,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified for property 'department' "
            "of resource 'User'.",
        ),
        (
            "$filter=endsWith(mail,'a@contoso.test')",
            400,
            "Request_UnsupportedQuery",
            "Unsupported query function 'endsWith'.",
        ),
        (
            "$filter=accountEnabled eq true or userType eq 'Guest'",
            400,
            "Request_UnsupportedQuery",
            "Unsupported query operator 'or'.",
        ),
        (
            "$filter=accountEnabled ne true",
            400,
            "Request_UnsupportedQuery",
            "Unsupported query operator 'ne'.",
        ),
        (
            "$filter=startsWith(userType,'G')",
            400,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified for property 'userType' "
            "of resource 'User'.",
        ),
        (
            "$filter=startsWith(displayName,'a'",
            400,
            "BadRequest",
            "Invalid filter clause: Syntax error at position 26 in 'startsWith(displayName,'a''.",
        ),
        (
            "$filter=userType eq 'Guest'&$orderby=displayName",
            400,
            "Request_UnsupportedQuery",
            "Sorting not supported for current query.",
        ),
    ],
)
def test_bad_user_queries_get_graphs_errors(
    emu: RunningEmulator, query: str, status: int, code: str, message: str
) -> None:
    with http(emu) as c:
        assert graph_error(c.get(f"/v1.0/users?{query}")) == (status, code, message)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("accountEnabled eq false", ["dave"]),
        ("userType eq 'guest'", ["eve"]),
        ("startsWith(userPrincipalName,'A') and accountEnabled eq true", ["admin", "alice"]),
        ("(userType eq 'Member') and startsWith(displayName,'Gr')", ["grace"]),
        (f"userPrincipalName eq 'BOB@{DOMAIN}'", ["bob"]),
    ],
)
def test_user_filters_select_exactly_the_matching_users(
    emu: RunningEmulator, flt: str, expected: list[str]
) -> None:
    with http(emu) as c:
        body = c.get("/v1.0/users", params={"$filter": flt, "$select": "mail"}).json()
    assert [u["mail"].split("@")[0] for u in body["value"]] == expected


def test_orderby_display_name_descending(emu: RunningEmulator) -> None:
    with http(emu) as c:
        body = c.get("/v1.0/users?$orderby=displayName desc&$top=3&$select=displayName").json()
    assert [u["displayName"] for u in body["value"]] == ["User 029", "User 028", "User 027"]


def test_users_count_is_text_and_needs_consistency_level(emu: RunningEmulator) -> None:
    with http(emu) as c:
        r = c.get("/v1.0/users/$count", headers={"ConsistencyLevel": "eventual"})
        assert (r.status_code, r.headers["content-type"], r.text) == (200, "text/plain", "40")
        r = c.get(
            "/v1.0/users/$count?$filter=accountEnabled eq false", headers={"ConsistencyLevel": "eventual"}
        )
        assert r.text == "1"
        assert graph_error(c.get("/v1.0/users/$count")) == (
            400,
            "Request_BadRequest",
            "$count is not currently supported.",
        )


def test_sign_in_activity_needs_premium_and_audit_log_permission(emu: RunningEmulator) -> None:
    with http(emu) as c:
        r = c.get(f"/v1.0/users/{uid('admin')}?$select=id,signInActivity")
        assert r.json()["signInActivity"] == {
            "lastSignInDateTime": "2025-06-02T07:00:00Z",
            "lastSignInRequestId": r.json()["signInActivity"]["lastSignInRequestId"],
            "lastNonInteractiveSignInDateTime": "2025-06-02T07:00:00Z",
            "lastNonInteractiveSignInRequestId": r.json()["signInActivity"]["lastSignInRequestId"],
            "lastSuccessfulSignInDateTime": "2025-06-02T07:00:00Z",
            "lastSuccessfulSignInRequestId": r.json()["signInActivity"]["lastSignInRequestId"],
        }
        never = c.get(f"/v1.0/users/{uid('bob')}?$select=signInActivity").json()["signInActivity"]
        assert never["lastSignInDateTime"] is None and never["lastNonInteractiveSignInDateTime"] is None
    with http(emu, app_token(emu, permissions=frozenset({"User.Read.All"}))) as c:
        assert graph_error(c.get("/v1.0/users?$select=signInActivity")) == (
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
        assert c.get("/v1.0/users?$select=id").status_code == 200
    with serve(small_tenant(premium=False)) as basic, http(basic) as c:
        assert graph_error(c.get("/v1.0/users?$select=id,signInActivity")) == (
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Tenant is not a B2C tenant and doesn't have premium license",
        )


def test_user_by_id_or_upn_and_unknown_user(emu: RunningEmulator) -> None:
    with http(emu) as c:
        by_id = c.get(f"/v1.0/users/{uid('eve')}?$select=id,userType,userPrincipalName").json()
        by_upn = c.get(
            f"/v1.0/users/{'eve_example.com%23EXT%23@' + DOMAIN}?$select=id,userType,userPrincipalName"
        )
        assert by_upn.json() == by_id
        assert by_id == {
            "@odata.context": f"{emu.graph_url}/v1.0/$metadata#users(id,userType,userPrincipalName)/$entity",
            "id": uid("eve"),
            "userType": "Guest",
            "userPrincipalName": f"eve_example.com#EXT#@{DOMAIN}",
        }
        assert c.get(f"/v1.0/users/ALICE@{DOMAIN.upper()}").json()["id"] == uid("alice")
        assert graph_error(c.get("/v1.0/users/nobody@contoso.test")) == (
            404,
            "Request_ResourceNotFound",
            "Resource 'nobody@contoso.test' does not exist or one of its queried "
            "reference-property objects are not present.",
        )


def test_me_is_for_delegated_callers_only(emu: RunningEmulator) -> None:
    async def run() -> Any:
        return await sdk(emu, user_token(emu, "alice")).me.get()

    me = asyncio.run(run())
    assert (me.id, me.user_principal_name, me.display_name) == (uid("alice"), f"alice@{DOMAIN}", "Alice")
    assert leftovers(me) == []
    with http(emu) as c:
        assert graph_error(c.get("/v1.0/me")) == (
            400,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        )


def test_organization_through_the_sdk(emu: RunningEmulator) -> None:
    async def run(target: RunningEmulator) -> Any:
        return await sdk(target).organization.get()

    orgs = asyncio.run(run(emu))
    assert leftovers(orgs) == []
    [org] = orgs.value
    assert (org.id, org.display_name) == (emu.state.tenant.id, "Contoso Test")
    assert [d.name for d in org.verified_domains] == [DOMAIN, "contoso.onmicrosoft.com"]
    assert [str(p.service_plan_id) for p in org.assigned_plans] == [
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
        "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    ]
    with serve(small_tenant(premium=False)) as basic:
        [org] = asyncio.run(run(basic)).value
    assert [p.service for p in org.assigned_plans] == ["exchange"]


def test_directory_roles_of_me_and_of_a_user(emu: RunningEmulator) -> None:
    async def run() -> tuple[Any, Any, Any]:
        config = RequestConfiguration()
        config.headers.add("ConsistencyLevel", "eventual")
        mine = await sdk(emu, user_token(emu, "admin")).me.transitive_member_of.graph_directory_role.get(
            config
        )
        client = sdk(emu)
        reader = await client.users.by_user_id(uid("reader")).transitive_member_of.graph_directory_role.get()
        none = await client.users.by_user_id(f"bob@{DOMAIN}").transitive_member_of.graph_directory_role.get()
        return mine, reader, none

    mine, reader, none = asyncio.run(run())
    assert leftovers([mine, reader, none]) == []
    [role] = mine.value
    assert (role.display_name, role.role_template_id, role.deleted_date_time) == (
        "Global Administrator",
        GLOBAL_ADMINISTRATOR,
        None,
    )
    assert role.description.startswith("Can manage all aspects of Microsoft Entra ID")
    assert [r.role_template_id for r in reader.value] == [GLOBAL_READER]
    assert none.value == []
    with http(emu, user_token(emu, "policy")) as c:
        body = c.get("/v1.0/me/transitiveMemberOf/microsoft.graph.directoryRole").json()
    assert body["@odata.context"] == f"{emu.graph_url}/v1.0/$metadata#directoryRoles"
    assert [r["roleTemplateId"] for r in body["value"]] == [AUTHENTICATION_POLICY_ADMINISTRATOR]
    assert set(body["value"][0]) == {
        "@odata.type",
        "id",
        "deletedDateTime",
        "description",
        "displayName",
        "roleTemplateId",
    }


# ------------------------------------------------------------------------------------------ reports

REPORT = "/v1.0/reports/authenticationMethods/userRegistrationDetails"


def test_registration_rows_match_the_documented_shape_and_the_tenant(emu: RunningEmulator) -> None:
    doc = graph_example("v1.0-userregistrationdetails-list.json")
    with http(emu) as c:
        rows = {
            r["userPrincipalName"].split("@")[0]: r
            for b in _follow(c, f"{REPORT}?$top=999")
            for r in b["value"]
        }
    assert "dave" not in rows  # disabled accounts are not listed
    assert len(rows) == 39
    assert all(list(r) == list(doc["value"][0]) for r in rows.values())
    assert rows["alice"] == {
        "id": uid("alice"),
        "userPrincipalName": f"alice@{DOMAIN}",
        "userDisplayName": "Alice",
        "isAdmin": False,
        "isSsprRegistered": True,
        "isSsprEnabled": False,
        "isSsprCapable": False,
        "isMfaRegistered": True,
        "isMfaCapable": True,
        "isPasswordlessCapable": False,
        "lastUpdatedDateTime": "2025-05-28T12:00:00.0000000Z",
        "methodsRegistered": ["mobilePhone", "softwareOneTimePasscode"],
        "isSystemPreferredAuthenticationMethodEnabled": True,
        "systemPreferredAuthenticationMethods": ["oath"],
        "userPreferredMethodForSecondaryAuthentication": "oath",
        "userType": "member",
    }
    guest = rows["eve_example.com#EXT#"]
    assert (
        guest["userType"],
        guest["methodsRegistered"],
        guest["systemPreferredAuthenticationMethods"],
        guest["userPreferredMethodForSecondaryAuthentication"],
        guest["isMfaRegistered"],
    ) == ("guest", [], [], "", False)
    assert guest["lastUpdatedDateTime"] == "2024-04-28T12:00:00.0000000Z"  # created: no method seen yet
    # carol registered a key an hour ago: the report lags by three hours and does not show it yet
    assert (rows["carol"]["methodsRegistered"], rows["carol"]["isMfaRegistered"]) == ([], False)
    assert (rows["admin"]["isAdmin"], rows["admin"]["systemPreferredAuthenticationMethods"]) == (
        True,
        ["push"],
    )
    assert (rows["frank"]["isMfaRegistered"], rows["frank"]["isSsprRegistered"]) == (False, True)
    assert rows["policy"]["isPasswordlessCapable"] is True


def test_registration_report_through_the_sdk_pages_with_the_smaller_default(emu: RunningEmulator) -> None:
    async def run() -> tuple[Any, list[Any]]:
        client = sdk(emu)
        first = await client.reports.authentication_methods.user_registration_details.get()
        items: list[Any] = []
        await PageIterator(first, client.request_adapter).iterate(lambda row: items.append(row) or True)
        return first, items

    first, items = asyncio.run(run())
    assert len(first.value) == 39 and first.odata_next_link is None  # default page 50 > 39 rows
    assert leftovers(first) == []
    alice = next(r for r in items if r.id == uid("alice"))
    assert alice.methods_registered == ["mobilePhone", "softwareOneTimePasscode"]
    assert alice.user_type.value == "member" and alice.is_mfa_capable is True


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("isMfaRegistered eq true", ["admin", "alice", "policy", "grace"]),
        ("isAdmin eq true", ["admin", "reader", "policy"]),
        ("methodsRegistered/any(x:x eq 'email')", ["frank", "grace"]),
        ("methodsRegistered/any(m:m eq 'fido2')", ["grace"]),
        ("userType eq 'guest'", ["eve_example.com#EXT#"]),
        ("startsWith(userPrincipalName,'a') and isMfaCapable eq true", ["admin", "alice"]),
        ("startsWith(userDisplayName,'Eve')", ["eve_example.com#EXT#"]),
        ("isMfaRegistered eq false and isAdmin eq true", ["reader"]),
    ],
)
def test_registration_filters(emu: RunningEmulator, flt: str, expected: list[str]) -> None:
    with http(emu) as c:
        rows = [
            r
            for b in _follow(c, f"{REPORT}?$top=2&$select=userPrincipalName", params={"$filter": flt})
            for r in b["value"]
        ]
    assert [r["userPrincipalName"].split("@")[0] for r in rows] == expected


def test_registration_orderby_and_filter_through_the_sdk(emu: RunningEmulator) -> None:
    async def run() -> Any:
        qp = UserRegistrationDetailsRequestBuilder.UserRegistrationDetailsRequestBuilderGetQueryParameters(
            filter="isAdmin eq true", orderby=["userPrincipalName desc"], top=2, count=True
        )
        return await sdk(emu).reports.authentication_methods.user_registration_details.get(
            RequestConfiguration(query_parameters=qp)
        )

    page = asyncio.run(run())
    assert [r.user_principal_name for r in page.value] == [f"reader@{DOMAIN}", f"policy@{DOMAIN}"]
    assert page.odata_count == 3 and page.odata_next_link


def test_registration_by_id_and_the_beta_extra_property(emu: RunningEmulator) -> None:
    with http(emu) as c:
        row = c.get(f"{REPORT}/{uid('admin')}").json()
        beta = c.get(f"/beta/reports/authenticationMethods/userRegistrationDetails/{uid('admin')}").json()
        assert graph_error(c.get(f"{REPORT}/{uid('dave')}"))[:2] == (404, "Request_ResourceNotFound")
        assert graph_error(c.get(f"{REPORT}?$select=defaultMfaMethod")) == (
            400,
            "Request_BadRequest",
            "Could not find a property named 'defaultMfaMethod' "
            "on type 'microsoft.graph.userRegistrationDetails'.",
        )
    assert row["@odata.context"].endswith(
        "/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity"
    )
    assert "defaultMfaMethod" not in row and beta["defaultMfaMethod"] == "microsoftAuthenticatorPush"
    assert row["methodsRegistered"] == ["microsoftAuthenticatorPush"]


@pytest.mark.parametrize(
    "path",
    [
        REPORT,
        f"/beta/reports/authenticationMethods/userRegistrationDetails/{uid('admin')}",
        "/v1.0/reports/authenticationMethods/usersRegisteredByMethod(includedUserTypes='all',includedUserRoles='all')",
        "/v1.0/reports/authenticationMethods/usersRegisteredByFeature()",
    ],
)
def test_reports_need_a_premium_tenant(path: str) -> None:
    doc = graph_example("error-authentication-requestfromnonpremiumtenantorb2ctenant.json")
    with serve(small_tenant(premium=False)) as basic, http(basic) as c:
        r = c.get(path, headers={"client-request-id": "c-1"})
    assert graph_error(r) == (
        403,
        "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
        "Tenant is not a B2C tenant and doesn't have premium license",
    )
    body = r.json()
    assert list(body["error"]) == [*list(doc["error"])[:1], "message", "innerError"]
    assert set(body["error"]["innerError"]) == set(doc["error"]["innerError"])
    assert body["error"]["innerError"]["client-request-id"] == "c-1"


def test_reports_need_audit_log_permission(emu: RunningEmulator) -> None:
    with http(emu, app_token(emu, LIMITED_APP_ID)) as c:
        assert graph_error(c.get(REPORT))[:2] == (403, "Authorization_RequestDenied")


SUMMARIES = "/v1.0/reports/authenticationMethods"


def test_summaries_through_the_sdk(emu: RunningEmulator) -> None:
    base = f"{emu.graph_url}{SUMMARIES}"

    async def run() -> tuple[Any, Any, Any, Exception]:
        root = sdk(emu).reports.authentication_methods
        # msgraph-sdk's typed builder drops the comma between the two parameters (std-uritemplate), which
        # is not OData: the console must call these functions through with_url, as here.
        by_method = await root.users_registered_by_method.with_url(
            f"{base}/usersRegisteredByMethod(includedUserTypes='all',includedUserRoles='all')"
        ).get()
        admins = await root.users_registered_by_method.with_url(
            f"{base}/usersRegisteredByMethod(includedUserTypes='member',includedUserRoles='privilegedAdmin')"
        ).get()
        by_feature = await root.users_registered_by_feature.with_url(
            f"{base}/usersRegisteredByFeature(includedUserTypes='all',includedUserRoles='all')"
        ).get()
        try:
            await root.users_registered_by_method_with_included_user_types_with_included_user_roles(
                "all", "all"
            ).get()
        except Exception as exc:
            failure = exc
        return by_method, admins, by_feature, failure

    by_method, admins, by_feature, failure = asyncio.run(run())
    assert failure.response_status_code == 400
    assert failure.error.message == (
        "The function parameters 'includedUserTypes='all'includedUserRoles='all'' are not valid."
    )
    assert leftovers([by_method, admins, by_feature]) == []
    counts = {c.authentication_method: c.user_count for c in by_method.user_registration_method_counts}
    assert counts["password"] == 39 and by_method.total_user_count == 39
    assert (counts["mobilePhone"], counts["email"], counts["fido2"], counts["windowsHelloForBusiness"]) == (
        1,
        2,
        1,
        2,
    )
    assert (admins.user_roles.value, admins.user_types.value, admins.total_user_count) == (
        "privilegedAdmin",
        "member",
        3,
    )
    features = {c.feature.value: c.user_count for c in by_feature.user_registration_feature_counts}
    assert features == {
        "ssprRegistered": 4,
        "ssprEnabled": 0,
        "ssprCapable": 0,
        "passwordlessCapable": 2,
        "mfaCapable": 4,
    }
    with http(emu) as c:
        raw = c.get(
            "/v1.0/reports/authenticationMethods/usersRegisteredByMethod(includedUserTypes='guest',"
            "includedUserRoles='all')"
        ).json()
        assert list(raw) == [
            "@odata.type",
            "totalUserCount",
            "userTypes",
            "userRoles",
            "userRegistrationMethodCounts",
        ]
        assert (raw["@odata.type"], raw["totalUserCount"]) == (
            "#microsoft.graph.userRegistrationMethodSummary",
            1,
        )
        bad = c.get("/v1.0/reports/authenticationMethods/usersRegisteredByMethod(includedUserTypes='robots')")
        assert graph_error(bad) == (
            400,
            "BadRequest",
            "Requested value 'robots' was not found for parameter 'includedUserTypes'.",
        )


# --------------------------------------------------------------------------- authentication methods


def test_methods_of_every_kind_deserialize_into_typed_models(emu: RunningEmulator) -> None:
    async def run() -> Any:
        return await sdk(emu).users.by_user_id(f"grace@{DOMAIN}").authentication.methods.get()

    methods = asyncio.run(run())
    assert leftovers(methods) == []
    assert [type(m) for m in methods.value] == [
        PasswordAuthenticationMethod,
        MicrosoftAuthenticatorAuthenticationMethod,
        PhoneAuthenticationMethod,
        PhoneAuthenticationMethod,
        type(methods.value[4]),
        TemporaryAccessPassAuthenticationMethod,
        WindowsHelloForBusinessAuthenticationMethod,
        EmailAuthenticationMethod,
        MicrosoftAuthenticatorAuthenticationMethod,
        Fido2AuthenticationMethod,
    ]
    assert methods.value[4].odata_type == "#microsoft.graph.hardwareOathAuthenticationMethod"
    assert methods.value[0].id == "28c10230-6103-485e-b985-444c60001490"
    assert [m.phone_type.value for m in methods.value[2:4]] == ["alternateMobile", "office"]
    assert methods.value[7].email_address == "grace email"
    assert methods.value[9].created_date_time == NOW - timedelta(days=1)  # real time: the lag is the report's
    with http(emu) as c:
        alice = c.get(f"/v1.0/users/{uid('alice')}/authentication/methods").json()
        assert alice == {
            "value": [
                {
                    "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                    "id": "28c10230-6103-485e-b985-444c60001490",
                    "password": None,
                    "createdDateTime": "2024-04-28T12:00:00Z",
                },
                {
                    "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
                    "id": uid("alice-m0"),
                    "phoneNumber": "alice mobilePhone",
                    "phoneType": "mobile",
                    "smsSignInState": "notAllowedByPolicy",
                },
                {
                    "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod",
                    "id": uid("alice-m1"),
                    "secretKey": None,
                    "createdDateTime": "2025-05-28T12:00:00Z",
                },
            ]
        }
    with http(emu, app_token(emu, LIMITED_APP_ID)) as c:
        assert graph_error(c.get(f"/v1.0/users/{uid('alice')}/authentication/methods"))[:2] == (
            403,
            "Authorization_RequestDenied",
        )


def test_fido2_registered_moments_ago_shows_in_methods_but_not_in_the_report(emu: RunningEmulator) -> None:
    with http(emu) as c:
        methods = c.get(f"/v1.0/users/{uid('carol')}/authentication/methods").json()["value"]
        row = c.get(f"{REPORT}/{uid('carol')}").json()
    assert [m["@odata.type"] for m in methods] == [
        "#microsoft.graph.passwordAuthenticationMethod",
        "#microsoft.graph.fido2AuthenticationMethod",
    ]
    assert row["methodsRegistered"] == []


# ------------------------------------------------------------------------------- per-user MFA state


BAD_JSON = (
    "Unable to read JSON request payload. "
    "Please ensure Content-Type header is set and payload is of valid JSON format."
)


def _req(name: str) -> str:
    return f"/beta/users/{uid(name)}/authentication/requirements"


def test_requirements_get_and_patch_follow_the_lifecycle(fresh: RunningEmulator) -> None:
    alice, bob = tenant_user(fresh, "alice"), tenant_user(fresh, "bob")
    with http(fresh) as c:
        r = c.get(_req("alice"))
        assert (r.status_code, r.json()) == (200, {"perUserMfaState": "disabled"})

        def patch(name: str, value: str) -> httpx.Response:
            return c.patch(_req(name), json={"perUserMfaState": value})

        r = patch("alice", "enabled")  # she has a second factor: straight to enforced
        assert (r.status_code, r.content) == (204, b"")
        assert c.get(_req("alice")).json() == {"perUserMfaState": "enforced"}
        assert patch("bob", "enabled").status_code == 204  # no method: stays enabled until he registers
        assert c.get(f"/beta/users/bob@{DOMAIN}/authentication/requirements").json() == {
            "perUserMfaState": "enabled"
        }
        assert patch("alice", "disabled").status_code == 204
        assert patch("alice", "enabled").status_code == 204  # re-enabled after a disable: stays enabled
        assert alice.mfa_state == "enabled"
        assert patch("alice", "enforced").status_code == 204
    assert (alice.mfa_state, bob.mfa_state) == ("enforced", "enabled")
    assert [(e.value, e.actor) for e in alice.events] == [
        ("enforced", "Rollout daemon"),
        ("disabled", "Rollout daemon"),
        ("enabled", "Rollout daemon"),
        ("enforced", "Rollout daemon"),
    ]


def test_requirements_are_beta_only(emu: RunningEmulator) -> None:
    with http(emu) as c:
        for method in ("GET", "PATCH"):
            r = c.request(
                method,
                f"/v1.0/users/{uid('alice')}/authentication/requirements",
                json={"perUserMfaState": "enabled"},
            )
            assert graph_error(r) == (400, "BadRequest", "Resource not found for the segment 'requirements'.")
    assert tenant_user(emu, "alice").mfa_state == "disabled"


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "message"),
    [
        (
            b"{not json",
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
            BAD_JSON,
        ),
        (
            b'{"perUserMfaState": "enabled"}',
            {"Content-Type": "text/plain"},
            400,
            "BadRequest",
            BAD_JSON,
        ),
        (
            b'{"perUserMfaState": "sometimes"}',
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
            "Invalid value 'sometimes' for property 'perUserMfaState'. "
            "Possible values are: disabled, enabled, enforced.",
        ),
        (
            b'{"perUserMfaState": "unknownFutureValue"}',
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
            "Invalid value 'unknownFutureValue' for property 'perUserMfaState'. "
            "Possible values are: disabled, enabled, enforced.",
        ),
        (
            b"{}",
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
            "The request body must contain the property 'perUserMfaState'.",
        ),
        (
            b'{"perUserMfaState": "enabled", "state": "x"}',
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
            "The property 'state' does not exist on type "
            "'microsoft.graph.strongAuthenticationRequirements'. "
            "Make sure to only use property names that are defined by the type.",
        ),
    ],
)
def test_bad_patch_bodies_change_nothing(
    emu: RunningEmulator, body: bytes, headers: dict, status: int, code: str, message: str
) -> None:
    with http(emu) as c:
        assert graph_error(c.patch(_req("bob"), content=body, headers=headers)) == (status, code, message)
    assert tenant_user(emu, "bob").mfa_state == "disabled" and tenant_user(emu, "bob").events == []


def test_patch_of_an_unknown_user_is_404(emu: RunningEmulator) -> None:
    with http(emu) as c:
        r = c.patch(
            "/beta/users/ghost@contoso.test/authentication/requirements", json={"perUserMfaState": "enabled"}
        )
    assert graph_error(r)[:2] == (404, "Request_ResourceNotFound")


def test_who_may_write_per_user_mfa(fresh: RunningEmulator) -> None:
    body = {"perUserMfaState": "enabled"}
    denied = (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    read_only = app_token(fresh, permissions=frozenset({"Policy.Read.All"}))
    with http(fresh, read_only) as c:
        assert c.get(_req("bob")).status_code == 200
        assert graph_error(c.patch(_req("bob"), json=body)) == denied
    with http(fresh, user_token(fresh, "reader")) as c:  # Global Reader: has the scope, lacks the role
        assert c.get(_req("bob")).status_code == 200
        assert graph_error(c.patch(_req("bob"), json=body)) == denied
    with http(fresh, user_token(fresh, "alice")) as c:
        assert graph_error(c.patch(_req("bob"), json=body)) == denied
    with http(fresh, app_token(fresh, permissions=frozenset({"User.Read.All"}))) as c:
        assert graph_error(c.get(_req("bob"))) == denied
    assert tenant_user(fresh, "bob").mfa_state == "disabled"
    with http(fresh, user_token(fresh, "policy")) as c:
        assert c.patch(_req("bob"), json=body).status_code == 204
        assert (
            c.patch("/beta/me/authentication/requirements", json={"perUserMfaState": "disabled"}).status_code
            == 204
        )
    with http(fresh, user_token(fresh, "admin")) as c:
        assert c.patch(_req("frank"), json={"perUserMfaState": "enforced"}).status_code == 204
    assert [(e.value, e.actor) for e in tenant_user(fresh, "bob").events] == [("enabled", f"policy@{DOMAIN}")]
    assert tenant_user(fresh, "policy").mfa_state == "disabled"
    assert [(e.value, e.actor) for e in tenant_user(fresh, "frank").events] == [
        ("enforced", f"admin@{DOMAIN}")
    ]


# ----------------------------------------------------------------------------------- auth, routing


def test_missing_or_bad_tokens_are_401(emu: RunningEmulator) -> None:
    with httpx.Client(base_url=emu.graph_url) as c:
        assert graph_error(c.get("/v1.0/users")) == (
            401,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        )
        r = c.get("/v1.0/users", headers={"Authorization": "Bearer not.a.jwt"})
        assert graph_error(r) == (401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")


def test_unknown_segments_and_wrong_methods(emu: RunningEmulator) -> None:
    with http(emu) as c:
        assert graph_error(c.get("/v1.0/sites")) == (
            400,
            "BadRequest",
            "Resource not found for the segment 'sites'.",
        )
        assert graph_error(c.get(f"/v1.0/users/{uid('bob')}/calendar"))[2] == (
            "Resource not found for the segment 'calendar'."
        )
        assert graph_error(c.delete("/v1.0/users")) == (
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
        assert graph_error(c.get("/v1.0/$batch"))[0] == 405


# ---------------------------------------------------------------------------------- control routes


def test_control_config_round_trip_and_validation(fresh: RunningEmulator) -> None:
    with httpx.Client(base_url=fresh.graph_url, headers=control_headers(fresh)) as c:
        assert c.get("/_emulator/config").json() == {
            "latency_ms": 0.0,
            "time_scale": 1.0,
            "fault_rate": 0.0,
            "throttle": False,
            "seed": 0,
            "fault_applied_share": 0.25,
            "hold_requests": False,
            "hold_after_writes": None,
            "fault_kinds": None,
            "fault_paths": None,
            "fault_on": "any",
            "ca_without_premium": "forbidden",
            "bulk_mfa_state": True,
            "bulk_mfa_state_stale": 0,
        }
        r = c.patch("/_emulator/config", json={"latency_ms": 5, "time_scale": 0.5, "throttle": True})
        assert r.json()["latency_ms"] == 5.0 and fresh.state.config.time_scale == 0.5
        for bad in (
            {"fault_rate": 2},
            {"time_scale": 0},
            {"throttle": "yes"},
            {"latency_ms": -1},
            {"speed": 1},
            {"latency_ms": 1, "seed": "x"},
            {"hold_requests": 1},
            {"hold_after_writes": -1},
            {"hold_after_writes": True},
            {"fault_kinds": ["teapot"]},
            {"fault_kinds": []},
            {"fault_kinds": "truncated"},
            {"fault_paths": ["users"]},
            {"fault_on": "sometimes"},
            {"bulk_mfa_state": "no"},
            {"bulk_mfa_state_stale": -1},
            {"bulk_mfa_state_stale": 1.5},
        ):
            r = c.patch("/_emulator/config", json=bad)
            assert r.status_code == 400 and "error" in r.json()
        assert fresh.state.config.latency_ms == 5.0


def test_control_routes_answer_only_the_key_holder_on_a_loopback_host(fresh: RunningEmulator) -> None:
    """DNS rebinding or a cross-site request from any page in the admin's browser must move nothing."""
    port = fresh.graph_url.rsplit(":", 1)[1]
    key = control_headers(fresh)
    before = (fresh.state.tenant.now, dataclasses.asdict(fresh.state.config))
    with httpx.Client(base_url=fresh.graph_url, trust_env=False) as c:
        for method, path, body in (("GET", "/config", None), ("PATCH", "/config", {"fault_rate": 1}),
                                   ("POST", "/clock/advance", {"days": 3}), ("GET", "/demo-app", None),
                                   ("GET", "/truth/users", None), ("POST", "/stats/reset", {})):
            for headers in ({}, {"X-Emulator-Control": "guess"}, {"X-Emulator-Control": ""}):
                r = c.request(method, f"/_emulator{path}", json=body, headers=headers)
                assert r.status_code == 403, (method, path, headers)
                assert "X-Emulator-Control" in r.json()["error"] and fresh.client_secret not in r.text
            rebound = c.request(method, f"/_emulator{path}", json=body, headers={**key, "Host": f"evil.example:{port}"})
            assert rebound.status_code == 403 and "loopback Host" in rebound.json()["error"], (method, path)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
            r = c.post("/_emulator/clock/advance", content=b'{"days": 3}',
                       headers={**key, "Content-Type": content_type})
            assert r.status_code == 415 and "application/json" in r.json()["error"]
        assert (fresh.state.tenant.now, dataclasses.asdict(fresh.state.config)) == before
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "[::1]", "LOCALHOST"):
            assert c.get("/_emulator/config", headers={**key, "Host": host}).status_code == 200, host
        charset = {**key, "Content-Type": "application/json; charset=utf-8"}
        assert c.patch("/_emulator/config", content=b'{"latency_ms": 1}', headers=charset).status_code == 200
    assert fresh.state.config.latency_ms == 1.0
    assert fresh.control_key not in repr(fresh) and fresh.control_key not in repr(fresh.state)


def test_every_run_has_its_own_control_key() -> None:
    with serve() as a, serve() as b:
        assert len({a.control_key, b.control_key}) == 2 and len(a.control_key) >= 32
        assert httpx.get(f"{b.graph_url}/_emulator/stats", headers=control_headers(a)).status_code == 403
        assert httpx.get(f"{b.graph_url}/_emulator/stats", headers=control_headers(b)).status_code == 200


def test_held_requests_wait_at_the_door_until_released(fresh: RunningEmulator) -> None:
    """Tests freeze a run mid-flight with a counter (``held``), never by racing the clock."""
    with httpx.Client(base_url=fresh.graph_url, headers=control_headers(fresh)) as c, http(fresh) as graph:
        c.patch("/_emulator/config", json={"hold_requests": True})
        answers: list[int] = []
        waiting = threading.Thread(target=lambda: answers.append(graph.get("/v1.0/users?$top=1").status_code))
        waiting.start()
        deadline = time.monotonic() + 30
        while c.get("/_emulator/stats").json()["held"] < 1:
            assert time.monotonic() < deadline, "the request never reached the door"
            time.sleep(0.01)
        assert answers == [] and waiting.is_alive()
        c.patch("/_emulator/config", json={"hold_requests": False})
        waiting.join(30)
        assert answers == [200] and c.get("/_emulator/stats").json()["held"] == 0


def test_control_clock_truth_history_and_stats(fresh: RunningEmulator) -> None:
    with httpx.Client(base_url=fresh.graph_url, headers=control_headers(fresh)) as c:
        c.post("/_emulator/stats/reset")
        with http(fresh) as g:
            g.get("/v1.0/users?$top=1")
            g.get("/v1.0/nothing")
        assert c.get("/_emulator/stats").json() == {
            "requests": 2,
            "batch_items": 0,
            "throttled": 0,
            "faults": 0,
            "dropped": 0,
            "writes": 0,
            "held": 0,
            "state_reads": 0,
            "user_listings": 1,
            "statuses": {"200": 1, "400": 1},
        }
        r = c.post("/_emulator/clock/advance", json={"days": 1})
        assert r.status_code == 200 and r.json()["now"] == "2025-06-03T12:00:00Z"
        assert set(r.json()["report"]) >= {"signed_in", "registered"}
        assert c.post("/_emulator/clock/advance", json={"weeks": 1}).status_code == 400
        assert c.post("/_emulator/clock/advance", json={"days": -1}).status_code == 400
        truth = c.get("/_emulator/truth/users").json()
        assert truth["now"] == "2025-06-03T12:00:00Z" and len(truth["users"]) == 40
        dave = next(u for u in truth["users"] if u["upn"] == f"dave@{DOMAIN}")
        assert (dave["account_enabled"], dave["methods"], dave["kind"], dave["mfa_state"]) == (
            False,
            ["mobilePhone"],
            "person",
            "disabled",
        )
        lines = c.get("/_emulator/truth/users?format=jsonl").text.splitlines()
        assert [json.loads(line)["id"] for line in lines] == [u.id for u in fresh.state.tenant.users]
        history = c.get("/_emulator/truth/history").json()
        assert history["waves"] == [
            {
                "name": "Wave 1",
                "launched_at": "2025-05-13T12:00:00Z",
                "actor": "admin@contoso.test",
                "user_ids": [uid("admin"), uid("policy")],
            }
        ]
        assert history["users"][0]["events"][0] == {
            "at": "2025-05-03T12:00:00Z",
            "kind": "state",
            "value": "enforced",
            "actor": "admin@contoso.test",
        }
