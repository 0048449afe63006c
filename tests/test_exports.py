"""lib.exports: neutralised CSV/XLSX, the figures ZIP and the HTML management report."""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone

import openpyxl
import pandas as pd
import plotly.graph_objects as go
import pytest

from lib.charts import overview_data, overview_figures
from lib.columns import coerce_users
from lib.exports import describe_age, figures_csv_zip, html_report, neutralise_formulas, to_csv_bytes, to_xlsx_bytes
from lib.kpis import compute_kpis, kpi_tiles

PAYLOADS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1:A2)", "\tx", "\r=1+1", "plain text", "a=b", "", "Åsa Öberg"]
SAFE = ["'=cmd|' /C calc'!A0", "'+1", "'-1", "'@SUM(A1:A2)", "'\tx", "'\r'=1+1", "plain text", "a=b", "", "Åsa Öberg"]


def table() -> pd.DataFrame:
    return pd.DataFrame({
        "text": pd.Series(PAYLOADS, dtype="string"),
        "obj": pd.Series([*PAYLOADS[:-1], 7], dtype=object),
        "number": [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        "ratio": [-1.5] * 10,
        "flag": [True] * 10,
    })


# --- neutralise_formulas -------------------------------------------------------------------------


def test_neutralise_formulas_prefixes_only_formula_strings() -> None:
    original = table()
    safe = neutralise_formulas(original)
    assert list(safe["text"]) == SAFE
    assert list(safe["obj"]) == [*SAFE[:-1], 7]  # the int in an object column is left alone
    assert list(safe["number"]) == [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert list(safe["ratio"]) == [-1.5] * 10
    assert dict(safe.dtypes) == dict(original.dtypes)
    assert list(original["text"]) == PAYLOADS  # the input is not modified


def test_neutralise_formulas_keeps_missing_values_and_categoricals() -> None:
    frame = pd.DataFrame({
        "s": pd.Series(["=1", None], dtype="string"),
        "c": pd.Series(["-x", "y", "-x"], dtype="category").iloc[:2].reset_index(drop=True),
    })
    safe = neutralise_formulas(frame)
    assert safe["s"].iloc[0] == "'=1"
    assert pd.isna(safe["s"].iloc[1])
    assert list(safe["c"]) == ["'-x", "y"]


def test_neutralise_formulas_on_a_users_frame() -> None:
    frame = coerce_users(pd.DataFrame([{
        "id": "u1", "upn": "u1@contoso.com", "display_name": "=HYPERLINK(\"http://x\")", "mail": None,
        "department": "@Sales", "country": "SE", "job_title": "-", "is_guest": False, "account_enabled": True,
        "is_admin": False, "account_kind": "person", "state": "enabled", "registered": True, "capable": True,
        "methods": "fido2", "method_count": 1, "preferred_method": "", "created": None, "last_sign_in": None,
        "users_read_at": None, "registration_read_at": None, "state_read_at": None,
    }]))
    safe = neutralise_formulas(frame)
    assert (safe.at[0, "display_name"], safe.at[0, "department"], safe.at[0, "job_title"]) == (
        "'=HYPERLINK(\"http://x\")", "'@Sales", "'-")
    assert safe.at[0, "method_count"] == 1
    assert dict(safe.dtypes) == dict(frame.dtypes)


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_is_utf8_with_bom_crlf_and_neutralised() -> None:
    data = to_csv_bytes(table())
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.startswith('"text","obj","number","ratio","flag"\r\n')
    assert "Åsa Öberg" in text
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert back.loc[[0, 1, 2, 3, 6, 7, 9], "text"].tolist() == [SAFE[i] for i in (0, 1, 2, 3, 6, 7, 9)]
    assert back["number"].tolist()[:2] == ["-1", "1"]
    assert not re.search(r'(^|,)"?[=+@]', text.replace("\r\n", "\n"), re.MULTILINE)


def test_csv_times_in_utc_and_delimiters() -> None:
    frame = pd.DataFrame({
        "at": pd.Series([pd.Timestamp("2026-03-01 14:00", tz="Europe/Stockholm"), pd.NaT]),
        "n": [1, 2],
    })
    assert to_csv_bytes(frame).decode("utf-8-sig") == '"at","n"\r\n"2026-03-01 13:00:00","1"\r\n"","2"\r\n'
    assert to_csv_bytes(frame, delimiter=";").decode("utf-8-sig").startswith('"at";"n"\r\n')
    with pytest.raises(ValueError, match="delimiter"):
        to_csv_bytes(frame, delimiter="|")


def test_csv_neutralises_headers() -> None:
    assert to_csv_bytes(pd.DataFrame({"=x": [1]})).decode("utf-8-sig") == '"\'=x"\r\n"1"\r\n'


HOSTILE = ["Bob;=1+1", "Bob,=1+1", "Bob\t=1+1", "Bob;+SUM(A1)", "x;-2+3", "a,@SUM(A1)", "Bob;\"=1+1\"",
           "Bob; \"=1+1\";x", "line\n=1+1", "line\r\n@A1", "tab\t\t=1", "cr\r=1", "=1+1", "\t=1", "\r=1",
           "2026-03-01", "Sales - EMEA", "a=b", ""]
"""Cells that start a formula once a spreadsheet splits them at another separator than the file's own."""


def _starts_a_formula(cell: str) -> bool:
    """Whether a spreadsheet would run ``cell``: after the blanks and quotes it may trim, ``= + - @`` starts it."""
    if not cell.lstrip(" \t\r\n\"").startswith(("=", "+", "-", "@")):
        return False
    try:  # a negative number is a number, not a formula
        float(cell)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize("written", [",", ";", "\t"])
def test_an_export_read_back_with_any_separator_has_no_cell_that_starts_a_formula(written: str) -> None:
    frame = pd.DataFrame({
        "name": pd.Series(HOSTILE, dtype="string"),
        "=title;+x": pd.Series(list(reversed(HOSTILE)), dtype=object),
        "count": range(-5, len(HOSTILE) - 5),
    })
    data = to_csv_bytes(frame, delimiter=written)
    text = data.decode("utf-8-sig")
    for read in (",", ";", "\t"):
        cells = [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=read) for cell in row]
        found = [cell for cell in cells if _starts_a_formula(cell)]
        assert found == [], (repr(written), repr(read), found)
    # read with its own separator, every cell is the original text behind its apostrophes, numbers are numbers
    back = pd.read_csv(io.StringIO(text), sep=written, keep_default_na=False, dtype=str)
    assert [v.replace("'", "") for v in back["name"]] == [v.replace("'", "") for v in HOSTILE]
    assert back["count"].tolist() == [str(n) for n in range(-5, len(HOSTILE) - 5)]
    assert list(back.columns) == ["name", "'=title;'+x", "count"]


def test_the_checker_sees_the_attack_without_the_neutralising() -> None:
    """The read-back test can fail: the same file written naively opens ``Bob;=1+1`` as a formula."""
    naive = pd.DataFrame({"id": ["1"], "name": ["Bob;=1+1"]}).to_csv(index=False, sep=",")
    cells = [cell for row in csv.reader(io.StringIO(naive), delimiter=";") for cell in row]
    assert [c for c in cells if _starts_a_formula(c)] == ["=1+1"]


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_reads_back_as_text_values_and_utc_times() -> None:
    frame = table()
    frame["at"] = pd.Series([pd.Timestamp("2026-03-01 14:00", tz="Europe/Stockholm")] * 9 + [pd.NaT])
    frame.loc[9, "ratio"] = None
    frame["ctrl"] = pd.Series(["bell\x07here"] * 9 + ["\x07=1+1"], dtype="string")
    workbook = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(frame, "Users view")))
    sheet = workbook["Users view"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("text", "obj", "number", "ratio", "flag", "at", "ctrl")
    # openpyxl reads "" back as None, and XML turns a carriage return into a line feed
    assert [r[0] for r in rows[1:]] == [s.replace("\r", "\n") if s else None for s in SAFE]
    assert rows[1][2:6] == (-1, -1.5, True, datetime(2026, 3, 1, 13, 0))
    assert rows[10][3] is None and rows[10][5] is None
    assert rows[1][6] == "bellhere"
    assert rows[10][6] == "'=1+1"  # a control character cannot smuggle a formula past the check
    for row in sheet.iter_rows(min_row=2):
        assert all(cell.data_type != "f" for cell in row)  # no cell is a formula
    assert sheet.freeze_panes == "A2"


def test_xlsx_of_an_empty_frame_and_bad_sheet_names() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(pd.DataFrame({"a": []})))).active
    assert sheet.title == "Users"
    assert list(sheet.iter_rows(values_only=True)) == [("a",)]
    for bad in ("", "x" * 32, "a/b", "a[1]", "'quoted'"):
        with pytest.raises(ValueError, match="sheet name"):
            to_xlsx_bytes(pd.DataFrame({"a": [1]}), bad)


