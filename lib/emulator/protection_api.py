"""The Graph routes the protection view reads: Conditional Access, security defaults, the authentication
methods and strength policies, groups and their transitive members, and directory role assignments.

They run in the same pipeline as every other route (lib/emulator/graph_api.py: permissions 403, query
options, RU throttle), which ``mount`` hangs them into. Two rules are their own (docs/graph.md
"Protection policies"): Conditional Access is limited to 1 request per second per tenant for all apps
together, and its 429 carries no ``Retry-After``; a tenant without Entra ID P1 answers the policies
list with 403 or an empty list, as ``EmulatorConfig.ca_without_premium`` says.
"""

from __future__ import annotations

from typing import Any

from lib.emulator import odata, throttle
from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.graph_api import (
    _ENTITY_OPTIONS,
    _LIST_OPTIONS,
    BAD_JSON_MESSAGE,
    DENIED_MESSAGE,
    NOT_FOUND_MESSAGE,
    PREMIUM_MESSAGE,
    GraphResponse,
    _caller,
    _context_url,
    _Ctx,
    _eventual,
    _json_body,
    _Node,
    _page,
    _require_count_header,
    _Route,
    emulator_stats,
)
from lib.emulator.model import AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, User
from lib.emulator.protection_model import (
    ALL_USERS_TARGET,
    CAMPAIGN_METHODS,
    CAMPAIGN_STATES,
    CAMPAIGN_TARGET_TYPES,
    MAX_SNOOZE_DAYS,
    Group,
    ProtectionPolicies,
    RoleAssignment,
    role_assignments,
)
from lib.emulator.protection_wire import (
    CA_DEFAULT,
    CA_PROPERTIES,
    GROUP_PROPERTY_NAMES,
    ca_policy_json,
    group_json,
    member_json,
    methods_policy_json,
    role_assignment_json,
    security_defaults_json,
    strength_policies_json,
)
from lib.emulator.user_schema import user_properties

__all__ = ["mount"]

PAGE = 100
"""Default page of these lists (Microsoft documents none for them)."""

# Permissions: docs/graph.md "Protection policies" (least privileged first; any one grants the route).
POLICY_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"})
METHODS_POLICY_READ = frozenset({"Policy.Read.AuthenticationMethod", "Policy.ReadWrite.AuthenticationMethod"})
METHODS_POLICY_WRITE = frozenset({"Policy.ReadWrite.AuthenticationMethod"})
STRENGTHS_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess",
                            "Policy.ReadWrite.AuthenticationMethod"})
GROUPS_READ = frozenset({"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Group.ReadWrite.All",
                         "Directory.ReadWrite.All"})
ROLE_ASSIGNMENTS_READ = frozenset({"RoleManagement.Read.Directory", "RoleManagement.Read.All", "Directory.Read.All",
                                   "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"})
CAMPAIGN_WRITER_ROLES = frozenset({GLOBAL_ADMINISTRATOR, AUTHENTICATION_POLICY_ADMINISTRATOR})
"""A delegated caller must hold one of these to change the registration campaign (at least Authentication
Policy Administrator)."""

TRANSITIVE_MEMBERS_RU = 5
"""throttling-limits, identity and access: ``groups/{id}/transitiveMembers`` costs 5 RU."""

