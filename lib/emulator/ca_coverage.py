"""Who the demo tenant's Conditional Access policies (and security defaults) ask for MFA, in Graph's terms.

The emulator stands in for Entra, so it decides coverage from its own records
(lib/emulator/protection_model.py), not from the console's protection model. A policy counts when it is
``enabled`` (report-only and disabled policies never demand anything), its grant demands MFA
(``builtInControls`` ``mfa`` or an authentication strength) and its users condition includes the user
(ids, ``All``, guests, groups with nested members, role template ids) without excluding them: exclusion
wins (docs/graph.md, "Conditional Access policies"). Every sign-in of the demo log is to an Office 365
app (OfficeHome, Teams, Exchange Online), so a policy on ``All`` or ``Office365`` apps applies to it;
a policy with conditions the log does not model (platforms, locations, devices, risk) applies to none,
and ``clientAppTypes`` are matched against the sign-in's client.

The log is generated for up to 100k users × 30 days, so each policy's covered users are resolved once
per state of the policies (:func:`coverage_of` keys its answer on a fingerprint of them), and a
sign-in only looks up its user's index and its time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from lib.emulator.model import METHOD_KINDS, SyntheticTenant, User
from lib.emulator.protection_model import ConditionalAccessPolicy, ProtectionPolicies

LOG_APPS = frozenset({"All", "Office365"})
"""``includeApplications`` values that take in the log's apps (all are Office 365 apps)."""

CLIENT_TYPES: tuple[frozenset[str], ...] = (
    frozenset({"all", "browser"}),
    frozenset({"all", "mobileAppsAndDesktopClients"}),
    frozenset({"all", "other"}),  # IMAP4
    frozenset({"all", "other"}),  # POP3
    frozenset({"all", "other"}),  # Authenticated SMTP
    frozenset({"all", "exchangeActiveSync", "easSupported"}),
    frozenset({"all", "other"}),  # Other clients
)
"""The ``clientAppTypes`` values that match each client code of the log (lib/emulator/signin_log.CLIENTS)."""

_UNMODELLED = ("platforms", "locations", "devices", "clientApplications")
_RISKS = ("userRiskLevels", "signInRiskLevels", "servicePrincipalRiskLevels")


def demands_mfa(grant: dict | None) -> bool:
    """The grant asks for MFA: ``mfa`` among the built-in controls, or an authentication strength."""
    if not grant:
        return False
    controls = grant.get("builtInControls") or []
    if "block" in controls:
        return False
    return "mfa" in controls or bool(grant.get("authenticationStrength"))


def _applies_to_log_apps(conditions: dict) -> bool:
    apps = conditions.get("applications") or {}
    include = set(apps.get("includeApplications") or [])
    exclude = set(apps.get("excludeApplications") or [])
    if not include & LOG_APPS or exclude & LOG_APPS:
        return False
    if any(conditions.get(name) for name in _UNMODELLED):
        return False
    return not any(conditions.get(name) for name in _RISKS)


def _user_ids(values: list[str], users: list[User], guests: set[str]) -> set[str]:
    out: set[str] = set()
    for value in values:
        if value == "All":
            out.update(u.id for u in users)
        elif value == "GuestsOrExternalUsers":
            out.update(guests)
        elif value != "None":
            out.add(value)
    return out


def _members(protection: ProtectionPolicies, group_ids: list[str]) -> set[str]:
    out: set[str] = set()
    for group_id in group_ids:
        out.update(protection.transitive_members(group_id)[0])
    return out


def _holders(users: list[User], role_ids: list[str]) -> set[str]:
    wanted = set(role_ids)
    return {u.id for u in users if wanted & set(u.roles)} if wanted else set()


