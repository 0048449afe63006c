"""Shared fixtures: in-process emulators (the demo tenant), MSAL wired to trust them, and databases.

``emulator`` is one tenant for the whole session (300 users, seed 7, premium); tests that change
the tenant or need other knobs take ``make_emulator(**kw)``, whose emulators stop at teardown.

``database_url`` runs a test twice, against a fresh SQLite file and a fresh PostgreSQL database
(ids ``[sqlite]`` and ``[postgresql]``); ``postgres_url`` is a fresh PostgreSQL database alone. Both
come from ``postgres_server``, one throwaway server for the session (``tests/postgres_server.py``).
Without PostgreSQL on the machine those tests skip, unless ``MFA_TEST_POSTGRES=required`` (CI),
which makes them fail; ``MFA_TEST_POSTGRES=skip`` skips them even when it is there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
import requests

from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig
from tests.postgres_server import PostgresServer, server_for_tests

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """The knobs tests run with: no added latency, throttle windows 100x shorter."""
    return EmulatorConfig(**{"latency_ms": 0.0, "time_scale": 0.01, **overrides})


def control_headers(emulator: RunningEmulator | str) -> dict[str, str]:
    """Headers the demo tenant's control routes demand: its per-run key (a RunningEmulator's, or the
    ``control_key`` a ``python -m lib.emulator`` process printed) and a JSON content type."""
    key = emulator if isinstance(emulator, str) else emulator.control_key
    return {"X-Emulator-Control": key, "Content-Type": "application/json"}


def control_client(graph_url: str, key: str, **kw: Any) -> httpx.Client:
    """An httpx client for ``{graph_url}/_emulator`` that carries the control key."""
    return httpx.Client(base_url=f"{graph_url}/_emulator", headers=control_headers(key), trust_env=False,
                        **{"timeout": 60, **kw})


def msal_http_client(ca_cert: str) -> requests.Session:
    """The ``http_client`` MSAL needs to trust the emulator (docs/graph.md, MSAL Python).

    ``trust_env = False``: with REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE set, requests would otherwise
    replace ``verify`` with the system bundle and fail with CERTIFICATE_VERIFY_FAILED.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_cert
    return session


def confidential_app(emulator: RunningEmulator, **kw: Any) -> msal.ConfidentialClientApplication:
    """MSAL's confidential client for the emulator's demo app (overridable: client_id, secret, authority)."""
    return msal.ConfidentialClientApplication(
        kw.pop("client_id", emulator.client_id),
        client_credential=kw.pop("client_credential", emulator.client_secret),
        authority=kw.pop("authority", emulator.authority),
        http_client=kw.pop("http_client", None) or msal_http_client(emulator.ca_cert),
        instance_discovery=kw.pop("instance_discovery", False),
        **kw,
    )


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """The session's demo tenant: 300 users, seed 7, premium."""
    with start_emulator(users=300, seed=7, premium=True, config=emulator_config()) as running:
        yield running


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Factory: ``make_emulator(users=…, seed=…, premium=…, config=…, tenant=…)``; stopped at teardown."""
    started: list[RunningEmulator] = []

    def make(**kw: Any) -> RunningEmulator:
        kw.setdefault("config", emulator_config())
        running = start_emulator(**kw)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def msal_session(emulator: RunningEmulator) -> requests.Session:
    """``msal_http_client`` for the session emulator: pass as MSAL's ``http_client``."""
    return msal_http_client(emulator.ca_cert)


@pytest.fixture(scope="session")
def msal_client_app(emulator: RunningEmulator) -> msal.ConfidentialClientApplication:
    """Real MSAL for the session emulator's demo app; its token cache serves later calls."""
    return confidential_app(emulator)


@pytest.fixture
def graph_token(msal_client_app: msal.ConfidentialClientApplication) -> str:
    """An app-only Graph access token for the session emulator, acquired through real MSAL."""
    result = msal_client_app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" in result, result.get("error_description", result)
    return result["access_token"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and removed at its end (skip or fail: see above)."""
    server = server_for_tests()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (``postgresql://`` URL with user and password)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database for one test: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'console.db'}"
    return request.getfixturevalue("postgres_url")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running on the main
    thread for as long as its browser lives, and `asyncio.run` in any later test would then fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
