"""The demo tenant's protection endpoints over real HTTP: Conditional Access, security defaults, the
authentication methods and strength policies, groups and transitive members, role assignments.

Shapes are checked by parsing every answer with msgraph-sdk's own models and finding nothing they do not
know (``leftovers``); figures come from the generated tenant's ground truth, never hard-coded counts.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.groups.item.transitive_members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.identity.conditional_access.policies.policies_request_builder import PoliciesRequestBuilder
from msgraph.generated.models.advanced_config_state import AdvancedConfigState
from msgraph.generated.models.authentication_method_target_type import AuthenticationMethodTargetType
from msgraph.generated.models.authentication_methods_policy import AuthenticationMethodsPolicy
from msgraph.generated.models.authentication_methods_registration_campaign import (
    AuthenticationMethodsRegistrationCampaign,
)
from msgraph.generated.models.authentication_methods_registration_campaign_include_target import (
    AuthenticationMethodsRegistrationCampaignIncludeTarget,
)
from msgraph.generated.models.group import Group as SdkGroup
from msgraph.generated.models.registration_enforcement import RegistrationEnforcement
from msgraph.generated.models.user import User as SdkUser
from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (
    RoleAssignmentsRequestBuilder,
)

from lib.emulator.generator import demo_app, demo_public_app, generate_tenant
from lib.emulator.model import AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, SyntheticTenant
from lib.emulator.protection_seed import (
    ADMIN_ROLE_TEMPLATES,
    POLICY_ADMINS,
    POLICY_ALL_USERS,
    POLICY_LEGACY,
    POLICY_OFFICE,
    POLICY_SALES,
)
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from lib.emulator.throttle import ManualClock, get_throttle
from lib.emulator.tokens import mint_access_token
from tests.fixtures import GRAPH_EXAMPLES, graph_example
from tests.test_emulator_graph import StaticCredential, graph_error, leftovers

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)
USERS = 120


def tenant(**kw: Any) -> SyntheticTenant:
    return generate_tenant(USERS, 11, now=NOW, **kw)


def serve(t: SyntheticTenant | None = None, **config: Any) -> RunningEmulator:
    config.setdefault("throttle", False)
    return start_emulator(t or tenant(), config=EmulatorConfig(**config))


def token(emu: RunningEmulator, permissions: frozenset[str] | None = None) -> str:
    app = demo_app(emu.state.tenant)
    return mint_access_token(emu.state, app, app.permissions if permissions is None else permissions)[0]


def user_token(emu: RunningEmulator, upn_prefix: str, scopes: frozenset[str] | None = None) -> str:
    t = emu.state.tenant
    app = demo_public_app(t)
    user = next(u for u in t.users if u.upn.startswith(upn_prefix + "@"))
    return mint_access_token(emu.state, app, app.permissions if scopes is None else scopes, user)[0]


def http(emu: RunningEmulator, bearer: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=emu.graph_url, headers={"Authorization": f"Bearer {bearer or token(emu)}"},
                        timeout=30, trust_env=False)


def sdk(emu: RunningEmulator, bearer: str | None = None) -> Any:
    from msgraph import GraphServiceClient

    client = GraphServiceClient(credentials=StaticCredential(bearer or token(emu)),
                                scopes=["https://graph.microsoft.com/.default"])
    client.request_adapter.base_url = f"{emu.graph_url}/v1.0"
    return client


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


@pytest.fixture
def fresh() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


def by_name(emu: RunningEmulator, name: str) -> Any:
    return next(g for g in emu.state.tenant.protection.groups if g.display_name == name)


# ------------------------------------------------------------------------------- Conditional Access


def test_conditional_access_policies_parse_into_the_sdk_models_with_nothing_unknown(emu: RunningEmulator) -> None:
    page = asyncio.run(sdk(emu).identity.conditional_access.policies.get())
    assert leftovers(page) == []
    names = {p.display_name: p for p in page.value}
    assert set(names) == {POLICY_ADMINS, POLICY_ALL_USERS, POLICY_SALES, POLICY_OFFICE, POLICY_LEGACY}
    admins = names[POLICY_ADMINS]
    assert GLOBAL_ADMINISTRATOR in admins.conditions.users.include_roles
    assert admins.conditions.users.include_roles == list(ADMIN_ROLE_TEMPLATES)
    assert names[POLICY_ALL_USERS].state.value == "enabledForReportingButNotEnforced"
    assert names[POLICY_ALL_USERS].conditions.users.include_users == ["All"]
    legacy = names[POLICY_LEGACY]
    assert [c.value for c in legacy.conditions.client_app_types] == ["exchangeActiveSync", "other"]
    assert [c.value for c in legacy.grant_controls.built_in_controls] == ["block"]
    assert names[POLICY_OFFICE].conditions.applications.include_applications == ["Office365"]


def test_the_sales_policy_targets_a_nested_group_and_excludes_every_break_glass_account(emu: RunningEmulator) -> None:
    page = asyncio.run(sdk(emu).identity.conditional_access.policies.get())
    sales = next(p for p in page.value if p.display_name == POLICY_SALES)
    all_sales = by_name(emu, "All Sales")
    assert sales.conditions.users.include_groups == [all_sales.id]
    assert all_sales.member_user_ids == [] and len(all_sales.member_group_ids) == 2
    break_glass = sorted(u.id for u in emu.state.tenant.users if u.kind == "break_glass")
    assert len(break_glass) == 2
    assert sorted(sales.conditions.users.exclude_users) == break_glass
    assert [c.value for c in sales.grant_controls.built_in_controls] == ["mfa"]


def test_the_list_has_the_shape_of_microsofts_example(emu: RunningEmulator) -> None:
    doc = graph_example("protection/v1.0-conditionalaccess-policies-list.json")
    with http(emu) as c:
        body = c.get("/v1.0/identity/conditionalAccess/policies").json()
    example = doc["value"][1]
    mine = body["value"][0]
    assert list(mine) == list(example)
    assert list(mine["conditions"]) == list(example["conditions"])
    assert list(mine["conditions"]["users"]) == list(example["conditions"]["users"])
    assert list(mine["conditions"]["applications"]) == list(example["conditions"]["applications"])
    assert [k for k in mine["grantControls"] if "@" not in k] == [k for k in example["grantControls"] if "@" not in k]
    assert body["@odata.context"] == f"{emu.graph_url}/v1.0/$metadata#identity/conditionalAccess/policies"


def test_filter_by_state_select_and_top_page_through_the_policies(emu: RunningEmulator) -> None:
    async def run() -> Any:
        qp = PoliciesRequestBuilder.PoliciesRequestBuilderGetQueryParameters(
            filter="state eq 'enabled'", select=["id", "displayName", "state"], top=2)
        return await sdk(emu).identity.conditional_access.policies.get(
            RequestConfiguration(query_parameters=qp))

    first = asyncio.run(run())
    assert leftovers(first) == [] and len(first.value) == 2 and first.odata_next_link
    with http(emu) as c:
        seen = [p for p in first.value]
        url = first.odata_next_link
        bodies = []
        while url:
            bodies.append(c.get(url).json())
            url = bodies[-1].get("@odata.nextLink")
    rest = [p for b in bodies for p in b["value"]]
    assert all(list(p) == ["id", "displayName", "state"] for p in rest)
    enabled = [p.display_name for p in emu.state.tenant.protection.conditional_access if p.state == "enabled"]
    assert [p.display_name for p in seen] + [p["displayName"] for p in rest] == enabled
    assert POLICY_ALL_USERS not in enabled and len(enabled) == 4


def test_conditional_access_needs_policy_read_all(emu: RunningEmulator) -> None:
    with http(emu, token(emu, frozenset({"User.Read.All", "Directory.Read.All"}))) as c:
        r = c.get("/v1.0/identity/conditionalAccess/policies")
    assert graph_error(r)[:2] == (403, "Authorization_RequestDenied")


def test_bad_query_options_are_refused_as_graph_refuses_them(emu: RunningEmulator) -> None:
    with http(emu) as c:
        assert c.get("/v1.0/identity/conditionalAccess/policies?$select=nope").status_code == 400
        assert c.get("/v1.0/identity/conditionalAccess/policies?$filter=state eq").status_code == 400
        assert c.get("/v1.0/identity/conditionalAccess/policies?$top=0").status_code == 400


# ---------------------------------------------------------------------- licence and security defaults


@pytest.mark.parametrize("mode", ["forbidden", "empty"])
def test_a_tenant_without_p1_answers_403_or_an_empty_list_as_configured(mode: str) -> None:
    t = tenant(premium=False)
    assert t.protection.conditional_access == []
    with serve(t, ca_without_premium=mode) as emu, http(emu) as c:
        r = c.get("/v1.0/identity/conditionalAccess/policies")
        sd = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").json()
    if mode == "forbidden":
        assert graph_error(r)[:2] == (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    else:
        assert r.status_code == 200 and r.json()["value"] == []
    assert sd["isEnabled"] is False


def test_the_no_p1_answer_can_be_switched_through_the_control_route() -> None:
    from tests.conftest import control_headers

    with serve(tenant(premium=False)) as emu, http(emu) as c:
        assert c.get("/v1.0/identity/conditionalAccess/policies").status_code == 403
        control = httpx.patch(f"{emu.graph_url}/_emulator/config", json={"ca_without_premium": "empty"},
                              headers=control_headers(emu), trust_env=False)
        assert control.status_code == 200 and control.json()["ca_without_premium"] == "empty"
        assert c.get("/v1.0/identity/conditionalAccess/policies").json()["value"] == []
        bad = httpx.patch(f"{emu.graph_url}/_emulator/config", json={"ca_without_premium": "maybe"},
                          headers=control_headers(emu), trust_env=False)
        assert bad.status_code == 400 and "forbidden, empty" in bad.text


def test_a_security_defaults_tenant_has_them_on_and_no_conditional_access() -> None:
    with serve(tenant(security_defaults=True)) as emu:
        sd = asyncio.run(sdk(emu).policies.identity_security_defaults_enforcement_policy.get())
        ca = asyncio.run(sdk(emu).identity.conditional_access.policies.get())
    assert leftovers(sd) == [] and sd.is_enabled is True
    assert sd.id == "00000000-0000-0000-0000-000000000005"
    assert ca.value == []


def test_security_defaults_match_microsofts_example_and_are_off_beside_conditional_access(emu: RunningEmulator) -> None:
    doc = graph_example("protection/v1.0-identitysecuritydefaults-get.json")
    with http(emu) as c:
        body = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").json()
        denied = http(emu, token(emu, frozenset({"User.Read.All"}))).get(
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")
    assert list(body) == list(doc)
    assert {k: body[k] for k in ("description", "displayName", "id")} == {
        k: doc[k] for k in ("description", "displayName", "id")}
    assert body["isEnabled"] is False
    assert graph_error(denied)[0] == 403


# ------------------------------------------------------------------------- authentication methods


def test_the_authentication_methods_policy_parses_with_nothing_unknown(emu: RunningEmulator) -> None:
    policy = asyncio.run(sdk(emu).policies.authentication_methods_policy.get())
    assert leftovers(policy) == []
    configs = {c.id: c for c in policy.authentication_method_configurations}
    assert set(configs) >= {"Sms", "Voice", "Fido2", "MicrosoftAuthenticator", "Email", "SoftwareOath",
                            "TemporaryAccessPass"}
    assert type(configs["Fido2"]).__name__ == "Fido2AuthenticationMethodConfiguration"
    assert configs["Sms"].state.value == "enabled"
    # Consistent with the registration report: voice calls are off by policy, so voice-only users are not capable.
    assert configs["Voice"].state.value == "disabled"
    assert {"officePhone", "alternateMobilePhone"} <= set(emu.state.tenant.methods_off_by_policy)
    assert configs["Fido2"].include_targets[0].id == "all_users"
    campaign = policy.registration_enforcement.authentication_methods_registration_campaign
    assert campaign.state.value == "default" and campaign.snooze_duration_in_days == 1
    assert campaign.include_targets[0].targeted_authentication_method == "microsoftAuthenticator"
    assert policy.policy_migration_state.value == "migrationComplete"


def test_the_methods_policy_has_the_shape_of_microsofts_example(emu: RunningEmulator) -> None:
    doc = graph_example("protection/v1.0-authenticationmethodspolicy-get.json")
    with http(emu) as c:
        raw = c.get("/v1.0/policies/authenticationMethodsPolicy").json()
    # Every top-level property of the example is served (the demo adds policyMigrationState, which the
    # resource has and the example omits), and the campaign has the same keys.
    assert set(doc) - {"@odata.context"} <= set(raw)
    campaign = "authenticationMethodsRegistrationCampaign"
    assert set(raw["registrationEnforcement"][campaign]) >= set(doc["registrationEnforcement"][campaign])
    assert {c["id"] for c in doc["authenticationMethodConfigurations"]} <= {
        c["id"] for c in raw["authenticationMethodConfigurations"]}


def test_reading_the_methods_policy_needs_an_authentication_method_policy_permission(emu: RunningEmulator) -> None:
    with http(emu, token(emu, frozenset({"Directory.Read.All", "User.Read.All"}))) as c:
        assert graph_error(c.get("/v1.0/policies/authenticationMethodsPolicy"))[:2] == (
            403, "Authorization_RequestDenied")
    with http(emu, token(emu, frozenset({"Policy.Read.AuthenticationMethod"}))) as c:
        assert c.get("/v1.0/policies/authenticationMethodsPolicy").status_code == 200


def test_enabling_the_campaign_answers_200_with_the_policy_and_persists(fresh: RunningEmulator) -> None:
    from lib.emulator.tenant_file import tenant_from_json, tenant_to_json

    finance = by_name(fresh, "Finance")

    async def run() -> Any:
        body = AuthenticationMethodsPolicy(registration_enforcement=RegistrationEnforcement(
            authentication_methods_registration_campaign=AuthenticationMethodsRegistrationCampaign(
                state=AdvancedConfigState.Enabled, snooze_duration_in_days=3,
                include_targets=[AuthenticationMethodsRegistrationCampaignIncludeTarget(
                    id=finance.id, target_type=AuthenticationMethodTargetType.Group,
                    targeted_authentication_method="microsoftAuthenticator")])))
        return await sdk(fresh).policies.authentication_methods_policy.patch(body)

    revision = fresh.state.tenant.revision
    answered = asyncio.run(run())
    assert leftovers(answered) == []
    campaign = answered.registration_enforcement.authentication_methods_registration_campaign
    assert (campaign.state.value, campaign.snooze_duration_in_days) == ("enabled", 3)
    assert [t.id for t in campaign.include_targets] == [finance.id]
    assert fresh.state.tenant.revision > revision
    assert answered.last_modified_date_time == fresh.state.tenant.now
    again = asyncio.run(sdk(fresh).policies.authentication_methods_policy.get())
    assert again.registration_enforcement.authentication_methods_registration_campaign.state.value == "enabled"
    reloaded = tenant_from_json(tenant_to_json(fresh.state.tenant))
    saved = reloaded.protection.campaign
    assert (saved.state, saved.snooze_days, saved.include_targets[0]["id"]) == ("enabled", 3, finance.id)
    assert reloaded.protection == fresh.state.tenant.protection


def test_a_bad_campaign_patch_changes_nothing(fresh: RunningEmulator) -> None:
    before = fresh.state.tenant.protection.campaign
    snapshot = (before.state, before.snooze_days, list(before.include_targets))
    path = "/v1.0/policies/authenticationMethodsPolicy"
    with http(fresh) as c:
        for body in (
            {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "on"}}},
            {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                "state": "enabled", "snoozeDurationInDays": 15}}},
            {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {
                "state": "enabled", "includeTargets": [{"id": "no-such-group", "targetType": "group"}]}}},
            {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"colour": "red"}}},
            {"displayName": "mine"},
        ):
            r = c.patch(path, json=body)
            assert r.status_code in (400, 404), r.text
            assert r.json()["error"]["message"]
    after = fresh.state.tenant.protection.campaign
    assert (after.state, after.snooze_days, list(after.include_targets)) == snapshot


def test_only_an_authentication_policy_admin_or_global_admin_may_change_the_campaign(fresh: RunningEmulator) -> None:
    body = {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "disabled"}}}
    path = "/v1.0/policies/authenticationMethodsPolicy"
    with http(fresh, user_token(fresh, "security.reader")) as c:
        assert graph_error(c.patch(path, json=body))[:2] == (403, "Authorization_RequestDenied")
    with http(fresh, token(fresh, frozenset({"Policy.Read.All", "Policy.Read.AuthenticationMethod"}))) as c:
        assert graph_error(c.patch(path, json=body))[0] == 403
    assert fresh.state.tenant.protection.campaign.state == "default"
    with http(fresh, user_token(fresh, "authpolicy.admin")) as c:
        r = c.patch(path, json=body)
    assert r.status_code == 200
    assert r.json()["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]["state"] == "disabled"


def test_the_three_built_in_strengths(emu: RunningEmulator) -> None:
    doc = graph_example("protection/v1.0-authenticationstrengthpolicies-list.json")
    page = asyncio.run(sdk(emu).policies.authentication_strength_policies.get())
    assert leftovers(page) == []
    assert [(p.id, p.display_name, [r.value for r in p.requirements_satisfied]) for p in page.value] == [
        (p["id"], p["displayName"], ["mfa"]) for p in doc["value"]]
    # msgraph-sdk knows single modes only: a combination such as "password,sms" parses as None (docs/graph.md).
    assert [[c.value if c else None for c in p.allowed_combinations] for p in page.value] == [
        [None if "," in c else c for c in p["allowedCombinations"]] for p in doc["value"]]
    with http(emu) as c:
        raw = c.get("/v1.0/policies/authenticationStrengthPolicies").json()
    assert [p["allowedCombinations"] for p in raw["value"]] == [p["allowedCombinations"] for p in doc["value"]]
    assert raw["@odata.context"].endswith("/v1.0/$metadata#policies/authenticationStrengthPolicies")


# ------------------------------------------------------------------------------------------- groups


def test_groups_list_and_page(emu: RunningEmulator) -> None:
    async def run() -> Any:
        qp = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(top=2)
        return await sdk(emu).groups.get(RequestConfiguration(query_parameters=qp))

    first = asyncio.run(run())
    assert leftovers(first) == [] and len(first.value) == 2 and first.odata_next_link
    with http(emu) as c:
        names = [g.display_name for g in first.value]
        url = first.odata_next_link
        while url:
            body = c.get(url).json()
            names += [g["displayName"] for g in body["value"]]
            url = body.get("@odata.nextLink")
        role_assignable = c.get("/v1.0/groups?$filter=isAssignableToRole eq true&$select=id,displayName").json()
    assert names == [g.display_name for g in emu.state.tenant.protection.groups]
    assert [g["displayName"] for g in role_assignable["value"]] == ["Identity Administrators"]


def test_transitive_members_include_nested_groups_members(emu: RunningEmulator) -> None:
    all_sales = by_name(emu, "All Sales")
    sales = {u.id for u in emu.state.tenant.users if u.department == "Sales" and u.kind == "person"
             and not u.is_guest}
    assert sales
    page = asyncio.run(sdk(emu).groups.by_group_id(all_sales.id).transitive_members.get())
    assert leftovers(page) == []
    users = [m.id for m in page.value if isinstance(m, SdkUser)]
    groups = [m.display_name for m in page.value if isinstance(m, SdkGroup)]
    assert set(users) == sales and len(users) == len(sales)
    assert sorted(groups) == ["Sales Americas and APAC", "Sales EMEA"]


def test_the_user_cast_needs_eventual_consistency_and_count_and_pages(emu: RunningEmulator) -> None:
    all_sales = by_name(emu, "All Sales")
    with http(emu) as c:
        plain = c.get(f"/v1.0/groups/{all_sales.id}/transitiveMembers/microsoft.graph.user?$select=id")
    assert graph_error(plain)[:2] == (400, "Request_UnsupportedQuery")

    async def run() -> list[str]:
        client = sdk(emu)
        qp = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(select=["id"], count=True, top=5)
        config = RequestConfiguration(query_parameters=qp)
        config.headers.add("ConsistencyLevel", "eventual")
        page = await client.groups.by_group_id(all_sales.id).transitive_members.graph_user.get(config)
        assert leftovers(page) == []
        total = page.odata_count
        ids = [u.id for u in page.value]
        link = page.odata_next_link
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token(emu)}",
                                              "ConsistencyLevel": "eventual"}, trust_env=False) as h:
            while link:
                body = (await h.get(link)).json()
                assert all(list(u) == ["id"] for u in body["value"])
                ids += [u["id"] for u in body["value"]]
                link = body.get("@odata.nextLink")
        assert total == len(ids)
        return ids

    ids = asyncio.run(run())
    expected, _ = emu.state.tenant.protection.transitive_members(all_sales.id)
    assert ids == expected and len(ids) > 5


def test_groups_need_a_group_or_directory_permission_and_unknown_groups_are_404(emu: RunningEmulator) -> None:
    with http(emu, token(emu, frozenset({"User.Read.All"}))) as c:
        assert graph_error(c.get("/v1.0/groups"))[0] == 403
    with http(emu, token(emu, frozenset({"GroupMember.Read.All"}))) as c:
        assert c.get("/v1.0/groups").status_code == 200
        assert graph_error(c.get("/v1.0/groups/00000000-0000-0000-0000-00000000abcd/transitiveMembers"))[:2] == (
            404, "Request_ResourceNotFound")


# ------------------------------------------------------------------------------------ role assignments


def test_global_admin_assignments_expand_their_principals(emu: RunningEmulator) -> None:
    async def run() -> Any:
        qp = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
            filter=f"roleDefinitionId eq '{GLOBAL_ADMINISTRATOR}'", expand=["principal"])
        return await sdk(emu).role_management.directory.role_assignments.get(RequestConfiguration(query_parameters=qp))

    page = asyncio.run(run())
    assert leftovers(page) == []
    holders = {u.id for u in emu.state.tenant.users if GLOBAL_ADMINISTRATOR in u.roles}
    assert {a.principal_id for a in page.value} == holders
    assert all(a.role_definition_id == GLOBAL_ADMINISTRATOR and a.directory_scope_id == "/" for a in page.value)
    assert all(isinstance(a.principal, SdkUser) and a.principal.id == a.principal_id for a in page.value)
    break_glass = {u.id for u in emu.state.tenant.users if u.kind == "break_glass"}
    assert break_glass <= holders


def test_a_role_held_through_a_role_assignable_group_is_assigned_to_the_group(emu: RunningEmulator) -> None:
    doc = graph_example("protection/v1.0-roleassignments-list.json")
    group = by_name(emu, "Identity Administrators")
    with http(emu) as c:
        body = c.get("/v1.0/roleManagement/directory/roleAssignments",
                     params={"$filter": f"roleDefinitionId eq '{AUTHENTICATION_POLICY_ADMINISTRATOR}'",
                             "$expand": "principal"}).json()
    [assignment] = body["value"]
    assert assignment["principalId"] == group.id
    assert assignment["principal"]["@odata.type"] == "#microsoft.graph.group"
    assert assignment["principal"]["isAssignableToRole"] is True
    holder = emu.state.tenant.by_id[group.member_user_ids[0]]
    assert AUTHENTICATION_POLICY_ADMINISTRATOR in holder.roles
    assert body["@odata.context"].endswith(doc["@odata.context"].rsplit("/v1.0/", 1)[1])
    example = doc["value"][0]
    assert set(assignment) == set(example) - {"resourceScope"}  # not in v1.0's metadata


def test_role_assignments_need_a_role_permission(emu: RunningEmulator) -> None:
    with http(emu, token(emu, frozenset({"User.Read.All"}))) as c:
        assert graph_error(c.get("/v1.0/roleManagement/directory/roleAssignments"))[0] == 403
        assert c.get("/v1.0/roleManagement/directory/roleAssignments?$expand=roleDefinition").status_code in (400, 403)
    with http(emu) as c:
        assert c.get("/v1.0/roleManagement/directory/roleAssignments?$expand=roleDefinition").status_code == 400


# ------------------------------------------------------------------------ Conditional Access throttle


@pytest.fixture
def throttled() -> Iterator[tuple[RunningEmulator, ManualClock]]:
    """A throttled emulator whose buckets refill only when the test moves their clock."""
    with serve(throttle=True) as running:
        clock = ManualClock()
        get_throttle(running.state).use_clock(clock)
        yield running, clock


CA_PATH = "/v1.0/identity/conditionalAccess/policies"


def test_conditional_access_allows_one_request_per_second_per_tenant_and_429_has_no_retry_after(
        throttled: tuple[RunningEmulator, ManualClock]) -> None:
    emu, clock = throttled
    daemon, delegated = http(emu), http(emu, user_token(emu, "admin"))
    with daemon, delegated:
        assert daemon.get(CA_PATH).status_code == 200
        second = daemon.get(CA_PATH)
        other_app = delegated.get(CA_PATH)  # all apps share the tenant's one request per second
        assert daemon.get("/v1.0/groups?$select=id").status_code == 200  # other limits are untouched
        clock.advance(0.999)
        early = daemon.get(CA_PATH)
        clock.advance(0.001)
        on_time = delegated.get(CA_PATH)
    for refused in (second, other_app, early):
        assert graph_error(refused)[:2] == (429, "TooManyRequests")
        assert "retry-after" not in refused.headers
    assert on_time.status_code == 200
    assert emu.state.extras["emulator_stats"].throttled == 3


def test_no_two_conditional_access_requests_within_a_second_of_each_other_succeed(
        throttled: tuple[RunningEmulator, ManualClock]) -> None:
    emu, clock = throttled
    succeeded: list[float] = []
    with http(emu) as c:
        for step in range(40):  # a request every 0.3 s of the throttle's clock, for 12 s
            if c.get(CA_PATH + "?$select=id").status_code == 200:
                succeeded.append(round(step * 0.3, 6))
            clock.advance(0.3)
    gaps = [b - a for a, b in itertools.pairwise(succeeded)]
    assert len(succeeded) == 10  # at 0, 1.2, 2.4 … 10.8: each the first request a second after the last
    assert min(gaps) >= 1.0


# ------------------------------------------------------------------------------ users and methods


def test_demo_users_cover_every_method_profile_consistently_across_report_and_methods_list(
        emu: RunningEmulator) -> None:
    t = emu.state.tenant
    profiles = {
        "sms or voice only": lambda kinds: kinds and kinds <= {"mobilePhone", "alternateMobilePhone", "officePhone"},
        "authenticator only": lambda kinds: kinds == {"microsoftAuthenticatorPush"},
        "fido2": lambda kinds: "fido2" in kinds,
        "windows hello": lambda kinds: "windowsHelloForBusiness" in kinds,
        "email only": lambda kinds: kinds == {"email"},
    }
    phone_types = {"mobilePhone": "mobile", "alternateMobilePhone": "alternateMobile", "officePhone": "office"}
    with http(emu) as c:
        for name, matches in profiles.items():
            users = [u for u in t.users if u.account_enabled and matches({m.kind for m in u.methods})
                     and all(m.created <= t.now - t.report_lag for m in u.methods)]
            assert users, f"no demo user is {name}"
            user = users[0]
            report = c.get(f"/v1.0/reports/authenticationMethods/userRegistrationDetails/{user.id}").json()
            listed = c.get(f"/v1.0/users/{user.id}/authentication/methods").json()["value"]
            kinds = [m.kind for m in user.methods]
            assert report["methodsRegistered"] == list(dict.fromkeys(kinds))
            assert len(listed) == 1 + len(user.methods)  # the password, then each method
            for method, item in zip(user.methods, listed[1:], strict=True):
                assert item["id"] == method.id
                if method.kind in phone_types:
                    assert item["phoneType"] == phone_types[method.kind]
            if name == "email only":
                assert (report["isMfaRegistered"], report["isMfaCapable"], report["isSsprRegistered"]) == (
                    False, False, True)
                assert [i["@odata.type"] for i in listed[1:]] == ["#microsoft.graph.emailAuthenticationMethod"]
            else:
                assert report["isMfaRegistered"] is True


def test_the_protection_seed_is_deterministic_and_leaves_the_users_as_they_were() -> None:
    first, second = tenant(), tenant()
    assert first.protection == second.protection
    other = generate_tenant(USERS, 12, now=NOW)
    assert {p.id for p in other.protection.conditional_access}.isdisjoint(
        {p.id for p in first.protection.conditional_access})
    assert [(u.id, u.mfa_state) for u in first.users] == [(u.id, u.mfa_state) for u in second.users]
    email_only = [u for u in first.users if [m.kind for m in u.methods] == ["email"]]
    assert email_only and all(u.mfa_state == "disabled" and not u.roles for u in email_only)


# ------------------------------------------------------------------------------ published metadata


def metadata(type_name: str) -> set[str]:
    """Property names of a v1.0 type (tests/fixtures/graph/protection/v1.0-metadata-properties.json)."""
    path = GRAPH_EXAMPLES / "protection" / "v1.0-metadata-properties.json"
    return set(json.loads(path.read_text(encoding="utf-8"))["types"][f"microsoft.graph.{type_name}"])


def test_every_property_served_is_in_graphs_published_metadata(emu: RunningEmulator) -> None:
    with http(emu) as c:
        ca = c.get(CA_PATH).json()["value"][0]
        methods = c.get("/v1.0/policies/authenticationMethodsPolicy").json()
        sd = c.get("/v1.0/policies/identitySecurityDefaultsEnforcementPolicy").json()
        strength = c.get("/v1.0/policies/authenticationStrengthPolicies").json()["value"][0]
        group = c.get("/v1.0/groups").json()["value"][0]
        assignment = c.get("/v1.0/roleManagement/directory/roleAssignments").json()["value"][0]
    served = lambda obj: {k for k in obj if not k.startswith("@")}  # noqa: E731
    campaign = methods["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]
    navigation = {"authenticationMethodConfigurations", "combinationConfigurations", "authenticationStrength"}
    for obj, type_name in ((ca, "conditionalAccessPolicy"), (ca["conditions"], "conditionalAccessConditionSet"),
                           (ca["conditions"]["users"], "conditionalAccessUsers"),
                           (ca["conditions"]["applications"], "conditionalAccessApplications"),
                           (ca["grantControls"], "conditionalAccessGrantControls"),
                           (methods, "authenticationMethodsPolicy"),
                           (campaign, "authenticationMethodsRegistrationCampaign"),
                           (campaign["includeTargets"][0], "authenticationMethodsRegistrationCampaignIncludeTarget"),
                           (sd, "identitySecurityDefaultsEnforcementPolicy"),
                           (strength, "authenticationStrengthPolicy"),
                           (group, "group"), (assignment, "unifiedRoleAssignment")):
        assert served(obj) - navigation <= metadata(type_name), type_name


def test_select_accepts_every_property_of_a_conditional_access_policy(emu: RunningEmulator) -> None:
    names = sorted(metadata("conditionalAccessPolicy"))
    with http(emu) as c:
        body = c.get(CA_PATH, params={"$select": ",".join(names)}).json()
    assert sorted(body["value"][0]) == names
    assert body["@odata.context"].endswith(f"policies({','.join(names)})")


def test_inside_a_batch_the_second_conditional_access_read_is_429_without_retry_after(
        throttled: tuple[RunningEmulator, ManualClock]) -> None:
    emu, _ = throttled
    batch = {"requests": [{"id": str(i), "method": "GET", "url": "/identity/conditionalAccess/policies?$select=id"}
                          for i in (1, 2)]}
    with http(emu) as c:
        r = c.post("/v1.0/$batch", json=batch)
    assert r.status_code == 200
    items = sorted(r.json()["responses"], key=lambda item: item["id"])
    assert sorted(item["status"] for item in items) == [200, 429]
    refused = next(item for item in items if item["status"] == 429)
    assert {k.lower() for k in refused.get("headers", {})}.isdisjoint({"retry-after"})
    assert refused["body"]["error"]["code"] == "TooManyRequests"


def test_strengths_need_a_policy_permission(emu: RunningEmulator) -> None:
    with http(emu, token(emu, frozenset({"User.Read.All", "Directory.Read.All"}))) as c:
        assert graph_error(c.get("/v1.0/policies/authenticationStrengthPolicies"))[:2] == (
            403, "Authorization_RequestDenied")


def test_role_assignments_page_and_filter_by_principal(emu: RunningEmulator) -> None:
    t = emu.state.tenant
    with http(emu) as c:
        url = "/v1.0/roleManagement/directory/roleAssignments?$top=2"
        seen: list[str] = []
        pages = 0
        while url:
            body = c.get(url).json()
            pages += 1
            seen += [a["id"] for a in body["value"]]
            url = body.get("@odata.nextLink")
        admin = next(u for u in t.users if u.upn.startswith("admin@"))
        mine = c.get("/v1.0/roleManagement/directory/roleAssignments",
                     params={"$filter": f"principalId eq '{admin.id}'"}).json()["value"]
    direct = sum(len(u.roles) for u in t.users) - sum(len(g.member_user_ids) for g in t.protection.groups
                                                         if g.is_assignable_to_role)
    assert len(seen) == len(set(seen)) == direct + len(t.protection.group_role_assignments)
    assert pages == -(-len(seen) // 2)
    assert [(a["principalId"], a["roleDefinitionId"]) for a in mine] == [(admin.id, GLOBAL_ADMINISTRATOR)]


def test_transitive_members_cost_five_resource_units_and_four_with_select(emu: RunningEmulator) -> None:
    group = by_name(emu, "Finance")
    with http(emu) as c:
        full = c.get(f"/v1.0/groups/{group.id}/transitiveMembers")
        selected = c.get(f"/v1.0/groups/{group.id}/transitiveMembers?$select=id")
        listed = c.get("/v1.0/groups")
    assert (full.headers["x-ms-resource-unit"], selected.headers["x-ms-resource-unit"]) == ("5", "4")
    assert listed.headers["x-ms-resource-unit"] == "2"
    assert [m["id"] for m in selected.json()["value"]] == group.member_user_ids