CA_TYPE = "microsoft.graph.conditionalAccessPolicy"
CA_PROPERTY_NAMES = {name.lower(): name for name in CA_PROPERTIES}
CA_FILTER_FIELDS = {
    "state": odata.FilterField("state", "str", lambda p: p.state),
    "displayName": odata.FilterField("displayName", "str", lambda p: p.display_name, starts_with=True),
    "id": odata.FilterField("id", "str", lambda p: p.id),
}
GROUP_FILTER_FIELDS = {
    "displayName": odata.FilterField("displayName", "str", lambda g: g.display_name, starts_with=True),
    "mailNickname": odata.FilterField("mailNickname", "str", lambda g: g.mail_nickname, starts_with=True),
    "id": odata.FilterField("id", "str", lambda g: g.id),
    "isAssignableToRole": odata.FilterField("isAssignableToRole", "bool", lambda g: g.is_assignable_to_role),
}
ROLE_ASSIGNMENT_FILTER_FIELDS = {
    "roleDefinitionId": odata.FilterField("roleDefinitionId", "str", lambda a: a.role_template_id),
    "principalId": odata.FilterField("principalId", "str", lambda a: a.principal_id),
}
USER_PROPERTY_NAMES = {name.lower(): name for name in user_properties("v1.0")}
"""Every property of Microsoft's v1.0 user type, lower-cased → Graph's spelling ($select is case-insensitive)."""

MEMBER_PROPERTY_NAMES = {**USER_PROPERTY_NAMES, **GROUP_PROPERTY_NAMES}


def _tenant_policies(ctx: _Ctx) -> ProtectionPolicies:
    return ctx.state.tenant.protection


def _too_many_requests(ctx: _Ctx) -> GraphResponse:
    """429 as Graph answers Conditional Access: the TooManyRequests body, and no ``Retry-After``."""
    emulator_stats(ctx.state).throttled += 1
    body = {"error": {"code": "TooManyRequests", "message": "Too many requests.",
                      "innerError": {"request-id": ctx.req.request_id,
                                     "client-request-id": ctx.req.client_request_id}}}
    return GraphResponse(429, body, "application/json")


# ------------------------------------------------------------------------------- Conditional Access

def _ca_policies(ctx: _Ctx) -> GraphResponse:
    tenant = ctx.state.tenant
    if not tenant.premium and ctx.state.config.ca_without_premium == "forbidden":
        raise EmulatedGraphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", PREMIUM_MESSAGE)
    select = odata.parse_select(ctx.options.get("$select"), CA_PROPERTY_NAMES, CA_TYPE)
    top = odata.parse_top(ctx.options.get("$top"), PAGE)
    count = odata.wants_count(ctx.options.get("$count"))
    predicate = odata.parse_filter(ctx.options.get("$filter"), CA_FILTER_FIELDS, "ConditionalAccessPolicy")
    if throttle.get_throttle(ctx.state).charge(throttle.TENANT_WIDE, ((throttle.CONDITIONAL_ACCESS, 1.0),)) > 0:
        return _too_many_requests(ctx)
    policies = _tenant_policies(ctx).conditional_access if tenant.premium else []
    props = select or CA_DEFAULT
    body = _page(ctx, len(policies), policies.__getitem__, predicate, top, count,
                 lambda p: ca_policy_json(p, props), _context_url(ctx, "identity/conditionalAccess/policies", select),
                 lambda: odata.count_matches(policies, predicate))
    return GraphResponse(200, body)


# -------------------------------------------------------------------- security defaults, strengths

def _security_defaults(ctx: _Ctx) -> GraphResponse:
    body = security_defaults_json(_tenant_policies(ctx))
    select = odata.parse_select(ctx.options.get("$select"), {k.lower(): k for k in body},
                                "microsoft.graph.identitySecurityDefaultsEnforcementPolicy")
    if select:
        body = {k: body[k] for k in select}
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "policies/identitySecurityDefaultsEnforcementPolicy",
                                                              select), **body})


def _strengths(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "policies/authenticationStrengthPolicies"),
                               "value": strength_policies_json()})


# ---------------------------------------------------------------------- authentication methods policy

def _methods_policy(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "authenticationMethodsPolicy"),
                               **methods_policy_json(ctx.state.tenant)})


def _authorize_campaign_write(ctx: _Ctx) -> None:
    if ctx.req.principal.delegated:
        caller = _caller(ctx)
        if caller is None or not CAMPAIGN_WRITER_ROLES.intersection(caller.roles):
            raise EmulatedGraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)


