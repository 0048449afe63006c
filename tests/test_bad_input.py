"""Bad input from people, a corpus: each case gets one clear message, no traceback, and nothing changes.

- a malformed ``secrets.toml`` (the app and the CLI);
- unknown query parameters, a forged sign-in callback and a forged page;
- CLI arguments out of range or of the wrong type;
- a CSV of 200,001 rows, one in UTF-16 (with and without its byte-order mark), one with a NUL byte —
  on the Users page's import, the Users page's list filter and the CLI.

"Nothing changes" is checked where something could: no data folder or database is created, no request
reaches the demo tenant, and no table of the store changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.cli import main
from lib.demo import demo_tenant
from lib.settings import Settings
from lib.store import open_store
from tests.read_only_support import store_fingerprint
from tests.test_rollout_support import control
from tests.ui_fixtures import ADMIN, READER, ROOT, new_app
from tests.ui_fixtures import demo_settings as demo_settings  # the session's demo console (fixture)

MALFORMED_TOML = 'tenant_id = "0000\nclient_id = [unclosed\n'
SAVE_AS = 'save it as "CSV UTF-8 (Comma delimited) (*.csv)" (Excel: File → Save As)'
UTF16 = f"the file is UTF-16 (Excel's \"Unicode Text\"), not UTF-8: {SAVE_AS}"


def _rows(count: int) -> bytes:
    return b"UserPrincipalName\r\n" + b"".join(b"user%d@fabrikamconsulting.com\r\n" % i for i in range(count))


CSV_FILES = [
    ("200001-rows.csv", _rows(200_001), "the file has more than 200,000 rows: split it into files of at most 200,000"),
    ("unicode.csv", "UserPrincipalName\r\nåsa@fabrikamconsulting.com\r\n".encode("utf-16"), UTF16),
    ("unicode-no-bom.csv", "UserPrincipalName\r\nåsa@fabrikamconsulting.com\r\n".encode("utf-16-le"), UTF16),
    ("nul.csv", _rows(3000)[:-40] + b"\x00" + _rows(3000)[-40:],
     "line 3,000 holds a NUL byte, which no text file has (the file is damaged, or it is not a CSV file): "
     + SAVE_AS),
]


def _one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    return err.rstrip("\n")


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder and home of their own, no MFA_* variables, the data folder pointed inside."""
    for name in [n for n in os.environ if n.startswith("MFA_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MFA_CONSOLE_DATA", str(tmp_path / "data"))
    return tmp_path


# --- a malformed secrets.toml --------------------------------------------------------------------


def test_the_cli_refuses_a_malformed_secrets_toml(nowhere: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (nowhere / ".streamlit").mkdir()
    (nowhere / ".streamlit" / "secrets.toml").write_text(MALFORMED_TOML)
    assert main(["operations"]) == 2
    out, err = capsys.readouterr()
    line = _one_line(err)
    assert out == "" and line.startswith("configuration: .streamlit/secrets.toml is not valid TOML (")
    assert line.endswith("): fix that line, or remove the file.")
    assert not (nowhere / "data").exists()


def test_the_app_refuses_a_malformed_secrets_toml_instead_of_starting_the_demo(nowhere: Path) -> None:
    (nowhere / ".streamlit").mkdir()
    (nowhere / ".streamlit" / "secrets.toml").write_text(MALFORMED_TOML)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith("**The console is not configured correctly.** .streamlit/secrets.toml is not valid "
                                "TOML (")
    assert not (nowhere / "data").exists()  # no demo tenant, no database: nothing started


# --- query parameters and pages ------------------------------------------------------------------


def test_unknown_query_parameters_are_ignored(demo_settings: Settings) -> None:
    at = new_app(demo_settings, ADMIN)
    for name, value in {"foo": "<script>alert(1)</script>", "page": "../../etc/passwd", "tenant": "'; DROP",
                        "embed": "true"}.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert any(t.value == "Overview" for t in at.title) or at.metric  # the default page, as without them


def test_a_forged_sign_in_callback_is_refused_in_one_message(demo_settings: Settings) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["code"] = "forged-code"
    at.query_params["state"] = "forged-state"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for e in at.error] + [w.value for w in at.warning]
    assert len(shown) == 1, shown
    assert "code" not in at.query_params  # the forged code is not left in the address bar
    assert "auth_session" not in at.session_state or not at.session_state["auth_session"].signed_in


@pytest.mark.parametrize("page", ["pages/protected.py", "pages/../pages/protected.py", "pages/nothing.py"])
def test_a_reader_cannot_open_a_writers_page_by_its_address(demo_settings: Settings, page: str) -> None:
    """A reader's navigation registers no writers' page, so no address (path or ``..`` trick) selects one; the
    session goes on as before."""
    at = new_app(demo_settings, READER)
    with open_store(demo_settings.database_url) as store:
        before = store_fingerprint(store)
        with pytest.raises(ValueError, match="Could not find") as refused:
            at.switch_page(page)
        assert "protected.py" not in str(refused.value).partition("Known pages:")[2]
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Protected accounts" not in [t.value for t in at.title]
        assert store_fingerprint(store) == before


# --- CLI arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "message"), [
    (["operations", "--limit", "0"],
     "python -m lib.cli operations: argument --limit: 0 is out of range: give 1 to 1,000,000 (see --help)"),
    (["operations", "--limit", "-3"],
     "python -m lib.cli operations: argument --limit: -3 is out of range: give 1 to 1,000,000 (see --help)"),
    (["operations", "--limit", "99999999999999999999999"],
     "python -m lib.cli operations: argument --limit: 99999999999999999999999 is out of range: give 1 to "
     "1,000,000 (see --help)"),
    (["operations", "--limit", "many"],
     "python -m lib.cli operations: argument --limit: 'many' is not a whole number (see --help)"),
    (["resume", "--graph", "http://127.0.0.1:9", "--operation", "0"],
     "python -m lib.cli resume: argument --operation: 0 is out of range: give 1 to 9,223,372,036,854,775,807 "
     "(see --help)"),
    (["undo", "--graph", "http://127.0.0.1:9", "--operation", "99999999999999999999999"],
     "python -m lib.cli undo: argument --operation: 99999999999999999999999 is out of range: give 1 to "
     "9,223,372,036,854,775,807 (see --help)"),
    (["undo", "--graph", "http://127.0.0.1:9", "--operation", "1.5"],
     "python -m lib.cli undo: argument --operation: '1.5' is not a whole number (see --help)"),
    (["resume", "--operation", "3"],
     "python -m lib.cli resume: one of the arguments --graph --demo is required (see --help)"),
    (["operations", "--db", "nonsense://somewhere/x"],
     "--db: 'nonsense' databases are not supported: give sqlite:///FILE, postgresql://USER@HOST/DATABASE or a "
     "file path"),
    (["operations", "--db", "postgresql+nodriver://u:pw@h/db"],
     "--db: 'postgresql+nodriver' databases are not supported: give sqlite:///FILE, postgresql://USER@HOST/DATABASE "
     "or a file path"),
    (["operations", "--db", "://nothing"],
     "--db: not a database URL: give sqlite:///FILE, postgresql://USER@HOST/DATABASE or a file path"),
    (["apply", "--graph", "http://127.0.0.1:9", "--state", "Enforced", "--users-csv", "x.csv"],
     "python -m lib.cli apply: argument --state: invalid choice: 'Enforced' (choose from 'enabled', 'enforced', "
     "'disabled') (see --help)"),
    (["apply", "--graph", "http://127.0.0.1:9", "--state", "enabled", "--users-csv", "."],
     ".: is a directory, not a CSV file"),
    (["snapshot", "--graph", "graph.microsoft.com"],
     "--graph: base_url must be an http(s) URL with a host, got 'graph.microsoft.com'"),
])
def test_bad_cli_arguments_get_one_line_and_change_nothing(nowhere: Path, capsys: pytest.CaptureFixture[str],
                                                           argv: list[str], message: str) -> None:
    status = main(argv)
    out, err = capsys.readouterr()
    assert (status, out, _one_line(err)) == (2, "", message)
    assert "pw" not in err
    assert not (nowhere / "data").exists() and not list(nowhere.glob("*.db"))


