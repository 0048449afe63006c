"""Benchmark the adoption overview on a stored 100k-user snapshot: server time to build and render the page.

Builds a tenant of ``--users`` users with ``--days`` daily snapshots of history (a rollout in progress:
users are enabled, register and get enforced day by day) in a temporary SQLite store with
``lib.store``, then measures, in a fresh store as a new server process would see it:

- ``build_cold_seconds``: ``lib.overview.build_overview`` end to end (load the snapshot's users and the
  week-ago snapshot's, scope both, KPIs, every chart's table, every figure), with its parts; loading
  the two snapshots from SQLite (``lib.store``) dominates it;
- ``overview_*``: the memoised ``lib.overview.overview`` the page calls: a rerun, and another scope
  (counted from the users frames in memory, as after the first view);
- ``figures_json_kb``: what the page ships to the browser for all eight charts (aggregates, not rows);
- ``apptest_*``: the page itself under ``streamlit.testing.v1.AppTest`` (app shell, sidebar, KPIs,
  charts, exports), signed in to a tenant whose store holds the 100k snapshot: a cold run (nothing
  in memory: the latest snapshot read from SQLite, the week-ago one read in the background), the
  run that adds the deltas once it is in, a rerun (memoised by tenant + snapshot + scope), and a
  scope change (counted from the frames in memory).

The issue's target is ≤ 1.5 s server time for the page. Prints one JSON object; never passes or
fails on time. ``python bench/overview.py [--users 100000] [--days 15] [--skip-apptest]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lib.charts import overview_data, overview_figures  # noqa: E402
from lib.columns import coerce_users  # noqa: E402
from lib.kpis import compute_kpis, previous_week_row  # noqa: E402
from lib.overview import build_overview, clear_cache, overview, wait_for_baselines  # noqa: E402
from lib.scope import DEFAULT_SCOPE, Scope, apply_scope  # noqa: E402
from lib.store import open_store  # noqa: E402

START = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
METHOD_SETS = np.array([
    "microsoftAuthenticatorPush", "microsoftAuthenticatorPush,mobilePhone", "mobilePhone",
    "fido2,microsoftAuthenticatorPush", "softwareOneTimePasscode", "windowsHelloForBusiness,microsoftAuthenticatorPush",
    "email,microsoftAuthenticatorPush", "passKeyDeviceBound", "officePhone",
])
METHOD_WEIGHTS = np.array([0.38, 0.2, 0.12, 0.06, 0.08, 0.07, 0.05, 0.02, 0.02])


def base_users(count: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The tenant on day 0, and each user's day of enabling, registering and enforcement (inf: never)."""
    numbers = np.arange(count)
    departments = np.array([f"Department {i:02d}" for i in range(60)])
    dept_weights = 1.0 / np.arange(1, 61) ** 0.9
    countries = np.array([f"C{i:02d}" for i in range(45)])
    country_weights = 1.0 / np.arange(1, 46) ** 1.2
    upn = pd.Series([f"user{i}@contoso.example" for i in numbers], dtype="string")
    kinds = np.array(["person", "service", "shared", "break_glass"])
    kind = rng.choice(kinds, size=count, p=[0.95, 0.03, 0.0198, 0.0002])
    frame = pd.DataFrame({
        "id": [f"{i:08x}-0000-4000-8000-{i:012x}" for i in numbers],
        "upn": upn,
        "display_name": [f"User {i}" for i in numbers],
        "mail": upn,
        "department": rng.choice(departments, size=count, p=dept_weights / dept_weights.sum()),
        "country": rng.choice(countries, size=count, p=country_weights / country_weights.sum()),
        "job_title": "Staff",
        "is_guest": rng.random(count) < 0.06,
        "account_enabled": rng.random(count) < 0.96,
        "is_admin": rng.random(count) < 0.004,
        "account_kind": kind,
        "state": "disabled",
        "registered": False,
        "capable": False,
        "methods": None,
        "method_count": 0,
        "preferred_method": None,
        "created": pd.Timestamp(START) - pd.to_timedelta(rng.integers(30, 3000, size=count), unit="D"),
        "last_sign_in": pd.Timestamp(START) - pd.to_timedelta(rng.integers(0, 30 * 86400, size=count), unit="s"),
        "users_read_at": pd.Timestamp(START), "registration_read_at": pd.Timestamp(START),
        "state_read_at": pd.Timestamp(START),
    })
    never = np.inf
    registered_day = np.where(rng.random(count) < 0.25, -1.0, never)  # a quarter registered before the rollout
    enabled_day = np.where(rng.random(count) < 0.8, rng.uniform(0, 30, count), never)
    after_enable = enabled_day + rng.exponential(4.0, count)
    registered_day = np.minimum(registered_day, np.where(rng.random(count) < 0.85, after_enable, never))
    enforced_day = np.where(rng.random(count) < 0.7, np.maximum(registered_day, enabled_day) + 2.0, never)
    method = rng.choice(len(METHOD_SETS), size=count, p=METHOD_WEIGHTS)
    return frame, {"enabled": enabled_day, "registered": registered_day, "enforced": enforced_day, "method": method}


