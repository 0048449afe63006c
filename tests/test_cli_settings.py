"""The CLI reads its configuration through lib.settings, with the app's validation and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.cli import main
from lib.settings import SettingsError, load_settings, read_secrets_file
from tests.test_cli_rollout import ENV

GUID = "00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder and home, with no MFA_* variables: nothing configured yet."""
    for name in (*ENV, "MFA_GRAPH_URL", "MFA_CONSOLE_DATA", "MFA_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, " ".join(err.split())


def _app_message(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings({}, environ)
    return str(caught.value)


def test_a_malformed_variable_gets_the_apps_message(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_TENANT_ID", GUID)
    monkeypatch.setenv("MFA_CLIENT_ID", "not-a-guid")
    status, out, err = _run(capsys, "operations")
    expected = _app_message({"MFA_TENANT_ID": GUID, "MFA_CLIENT_ID": "not-a-guid"})
    assert (status, out, err) == (2, "", f"configuration: {expected}")


def test_a_half_configured_tenant_is_refused_as_in_the_app(workdir: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MFA_CLIENT_ID", GUID)
    status, _out, err = _run(capsys, "operations")
    assert (status, err) == (2, f"configuration: {_app_message({'MFA_CLIENT_ID': GUID})}")


def test_the_database_comes_from_secrets_toml(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = workdir / "team.db"
    (workdir / ".streamlit").mkdir()
    (workdir / ".streamlit" / "secrets.toml").write_text(f'[mfa]\ndatabase_url = "sqlite:///{database}"\n')
    status, out, err = _run(capsys, "operations")
    assert (status, err) == (0, "")
    assert '"operations": []' in out
    assert database.is_file()  # the store was created where secrets.toml says, not in the data folder
    assert not (workdir / ".data").exists()


def test_the_variable_wins_over_secrets_toml(workdir: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / ".streamlit").mkdir()
    (workdir / ".streamlit" / "secrets.toml").write_text(f'database_url = "sqlite:///{workdir / "file.db"}"\n')
    monkeypatch.setenv("MFA_DATABASE_URL", f"sqlite:///{workdir / 'env.db'}")
    assert _run(capsys, "operations")[0] == 0
    assert (workdir / "env.db").is_file() and not (workdir / "file.db").exists()


def test_a_malformed_secrets_toml_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / ".streamlit").mkdir()
    (workdir / ".streamlit" / "secrets.toml").write_text('tenant_id = "unterminated\n')
    status, out, err = _run(capsys, "operations")
    assert (status, out) == (2, "")
    assert err.startswith("configuration: .streamlit/secrets.toml is not valid TOML (")
    assert err.endswith("): fix that line, or remove the file.")
    assert "Traceback" not in err


def test_read_secrets_file_takes_the_first_that_exists(tmp_path: Path) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    second.write_text('client_id = "x"\n')
    assert read_secrets_file((first, second)) == {"client_id": "x"}
    first.write_text('[mfa]\ntenant_id = "t"\n')
    assert read_secrets_file((first, second)) == {"mfa": {"tenant_id": "t"}}
    assert read_secrets_file((tmp_path / "none.toml",)) == {}


def test_an_authority_names_the_tenant(workdir: Path) -> None:
    settings = load_settings({}, {"MFA_CLIENT_ID": GUID, "MFA_AUTHORITY": f"https://login.example.com/{GUID}/"})
    assert (settings.mode, settings.tenant_id, settings.authority) == ("tenant", GUID,
                                                                       f"https://login.example.com/{GUID}")


def test_settings_repr_never_shows_the_secret() -> None:
    settings = load_settings({}, {"MFA_TENANT_ID": GUID, "MFA_CLIENT_ID": GUID, "MFA_CLIENT_SECRET": "s3cr3t~value",
                                  "MFA_DATABASE_URL": "postgresql://console:pa55word@db/mfa"})
    text = repr(settings)
    assert "s3cr3t~value" not in text and "pa55word" not in text
    assert "client_secret='set'" in text and "postgresql://console:***@db/mfa" in text
