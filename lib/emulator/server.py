"""Serving one emulator: the same Starlette app on plain http (Graph) and on TLS (the authority).

kiota accepts plain http on loopback, so Graph is served at ``graph_url`` without TLS; MSAL
insists on an https authority, so the identity endpoints are reached through a second listener
with a certificate from ``tls.py``. Both listeners serve the same app (and so the same state) from
one event loop in a daemon thread, which lets tests, benchmarks and the Streamlit demo run an
emulator in-process, and several at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lib.emulator.control import control_routes
from lib.emulator.error_responses import EmulatedGraphError, IdentityError
from lib.emulator.generator import demo_app, generate_tenant
from lib.emulator.graph_api import graph_routes
from lib.emulator.identity import identity_error_response, identity_routes
from lib.emulator.model import SyntheticTenant
from lib.emulator.state import EmulatorConfig, EmulatorState
from lib.emulator.tls import ensure_certificates

__all__ = ["RunningEmulator", "build_app", "start_emulator"]

GRAPH_PREFIXES = ("/v1.0/", "/beta/")

BACKLOG = 2048
LIMIT_CONCURRENCY = 4096
"""Connections + in-flight requests per listener before uvicorn answers 503: well above the
hundreds of concurrent connections a bulk run or a benchmark opens."""
KEEP_ALIVE_SECONDS = 30
"""Longer than httpx's 5 s pool expiry, so the server never closes a connection a client is reusing."""


def build_app(state: EmulatorState) -> Starlette:
    """The emulator's ASGI app for ``state``: identity, Graph and control routes, in that order."""
    return Starlette(
        routes=identity_routes(state) + graph_routes(state) + control_routes(state),
        exception_handlers={
            404: _not_found,
            EmulatedGraphError: _graph_error,
            IdentityError: _identity_error,
        },
    )


async def _not_found(request: Request, exc: Exception) -> Response:
    path = request.url.path
    if path.startswith(GRAPH_PREFIXES):
        # What Graph answers for a path it has no resource for (graph_routes may answer first).
        segment = path.split("/")[2]
        err = EmulatedGraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        return JSONResponse(err.body(request.headers.get("client-request-id")), status_code=400)
    body = {"error": "not_found", "error_description": f"The emulator serves nothing at {path}."}
    return JSONResponse(body, status_code=404)


async def _graph_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EmulatedGraphError)
    return JSONResponse(exc.body(request.headers.get("client-request-id")), status_code=exc.status,
                        headers=exc.headers)


async def _identity_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdentityError)
    return identity_error_response(exc)


class _Server(uvicorn.Server):
    """A uvicorn server that never touches signal handlers (it runs beside someone else's main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown, minus the wait for idle keep-alive connections.

        Closing an idle TLS connection waits (up to 30 s) for the client's close_notify, which a pooled
        client never sends; so connections with no request in flight and nothing left to write are
        aborted. Requests in flight still finish within ``timeout_graceful_shutdown``.
        """
        stopping = asyncio.ensure_future(super().shutdown(sockets))
        while not stopping.done():
            for connection in list(self.server_state.connections):
                cycle = getattr(connection, "cycle", None)
                transport = getattr(connection, "transport", None)
                idle = cycle is None or getattr(cycle, "response_complete", True)
                if idle and transport is not None and transport.get_write_buffer_size() == 0:
                    transport.abort()
            await asyncio.wait({stopping}, timeout=0.02)
        await stopping


