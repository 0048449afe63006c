"""The adoption overview, page-level glue: one snapshot and one scope in, everything the page shows out.

``build_overview`` reads the store (the snapshot's users, the daily aggregates, the snapshot about a
week earlier for the "since last week" deltas), applies the scope, and returns an ``Overview``: the
KPIs, the small tables behind every chart and the figures drawn from them. Only those tables reach a
figure, so a 100k-user snapshot becomes a few kilobytes of chart. ``overview`` memoises the result
by (database, tenant, snapshot, scope, waves): a snapshot never changes once complete, so reruns
of the page (and every admin of the tenant looking at the same scope) reuse it.

No Streamlit in here; ``pages/overview.py`` renders, ``lib.ui.scope_controls`` keeps the scope.

The highlighted tile's button hands ``admins_without_method_preset(kpis)`` (a typed
``lib.users_filters.UsersFilterPreset``) to the Users page through ``lib.ui.handoff``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from lib.charts import CHART_TITLES, overview_data, overview_figures
from lib.errors import ConsoleError
from lib.exports import describe_age, figures_csv_zip, html_report
from lib.kpis import Kpis, KpiTile, compute_kpis, kpi_tiles, previous_week_row
from lib.palette import STATE_COLOURS
from lib.protection_charts import (
    PROTECTION_CHART_TITLES,
    coverage_chart,
    protection_trend_chart,
    protection_trend_data,
)
from lib.protection_kpis import ProtectionKpis, coverage_group_data, protection_kpis, with_clock
from lib.protection_tiles import protection_tiles
from lib.scope import Scope, apply_scope
from lib.store import Snapshot, Store
from lib.store.memo import LatestMemo
from lib.users_filters import UsersFilterPreset

__all__ = [
    "CHART_ORDER",
    "CHROMIUM_CANDIDATES",
    "PROTECTION_ORDER",
    "REPORT_TITLE",
    "SOURCES",
    "TITLES",
    "ChartImageError",
    "DataStatus",
    "Overview",
    "TileView",
    "admins_without_method_preset",
    "baseline_ready",
    "baseline_snapshot_id",
    "build_overview",
    "chart_captions",
    "chart_png",
    "chromium_binary",
    "clear_cache",
    "data_status",
    "export_file_name",
    "figures_zip",
    "kpi_table",
    "overview",
    "protected_upns",
    "protection_now",
    "report_html",
    "tile_views",
    "wait_for_baselines",
    "wave_markers",
]

log = logging.getLogger(__name__)

"""``st.session_state`` key the overview sets before switching to the users page (see module docstring)."""

"""The users page, as ``st.switch_page`` names it."""

REPORT_TITLE = "MFA adoption overview"

CHART_ORDER: tuple[str, ...] = (
    "state_distribution", "rollout_funnel", "adoption_trend", "methods", "method_strength",
    "by_department", "by_country", "by_user_type",
)
"""The overview's adoption figures in page (and report) order; every key of ``lib.charts.overview_figures``."""

PROTECTION_ORDER: tuple[str, ...] = ("coverage", "protection_trend")
"""The protection figures, which lead the page and the report (``lib.protection_charts``)."""

TITLES: dict[str, str] = {**PROTECTION_CHART_TITLES, **CHART_TITLES}
"""Every figure's heading, protection and adoption."""


# --- where the data came from ------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    label: str
    """A few words for the data line: which API the registration facts came from."""
    explanation: str
    """What that means for the numbers (the no-P1 empty state shows it prominently)."""


SOURCES: dict[str, Source] = {
    "reports": Source(
        "the reports API (Entra ID P1)",
        "Registration comes from Microsoft Graph's authentication methods report (userRegistrationDetails), "
        "which needs Microsoft Entra ID P1. Accounts the report leaves out were read from their own methods.",
    ),
    "methods": Source(
        "per-user authentication methods (no Entra ID P1)",
        "This tenant has no Microsoft Entra ID P1 licence, so Graph's registration report "
        "(userRegistrationDetails) is not available. Registration was read from each user's "
        "authentication methods instead (/users/{id}/authentication/methods): a user counts as registered "
        "with at least one second factor (email, security questions and a Temporary Access Pass do not "
        "count), and as MFA capable when registered on an account that can sign in.",
    ),
}


