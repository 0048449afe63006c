"""The demo tenant's protection policies: Conditional Access, security defaults, groups, role assignments
and the authentication methods policy (its method configurations and registration campaign).

Records are plain dataclasses holding Graph-shaped values where Graph's shape is the natural one
(Conditional Access ``conditions``, method configurations' extra properties), so the wire layer renders
them without translation and the saved tenant file (lib/emulator/tenant_file.py) stores them as they
are. Membership is resolved here, once, because both the ``transitiveMembers`` route and the role
assignments route need the same answer (nested groups count: docs/graph.md "Protection policies").
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SECURITY_DEFAULTS_ID = "00000000-0000-0000-0000-000000000005"
"""The fixed id of identitySecurityDefaultsEnforcementPolicy in every tenant."""

CA_STATES = ("enabled", "disabled", "enabledForReportingButNotEnforced")
CAMPAIGN_STATES = ("default", "enabled", "disabled")
CAMPAIGN_TARGET_TYPES = ("user", "group")
CAMPAIGN_METHODS = ("microsoftAuthenticator",)
"""``targetedAuthenticationMethod`` values the emulator accepts (Microsoft's docs disagree on more)."""
MAX_SNOOZE_DAYS = 14
ALL_USERS_TARGET = "all_users"


@dataclass(slots=True)
class Group:
    """A security group; members are users and (nested) groups, by object id."""

    id: str
    display_name: str
    description: str | None
    mail_nickname: str
    created: datetime
    member_user_ids: list[str] = field(default_factory=list)
    member_group_ids: list[str] = field(default_factory=list)
    is_assignable_to_role: bool = False


@dataclass(slots=True)
class GroupRoleAssignment:
    """A directory role (template id) assigned to a role-assignable group, tenant-wide (scope ``/``)."""

    role_template_id: str
    group_id: str


@dataclass(slots=True)
class ConditionalAccessPolicy:
    """One Conditional Access policy; ``conditions`` and the controls are Graph's JSON objects."""

    id: str
    display_name: str
    state: str
    created: datetime
    modified: datetime | None
    conditions: dict[str, Any]
    grant_controls: dict[str, Any] | None
    session_controls: dict[str, Any] | None = None
    template_id: str | None = None


@dataclass(slots=True)
class MethodConfiguration:
    """One entry of authenticationMethodConfigurations, e.g. ``Sms`` or ``Fido2``."""

    id: str
    """PascalCase, as Graph spells these ids (``MicrosoftAuthenticator``)."""
    odata_type: str
    state: str
    include_targets: list[dict[str, Any]]
    properties: dict[str, Any] = field(default_factory=dict)
    """The type's own properties, in Graph's names and shapes."""
    exclude_targets: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class RegistrationCampaign:
    """registrationEnforcement.authenticationMethodsRegistrationCampaign (nudge to register Authenticator)."""

    state: str = "default"
    snooze_days: int = 1
    include_targets: list[dict[str, Any]] = field(default_factory=lambda: [
        {"id": ALL_USERS_TARGET, "targetType": "group", "targetedAuthenticationMethod": "microsoftAuthenticator"}])
    exclude_targets: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ProtectionPolicies:
    """Everything the protection endpoints serve. An empty one: no policies, security defaults off."""

    security_defaults: bool = False
    conditional_access: list[ConditionalAccessPolicy] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    group_role_assignments: list[GroupRoleAssignment] = field(default_factory=list)
    method_configurations: list[MethodConfiguration] = field(default_factory=list)
    campaign: RegistrationCampaign = field(default_factory=RegistrationCampaign)
    methods_policy_modified: datetime | None = None
    policy_migration_state: str = "migrationComplete"

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id), None)

    def transitive_members(self, group_id: str) -> tuple[list[str], list[str]]:
        """(user ids, group ids) under a group, nested groups included, each once, in first-seen order.

        A membership cycle (which Entra does not allow, but a hand-edited tenant might hold) ends the walk.
        """
        users: list[str] = []
        groups: list[str] = []
        seen_users: set[str] = set()
        seen_groups = {group_id}
        pending = [group_id]
        while pending:
            group = self.group(pending.pop(0))
            if group is None:
                continue
            for uid in group.member_user_ids:
                if uid not in seen_users:
                    seen_users.add(uid)
                    users.append(uid)
            for gid in group.member_group_ids:
                if gid not in seen_groups:
                    seen_groups.add(gid)
                    groups.append(gid)
                    pending.append(gid)
        return users, groups

    def roles_through_groups(self) -> dict[str, set[str]]:
        """User id → role template ids the user holds through a role-assignable group."""
        out: dict[str, set[str]] = {}
        for assignment in self.group_role_assignments:
            for uid in self.transitive_members(assignment.group_id)[0]:
                out.setdefault(uid, set()).add(assignment.role_template_id)
        return out


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """One active, tenant-wide role assignment as roleManagement/directory/roleAssignments lists it."""

    id: str
    role_template_id: str
    principal_id: str
    principal_is_group: bool


def role_assignment_id(role_template_id: str, principal_id: str) -> str:
    """Graph's id form: base64url of the two GUIDs' bytes (little-endian) without padding, then ``-1``.

    Microsoft's example (tests/fixtures/graph/protection/v1.0-roleassignments-list.json) decodes this way.
    """
    raw = uuid.UUID(role_template_id).bytes_le + uuid.UUID(principal_id).bytes_le
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "-1"


def role_assignments(policies: ProtectionPolicies, users: Iterable[Any]) -> list[RoleAssignment]:
    """Every active assignment: the groups' assignments, then each user's roles not held through a group.

    ``users`` are the tenant's users (``.id``, ``.roles``): their ``roles`` are the roles they hold in
    effect, so a role that comes through a group is not listed again as a direct assignment.
    """
    out = [RoleAssignment(role_assignment_id(a.role_template_id, a.group_id), a.role_template_id, a.group_id, True)
           for a in policies.group_role_assignments]
    through = policies.roles_through_groups()
    for user in users:
        for role in user.roles:
            if role not in through.get(user.id, ()):
                out.append(RoleAssignment(role_assignment_id(role, user.id), role, user.id, False))
    return out
