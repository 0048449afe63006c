"""The demo tenant's sign-in log over real HTTP: shapes per version, filters, paging, the reports throttle,
403 without Entra ID P1, consistency with the users, and the log moving with the demo clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from lib.emulator.ca_coverage import registered_at
from lib.emulator.generator import demo_app, generate_tenant
from lib.emulator.model import METHOD_KINDS, SyntheticTenant
from lib.emulator.protection_seed import ADMIN_ROLE_TEMPLATES, POLICY_ALL_USERS, POLICY_OFFICE, POLICY_SALES
from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.signin_log import get_sign_in_log, legacy_client_of
from lib.emulator.signins_api import BETA_PROPERTIES, V1_PROPERTIES
from lib.emulator.state import EmulatorConfig
from lib.emulator.throttle import REPORT, ManualClock, get_throttle
from lib.emulator.tokens import mint_access_token
from tests.test_emulator_graph import graph_error, leftovers, sdk
from tests.test_rollout_support import control

BETA_ONLY = {"authenticationRequirement", "authenticationDetails", "authenticationRequirementPolicies",
             "signInEventTypes"}
NOW = datetime.fromisoformat("2026-11-20T00:00:00+00:00")


def tenant(premium: bool = True) -> SyntheticTenant:
    return generate_tenant(300, seed=11, premium=premium, now=NOW)


def serve(premium: bool = True, **config: object) -> RunningEmulator:
    config.setdefault("throttle", False)
    return start_emulator(tenant(premium), config=EmulatorConfig(**config))  # type: ignore[arg-type]


def client(emu: RunningEmulator, permissions: frozenset[str] | None = None) -> httpx.Client:
    app = demo_app(emu.state.tenant)
    token = mint_access_token(emu.state, app, app.permissions if permissions is None else permissions)[0]
    return httpx.Client(base_url=emu.graph_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def every(c: httpx.Client, url: str, **params: str) -> list[dict]:
    rows: list[dict] = []
    next_url: str | None = url
    first = True
    while next_url:
        response = c.get(next_url, params=params if first else None)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["value"]
        next_url, first = body.get("@odata.nextLink"), False
    return rows


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with serve() as running:
        yield running


@pytest.fixture(scope="module")
def log(emu: RunningEmulator) -> list[dict]:
    with client(emu) as c:
        return every(c, "/beta/auditLogs/signIns")


def test_the_log_holds_about_twenty_sign_ins_per_active_user_newest_first(log: list[dict]) -> None:
    times = [row["createdDateTime"] for row in log]
    assert times == sorted(times, reverse=True)
    assert len({row["id"] for row in log}) == len(log)
    per_user = len(log) / len({row["userId"] for row in log})
    assert 15 <= per_user <= 25
    oldest = datetime.fromisoformat(times[-1].replace("Z", "+00:00"))
    assert oldest >= NOW - timedelta(days=30)


def test_the_log_agrees_with_the_users(emu: RunningEmulator, log: list[dict]) -> None:
    users = emu.state.tenant.users
    newest: dict[str, str] = {}
    for row in log:
        newest.setdefault(row["userId"], row["createdDateTime"])
    for user in users:
        if user.last_sign_in is None or user.last_sign_in < NOW - timedelta(days=30):
            assert user.id not in newest, user.upn  # never signed in (or not for 30 days): absent
        else:
            assert newest[user.id][:19] == stamp(user.last_sign_in)[:19], user.upn
    admins = {u.id for u in users if u.is_admin and u.kind == "person"}  # Enforced 85 days before NOW
    by_ca = {u.id for u in users if set(u.roles) & set(ADMIN_ROLE_TEMPLATES)}  # "Require MFA for admins"
    checked = 0
    for row in log:
        if row["userId"] in admins and row["clientAppUsed"] == "Browser":
            assert row["authenticationRequirement"] == "multiFactorAuthentication"
            expected = [{"requirementProvider": "user", "detail": "Per-user MFA"}]
            if row["userId"] in by_ca:
                expected.append({"requirementProvider": "multiConditionalAccess", "detail": "Conditional Access"})
            assert row["authenticationRequirementPolicies"] == expected
            checked += 1
    assert checked > 20
    never = [u for u in users if u.kind == "service"]
    assert never and not {u.id for u in never} & set(newest)


def test_older_clients_appear_and_fail_once_mfa_is_required(log: list[dict], emu: RunningEmulator) -> None:
    legacy = [row for row in log if row["clientAppUsed"] not in ("Browser", "Mobile Apps and Desktop clients")]
    assert {row["clientAppUsed"] for row in legacy} <= {"IMAP4", "POP3", "Authenticated SMTP",
                                                         "Exchange ActiveSync", "Other clients"}
    assert len({row["clientAppUsed"] for row in legacy}) >= 3
    by_id = {u.id: u for u in emu.state.tenant.users}
    assert all(legacy_client_of(by_id[row["userId"]]) is not None for row in legacy)
    for row in legacy:
        if row["status"]["errorCode"] == 50126:
            continue
        if row["authenticationRequirement"] == "multiFactorAuthentication":
            assert row["status"]["errorCode"] == 50076
        else:
            assert row["status"]["errorCode"] == 0
    assert {row["status"]["errorCode"] for row in legacy} >= {0, 50076}


def test_each_version_has_its_own_shape_parsed_by_the_sdk_without_unknown_properties(
        emu: RunningEmulator) -> None:
    with client(emu) as c:
        beta = c.get("/beta/auditLogs/signIns", params={"$top": "50"}).json()["value"]
        v1 = c.get("/v1.0/auditLogs/signIns", params={"$top": "50"}).json()["value"]
    assert all(set(row) <= BETA_PROPERTIES and set(row) >= BETA_ONLY for row in beta)
    assert all(set(row) <= V1_PROPERTIES and not BETA_ONLY & set(row) for row in v1)

    async def typed() -> list:
        page = await sdk(emu, client(emu).headers["Authorization"][7:]).audit_logs.sign_ins.get()
        return page.value

    rows = asyncio.run(typed())
    assert len(rows) == 1000  # the default (and largest) page
    assert leftovers(rows) == []
    assert rows[0].status.error_code in (0, 50126, 50076) and rows[0].created_date_time is not None


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_created_date_time_windows_return_exactly_the_sign_ins_inside(
        emu: RunningEmulator, log: list[dict], version: str) -> None:
    since, until = NOW - timedelta(days=3), NOW - timedelta(days=1, hours=12)
    inside = [row["id"] for row in log if stamp(since) <= row["createdDateTime"][:19] + "Z" <= stamp(until)]
    with client(emu) as c:
        rows = every(c, f"/{version}/auditLogs/signIns", **{
            "$filter": f"createdDateTime ge {stamp(since)} and createdDateTime le {stamp(until)}", "$top": "333"})
    assert [row["id"] for row in rows] == inside and len(inside) > 100


def test_filters_on_user_client_requirement_and_event_type(emu: RunningEmulator, log: list[dict]) -> None:
    someone = log[len(log) // 2]["userId"]
    with client(emu) as c:
        def ids(filter_: str, version: str = "beta") -> list[str]:
            return [row["id"] for row in every(c, f"/{version}/auditLogs/signIns", **{"$filter": filter_})]

        assert ids(f"userId eq '{someone}'") == [row["id"] for row in log if row["userId"] == someone]
        assert ids("clientAppUsed eq 'POP3'") == [row["id"] for row in log if row["clientAppUsed"] == "POP3"]
        assert ids("authenticationRequirement eq 'singleFactorAuthentication'") == [
            row["id"] for row in log if row["authenticationRequirement"] == "singleFactorAuthentication"]
        assert ids("signInEventTypes/any(t: t eq 'interactiveUser')") == [row["id"] for row in log]
        assert ids("signInEventTypes/any(t: t eq 'nonInteractiveUser')") == []
        assert ids(f"userId eq '{someone}' and clientAppUsed eq 'Browser'", "v1.0") == [
            row["id"] for row in log if row["userId"] == someone and row["clientAppUsed"] == "Browser"]
        bad = c.get("/v1.0/auditLogs/signIns", params={"$filter": "authenticationRequirement eq 'x'"})
        assert bad.status_code == 400
        assert graph_error(c.get("/beta/auditLogs/signIns", params={"$filter": "riskState eq 'none'"}))[:2] == (
            400, "Request_UnsupportedQuery")
        assert c.get("/beta/auditLogs/signIns", params={"$filter": "createdDateTime ge yesterday"}).status_code \
            == 400


def test_paging_visits_every_sign_in_once_and_refuses_pages_over_1000(
        emu: RunningEmulator, log: list[dict]) -> None:
    with client(emu) as c:
        window = f"createdDateTime ge {stamp(NOW - timedelta(days=2))}"
        small = every(c, "/beta/auditLogs/signIns", **{"$top": "7", "$filter": window})
        assert [r["id"] for r in small] == [r["id"] for r in log if r["createdDateTime"] >= stamp(
            NOW - timedelta(days=2))[:19]]
        assert graph_error(c.get("/beta/auditLogs/signIns", params={"$top": "1001"}))[0] == 400
        first = c.get("/beta/auditLogs/signIns", params={"$top": "5"}).json()["@odata.nextLink"]
        assert c.get(first.replace("$top=5", "$top=6")).status_code == 400  # a token is bound to its query


def test_the_reports_throttle_allows_five_requests_per_ten_seconds() -> None:
    with serve(throttle=True) as emu, client(emu) as c:
        clock = ManualClock()
        get_throttle(emu.state).use_clock(clock)
        before = control(emu, "GET", "/stats")["throttled"]
        statuses = [c.get("/beta/auditLogs/signIns", params={"$top": "1"}).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        refused = c.get("/v1.0/auditLogs/signIns", params={"$top": "1"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
        assert refused.headers["x-ms-throttle-information"] == "ReportsBucket"
        clock.advance(2.0)  # one request's worth refilled at 5 per 10 s
        assert c.get("/beta/auditLogs/signIns", params={"$top": "1"}).status_code == 200
        assert c.get("/beta/auditLogs/signIns", params={"$top": "1"}).status_code == 429
        assert control(emu, "GET", "/stats")["throttled"] - before == 3
        assert get_throttle(emu.state).level(demo_app(emu.state.tenant).client_id, REPORT) < 1


def test_no_p1_is_403_and_both_permissions_are_needed() -> None:
    with serve(premium=False) as emu, client(emu) as c:
        assert graph_error(c.get("/beta/auditLogs/signIns"))[:2] == (
            403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    with serve() as emu:
        for permissions in ({"AuditLog.Read.All"}, {"Directory.Read.All"}):
            with client(emu, frozenset(permissions)) as c:
                assert graph_error(c.get("/v1.0/auditLogs/signIns"))[:2] == (403, "Authorization_RequestDenied")


def test_the_log_moves_with_the_demo_clock_and_keeps_what_it_served() -> None:
    with serve() as emu, client(emu) as c:
        before = every(c, "/beta/auditLogs/signIns")
        control(emu, "POST", "/clock/advance", {"days": 1})
        after = every(c, "/beta/auditLogs/signIns")
        cutoff = before[0]["createdDateTime"]
        new = [row for row in after if row["createdDateTime"] > cutoff]
        assert len(new) > 100  # a day of sign-ins appeared
        assert all(row["createdDateTime"][:10] == "2026-11-20" for row in new)
        kept = {row["id"]: row for row in after}
        day_old = [row for row in before if row["createdDateTime"] >= "2026-10-22"]
        assert all(kept[row["id"]] == row for row in day_old)  # served once, never rewritten
        assert len(after) - len(new) < len(before)  # the oldest day fell out of the 30 days
        signed_in = {u.id: u.last_sign_in for u in emu.state.tenant.users}
        for row in new:
            assert row["createdDateTime"][:19] <= stamp(signed_in[row["userId"]])[:19]
        assert len(get_sign_in_log(emu.state)) >= len(after)


def test_enforcing_a_legacy_client_user_makes_that_client_fail_from_then_on() -> None:
    with serve() as emu, client(emu) as c:
        users = emu.state.tenant.users
        legacy = next(u for u in users if legacy_client_of(u) is not None and u.mfa_state == "disabled"
                      and u.sign_in_rate >= 0.7 and u.account_enabled)
        response = c.patch(f"/beta/users/{legacy.id}/authentication/requirements",
                           json={"perUserMfaState": "enforced"})
        assert response.status_code == 204
        control(emu, "POST", "/clock/advance", {"days": 5})
        rows = every(c, "/beta/auditLogs/signIns", **{
            "$filter": f"userId eq '{legacy.id}' and createdDateTime ge {stamp(NOW)}"})
        assert rows, "a frequent user signs in within five days"
        for row in rows:
            assert row["authenticationRequirement"] == "multiFactorAuthentication"
            if row["clientAppUsed"] not in ("Browser", "Mobile Apps and Desktop clients") and \
                    row["status"]["errorCode"] != 50126:
                assert row["status"]["errorCode"] == 50076


def _providers(row: dict) -> list[str]:
    return [p["requirementProvider"] for p in row["authenticationRequirementPolicies"]]


def _signed_in_ok(row: dict) -> bool:
    return row["status"]["errorCode"] == 0


def test_users_an_enabled_conditional_access_mfa_policy_covers_sign_in_with_mfa(
        emu: RunningEmulator, log: list[dict]) -> None:
    tenant_ = emu.state.tenant
    protection = tenant_.protection
    policies = {p.display_name: p for p in protection.conditional_access}
    emergency = {u.id for u in tenant_.users if u.kind == "break_glass"}  # excluded from every policy
    sales = set(protection.transitive_members(policies[POLICY_SALES].conditions["users"]["includeGroups"][0])[0])
    sales -= set(policies[POLICY_SALES].conditions["users"]["excludeUsers"])
    finance = set(protection.transitive_members(
        policies["Require MFA for Office 365 (Finance)"].conditions["users"]["includeGroups"][0])[0])
    admins = {u.id for u in tenant_.users if set(u.roles) & set(ADMIN_ROLE_TEMPLATES)}
    covered = (sales | finance | admins) - emergency
    assert (len(sales), len(finance), len(admins - emergency)) == (46, 20, 3)
    with_ca = {row["userId"] for row in log if "multiConditionalAccess" in _providers(row)}
    in_log = {row["userId"] for row in log}
    assert with_ca == covered & in_log and len(with_ca) == 65
    for row in log:
        if row["userId"] in covered:  # every policy is older than the log
            assert row["authenticationRequirement"] == "multiFactorAuthentication"
            assert "multiConditionalAccess" in _providers(row)
            if _signed_in_ok(row):
                assert row["conditionalAccessStatus"] == "success"
            elif row["status"]["errorCode"] == 50076:
                assert row["conditionalAccessStatus"] == "failure"  # a legacy client cannot do MFA
        else:
            assert row["conditionalAccessStatus"] == "notApplied"
    # "Require MFA for all users" is report-only: it demands nothing of the others
    assert policies[POLICY_ALL_USERS].state == "enabledForReportingButNotEnforced"
    single = {row["userId"] for row in log if row["authenticationRequirement"] == "singleFactorAuthentication"}
    assert single and not single & covered


def test_a_policy_turned_off_or_report_only_stops_demanding_mfa_from_then_on() -> None:
    with serve() as emu, client(emu) as c:
        tenant_ = emu.state.tenant
        protection = tenant_.protection
        sales, finance = (next(p for p in protection.conditional_access if p.display_name == name)
                          for name in (POLICY_SALES, POLICY_OFFICE))
        members = set()
        for policy in (sales, finance):
            members |= set(protection.transitive_members(policy.conditions["users"]["includeGroups"][0])[0])
        # people only Conditional Access asks for MFA: per-user Disabled, or Enabled and not registered yet
        plain = {u.id for u in tenant_.users if u.id in members and not u.roles and (
            u.mfa_state == "disabled" or (u.mfa_state == "enabled" and not registered_at(u, NOW)))}
        assert len(plain) == 10
        before = every(c, "/beta/auditLogs/signIns")  # the log is frozen up to NOW
        sales.state, finance.state = "enabledForReportingButNotEnforced", "disabled"
        control(emu, "POST", "/clock/advance", {"days": 3})
        rows = [row for row in every(c, "/beta/auditLogs/signIns", **{"$filter": f"createdDateTime ge {stamp(NOW)}"})
                if row["userId"] in plain]
        assert rows, "these people sign in within three days"
        assert all(row["authenticationRequirement"] == "singleFactorAuthentication" and not _providers(row)
                   for row in rows)
        old = [row for row in before if row["userId"] in plain]
        assert old and all(_providers(row) == ["multiConditionalAccess"] for row in old)  # kept as served


def test_security_defaults_demand_mfa_of_admins_and_registered_users() -> None:
    with start_emulator(generate_tenant(300, seed=11, now=NOW, security_defaults=True),
                        config=EmulatorConfig(throttle=False)) as emu, client(emu) as c:
        assert emu.state.tenant.protection.conditional_access == []
        rows = every(c, "/beta/auditLogs/signIns")
        by_id = {u.id: u for u in emu.state.tenant.users}
        sd = [row for row in rows if "securityDefaults" in _providers(row)]
        assert sd and all(row["authenticationRequirement"] == "multiFactorAuthentication" for row in sd)
        for row in rows:
            user = by_id[row["userId"]]
            at = datetime.fromisoformat(row["createdDateTime"][:26] + "+00:00")
            registered = any(m.created <= at and METHOD_KINDS[m.kind].mfa for m in user.methods)
            assert ("securityDefaults" in _providers(row)) == (registered or user.is_admin), user.upn
            assert "multiConditionalAccess" not in _providers(row)


def test_coverage_rules_grants_and_users_conditions() -> None:
    from lib.emulator.ca_coverage import covered_user_ids, demands_mfa
    from lib.emulator.protection_model import ConditionalAccessPolicy
    from lib.emulator.protection_seed import _conditions, grant

    assert demands_mfa(grant("mfa")) and demands_mfa(grant("compliantDevice", "mfa"))
    assert demands_mfa({**grant(), "authenticationStrength": {"id": "00000000-0000-0000-0000-000000000002"}})
    assert not demands_mfa(grant("block")) and not demands_mfa(grant("compliantDevice")) and not demands_mfa(None)
    t = tenant()
    guests = {u.id for u in t.users if u.is_guest}
    admins = {u.id for u in t.users if ADMIN_ROLE_TEMPLATES[0] in u.roles}
    assert guests and admins

    def policy(users: dict) -> ConditionalAccessPolicy:
        return ConditionalAccessPolicy("p", "x", "enabled", NOW, None, _conditions(users), grant("mfa"))

    everyone = {u.id for u in t.users}
    assert covered_user_ids(t, policy({"includeUsers": ["All"], "excludeRoles": [ADMIN_ROLE_TEMPLATES[0]]})) == \
        everyone - admins
    assert covered_user_ids(t, policy({"includeUsers": ["GuestsOrExternalUsers"]})) == guests
    assert covered_user_ids(t, policy({"includeUsers": ["None"]})) == frozenset()
    assert covered_user_ids(t, policy({"includeRoles": [ADMIN_ROLE_TEMPLATES[0]],
                                       "excludeUsers": sorted(admins)[:1]})) == admins - set(sorted(admins)[:1])
