"""Per-tenant counts of the protection model's answers, for the overview tiles and the CLI's snapshot JSON.

Every category is present (zero when empty), so a tile or a JSON consumer never has to guess a missing key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from lib.protection.categories import Conflict, CoveredBy, MethodClass, TenantConflict
from lib.protection.coverage import Evaluation
from lib.protection.deadlines import LATER_DEADLINE, SMS_VOICE_DEADLINE, days_left

__all__ = ["ProtectionSummary", "SmsVoiceDeadline", "summarize"]


@dataclass(frozen=True, slots=True)
class SmsVoiceDeadline:
    """The users relying on SMS or voice alone whose SMS/voice ends on ``deadline``."""

    deadline: date
    users: int
    days_left: int


@dataclass(frozen=True)
class ProtectionSummary:
    """How a tenant is protected, in counts."""

    users: int
    protected: int
    by_covered_by: Mapping[CoveredBy, int]
    by_method_class: Mapping[MethodClass, int]
    conflicts: Mapping[Conflict, int]
    users_with_conflicts: int
    sms_voice_only: tuple[SmsVoiceDeadline, ...]
    """One entry per deadline (1 Feb 2027, then 1 Jul 2027), zero counts included."""
    admins_not_protected: int
    tenant_conflicts: tuple[TenantConflict, ...]

    @property
    def protected_share(self) -> float:
        """Percent of users protected on every sign-in (0.0 for an empty tenant)."""
        return 100.0 * self.protected / self.users if self.users else 0.0

    @property
    def phishing_resistant_share(self) -> float:
        """Percent of users whose strongest method is phishing-resistant."""
        count = self.by_method_class[MethodClass.PHISHING_RESISTANT]
        return 100.0 * count / self.users if self.users else 0.0

    def as_json(self) -> dict[str, object]:
        """Plain JSON values (category values as keys, dates as ISO text) for the CLI and exports."""
        return {
            "users": self.users,
            "protected": self.protected,
            "covered_by": {str(k): v for k, v in self.by_covered_by.items()},
            "method_class": {str(k): v for k, v in self.by_method_class.items()},
            "conflicts": {str(k): v for k, v in self.conflicts.items()},
            "users_with_conflicts": self.users_with_conflicts,
            "sms_voice_only": [{"deadline": d.deadline.isoformat(), "users": d.users, "days_left": d.days_left}
                               for d in self.sms_voice_only],
            "admins_not_protected": self.admins_not_protected,
            "tenant_conflicts": [str(c) for c in self.tenant_conflicts],
        }


def summarize(evaluation: Evaluation, now: datetime | date) -> ProtectionSummary:
    """Count ``evaluation``'s answers; ``now`` (the console's clock) gives the days left to each deadline."""
    users = evaluation.users
    covered = Counter(u.covered_by for u in users)
    methods = Counter(u.method.method_class for u in users)
    conflicts = Counter(c for u in users for c in u.conflicts)
    sms_only = Counter(u.sms_voice_deadline for u in users if u.sms_voice_only)
    return ProtectionSummary(
        users=len(users),
        protected=sum(1 for u in users if u.protected),
        by_covered_by={c: covered[c] for c in CoveredBy},
        by_method_class={m: methods[m] for m in MethodClass},
        conflicts={c: conflicts[c] for c in Conflict},
        users_with_conflicts=sum(1 for u in users if u.conflicts),
        sms_voice_only=tuple(SmsVoiceDeadline(d, sms_only[d], days_left(d, now))
                             for d in (SMS_VOICE_DEADLINE, LATER_DEADLINE)),
        admins_not_protected=sum(1 for u in users if u.is_admin and not u.protected),
        tenant_conflicts=evaluation.tenant_conflicts,
    )
