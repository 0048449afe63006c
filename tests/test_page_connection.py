"""The Connection page in demo mode names the demo tenant's own endpoints, not Microsoft's defaults."""

from __future__ import annotations

from lib.demo import demo_tenant
from lib.settings import Settings
from tests.ui_fixtures import ADMIN, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)


def test_demo_mode_shows_the_demo_tenants_endpoints(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN, "pages/connection.py")
    assert not at.exception and not at.error
    table = at.table[0].value
    values = dict(zip(table["Setting"], table["Value"], strict=True))
    emulator = demo_tenant(demo_settings).emulator
    assert values["Sign-in authority"] == emulator.authority
    assert values["Microsoft Graph"] == emulator.graph_url
    assert values["Tenant ID"] == emulator.tenant_id
    assert not any("login.microsoftonline.com" in str(v) or "graph.microsoft.com" in str(v) for v in values.values())
