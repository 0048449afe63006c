"""The demo tenant in its own process: started with the app, gone with it, built once and reused.

Everything is real: ``python -m lib.emulator`` as a child process, ``streamlit run app.py`` for the kill test,
AppTest for the sign-in page while the history is being built (frozen there with the demo tenant's
``hold_requests`` switch, not with a race), SQLite stores in temporary data folders.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from streamlit.testing.v1 import AppTest

from lib.cli import main as cli
from lib.demo import demo_tenant, ensure_demo_history, history_build, tenant_file
from lib.demo_process import control
from lib.settings import Settings, load_settings
from lib.store import open_store
from lib.ui.context import AUTH_KEY
from tests.ui_fixtures import ADMIN, ROOT, signed_in_session

DEADLINE_S = 90.0
T = TypeVar("T")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _until(check: Callable[[], T], what: str, deadline_s: float = DEADLINE_S) -> T:
    """Poll ``check`` until it gives something truthy, or fail after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} within {deadline_s:g} s")


@pytest.fixture
def folder_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A demo console of its own: a new data folder, a 50-user demo tenant."""
    for key in ("MFA_TENANT_ID", "MFA_CLIENT_ID", "MFA_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("MFA_DEMO_USERS", "50")
    monkeypatch.setenv("MFA_DEMO_SEED", "11")
    settings = load_settings({}, os.environ)
    yield settings
    demo = demo_tenant(settings)
    if demo.process is not None:
        demo.process.stop()


def test_a_restart_reuses_the_saved_tenant_and_its_history(folder_settings: Settings) -> None:
    first = demo_tenant(folder_settings)
    assert first.process is not None and not first.emulator.loaded  # generated on the first start
    assert _parent(first.process.pid) == os.getpid()
    with open_store(folder_settings.database_url) as store:
        assert ensure_demo_history(store, first) is True
        snapshots = len(store.list_snapshots(first.emulator.tenant_id))
    assert snapshots == 91  # 90 simulated days and today's
    moved = control(first.emulator, "POST", "/clock/advance", {"days": 2})["now"]
    first.process.stop()
    assert not first.running

    again = demo_tenant(folder_settings)  # the console restarted: a new process, the same tenant file
    assert again.process is not None and again.process.pid != first.process.pid
    assert again.emulator.loaded and again.emulator.tenant_id == first.emulator.tenant_id
    assert control(again.emulator, "GET", "/clock")["tenant_now"].startswith(moved.removesuffix("Z"))
    control(again.emulator, "POST", "/stats/reset")
    with open_store(folder_settings.database_url) as store:
        build = history_build(store, again)
        assert build.ready and not build.built  # nothing rebuilt
        assert ensure_demo_history(store, again) is False
        assert len(store.list_snapshots(again.emulator.tenant_id)) == snapshots
    assert control(again.emulator, "GET", "/stats")["requests"] == 0  # not one Graph request


def test_one_tenant_file_has_one_server_and_the_cli_uses_it(folder_settings: Settings, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    demo = demo_tenant(folder_settings)
    second = subprocess.run(
        [sys.executable, "-m", "lib.emulator", "--users", "50", "--seed", "11", "--tenant-file",
         str(tenant_file(folder_settings))],
        cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S, stdin=subprocess.DEVNULL)
    assert second.returncode == 1 and "another demo tenant server already serves" in second.stderr
    control(demo.emulator, "POST", "/stats/reset")
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli(["snapshot", "--demo", "--db", db]) == 0  # the CLI's --demo: the app's demo tenant, not another
    report = json.loads(capsys.readouterr().out)
    assert report["tenant_id"] == demo.emulator.tenant_id
    assert control(demo.emulator, "GET", "/stats")["requests"] > 0
    assert demo.running


def _children_running(module: str) -> list[int]:
    """This process's live children running ``python -m module``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if module.encode() in argv and _parent(int(entry.name)) == os.getpid():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _signed_in_app(session: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[AUTH_KEY] = session
    at.run()
    return at


