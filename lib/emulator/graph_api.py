"""The Microsoft Graph routes of the emulator (``/v1.0/...`` and ``/beta/...``), per docs/graph.md.

One pipeline serves a plain HTTP request and every ``$batch`` item alike, in process:

    HTTP request: latency → fault draw → bearer (401) → [pipeline] → response (or a dropped connection)
    pipeline:     route (400 unknown segment, 405) → query options → permissions (403)
                  → route-specific checks (licence, role) → throttle (429) → handler

``execute`` is that pipeline and never raises: errors come back as ``GraphResponse`` carrying
Graph's error body. ``graph_routes(state)`` mounts it for the server; ``lib.emulator.batch_route`` calls
``execute`` for each item. Renderers live in ``wire``, query options in ``odata``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.routing import BaseRoute, Route

from lib.emulator import batch_route, odata, signins_api, throttle, wire
from lib.emulator import faults as hostile
from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.faults import APPLIED_FIRST, HOSTILE, Fault, fault_error, get_faults
from lib.emulator.model import MFA_WRITER_ROLES, STATES, User
from lib.emulator.state import EmulatorState
from lib.emulator.tokens import Principal, verify_bearer
from lib.emulator.user_schema import PER_USER_MFA_STATE, user_properties

__all__ = [
    "EmulatorStats",
    "GraphRequest",
    "GraphResponse",
    "dumps",
    "emulator_stats",
    "error_response",
    "execute",
    "graph_routes",
    "throttled_response",
]

SERVED_VERSIONS = ("v1.0", "beta")
USERS_DEFAULT_PAGE = 100
REPORT_DEFAULT_PAGE = 50
"""The reports' default page: smaller than /users' 100 (Microsoft documents neither maximum nor default)."""

USER_TYPE_NAME = "Microsoft.DirectoryServices.User"
REGISTRATION_TYPE_NAME = "microsoft.graph.userRegistrationDetails"
ROLE_TYPE_NAME = "Microsoft.DirectoryServices.DirectoryRole"
PREMIUM_MESSAGE = "Tenant is not a B2C tenant and doesn't have premium license"
DENIED_MESSAGE = "Insufficient privileges to complete the operation."
BAD_JSON_MESSAGE = batch_route.BAD_JSON
NOT_FOUND_MESSAGE = ("Resource '{}' does not exist or one of its queried reference-property objects are "
                     "not present.")
BAD_TOKEN_MESSAGE = "The specified page token value is invalid or has expired."

# Permissions (any one of a set grants the route). Delegated scopes and app roles share names.
_USERS_READ = frozenset({"User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                         "Directory.ReadWrite.All", "User.ReadBasic.All"})
_ME_READ = _USERS_READ | {"User.Read", "User.ReadWrite"}
_ORG_READ = frozenset({"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                       "Directory.ReadWrite.All", "User.Read"})
_ROLES_READ = _USERS_READ | {"GroupMember.Read.All", "RoleManagement.Read.Directory",
                             "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory"}
_REPORTS_READ = frozenset({"AuditLog.Read.All"})
_METHODS_READ = frozenset({"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"})
_ME_METHODS_READ = _METHODS_READ | {"UserAuthenticationMethod.Read", "UserAuthenticationMethod.ReadWrite"}
_MFA_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"})
_MFA_WRITE = frozenset({"Policy.ReadWrite.AuthenticationMethod"})

_LIST_OPTIONS = frozenset({"$select", "$top", "$filter", "$count", "$orderby", "$skiptoken"})
_ENTITY_OPTIONS = frozenset({"$select"})
_NO_OPTIONS: frozenset[str] = frozenset()

_ME = "\x00me"
"""Stands for the signed-in user where a route's user segment was ``me``."""


# ----------------------------------------------------------------------------------- request/response

@dataclass(slots=True)
class GraphRequest:
    """One Graph call, from an HTTP request or a ``$batch`` item."""

    version: str
    method: str
    path: str
    """Decoded path after the version, without a leading slash: ``users/x/authentication/methods``."""
    query: str
    headers: dict[str, str]
    """Lower-cased names."""
    principal: Principal
    request_id: str
    client_request_id: str
    body: bytes = b""
    json_body: Any = None
    has_json_body: bool = False
    """True when ``json_body`` holds an already-parsed JSON body (``$batch`` items)."""


@dataclass(slots=True)
class GraphResponse:
    """What a handler answers; the HTTP layer or the batch turns it into bytes or an item."""

    status: int
    body: Any = None
    """dict → JSON, str → text, None → no body."""
    content_type: str | None = wire.JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class EmulatorStats:
    """Counters for control and benchmarks (``GET /_emulator/stats``)."""

    requests: int = 0
    """HTTP requests to the Graph routes (a ``$batch`` counts once)."""
    batch_items: int = 0
    throttled: int = 0
    """429 answers, HTTP requests and batch items alike."""
    faults: int = 0
    """Injected faults (5xx and dropped connections)."""
    dropped: int = 0
    writes: int = 0
    """Per-user MFA PATCHes applied."""
    held: int = 0
    """Requests waiting right now because ``hold_requests`` or ``hold_after_writes`` holds them."""
    state_reads: int = 0
    """GETs of ``authentication/requirements`` that reached the route (batch items included, 429s not)."""
    user_listings: int = 0
    """Pages of ``GET /users`` that reached the route (batch items included, 429s not)."""
    statuses: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    """Graph requests being served right now."""
    last_answered: float = 0.0
    """``time.monotonic()`` when the last Graph request ended (0: none yet)."""

    def quiet_for(self, seconds: float) -> bool:
        """No Graph request is being served, nor was one in the last ``seconds``."""
        return not self.in_flight and time.monotonic() - self.last_answered >= seconds

    def count(self, status: int) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1

    def as_dict(self) -> dict:
        return {"requests": self.requests, "batch_items": self.batch_items, "throttled": self.throttled,
                "faults": self.faults, "dropped": self.dropped, "writes": self.writes, "held": self.held,
                "state_reads": self.state_reads, "user_listings": self.user_listings,
                "statuses": dict(sorted(self.statuses.items()))}


