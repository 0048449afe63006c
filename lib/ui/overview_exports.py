"""The overview's exports: the self-contained HTML report, the figures' data as CSV, and each chart as PNG."""

from __future__ import annotations

import streamlit as st

from lib.errors import describe
from lib.overview import (
    CHART_ORDER,
    PROTECTION_ORDER,
    TITLES,
    ChartImageError,
    DataStatus,
    Overview,
    chart_png,
    chromium_binary,
    export_file_name,
    figures_zip,
    report_html,
)
from lib.ui.context import Console

PNG_KEY = "overview_png"


# --- exports -----------------------------------------------------------------------------------


def exports(app: Console, ov: Overview, status: DataStatus) -> None:
    st.subheader("Export")
    report, tables, image = st.columns(3)
    with report, st.container(border=True):
        st.markdown("**Management report** (HTML)")
        st.caption("One self-contained file: key figures, every chart (interactive), tenant, date, data source "
                   "and scope. Opens offline in any browser.")
        st.download_button("Download report", data=lambda: report_html(ov, status, app.now()),
                           file_name=export_file_name(ov, status, "report", "html"), mime="text/html",
                           key="download_report", icon=":material/description:", on_click="ignore", type="primary")
    with tables, st.container(border=True):
        st.markdown("**Figures behind every chart** (CSV in a ZIP)")
        st.caption("The key figures and one CSV per chart, exactly as drawn, for a spreadsheet or a slide.")
        st.download_button("Download figures", data=lambda: figures_zip(ov, status),
                           file_name=export_file_name(ov, status, "figures", "zip"), mime="application/zip",
                           key="download_figures", icon=":material/table_view:", on_click="ignore")
    with image, st.container(border=True):
        st.markdown("**One chart as an image** (PNG)")
        chromium = chromium_binary()
        if chromium is None:
            st.caption("PNG export is unavailable here: it needs Chromium on the server, and none is installed. "
                       "Use the camera icon in a chart's toolbar, or the HTML report.")
            return
        chart = st.selectbox("Chart", [*PROTECTION_ORDER, *CHART_ORDER], format_func=TITLES.get, key="png_chart",
                             label_visibility="collapsed")
        wanted = (ov.snapshot.id, ov.scope, chart)
        made = st.session_state.get(PNG_KEY)
        if made is not None and made[0] == wanted:
            st.download_button("Download PNG", data=made[1], file_name=export_file_name(ov, status, chart, "png"),
                               mime="image/png", key="download_png", icon=":material/image:", on_click="ignore")
        elif st.button("Make PNG", key="make_png", icon=":material/image:",
                       help="Draws the chart with headless Chromium on the server (a few seconds)"):
            with st.spinner("Drawing the chart with Chromium…"):
                try:
                    png = chart_png(ov.figures[chart], TITLES[chart], chromium=chromium)
                except ChartImageError as err:
                    st.error(describe(err))
                else:
                    st.session_state[PNG_KEY] = (wanted, png)
                    st.rerun()