# --- unusable CSV files --------------------------------------------------------------------------


@pytest.fixture
def emulator_info(make_emulator, nowhere: Path) -> Iterator[tuple[object, Path]]:
    emulator = make_emulator(users=60, seed=9)
    info = nowhere / "emulator.json"
    info.write_text(json.dumps({"client_id": emulator.client_id, "client_secret": emulator.client_secret,
                                "authority": emulator.authority, "ca_cert": emulator.ca_cert}))
    yield emulator, info


@pytest.mark.parametrize(("name", "data", "message"), CSV_FILES, ids=[c[0] for c in CSV_FILES])
def test_the_cli_refuses_an_unusable_csv_before_anything_is_read(emulator_info, capsys: pytest.CaptureFixture[str],
                                                                 name: str, data: bytes, message: str,
                                                                 nowhere: Path) -> None:
    emulator, info = emulator_info
    path = nowhere / name
    path.write_bytes(data)
    control(emulator, "POST", "/stats/reset")
    status = main(["apply", "--graph", emulator.graph_url, "--emulator-info", str(info), "--db",
                   str(nowhere / "console.db"), "--state", "enabled", "--users-csv", str(path)])
    out, err = capsys.readouterr()
    assert (status, out, _one_line(err)) == (2, "", f"{path}: {message}")
    assert control(emulator, "GET", "/stats")["requests"] == 0
    assert not (nowhere / "console.db").exists()


