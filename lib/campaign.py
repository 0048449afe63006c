"""The authentication methods policy's registration campaign and method states, as values and words: pure.

Graph's shapes (docs/graph.md, "Authentication methods policy"): the campaign is
``registrationEnforcement.authenticationMethodsRegistrationCampaign`` with ``state`` ``default|enabled|disabled``,
``snoozeDurationInDays`` 0–14, ``includeTargets[{id, targetType, targetedAuthenticationMethod}]`` and
``excludeTargets[{id, targetType}]``; ``id`` ``all_users`` is every user. A change is a PATCH of exactly the
campaign, and undo PATCHes the campaign the change replaced, so both are built here from the same value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lib.errors import ConsoleError

__all__ = [
    "ALL_USERS",
    "AUTHENTICATOR",
    "CAMPAIGN_STATES",
    "MAX_SNOOZE_DAYS",
    "METHOD_NAMES",
    "Campaign",
    "CampaignInputError",
    "CampaignTarget",
    "MethodSetting",
    "enabled_for",
    "method_settings",
    "patch_body",
]

ALL_USERS = "all_users"
AUTHENTICATOR = "microsoftAuthenticator"
"""The one ``targetedAuthenticationMethod`` every source documents (the docs disagree on others)."""
MAX_SNOOZE_DAYS = 14

CAMPAIGN_STATES: dict[str, str] = {
    "default": "Microsoft managed",
    "enabled": "On",
    "disabled": "Off",
}
"""Graph's ``state`` → words. "default": Graph's reference says it means off, Entra's how-to that Microsoft turns
it on for users with SMS or voice only; the page says so rather than pick one (docs/graph.md)."""

METHOD_NAMES: dict[str, str] = {
    "fido2": "Passkeys (FIDO2)",
    "microsoftauthenticator": "Microsoft Authenticator",
    "sms": "SMS",
    "voice": "Voice call",
    "softwareoath": "Software OATH tokens",
    "hardwareoath": "Hardware OATH tokens",
    "temporaryaccesspass": "Temporary Access Pass",
    "email": "Email one-time passcode",
    "x509certificate": "Certificate-based authentication",
    "qrcodepin": "QR code sign-in",
}
"""Method configuration ids (PascalCase in Graph) → the names the Entra admin center uses."""

METHOD_ORDER = tuple(METHOD_NAMES)


class CampaignInputError(ConsoleError, ValueError):
    """Graph's answer has no campaign in the documented shape, or a requested change is out of range."""

    code = "campaign_input"


@dataclass(frozen=True, slots=True)
class CampaignTarget:
    """Who a campaign targets (or excludes): ``all_users``, a group id or a user id."""

    id: str
    target_type: str = "group"
    method: str | None = AUTHENTICATOR
    """``targetedAuthenticationMethod`` of an include target; None for an exclude target."""

    @property
    def everyone(self) -> bool:
        return self.id == ALL_USERS

    def words(self, names: Mapping[str, str]) -> str:
        if self.everyone:
            return "All users"
        name = names.get(self.id)
        kind = "group" if self.target_type == "group" else "user"
        return f"{name} ({kind})" if name else f"a {kind} no longer in the directory ({self.id})"

    def to_graph(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "targetType": self.target_type}
        if self.method is not None:
            out["targetedAuthenticationMethod"] = self.method
        return out