def emulator_stats(state: EmulatorState) -> EmulatorStats:
    """The emulator's counters (``state.extras['emulator_stats']``)."""
    stats = state.extras.get("emulator_stats")
    if stats is None:
        stats = state.extras["emulator_stats"] = EmulatorStats()
    return stats


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def error_response(err: EmulatedGraphError, request_id: str, client_request_id: str) -> GraphResponse:
    body = err.body(request_id)
    body["error"]["innerError"]["client-request-id"] = client_request_id
    return GraphResponse(err.status, body, "application/json", dict(err.headers))


def throttled_response(wait: float, time_scale: float, app_id: str, tenant_id: str, request_id: str,
                       bucket: str) -> GraphResponse:
    """429 with the TooManyRequests body of tests/fixtures/graph/v1.0-throttling-429.json."""
    retry = throttle.format_retry_after(wait, time_scale)
    body = {"error": {
        "code": "TooManyRequests",
        "innerError": {"code": "429", "date": _now_text(), "message": "Please retry after",
                       "request-id": request_id, "status": "429"},
        "message": "Please retry again later.",
    }}
    scope = "Tenant_Application/ReadWrite" if bucket == throttle.WRITE else "Tenant_Application/Read"
    return GraphResponse(429, body, "application/json", {
        "Retry-After": retry, "x-ms-throttle-scope": f"{scope}/{app_id}/{tenant_id}",
        "x-ms-throttle-information": "ReportsBucket" if bucket == throttle.REPORT else "CommonBucket",
    })


def _now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------------------ routing

@dataclass(slots=True)
class _Ctx:
    state: EmulatorState
    req: GraphRequest
    options: dict[str, str]
    params: list[str]


Handler = Callable[[_Ctx], GraphResponse]


@dataclass(slots=True)
class _Route:
    handler: Handler
    permissions: frozenset[str]
    options: frozenset[str] = _NO_OPTIONS
    bucket: str | None = throttle.IDENTITY
    collection: bool = False
    write: bool = False
    authorize: Callable[[_Ctx], None] | None = None
    cost: int | None = None
    """RU of a read when the throttling doc names one for the route (e.g. transitiveMembers 5), before $select."""


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    functions: list[tuple[re.Pattern, _Node]] = field(default_factory=list)
    methods: dict[str, _Route] = field(default_factory=dict)

    def child(self, name: str) -> _Node:
        return self.children.setdefault(name.lower(), _Node())


def _segment_error(segment: str) -> EmulatedGraphError:
    return EmulatedGraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def _resolve(tree: _Node, method: str, path: str) -> tuple[_Route, list[str], bool]:
    """(route, params, is_batch) for a path; 400 for an unknown segment, 405 for a wrong method."""
    node = tree
    params: list[str] = []
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise EmulatedGraphError(400, "BadRequest", "Invalid request.")
    for segment in segments:
        nxt = node.children.get(segment.lower())
        if nxt is None:
            for pattern, fnode in node.functions:
                m = pattern.fullmatch(segment)
                if m:
                    nxt = fnode
                    params.append(m.group(1))
                    break
        if nxt is None and node.param is not None:
            nxt = node.param
            params.append(segment)
        if nxt is None:
            raise _segment_error(segment)
        node = nxt
    route = node.methods.get(method)
    if route is None:
        if not node.methods:
            raise _segment_error(segments[-1])
        raise EmulatedGraphError(405, "Request_BadRequest",
                         "Specified HTTP method is not allowed for the request target.")
    return route, params, route.handler is _batch


# ----------------------------------------------------------------------------------------- helpers

def _eventual(ctx: _Ctx) -> bool:
    return ctx.req.headers.get("consistencylevel", "").lower() == "eventual"


def _base(state: EmulatorState) -> str:
    return state.graph_url or "https://graph.microsoft.com"


def _tokens(state: EmulatorState) -> odata.SkipTokens:
    tokens = state.extras.get("skiptokens")
    if tokens is None:
        tokens = state.extras["skiptokens"] = odata.SkipTokens(state.signing_key)
    return tokens


def _caller(ctx: _Ctx) -> User | None:
    uid = ctx.req.principal.user_id
    return ctx.state.tenant.lookup(uid) if uid else None


