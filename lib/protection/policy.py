"""One Conditional Access policy, compiled once into what it demands and of whom.

Everything that does not depend on the user (the grant, the apps, the conditions) is decided here, and the
include/exclude sides become id sets with groups and roles already expanded, so checking a user is a few set
lookups. The rows of the decision table in docs/graph.md map onto ``effect``, ``scope`` and ``partial``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lib.protection.membership import Membership

__all__ = ["AppScope", "CompiledPolicy", "Effect", "PolicyRef", "Side", "compile_policy"]

BUILT_IN_MFA_STRENGTHS = frozenset({
    "00000000-0000-0000-0000-000000000002",
    "00000000-0000-0000-0000-000000000003",
    "00000000-0000-0000-0000-000000000004",
})
"""Microsoft's built-in strengths, all ``requirementsSatisfied: "mfa"`` (used when a policy's copy omits it)."""

LEGACY_CLIENTS = frozenset({"exchangeactivesync", "other"})
ANY_GUEST = frozenset({"guestsorexternalusers"})


class Effect(StrEnum):
    """What the grant controls demand, whoever the user is."""

    MFA = "mfa"
    MFA_OR_ALTERNATIVE = "mfa_or_alternative"
    BLOCK = "block"
    CUSTOM_CONTROL = "custom_control"
    OTHER = "other"
    """No MFA at all (a compliant device, a password change…): irrelevant to coverage."""


class AppScope(StrEnum):
    """Which sign-ins the policy's applications condition reaches."""

    ALL = "all"
    SOME = "some"
    NO_SIGN_IN = "no_sign_in"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """The policy a verdict names (a preview says "covered by <name>")."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Side:
    """One side (include or exclude) of the users condition, expanded to ids and guest kinds.

    ``guest_kinds`` are lower-cased Conditional Access guest kinds; ``any_guest`` is the legacy
    ``GuestsOrExternalUsers`` value; ``all_tenants`` is False when only some external tenants are named.
    """

    everyone: bool
    ids: frozenset[str]
    guest_kinds: frozenset[str]
    any_guest: bool
    all_tenants: bool


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy reduced to what the per-user check needs."""

    ref: PolicyRef
    enabled: bool
    report_only: bool
    effect: Effect
    scope: AppScope
    partial: tuple[str, ...]
    """Why MFA is demanded only on some sign-ins, in words ("some apps only", "locations"…); empty = all."""
    legacy_only: bool
    include: Side
    exclude: Side

    @property
    def demands_mfa(self) -> bool:
        """MFA (or MFA-or-alternative) on at least some sign-ins: exclusions from it matter."""
        return self.effect in (Effect.MFA, Effect.MFA_OR_ALTERNATIVE) and self.scope in (AppScope.ALL, AppScope.SOME)


def _lower(values: Any) -> list[str]:
    return [str(v).lower() for v in values or ()]


def _grant_effect(grant: Mapping[str, Any] | None) -> Effect:
    if not grant:
        return Effect.OTHER
    controls = set(_lower(grant.get("builtInControls")))
    if "block" in controls:
        return Effect.BLOCK
    strength = grant.get("authenticationStrength") or {}
    satisfied = str(strength.get("requirementsSatisfied", "")).lower()
    strength_mfa = satisfied == "mfa" or (not satisfied and str(strength.get("id", "")) in BUILT_IN_MFA_STRENGTHS)
    mfa = "mfa" in controls or strength_mfa
    custom = bool(grant.get("customAuthenticationFactors"))
    weak_strength = bool(strength) and not strength_mfa
    others = bool(controls - {"mfa"}) or custom or bool(grant.get("termsOfUse")) or weak_strength
    if mfa:
        return Effect.MFA_OR_ALTERNATIVE if others and str(grant.get("operator", "")).upper() == "OR" else Effect.MFA
    return Effect.CUSTOM_CONTROL if custom else Effect.OTHER


def _app_scope(apps: Mapping[str, Any]) -> tuple[AppScope, list[str]]:
    include = _lower(apps.get("includeApplications"))
    if "all" in include:
        if apps.get("excludeApplications"):
            return AppScope.SOME, ["all apps but some"]
        return (AppScope.SOME, ["apps chosen by a filter"]) if apps.get("applicationFilter") else (AppScope.ALL, [])
    if [app for app in include if app != "none"]:
        return AppScope.SOME, ["some apps only"]
    if apps.get("includeUserActions") or apps.get("includeAuthenticationContextClassReferences"):
        return AppScope.NO_SIGN_IN, []
    return AppScope.NONE, []


def _conditions(conditions: Mapping[str, Any]) -> tuple[list[str], bool]:
    """(the conditions that make MFA partial, in words; whether only legacy clients are targeted)."""
    partial: list[str] = []
    clients = set(_lower(conditions.get("clientAppTypes"))) or {"all"}
    if clients != {"all"}:
        partial.append("some client apps only")
    for key, words in (("platforms", "device platforms"), ("locations", "locations"),
                       ("devices", "device filter"), ("clientApplications", "client applications"),
                       ("authenticationFlows", "authentication flows"), ("insiderRiskLevels", "insider risk")):
        if conditions.get(key) is not None:
            partial.append(words)
    if any(conditions.get(key) for key in ("signInRiskLevels", "userRiskLevels", "servicePrincipalRiskLevels")):
        partial.append("risk levels")
    return partial, clients <= LEGACY_CLIENTS


def _side(users: Mapping[str, Any], prefix: str, membership: Membership) -> Side:
    listed = _lower(users.get(f"{prefix}Users"))
    ids: set[str] = {v for v in listed if v not in ("all", "none", "guestsorexternalusers")}
    for gid in users.get(f"{prefix}Groups") or ():
        ids |= membership.group(str(gid))
    for rid in users.get(f"{prefix}Roles") or ():
        ids |= membership.role(str(rid))
    guests = users.get(f"{prefix}GuestsOrExternalUsers") or {}
    kinds = frozenset(k.strip().lower() for k in str(guests.get("guestOrExternalUserTypes") or "").split(",")
                      if k.strip() and k.strip().lower() != "none")
    tenants = guests.get("externalTenants") or {}
    return Side(everyone="all" in listed, ids=frozenset(ids), guest_kinds=kinds,
                any_guest=bool(ANY_GUEST & set(listed)),
                all_tenants=str(tenants.get("membershipKind", "all")).lower() == "all")


def compile_policy(policy: Mapping[str, Any], membership: Membership) -> CompiledPolicy:
    """Compile one Graph conditionalAccessPolicy; groups and roles are looked up once, here."""
    conditions = policy.get("conditions") or {}
    state = str(policy.get("state", "")).lower()
    scope, app_partial = _app_scope(conditions.get("applications") or {})
    partial, legacy_only = _conditions(conditions)
    users = conditions.get("users") or {}
    return CompiledPolicy(
        ref=PolicyRef(id=str(policy.get("id", "")), name=str(policy.get("displayName") or policy.get("id", ""))),
        enabled=state == "enabled",
        report_only=state == "enabledforreportingbutnotenforced",
        effect=_grant_effect(policy.get("grantControls")),
        scope=scope,
        partial=tuple(app_partial + partial),
        legacy_only=legacy_only,
        include=_side(users, "include", membership),
        exclude=_side(users, "exclude", membership),
    )