# --- figures ZIP --------------------------------------------------------------------------------


def test_figures_csv_zip() -> None:
    tables = {"state_distribution": pd.DataFrame({"state": ["enabled"], "users": [3]}),
              "By department": pd.DataFrame({"group": ["=evil"], "users": [1]}),
              "by department": pd.DataFrame({"group": ["x"], "users": [2]})}
    data = figures_csv_zip(tables, readme="Figures behind the charts")
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["README.txt", "state_distribution.csv", "by_department.csv", "by_department_2.csv"]
    assert archive.read("by_department.csv").decode("utf-8-sig") == '"group","users"\r\n"\'=evil","1"\r\n'
    assert archive.read("README.txt") == b"Figures behind the charts"
    assert figures_csv_zip(tables, readme="Figures behind the charts") == data  # deterministic


# --- HTML report --------------------------------------------------------------------------------


def small_users() -> pd.DataFrame:
    rows = []
    for i, (state, registered, admin) in enumerate([("disabled", False, True), ("enabled", True, False),
                                                    ("enforced", True, False), ("enforced", False, False)]):
        rows.append({
            "id": f"u{i}", "upn": f"u{i}@contoso.com", "display_name": f"U{i}", "mail": None,
            "department": "Sales", "country": "SE", "job_title": None, "is_guest": i == 3,
            "account_enabled": True, "is_admin": admin, "account_kind": "person", "state": state,
            "registered": registered, "capable": registered, "methods": "fido2" if registered else "",
            "method_count": int(registered), "preferred_method": "", "created": None, "last_sign_in": None,
            "users_read_at": None, "registration_read_at": None, "state_read_at": None,
        })
    return coerce_users(pd.DataFrame(rows))