def _target(ctx: _Ctx) -> User:
    """The user a ``users/{key}`` (the first path parameter) or ``me`` segment names; 404 / 400 as Graph."""
    key = ctx.params[0] if ctx.params else _ME
    if key == _ME:
        if not ctx.req.principal.delegated:
            raise EmulatedGraphError(400, "BadRequest",
                             "/me request is only valid with delegated authentication flow.")
        user = _caller(ctx)
        if user is None:
            raise EmulatedGraphError(401, "InvalidAuthenticationToken", "Access token validation failure.")
        return user
    user = ctx.state.tenant.lookup(key)
    if user is None:
        raise EmulatedGraphError(404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE.format(key))
    return user


def _ordering(state: EmulatorState, attr: str, desc: bool) -> list[int]:
    """Positions of tenant.users sorted by a string attribute (case-insensitive, id breaks ties), cached."""
    users = state.tenant.users
    cache: dict = state.extras.setdefault("orderings", {})
    key = (attr, desc)
    hit = cache.get(key)
    if hit is not None and hit[0] is users and hit[1] == len(users):
        return hit[2]
    order = sorted(range(len(users)), key=lambda i: ((getattr(users[i], attr) or "").lower(), users[i].id),
                   reverse=desc)
    cache[key] = (users, len(users), order)
    return order


def _page(
    ctx: _Ctx, items_len: int, at: Callable[[int], Any], predicate: odata.Predicate | None, top: int,
    count: bool, render: Callable[[Any], dict], context_url: str, count_of: Callable[[], int],
) -> dict:
    """A collection page: @odata.context, @odata.count (first page only), @odata.nextLink, value."""
    state = ctx.state
    path = f"{ctx.req.version}/{ctx.req.path.strip('/')}"
    qctx = odata.query_context(path.lower(), ctx.options)
    token = ctx.options.get("$skiptoken")
    start = _tokens(state).read(token, qctx) if token is not None else 0
    if start > items_len:
        raise EmulatedGraphError(400, "Request_BadRequest", BAD_TOKEN_MESSAGE)
    found, nxt = odata.scan(items_len, at, start, top, predicate)
    body: dict[str, Any] = {"@odata.context": context_url}
    if count and token is None:
        body["@odata.count"] = count_of()
    if nxt is not None:
        token_out = _tokens(state).make(qctx, nxt)
        body["@odata.nextLink"] = odata.next_link(_base(state), path, ctx.options, token_out)
    body["value"] = [render(obj) for obj in found]
    return body


def _require_count_header(ctx: _Ctx) -> bool:
    """``$count=true`` needs ``ConsistencyLevel: eventual`` (not on later pages, which keep the option)."""
    count = odata.wants_count(ctx.options.get("$count"))
    if count and not _eventual(ctx) and "$skiptoken" not in ctx.options:
        raise EmulatedGraphError(400, "Request_BadRequest", "$count is not currently supported.")
    return count


# -------------------------------------------------------------------------------------------- users

def _user_enabled(u: User) -> bool:
    return u.account_enabled


USER_FILTER_FIELDS = {
    "accountEnabled": odata.FilterField("accountEnabled", "bool", _user_enabled),
    "userType": odata.FilterField("userType", "str", lambda u: u.user_type),
    "userPrincipalName": odata.FilterField("userPrincipalName", "str", lambda u: u.upn, starts_with=True),
    "displayName": odata.FilterField("displayName", "str", lambda u: u.display_name, starts_with=True),
    "mail": odata.FilterField("mail", "str", lambda u: u.mail, starts_with=True),
    "id": odata.FilterField("id", "str", lambda u: u.id, in_values=True),
}
_USER_ORDER = {"displayname": "displayName", "userprincipalname": "userPrincipalName"}
_USER_ORDER_ATTR = {"displayName": "display_name", "userPrincipalName": "upn"}


def _selectable(version: str, listing: bool) -> dict[str, str]:
    """Lower-cased name → Graph's spelling of what ``$select`` accepts on users in ``version``.

    Every property of Microsoft's ``user`` type (lib/emulator/user_properties.json), plus
    ``perUserMfaState`` on the listing, which real Graph serves there although no metadata lists it.
    """
    names = {name.lower(): name for name in user_properties(version)}
    if listing:
        names[PER_USER_MFA_STATE.lower()] = PER_USER_MFA_STATE
    return names


_SELECTABLE = {(v, listing): _selectable(v, listing) for v in SERVED_VERSIONS for listing in (False, True)}


def _user_select(ctx: _Ctx) -> tuple[str, ...] | None:
    listing = ctx.params == [] and ctx.req.path.strip("/").lower() == "users"
    served = listing and ctx.state.config.bulk_mfa_state
    return odata.parse_select(ctx.options.get("$select"), _SELECTABLE[(ctx.req.version, served)], USER_TYPE_NAME)


def _previous_state(user: User) -> str | None:
    """The per-user MFA state before the user's latest change (every user starts Disabled), or None."""
    changes = [e.value for e in user.events if e.kind == "state"]
    if not changes:
        return None
    before = changes[-2] if len(changes) > 1 else "disabled"
    return before if before != user.mfa_state else None


