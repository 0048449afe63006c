"""Helpers shared by the rollout tests (no tests here): users frames, actors, an emulator-backed setup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from lib.columns import coerce_users
from lib.emulator.server import RunningEmulator
from lib.graph import GatewayOptions, GraphGateway, MsalClientCredential
from lib.store import Store, open_store
from tests.conftest import control_headers

TENANT = "00000000-0000-0000-0000-00000000000a"
T0 = pd.Timestamp("2025-03-01T08:00:00Z")


@dataclass(frozen=True)
class Admin:
    """A signed-in admin as the engine sees one (``lib.auth.SignedInAdmin`` has the same shape)."""

    upn: str = "admin@contoso.example"
    can_change_mfa: bool = True
    read_only_reason: str | None = None


READER = Admin("reader@contoso.example", False, "Global Reader is a read-only role: changing MFA needs "
               "Global Administrator or Authentication Policy Administrator.")


def user(n: int, **overrides: Any) -> dict[str, Any]:
    """One users-frame row: user ``n`` is ``u{n:03}`` / ``user{n}@contoso.example``, Disabled, unregistered."""
    row: dict[str, Any] = {
        "id": f"u{n:03}", "upn": f"user{n}@contoso.example", "display_name": f"User {n}", "mail": None,
        "department": "Sales", "country": "Sweden", "job_title": None, "is_guest": False, "account_enabled": True,
        "is_admin": False, "account_kind": "person", "state": "disabled", "registered": False, "capable": False,
        "methods": "", "method_count": 0, "preferred_method": None, "created": T0, "last_sign_in": T0,
        "users_read_at": T0, "registration_read_at": T0, "state_read_at": T0,
    }
    row.update(overrides)
    return row


def users(*rows: dict[str, Any]) -> pd.DataFrame:
    return coerce_users(pd.DataFrame(list(rows)))


def store_with_tenant(database_url: str, tenant_id: str = TENANT) -> Store:
    """The store at ``database_url`` (the ``database_url`` fixture: SQLite or PostgreSQL) with one tenant."""
    store = open_store(database_url)
    store.upsert_tenant(tenant_id, "Contoso", "contoso.example", "demo")
    return store


def gateway_for(emulator: RunningEmulator, **options: Any) -> GraphGateway:
    credential = MsalClientCredential(emulator.client_id, emulator.client_secret, emulator.authority,
                                      ca_cert=emulator.ca_cert)
    return GraphGateway(emulator.graph_url, credential, options=GatewayOptions(**options) if options else None)


def truth(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    """The emulator's ground truth per user id, over its control route."""
    rows = httpx.get(f"{emulator.graph_url}/_emulator/truth/users", headers=control_headers(emulator),
                     timeout=30).json()["users"]
    return {row["id"]: row for row in rows}


def control(emulator: RunningEmulator, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{emulator.graph_url}/_emulator{path}", json=body,
                             headers=control_headers(emulator), timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None
