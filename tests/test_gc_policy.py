"""Full collections after page runs are few and walk little: Streamlit's collection after every run
(``runner.postScriptGC``) is off, the console's own runs at most every 15 s, the demo tenant is in its own
process, and the console's long-lived objects are frozen.

A progress page reruns its fragments every second while a refresh runs, so how often a full collection runs,
and what each walks, is the cost an open page adds to the refresh. Time is not measured (it depends on the
machine's load): the objects each full collection walks are counted, in a fresh interpreter running the real
console under AppTest, with ``gc.callbacks``, and the policy's clock is driven by the test.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from lib import gc_policy
from tests.ui_fixtures import ROOT

SCRIPT = r"""
import gc, json, os, sys
sys.path.insert(0, os.getcwd())
from lib.settings import load_settings
from tests.ui_fixtures import ADMIN, new_app

settings = load_settings({}, os.environ)
at = new_app(settings, ADMIN, "pages/progress.py")  # the console started, signed in, a first page drawn
at.run()
walked = []

def count(phase, info):
    if phase == "start" and info["generation"] == 2:
        walked.append(len(gc.get_objects()))

gc.callbacks.append(count)
for page in ("pages/progress.py", "pages/overview.py", "pages/users.py", "pages/progress.py"):
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    gc.collect(2)  # what lib.gc_policy.collect_after_page_run does when it is due
gc.callbacks.remove(count)
frozen = gc.get_freeze_count()
gc.unfreeze()
records = ("SyntheticTenant", "User", "AuthMethod", "Event")  # the demo tenant's own records
tenant_objects = sum(type(o).__module__ == "lib.emulator.model" and type(o).__name__ in records
                     for o in gc.get_objects())
print(json.dumps({"walked": walked, "frozen": frozen, "tenant_objects": tenant_objects}))
"""


def test_full_collections_after_page_runs_walk_a_small_share_and_no_tenant(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFA_")}
    env.update({"MFA_CONSOLE_DATA": str(tmp_path / "data"), "MFA_DEMO_USERS": "2000", "MFA_DEMO_SEED": "7"})
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    walked, frozen = figures["walked"], figures["frozen"]
    assert len(walked) >= 4  # one full collection per page run at least
    assert frozen > 100_000  # modules, pandas, plotly, the store: loaded once, never walked again
    assert max(walked) < frozen / 4, figures  # a collection walks what the runs made, not the whole process
    assert figures["tenant_objects"] == 0  # no demo tenant record in the console's process, frozen or not


def test_streamlit_does_not_collect_after_every_run_and_the_console_at_most_every_15_s(monkeypatch) -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
    monkeypatch.setattr(gc_policy, "_last_full", float("-inf"))
    collections: list[int] = []
    callback = lambda phase, info: collections.append(info["generation"]) if phase == "start" else None  # noqa: E731
    gc.callbacks.append(callback)
    try:
        ran = [gc_policy.collect_after_page_run(clock=lambda t=t: t) for t in (100.0, 101.0, 114.9, 115.0, 116.0)]
    finally:
        gc.callbacks.remove(callback)
    assert ran == [True, False, False, True, False]
    assert collections.count(2) >= 2  # the two that ran were full collections