@dataclass(frozen=True)
class DataStatus:
    """The source and age of a snapshot, as the page's data line and the report state them."""

    snapshot_id: int
    source: str
    source_label: str
    source_explanation: str
    read_at: pd.Timestamp
    age: str
    users: int | None

    @property
    def premium(self) -> bool:
        return self.source == "reports"

    def line(self) -> str:
        """``'Data as of 2026-03-10 06:00 UTC (3 h ago) · registration from …'``."""
        return (f"Data as of {self.read_at:%Y-%m-%d %H:%M} UTC ({self.age} ago) · "
                f"registration from {self.source_label}")


def data_status(snapshot: Snapshot, now: datetime) -> DataStatus:
    """Where ``snapshot``'s registration facts came from and how old they are at ``now``.

    The age is that of the MFA state read (the last facts a refresh reads), or of the snapshot's start.
    """
    read_at = pd.Timestamp(snapshot.state_read_at if snapshot.state_read_at is not None else snapshot.started_at)
    read_at = read_at.tz_localize("UTC") if read_at.tzinfo is None else read_at.tz_convert("UTC")
    moment = pd.Timestamp(now)
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    source = SOURCES.get(snapshot.registration_source,
                         Source(str(snapshot.registration_source), "The registration source is not recorded."))
    return DataStatus(
        snapshot_id=snapshot.id,
        source=snapshot.registration_source,
        source_label=source.label,
        source_explanation=source.explanation,
        read_at=read_at,
        age=describe_age(moment - read_at),
        users=snapshot.user_count,
    )


# --- rollout facts the overview borrows ----------------------------------------------------------


def wave_markers(store: Store, tenant_id: str) -> tuple[tuple[str, pd.Timestamp], ...]:
    """The tenant's rollout waves as ``(name, launched_at)``, oldest first, for the trend's markers.

    Comes from ``lib.rollout.waves.list_waves``; an empty tuple (no markers) when the tenant has no
    waves or the rollout tables cannot be read, so the trend still renders.
    """
    try:
        from lib.rollout.waves import list_waves

        return tuple((w.name, pd.Timestamp(w.launched_at)) for w in list_waves(store, tenant_id))
    except Exception as err:  # the trend is worth more without markers than not at all
        log.warning("rollout waves unavailable for the overview: %s", type(err).__name__)
        return ()


def protected_upns(store: Store, tenant_id: str, now: datetime | None = None) -> frozenset[str]:
    """UPNs protected now (``lib.rollout.protected``), for ``Scope.protected_upns``; empty when unreadable."""
    try:
        from lib.rollout.protected import active_protection

        return frozenset(active_protection(store, tenant_id, now))
    except Exception as err:
        log.warning("protected accounts unavailable for the overview: %s", type(err).__name__)
        return frozenset()


# --- the overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """Everything the page draws for one snapshot and one scope."""

    tenant_id: str
    tenant_name: str
    snapshot: Snapshot
    scope: Scope
    kpis: Kpis
    tables: dict[str, pd.DataFrame]
    """``lib.charts.overview_data``: the figures behind every chart (the CSV export)."""
    figures: dict[str, go.Figure] = field(repr=False)
    """``lib.charts.overview_figures``, keyed like ``CHART_ORDER``. Shared by reruns: do not mutate."""
    baseline_snapshot_id: int | None
    """The snapshot the weekly deltas compare with (None: no history a week back)."""
    baseline_pending: bool = False
    """True when the deltas are left out because that snapshot is still being read (``overview``)."""
    waves: tuple[tuple[str, pd.Timestamp], ...] = ()
    build_seconds: float = 0.0
    protection: ProtectionKpis | None = None
    """The protection tiles' counts (days left as of the snapshot: ``protection_now`` moves them to the clock)."""


def baseline_snapshot_id(aggregates: pd.DataFrame, snapshot: Snapshot) -> int | None:
    """The snapshot about a week before ``snapshot`` to compare with (``lib.kpis.previous_week_row``)."""
    if aggregates.empty:
        return None
    row = previous_week_row(aggregates)
    if row is None or "snapshot_id" not in row or pd.isna(row["snapshot_id"]):
        return None
    found = int(row["snapshot_id"])
    return found if found < snapshot.id else None


