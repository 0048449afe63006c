"""What the model is told about a tenant: plain values, read elsewhere (``lib.protection`` does no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib.protection.categories import CaAvailability
from lib.protection.membership import Membership

__all__ = ["GLOBAL_ADMINISTRATOR", "ProtectionInputs", "UserFacts", "security_defaults_enabled"]

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
"""The Global Administrator role template id (Entra's permissions reference): its holders keep SMS/voice longer."""


@dataclass(frozen=True, slots=True)
class UserFacts:
    """One user, as the snapshot knows them.

    ``user_type`` is Graph's ``userType`` (``member``/``guest``, any case). ``guest_type`` is the Conditional
    Access guest kind (``b2bCollaborationGuest``…) when the reader knows it exactly; otherwise a guest may be
    an internal or a B2B collaboration guest and the model assumes the least favourable of the two.
    ``per_user_state`` is ``disabled|enabled|enforced``, or None when unread.
    """

    id: str
    user_type: str = "member"
    per_user_state: str | None = "disabled"
    methods_registered: tuple[str, ...] = ()
    is_admin: bool = False
    is_mfa_registered: bool = False
    is_global_admin: bool = False
    guest_type: str | None = None

    @property
    def is_external(self) -> bool:
        """Guests and other external users (their SMS/voice deadline is later)."""
        return self.user_type.lower() == "guest" or (self.guest_type or "").lower() not in ("", "internalguest")


@dataclass(frozen=True)
class ProtectionInputs:
    """Everything one evaluation needs.

    ``policies`` are Graph's conditionalAccessPolicy objects as returned; ``security_defaults`` is the
    ``isEnabled`` of identitySecurityDefaultsEnforcementPolicy (None: could not be read); ``membership``
    resolves every group and role the policies name (built once per group, not per user).
    """

    users: Sequence[UserFacts]
    policies: Sequence[Mapping[str, Any]] = ()
    security_defaults: bool | None = False
    ca_availability: CaAvailability = CaAvailability.AVAILABLE
    membership: Membership = field(default_factory=Membership)


def security_defaults_enabled(policy: Mapping[str, Any] | None) -> bool | None:
    """``isEnabled`` of an identitySecurityDefaultsEnforcementPolicy body; None when it was not read or lacks it."""
    if not isinstance(policy, Mapping) or not isinstance(policy.get("isEnabled"), bool):
        return None
    return policy["isEnabled"]
