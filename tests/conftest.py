"""Shared fixtures: in-process emulators (the demo tenant) and MSAL wired to trust them.

``emulator`` is one tenant for the whole session (300 users, seed 7, premium); tests that change
the tenant or need other knobs take ``make_emulator(**kw)``, whose emulators stop at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msal
import pytest
import requests

from lib.emulator.server import RunningEmulator, start_emulator
from lib.emulator.state import EmulatorConfig

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """The knobs tests run with: no added latency, throttle windows 100x shorter."""
    return EmulatorConfig(**{"latency_ms": 0.0, "time_scale": 0.01, **overrides})


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running on the main
    thread for as long as its browser lives, and `asyncio.run` in any later test would then fail."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