def build_overview(
    store: Store,
    snapshot: Snapshot,
    scope: Scope,
    *,
    tenant_name: str = "",
    waves: Iterable[tuple[str, object]] = (),
    top_n: int = 10,
    with_change: bool = True,
) -> Overview:
    """Read ``snapshot`` (a complete one) from ``store`` and build the overview for ``scope``.

    The deltas are exact for the scope: the snapshot about a week earlier (``baseline_snapshot_id``) is
    loaded and scoped the same way; ``with_change=False`` leaves them out (``baseline_pending`` tells
    whether there was one). The trend counts all users of each day (the store's aggregates), whatever
    the scope.
    """
    started = time.perf_counter()
    tenant = snapshot.tenant_id
    users = apply_scope(store.load_users(tenant, snapshot.id), scope)
    aggregates = store.daily_aggregates(tenant)
    baseline = baseline_snapshot_id(aggregates, snapshot)
    previous = None
    if baseline is not None and with_change:
        previous = apply_scope(store.load_users(tenant, baseline), scope)
    kpis = compute_kpis(users, previous)
    wave_list = tuple((str(name), pd.Timestamp(at)) for name, at in waves)
    started_at = pd.Timestamp(snapshot.started_at)
    protection = protection_kpis(users, started_at.tz_localize("UTC") if started_at.tzinfo is None else started_at)
    trend = _trends.get(_slot(store, tenant), snapshot.id, "all users",
                        lambda: _protection_trend(store, tenant, aggregates))
    tables = {"coverage": coverage_group_data(protection), "protection_trend": trend,
              **overview_data(users, aggregates, waves=wave_list, top_n=top_n)}
    figures = {"coverage": coverage_chart(tables["coverage"]),
               "protection_trend": protection_trend_chart(tables["protection_trend"]),
               **overview_figures(tables)}
    return Overview(
        tenant_id=tenant, tenant_name=tenant_name, snapshot=snapshot, scope=scope, kpis=kpis, tables=tables,
        figures=figures, baseline_snapshot_id=baseline, baseline_pending=baseline is not None and not with_change,
        waves=wave_list, build_seconds=time.perf_counter() - started, protection=protection,
    )


_overviews: LatestMemo[Overview] = LatestMemo("overviews", per_version=16)
"""Views derived from each tenant's latest snapshot (the store keeps the users frames themselves): a new
snapshot's first overview drops the previous snapshot's."""


_trends: LatestMemo[pd.DataFrame] = LatestMemo("protection trends")
"""The protected-share trend of each tenant's latest snapshot: it counts all users, whatever the scope, so
another scope reuses it instead of reading every stored version again."""


def _protection_trend(store: Store, tenant_id: str, aggregates: pd.DataFrame) -> pd.DataFrame:
    """The protected share per stored day, replayed from every user's stored ``covered_by`` versions."""
    days = aggregates.loc[:, ["day", "snapshot_id"]] if {"day", "snapshot_id"} <= set(aggregates.columns) else \
        pd.DataFrame({"day": [], "snapshot_id": []})
    days = days.dropna(subset=["snapshot_id"])
    try:
        versions = store.versions_for_users(tenant_id)
    except Exception as err:  # the trend is worth less than the page: draw it empty, say why in the log
        log.warning("protection history unavailable for the overview: %s", type(err).__name__)
        versions = pd.DataFrame({"id": [], "snapshot_id": [], "removed": []})
    return protection_trend_data(versions, days)


def protection_now(ov: Overview, now: datetime) -> ProtectionKpis | None:
    """``ov``'s protection counts with the days left to each SMS/voice deadline counted from ``now``."""
    return None if ov.protection is None else with_clock(ov.protection, now)


_prefetch = ThreadPoolExecutor(max_workers=2, thread_name_prefix="overview-prefetch")
_prefetching: dict[tuple, tuple[int, Future[None]]] = {}
"""Per (database, tenant): the week-ago snapshot being read into the store's memory, and that read. Only the
latest baseline's: a read per snapshot kept here would grow with the history."""
_prefetch_lock = threading.Lock()


def _slot(store: Store, tenant_id: str) -> tuple:
    return (store.where, tenant_id)


def _read_into_memory(store: Store, tenant_id: str, snapshot_id: int) -> None:
    """Read a snapshot's users into the store's own cache; the future holds no frame of its own."""
    store.load_users(tenant_id, snapshot_id)


def _prefetched(store: Store, tenant_id: str, snapshot_id: int) -> Future[None] | None:
    with _prefetch_lock:
        held = _prefetching.get(_slot(store, tenant_id))
    return held[1] if held is not None and held[0] == snapshot_id else None