def _stale_states(state: EmulatorState) -> dict[str, str]:
    """``bulk_mfa_state_stale`` = N: the N users changed most recently, and the state they had before.

    What the listing's undocumented property would show if it lagged behind the documented endpoint.
    """
    n = state.config.bulk_mfa_state_stale
    if n <= 0:
        return {}
    tenant = state.tenant
    key = (tenant.revision, n, len(tenant.users))
    cached = state.extras.get("stale_states")
    if cached is not None and cached[0] == key:
        return cached[1]
    changed = []
    for user in tenant.users:
        before = _previous_state(user)
        if before is not None:
            at = max(e.at for e in user.events if e.kind == "state")
            changed.append((at, user.id, before))
    changed.sort(reverse=True)
    stale = {uid: before for _, uid, before in changed[:n]}
    state.extras["stale_states"] = (key, stale)
    return stale


def _listed_state(state: EmulatorState) -> Callable[[User], str]:
    stale = _stale_states(state)
    if not stale:
        return lambda u: u.mfa_state
    return lambda u: stale.get(u.id, u.mfa_state)


def _authorize_user_select(ctx: _Ctx) -> None:
    """``signInActivity`` needs a premium tenant and AuditLog.Read.All on top of reading users."""
    select = _user_select(ctx)
    if select and "signInActivity" in select:
        if not ctx.state.tenant.premium:
            raise EmulatedGraphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", PREMIUM_MESSAGE)
        if "AuditLog.Read.All" not in ctx.req.principal.permissions:
            raise EmulatedGraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)


def _context_url(ctx: _Ctx, fragment: str, select: tuple[str, ...] | None = None) -> str:
    suffix = f"({','.join(select)})" if select else ""
    return f"{_base(ctx.state)}/{ctx.req.version}/$metadata#{fragment}{suffix}"


def _list_users(ctx: _Ctx) -> GraphResponse:
    emulator_stats(ctx.state).user_listings += 1
    select = _user_select(ctx)
    props = select or wire.DEFAULT_USER_PROPERTIES
    top = odata.parse_top(ctx.options.get("$top"), USERS_DEFAULT_PAGE)
    count = _require_count_header(ctx)
    predicate = odata.parse_filter(ctx.options.get("$filter"), USER_FILTER_FIELDS, "User")
    orderby = odata.parse_orderby(ctx.options.get("$orderby"), _USER_ORDER)
    if predicate is not None and orderby is not None and not (count and _eventual(ctx)):
        raise EmulatedGraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
    users = ctx.state.tenant.users
    version = ctx.req.version
    mfa = _listed_state(ctx.state)
    render = lambda u: wire.user_json(u, props, version, mfa)  # noqa: E731
    if isinstance(predicate, odata.InPredicate) and predicate.field == "id" and orderby is None:
        by_id = ctx.state.tenant.by_id  # an indexed lookup, as Graph's directory does
        found = [u for u in (by_id.get(v) for v in predicate.values) if u is not None]
        body = _page(ctx, len(found), found.__getitem__, None, top, count, render,
                     _context_url(ctx, "users", select), lambda: len(found))
        return GraphResponse(200, body)
    if orderby is None:
        at: Callable[[int], Any] = users.__getitem__
    else:
        order = _ordering(ctx.state, _USER_ORDER_ATTR[orderby[0]], orderby[1])
        at = lambda i: users[order[i]]  # noqa: E731
    body = _page(ctx, len(users), at, predicate, top, count, render,
                 _context_url(ctx, "users", select), lambda: odata.count_matches(users, predicate))
    return GraphResponse(200, body)


def _count_users(ctx: _Ctx) -> GraphResponse:
    if not _eventual(ctx):
        raise EmulatedGraphError(400, "Request_BadRequest", "$count is not currently supported.")
    predicate = odata.parse_filter(ctx.options.get("$filter"), USER_FILTER_FIELDS, "User")
    return GraphResponse(200, str(odata.count_matches(ctx.state.tenant.users, predicate)), "text/plain")


def _get_user(ctx: _Ctx) -> GraphResponse:
    user = _target(ctx)
    select = _user_select(ctx)
    body = {"@odata.context": _context_url(ctx, "users", select) + "/$entity"}
    body.update(wire.user_json(user, select or wire.DEFAULT_USER_PROPERTIES, ctx.req.version))
    return GraphResponse(200, body)


def _organization(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "organization"),
                               "value": [wire.organization_json(ctx.state.tenant)]})


_ROLE_PROPERTIES = {k.lower(): k for k in
                    ("id", "deletedDateTime", "description", "displayName", "roleTemplateId")}


def _directory_roles(ctx: _Ctx) -> GraphResponse:
    user = _target(ctx)
    select = odata.parse_select(ctx.options.get("$select"), _ROLE_PROPERTIES, ROLE_TYPE_NAME)
    top = odata.parse_top(ctx.options.get("$top"), USERS_DEFAULT_PAGE)
    count = _require_count_header(ctx)
    roles = [wire.directory_role_json(ctx.state.tenant, r) for r in user.roles]

    def render(role: dict) -> dict:
        if not select:
            return role
        return {"@odata.type": role["@odata.type"], **{k: role[k] for k in select}}

    body = _page(ctx, len(roles), roles.__getitem__, None, top, count, render,
                 _context_url(ctx, "directoryRoles", select), lambda: len(roles))
    return GraphResponse(200, body)


_MEMBERS_EXPAND = re.compile(r"^members(\(\$select=[A-Za-z,]+\))?$")