def _bad(message: str) -> EmulatedGraphError:
    return EmulatedGraphError(400, "BadRequest", message)


def _unknown_property(key: str, type_name: str) -> EmulatedGraphError:
    return _bad(f"The property '{key}' does not exist on type '{type_name}'. Make sure to only use property "
                "names that are defined by the type.")


def _targets(ctx: _Ctx, value: Any, name: str, include: bool) -> list[dict]:
    """Campaign targets: ``all_users`` (a group target) or an existing user's or group's id."""
    if not isinstance(value, list):
        raise _bad(f"'{name}' must be a collection of targets.")
    allowed = {"id", "targetType"} | ({"targetedAuthenticationMethod"} if include else set())
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise _bad(f"Each of '{name}' must be an object with 'id' and 'targetType'.")
        for key in item:
            if key not in allowed and not key.startswith("@odata."):
                raise _unknown_property(key, "microsoft.graph.authenticationMethodsRegistrationCampaignIncludeTarget"
                                        if include else "microsoft.graph.excludeTarget")
        target_id, target_type = item.get("id"), item.get("targetType")
        if target_type not in CAMPAIGN_TARGET_TYPES:
            raise _bad(f"Invalid value '{target_type}' for property 'targetType'. Possible values are: "
                       f"{', '.join(CAMPAIGN_TARGET_TYPES)}.")
        known = (target_type == "group" and (target_id == ALL_USERS_TARGET
                                             or _tenant_policies(ctx).group(str(target_id)) is not None)) or (
            target_type == "user" and isinstance(target_id, str) and ctx.state.tenant.by_id.get(target_id))
        if not isinstance(target_id, str) or not known:
            raise EmulatedGraphError(404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE.format(target_id))
        target = {"id": target_id, "targetType": target_type}
        if include:
            method = item.get("targetedAuthenticationMethod", CAMPAIGN_METHODS[0])
            if method not in CAMPAIGN_METHODS:
                raise _bad(f"Invalid value '{method}' for property 'targetedAuthenticationMethod'. Possible values "
                           f"are: {', '.join(CAMPAIGN_METHODS)}.")
            target["targetedAuthenticationMethod"] = method
        out.append(target)
    return out


def _patch_methods_policy(ctx: _Ctx) -> GraphResponse:
    """Only the registration campaign changes; every field is checked before anything is applied."""
    payload = _json_body(ctx.req)
    if not isinstance(payload, dict):
        raise _bad(BAD_JSON_MESSAGE)
    for key in payload:
        if key != "registrationEnforcement" and not key.startswith("@odata."):
            raise _bad(f"The property '{key}' cannot be changed in the demo tenant: only "
                       "registrationEnforcement.authenticationMethodsRegistrationCampaign can.")
    enforcement = payload.get("registrationEnforcement")
    if not isinstance(enforcement, dict) or not isinstance(
            enforcement.get("authenticationMethodsRegistrationCampaign"), dict):
        raise _bad("The request body must contain registrationEnforcement.authenticationMethodsRegistrationCampaign.")
    for key in enforcement:
        if key != "authenticationMethodsRegistrationCampaign" and not key.startswith("@odata."):
            raise _unknown_property(key, "microsoft.graph.registrationEnforcement")
    changes = enforcement["authenticationMethodsRegistrationCampaign"]
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key.startswith("@odata."):
            continue
        if key == "state":
            if value not in CAMPAIGN_STATES:
                raise _bad(f"Invalid value '{value}' for property 'state'. Possible values are: "
                           f"{', '.join(CAMPAIGN_STATES)}.")
            checked["state"] = value
        elif key == "snoozeDurationInDays":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SNOOZE_DAYS:
                raise _bad(f"snoozeDurationInDays must be a whole number from 0 to {MAX_SNOOZE_DAYS}, got {value!r}.")
            checked["snooze_days"] = value
        elif key == "includeTargets":
            checked["include_targets"] = _targets(ctx, value, key, include=True)
        elif key == "excludeTargets":
            checked["exclude_targets"] = _targets(ctx, value, key, include=False)
        else:
            raise _unknown_property(key, "microsoft.graph.authenticationMethodsRegistrationCampaign")
    tenant = ctx.state.tenant
    campaign = tenant.protection.campaign
    for name, value in checked.items():
        setattr(campaign, name, value)
    tenant.protection.methods_policy_modified = tenant.now
    tenant.revision += 1
    return _methods_policy(ctx)


