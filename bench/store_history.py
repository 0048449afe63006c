"""Benchmark the history store: seed 90 daily snapshots of 100k users with 1% daily churn.

Prints one JSON object of figures (seconds, MB, rows); it never passes or fails on time.
Targets from the store issue, for the reader: seeding 90 × 100k within a couple of minutes,
90 × 3,000 well under 5 s, database ≤ 150 MB, one 100k snapshot with 1% changed ≤ 5 s.

    python bench/store_history.py [--users 100000] [--days 90] [--churn 0.01] [--sign-in-rate 0.6]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lib.columns import coerce_users
from lib.store import SnapshotSummary, Store, open_store

DEPARTMENTS = np.array(["Sales", "Finance", "IT", "HR", "Legal", "Support", "Marketing", "Operations"])
COUNTRIES = np.array(["SE", "NO", "DK", "FI", "DE", "GB", "US", "NL"])
TITLES = np.array(["Engineer", "Manager", "Analyst", "Consultant", "Assistant", "Director"])
KINDS = np.array(["person", "service", "shared", "break_glass"])
STATES = np.array(["disabled", "enabled", "enforced"])
METHOD_SETS = np.array(
    [
        "",
        "microsoftAuthenticatorPush",
        "microsoftAuthenticatorPush,mobilePhone",
        "fido2,microsoftAuthenticatorPush",
        "mobilePhone",
    ]
)
METHOD_COUNTS = np.array([0, 1, 2, 2, 1], dtype=np.int16)
PREFERRED = np.array(["", "push", "push", "fido2", "sms"])
START = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)


def _ids(start: int, count: int) -> list[str]:
    return [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(start, start + count)]


def synthetic_users(start: int, count: int, rng: np.random.Generator, at: datetime) -> pd.DataFrame:
    """``count`` plausible users with ids from ``start``, typed to the ``lib.columns`` schema."""
    numbers = np.arange(start, start + count)
    upn = pd.Series([f"user{i}@contoso.example" for i in numbers], dtype="string")
    method_set = rng.choice(len(METHOD_SETS), size=count, p=[0.35, 0.3, 0.2, 0.05, 0.1])
    registered = method_set > 0
    stamp = pd.Timestamp(at)
    frame = pd.DataFrame(
        {
            "id": _ids(start, count),
            "upn": upn,
            "display_name": [f"User {i}" for i in numbers],
            "mail": upn.where(rng.random(count) < 0.95),
            "department": rng.choice(DEPARTMENTS, size=count),
            "country": rng.choice(COUNTRIES, size=count),
            "job_title": rng.choice(TITLES, size=count),
            "is_guest": rng.random(count) < 0.05,
            "account_enabled": rng.random(count) < 0.97,
            "is_admin": rng.random(count) < 0.01,
            "account_kind": rng.choice(KINDS, size=count, p=[0.94, 0.03, 0.0298, 0.0002]),
            "state": rng.choice(STATES, size=count, p=[0.6, 0.25, 0.15]),
            "registered": registered,
            "capable": registered & (rng.random(count) < 0.9),
            "methods": pd.Series(METHOD_SETS[method_set]).replace("", None),
            "method_count": METHOD_COUNTS[method_set],
            "preferred_method": pd.Series(PREFERRED[method_set]).replace("", None),
            "created": stamp - pd.to_timedelta(rng.integers(30, 3000, size=count), unit="D"),
            "last_sign_in": stamp - pd.to_timedelta(rng.integers(0, 90 * 86400, size=count), unit="s"),
            "users_read_at": stamp,
            "registration_read_at": stamp,
            "state_read_at": stamp,
        }
    )
    return coerce_users(frame)


def daily_frames(
    users: int, days: int, churn: float, sign_in_rate: float, seed: int
) -> Iterator[tuple[datetime, pd.DataFrame]]:
    """A frame a day: ``churn`` of the users change facts (90% edited, 5% leave, 5% join), and
    ``sign_in_rate`` of them sign in (volatile: no history row, an in-place latest-value update)."""
    rng = np.random.default_rng(seed)
    frame = synthetic_users(0, users, rng, START)
    next_id = users
    for day in range(days):
        at = START + timedelta(days=day)
        if day:
            touched = max(1, int(len(frame) * churn))
            leave = joined = max(1, touched // 20)
            edit = touched - leave - joined
            picked = rng.choice(len(frame), size=edit + leave, replace=False)
            edited, gone = picked[:edit], picked[edit:]
            frame = frame.copy()
            # Move each edited user one step along disabled → enabled → enforced → disabled.
            state_index = pd.Series(frame["state"].to_numpy(dtype=object)[edited]).map(
                {name: i for i, name in enumerate(STATES)}
            )
            states = frame["state"].to_numpy(dtype=object)
            states[edited] = STATES[(state_index.to_numpy() + 1) % len(STATES)]
            frame["state"] = pd.array(states, dtype="string")
            signed_in = rng.random(len(frame)) < sign_in_rate
            last = frame["last_sign_in"].to_numpy(dtype="datetime64[ns]")
            last[signed_in] = np.datetime64(pd.Timestamp(at).tz_localize(None), "ns")
            frame["last_sign_in"] = pd.DatetimeIndex(last).tz_localize("UTC")
            frame = frame.drop(index=frame.index[gone])
            frame = pd.concat([frame, synthetic_users(next_id, joined, rng, at)], ignore_index=True)
            next_id += joined
        yield at, frame


def _seed(url: str, users: int, args: argparse.Namespace) -> dict[str, float]:
    days = args.days

    def frames() -> Iterator[tuple[datetime, pd.DataFrame]]:
        return daily_frames(users, days, args.churn, args.sign_in_rate, args.seed)

    generate_started = time.perf_counter()
    for _ in frames():
        pass
    generate = time.perf_counter() - generate_started
    with open_store(url) as store:
        store.upsert_tenant("bench", "Contoso", "contoso.example", "demo")
        started = time.perf_counter()
        summaries = store.seed_history("bench", frames())
        total = time.perf_counter() - started
    return {
        "seed_seconds_total": round(total, 3),
        "frame_generation_seconds": round(generate, 3),
        "seed_seconds_store": round(total - generate, 3),
        "seconds_per_snapshot": round((total - generate) / days, 4),
        "rows_written": sum(s.rows_written for s in summaries),
        "rows_first_snapshot": summaries[0].rows_written,
        "rows_per_later_snapshot": round(sum(s.rows_written for s in summaries[1:]) / max(1, days - 1), 1),
    }


def _refresh(
    store: Store, users: pd.DataFrame, day: int, rng: np.random.Generator, args: argparse.Namespace
) -> tuple[float, SnapshotSummary, pd.DataFrame]:
    """begin + complete_snapshot with ``churn`` of the users' facts changed and the day's sign-ins."""
    at = START + timedelta(days=day)
    frame = users.copy()
    changed = rng.choice(len(frame), size=int(len(frame) * args.churn), replace=False)
    registered = frame["registered"].to_numpy().copy()
    registered[changed] = ~registered[changed]
    frame["registered"] = registered
    last = frame["last_sign_in"].copy()
    last[rng.random(len(frame)) < args.sign_in_rate] = pd.Timestamp(at)
    frame["last_sign_in"] = last
    snapshot_id = store.begin_snapshot("bench", "reports", started_at=at)
    started = time.perf_counter()
    summary = store.complete_snapshot(
        snapshot_id, frame, users_read_at=at, registration_read_at=at, state_read_at=at, stats={"requests": 0}
    )
    return time.perf_counter() - started, summary, frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--churn", type=float, default=0.01, help="share of users whose facts change daily")
    parser.add_argument("--sign-in-rate", type=float, default=0.6, help="share of users signing in daily")
    parser.add_argument("--small-users", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--keep", type=Path, help="write the databases here instead of a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        small_db, big_db = folder / "store_small.db", folder / "store_big.db"
        for path in (small_db, big_db):
            path.unlink(missing_ok=True)

        small = _seed(f"sqlite:///{small_db}", args.small_users, args)
        big = _seed(f"sqlite:///{big_db}", args.users, args)

        size_mb = big_db.stat().st_size / 1_000_000  # after 90 days; closing checkpointed the WAL
        rng = np.random.default_rng(args.seed + 1)
        with open_store(f"sqlite:///{big_db}") as store:  # a fresh process: nothing in memory yet
            started = time.perf_counter()
            users = store.load_users("bench")
            load_seconds = time.perf_counter() - started
        with open_store(f"sqlite:///{big_db}") as store:
            # Two more refreshes the way the console does them: the first diffs against the database
            # (cold), the second against the snapshot the store remembers writing (warm).
            cold_seconds, cold, refreshed = _refresh(store, users, args.days, rng, args)
            warm_seconds, warm, _ = _refresh(store, refreshed, args.days + 1, rng, args)

    print(
        json.dumps(
            {
                "users": args.users,
                "days": args.days,
                "churn": args.churn,
                "sign_in_rate": args.sign_in_rate,
                **big,
                "database_mb": round(size_mb, 1),
                "load_users_seconds": round(load_seconds, 3),
                "load_users_rows": len(users),
                "complete_snapshot_cold_seconds": round(cold_seconds, 3),
                "complete_snapshot_warm_seconds": round(warm_seconds, 3),
                "complete_snapshot_rows_written": [cold.rows_written, warm.rows_written],
                "small_users": args.small_users,
                "small_seed_seconds_total": small["seed_seconds_total"],
                "small_seed_seconds_store": small["seed_seconds_store"],
                "small_rows_written": small["rows_written"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
