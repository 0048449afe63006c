"""Secrets at rest: no repr, log line or error message carries a secret, and the data folder is private.

Redaction is checked in every form a secret takes in text (``key=value``, ``key='value'``, JSON, dict
reprs, URL queries); reprs of everything that holds one (settings, sign-in configuration, the demo
tenant, credentials) are checked against the real objects; the data folder is checked after the real
demo console and the CLI have written to it.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.auth import install_log_redaction
from lib.auth.session import AuthConfig
from lib.cli import main
from lib.demo import DemoTenant, demo_auth_config, demo_tenant, ensure_demo_history, tenant_clock
from lib.emulator.generator import demo_public_app
from lib.errors import ConsoleError, describe
from lib.graph import MsalClientCredential
from lib.private_files import secure_data_folder
from lib.redaction import redact_secrets
from lib.settings import Settings, load_settings
from lib.store import open_store
from tests.test_rollout_support import gateway_for

SECRET = "Zq8~s3cr3t.VALUE_42"


@pytest.mark.parametrize(("text", "expected"), [
    # key=value: URL queries, form bodies, environment lines
    (f"POST /token client_secret={SECRET}&grant_type=client_credentials",
     "POST /token client_secret=***&grant_type=client_credentials"),
    (f"https://login.example/t/oauth2/v2.0/token?client_id=app&client_secret={SECRET}&scope=x",
     "https://login.example/t/oauth2/v2.0/token?client_id=app&client_secret=***&scope=x"),
    (f"MFA_CLIENT_SECRET={SECRET} MFA_CLIENT_ID=app", "MFA_CLIENT_SECRET=*** MFA_CLIENT_ID=app"),
    (f"postgresql://u@h/db?password={SECRET}", "postgresql://u@h/db?password=***"),
    # key='value' and key: "value": keyword arguments, reprs, settings files
    (f"ConfidentialClientApplication(client_id='app', client_credential='{SECRET}')",
     "ConfidentialClientApplication(client_id='app', client_credential='***')"),
    (f'client_secret = "{SECRET}"', 'client_secret = "***"'),
    (f"password: '{SECRET}'", "password: '***'"),
    # JSON and dict reprs, nested too
    (f'{{"client_secret": "{SECRET}", "client_id": "app"}}', '{"client_secret": "***", "client_id": "app"}'),
    (f"{{'client_credential': {{'client_secret': '{SECRET}'}}}}",
     "{'client_credential': {'client_secret': '***'}}"),
    (f'{{"access_token": "{SECRET}", "token_type": "Bearer", "expires_in": 3599}}',
     '{"access_token": "***", "token_type": "Bearer", "expires_in": 3599}'),
    # what is not a secret stays as it is
    ("error_code=54005 state=ok upn_key=someone token_type=Bearer", "error_code=54005 state=ok upn_key=someone "
                                                                     "token_type=Bearer"),
])
def test_every_form_of_a_secret_is_redacted(text: str, expected: str) -> None:
    assert redact_secrets(text) == expected


def test_an_unexpected_error_is_described_without_its_secret() -> None:
    line = describe(KeyError(f"client_secret={SECRET}"))
    assert SECRET not in line and line.startswith("internal error: KeyError: ")
    assert SECRET not in describe(ConsoleError(f"could not use {{'client_credential': '{SECRET}'}}"))


def test_no_repr_shows_a_secret(make_emulator) -> None:
    settings = Settings(mode="tenant", data_dir=Path(".data"), tenant_id="t", client_id="app",
                        client_secret=SECRET, database_url=f"postgresql://console:{SECRET}@db.example:5432/mfa")
    encoded = Settings(mode="tenant", data_dir=Path(".data"),
                       database_url="postgresql://console:p%40ss%2Fw0rd@db.example/mfa")
    emulator = make_emulator(users=60, seed=3)
    demo = DemoTenant(emulator, demo_public_app(emulator.state.tenant).client_id, tenant_clock(emulator))
    app_only = demo_auth_config(emulator, app_only=True)
    credential = MsalClientCredential(emulator.client_id, emulator.client_secret, emulator.authority,
                                      ca_cert=emulator.ca_cert)
    with gateway_for(emulator) as gateway:
        shown = {
            "settings": repr(settings), "str(settings)": str(settings), "auth config": repr(
                AuthConfig("app", "https://login.example/t", client_secret=SECRET)),
            "demo auth config": repr(app_only), "emulator": repr(emulator), "demo tenant": repr(demo),
            "apps": repr(list(emulator.state.tenant.apps.values())), "credential": repr(credential),
            "gateway": repr(gateway),
        }
    for name, text in shown.items():
        assert SECRET not in text and emulator.client_secret not in text, name
    assert "p%40ss" not in repr(encoded) and "p@ss" not in repr(encoded)
    assert "postgresql://console:***@db.example:5432/mfa" in repr(settings)


@pytest.fixture
def records() -> Iterator[list[str]]:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("logger", ["lib.graph", "lib.rollout", "lib.auth.session", "lib.cli", "msal.application",
                                    "httpx", "urllib3.connectionpool"])
def test_log_lines_of_every_talking_logger_are_redacted(records: list[str], logger: str) -> None:
    install_log_redaction()
    log = logging.getLogger(logger)
    log.info("token request client_credential='%s' body=%s", SECRET, f"client_secret={SECRET}&scope=x")
    log.info("answer %s", {"refresh_token": SECRET, "client_id": "app"})
    try:
        raise RuntimeError(f'{{"client_secret": "{SECRET}"}}')
    except RuntimeError:
        log.exception("failed")
    assert len(records) == 3 and not [line for line in records if SECRET in line]
    assert "client_credential='***'" in records[0] and "'refresh_token': '***'" in records[1]


def _modes(folder: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def _private(modes: dict[str, int], folder: Path) -> list[str]:
    """Entries that are not private: folders other than 0700, files other than 0600."""
    return [f"{name} {mode:o}" for name, mode in modes.items()
            if mode != (0o700 if (folder / name).is_dir() else 0o600)]


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022): what the code writes must be private by itself."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_demo_consoles_data_folder_is_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    settings = load_settings({}, {"MFA_CONSOLE_DATA": str(data), "MFA_DEMO_USERS": "50", "MFA_DEMO_SEED": "3"})
    secure_data_folder(settings.data_dir)  # as the app starts
    demo = demo_tenant(settings)
    with open_store(settings.database_url) as store:
        ensure_demo_history(store, demo)
        store.load_users(demo.emulator.tenant_id)  # writes the snapshot cache
    modes = _modes(data)
    assert {"console.db", "emulator-tls"} <= modes.keys()
    assert any(name.startswith("demo-tenant-") and name.endswith(".json") for name in modes)
    assert _private(modes, data) == []


def test_a_folder_an_earlier_version_left_open_is_tightened(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "old"
    (data / "cache").mkdir(parents=True)
    (data / "console.db").write_bytes(b"")
    (data / "cache" / "t-1.parquet").write_bytes(b"")
    os.chmod(data, 0o755)
    assert _private(_modes(data), data) != []
    secure_data_folder(data)
    assert _private(_modes(data), data) == []


def test_the_cli_keeps_its_data_folder_private(tmp_path: Path, loose_umask: None,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "cli-data"
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(data))
    for name in ("MFA_DATABASE_URL", "MFA_TENANT_ID", "MFA_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["operations"]) == 0
    capsys.readouterr()
    modes = _modes(data)
    assert "console.db" in modes and _private(modes, data) == []
