"""Who is in each group and role a policy names: resolved once per group, then looked up per user.

The reader pages ``groups/{id}/transitiveMembers`` once per policy-referenced group and the role assignments
once per referenced role (docs/graph.md, "Membership"); these helpers turn those Graph answers into id sets.
Ids are compared lower-cased (Graph's GUIDs are case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.protection.errors import ProtectionInputError

__all__ = [
    "Membership",
    "referenced_groups",
    "referenced_roles",
    "resolve_membership",
    "role_holders",
    "transitive_user_ids",
]

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
TENANT_WIDE_SCOPE = "/"
"""Conditional Access matches built-in roles assigned tenant-wide only (not administrative-unit scoped)."""


def _ids(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


@dataclass(frozen=True)
class Membership:
    """User ids per group (transitive) and per role template (active assignments, groups expanded)."""

    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    roles: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def group(self, group_id: str) -> frozenset[str]:
        """The group's transitive user ids; a group the reader did not resolve is an error, not "nobody"."""
        try:
            return self.groups[group_id.lower()]
        except KeyError:
            raise ProtectionInputError(
                f"Group {group_id} is named by a Conditional Access policy but its members were not read."
            ) from None

    def role(self, template_id: str) -> frozenset[str]:
        """The role's active holders; an unresolved role is an error, not "nobody"."""
        try:
            return self.roles[template_id.lower()]
        except KeyError:
            raise ProtectionInputError(
                f"Role {template_id} is named by a Conditional Access policy but its assignments were not read."
            ) from None


def resolve_membership(groups: Mapping[str, Iterable[str]],
                       roles: Mapping[str, Iterable[str]] | None = None) -> Membership:
    """The resolver the model uses, from ``{group_id: user ids}`` and ``{role_template_id: user ids}``."""
    return Membership(
        groups={gid.lower(): _ids(members) for gid, members in groups.items()},
        roles={rid.lower(): _ids(members) for rid, members in (roles or {}).items()},
    )


def transitive_user_ids(members: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """User ids in one ``transitiveMembers`` listing (devices, contacts and nested groups themselves dropped).

    An item without ``@odata.type`` counts as a user: the ``/microsoft.graph.user`` cast returns users only.
    """
    return _ids(str(m["id"]) for m in members if m.get("@odata.type", USER_TYPE).lower() == USER_TYPE)


def role_holders(assignments: Iterable[Mapping[str, Any]],
                 group_members: Mapping[str, Iterable[str]] | None = None) -> dict[str, frozenset[str]]:
    """``{role template id: user ids}`` from ``roleAssignments?$expand=principal``.

    A role-assignable group's members hold its roles, so a group principal is expanded with
    ``group_members`` (its transitive user ids); service principals hold no user's role. Assignments
    scoped below the tenant are skipped: Conditional Access does not target them.
    """
    known = {gid.lower(): _ids(ids) for gid, ids in (group_members or {}).items()}
    holders: dict[str, set[str]] = {}
    for assignment in assignments:
        if assignment.get("directoryScopeId", TENANT_WIDE_SCOPE) != TENANT_WIDE_SCOPE:
            continue
        role = str(assignment["roleDefinitionId"]).lower()
        principal = assignment.get("principal")
        if not isinstance(principal, Mapping):
            raise ProtectionInputError(
                f"Role assignment {assignment.get('id')} has no principal: read the assignments with $expand=principal."
            )
        kind = str(principal.get("@odata.type", "")).lower()
        members = holders.setdefault(role, set())
        if kind == USER_TYPE:
            members.add(str(principal["id"]).lower())
        elif kind == GROUP_TYPE:
            gid = str(principal["id"]).lower()
            if gid not in known:
                raise ProtectionInputError(f"Group {gid} holds role {role} but its members were not read.")
            members |= known[gid]
    return {role: frozenset(ids) for role, ids in holders.items()}


def _users_condition(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((policy.get("conditions") or {}).get("users")) or {}


def _referenced(policies: Sequence[Mapping[str, Any]], keys: tuple[str, str]) -> frozenset[str]:
    found: set[str] = set()
    for policy in policies:
        if str(policy.get("state", "")).lower() == "disabled":
            continue
        users = _users_condition(policy)
        for key in keys:
            found.update(str(v).lower() for v in users.get(key) or ())
    return frozenset(found)


def referenced_groups(policies: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The groups whose members the reader must resolve (each once), from every policy not disabled."""
    return _referenced(policies, ("includeGroups", "excludeGroups"))


def referenced_roles(policies: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    """The role template ids whose holders the reader must resolve, from every policy not disabled."""
    return _referenced(policies, ("includeRoles", "excludeRoles"))