def _start_prefetch(store: Store, tenant_id: str, snapshot_id: int) -> Future[None]:
    slot = _slot(store, tenant_id)
    with _prefetch_lock:
        held = _prefetching.get(slot)
        if held is None or held[0] != snapshot_id:  # once per snapshot: a failed read is not retried on every poll
            held = _prefetching[slot] = (snapshot_id, _prefetch.submit(_read_into_memory, store, tenant_id,
                                                                       snapshot_id))
        return held[1]


def baseline_ready(store: Store, ov: Overview) -> bool:
    """Whether the snapshot ``ov``'s deltas need has been read (or failed to be: then no deltas are shown)."""
    if not ov.baseline_pending or ov.baseline_snapshot_id is None:
        return True
    future = _start_prefetch(store, ov.tenant_id, ov.baseline_snapshot_id)
    return future.done()


def wait_for_baselines(timeout: float = 60.0) -> None:
    """Wait until every snapshot being read in the background is in (tests and benchmarks)."""
    with _prefetch_lock:
        futures = [future for _snapshot, future in _prefetching.values()]
    deadline = time.monotonic() + timeout
    for future in futures:
        with contextlib.suppress(Exception):  # a failed read means no deltas
            future.result(max(0.0, deadline - time.monotonic()))


def overview(
    store: Store,
    snapshot: Snapshot,
    scope: Scope,
    *,
    tenant_name: str = "",
    waves: Iterable[tuple[str, object]] = (),
    top_n: int = 10,
    wait_for_baseline: bool = True,
) -> Overview:
    """``build_overview``, memoised per (database, tenant, snapshot, scope, waves, top N, tenant name).

    A complete snapshot never changes, so the key says everything the result depends on; a refresh
    makes a new snapshot and therefore a new key. The latest snapshot's overviews (up to 16 scopes) are
    kept process-wide, and the store keeps the users frames they were built from: a rerun costs nothing,
    another scope is counted from memory, and a new snapshot's overview releases the previous one's.
    Two sessions asking for the same key at once build it once.

    ``wait_for_baseline=False`` never blocks on the week-ago snapshot: when it is not in memory yet it
    is read in the background and the overview comes back without deltas (``baseline_pending``); ask
    again once ``baseline_ready`` says so. The page uses this, so reading history never delays it.
    """
    wave_list = tuple((str(name), pd.Timestamp(at)) for name, at in waves)
    tenant = snapshot.tenant_id
    baseline = baseline_snapshot_id(store.daily_aggregates(tenant), snapshot)
    change = "yes"
    if baseline is not None and not wait_for_baseline and not store.holds_users(tenant, baseline):
        future = _prefetched(store, tenant, baseline)
        if future is None or not future.done():
            change = "pending"
        elif future.exception() is not None:
            log.warning("week-ago snapshot %s unreadable: %s", baseline, type(future.exception()).__name__)
            change = "failed"

    def build() -> Overview:
        built = build_overview(store, snapshot, scope, tenant_name=tenant_name, waves=wave_list, top_n=top_n,
                               with_change=change == "yes")
        return replace(built, baseline_pending=False) if change == "failed" else built

    key = (scope, wave_list, top_n, tenant_name, change)
    built = _overviews.get(_slot(store, tenant), snapshot.id, key, build)
    if change == "pending":  # after the current snapshot is read: the two reads would only slow each other
        _start_prefetch(store, tenant, baseline)
    return built


def cache_entries(store: Store, tenant_id: str) -> dict[str, int]:
    """What is kept in memory for a tenant: its overviews and its week-ago snapshot's reads (tests, benchmarks)."""
    with _prefetch_lock:
        reads = 1 if _slot(store, tenant_id) in _prefetching else 0
    return {"overviews": _overviews.held(_slot(store, tenant_id)), "baseline reads": reads}


def clear_cache() -> None:
    """Forget every memoised overview (tests, benchmarks)."""
    wait_for_baselines()
    _overviews.clear()
    _trends.clear()
    with _prefetch_lock:
        _prefetching.clear()


# --- what each figure is a share of --------------------------------------------------------------