@dataclass(frozen=True, slots=True)
class Campaign:
    """The registration campaign: what it is now, what a change asks for, what undo puts back."""

    state: str
    snooze_days: int
    include: tuple[CampaignTarget, ...]
    exclude: tuple[CampaignTarget, ...] = ()

    @classmethod
    def from_graph(cls, policy: Any) -> Campaign:
        """The campaign of an ``authenticationMethodsPolicy`` answer (or of the campaign object itself)."""
        if isinstance(policy, Mapping) and "registrationEnforcement" in policy:
            policy = (policy.get("registrationEnforcement") or {}).get("authenticationMethodsRegistrationCampaign")
        if not isinstance(policy, Mapping) or policy.get("state") not in CAMPAIGN_STATES:
            raise CampaignInputError("Microsoft Graph answered without a registration campaign in the documented "
                                     "shape, so nothing is shown or changed.")
        snooze = policy.get("snoozeDurationInDays")
        include = tuple(CampaignTarget(str(t.get("id")), str(t.get("targetType", "group")),
                                       str(t.get("targetedAuthenticationMethod") or AUTHENTICATOR))
                        for t in policy.get("includeTargets") or () if isinstance(t, Mapping))
        exclude = tuple(CampaignTarget(str(t.get("id")), str(t.get("targetType", "group")), None)
                        for t in policy.get("excludeTargets") or () if isinstance(t, Mapping))
        return cls(str(policy["state"]), int(snooze) if isinstance(snooze, int) else 0, include, exclude)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Campaign:
        """Read back what :meth:`to_json` journaled."""
        return cls.from_graph(data)

    def to_graph(self) -> dict[str, Any]:
        """The campaign object as Graph spells it (what a PATCH sends and the journal keeps)."""
        return {"state": self.state, "snoozeDurationInDays": self.snooze_days,
                "includeTargets": [t.to_graph() for t in self.include],
                "excludeTargets": [t.to_graph() for t in self.exclude]}

    to_json = to_graph

    @property
    def state_words(self) -> str:
        return CAMPAIGN_STATES[self.state]

    @property
    def snooze_words(self) -> str:
        if self.snooze_days == 0:
            return "no snoozing: users must set it up at the next sign-in"
        days = "1 day" if self.snooze_days == 1 else f"{self.snooze_days} days"
        return f"users may postpone it for {days} at a time"

    def targets_words(self, names: Mapping[str, str]) -> str:
        included = ", ".join(t.words(names) for t in self.include) or "nobody"
        excluded = ", ".join(t.words(names) for t in self.exclude)
        return f"{included}, except {excluded}" if excluded else included

    def same_as(self, other: Campaign) -> bool:
        """Equal as Graph would apply them (target order does not matter)."""
        return (self.state, self.snooze_days) == (other.state, other.snooze_days) and (
            sorted(self.include, key=repr) == sorted(other.include, key=repr)
            and sorted(self.exclude, key=repr) == sorted(other.exclude, key=repr))

    def group_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in (*self.include, *self.exclude) if not t.everyone)


def enabled_for(current: Campaign, group_id: str | None = None, *, snooze_days: int | None = None) -> Campaign:
    """The campaign switched on for every user (``group_id`` None) or one group; exclusions are kept (a
    break-glass exclusion must survive), and the snooze unless ``snooze_days`` is given (0–14)."""
    snooze = current.snooze_days if snooze_days is None else snooze_days
    if isinstance(snooze, bool) or not isinstance(snooze, int) or not 0 <= snooze <= MAX_SNOOZE_DAYS:
        raise CampaignInputError(f"The snooze must be a whole number of days from 0 to {MAX_SNOOZE_DAYS}.")
    if group_id is not None and not str(group_id).strip():
        raise CampaignInputError("Choose a group, or target all users.")
    target = CampaignTarget(ALL_USERS if group_id is None else str(group_id).strip(), "group", AUTHENTICATOR)
    return Campaign("enabled", snooze, (target,), current.exclude)


def patch_body(campaign: Campaign) -> dict[str, Any]:
    """The PATCH ``/policies/authenticationMethodsPolicy`` body that sets exactly ``campaign``."""
    return {"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": campaign.to_graph()}}


@dataclass(frozen=True, slots=True)
class MethodSetting:
    """One method of the policy, in words: is it on, and for whom."""

    id: str
    name: str
    enabled: bool
    targets: str


def method_settings(policy: Mapping[str, Any], names: Mapping[str, str] | None = None) -> tuple[MethodSetting, ...]:
    """The policy's ``authenticationMethodConfigurations`` as words, in the admin center's order."""
    out = []
    for config in policy.get("authenticationMethodConfigurations") or ():
        if not isinstance(config, Mapping) or not config.get("id"):
            continue
        key = str(config["id"]).lower()
        targets = [t for t in config.get("includeTargets") or () if isinstance(t, Mapping)]
        who = ", ".join(CampaignTarget(str(t.get("id")), str(t.get("targetType", "group")), None).words(names or {})
                        for t in targets) or "nobody"
        out.append(MethodSetting(str(config["id"]), METHOD_NAMES.get(key, str(config["id"])),
                                 str(config.get("state", "")).lower() == "enabled", who))
    rank = {k: i for i, k in enumerate(METHOD_ORDER)}
    return tuple(sorted(out, key=lambda m: rank.get(m.id.lower(), len(rank))))
