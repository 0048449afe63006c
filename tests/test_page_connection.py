"""The Connection page in demo mode names the demo tenant's own endpoints, not Microsoft's defaults, and
says how the latest snapshot read the per-user MFA states."""

from __future__ import annotations

from lib.connection_check import state_read_summary
from lib.demo import demo_tenant
from lib.graph.state_read import NOT_SERVED
from lib.settings import Settings
from tests.ui_fixtures import ADMIN, READER, new_app
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


def test_the_page_says_how_the_latest_snapshot_read_mfa_states(demo_settings: Settings) -> None:
    for who in (ADMIN, READER):
        at = new_app(demo_settings, who, "pages/connection.py")
        assert not at.exception and not at.error
        said = [s.value for s in at.success]
        assert any(text.startswith("**Read from the users listing (fast).**") and "20 users picked at random" in text
                   for text in said), said
        assert not any("perUserMfaState" in str(e.value) for e in (*at.success, *at.warning, *at.info))


def test_words_for_each_way_states_were_read() -> None:
    fast = state_read_summary("users listing", None, 20)
    assert fast is not None and fast.ok and "20 users picked at random" in fast.detail
    slow = state_read_summary("per-user reads", NOT_SERVED, 0)
    assert slow is not None and not slow.ok
    assert slow.headline == "Read user by user (slower)"
    assert slow.detail.startswith("Microsoft Graph does not list per-user MFA states with the users. ")
    lagging = state_read_summary("per-user reads", "3 of 20 users checked at random had another state in the "
                                 "users listing than in their own MFA settings", 20)
    assert lagging is not None and lagging.detail.startswith("3 of 20 users checked at random")
    assert state_read_summary(None, None, None) is None