def chart_captions(ov: Overview) -> dict[str, str]:
    """Each chart's caption, keyed like ``CHART_ORDER``: what its percentages are a share of, with the numbers,
    so the tiles, the funnel and the trend can be read against each other (they use different bases: the
    users in scope, the funnel's first stage, and every user of each day's snapshot)."""
    k, tables = ov.kpis, ov.tables
    scope = f"the {k.users:,} users in scope"
    funnel = tables["rollout_funnel"].set_index("stage")["users"]
    trend = tables["adoption_trend"]
    if trend.empty:
        latest = "No day is stored yet."
    else:
        last = trend.iloc[-1]
        latest = (f"Latest day: {last['pct_registered']:.1f}% of all {int(last['users']):,} users registered, "
                  f"{last['pct_enforced']:.1f}% Enforced; the tiles count {scope} ({k.pct_registered:.1f}% "
                  "registered).")
    return {
        "state_distribution": f"Per-user MFA state of {scope}; each percentage is of those {k.users:,}.",
        "rollout_funnel": (f"Each percentage is of {scope} (the first stage). “Registered” here counts only the "
                           f"{int(funnel.get('registered', 0)):,} users Enabled or Enforced with a method; the "
                           f"Registered for MFA tile counts all {k.registered:,} registered users in scope, "
                           "whatever their state. Enforced can exceed Registered: an Enforced user without a "
                           "method registers at next sign-in."),
        "adoption_trend": ("From stored history: a share of all users of each day's snapshot, whatever the scope. "
                           f"{latest} Dashed lines mark rollout waves, numbered as in the legend."),
        "methods": (f"Users per registered method, as a share of {scope}; a user with several methods counts "
                    "under each."),
        "method_strength": f"Each of {scope} by their strongest registered method; percentages are of those users.",
        "by_department": ("State mix per department, as a share of each department's users (largest ten, the rest "
                          "in Other); right of each bar, the department's share registered."),
        "by_country": ("State mix per country, as a share of each country's users (largest ten, the rest in "
                       "Other); right of each bar, the country's share registered."),
        "by_user_type": ("State mix of members and guests, each as a share of its own users; right of each bar, "
                         "the share registered."),
    }


# --- tiles ---------------------------------------------------------------------------------------


_DELTA_COLOURS = {
    "users": "off", "pct_registered": "normal", "pct_capable": "normal", "disabled": "inverse",
    "enabled": "off", "enforced": "normal", "unknown": "inverse", "admins_unregistered": "inverse",
    "guests": "off",
}
"""How a rise reads: green when good, red when bad, grey when neither (st.metric's delta_color)."""

_TILE_HELP = {
    "users": "Users counted with the scope below the title. Every tile and chart except the trend uses it.",
    "pct_registered": "Users with at least one registered second factor, as a share of users in scope.",
    "pct_capable": "Users with a registered second factor that the tenant's authentication methods policy allows, "
                   "on an account that can sign in (Graph's isMfaCapable), as a share of users in scope. Lower "
                   "than Registered when some users only registered a method the policy turned off (without "
                   "Entra ID P1 the report is unavailable: registered on an account that can sign in).",
    "disabled": "Per-user MFA state Disabled: MFA is not required by the per-user setting.",
    "enabled": "Per-user MFA state Enabled: the user is asked to register at next sign-in.",
    "enforced": "Per-user MFA state Enforced: MFA is required at every sign-in.",
    "unknown": "Users whose per-user MFA state could not be read.",
    "admins_unregistered": "Users holding a directory role who have no registered second factor.",
    "guests": "B2B guest accounts in scope.",
}


@dataclass(frozen=True)
class TileView:
    """One KPI tile as ``st.metric`` takes it."""

    key: str
    label: str
    value: str
    delta: str | int | None
    delta_color: str
    delta_description: str | None
    help: str
    highlight: bool
    colour: str | None
    """The state's colour (Disabled / Enabled / Enforced / Unknown tiles), the same as in every chart."""
    basis: str = ""
    """What a percentage tile is a share of ("1,785 of 2,780 users in scope"), shown under its value."""


def _tile_delta(tile: KpiTile) -> str | int | None:
    if tile.delta is None:
        return None
    return 0 if tile.delta.startswith("±") else tile.delta  # a number 0 is shown grey, without an arrow


