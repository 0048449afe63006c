"""Serving the emulator: both listeners, TLS trust, isolation, shutdown, and ``python -m lib.emulator``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import certifi
import httpx
import pytest
import requests
from cryptography import x509

from lib.emulator.__main__ import main
from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.generator import demo_app, demo_public_app, generate_tenant
from lib.emulator.graph_api import emulator_stats
from lib.emulator.server import RunningEmulator, build_app, start_emulator
from lib.emulator.state import EmulatorState
from lib.emulator.tls import ensure_certificates
from lib.emulator.tokens import verify_bearer
from tests.conftest import GRAPH_SCOPE, confidential_app

REPO = Path(__file__).resolve().parents[1]
DISCOVERY = "/v2.0/.well-known/openid-configuration"


def trusting(ca_cert: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_cert)


def get_tls(url: str, ca_cert: str) -> httpx.Response:
    """GET over TLS trusting only ``ca_cert`` (SSL_CERT_FILE & co. ignored)."""
    return httpx.get(url, verify=trusting(ca_cert), trust_env=False)


# --- the running emulator ---------------------------------------------------------------------


def test_running_emulator_describes_itself(emulator: RunningEmulator) -> None:
    expected = generate_tenant(300, 7, True)
    tls_port = int(emulator.state.authority_host.rsplit(":", 1)[1])
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.graph_url)
    assert emulator.authority == f"https://127.0.0.1:{tls_port}/{expected.id}"
    assert emulator.tenant_id == expected.id
    assert (emulator.client_id, emulator.client_secret) == (demo_app(expected).client_id,
                                                            demo_app(expected).client_secret)
    assert emulator.state.graph_url == emulator.graph_url
    assert emulator.state.ca_cert_path == emulator.ca_cert
    assert emulator.state.config.time_scale == 0.01
    assert emulator.client_secret not in repr(emulator)
    assert emulator.running


def test_both_listeners_serve_the_same_app(emulator: RunningEmulator) -> None:
    over_tls = get_tls(f"{emulator.authority}{DISCOVERY}", emulator.ca_cert)
    over_http = httpx.get(f"{emulator.graph_url}/{emulator.tenant_id}{DISCOVERY}")
    assert over_tls.status_code == over_http.status_code == 200
    assert over_tls.json() == over_http.json()


def test_unknown_paths_outside_graph_are_404(emulator: RunningEmulator) -> None:
    response = httpx.get(f"{emulator.graph_url}/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found",
                               "error_description": "The emulator serves nothing at /nothing/here."}


def test_loopback_only() -> None:
    with pytest.raises(ValueError) as caught:
        start_emulator(generate_tenant(50, 1), host="0.0.0.0")
    assert str(caught.value) == (
        "the emulator serves on loopback only (127.0.0.1, ::1 or localhost), not '0.0.0.0'")


def test_hundreds_of_concurrent_connections(emulator: RunningEmulator) -> None:
    async def hammer(base: str, verify: ssl.SSLContext | bool, n: int) -> list[int]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
        async with httpx.AsyncClient(verify=verify, trust_env=False, limits=limits, timeout=30) as client:
            responses = await asyncio.gather(*(client.get(f"{base}{DISCOVERY}") for _ in range(n)))
        return [r.status_code for r in responses]

    http_base = f"{emulator.graph_url}/{emulator.tenant_id}"
    assert asyncio.run(hammer(http_base, False, 300)) == [200] * 300
    assert asyncio.run(hammer(emulator.authority, trusting(emulator.ca_cert), 150)) == [200] * 150


# --- TLS trust ---------------------------------------------------------------------------------


def test_certificate_is_trusted_only_through_the_ca_file(emulator: RunningEmulator) -> None:
    url = f"{emulator.authority}{DISCOVERY}"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, verify=ssl.create_default_context(), trust_env=False)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, verify=ssl.create_default_context(cafile=certifi.where()), trust_env=False)
    system = requests.Session()
    system.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        system.get(url)
    assert httpx.get(url, verify=trusting(emulator.ca_cert), trust_env=False).status_code == 200


def test_requests_verify_alone_is_overridden_by_the_ca_bundle_variable(
    emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/graph.md, MSAL Python: why MSAL's http_client needs trust_env=False on machines with REQUESTS_CA_BUNDLE set.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    naive = requests.Session()
    naive.verify = emulator.ca_cert
    with pytest.raises(requests.exceptions.SSLError):
        naive.get(f"{emulator.authority}{DISCOVERY}")
    naive.trust_env = False
    assert naive.get(f"{emulator.authority}{DISCOVERY}").status_code == 200


def test_certificate_names_loopback_and_its_ca_is_constrained_to_it(emulator: RunningEmulator) -> None:
    directory = Path(emulator.ca_cert).parent
    ca = x509.load_pem_x509_certificate(Path(emulator.ca_cert).read_bytes())
    cert = x509.load_pem_x509_certificate((directory / "emulator-cert.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(v) for v in san.get_values_for_type(x509.DNSName)] == ["localhost"]
    assert [str(v) for v in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = [str(n.value) for n in constraints.value.permitted_subtrees]
    assert permitted == ["localhost", "127.0.0.1/32", "::1/128"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "emulator-ca.pem", "emulator-cert.pem",
                                                          "emulator-key.pem"]
    assert os.stat(directory / "emulator-key.pem").st_mode & 0o777 == 0o600
    cert.verify_directly_issued_by(ca)


def test_cert_dir_is_reused_while_valid_and_repaired_when_not(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "tls")
    ca_bytes = Path(first.ca_cert).read_bytes()
    assert ensure_certificates(tmp_path / "tls") == first
    assert Path(first.ca_cert).read_bytes() == ca_bytes
    Path(first.cert).write_text("not a certificate")
    repaired = ensure_certificates(tmp_path / "tls")
    assert repaired == first
    assert Path(first.ca_cert).read_bytes() != ca_bytes
    x509.load_pem_x509_certificate(Path(first.cert).read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(Path(first.ca_cert).read_bytes()))


def test_given_cert_dir_survives_stop_and_serves_again(make_emulator, tmp_path: Path) -> None:
    tenant = generate_tenant(50, 1)
    first = make_emulator(tenant=tenant, cert_dir=str(tmp_path))
    ca_bytes = Path(first.ca_cert).read_bytes()
    first.stop()
    second = make_emulator(tenant=tenant, cert_dir=str(tmp_path))
    assert second.ca_cert == str(tmp_path / "emulator-ca.pem")
    assert Path(second.ca_cert).read_bytes() == ca_bytes
    assert get_tls(f"{second.authority}{DISCOVERY}", second.ca_cert).status_code == 200


# --- isolation and shutdown --------------------------------------------------------------------


def test_two_emulators_share_neither_tenant_nor_keys(make_emulator) -> None:
    a = make_emulator(users=50, seed=3)
    b = make_emulator(users=50, seed=3)  # same seed: same tenant id and demo app, separate worlds
    assert a.tenant_id == b.tenant_id
    assert a.graph_url != b.graph_url and a.authority != b.authority
    assert a.state.tenant is not b.state.tenant
    assert a.state.signing_key != b.state.signing_key
    token_a = confidential_app(a).acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"]
    assert verify_bearer(a.state, f"Bearer {token_a}").app_id == a.client_id
    with pytest.raises(EmulatedGraphError) as caught:
        verify_bearer(b.state, f"Bearer {token_a}")
    assert (caught.value.status, caught.value.code) == (401, "InvalidAuthenticationToken")
    user_a = next(u for u in a.state.tenant.users if u.mfa_state == "disabled" and not u.methods)
    a.state.tenant.set_mfa_state(user_a, "enforced", "admin@test")
    user_b = b.state.tenant.lookup(user_a.id)
    assert user_b is not None and user_b is not user_a
    assert (user_a.mfa_state, user_b.mfa_state) == ("enforced", "disabled")


def test_another_tenants_app_is_unknown_here(make_emulator) -> None:
    a = make_emulator(users=50, seed=3)
    b = make_emulator(users=50, seed=4)
    assert a.tenant_id != b.tenant_id
    app = confidential_app(b, client_id=a.client_id, client_credential=a.client_secret)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("unauthorized_client", [700016])


def test_stop_closes_both_listeners_and_removes_its_temporary_cert_dir(make_emulator) -> None:
    running = make_emulator(tenant=generate_tenant(50, 2))
    cert_dir = Path(running.ca_cert).parent
    confidential_app(running).acquire_token_for_client(scopes=[GRAPH_SCOPE])  # leaves a keep-alive connection
    running.stop()
    assert not running.running
    assert not cert_dir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.graph_url}/")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.authority}{DISCOVERY}", verify=False)
    running.stop()  # idempotent


def test_context_manager_stops() -> None:
    with start_emulator(generate_tenant(50, 2)) as running:
        assert running.running
    assert not running.running


def test_build_app_serves_the_state_it_is_given() -> None:
    state = EmulatorState(generate_tenant(50, 2), graph_url="http://127.0.0.1:1", authority_host="https://127.0.0.1:2")

    async def get(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1:2") as client:
            return await client.get(path)

    response = asyncio.run(get(f"/{state.tenant.id}{DISCOVERY}"))
    assert response.json()["token_endpoint"] == f"https://127.0.0.1:2/{state.tenant.id}/oauth2/v2.0/token"
    assert asyncio.run(get("/v1.0/organization")).status_code == 401


# --- python -m lib.emulator --------------------------------------------------------------------


def run_module(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lib.emulator", *args], cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_module_prints_one_json_line_and_stops_cleanly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    process = run_module("--port", "0", "--users", "50", "--seed", "3", "--no-premium", "--latency-ms", "5",
                         "--time-scale", "0.5", "--fault-rate", "0.1", "--cert-dir", str(tmp_path))
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        info = json.loads(line)
        tenant = generate_tenant(50, 3, premium=False)
        assert sorted(info) == ["authority", "ca_cert", "client_id", "client_secret", "control_key", "graph",
                                "loaded", "pid", "premium", "public_client_id", "tenant_id", "users"]
        assert (info["pid"], info["loaded"]) == (process.pid, False)
        assert info["public_client_id"] == demo_public_app(tenant).client_id
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", info["graph"])
        assert re.fullmatch(rf"https://127\.0\.0\.1:\d+/{tenant.id}", info["authority"])
        assert (info["tenant_id"], info["client_id"], info["client_secret"]) == (
            tenant.id, demo_app(tenant).client_id, demo_app(tenant).client_secret)
        assert (info["ca_cert"], info["users"], info["premium"]) == (
            str(tmp_path / "emulator-ca.pem"), 50, False)
        assert len(info["control_key"]) >= 32  # the printed key is the only way into its control routes
        stats = f"{info['graph']}/_emulator/stats"
        assert httpx.get(stats, trust_env=False).status_code == 403
        assert httpx.get(stats, headers={"X-Emulator-Control": info["control_key"]}, trust_env=False).status_code == 200
        response = get_tls(f"{info['authority']}{DISCOVERY}", info["ca_cert"])
        assert response.status_code == 200
        assert response.json()["issuer"] == f"{info['authority']}/v2.0"
        process.send_signal(stop_signal)
        assert process.wait(timeout=15) == 0
        assert process.stdout.read() == ""
        assert process.stderr is not None and process.stderr.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_module_rejects_too_few_users_with_exit_2() -> None:
    process = run_module("--users", "10")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.splitlines()[-1] == (
        "python -m lib.emulator: error: argument --users: must be between 50 and 200000, got 10")


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "200001"], "argument --users: must be between 50 and 200000, got 200001"),
    (["--users", "many"], "argument --users: expected an integer, got 'many'"),
    (["--seed", "1.5"], "argument --seed: expected an integer, got '1.5'"),
    (["--port", "70000"], "argument --port: must be a port between 0 and 65535, got 70000"),
    (["--fault-rate", "1.5"], "argument --fault-rate: must be a number between 0 and 1, got 1.5"),
    (["--time-scale", "0"], "argument --time-scale: must be a number > 0, got 0"),
    (["--latency-ms", "-1"], "argument --latency-ms: must be a number >= 0, got -1"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_module_argument_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m lib.emulator: error: {message}"


def test_module_reports_a_busy_port(emulator: RunningEmulator) -> None:
    busy = emulator.graph_url.rsplit(":", 1)[1]
    process = run_module("--port", busy, "--users", "50")
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out) == (1, "")
    assert err == "python -m lib.emulator: error: [Errno 98] Address already in use\n"


def test_the_server_says_when_it_is_quiet_so_the_demo_saves_its_tenant_then(emulator: RunningEmulator) -> None:
    stats = emulator_stats(emulator.state)
    emulator.state.config.hold_requests = True
    request = threading.Thread(target=httpx.get, args=(f"{emulator.graph_url}/v1.0/users",))
    request.start()
    try:
        deadline = time.monotonic() + 30
        while stats.held == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stats.in_flight == 1 and not stats.quiet_for(0)  # a request in flight
    finally:
        emulator.state.config.hold_requests = False
        request.join(30)
    assert stats.in_flight == 0 and stats.quiet_for(0)
    assert not stats.quiet_for(3600)  # ... and one answered just now