def _activated_roles(ctx: _Ctx) -> GraphResponse:
    """``GET /directoryRoles`` (no paging, as documented), optionally ``$expand=members``."""
    expand = (ctx.options.get("$expand") or "").replace(" ", "")
    if expand and not _MEMBERS_EXPAND.match(expand):
        raise EmulatedGraphError(400, "Request_BadRequest", f"Could not find a property named '{expand}' on type "
                         "'Microsoft.DirectoryServices.DirectoryRole'.")
    tenant = ctx.state.tenant
    holders: dict[str, list[str]] = {}
    for user in tenant.users:
        for template in user.roles:
            holders.setdefault(template, []).append(user.id)
    roles = []
    for template in sorted(holders):
        role = wire.directory_role_json(tenant, template)
        if expand:
            role["members"] = [{"@odata.type": "#microsoft.graph.user", "id": uid} for uid in holders[template]]
        roles.append(role)
    return GraphResponse(200, {"@odata.context": _context_url(ctx, "directoryRoles"), "value": roles})


# ------------------------------------------------------------------------------------------ reports

def _authorize_premium(ctx: _Ctx) -> None:
    if not ctx.state.tenant.premium:
        raise EmulatedGraphError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", PREMIUM_MESSAGE)


def _report_fields(state: EmulatorState) -> dict[str, odata.FilterField]:
    tenant = state.tenant

    def names(u: User) -> list[str]:
        return wire.registered_names(tenant, u)

    def mfa_registered(u: User) -> bool:
        return wire.is_mfa_registered(names(u))

    def flag(key: str) -> Callable[[User], bool]:
        return lambda u: wire.registration_json(tenant, u)[key]

    fields = {
        "userPrincipalName": odata.FilterField("userPrincipalName", "str", lambda u: u.upn, starts_with=True),
        "userDisplayName": odata.FilterField("userDisplayName", "str", lambda u: u.display_name,
                                             starts_with=True),
        "userType": odata.FilterField("userType", "str", lambda u: u.user_type),
        "id": odata.FilterField("id", "str", lambda u: u.id),
        "methodsRegistered": odata.FilterField("methodsRegistered", "list", names),
        "isAdmin": odata.FilterField("isAdmin", "bool", lambda u: bool(u.roles)),
        "isMfaRegistered": odata.FilterField("isMfaRegistered", "bool", mfa_registered),
        "isMfaCapable": odata.FilterField("isMfaCapable", "bool",
                                          lambda u: u.account_enabled and mfa_registered(u)),
    }
    for key in ("isSsprRegistered", "isSsprEnabled", "isSsprCapable", "isPasswordlessCapable",
                "isSystemPreferredAuthenticationMethodEnabled"):
        fields[key] = odata.FilterField(key, "bool", flag(key))
    return fields


_REPORT_ORDER = {"userprincipalname": "userPrincipalName", "userdisplayname": "userDisplayName"}
_REPORT_ORDER_ATTR = {"userPrincipalName": "upn", "userDisplayName": "display_name"}


def _report_properties(beta: bool) -> dict[str, str]:
    names = wire.REGISTRATION_PROPERTIES + (("defaultMfaMethod",) if beta else ())
    return {n.lower(): n for n in names}


_REPORT_PATH = "reports/authenticationMethods/userRegistrationDetails"


def _registration_list(ctx: _Ctx) -> GraphResponse:
    tenant = ctx.state.tenant
    beta = ctx.req.version == "beta"
    select = odata.parse_select(ctx.options.get("$select"), _report_properties(beta), REGISTRATION_TYPE_NAME)
    top = odata.parse_top(ctx.options.get("$top"), REPORT_DEFAULT_PAGE)
    count = odata.wants_count(ctx.options.get("$count"))
    where = odata.parse_filter(ctx.options.get("$filter"), _report_fields(ctx.state),
                               "userRegistrationDetails")
    orderby = odata.parse_orderby(ctx.options.get("$orderby"), _REPORT_ORDER)
    users = tenant.users

    def predicate(u: User) -> bool:  # disabled accounts are not listed
        return u.account_enabled and (where is None or where(u))

    if orderby is None:
        at: Callable[[int], Any] = users.__getitem__
    else:
        order = _ordering(ctx.state, _REPORT_ORDER_ATTR[orderby[0]], orderby[1])
        at = lambda i: users[order[i]]  # noqa: E731

    def render(u: User) -> dict:
        row = wire.registration_json(tenant, u, beta)
        return {k: row[k] for k in select} if select else row

    body = _page(ctx, len(users), at, predicate, top, count, render,
                 _context_url(ctx, _REPORT_PATH, select), lambda: odata.count_matches(users, predicate))
    return GraphResponse(200, body)


def _registration_get(ctx: _Ctx) -> GraphResponse:
    key = ctx.params[0]
    user = ctx.state.tenant.by_id.get(key)
    if user is None or not user.account_enabled:
        raise EmulatedGraphError(404, "Request_ResourceNotFound", NOT_FOUND_MESSAGE.format(key))
    beta = ctx.req.version == "beta"
    select = odata.parse_select(ctx.options.get("$select"), _report_properties(beta), REGISTRATION_TYPE_NAME)
    row = wire.registration_json(ctx.state.tenant, user, beta)
    body = {"@odata.context": _context_url(ctx, _REPORT_PATH, select) + "/$entity"}
    body.update({k: row[k] for k in select} if select else row)
    return GraphResponse(200, body)