def test_the_sign_in_page_is_usable_while_the_history_is_built(folder_settings: Settings) -> None:
    demo = demo_tenant(folder_settings)
    session = signed_in_session(folder_settings, ADMIN)
    control(demo.emulator, "PATCH", "/config", {"hold_requests": True})  # the build waits at its first read
    try:
        anonymous = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        anonymous.run()
        assert not anonymous.exception
        page = " ".join(m.value for m in anonymous.markdown)
        assert 'id="sign-in-link"' in page
        assert [p.proto.text for p in anonymous.get("progress")] == [
            "Preparing the demo tenant's 90-day history: Starting…"]
        _until(lambda: control(demo.emulator, "GET", "/stats")["held"] >= 1,  # the build really is under way
               "the history build did not reach the demo tenant")
        assert _children_running("lib.demo_seed")  # in a process of its own, not in the pages' process

        signed_in = _signed_in_app(session)
        assert not signed_in.exception
        assert [t.value for t in signed_in.title] == ["Preparing the demo tenant"]
        assert "Refresh data" not in [b.label for b in signed_in.button]  # no refresh during the first build
    finally:
        control(demo.emulator, "PATCH", "/config", {"hold_requests": False})

    def overview() -> AppTest | None:  # a new tab each time: AppTest reruns a page's file past app.py
        at = _signed_in_app(session)
        return at if "Preparing the demo tenant" not in [t.value for t in at.title] else None

    ready = _until(overview, "the overview did not replace the preparing page")
    assert not ready.exception and [t.value for t in ready.title] == ["Adoption overview"]
    with open_store(folder_settings.database_url) as store:
        assert len(store.list_snapshots(demo.emulator.tenant_id)) == 91


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_demo_tenant_dies_with_the_app_even_by_kill_9(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({"MFA_CONSOLE_DATA": str(tmp_path / "data"), "MFA_DEMO_USERS": "50", "MFA_DEMO_SEED": "5"})
    log = (tmp_path / "streamlit.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(_free_port()), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none",
         "--secrets.files", str(tmp_path / "no-secrets.toml")],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        info = tmp_path / "data" / "demo-tenant-50-5-p1.running.json"

        def child_pid() -> int:  # started with the server, before any browser came
            try:
                return int(json.loads(info.read_bytes())["pid"])
            except (OSError, ValueError, KeyError):
                return 0

        child = _until(child_pid, "the app did not start the demo tenant's process")
        assert _alive(child) and _parent(child) == app.pid
        app.send_signal(signal.SIGKILL)
        app.wait(DEADLINE_S)
        _until(lambda: not _alive(child), f"the demo tenant (pid {child}) outlived the app")
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        log.close()


def test_the_cli_starts_its_own_demo_tenant_when_no_app_serves_it_and_stops_it(
        folder_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli(["snapshot", "--demo", "--db", db]) == 0
    report = json.loads(capsys.readouterr().out)
    started = json.loads((folder_settings.data_dir / "demo-tenant-50-11-p1.running.json").read_bytes())
    assert report["tenant_id"] == started["tenant_id"] and report["users"] == 50
    _until(lambda: not _alive(started["pid"]), "the demo tenant the CLI started outlived the command")


def test_the_benchmarks_start_the_demo_tenant_through_the_one_helper() -> None:
    """Benchmarks of the console start the demo tenant with lib.demo_process (or lib.demo), never by hand;
    the two that measure the emulator itself run it in-process on purpose."""
    own = {"emulator.py", "batch_executor.py"}
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted((ROOT / "bench").glob("*.py"))}
    assert [name for name, text in texts.items() if name not in own and '"lib.emulator"' in text] == []
    users = [name for name, text in texts.items() if "start_demo_process" in text or "demo_tenant(" in text]
    assert {"apply.py", "snapshot.py", "overview.py", "gc_refresh.py"} <= set(users)