# ------------------------------------------------------------------------------------------- groups

def _group_select(ctx: _Ctx) -> tuple[str, ...] | None:
    return odata.parse_select(ctx.options.get("$select"), GROUP_PROPERTY_NAMES, "microsoft.graph.group")


def _groups(ctx: _Ctx) -> GraphResponse:
    select = _group_select(ctx)
    top = odata.parse_top(ctx.options.get("$top"), PAGE)
    count = _require_count_header(ctx)
    predicate = odata.parse_filter(ctx.options.get("$filter"), GROUP_FILTER_FIELDS, "Group")
    groups = _tenant_policies(ctx).groups
    body = _page(ctx, len(groups), groups.__getitem__, predicate, top, count, lambda g: group_json(g, select),
                 _context_url(ctx, "groups", select), lambda: odata.count_matches(groups, predicate))
    return GraphResponse(200, body)


def _target_group(ctx: _Ctx) -> Group:
    group = _tenant_policies(ctx).group(ctx.params[0])
    if group is None:
        raise EmulatedGraphError(404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE.format(ctx.params[0]))
    return group


def _get_group(ctx: _Ctx) -> GraphResponse:
    select = _group_select(ctx)
    group = _target_group(ctx)
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "groups/$entity", select),
                               **group_json(group, select)})


def _members(ctx: _Ctx, users_only: bool) -> list[User | Group]:
    policies = _tenant_policies(ctx)
    group_id = _target_group(ctx).id
    user_ids, group_ids = policies.transitive_members(group_id)
    tenant = ctx.state.tenant
    # A large group is read a page at a time: its users are looked up once per tenant revision, not per page.
    key = (group_id, tenant.revision, len(tenant.by_id), len(user_ids))
    kept = ctx.state.extras.get("group_member_users")
    if kept is None or kept[0] != key:
        by_id = tenant.by_id
        kept = ctx.state.extras["group_member_users"] = (key, [by_id[u] for u in user_ids if u in by_id])
    found: list[User | Group] = list(kept[1])
    if not users_only:
        found += [g for g in (policies.group(gid) for gid in group_ids) if g is not None]
    return found


def _transitive_members(ctx: _Ctx) -> GraphResponse:
    select = odata.parse_select(ctx.options.get("$select"), MEMBER_PROPERTY_NAMES, "microsoft.graph.directoryObject")
    top = odata.parse_top(ctx.options.get("$top"), PAGE)
    count = _require_count_header(ctx)
    members = _members(ctx, users_only=False)
    body = _page(ctx, len(members), members.__getitem__, None, top, count, lambda m: member_json(m, select),
                 _context_url(ctx, "directoryObjects", select), lambda: len(members))
    return GraphResponse(200, body)


def _transitive_users(ctx: _Ctx) -> GraphResponse:
    """The ``/microsoft.graph.user`` cast: an advanced query, so ``ConsistencyLevel: eventual`` and ``$count=true``."""
    count = odata.wants_count(ctx.options.get("$count"))
    if not (count and _eventual(ctx)) and "$skiptoken" not in ctx.options:
        raise EmulatedGraphError(400, "Request_UnsupportedQuery",
                                 "The OData cast needs the ConsistencyLevel: eventual header and $count=true.")
    select = odata.parse_select(ctx.options.get("$select"), USER_PROPERTY_NAMES, "microsoft.graph.user")
    top = odata.parse_top(ctx.options.get("$top"), PAGE)
    members = _members(ctx, users_only=True)
    body = _page(ctx, len(members), members.__getitem__, None, top, count,
                 lambda m: member_json(m, select, typed=False), _context_url(ctx, "users", select),
                 lambda: len(members))
    return GraphResponse(200, body)


