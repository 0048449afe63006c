"""The demo tenant's simulated clock: moving it forward makes people sign in and register.

Each step of at most a day draws, per user, whether they signed in and whether an Enabled user
completed registration (then Entra makes them Enforced). The random stream is keyed by the
tenant's seed and step count, so the same advances give the same tenant every time.
"""

from __future__ import annotations

import random
from datetime import timedelta

from lib.emulator.generator import new_method
from lib.emulator.model import SyntheticTenant

MAX_STEP = timedelta(days=1)
MAX_ADVANCE = timedelta(days=366)


def _chance(daily_rate: float, days: float) -> float:
    """Chance that an event with the given daily chance happens within ``days``."""
    if daily_rate <= 0:
        return 0.0
    if daily_rate >= 1:
        return 1.0
    return 1.0 - (1.0 - daily_rate) ** days


def advance(tenant: SyntheticTenant, delta: timedelta) -> dict:
    """Move ``tenant.now`` forward by ``delta``; return what happened, as counts."""
    if delta <= timedelta(0):
        raise ValueError("the clock only moves forward")
    if delta > MAX_ADVANCE:
        raise ValueError(f"advance at most {MAX_ADVANCE.days} days at a time")
    signed_in = registered = enforced = 0
    remaining = delta
    while remaining > timedelta(0):
        step = min(MAX_STEP, remaining)
        remaining -= step
        days = step / timedelta(days=1)
        rng = random.Random(f"clock:{tenant.seed}:{tenant.id}:{tenant.clock_steps}")
        tenant.clock_steps += 1
        start = tenant.now
        for user in tenant.users:
            if not user.account_enabled or user.sign_in_rate <= 0:
                continue
            if rng.random() >= _chance(user.sign_in_rate, days):
                continue
            at = start + step * rng.random()
            signed_in += 1
            user.last_sign_in = at if user.last_sign_in is None else max(user.last_sign_in, at)
            asked = user.mfa_state in ("enabled", "enforced") and not user.has_mfa_method()
            if asked and rng.random() < user.register_rate:
                was = user.mfa_state
                tenant.register_method(user, new_method(rng, user.preferred_kind, at, user.usage_location))
                registered += 1
                enforced += was == "enabled" and user.mfa_state == "enforced"
        tenant.now = start + step
        tenant.revision += 1
    return {
        "now": tenant.now.isoformat().replace("+00:00", "Z"),
        "advanced_hours": delta / timedelta(hours=1),
        "signed_in": signed_in,
        "registered": registered,
        "enforced": enforced,
    }