@pytest.mark.parametrize(("name", "data", "message"), CSV_FILES, ids=[c[0] for c in CSV_FILES])
def test_the_users_page_refuses_an_unusable_csv_in_one_message(demo_settings: Settings, name: str, data: bytes,
                                                               message: str) -> None:
    at = new_app(demo_settings, ADMIN, "pages/users.py")
    with open_store(demo_settings.database_url) as store:
        before = store_fingerprint(store)
        at.file_uploader(key="users_csv_file").set_value((name, data, "text/csv")).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = [e.value for e in at.error]
        escaped = name.replace(".", "\\.").replace("-", "\\-")
        assert errors == [f"**{escaped}** cannot be used: {message}"]
        assert "users_csv_plan" not in [b.key for b in at.button]  # nothing to plan
        assert store_fingerprint(store) == before
    assert demo_tenant(demo_settings).running  # the demo tenant's process is still serving


@pytest.mark.parametrize(("data", "message"), [
    ("UserPrincipalName\r\nåsa@fabrikamconsulting.com\r\n".encode("utf-16"),
     "the file is UTF-16: save it as UTF-8 (Excel: CSV UTF-8)"),
    ("UserPrincipalName\r\nåsa@fabrikamconsulting.com\r\n".encode("utf-16-le"),
     "the file holds NUL bytes, so it is UTF-16 or not text: save it as UTF-8 (Excel: CSV UTF-8)"),
    (b"a@fabrikamconsulting.com\n\x00b@fabrikamconsulting.com\n",
     "the file holds NUL bytes, so it is UTF-16 or not text: save it as UTF-8 (Excel: CSV UTF-8)"),
])
def test_the_users_list_filter_refuses_a_list_it_cannot_read(demo_settings: Settings, data: bytes,
                                                             message: str) -> None:
    at = new_app(demo_settings, ADMIN, "pages/users.py")
    uploader = next(u for u in at.get("file_uploader") if (u.key or "").startswith("users_f_upn_file_"))
    uploader.set_value(("list.txt", data, "text/plain")).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [w.value for w in at.warning] + [e.value for e in at.error] + [c.value for c in at.caption]
    assert [text for text in shown if message in text], shown
