"""Select all users → *Enforce…* → preview, on the demo tenant, under AppTest (last line: one JSON object).

Starts the console on a demo tenant of --users users in a temporary data folder (the tenant and its
90-day history are built first, in the background as the app builds them: ``console_start_s``), signs an
AppTest session in as the demo's Global Administrator, opens the Users page and selects every matching
user. Then it times:

- ``ask_s``: the page run that handles the *Enforce…* click (it starts the background job and returns);
- ``rerun_ms_*``: each page rerun while the job reads the states (what a person waits for after any
  click meanwhile; the job's own progress fragment reruns alongside), and ``idle_rerun_ms_median``, the
  same rerun with nothing running; a rerun the job ended during is the one that draws the preview, and is
  reported apart as ``preview_rerun_ms`` (with the run after the loop when the job ended between reruns);
- ``plan_all_s``: from the click until the run that shows the preview has finished;
- ``inline_s``: the same preview made inline, as the page made it before (``lib.console.preview_change``
  in the calling thread, with the demo's app-only gateway): the time the page used to block.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)


def main(users: int, seed: int) -> dict:
    out: dict = {"users": users, "target_plan_all_s": 60, "target_rerun_ms": 300}
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as folder:
        os.environ.update({"MFA_CONSOLE_DATA": folder, "MFA_DEMO_USERS": str(users), "MFA_DEMO_SEED": str(seed)})
        for key in ("MFA_TENANT_ID", "MFA_CLIENT_ID", "MFA_DATABASE_URL", "MFA_BACKGROUND_PLAN_ABOVE"):
            os.environ.pop(key, None)
        from streamlit.testing.v1 import AppTest

        from lib import console
        from lib.demo import app_gateway, demo_tenant
        from lib.settings import load_settings
        from lib.ui.context import AUTH_KEY, PLAN_OWNER_KEY
        from tests.ui_fixtures import ADMIN, signed_in_session

        settings = load_settings({}, os.environ)
        t = time.perf_counter()
        session = signed_in_session(settings, ADMIN)  # starts the demo tenant
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        at.session_state[AUTH_KEY] = session
        at.run()  # starts building the 90-day history in the background
        from lib.store import open_store

        tenant = demo_tenant(settings).emulator.tenant_id
        waiting = open_store(settings.database_url)
        while waiting.latest_snapshot(tenant) is None:  # the history's last step is today's snapshot
            time.sleep(1)
        waiting.close()
        at.run()
        out["console_start_s"] = round(time.perf_counter() - t, 1)
        at.switch_page("pages/users.py")
        at.run()
        at.toggle(key="users_select_all").set_value(True).run()
        selected = int(next(m.value for m in at.markdown if m.value.startswith("**All ")).split()[1].replace(",", ""))
        out["selected"] = selected
        idle: list[float] = []
        for _ in range(5):  # the same page with nothing running, for comparison
            r = time.perf_counter()
            at.run()
            idle.append((time.perf_counter() - r) * 1000)
        out["idle_rerun_ms_median"] = round(statistics.median(idle), 1)

        t0 = time.perf_counter()
        at.button(key="users_action_enforced").click().run()
        out["ask_s"] = round(time.perf_counter() - t0, 3)
        job = console.preview_job(at.session_state[PLAN_OWNER_KEY], tenant)
        reruns: list[float] = []
        shown_ms: list[float] = []  # a rerun the job ended during: it draws the finished preview
        while job is not None and not job.finished:
            r = time.perf_counter()
            at.run()
            (reruns if not job.finished else shown_ms).append((time.perf_counter() - r) * 1000)
            time.sleep(0.5)  # a person clicking now and then, not a busy loop competing with the job
        r = time.perf_counter()
        at.run()
        shown_ms.append((time.perf_counter() - r) * 1000)
        out["plan_all_s"] = round(time.perf_counter() - t0, 2)
        out["preview_rerun_ms"] = round(shown_ms[0], 1)
        previews = [s.value for s in at.subheader if s.value.startswith("Preview:")]
        out["preview"] = previews[0] if previews else None
        out["job_read_s"] = round(job.elapsed, 2) if job is not None else None
        if reruns:
            out.update({"reruns": len(reruns), "rerun_ms_median": round(statistics.median(reruns), 1),
                        "rerun_ms_max": round(max(reruns), 1)})

        ids = at.session_state["users_plan"].plan.changes["user_id"].tolist() + \
            at.session_state["users_plan"].plan.skipped["user_id"].dropna().tolist()
        store = open_store(settings.database_url, clock=demo_tenant(settings).now)
        try:
            with app_gateway(demo_tenant(settings).emulator) as gateway:
                actor = session.admin
                ws = console.Workspace(store, gateway, tenant, actor)
                snapshot_frame = store.load_users(tenant)
                t = time.perf_counter()
                console.preview_change(ws, snapshot_frame, ids, "enforced")
                out["inline_s"] = round(time.perf_counter() - t, 2)
        finally:
            store.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(main(args.users, args.seed)))
