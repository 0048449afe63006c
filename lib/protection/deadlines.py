"""When Microsoft-provided SMS and voice stop working for a user (docs/graph.md, "SMS and voice retirement").

Pure: the caller passes "now" (the console's clock, which may be the demo tenant's simulated time).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from lib.protection.errors import ProtectionInputError

__all__ = ["LATER_DEADLINE", "SMS_VOICE_DEADLINE", "days_left", "sms_voice_deadline"]

SMS_VOICE_DEADLINE = date(2027, 2, 1)
"""Most users: SMS/voice-only users then meet a blocking passkey registration."""

LATER_DEADLINE = date(2027, 7, 1)
"""Global Administrators and external users (the retirement FAQ)."""


def sms_voice_deadline(*, is_global_admin: bool, is_external: bool) -> date:
    """The day SMS and voice end for this user."""
    return LATER_DEADLINE if is_global_admin or is_external else SMS_VOICE_DEADLINE


def days_left(deadline: date, now: datetime | date) -> int:
    """Whole days from ``now`` (UTC) to ``deadline``: 0 on the day itself, negative once it has passed.

    A naive datetime is refused: the console's clocks are timezone-aware, and guessing one shifts the count.
    """
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ProtectionInputError("The clock value for the SMS/voice deadline has no time zone.")
        now = now.astimezone(UTC).date()
    return (deadline - now).days