def daily_frames(count: int, days: int, seed: int) -> Iterator[tuple[datetime, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    frame, plan = base_users(count, rng)
    for day in range(days):
        at = START + timedelta(days=day)
        registered = plan["registered"] <= day
        state = np.where(plan["enforced"] <= day, "enforced", np.where(plan["enabled"] <= day, "enabled", "disabled"))
        methods = np.where(registered, METHOD_SETS[plan["method"]], None)
        stamp = pd.Timestamp(at)
        daily = frame.assign(
            state=state, registered=registered, capable=registered & frame["account_enabled"].to_numpy(),
            methods=methods, method_count=np.where(registered, 1 + np.char.count(METHOD_SETS[plan["method"]], ","), 0),
            users_read_at=stamp, registration_read_at=stamp, state_read_at=stamp,
        )
        yield at, coerce_users(daily)


def seed_store(url: str, tenant: str, users: int, days: int, seed: int) -> float:
    started = time.perf_counter()
    with open_store(url) as store:
        store.upsert_tenant(tenant, "Contoso (bench)", "contoso.example", "tenant")
        store.seed_history(tenant, daily_frames(users, days, seed))
    return time.perf_counter() - started


def time_parts(url: str, tenant: str) -> dict[str, float]:
    """build_overview's steps one by one, in a fresh store (nothing remembered from seeding)."""
    out: dict[str, float] = {}
    with open_store(url) as store:
        t0 = time.perf_counter()
        snapshot = store.latest_snapshot(tenant)
        users = store.load_users(tenant, snapshot.id)
        t1 = time.perf_counter()
        aggregates = store.daily_aggregates(tenant)
        row = previous_week_row(aggregates)
        previous = store.load_users(tenant, int(row["snapshot_id"])) if row is not None else None
        t2 = time.perf_counter()
        scoped = apply_scope(users, DEFAULT_SCOPE)
        prev_scoped = apply_scope(previous, DEFAULT_SCOPE) if previous is not None else None
        compute_kpis(scoped, prev_scoped)
        t3 = time.perf_counter()
        tables = overview_data(scoped, aggregates)
        t4 = time.perf_counter()
        figures = overview_figures(tables)
        t5 = time.perf_counter()
        payload = sum(len(f.to_json()) for f in figures.values())
        t6 = time.perf_counter()
    out.update({
        "load_latest_users_seconds": t1 - t0, "load_week_ago_users_seconds": t2 - t1,
        "scope_and_kpis_seconds": t3 - t2, "chart_tables_seconds": t4 - t3, "figures_seconds": t5 - t4,
        "figures_to_json_seconds": t6 - t5, "figures_json_kb": payload / 1024,
    })
    with open_store(url) as store:
        snapshot = store.latest_snapshot(tenant)
        t0 = time.perf_counter()
        built = build_overview(store, snapshot, DEFAULT_SCOPE)
        out["build_cold_seconds"] = time.perf_counter() - t0
        clear_cache()
        t0 = time.perf_counter()
        overview(store, snapshot, DEFAULT_SCOPE)
        out["overview_cold_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        overview(store, snapshot, DEFAULT_SCOPE)
        out["overview_memoised_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        overview(store, snapshot, Scope(include_guests=False, include_protected=True))
        out["overview_other_scope_seconds"] = time.perf_counter() - t0  # users frames already in memory
        out["users_frame_mb"] = store.load_users(tenant, snapshot.id).memory_usage(deep=True).sum() / 1e6
        out["users_in_scope"] = built.kpis.users
        out["users_in_snapshot"] = snapshot.user_count
    out.update(time_after_refresh(url, tenant))
    return out


def time_after_refresh(url: str, tenant: str) -> dict[str, float]:
    """The first view after a refresh: the store remembers the snapshot it just wrote, so only the
    week-ago snapshot comes from SQLite, in the background, while the page draws without deltas."""
    with open_store(url) as store:
        frame = store.load_users(tenant)
        frame.loc[frame.index[:500], "state"] = "enforced"
        at = store.latest_snapshot(tenant).started_at + pd.Timedelta(days=1)
        snapshot_id = store.begin_snapshot(tenant, "reports", started_at=at)
        store.complete_snapshot(snapshot_id, frame, users_read_at=at, registration_read_at=at, state_read_at=at,
                                stats={"bench": True})
        snapshot = store.latest_snapshot(tenant)
        clear_cache()
        t0 = time.perf_counter()
        first = overview(store, snapshot, DEFAULT_SCOPE, wait_for_baseline=False)
        t1 = time.perf_counter()
        wait_for_baselines()
        t2 = time.perf_counter()
        second = overview(store, snapshot, DEFAULT_SCOPE, wait_for_baseline=False)
        t3 = time.perf_counter()
    return {
        "after_refresh_first_paint_seconds": t1 - t0,
        "after_refresh_deltas_pending": first.baseline_pending,
        "after_refresh_week_ago_read_seconds": t2 - t0,
        "after_refresh_with_deltas_seconds": t3 - t2,
        "after_refresh_deltas": second.kpis.change is not None,
    }


def start_identity(scratch: Path):
    """A small demo emulator: the identity provider the AppTest session signs in with, and the tenant id."""
    from lib.demo import demo_tenant
    from lib.settings import load_settings

    settings = load_settings({}, {"MFA_CONSOLE_DATA": str(scratch / "demo"), "MFA_DEMO_USERS": "50",
                                  "MFA_DEMO_SEED": "7"})
    return settings, demo_tenant(settings).emulator


def time_apptest(url: str, database: Path, demo_settings, emulator) -> dict[str, object]:
    """The page under AppTest, signed in to the emulator's tenant, whose store holds the 100k snapshot."""
    from urllib.parse import urlparse

    from streamlit.testing.v1 import AppTest

    from lib.ui.context import AUTH_KEY
    from tests.ui_fixtures import ADMIN, signed_in_session

    authority = urlparse(emulator.authority)
    os.environ.update({
        "MFA_CONSOLE_DATA": str(database.parent), "MFA_DATABASE_URL": url, "MFA_TENANT_ID": emulator.tenant_id,
        "MFA_CLIENT_ID": emulator.public_client_id,
        "MFA_AUTHORITY_HOST": f"{authority.scheme}://{authority.netloc}", "MFA_GRAPH_URL": emulator.graph_url,
    })
    session = signed_in_session(demo_settings, ADMIN)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.session_state[AUTH_KEY] = session
    started = time.perf_counter()
    at.run()  # console start (store opened and migrated) and the default page
    first = time.perf_counter() - started
    at.switch_page("pages/overview.py")
    clear_cache()
    started = time.perf_counter()
    at.run()
    cold = time.perf_counter() - started
    pending = any("Reading last week's snapshot" in c.value for c in at.caption)
    started = time.perf_counter()
    wait_for_baselines()
    at.run()  # what the page's poll does once the week-ago snapshot is in: the tiles get their deltas
    with_deltas = time.perf_counter() - started
    deltas = sum(1 for m in at.metric if m.delta)
    started = time.perf_counter()
    at.run()
    warm = time.perf_counter() - started
    started = time.perf_counter()
    at.checkbox(key="overview_scope_include_guests").uncheck().run()
    other_scope = time.perf_counter() - started
    errors = [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]
    return {
        "apptest_first_load_seconds": first,
        "apptest_page_cold_seconds": cold,
        "apptest_cold_deltas_pending": pending,
        "apptest_deltas_ready_seconds": with_deltas,
        "apptest_metrics_with_delta": deltas,
        "apptest_page_rerun_seconds": warm,
        "apptest_page_other_scope_seconds": other_scope,
        "apptest_metrics": len(at.metric),
        "apptest_charts": len(at.get("plotly_chart")),
        "apptest_errors": errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=15, help="daily snapshots of history (the week-ago delta needs 8)")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--skip-apptest", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"users": args.users, "days": args.days, "target_seconds": 1.5}
    with tempfile.TemporaryDirectory(prefix="bench-overview-") as folder:
        scratch = Path(folder)
        identity = None if args.skip_apptest else start_identity(scratch)
        tenant = identity[1].tenant_id if identity else "bench-tenant"
        database = scratch / "tenant" / "console.db"
        database.parent.mkdir(parents=True)
        url = f"sqlite:///{database}"
        results["seed_seconds"] = seed_store(url, tenant, args.users, args.days, args.seed)
        results.update(time_parts(url, tenant))
        if identity is not None:
            results.update(time_apptest(url, database, *identity))
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
