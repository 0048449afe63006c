"""Helpers for the read-only-role tests (no tests here): lose a role in the demo tenant, and fingerprints of
everything a refused action must leave as it was (every table of the store; every user of the demo tenant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from lib.demo_process import control
from lib.emulator.model import GLOBAL_READER
from lib.emulator.server import RunningEmulator
from lib.store import Store
from lib.store.schema import metadata
from tests.auth_fixtures import upn
from tests.test_rollout_support import truth


@contextmanager
def role_lost(emulator: RunningEmulator, local: str, *, now: tuple[str, ...] = (GLOBAL_READER,)) -> Iterator[None]:
    """While inside, the demo identity ``local`` holds ``now`` instead of its roles: what an Entra admin's
    demotion, or a PIM activation running out, does to a signed-in admin. Put back on the way out."""
    if not hasattr(emulator, "state"):  # the demo tenant's own process: through its control route
        name = upn(emulator, local)
        kept_roles = next(u["roles"] for u in control(emulator, "GET", "/truth/users")["users"] if u["upn"] == name)
        control(emulator, "PUT", f"/users/{name}/roles", {"roles": list(now)})
        try:
            yield
        finally:
            control(emulator, "PUT", f"/users/{name}/roles", {"roles": kept_roles})
        return
    user = emulator.state.tenant.lookup(upn(emulator, local))
    assert user is not None, local
    kept = user.roles
    user.roles = now
    try:
        yield
    finally:
        user.roles = kept


def store_fingerprint(store: Store) -> dict[str, str]:
    """Table → a digest of all its rows (sorted), so any insert, update or delete shows."""
    found: dict[str, str] = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
            found[table.name] = f"{len(rows)}:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return found


def tenant_fingerprint(emulator: RunningEmulator) -> tuple[str, dict[str, dict]]:
    """The demo tenant's clock and every user as the emulator knows them (state, methods, roles, sign-ins)."""
    if not hasattr(emulator, "state"):
        return control(emulator, "GET", "/clock")["tenant_now"], truth(emulator)
    return emulator.state.tenant.now.isoformat(), truth(emulator)
