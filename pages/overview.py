"""Adoption overview: where the tenant stands, at a glance and over time (the default page).

Renders only: the numbers come from ``lib.overview`` (KPIs, the tables behind every chart, figures),
the scope from ``lib.ui.scope_controls``, the data from the latest snapshot in the store.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib.console.sign_in_evidence import SignInOverview, sign_in_overview
from lib.errors import describe
from lib.jobs import current_job
from lib.overview import (
    TITLES,
    DataStatus,
    Overview,
    TileView,
    admins_without_method_preset,
    baseline_ready,
    chart_captions,
    data_status,
    overview,
    protected_upns,
    protection_now,
    tile_views,
    wave_markers,
)
from lib.palette import STATE_COLOURS
from lib.protection_tiles import ProtectionTile, protection_tiles, trend_note
from lib.scope import Scope
from lib.sign_in_tiles import SignInTile, section_caption, sign_in_tiles
from lib.signins.figures import single_factor_chart
from lib.ui.context import Console, console, latest_snapshot, signed_in_admin, workspace
from lib.ui.handoff import send_users_filter
from lib.ui.overview_exports import exports
from lib.ui.scope_controls import scope_controls
from lib.ui.sidebar import start_session_refresh

FIRST_SNAPSHOT_SEEN = "overview_first_snapshot_seen"

PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"],
                 "toImageButtonOptions": {"format": "png", "scale": 2}}


def _style() -> None:
    """Tiles coloured like the charts: a state's tile carries its state's colour; the alert tile stands out."""
    rules = ["[class*='st-key-kpi_'] { border-top: 6px solid #E6E6E6; }"]
    rules += [f".st-key-kpi_{state} {{ border-top-color: {colour}; }}" for state, colour in STATE_COLOURS.items()]
    alert = STATE_COLOURS["disabled"]
    rules += [
        f"[class*='st-key-kpi_alert'] {{ border: 2px solid {alert}; background: #FDF1EA; }}",
        f"[class*='st-key-kpi_alert'] [data-testid='stMetricValue'] {{ color: {alert}; }}",
        ".st-key-kpi_p_protected, .st-key-kpi_p_phishing_resistant "
        f"{{ border-top-color: {STATE_COLOURS['enforced']}; }}",
        f".st-key-kpi_signin_single_factor, .st-key-kpi_signin_legacy {{ border-top-color: {alert}; }}",
        f".st-key-kpi_signin_mfa {{ border-top-color: {STATE_COLOURS['enforced']}; }}",
        "[data-testid='stMetricLabel'] p, [data-testid='stMetricLabel'] div { white-space: normal; }",
        "[data-testid='stMetricValue'] { font-weight: 600; }",
        "[data-testid='stMetricLabel'] p { font-size: 1.05rem; }",
        ".st-key-data_line p { font-size: 1.05rem; }",
        "[data-testid='stMainBlockContainer'] { padding-top: 2.5rem; }",  # room for the numbers on a projector
    ]
    st.html("<style>" + "\n".join(rules) + "</style>")


# --- empty state -------------------------------------------------------------------------------


@st.fragment(run_every=1.0)
def _first_snapshot_progress(tenant: str) -> None:
    job = current_job(tenant)
    if job is None:
        return
    if not job.finished:
        st.progress(job.fraction, text=job.label)
        return
    if job.error:
        (st.warning if job.cancelled else st.error)(job.error)
        return
    if st.session_state.get(FIRST_SNAPSHOT_SEEN) != id(job):
        st.session_state[FIRST_SNAPSHOT_SEEN] = id(job)
        st.rerun(scope="app")  # the first snapshot is in: draw the overview


def _no_snapshot(app: Console, tenant: str) -> None:
    job = current_job(tenant)
    running = job is not None and not job.finished
    with st.container(border=True):
        st.markdown("### No snapshot of this tenant yet")
        st.markdown("The overview is drawn from snapshots the console stores, never from Graph on page load. "
                    "Take the first one: the console reads every user, their registration and their per-user MFA "
                    "state through Microsoft Graph. A large tenant takes several minutes; you can leave this page "
                    "meanwhile, the snapshot continues.")
        if st.button("Taking the first snapshot…" if running else "Take the first snapshot", type="primary",
                     key="first_snapshot", disabled=running, icon=":material/photo_camera:"):
            try:
                start_session_refresh(app)
            except Exception as err:
                st.error(f"The snapshot could not start: {getattr(err, 'message', None) or err}")
            else:
                st.rerun()
        _first_snapshot_progress(tenant)


# --- tiles -------------------------------------------------------------------------------------


def _tile(view: TileView, column: DeltaGenerator) -> DeltaGenerator:
    """One KPI in a bordered card; returns the card, so a link can go inside it."""
    card = column.container(key="kpi_alert" if view.highlight else f"kpi_{view.key}", border=True, height="stretch")
    card.metric(view.label, view.value, view.delta, delta_color=view.delta_color, help=view.help,
                delta_description=view.delta_description, icon=":material/warning:" if view.highlight else None)
    if view.basis:
        card.caption(view.basis)
    return card


def _admin_link(ov: Overview, card: DeltaGenerator) -> None:
    count = ov.kpis.admins_unregistered
    with card:
        if count == 0:
            st.caption("Every admin in scope has a registered method.")
            return
        label = "Show this admin" if count == 1 else "Show these admins"
        if st.button(label, key="show_admins_without_method", type="primary", icon=":material/arrow_forward:",
                     width="stretch", help="Opens the Users page filtered to admins without a registered method"):
            send_users_filter(admins_without_method_preset(ov.kpis))


def _tiles(app: Console, ov: Overview) -> None:
    views = {v.key: v for v in tile_views(ov.kpis)}
    top = st.columns(4)
    for column, key in zip(top[:3], ("users", "pct_registered", "pct_capable"), strict=True):
        _tile(views[key], column)
    _admin_link(ov, _tile(views["admins_unregistered"], top[3]))
    second = [k for k in ("disabled", "enabled", "enforced", "unknown", "guests") if k in views]
    for column, key in zip(st.columns(len(second)), second, strict=True):
        _tile(views[key], column)
    if ov.baseline_pending:
        _await_baseline(app, ov)
    elif ov.kpis.change is None and ov.baseline_snapshot_id is None:
        st.caption("No change since last week yet: the stored history does not reach a week back.")
    elif ov.kpis.change is None:
        st.caption("The change since last week is unavailable: last week's snapshot could not be read.")


@st.fragment(run_every=1.0)
def _await_baseline(app: Console, ov: Overview) -> None:
    """The week-ago snapshot is read in the background; redraw with the deltas once it is in."""
    if baseline_ready(app.store, ov):
        st.rerun(scope="app")
    st.caption(":material/hourglass_top: Reading last week's snapshot for the change since last week…")


# --- protection --------------------------------------------------------------------------------


def _protection_tile(tile: ProtectionTile, column: DeltaGenerator) -> None:
    card = column.container(key=f"kpi_alert_p_{tile.key}" if tile.highlight else f"kpi_p_{tile.key}", border=True,
                            height="stretch")
    card.metric(tile.label, tile.value, help=tile.help, icon=":material/warning:" if tile.highlight else None)
    card.caption(tile.basis)
    with card:
        if tile.count == 0:
            st.caption("Nobody to list.")
        elif st.button(tile.link, key=f"show_protection_{tile.key}", icon=":material/arrow_forward:",
                       width="stretch", type="primary" if tile.highlight else "secondary",
                       help=f"Opens the Users page filtered to exactly these {tile.count:,} users"):
            send_users_filter(tile.preset)


def _protection(app: Console, ov: Overview) -> None:
    st.subheader("Who is effectively protected")
    kpis = protection_now(ov, app.now())
    tiles = protection_tiles(kpis) if kpis is not None else []
    if not tiles:
        st.info("**Protection not read yet.** This snapshot was taken before the console read the tenant's "
                "Conditional Access policies, security defaults and methods. Refresh the data (sidebar) to see who "
                "is effectively protected, by what, and who relies on SMS or voice alone.", icon=":material/shield:")
        return
    for row in (tiles[:3], tiles[3:]):
        for column, tile in zip(st.columns(3), row, strict=False):
            _protection_tile(tile, column)
    left, right = st.container(key="protection_charts").columns([3, 2])
    with left, st.container(border=True):
        st.markdown(f"#### {TITLES['coverage']}")
        st.caption(f"Each of the {kpis.users:,} users in scope by what asks them for MFA; percentages are of those "
                   "users. Partial, report-only and excluded Conditional Access coverage leaves sign-ins open.")
        st.plotly_chart(ov.figures["coverage"], theme=None, key="chart_coverage", config=PLOTLY_CONFIG)
    with right, st.container(border=True):
        st.markdown(f"#### {TITLES['protection_trend']}")
        st.caption(trend_note(ov.tables["protection_trend"]))
        st.plotly_chart(ov.figures["protection_trend"], theme=None, key="chart_protection_trend",
                        config=PLOTLY_CONFIG)


# --- sign-ins ----------------------------------------------------------------------------------


def _sign_in_tile(tile: SignInTile, column: DeltaGenerator) -> None:
    card = column.container(key=f"kpi_{tile.key}", border=True, height="stretch")
    card.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, delta_arrow=tile.delta_arrow,
                help=tile.help)
    card.caption(tile.basis)
    if tile.preset is None:
        return
    with card:
        if tile.count == 0:
            st.caption("Nobody to list.")
        elif st.button(tile.link, key=f"show_{tile.key}", icon=":material/arrow_forward:", width="stretch",
                       help=f"Opens the Users page filtered to exactly these {tile.count:,} users"):
            send_users_filter(tile.preset)


def _sign_ins(app: Console, snapshot: Any, scope: Scope) -> None:
    st.subheader("Sign-ins, last 30 days")
    section: SignInOverview = sign_in_overview(workspace(app), snapshot, scope)
    seen, figures = section.seen, section.figures
    if figures is None or seen.as_of is None:
        st.info(seen.message or "No sign-in evidence.", icon=":material/login:")
        return
    st.caption(section_caption(users=section.users, tenant_users=section.tenant_users, as_of=seen.as_of,
                               read_at=seen.read_at))
    for column, tile in zip(st.columns(3), sign_in_tiles(figures), strict=True):
        _sign_in_tile(tile, column)
    with st.container(border=True, key="signin_chart"):
        st.markdown("#### Single-factor sign-ins per day")
        st.caption("Successful sign-ins that asked for one factor only, per day (UTC); a day without any shows 0.")
        st.plotly_chart(single_factor_chart(figures.daily), theme=None, key="chart_single_factor",
                        config=PLOTLY_CONFIG)


# --- charts ------------------------------------------------------------------------------------


def _chart(ov: Overview, key: str, captions: dict[str, str]) -> None:
    with st.container(border=True):
        st.markdown(f"#### {TITLES[key]}")
        st.caption(captions[key])
        st.plotly_chart(ov.figures[key], theme=None, key=f"chart_{key}", config=PLOTLY_CONFIG)


def _charts(ov: Overview) -> None:
    captions = chart_captions(ov)
    left, right = st.columns(2)
    with left:
        _chart(ov, "state_distribution", captions)
    with right:
        _chart(ov, "rollout_funnel", captions)
    _chart(ov, "adoption_trend", captions)
    left, right = st.columns([3, 2])
    with left:
        _chart(ov, "methods", captions)
    with right:
        _chart(ov, "method_strength", captions)
    left, right = st.columns(2)
    with left:
        _chart(ov, "by_department", captions)
    with right:
        _chart(ov, "by_country", captions)
    _chart(ov, "by_user_type", captions)


# --- the page ----------------------------------------------------------------------------------


def _data_line(status: DataStatus) -> None:
    with st.container(key="data_line"):
        st.markdown(f":material/database: {status.line()}")
    if not status.premium:
        st.info(f"**Registration data without Entra ID P1.** {status.source_explanation}",
                icon=":material/info:")


def main() -> None:
    app = console()
    admin = signed_in_admin()
    if admin is None:
        st.stop()
    _style()
    try:
        tenant = app.store.get_tenant(admin.tenant_id)
        snapshot = latest_snapshot(app)
    except Exception as err:
        st.error(f"**The store could not be read.** {getattr(err, 'message', None) or err}")
        st.stop()
    tenant_name = tenant.name if tenant is not None and tenant.name else admin.tenant_id
    st.title("Adoption overview")
    st.caption(f"{tenant_name}" + (f" · {tenant.domain}" if tenant is not None and tenant.domain else ""))
    if snapshot is None:
        _no_snapshot(app, admin.tenant_id)
        return
    status = data_status(snapshot, app.now())
    _data_line(status)
    scope = scope_controls("overview", protected_upns(app.store, admin.tenant_id, app.now()))
    try:
        with st.spinner("Counting…"):
            ov = overview(app.store, snapshot, scope, tenant_name=tenant_name,
                          waves=wave_markers(app.store, admin.tenant_id), wait_for_baseline=False)
    except Exception as err:
        st.error(f"**The overview could not be built from snapshot {snapshot.id}.** "
                 f"{describe(err)}")
        st.stop()
    if ov.kpis.users == 0:
        st.warning("No users in this scope. Widen the scope above to count more accounts.", icon=":material/group_off:")
    _protection(app, ov)
    try:
        _sign_ins(app, snapshot, scope)
    except Exception as err:  # the rest of the overview stands without the sign-in section
        logging.getLogger("pages.overview").exception("sign-in section failed")
        st.error(f"**The sign-in figures could not be shown.** {describe(err)}")
    st.subheader("Adoption")
    _tiles(app, ov)
    _charts(ov)
    exports(app, ov, status)


try:
    main()
except Exception as err:  # the last line of defence: a sentence on the page, the details in the server log
    logging.getLogger("pages.overview").exception("overview page failed")
    st.error(f"**The overview could not be shown.** {describe(err)}. Reload the page; if it persists, "
             "the server log has the details.")