def covered_user_ids(tenant: SyntheticTenant, policy: ConditionalAccessPolicy) -> frozenset[str]:
    """The users ``policy``'s users condition takes in, exclusions applied (state and grant not looked at)."""
    condition = (policy.conditions or {}).get("users") or {}
    protection = tenant.protection
    users = tenant.users
    guests = {u.id for u in users if u.is_guest}
    included = (_user_ids(condition.get("includeUsers") or [], users, guests)
                | _members(protection, condition.get("includeGroups") or [])
                | _holders(users, condition.get("includeRoles") or []))
    if condition.get("includeGuestsOrExternalUsers"):
        included |= guests
    excluded = (_user_ids(condition.get("excludeUsers") or [], users, guests)
                | _members(protection, condition.get("excludeGroups") or [])
                | _holders(users, condition.get("excludeRoles") or []))
    if condition.get("excludeGuestsOrExternalUsers"):
        excluded |= guests
    return frozenset(included - excluded)


@dataclass(frozen=True)
class _Rule:
    """One MFA-demanding policy: from when, for which user indexes, with which clients."""

    since: datetime
    users: frozenset[int]
    clients: frozenset[int]


@dataclass(frozen=True)
class Coverage:
    """What demanded MFA of a sign-in, answered from sets resolved once."""

    rules: tuple[_Rule, ...]
    security_defaults: bool
    by_user: dict[int, tuple[_Rule, ...]] = field(default_factory=dict, compare=False)
    """User index → the rules covering them (most users are covered by none: one failed lookup)."""

    @classmethod
    def of(cls, rules: tuple[_Rule, ...], security_defaults: bool) -> Coverage:
        by_user: dict[int, list[_Rule]] = {}
        for rule in rules:
            for index in rule.users:
                by_user.setdefault(index, []).append(rule)
        return cls(rules, security_defaults, {i: tuple(r) for i, r in by_user.items()})

    def conditional_access(self, index: int, at: datetime, client: int | None = None) -> bool:
        """An enabled MFA policy in force at ``at`` covers user ``index`` (with ``client``, when given)."""
        return any(rule.since <= at and (client is None or client in rule.clients)
                   for rule in self.by_user.get(index, ()))


def registered_at(user: User, at: datetime) -> bool:
    """A second factor was registered at ``at`` (security defaults then ask for it; before, they ask the
    user to register within 14 days: docs/graph.md, "Security defaults")."""
    return any(METHOD_KINDS[m.kind].mfa and m.created <= at for m in user.methods)


def _fingerprint(tenant: SyntheticTenant) -> str:
    protection = tenant.protection
    policies = [(p.id, p.state, p.created.isoformat(), p.conditions, p.grant_controls)
                for p in protection.conditional_access]
    groups = [(g.id, g.member_user_ids, g.member_group_ids) for g in protection.groups]
    roles = [(u.id, sorted(u.roles)) for u in tenant.users if u.roles]
    return json.dumps([protection.security_defaults, len(tenant.users), policies, groups, roles],
                      sort_keys=True, default=str)


_cache: dict[int, tuple[str, Coverage]] = {}


def coverage_of(tenant: SyntheticTenant) -> Coverage:
    """The tenant's coverage, resolved again only when its policies, groups, roles or users changed."""
    key = _fingerprint(tenant)
    cached = _cache.get(id(tenant))
    if cached is not None and cached[0] == key:
        return cached[1]
    index = {u.id: i for i, u in enumerate(tenant.users)}
    rules = []
    for policy in tenant.protection.conditional_access:
        if policy.state != "enabled" or not demands_mfa(policy.grant_controls):
            continue
        conditions = policy.conditions or {}
        if not _applies_to_log_apps(conditions):
            continue
        types = set(conditions.get("clientAppTypes") or ["all"])
        clients = frozenset(code for code, matches in enumerate(CLIENT_TYPES) if matches & types)
        users = frozenset(index[uid] for uid in covered_user_ids(tenant, policy) if uid in index)
        rules.append(_Rule(policy.created, users, clients))
    coverage = Coverage.of(tuple(rules), tenant.protection.security_defaults)
    if len(_cache) > 16:
        _cache.clear()
    if _fingerprint(tenant) == key:  # not changed meanwhile (the sign-in log also resolves in a thread)
        _cache[id(tenant)] = (key, coverage)
    return coverage
