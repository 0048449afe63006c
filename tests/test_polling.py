"""Sections that follow a background refresh poll only while it runs; the demo says its throttle is sped up.

Every rerun (a fragment's too) ends with a full garbage collection, so a page left open must not rerun
anything each second while nothing runs. What polls is what the page asks the browser to rerun: Streamlit's
``auto_rerun`` messages, recorded here as the page sends them (a spy: Streamlit's own context still
sends every message). The refresh is a real one (the demo tenant over HTTP, the store's SQLite file), held at its
first step by an event the test sets, so no test waits on a clock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext
from streamlit.testing.v1 import AppTest

from lib.demo import app_gateway, demo_tenant
from lib.jobs import current_job, start_refresh
from lib.settings import Settings, load_settings
from lib.store import open_store
from lib.ui.browser_session import WATCH_EVERY_S
from lib.ui.context import AUTH_KEY
from lib.ui.job_progress import POLL_EVERY_S
from tests.test_rollout_support import control
from tests.ui_fixtures import ADMIN, READER, signed_in_session
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)


class Reruns:
    """The ``auto_rerun`` intervals a page asked for, per run (a spy on Streamlit's script run context)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.intervals: list[float] = []
        original = ScriptRunContext.enqueue

        def enqueue(ctx: ScriptRunContext, msg: ForwardMsg) -> None:
            if msg.HasField("auto_rerun"):  # before a repeated message is sent as a reference to the first
                self.intervals.append(msg.auto_rerun.interval)
            original(ctx, msg)

        monkeypatch.setattr(ScriptRunContext, "enqueue", enqueue)

    def run(self, at: AppTest) -> list[float]:
        """Run the page once; the polling sections it drew (their intervals), except the sign-in watch's."""
        self.intervals.clear()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return [i for i in self.intervals if i != WATCH_EVERY_S]


def _shell() -> None:
    """The parts of the console that follow a refresh, as app.py and the progress page draw them: the sidebar
    and the demo clock section. (Under AppTest, app.py's later runs run a page of pages/ alone, sidebar-less.)"""
    from lib.ui.context import console, signed_in_admin
    from lib.ui.demo_clock import demo_clock
    from lib.ui.sidebar import render_sidebar

    app = console()
    render_sidebar(app)
    demo_clock(app, signed_in_admin().tenant_id)


def _shell_app(settings: Settings, identity: str = ADMIN) -> AppTest:
    at = AppTest.from_function(_shell, default_timeout=60)
    at.session_state[AUTH_KEY] = signed_in_session(settings, identity)
    return at


@pytest.fixture
def fresh_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_settings: Settings) -> Iterator[Settings]:
    """A console of its own (new data folder, so its own demo tenant)."""
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    yield load_settings({}, os.environ)


def _held_refresh(settings: Settings, release: threading.Event):
    """A real refresh of the demo tenant that waits at its first step until ``release`` is set."""
    demo = demo_tenant(settings)
    store = open_store(settings.database_url, clock=demo.now)

    def hold() -> dict[str, int]:
        assert release.wait(120), "the test never released the refresh"
        return {}

    job = start_refresh(store, lambda: app_gateway(demo.emulator), demo.emulator.tenant_id, mode="demo",
                        before_each=[hold], step_name="Day")
    return job, store


def test_the_progress_page_polls_only_while_a_refresh_runs(fresh_settings: Settings,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reruns = Reruns(monkeypatch)
    at = _shell_app(fresh_settings)
    assert reruns.run(at) == []  # idle: neither the demo clock nor the sidebar reruns itself
    assert at.button(key="clock_day") and not at.get("progress")

    release = threading.Event()
    job, store = _held_refresh(fresh_settings, release)
    try:
        assert not job.finished
        polling = reruns.run(at)
        assert polling == [POLL_EVERY_S, POLL_EVERY_S], polling  # the sidebar's and the demo clock's sections
        assert len(at.get("progress")) == 2
        assert at.button(key="clock_day").disabled and at.sidebar.button(key="cancel_refresh")
    finally:
        release.set()
        assert job.wait(120) and not job.error, job.error
        store.close()
    assert reruns.run(at) == []  # it ended: the next run draws no polling section
    assert not at.get("progress") and not at.button(key="clock_day").disabled
    assert reruns.run(at) == []


def test_a_refresh_finished_before_the_page_opened_starts_no_polling(fresh_settings: Settings,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    release.set()
    job, store = _held_refresh(fresh_settings, release)
    try:
        assert job.wait(120) and not job.error, job.error
    finally:
        store.close()
    reruns = Reruns(monkeypatch)
    at = _shell_app(fresh_settings)
    assert current_job(demo_tenant(fresh_settings).emulator.tenant_id) is job
    assert reruns.run(at) == []


@pytest.mark.parametrize("identity", [ADMIN, READER])
def test_the_demo_says_its_graph_throttling_is_sped_up(demo_settings: Settings, identity: str) -> None:
    at = _shell_app(demo_settings, identity)
    at.run()
    note = "Demo: Graph throttling ×10 faster than Microsoft Graph's documented limits"
    assert note in [c.value for c in at.sidebar.caption]
    assert any(note in c.value for c in at.main.caption), [c.value for c in at.main.caption]  # the demo clock
    config = control(demo_tenant(demo_settings).emulator, "GET", "/config")
    assert config["time_scale"] == pytest.approx(0.1) and config["throttle"] is True