def tile_views(kpis: Kpis) -> list[TileView]:
    """``lib.kpis.kpi_tiles`` in display order, with how st.metric should colour each delta.

    The Unknown tile is left out when nobody's state is unknown and it did not change.
    """
    since = kpis.change.since if kpis.change is not None else None
    description = f"since {since:%d %b}" if since is not None else ("since last week" if kpis.change else None)
    views = []
    for tile in kpi_tiles(kpis):
        if tile.key == "unknown" and kpis.unknown == 0 and (kpis.change is None or kpis.change.unknown == 0):
            continue
        delta = _tile_delta(tile)
        views.append(TileView(
            key=tile.key, label=tile.label, value=tile.value, delta=delta,
            delta_color=_DELTA_COLOURS.get(tile.key, "off"),
            delta_description=description if delta is not None else None,
            help=_TILE_HELP.get(tile.key, ""), highlight=tile.highlight, colour=STATE_COLOURS.get(tile.key),
            basis=tile.basis,
        ))
    return views


def admins_without_method_preset(kpis: Kpis) -> UsersFilterPreset:
    """The users page's filter preset for the highlighted tile (see the module docstring)."""
    return UsersFilterPreset(label="Admins without a registered method", came_from="Overview", admin=True,
                             registered=False, user_ids=tuple(kpis.admins_unregistered_ids))


# --- exports -------------------------------------------------------------------------------------


_KPI_UNITS = {"pct_registered": ("%", "pp"), "pct_capable": ("%", "pp")}


def kpi_table(kpis: Kpis) -> pd.DataFrame:
    """The tiles as numbers for a spreadsheet: ``kpi``, ``label``, ``value``, ``unit`` (users or %),
    ``change_since_last_week`` (empty without history), ``change_unit`` (users or pp, percentage
    points) and ``since`` (the baseline's date). Numbers, not the tiles' text, so nothing in the
    CSV looks like a formula and every cell can be computed with."""
    tiles = kpi_tiles(kpis)
    change = kpis.change
    since = None if change is None or change.since is None else f"{pd.Timestamp(change.since):%Y-%m-%d}"
    rows = []
    for tile in tiles:
        unit, change_unit = _KPI_UNITS.get(tile.key, ("users", "users"))
        rows.append({
            "kpi": tile.key, "label": tile.label, "value": float(getattr(kpis, tile.key)), "unit": unit,
            "change_since_last_week": None if change is None else float(getattr(change, tile.key)),
            "change_unit": change_unit, "since": since,
        })
    table = pd.DataFrame(rows, columns=["kpi", "label", "value", "unit", "change_since_last_week", "change_unit",
                                        "since"])
    for name in ("kpi", "label", "unit", "change_unit", "since"):
        table[name] = table[name].astype("string")
    for name in ("value", "change_since_last_week"):
        table[name] = table[name].astype("float64")
    return table


def _scope_note(ov: Overview) -> str:
    return ov.scope.describe() + "."


def _protection_keys(ov: Overview) -> tuple[str, ...]:
    """The protection figures worth exporting: none for a snapshot taken before protection was read."""
    return PROTECTION_ORDER if ov.protection is not None and ov.protection.protection_read else ()


def report_html(ov: Overview, status: DataStatus, generated_at: datetime) -> str:
    """The self-contained HTML management report (``lib.exports.html_report``) for ``ov``, led by the protection
    tiles (days left to the SMS/voice deadlines counted from ``generated_at``)."""
    kpis = protection_now(ov, generated_at)
    lead = [(t.key, t.label, t.value, t.basis, t.highlight) for t in (protection_tiles(kpis) if kpis else [])]
    return html_report(
        REPORT_TITLE, ov.tenant_name or ov.tenant_id, generated_at, ov.kpis,
        [(TITLES[key], ov.figures[key]) for key in (*_protection_keys(ov), *CHART_ORDER)],
        f"registration from {status.source_label}",
        data_as_of=status.read_at.to_pydatetime(),
        scope_note=_scope_note(ov) + " The adoption trend counts all users of each day's snapshot.",
        lead_tiles=lead,
    )


def figures_zip(ov: Overview, status: DataStatus) -> bytes:
    """A ZIP with ``kpis.csv`` and one CSV per chart (the tables behind it), plus a README."""
    tables = {key: table for key, table in ov.tables.items() if key in CHART_TITLES or key in _protection_keys(ov)}
    files = ", ".join(f"{key}.csv ({TITLES[key]})" for key in tables)
    readme = "\r\n".join([
        f"{REPORT_TITLE}: the figures behind every chart",
        f"Tenant: {ov.tenant_name or ov.tenant_id}",
        status.line(),
        f"Scope: {_scope_note(ov)} adoption_trend.csv counts all users of each day's snapshot.",
        "",
        "kpis.csv: the key figures and their change since last week (pp: percentage points).",
        f"Charts: {files}.",
        "CSV files are UTF-8 with a byte-order mark, comma-separated; percentages are 0-100.",
        "",
    ])
    return figures_csv_zip({"kpis": kpi_table(ov.kpis), **tables}, readme=readme)


