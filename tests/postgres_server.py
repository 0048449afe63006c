"""A throwaway PostgreSQL server for the test session, from Debian's binaries.

``start_postgres()`` runs ``initdb`` into a temporary folder, starts the server on a free loopback
port (no durability: fsync, synchronous commit and full-page writes are off) and returns a
:class:`PostgresServer` that creates one database per test and stops and removes everything at the
end. The server never listens beyond 127.0.0.1 and its socket lives in the temporary folder.

PostgreSQL refuses to run as root: when the tests run as root (CI containers), the server runs as
an unprivileged account (``postgres`` or ``nobody`` if present, else a system user created for it)
through ``runuser``/``setpriv``; as any other user it runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.engine import URL

REQUIRED_ENV = "MFA_TEST_POSTGRES"
"""``required``: a missing server fails the tests instead of skipping them (CI); ``skip``: never start one."""

SUPERUSER = "mfa_test"
SERVICE_ACCOUNTS = ("postgres", "nobody")
"""Unprivileged accounts the server may run as when the tests run as root, first found wins."""
CREATED_ACCOUNT = "mfa-test-pg"
"""The system user created when none of ``SERVICE_ACCOUNTS`` exists."""
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "32MB",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine, or the server would not start (the message says why)."""


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


def find_bindir() -> Path | None:
    """The folder of ``initdb``/``pg_ctl``: Debian's newest ``/usr/lib/postgresql/N/bin``, else ``pg_config``'s."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        bindir = Path(found.stdout.strip())
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _service_account() -> pwd.struct_passwd:
    """The unprivileged account to run the server as (root only): an existing one, else a new system user."""
    for name in (*SERVICE_ACCOUNTS, CREATED_ACCOUNT):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresUnavailable("running as root, no unprivileged account to run PostgreSQL as, and no useradd")
    subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", CREATED_ACCOUNT],
                   check=True, capture_output=True, timeout=60)
    return pwd.getpwnam(CREATED_ACCOUNT)


def _as_user_prefix(account: pwd.struct_passwd | None) -> list[str]:
    """The command prefix that runs a program as ``account`` (nothing when not root)."""
    if account is None:
        return []
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", account.pw_name, "--"]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"]
    raise PostgresUnavailable("running as root, but neither runuser nor setpriv is there to drop privileges")


@dataclass
class PostgresServer:
    """A running throwaway server: ``url(name)`` for SQLAlchemy, ``create_database()`` per test."""

    bindir: Path
    root: Path
    port: int
    password: str
    prefix: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    _count: int = 0

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", drivername: str = "postgresql") -> str:
        """A URL with the password (the form ``MFA_DATABASE_URL`` takes)."""
        return URL.create(drivername, username=self.user, password=self.password, host=self.host, port=self.port,
                          database=database).render_as_string(hide_password=False)

    def _admin(self) -> Any:
        """An autocommit psycopg connection to the maintenance database (psycopg is imported only here)."""
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its URL."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with self._admin() as conn:
            # FILE_COPY (PostgreSQL 15+) copies the template's files: 10x faster than WAL-logging them.
            strategy = " STRATEGY = FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(f'CREATE DATABASE "{name}"{strategy}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database`` (connections still open to it are ended)."""
        database = make_url(url).database
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server (fast: open sessions are ended) and remove its folder."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                subprocess.run([*self.prefix, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir),
                                "-m", "fast", "-w", "-t", "60"], capture_output=True, timeout=90, cwd=self.root)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _run(command: list[str], what: str, cwd: Path) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=cwd)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PostgresUnavailable(f"{what} could not run: {exc}") from exc
    if done.returncode != 0:
        raise PostgresUnavailable(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


def _wait_ready(server: PostgresServer, timeout: float = 60.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with server._admin() as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"PostgreSQL did not accept connections: {exc}\n{server.log_tail()}") from exc
            time.sleep(0.1)


def start_postgres(bindir: Path | None = None, attempts: int = 3) -> PostgresServer:
    """initdb, start and wait for a server; ``PostgresUnavailable`` says why when it cannot."""
    bindir = bindir or find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or `pg_config --bindir`; "
            "install them with `apt-get install postgresql`")
    try:
        import psycopg  # noqa: F401 - the driver must be there before anything starts
    except ImportError as exc:
        raise PostgresUnavailable(f"the PostgreSQL driver is not installed ({exc}); pip install -r requirements.txt") \
            from exc
    account = _service_account() if os.geteuid() == 0 else None
    prefix = _as_user_prefix(account)
    root = Path(tempfile.mkdtemp(prefix="mfa-test-pg-"))
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        password = secrets.token_hex(16)
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if account is not None:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        server = PostgresServer(bindir=bindir, root=root, port=0, password=password, prefix=prefix)
        _run([*prefix, str(bindir / "initdb"), "-D", str(server.data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
              "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C", "--no-sync",
              "--no-instructions"], "initdb", root)
        pwfile.unlink()
        options = " ".join(f"-c {key}={value}" for key, value in {**SETTINGS,
                                                                  "unix_socket_directories": str(root)}.items())
        for attempt in range(attempts):
            server.port = _free_port()  # another process may take it before the server binds: then retry
            try:
                _run([*prefix, str(bindir / "pg_ctl"), "start", "-D", str(server.data_dir), "-l", str(server.log_file),
                      "-w", "-t", "60", "-o", f"-p {server.port} {options}"], "pg_ctl start", root)
                break
            except PostgresUnavailable as exc:
                if attempt == attempts - 1:
                    raise PostgresUnavailable(f"{exc}\n{server.log_tail()}") from exc
        _wait_ready(server)
        return server
    except BaseException:
        PostgresServer(bindir=bindir, root=root, port=0, password="", prefix=prefix).stop()
        raise


def server_for_tests(environ: Mapping[str, str] | None = None,
                     start: Callable[[], PostgresServer] = start_postgres) -> PostgresServer:
    """The session's server, or the pytest outcome when there is none.

    ``MFA_TEST_POSTGRES=required``: a server that cannot start FAILS the tests (CI never skips them
    silently); ``skip``: no server is started; unset: the tests skip, saying why.
    """
    import pytest

    mode = (os.environ if environ is None else environ).get(REQUIRED_ENV, "").strip().lower()
    if mode in ("skip", "off", "0", "no"):
        pytest.skip(f"PostgreSQL tests turned off ({REQUIRED_ENV}={mode})")
    try:
        return start()
    except PostgresUnavailable as exc:
        if mode == "required":
            pytest.fail(f"{REQUIRED_ENV}=required, but no PostgreSQL server could be started: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL unavailable ({exc}); set {REQUIRED_ENV}=required to fail instead")
