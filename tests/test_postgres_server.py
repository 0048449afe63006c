"""The throwaway PostgreSQL server of the test session: found, started, isolated, and never silently missing."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import psycopg
import pytest

from tests import postgres_server as pg


def test_missing_binaries_skip_by_default_and_fail_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    assert pg.find_bindir() is None
    with pytest.raises(pg.PostgresUnavailable, match=r"apt-get install postgresql"):
        pg.start_postgres()
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL unavailable .*MFA_TEST_POSTGRES=required"):
        pg.server_for_tests({})
    with pytest.raises(pytest.fail.Exception, match=r"MFA_TEST_POSTGRES=required, but no PostgreSQL server"):
        pg.server_for_tests({"MFA_TEST_POSTGRES": "required"})
    with pytest.raises(pytest.skip.Exception, match="turned off"):
        pg.server_for_tests({"MFA_TEST_POSTGRES": "skip"}, start=lambda: pytest.fail("must not start"))


def test_newest_debian_version_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for version in ("9.6", "15", "13"):
        bindir = tmp_path / version / "bin"
        bindir.mkdir(parents=True)
        for name in ("initdb", "pg_ctl"):
            (bindir / name).touch()
    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [str(p) for p in tmp_path.glob("*/bin")])
    assert pg.find_bindir() == tmp_path / "15" / "bin"


def test_the_session_server_listens_on_loopback_only(postgres_server: pg.PostgresServer) -> None:
    server = postgres_server
    assert server.host == "127.0.0.1"
    with psycopg.connect(server.url()) as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('listen_addresses', 'fsync', "
            "'synchronous_commit', 'full_page_writes', 'unix_socket_directories')").fetchall())
    assert settings == {"listen_addresses": "127.0.0.1", "fsync": "off", "synchronous_commit": "off",
                        "full_page_writes": "off", "unix_socket_directories": str(server.root)}
    with socket.create_connection((server.host, server.port), timeout=5):
        pass
    mode = stat.S_IMODE(os.stat(server.data_dir).st_mode)
    assert mode & 0o077 == 0  # PostgreSQL's own requirement: the data folder is private to its owner
    if os.geteuid() == 0:
        assert os.stat(server.data_dir).st_uid != 0  # it refuses root; it runs as an unprivileged account


def test_each_test_gets_its_own_empty_database(postgres_server: pg.PostgresServer, postgres_url: str) -> None:
    other = postgres_server.create_database("other")
    try:
        assert other != postgres_url
        with psycopg.connect(postgres_url) as mine:
            mine.execute("CREATE TABLE only_here (id int)")
            mine.commit()
        with psycopg.connect(other) as theirs:
            assert theirs.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").fetchone() == (0,)
    finally:
        postgres_server.drop_database(other)
    with psycopg.connect(postgres_server.url()) as admin:
        name = other.rsplit("/", 1)[1]
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone() == (0,)