NOW = datetime(2026, 3, 10, 15, 30, tzinfo=timezone.utc)
PLOTLY_JS = re.compile(r"\* plotly\.js v\d+\.\d+\.\d+")


def report(tenant: str = "Contoso AB", figures: list | None = None) -> tuple[str, object]:
    frame = small_users()
    aggregates = pd.DataFrame({"day": pd.to_datetime(["2026-03-01", "2026-03-09"]), "users": [4, 4],
                               "registered": [1, 2], "state_enforced": [0, 2]})
    kpis = compute_kpis(frame, aggregates)
    if figures is None:
        built = overview_figures(overview_data(frame, aggregates))
        figures = [("State", built["state_distribution"]), ("Funnel", built["rollout_funnel"]),
                   ("Over time", built["adoption_trend"])]
    text = html_report("MFA adoption", tenant, NOW, kpis, figures, "Reports API (P1)",
                       data_as_of=NOW - timedelta(hours=3, minutes=12), scope_note="Enabled accounts only")
    return text, kpis


def test_report_inlines_plotly_js_exactly_once() -> None:
    text, _ = report()
    assert len(PLOTLY_JS.findall(text)) == 1
    assert text.count('class="plotly-graph-div"') == 3
    assert text.count("Plotly.newPlot") == 3
    assert "<script src=" not in text and "<link " not in text  # self-contained: nothing loaded from elsewhere


def test_report_contains_every_kpi_and_the_context() -> None:
    text, kpis = report()
    assert kpis.users == 4
    for tile in kpi_tiles(kpis):
        assert f'<div class="value">{html.escape(tile.value)}</div>' in text
        assert html.escape(tile.label) in text
    assert '<div class="value">50.0%</div>' in text
    assert "+25.0 pp since last week" in text  # 2/4 registered now vs 1/4 on 03-01 (latest 03-09 − 7 = 03-02)
    assert 'class="tile alert" data-kpi="admins_unregistered"' in text
    assert "2026-03-10 15:30 UTC" in text
    assert "Reports API (P1)" in text and "3 h 12 min" in text and "2026-03-10 12:18 UTC" in text
    assert "Enabled accounts only" in text
    assert "<h2>Funnel</h2>" in text


def test_report_escapes_the_tenant_name() -> None:
    evil = "<script>alert('x')</script> & Co"
    text, _ = report(tenant=evil)
    assert evil not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in text
    assert text.count("<script>alert") == 0


def test_report_without_figures_has_no_plotly_js() -> None:
    text, _ = report(figures=[])
    assert not PLOTLY_JS.search(text)
    assert "Users in scope" in text


def test_report_accepts_naive_times_as_utc() -> None:
    text = html_report("R", "T", datetime(2026, 3, 10, 9, 0), compute_kpis(small_users()), [("A", go.Figure())],
                       "per-user methods", data_as_of=datetime(2026, 3, 7, 9, 0))
    assert "2026-03-10 09:00 UTC" in text
    assert "3 days" in text
    assert "since last week" not in text


def test_describe_age() -> None:
    assert describe_age(timedelta(seconds=30)) == "less than a minute"
    assert describe_age(timedelta(minutes=5)) == "5 min"
    assert describe_age(timedelta(hours=2)) == "2 h"
    assert describe_age(timedelta(hours=47, minutes=59)) == "47 h 59 min"
    assert describe_age(timedelta(days=9, hours=3)) == "9 days"
    assert describe_age(timedelta(minutes=-5)) == "less than a minute"
