"""Downloads: CSV and XLSX of a table, a ZIP of the tables behind every chart, and a
self-contained HTML management report. Pure functions: a frame or figures in, bytes or text out.

Everything a spreadsheet opens is neutralised first (``neutralise_formulas``): names, departments
and job titles come from the tenant, and a cell such as ``=HYPERLINK(...)`` or ``@SUM(...)`` must
open as text, never run as a formula. A cell starts not only where the file's own separator says: an
Excel whose list separator is ``;`` splits ``Bob;=1+1`` into ``Bob`` and ``=1+1``, and a reader that
is not in a quoted field splits at any separator it uses. So a formula character (``= + - @``, tab,
CR) is neutralised at the start of a text *and* after every ``,`` ``;`` tab or line break in it
(spaces and quotes in between count for nothing), and every CSV field is quoted.

CSV encoding: UTF-8 **with** a byte-order mark, comma-separated, every field quoted, CRLF line ends
(RFC 4180). Excel
reads a UTF-8 file without a BOM as the ANSI code page (so "Åsa Öberg" turns into mojibake); with
the BOM it opens correctly by double-click, and every other tool (pandas, Python's csv with
``utf-8-sig``, LibreOffice, Google Sheets) accepts it. The ``sep=,`` hint line is deliberately not
written: Excel then ignores the BOM. Users whose Excel list separator is ``;`` (e.g. Swedish
locale) open the file through Data → From Text/CSV, or the page offers ``delimiter=";"``.
Times are written in UTC without a zone suffix, so Excel recognises them as dates.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from lib.kpis import Kpis, kpi_tiles

__all__ = [
    "FORMULA_PREFIXES",
    "figures_csv_zip",
    "html_report",
    "neutralise_formulas",
    "neutralise_text",
    "to_csv_bytes",
    "to_xlsx_bytes",
]

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is read as a formula (or DDE) by spreadsheet apps."""