_FUNCTION_ARGS = re.compile(r"\s*(\w+)\s*=\s*'([^']*)'\s*")
_SUMMARY_VALUES = {"includedUserTypes": ("all", "member", "guest"),
                   "includedUserRoles": ("all", "privilegedAdmin", "admin", "user")}


def _summary_args(raw: str) -> tuple[str, str]:
    args = {"includedUserTypes": "all", "includedUserRoles": "all"}
    for part in (p for p in raw.split(",") if p.strip()):
        m = _FUNCTION_ARGS.fullmatch(part)
        if not m or m.group(1) not in args:
            raise EmulatedGraphError(400, "BadRequest", f"The function parameters '{raw}' are not valid.")
        name, value = m.group(1), m.group(2)
        allowed = {v.lower(): v for v in _SUMMARY_VALUES[name]}
        if value.lower() not in allowed:
            raise EmulatedGraphError(400, "BadRequest",
                             f"Requested value '{value}' was not found for parameter '{name}'.")
        args[name] = allowed[value.lower()]
    return args["includedUserTypes"], args["includedUserRoles"]


def _by_method(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, wire.method_summary_json(ctx.state.tenant, *_summary_args(ctx.params[0])))


def _by_feature(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, wire.feature_summary_json(ctx.state.tenant, *_summary_args(ctx.params[0])))


# ------------------------------------------------------------------------ authentication (methods, MFA)

def _methods(ctx: _Ctx) -> GraphResponse:
    user = _target(ctx)
    return GraphResponse(200, {"value": wire.methods_json(user)})


def _get_requirements(ctx: _Ctx) -> GraphResponse:
    emulator_stats(ctx.state).state_reads += 1
    user = _target(ctx)
    return GraphResponse(200, {"perUserMfaState": user.mfa_state})


def _authorize_mfa_write(ctx: _Ctx) -> None:
    """A delegated writer also needs a directory role allowed to change per-user MFA."""
    if ctx.req.principal.delegated:
        caller = _caller(ctx)
        if caller is None or not MFA_WRITER_ROLES.intersection(caller.roles):
            raise EmulatedGraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)


def _json_body(req: GraphRequest) -> Any:
    if req.has_json_body:
        return req.json_body
    if "json" not in req.headers.get("content-type", "").lower():
        raise EmulatedGraphError(400, "BadRequest", BAD_JSON_MESSAGE)
    try:
        return json.loads(req.body)
    except (ValueError, UnicodeDecodeError):
        raise EmulatedGraphError(400, "BadRequest", BAD_JSON_MESSAGE) from None


def _patch_requirements(ctx: _Ctx) -> GraphResponse:
    payload = _json_body(ctx.req)
    if not isinstance(payload, dict):
        raise EmulatedGraphError(400, "BadRequest", BAD_JSON_MESSAGE)
    for key in payload:
        if key != "perUserMfaState" and not key.startswith("@odata."):
            raise EmulatedGraphError(400, "BadRequest", f"The property '{key}' does not exist on type "
                             "'microsoft.graph.strongAuthenticationRequirements'. Make sure to only use "
                             "property names that are defined by the type.")
    if "perUserMfaState" not in payload:
        raise EmulatedGraphError(400, "BadRequest", "The request body must contain the property 'perUserMfaState'.")
    value = payload["perUserMfaState"]
    if not isinstance(value, str) or value not in STATES:
        raise EmulatedGraphError(400, "BadRequest", f"Invalid value '{value}' for property 'perUserMfaState'. "
                         f"Possible values are: {', '.join(STATES)}.")
    user = _target(ctx)
    principal = ctx.req.principal
    if principal.delegated:
        caller = _caller(ctx)
        actor = caller.upn if caller else principal.user_id or ""
    else:
        app = ctx.state.tenant.apps.get(principal.app_id)
        actor = app.display_name if app else principal.app_id
    ctx.state.tenant.set_mfa_state(user, value, actor)
    emulator_stats(ctx.state).writes += 1
    return GraphResponse(204, None, None)


def _authorize_sign_ins(ctx: _Ctx) -> None:
    signins_api.authorize(ctx.req.principal.permissions)
    _authorize_premium(ctx)


def _sign_ins(ctx: _Ctx) -> GraphResponse:
    return GraphResponse(200, signins_api.list_body(ctx.state, ctx.req.version, ctx.options))


def _batch(ctx: _Ctx) -> GraphResponse:
    return batch_route.run_batch(ctx.state, ctx.req, execute)


# --------------------------------------------------------------------------------------- the trees

