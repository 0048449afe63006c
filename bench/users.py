"""Server time of the Users page over a stored 100k-user snapshot, under AppTest (one JSON object).

Seeds a tenant of --users users (bench/overview.py's generator, 1 day) into a temporary SQLite store,
signs an AppTest session in through a small demo emulator (as bench/overview.py does), opens the Users
page and times: the cold first view (snapshot load + prepare), a plain rerun, and reruns after each kind
of filter change. Also times the pure filter step alone.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)
sys.path.insert(0, str(ROOT / "bench"))
from overview import seed_store, start_identity  # noqa: E402 (bench/overview.py)


def main(users: int = 100_000) -> None:
    out: dict[str, object] = {"users": users, "target_seconds": 0.3}
    with tempfile.TemporaryDirectory(prefix="bench-users-") as folder:
        scratch = Path(folder)
        settings, emulator = start_identity(scratch)
        database = scratch / "tenant" / "console.db"
        database.parent.mkdir(parents=True)
        url = f"sqlite:///{database}"
        out["seed_seconds"] = round(seed_store(url, emulator.tenant_id, users, 1, 20260301), 2)
        from urllib.parse import urlparse

        from streamlit.testing.v1 import AppTest

        from lib.ui.context import AUTH_KEY
        from tests.ui_fixtures import ADMIN, signed_in_session

        authority = urlparse(emulator.authority)
        os.environ.update(
            {
                "MFA_CONSOLE_DATA": str(database.parent),
                "MFA_DATABASE_URL": url,
                "MFA_TENANT_ID": emulator.tenant_id,
                "MFA_CLIENT_ID": emulator.public_client_id,
                "MFA_AUTHORITY_HOST": f"{authority.scheme}://{authority.netloc}",
                "MFA_GRAPH_URL": emulator.graph_url,
            }
        )
        session = signed_in_session(settings, ADMIN)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state[AUTH_KEY] = session
        at.run()
        at.switch_page("pages/users.py")
        t = time.perf_counter()
        at.run()
        out["cold_first_view_seconds"] = time.perf_counter() - t
        assert not at.exception, [e.value for e in at.exception]
        out["matching_line"] = next(m.value for m in at.markdown if m.value.startswith("####"))

        def timed(name, action):
            samples = []
            for i in range(5):
                t = time.perf_counter()
                action(i)
                samples.append(time.perf_counter() - t)
                assert not at.exception, [e.value for e in at.exception]
                assert not at.error, [e.value for e in at.error]
            out[name + "_median_seconds"] = sorted(samples)[len(samples) // 2]
            out[name + "_max_seconds"] = max(samples)

        timed("rerun", lambda i: at.run())
        depts = at.multiselect(key="users_f_departments").options
        timed("department_filter", lambda i: at.multiselect(key="users_f_departments").set_value([depts[i]]).run())
        timed(
            "state_and_flags",
            lambda i: (
                at.multiselect(key="users_f_states").set_value(
                    [["disabled"], ["enabled"], ["enforced"], ["disabled", "enabled"], []][i]
                ),
                at.selectbox(key="users_f_registered").set_value(["yes", "no", "any", "yes", "no"][i]),
            ).__getitem__(1).run(),
        )
        at.multiselect(key="users_f_departments").set_value([]).run()
        timed(
            "text_search",
            lambda i: (
                at.text_input(key="users_f_text").set_value(["user1", "user12", "contoso", "9", "user 5"][i]).run()
            ),
        )
        at.text_input(key="users_f_text").set_value("").run()
        timed(
            "sign_in_age",
            lambda i: (
                at.selectbox(key="users_f_sign_in")
                .set_value(["within_7", "older_30", "never", "within_30", "any"][i])
                .run()
            ),
        )
        pasted = "\n".join(f"user{i}@contoso.example" for i in range(0, 100_000, 20))
        timed("upn_list_5000", lambda i: at.text_area(key="users_f_upn_text").set_value(pasted + "\n" * i).run())
        at.text_area(key="users_f_upn_text").set_value("").run()
        timed("select_all_toggle", lambda i: at.toggle(key="users_select_all").set_value(i % 2 == 0).run())
        out["final_matching_line"] = next(m.value for m in at.markdown if m.value.startswith("####"))
        # the pure filter step alone
        from lib.store import open_store
        from lib.users_filters import UserFilters, filter_mask, prepare_users

        store = open_store(url)
        frame = store.load_users(emulator.tenant_id)
        t = time.perf_counter()
        prepared = prepare_users(frame)
        out["prepare_seconds"] = time.perf_counter() - t
        f = UserFilters(
            text="user 12",
            states=("disabled", "enabled"),
            registered=False,
            departments=tuple(depts[:3]),
            last_sign_in="older_30",
        )
        t = time.perf_counter()
        for _ in range(10):
            filter_mask(prepared.frame, f, "2026-03-02T00:00:00Z", index=prepared.index)
        out["filter_mask_all_filters_seconds"] = (time.perf_counter() - t) / 10
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
