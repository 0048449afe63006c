"""Full collections after page reruns walk little: the demo tenant is in its own process, the console's
long-lived objects are frozen.

Streamlit runs ``gc.collect(2)`` after every script run (``runner.postScriptGC``); a progress page reruns
every second while a refresh runs, so what each of those collections walks is the cost an open page adds to
the refresh. Time is not measured (it depends on the machine's load): the objects each full collection walks
are counted, in a fresh interpreter running the real console under AppTest, with ``gc.callbacks``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    gc.collect(2)  # what the server's ScriptRunner does after every run (AppTest's LocalScriptRunner skips it)
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