def _user_item(node: _Node, beta: bool, me: bool) -> None:
    read = _ME_READ if me else _USERS_READ
    node.methods["GET"] = _Route(_get_user, read, _ENTITY_OPTIONS, authorize=_authorize_user_select)
    auth = node.child("authentication")
    auth.child("methods").methods["GET"] = _Route(_methods, _ME_METHODS_READ if me else _METHODS_READ,
                                                 collection=True)
    if beta:  # per-user MFA state is beta only
        req = auth.child("requirements")
        req.methods["GET"] = _Route(_get_requirements, _MFA_READ)
        req.methods["PATCH"] = _Route(_patch_requirements, _MFA_WRITE, write=True,
                                      authorize=_authorize_mfa_write)
    member_of = node.child("transitiveMemberOf")
    roles = _Route(_directory_roles, _ROLES_READ | ({"User.Read"} if me else set()), _LIST_OPTIONS,
                   collection=True)
    member_of.child("microsoft.graph.directoryRole").methods["GET"] = roles
    member_of.child("graph.directoryRole").methods["GET"] = roles


def _build_tree(version: str) -> _Node:
    beta = version == "beta"
    root = _Node()
    users = root.child("users")
    users.methods["GET"] = _Route(_list_users, _USERS_READ, _LIST_OPTIONS, collection=True,
                                  authorize=_authorize_user_select)
    users.child("$count").methods["GET"] = _Route(_count_users, _USERS_READ, frozenset({"$filter"}),
                                                  collection=True)
    users.param = _Node()
    _user_item(users.param, beta, me=False)
    me = root.child("me")
    _user_item(me, beta, me=True)
    root.child("directoryRoles").methods["GET"] = _Route(_activated_roles, _ROLES_READ,
                                                         frozenset({"$select", "$expand"}), collection=True)
    root.child("organization").methods["GET"] = _Route(_organization, _ORG_READ, _ENTITY_OPTIONS,
                                                       collection=True)
    methods_root = root.child("reports").child("authenticationMethods")
    details = methods_root.child("userRegistrationDetails")
    details.methods["GET"] = _Route(_registration_list, _REPORTS_READ, _LIST_OPTIONS, throttle.REPORT,
                                    authorize=_authorize_premium)
    details.param = _Node()
    details.param.methods["GET"] = _Route(_registration_get, _REPORTS_READ, _ENTITY_OPTIONS, throttle.REPORT,
                                          authorize=_authorize_premium)
    for name, handler in (("usersRegisteredByMethod", _by_method), ("usersRegisteredByFeature", _by_feature)):
        fnode = _Node()
        fnode.methods["GET"] = _Route(handler, _REPORTS_READ, _NO_OPTIONS, throttle.REPORT,
                                      authorize=_authorize_premium)
        methods_root.functions.append((re.compile(rf"{name}\((.*)\)", re.IGNORECASE), fnode))
    root.child("auditLogs").child("signIns").methods["GET"] = _Route(
        _sign_ins, signins_api.PERMISSIONS, signins_api.OPTIONS, throttle.REPORT, authorize=_authorize_sign_ins)
    root.child("$batch").methods["POST"] = _Route(_batch, frozenset(), bucket=None)
    from lib.emulator import protection_api  # imports this module: the trees are built on first use

    protection_api.mount(root, version)
    return root


_TREES: dict[str, _Node] = {}


def _tree(version: str) -> _Node:
    if not _TREES:
        _TREES.update({v: _build_tree(v) for v in SERVED_VERSIONS})
    return _TREES[version]

_SELECT_KEY = "$select"
_EXPAND_KEY = "$expand"


def _charges(route: _Route, options: dict[str, str]) -> tuple[tuple[str, float], ...]:
    if route.bucket is None:
        return ()
    if route.bucket == throttle.REPORT:
        return ((throttle.REPORT, 1.0),)
    if route.write:
        return ((throttle.IDENTITY, 1.0), (throttle.WRITE, 1.0))
    if route.cost is not None:
        return ((throttle.IDENTITY, float(max(1, route.cost - (_SELECT_KEY in options)))),)
    cost = throttle.read_cost(route.collection, _SELECT_KEY in options, _EXPAND_KEY in options)
    return ((throttle.IDENTITY, float(cost)),)


def execute(state: EmulatorState, req: GraphRequest, nested: bool = False) -> GraphResponse:
    """Run one Graph call through the pipeline; errors become Graph error responses.

    ``nested`` is True for ``$batch`` items: a batch inside a batch is refused.
    """
    try:
        route, params, is_batch = _resolve(_tree(req.version), req.method, req.path)
        if is_batch and nested:
            raise _segment_error("$batch")
        options = odata.parse_query(req.query, route.options)
        if route.permissions and not (route.permissions & req.principal.permissions):
            raise EmulatedGraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)
        ctx = _Ctx(state, req, options, params)
        if route.authorize is not None:
            route.authorize(ctx)
        charges = _charges(route, options)
        if charges:
            wait = throttle.get_throttle(state).charge(req.principal.app_id, charges)
            if wait > 0.0:
                emulator_stats(state).throttled += 1
                return throttled_response(wait, state.config.time_scale, req.principal.app_id,
                                          state.tenant.id, req.request_id, charges[-1][0])
        response = route.handler(ctx)
        if route.bucket == throttle.IDENTITY:
            response.headers["x-ms-resource-unit"] = str(int(charges[0][1]))
        return response
    except EmulatedGraphError as err:
        return error_response(err, req.request_id, req.client_request_id)


# --------------------------------------------------------------------------------------------- HTTP

_BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


