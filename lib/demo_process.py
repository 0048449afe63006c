"""The demo tenant's own process: ``python -m lib.emulator``, started by the app, the CLI and the benchmarks.

The demo tenant (a 100k-user tenant is over a million Python objects) lives in a child process, not in the
console's: the console reaches it over HTTP exactly as it reaches Microsoft, and the console's garbage
collections never walk it. The child must not outlive whoever started it, however that one ends:

- it reads its standard input, a pipe whose only write end the parent holds and never writes to; when the
  parent dies (Ctrl-C, a crash, ``kill -9``) the kernel closes that end, the child reads end of file and
  stops (``--exit-with-stdin``), saving its tenant first;
- a parent that exits normally also stops it (``atexit``: SIGTERM, then the wait for its last save);
- a terminal's Ctrl-C reaches both, as they share the process group.

``PR_SET_PDEATHSIG`` is not used: Linux sends it when the *thread* that started the child ends, and the app
starts it from a Streamlit script thread, which ends after every run.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from lib.errors import ConsoleError

__all__ = ["CONTROL_HEADER", "DemoLink", "DemoProcess", "DemoTenantError", "control", "start_demo_process"]

CONTROL_HEADER = "X-Emulator-Control"
"""The header the demo tenant's control routes read their per-run key from (lib/emulator/control.py)."""
ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 600.0
"""Generating a 200,000-user tenant on a loaded 2-core machine takes well under a minute; this is the
point where waiting longer means something is wrong."""


class DemoTenantError(ConsoleError, RuntimeError):
    """The demo tenant's process did not start, or does not answer as it should."""

    code = "demo_tenant"


@dataclass(frozen=True)
class DemoLink:
    """How to reach a demo tenant: the line its process printed (secrets kept out of ``repr``)."""

    graph_url: str
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_cert: str
    control_key: str = field(repr=False)
    public_client_id: str = ""
    loaded: bool = False
    """Whether the tenant came from its file (a restart) rather than being generated."""

    def as_line(self) -> dict[str, Any]:
        """The line again (for a process that needs to reach the same demo tenant: hand it over a pipe)."""
        return {"graph": self.graph_url, "authority": self.authority, "tenant_id": self.tenant_id,
                "client_id": self.client_id, "client_secret": self.client_secret, "ca_cert": self.ca_cert,
                "control_key": self.control_key, "public_client_id": self.public_client_id, "loaded": self.loaded}

    @classmethod
    def from_line(cls, info: dict[str, Any]) -> DemoLink:
        return cls(graph_url=info["graph"], authority=info["authority"], tenant_id=info["tenant_id"],
                   client_id=info["client_id"], client_secret=info["client_secret"], ca_cert=info["ca_cert"],
                   control_key=info["control_key"], public_client_id=info.get("public_client_id", ""),
                   loaded=bool(info.get("loaded", False)))


_client_lock = threading.Lock()
_client: httpx.Client | None = None


def _control_client() -> httpx.Client:
    """One client for every control call of this process: the console asks the demo tenant's clock on page
    runs, and a new client per call builds a TLS context each time (tens of milliseconds of CPU)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(trust_env=False)
        return _client


def control(link: Any, method: str, route: str, body: dict | None = None, timeout: float = 600.0) -> Any:
    """Call a control route (``/_emulator{route}``) of the demo tenant ``link`` points at (anything with
    ``graph_url`` and ``control_key``: a :class:`DemoLink`, or an in-process server); its JSON answer."""
    headers = {CONTROL_HEADER: link.control_key}
    try:
        response = _control_client().request(
            method, link.graph_url.rstrip("/") + "/_emulator" + route, headers=headers,
            json=(body or {}) if method != "GET" else None, timeout=timeout)
    except httpx.HTTPError as err:
        raise DemoTenantError(f"The demo tenant did not answer ({type(err).__name__}).") from None
    if response.status_code >= 400:
        try:
            reason = response.json().get("error", "")
        except ValueError:
            reason = ""
        raise DemoTenantError(f"The demo tenant refused {route} ({response.status_code}{': ' if reason else ''}"
                              f"{reason}).")
    return response.json() if response.content else None


@dataclass
class DemoProcess:
    """A running ``python -m lib.emulator`` this process started; :meth:`stop` ends it (idempotent)."""

    proc: subprocess.Popen[bytes] = field(repr=False)
    link: DemoLink
    line: dict[str, Any] = field(repr=False)
    """The JSON line it printed (holds its app secret and control key)."""
    log_path: Path
    started_s: float
    """Seconds from the start to its JSON line (the tenant generated or loaded, both listeners up)."""
    _stdin: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, then wait for its last save of the tenant (``timeout``), then SIGKILL."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self._stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


_started: list[DemoProcess] = []
_started_lock = threading.Lock()


def _stop_all() -> None:
    with _started_lock:
        running = list(_started)
    for process in running:
        process.stop()


atexit.register(_stop_all)


def _read_line(proc: subprocess.Popen[bytes], deadline: float) -> bytes:
    """The child's first stdout line, or b"" if it exits (end of file) or the deadline passes first."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                return b""
            if not selector.select(min(left, 1.0)):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return b""
            data += chunk
    return data.split(b"\n", 1)[0]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " ".join(text[-lines:])


def start_demo_process(*, users: int, seed: int, premium: bool = True, tenant_file: Path | None = None,
                       cert_dir: Path | None = None, log_path: Path | None = None,
                       extra_args: tuple[str, ...] = (), startup_timeout: float = STARTUP_TIMEOUT_S) -> DemoProcess:
    """Start the demo tenant in its own process and return once it serves (its JSON line has come).

    ``tenant_file`` keeps the tenant between runs (loaded if valid, else generated and written);
    ``extra_args`` go to ``python -m lib.emulator`` (``--latency-ms 50``, ``--time-scale 0.1``…). Its
    stderr goes to ``log_path`` (default: a temporary file). Raises :class:`DemoTenantError` with the
    child's last words when it does not come up.
    """
    command = [sys.executable, "-m", "lib.emulator", "--users", str(users), "--seed", str(seed),
               "--exit-with-stdin", *extra_args]
    if not premium:
        command.append("--no-premium")
    if tenant_file is not None:
        command += ["--tenant-file", str(tenant_file)]
    if cert_dir is not None:
        command += ["--cert-dir", str(cert_dir)]
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="demo-tenant-", suffix=".log")
        os.close(handle)
        log_path = Path(name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    begun = time.monotonic()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=fd)
    finally:
        os.close(fd)
    line = _read_line(proc, begun + startup_timeout)
    try:
        info = json.loads(line) if line else None
        link = DemoLink.from_line(info) if isinstance(info, dict) else None
    except (ValueError, KeyError, TypeError):
        link = None
    if link is None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        said = _tail(log_path)
        raise DemoTenantError("The demo tenant did not start" + (f": {said}" if said else
                              f" within {startup_timeout:g} s") + ".")
    process = DemoProcess(proc, link, info, log_path, time.monotonic() - begun, _stdin=proc.stdin)
    with _started_lock:
        _started.append(process)
    return process
