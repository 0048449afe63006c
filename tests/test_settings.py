"""Settings: demo by default, a real tenant only when configured correctly."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.settings import SettingsError, load_settings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def test_no_configuration_means_demo() -> None:
    settings = load_settings({}, {})
    assert settings.is_demo
    assert settings.database_url == "sqlite:///.data/console.db"
    assert (settings.demo_users, settings.demo_seed, settings.demo_premium) == (3000, 7, True)
    assert settings.demo_security_defaults is False


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("on", True), ("1", True), ("false", False),
                                                 ("no", False)])
def test_the_demo_tenant_can_be_protected_by_security_defaults(value: str, expected: bool) -> None:
    assert load_settings({}, {"MFA_DEMO_SECURITY_DEFAULTS": value}).demo_security_defaults is expected


def test_the_demo_throttle_speedup_is_a_setting() -> None:
    assert load_settings({}, {}).demo_throttle_speedup == 10.0  # the default: a day's snapshot well under a minute
    assert load_settings({}, {"MFA_DEMO_THROTTLE_SPEEDUP": "1"}).demo_throttle_speedup == 1.0  # Graph's own pace
    assert load_settings({}, {"MFA_DEMO_THROTTLE_SPEEDUP": "x25"}).demo_throttle_speedup == 25.0
    assert load_settings({"demo_throttle_speedup": 4}, {}).demo_throttle_speedup == 4.0


def test_tenant_from_secrets_table_with_environment_overriding() -> None:
    secrets = {"mfa": {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": "s3cret"}}
    settings = load_settings(secrets, {"MFA_CONSOLE_DATA": "/tmp/x", "MFA_REDIRECT_URI": "https://console.example/"})
    assert settings.mode == "tenant"
    assert settings.authority == f"https://login.microsoftonline.com/{TENANT}"
    assert settings.redirect_uri == "https://console.example"
    assert settings.data_dir == Path("/tmp/x")
    assert settings.database_url == "sqlite:////tmp/x/console.db"
    shown = settings.redacted()
    assert shown["client_secret"] == "set" and "s3cret" not in str(shown)


def test_database_password_is_redacted() -> None:
    settings = load_settings({}, {"MFA_DATABASE_URL": "postgresql://console:hunter2@db/console"})
    assert settings.redacted()["database_url"] == "postgresql://console:***@db/console"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MFA_TENANT_ID": TENANT}, "set MFA_CLIENT_ID"),
        ({"MFA_CLIENT_ID": CLIENT}, "set MFA_TENANT_ID"),
        ({"MFA_TENANT_ID": "not a tenant", "MFA_CLIENT_ID": CLIENT}, "GUID or a verified domain"),
        ({"MFA_TENANT_ID": TENANT, "MFA_CLIENT_ID": "my-app"}, "Application \\(client\\) ID"),
        ({"MFA_TENANT_ID": TENANT, "MFA_CLIENT_ID": CLIENT, "MFA_AUTHORITY_HOST": "http://login.example"},
         "MFA_AUTHORITY_HOST must be an https URL"),
        ({"MFA_DEMO_USERS": "lots"}, "whole numbers"),
        ({"MFA_DEMO_USERS": "10"}, "between 50 and 200000"),
        ({"MFA_DEMO_THROTTLE_SPEEDUP": "fast"}, "MFA_DEMO_THROTTLE_SPEEDUP must be a number from 1"),
        ({"MFA_DEMO_THROTTLE_SPEEDUP": "0.5"}, "from 1 \\(Graph's own throttling pace\\) to 1000"),
        ({"MFA_DEMO_THROTTLE_SPEEDUP": "5000"}, "to 1000 \\(got '5000'\\)"),
        ({"MFA_DEMO_THROTTLE_SPEEDUP": "nan"}, "MFA_DEMO_THROTTLE_SPEEDUP"),
        ({"MFA_BACKGROUND_PLAN_ABOVE": "many"}, "MFA_BACKGROUND_PLAN_ABOVE must be a whole number of users"),
        ({"MFA_BACKGROUND_PLAN_ABOVE": "-1"}, "MFA_BACKGROUND_PLAN_ABOVE must be 0 or more"),
    ],
)
def test_bad_configuration_names_the_fix(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({}, env)


def test_large_previews_go_to_the_background_above_500_users_unless_set() -> None:
    assert load_settings({}, {}).background_plan_above == 500
    assert load_settings({}, {"MFA_BACKGROUND_PLAN_ABOVE": "0"}).background_plan_above == 0
    assert load_settings({"background_plan_above": 2000}, {}).background_plan_above == 2000


def test_domain_tenant_and_sovereign_cloud() -> None:
    settings = load_settings({}, {"MFA_TENANT_ID": "contoso.onmicrosoft.com", "MFA_CLIENT_ID": CLIENT,
                                  "MFA_AUTHORITY_HOST": "https://login.microsoftonline.us",
                                  "MFA_GRAPH_URL": "https://graph.microsoft.us"})
    assert settings.authority == "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    assert settings.graph_url == "https://graph.microsoft.us"