def export_file_name(ov: Overview, status: DataStatus, kind: str, extension: str) -> str:
    """``mfa-overview-<tenant>-<data date>.<ext>``, ``kind`` appended when given (e.g. a chart key)."""
    name = "".join(c if c.isalnum() else "-" for c in (ov.tenant_name or ov.tenant_id).lower()).strip("-")
    name = "-".join(part for part in name.split("-") if part)[:40] or "tenant"
    suffix = f"-{kind.replace('_', '-')}" if kind else ""
    return f"mfa-overview-{name}-{status.read_at:%Y-%m-%d}{suffix}.{extension}"


# --- chart images --------------------------------------------------------------------------------


CHROMIUM_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
"""Where a PNG export looks for a headless browser (``$MFA_CHROMIUM`` first, when set)."""


class ChartImageError(ConsoleError, RuntimeError):
    """A chart could not be turned into a PNG; the message says why, for the page."""

    code = "chart_image"


def chromium_binary(candidates: Iterable[str] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The first executable Chromium among ``$MFA_CHROMIUM`` and ``candidates``, or None."""
    env = os.environ if environ is None else environ
    paths = [env["MFA_CHROMIUM"]] if env.get("MFA_CHROMIUM") else []
    paths += list(CHROMIUM_CANDIDATES if candidates is None else candidates)
    for path in paths:
        resolved = shutil.which(path) if os.sep not in path else path
        if resolved and os.path.isfile(resolved) and os.access(resolved, os.X_OK):
            return resolved
    return None


_PNG_PAGE_STYLE = "<style>html,body{margin:0;padding:0;background:#fff}#chart{padding:16px 24px}</style>"


def chart_png(
    figure: go.Figure,
    title: str,
    *,
    chromium: str | None = None,
    width: int = 1400,
    scale: float = 2.0,
    timeout: float = 60.0,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> bytes:
    """``figure`` with ``title`` as a PNG, drawn by headless Chromium (plotly.js inlined, no network).

    ``scale`` 2 gives a sharp image for slides. Raises ``ChartImageError`` when no Chromium is found,
    it fails, or it times out. Takes a few seconds: call it on a click, not on every rerun.
    """
    binary = chromium or chromium_binary()
    if binary is None:
        raise ChartImageError("Chromium is not installed on the server, so charts cannot be saved as PNG here. "
                              "Use the camera icon in the chart's toolbar, or the HTML report.")
    height = int(figure.layout.height or 460) + 70
    copy = go.Figure(figure)
    copy.update_layout(title={"text": title}, width=width, height=height, margin={"t": 80})
    page = copy.to_html(full_html=True, include_plotlyjs=True, config={"staticPlot": True},
                        default_width=f"{width}px", default_height=f"{height}px", div_id="chart")
    page = page.replace("<head>", "<head><meta charset=\"utf-8\">" + _PNG_PAGE_STYLE, 1)
    with tempfile.TemporaryDirectory(prefix="mfa-chart-") as folder:
        html_path = Path(folder) / "chart.html"
        png_path = Path(folder) / "chart.png"
        html_path.write_text(page, encoding="utf-8")
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
            "--no-first-run", "--disable-extensions", f"--user-data-dir={Path(folder) / 'profile'}",
            f"--window-size={width + 48},{height + 32}", f"--force-device-scale-factor={scale}",
            "--virtual-time-budget=15000", f"--screenshot={png_path}", html_path.as_uri(),
        ]
        try:
            result = run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise ChartImageError(f"Chromium took longer than {timeout:.0f} s to draw the chart.") from err
        except OSError as err:
            raise ChartImageError(f"Chromium could not be started ({err.strerror or err}).") from err
        if result.returncode != 0 or not png_path.exists() or png_path.stat().st_size == 0:
            detail = (result.stderr or "").strip().splitlines()[-1:] or [f"exit code {result.returncode}"]
            raise ChartImageError(f"Chromium could not draw the chart: {detail[0][:200]}")
        return png_path.read_bytes()