# --------------------------------------------------------------------------------- role assignments

def _role_assignments(ctx: _Ctx) -> GraphResponse:
    expand = ctx.options.get("$expand")
    if expand is not None and expand.strip().lower() != "principal":
        raise EmulatedGraphError(400, "Request_BadRequest", f"Could not find a property named '{expand}' on type "
                                 "'microsoft.graph.unifiedRoleAssignment' to expand.")
    top = odata.parse_top(ctx.options.get("$top"), PAGE)
    count = _require_count_header(ctx)
    predicate = odata.parse_filter(ctx.options.get("$filter"), ROLE_ASSIGNMENT_FILTER_FIELDS, "UnifiedRoleAssignment")
    tenant = ctx.state.tenant
    policies = _tenant_policies(ctx)
    assignments = role_assignments(policies, tenant.users)

    def render(a: RoleAssignment) -> dict:
        if expand is None:
            return role_assignment_json(a)
        principal = policies.group(a.principal_id) if a.principal_is_group else tenant.by_id.get(a.principal_id)
        return role_assignment_json(a, principal)

    fragment = "roleManagement/directory/roleAssignments" + ("(principal())" if expand is not None else "")
    body = _page(ctx, len(assignments), assignments.__getitem__, predicate, top, count, render,
                 _context_url(ctx, fragment), lambda: odata.count_matches(assignments, predicate))
    return GraphResponse(200, body)


# -------------------------------------------------------------------------------------------- mount

def mount(root: _Node, version: str) -> None:
    """Hang the protection routes into one version's route tree (v1.0 and beta serve the same)."""
    root.child("identity").child("conditionalAccess").child("policies").methods["GET"] = _Route(
        _ca_policies, POLICY_READ, _LIST_OPTIONS, bucket=None, collection=True)
    policies = root.child("policies")
    policies.child("identitySecurityDefaultsEnforcementPolicy").methods["GET"] = _Route(
        _security_defaults, POLICY_READ, _ENTITY_OPTIONS)
    methods = policies.child("authenticationMethodsPolicy")
    methods.methods["GET"] = _Route(_methods_policy, METHODS_POLICY_READ, bucket=None)
    methods.methods["PATCH"] = _Route(_patch_methods_policy, METHODS_POLICY_WRITE, bucket=None, write=True,
                                      authorize=_authorize_campaign_write)
    policies.child("authenticationStrengthPolicies").methods["GET"] = _Route(
        _strengths, STRENGTHS_READ, bucket=None, collection=True)
    groups = root.child("groups")
    groups.methods["GET"] = _Route(_groups, GROUPS_READ, _LIST_OPTIONS, collection=True)
    groups.param = _Node()
    groups.param.methods["GET"] = _Route(_get_group, GROUPS_READ, _ENTITY_OPTIONS)
    members = groups.param.child("transitiveMembers")
    member_options = frozenset({"$select", "$top", "$count", "$skiptoken"})
    members.methods["GET"] = _Route(_transitive_members, GROUPS_READ, member_options, collection=True,
                                    cost=TRANSITIVE_MEMBERS_RU)
    users_cast = _Route(_transitive_users, GROUPS_READ, member_options, collection=True, cost=TRANSITIVE_MEMBERS_RU)
    members.child("microsoft.graph.user").methods["GET"] = users_cast
    members.child("graph.user").methods["GET"] = users_cast
    root.child("roleManagement").child("directory").child("roleAssignments").methods["GET"] = _Route(
        _role_assignments, ROLE_ASSIGNMENTS_READ, _LIST_OPTIONS | {"$expand"}, collection=True)

