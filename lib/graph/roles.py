"""Directory role template ids the console cares about (fixed across tenants; docs/graph.md)."""

from __future__ import annotations

__all__ = ["ADMIN_ROLE_TEMPLATE_IDS", "ROLE_TEMPLATE_IDS", "WRITE_ROLE_TEMPLATE_IDS"]

ROLE_TEMPLATE_IDS: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Authentication Policy Administrator": "0526716b-113d-4c15-b2c8-68e3c22b9f80",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
}
"""Role name → ``roleTemplateId`` (compare with ``/me/transitiveMemberOf/microsoft.graph.directoryRole``)."""

WRITE_ROLE_TEMPLATE_IDS: frozenset[str] = frozenset({
    ROLE_TEMPLATE_IDS["Global Administrator"],
    ROLE_TEMPLATE_IDS["Authentication Policy Administrator"],
})
"""Roles allowed to change per-user MFA state in this console (README, "Using a real tenant")."""

ADMIN_ROLE_TEMPLATE_IDS: frozenset[str] = frozenset(ROLE_TEMPLATE_IDS.values())