async def _read_body(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def render_body(response: GraphResponse) -> bytes:
    if response.body is None:
        return b""
    if isinstance(response.body, str):
        return response.body.encode()
    return dumps(response.body)


async def _send(send: Callable, response: GraphResponse, request_id: str, client_request_id: str) -> None:
    data = render_body(response)
    headers = [(b"request-id", request_id.encode()), (b"client-request-id", client_request_id.encode()),
               (b"cache-control", b"no-cache")]
    if response.body is not None and response.content_type:
        headers.append((b"content-type", response.content_type.encode()))
        if response.status < 300 and response.content_type == wire.JSON_CONTENT_TYPE:
            headers.append((b"odata-version", b"4.0"))
    for name, value in response.headers.items():
        headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    if response.status != 204:
        headers.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def drop_connection(send: Callable) -> None:
    """Cut the connection mid-response: headers promise a body that never comes.

    uvicorn closes the socket when the app returns without completing the response, so the client
    sees a transport error (httpx: ``RemoteProtocolError``), never a status it could trust.
    """
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})


_BATCHED_WRITE = re.compile(rb'"method"\s*:\s*"patch"', re.IGNORECASE)


def _is_write(method: str, path: str, body: bytes) -> bool:
    return method == "PATCH" or (path.endswith("/$batch") and _BATCHED_WRITE.search(body) is not None)


def _holding(state: EmulatorState, stats: EmulatorStats, write: bool) -> bool:
    c = state.config
    return c.hold_requests or (write and c.hold_after_writes is not None and stats.writes >= c.hold_after_writes)


async def _wait_while_held(state: EmulatorState, stats: EmulatorStats, write: bool) -> None:
    stats.held += 1
    try:
        while _holding(state, stats, write):
            await asyncio.sleep(0.005)
    finally:
        stats.held -= 1


def _hostile_before(fault: Fault, request_id: str) -> GraphResponse:
    """The answer of a hostile fault that stops a request before it runs (lib/emulator/faults.py)."""
    if fault is Fault.HTML_502:
        return GraphResponse(502, hostile.PROXY_502_PAGE, "text/html")
    if fault is Fault.WRONG_CONTENT_TYPE:
        return GraphResponse(200, hostile.PROXY_SIGN_IN_PAGE, "text/html; charset=utf-8")
    if fault is Fault.ERROR_200:
        return GraphResponse(200, hostile.error_200_body(request_id))
    raise ValueError(f"{fault} does not answer before the request runs")


class GraphApp:
    """The ASGI app behind ``/{version}/...``: HTTP concerns only, the rest is ``execute``."""

    def __init__(self, state: EmulatorState, version: str) -> None:
        self.state = state
        self.version = version
        self.prefix_len = len(version) + 2

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        stats = emulator_stats(self.state)
        stats.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            stats.in_flight -= 1
            stats.last_answered = time.monotonic()

    async def _serve(self, scope: dict, receive: Callable, send: Callable) -> None:
        state = self.state
        stats = emulator_stats(state)
        stats.requests += 1
        method = scope["method"].upper()
        body = await _read_body(receive) if method in _BODY_METHODS else b""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        write = _is_write(method, scope["path"], body)
        if _holding(state, stats, write):
            await _wait_while_held(state, stats, write)
        if state.config.latency_ms > 0:
            await asyncio.sleep(state.config.latency_ms / 1000.0)
        fault = get_faults(state).draw_request(scope["path"][self.prefix_len - 1:], write)
        if fault is not None:
            stats.faults += 1
            if fault is Fault.DROP_BEFORE:
                stats.dropped += 1
                await drop_connection(send)
                return
            if fault not in APPLIED_FIRST:
                if fault in HOSTILE:
                    response = _hostile_before(fault, request_id)
                else:
                    response = error_response(fault_error(fault, state.config.time_scale), request_id,
                                              client_request_id)
                stats.count(response.status)
                await _send(send, response, request_id, client_request_id)
                return
        try:
            principal = verify_bearer(state, headers.get("authorization"))
        except EmulatedGraphError as err:
            response = error_response(err, request_id, client_request_id)
        else:
            req = GraphRequest(self.version, method, scope["path"][self.prefix_len:],
                               scope.get("query_string", b"").decode("latin-1"), headers, principal,
                               request_id, client_request_id, body)
            response = execute(state, req)
        if fault is Fault.DROP_AFTER:  # the request ran (a write was applied); only its response is lost
            stats.dropped += 1
            await drop_connection(send)
            return
        if fault is Fault.BATCH_MISSING and isinstance(response.body, dict) and "responses" in response.body:
            response = GraphResponse(response.status, hostile.without_second_half(response.body),
                                     response.content_type, response.headers)
        stats.count(response.status)
        if fault is Fault.TRUNCATED:  # the request ran; its body arrives cut, in a complete HTTP message
            status = 200 if response.status == 204 else response.status
            cut = hostile.truncated(render_body(response))
            await _send(send, GraphResponse(status, cut.decode("utf-8", "replace"), wire.JSON_CONTENT_TYPE,
                                            response.headers), request_id, client_request_id)
            return
        await _send(send, response, request_id, client_request_id)


def graph_routes(state: EmulatorState) -> list[BaseRoute]:
    """Starlette routes serving Graph v1.0 and beta for this emulator."""
    return [Route(f"/{v}/{{path:path}}", endpoint=GraphApp(state, v)) for v in SERVED_VERSIONS]