_FORMULA_START = re.compile(r"(^|[,;\t\r\n])(?=[ \"]*[=+\-@\t\r])")
"""Where a cell could start under some separator (the text's start, or after ``,`` ``;`` tab or a line break),
followed (after any spaces and quotes, which a spreadsheet may trim) by a character that starts a formula:
an apostrophe goes there."""
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_XLSX_MAX_ROWS = 1_048_576
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def _is_text_column(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


def neutralise_text(text: str) -> str:
    """``text`` with an apostrophe before every formula character that could start a cell: at its start,
    and after each ``,`` ``;`` tab or line break (``Bob;=1+1`` → ``Bob;'=1+1``, ``=cmd|…`` → ``'=cmd|…``)."""
    return _FORMULA_START.sub(r"\1'", text)


def _needs(value: object) -> bool:
    return isinstance(value, str) and _FORMULA_START.search(value) is not None


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` where every *string* cell that could start a formula in a spreadsheet, under
    any of the separators ``,`` ``;`` and tab, is neutralised (:func:`neutralise_text`: ``'=cmd|…`` opens
    as text). Numbers, booleans, dates and missing values are untouched, as are column dtypes; ``frame``
    itself is not modified.
    """
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = column.cat.categories
            if pd.api.types.is_string_dtype(categories.dtype) or categories.dtype == object:
                renamed = [neutralise_text(c) if _needs(c) else c for c in categories]
                out[name] = column.cat.rename_categories(renamed)
            continue
        if not _is_text_column(column):
            continue
        if column.dtype == object:
            values = column.to_numpy()
            flagged = np.fromiter((_needs(v) for v in values), dtype=bool, count=len(values))
            if flagged.any():
                values = values.copy()
                values[flagged] = [neutralise_text(v) for v in values[flagged]]
                out[name] = pd.Series(values, index=column.index, dtype=object)
        else:
            flagged = np.fromiter((_needs(v) for v in column), dtype=bool, count=len(column))
            if flagged.any():
                out[name] = column.mask(flagged, column.map(lambda v: neutralise_text(v) if _needs(v) else v))
    return out


def _utc_naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Zone-aware datetime columns converted to UTC and stripped of the zone (Excel has no zones);
    column names neutralised like cells (a header is a cell too)."""
    out = frame.copy()
    out.columns = [neutralise_text(c) if _needs(c) else c for c in out.columns]
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def to_csv_bytes(frame: pd.DataFrame, *, delimiter: str = ",") -> bytes:
    """``frame`` as a CSV download: neutralised, every field quoted, UTF-8 with BOM, CRLF, no index, times in
    UTC (``YYYY-MM-DD HH:MM:SS``), missing values empty. See the module docstring for why."""
    if delimiter not in (",", ";", "\t"):
        raise ValueError(f"delimiter must be ',', ';' or a tab, got {delimiter!r}")
    prepared = _utc_naive(neutralise_formulas(frame))
    text = prepared.to_csv(index=False, sep=delimiter, lineterminator="\r\n", date_format="%Y-%m-%d %H:%M:%S",
                           quoting=csv.QUOTE_ALL)
    return text.encode("utf-8-sig")


def _check_sheet_name(sheet_name: str) -> None:
    if not sheet_name or len(sheet_name) > 31 or _SHEET_FORBIDDEN.search(sheet_name) or \
            sheet_name.startswith("'") or sheet_name.endswith("'"):
        raise ValueError(
            f"sheet name {sheet_name!r} is not allowed by Excel: 1–31 characters, none of [ ] : * ? / \\, "
            "not starting or ending with an apostrophe"
        )


def _xlsx_cells(column: pd.Series) -> list[object]:
    """A column as Python values openpyxl writes: None for missing, native ints/floats/bools,
    naive datetimes, strings cleaned of the control characters XML cannot hold."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return [None if pd.isna(v) else v.to_pydatetime() for v in column]
    values = column.astype(object).where(column.notna(), None).tolist()
    out: list[object] = []
    for value in values:
        if isinstance(value, str):
            cleaned = _XLSX_ILLEGAL.sub("", value)
            # "\x07=1" was not a formula, but "=1" is: check again after cleaning
            out.append("'" + cleaned if cleaned != value and cleaned.startswith(FORMULA_PREFIXES) else cleaned)
        elif isinstance(value, np.generic):
            out.append(value.item())
        elif isinstance(value, pd.Timestamp):
            out.append(value.tz_convert("UTC").tz_localize(None).to_pydatetime() if value.tzinfo else value)
        else:
            out.append(value)
    return out


def to_xlsx_bytes(frame: pd.DataFrame, sheet_name: str = "Users") -> bytes:
    """``frame`` as an .xlsx workbook with one sheet: a bold header row, frozen, auto-filter,
    neutralised text (every cell written as a value, never a formula), zone-aware times converted
    to UTC (Excel cannot store a zone) and shown as ``yyyy-mm-dd h:mm:ss``.

    Raises ValueError for a sheet name Excel rejects or more rows than a sheet holds.
    """
    _check_sheet_name(sheet_name)
    if len(frame) + 1 > _XLSX_MAX_ROWS:
        raise ValueError(f"{len(frame):,} rows do not fit one Excel sheet ({_XLSX_MAX_ROWS - 1:,} at most)")
    prepared = _utc_naive(neutralise_formulas(frame))
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_name)
    sheet.freeze_panes = "A2"
    dates = [pd.api.types.is_datetime64_any_dtype(prepared[c].dtype) for c in prepared.columns]
    for index, name in enumerate(prepared.columns, start=1):
        width = 22 if dates[index - 1] else max(10, min(40, len(str(name)) + 4))
        sheet.column_dimensions[get_column_letter(index)].width = width
    if len(prepared.columns):
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(prepared.columns))}{len(prepared) + 1}"
    header = []
    for name in prepared.columns:
        cell = WriteOnlyCell(sheet, value=_XLSX_ILLEGAL.sub("", str(name)))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    columns = [_xlsx_cells(prepared[c]) for c in prepared.columns]
    for row in zip(*columns, strict=True) if columns else ():
        sheet.append(row)  # openpyxl gives datetimes a date format; strings were neutralised, so no formulas
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    return slug or "table"


def figures_csv_zip(tables: Mapping[str, pd.DataFrame], *, readme: str | None = None) -> bytes:
    """A ZIP with one CSV per table (``to_csv_bytes``), named after its key (``by_department.csv``),
    in the mapping's order, plus ``README.txt`` when ``readme`` is given. Same input, same bytes."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if readme is not None:
            archive.writestr(zipfile.ZipInfo("README.txt", _ZIP_TIME), readme.encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
            used.add("readme")
        for key, table in tables.items():
            base = _slug(str(key))
            name, n = base, 2
            while name in used:
                name, n = f"{base}_{n}", n + 1
            used.add(name)
            archive.writestr(zipfile.ZipInfo(f"{name}.csv", _ZIP_TIME), to_csv_bytes(table),
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def describe_age(age: timedelta) -> str:
    """``timedelta(hours=3, minutes=5)`` → ``'3 h 5 min'``; days above 48 hours."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 60:
        return "less than a minute"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


_CSS = """
:root { --ink:#1a1a1a; --muted:#555; --line:#ddd; --alert:#D55E00; }
* { box-sizing: border-box; }
body { font-family: "Segoe UI", "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0 auto;
       max-width: 1200px; padding: 32px 24px 64px; font-size: 18px; line-height: 1.4; }
header { border-bottom: 3px solid #0072B2; margin-bottom: 24px; padding-bottom: 12px; }
h1 { font-size: 34px; margin: 0 0 6px; }
h2 { font-size: 24px; margin: 36px 0 8px; }
.meta { color: var(--muted); margin: 2px 0; }
.meta b { color: var(--ink); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.tile .label { color: var(--muted); font-size: 16px; }
.tile .value { font-size: 34px; font-weight: 600; }
.tile .delta { color: var(--muted); font-size: 15px; }
.tile .basis { color: var(--muted); font-size: 14px; }
.tile.alert { border-color: var(--alert); border-width: 2px; }
.tile.alert .value { color: var(--alert); }
.chart { break-inside: avoid; page-break-inside: avoid; }
footer { color: var(--muted); font-size: 14px; margin-top: 48px; border-top: 1px solid var(--line); padding-top: 8px; }
@media print { body { padding: 0; } h2 { break-after: avoid; } }
"""


def html_report(
    title: str,
    tenant_name: str,
    generated_at: datetime,
    kpis: Kpis,
    figures: Iterable[tuple[str, go.Figure]],
    source_note: str,
    *,
    data_as_of: datetime | None = None,
    scope_note: str | None = None,
    lead_tiles: Iterable[tuple[str, str, str, str, bool]] = (),
) -> str:
    """A self-contained HTML management report: header (title, tenant, date, data source and age,
    scope), KPI tiles (``lib.kpis.kpi_tiles``) and each figure, interactive.

    plotly.js is inlined once, with the first figure; the file needs no network. Every text given
    here is escaped, so a tenant named ``<script>…`` shows as typed. Naive datetimes are taken as
    UTC; ``data_as_of`` is when the snapshot was read, and the report states its age at
    ``generated_at``. ``lead_tiles`` — ``(key, label, value, basis, highlight)`` — come first, under
    "Protection" (the overview's protection tiles).
    """
    generated = _as_utc(generated_at)
    esc = html.escape
    meta = [
        f'<p class="meta">Tenant: <b>{esc(tenant_name)}</b></p>',
        f'<p class="meta">Generated: <b>{generated:%Y-%m-%d %H:%M} UTC</b></p>',
    ]
    source = f"Data source: <b>{esc(source_note)}</b>"
    if data_as_of is not None:
        as_of = _as_utc(data_as_of)
        source += f" · read {as_of:%Y-%m-%d %H:%M} UTC ({esc(describe_age(generated - as_of))} before this report)"
    meta.append(f'<p class="meta">{source}</p>')
    if scope_note:
        meta.append(f'<p class="meta">Scope: {esc(scope_note)}</p>')

    tiles = []
    for tile in kpi_tiles(kpis):
        delta = ""
        if tile.delta is not None:
            delta = f'<div class="delta">{esc(tile.delta)} since last week</div>'
        css = "tile alert" if tile.highlight else "tile"
        basis = f'<div class="basis">{esc(tile.basis)}</div>' if tile.basis else ""
        tiles.append(f'<div class="{css}" data-kpi="{esc(tile.key)}"><div class="label">{esc(tile.label)}</div>'
                     f'<div class="value">{esc(tile.value)}</div>{basis}{delta}</div>')
    lead = []
    for key, label, value, basis, highlight in lead_tiles:
        css = "tile alert" if highlight else "tile"
        lead.append(f'<div class="{css}" data-kpi="{esc(key)}"><div class="label">{esc(label)}</div>'
                    f'<div class="value">{esc(value)}</div><div class="basis">{esc(basis)}</div></div>')
    lead_html = ('<h2>Protection</h2><div class="tiles">' + "".join(lead) + "</div>") if lead else ""
    change_note = ""
    if kpis.change is not None:
        since = f" (since {kpis.change.since:%Y-%m-%d})" if kpis.change.since is not None else ""
        change_note = f'<p class="meta">Weekly change counts {esc(kpis.change.basis)}{esc(since)}.</p>'

    charts = []
    config = {"displaylogo": False, "responsive": True,
              "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
    for index, (chart_title, figure) in enumerate(figures):
        body = figure.to_html(full_html=False, include_plotlyjs=index == 0, config=config,
                              default_width="100%", default_height=f"{figure.layout.height or 460}px")
        charts.append(f'<section class="chart"><h2>{esc(chart_title)}</h2>{body}</section>')

    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)} — {esc(tenant_name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{esc(title)}</h1>{''.join(meta)}</header>",
        lead_html,
        '<h2>Key figures</h2><div class="tiles">' + "".join(tiles) + "</div>" + change_note,
        *charts,
        '<footer>MFA Rollout Console · per-user MFA states: Disabled → Enabled → Enforced. '
        "Charts are interactive: hover for exact numbers.</footer>",
        "</body></html>",
    ])
