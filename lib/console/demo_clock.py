"""Move the demo tenant's clock: people sign in and register. Writers only, like every other change.

A Global Reader looks at the demo and may refresh it, but moving its clock changes the tenant (users
become Enforced), so the role is checked here, at the moment of acting, whatever the page showed.
"""

from __future__ import annotations

from typing import Any

from lib.console.roles import acting_writer
from lib.console.workspace import Workspace
from lib.errors import ConsoleError

MAX_DAYS = 366
"""The demo clock moves at most a year at a time (its own limit)."""


class DemoClockError(ConsoleError):
    """The demo clock cannot move as asked (not the demo, or not forward by at most a year)."""

    code = "demo_clock"


def advance_demo_clock(ws: Workspace, demo: Any, days: float) -> dict[str, Any]:
    """Move ``demo`` (a ``lib.demo.DemoTenant``) ``days`` forward; returns what happened, as counts."""
    if demo is None:
        raise DemoClockError("Only the built-in demo tenant has a clock to move.")
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_DAYS:
        raise DemoClockError(f"The demo clock moves forward by more than 0 and at most {MAX_DAYS} days, "
                             f"not {days!r}.")
    acting_writer(ws)
    from lib.demo import advance_demo_clock as move  # the demo's server code: loaded only in demo mode

    return move(demo, days)