@dataclass
class RunningEmulator:
    """An emulator serving in a background thread. ``stop()`` (or leaving ``with``) shuts it down."""

    graph_url: str
    """Plain-http base URL of Graph: ``{graph_url}/v1.0``, ``{graph_url}/beta``."""
    authority: str
    """``https://127.0.0.1:{tls_port}/{tenant_id}``: pass to MSAL as ``authority``."""
    tenant_id: str
    client_id: str
    """The demo app-only (client credentials) app."""
    client_secret: str = field(repr=False)
    ca_cert: str
    """PEM file clients must trust for the authority (MSAL: ``http_client.verify``)."""
    state: EmulatorState = field(repr=False)
    _servers: list[_Server] = field(default_factory=list, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _owned_dir: Path | None = field(default=None, repr=False)
    _errors: list[BaseException] = field(default_factory=list, repr=False)

    @property
    def control_key(self) -> str:
        """The key its control routes (``/_emulator/…``) demand in ``X-Emulator-Control``; new every run."""
        return self.state.control_key

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both listeners and wait for the thread; idempotent."""
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                for server in self._servers:
                    server.force_exit = True
                self._thread.join(timeout)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _loopback(host: str) -> str:
    """``host`` if it is a loopback address or ``localhost``: the demo tenant never leaves the machine."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the emulator serves on loopback only (127.0.0.1, ::1 or localhost), not {host!r}")


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0) lets asyncio set TCP_NODELAY on accepted sockets; set it here too, or every
    # small response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _config(app: Starlette, **tls: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, loop="asyncio", http="h11", lifespan="off", log_config=None, log_level="warning",
        access_log=False, backlog=BACKLOG, limit_concurrency=LIMIT_CONCURRENCY,
        timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=3, **tls,
    )


def _serve(servers: list[_Server], sockets: list[socket.socket], errors: list[BaseException]) -> None:
    """Thread body: one event loop running every server; if one ends, all end."""

    async def run_one(server: _Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            for other in servers:
                other.should_exit = True

    async def main() -> None:
        await asyncio.gather(*(run_one(s, sock) for s, sock in zip(servers, sockets, strict=True)))

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported to the starting thread
        errors.append(exc)
    finally:
        for sock in sockets:
            sock.close()


def start_emulator(
    tenant: SyntheticTenant | None = None,
    *,
    users: int = 300,
    seed: int = 7,
    premium: bool = True,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    tls_port: int = 0,
    cert_dir: str | None = None,
    startup_timeout: float = 15.0,
) -> RunningEmulator:
    """Serve ``tenant`` (or a generated one) on ``port`` (http) and ``tls_port`` (https); 0 picks free ports.

    ``users``/``seed``/``premium`` only matter when no ``tenant`` is given. Returns once both listeners
    accept connections. ``cert_dir`` keeps the TLS files between runs; without it they go to a
    private temporary directory removed by ``stop()``. Raises ValueError for a non-loopback host,
    OSError for a busy port, RuntimeError if uvicorn does not come up.
    """
    host = _loopback(host)
    if tenant is None:
        tenant = generate_tenant(users, seed, premium)
    app_registration = demo_app(tenant)
    sockets: list[socket.socket] = []
    try:
        sockets.append(_bind(host, port))
        sockets.append(_bind(host, tls_port))
        http_port, tls_port = (sock.getsockname()[1] for sock in sockets)
        tls_files = ensure_certificates(cert_dir)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    owned = Path(tls_files.ca_cert).parent if cert_dir is None else None

    state = EmulatorState(tenant=tenant, config=config or EmulatorConfig())
    url_host = _url_host(host)
    state.graph_url = f"http://{url_host}:{http_port}"
    state.authority_host = f"https://{url_host}:{tls_port}"
    state.ca_cert_path = tls_files.ca_cert
    app = build_app(state)
    servers = [
        _Server(_config(app)),
        _Server(_config(app, ssl_certfile=tls_files.cert, ssl_keyfile=tls_files.key)),
    ]
    errors: list[BaseException] = []
    thread = threading.Thread(target=_serve, args=(servers, sockets, errors), daemon=True,
                              name=f"emulator-{http_port}")
    running = RunningEmulator(
        graph_url=state.graph_url, authority=state.authority, tenant_id=tenant.id,
        client_id=app_registration.client_id, client_secret=app_registration.client_secret or "",
        ca_cert=tls_files.ca_cert, state=state, _servers=servers, _thread=thread, _owned_dir=owned,
        _errors=errors,
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not all(s.started for s in servers):
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop()
            cause = errors[0] if errors else None
            reason = f"failed to start: {cause!r}" if cause else f"did not start within {startup_timeout:g} s"
            raise RuntimeError(f"the emulator {reason}") from cause
        time.sleep(0.005)
    return running
