"""``python -m lib.cli apply|resume|undo|operations`` against the emulator: JSON out, one line on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lib.cli import main
from lib.emulator.model import METHOD_KINDS, App
from lib.emulator.server import RunningEmulator
from lib.rollout import ExecuteOptions, cancel_operation, plan, start_operation, wait_operation
from lib.rollout.actor import app_actor_from_token
from lib.store import open_store
from lib.store.schema import operations
from tests.test_rollout_journal import dead_owner
from tests.test_rollout_support import control, gateway_for, truth

ENV = ("MFA_TENANT_ID", "MFA_CLIENT_ID", "MFA_CLIENT_SECRET", "MFA_AUTHORITY", "MFA_CA_CERT", "MFA_EMULATOR_INFO",
       "MFA_DATABASE_URL", "MFA_AUTHORITY_HOST")


@dataclass
class Demo:
    emulator: RunningEmulator
    info: Path
    db: Path
    tmp: Path
    people: list[dict[str, Any]]
    """Disabled, enabled-account people (truth rows) the tests pick from."""

    def base(self, command: str) -> list[str]:
        return [command, "--graph", self.emulator.graph_url, "--emulator-info", str(self.info), "--db", str(self.db)]

    def csv(self, name: str, text: str | bytes) -> str:
        path = self.tmp / name
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return str(path)


@pytest.fixture
def demo(make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    emulator = make_emulator(users=300, seed=21)
    info = tmp_path / "emulator.json"
    info.write_text(json.dumps({"graph": emulator.graph_url, "authority": emulator.authority,
                                "tenant_id": emulator.tenant_id, "client_id": emulator.client_id,
                                "client_secret": emulator.client_secret, "ca_cert": emulator.ca_cert,
                                "control_key": emulator.control_key}) + "\n")
    people = [u for u in truth(emulator).values()
              if u["kind"] == "person" and u["account_enabled"] and u["mfa_state"] == "disabled"
              and u["user_type"] == "Member"]
    yield Demo(emulator, info, tmp_path / "console.db", tmp_path, people)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, json.loads(out) if out.strip() else None, err


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    return err.rstrip("\n")


def test_dry_run_prints_the_plan_and_sends_nothing(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    picked = demo.people[:3]
    path = demo.csv("users.csv", "UserPrincipalName\n" + "".join(f"{u['upn']}\n" for u in picked)
                    + "nobody@nowhere.example\n")
    plan_csv = demo.tmp / "plan.csv"
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path, "--dry-run",
                           "--skip-invalid-rows", "--plan-csv", str(plan_csv))
    assert (status, err) == (0, "")
    assert (out["dry_run"], out["operation_id"], out["planned"], out["applied"], out["snapshot_taken"]) == (
        True, None, 3, 0, True)
    assert [(c["upn"], c["before"], c["requested"], c["expected"]) for c in out["changes"]] == [
        (u["upn"], "disabled", "enforced", "enforced") for u in picked]
    assert out["skipped"] == [] and out["failed"] == []
    assert out["csv_errors"] == [{"line": 5, "upn": "nobody@nowhere.example", "code": "unknown_user",
                                  "message": "nobody@nowhere.example is not in the tenant's latest snapshot "
                                             "(deleted, or a typo?)"}]
    assert "app_passwords" in [w["code"] for w in out["warnings"]]
    assert plan_csv.read_bytes().startswith(b'\xef\xbb\xbf"action","user_id","upn",')
    assert control(demo.emulator, "GET", "/stats")["writes"] == 0
    with open_store(f"sqlite:///{demo.db}") as store:
        assert store.latest_snapshot(demo.emulator.tenant_id) is not None  # the plan needed one


def test_apply_operations_and_undo(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    picked = demo.people[:12]
    path = demo.csv("wave.csv", "upn\n" + "".join(f"{u['upn']}\n" for u in picked))
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path,
                           "--wave", "Wave 3: CLI")
    assert (status, err) == (0, "")
    assert (out["operation_id"], out["kind"], out["status"], out["planned"], out["applied"], out["failed"],
            out["skipped"], out["unknown"], out["wave"]) == (1, "apply", "complete", 12, 12, [], [], 0, "Wave 3: CLI")
    now = truth(demo.emulator)
    assert {now[u["id"]]["mfa_state"] for u in picked} <= {"enabled", "enforced"}
    # outcomes: one per planned user, what Graph reported afterwards, as the demo tenant has it
    assert [(o["user_id"], o["after"]) for o in out["outcomes"]] == [(u["id"], now[u["id"]]["mfa_state"])
                                                                     for u in picked]
    assert all(o["matches_preview"] for o in out["outcomes"]) and out["differs_from_preview"] == 0
    first = {k: v for k, v in out.items() if k not in ("dry_run", "tenant_id", "snapshot_taken", "warnings",
                                                       "csv_errors", "wave")}

    status, out, err = run(capsys, "operations", "--db", str(demo.db))
    assert (status, err) == (0, "")
    (row,) = out["operations"]
    assert {k: row[k] for k in ("id", "kind", "status", "requested_state", "source", "label", "planned", "applied",
                                "failed", "skipped", "cancelled", "unfinished", "undo_of")} == {
        "id": 1, "kind": "apply", "status": "complete", "requested_state": "enabled", "source": "csv",
        "label": "wave.csv", "planned": 12, "applied": 12, "failed": 0, "skipped": 0, "cancelled": 0,
        "unfinished": 0, "undo_of": None}
    assert row["started_at"] and row["finished_at"]

    status, out, err = run(capsys, *demo.base("undo"), "--operation", "1", "--dry-run")
    assert (status, err, out["planned"], out["undo_of"]) == (0, "", 12, 1)
    status, out, err = run(capsys, *demo.base("undo"), "--operation", "1")
    assert (status, err) == (0, "")
    assert (out["operation_id"], out["kind"], out["undo_of"], out["status"], out["applied"]) == (2, "undo", 1,
                                                                                               "complete", 12)
    after = truth(demo.emulator)
    assert {after[u["id"]]["mfa_state"] for u in picked} == {"disabled"}
    status, out, _ = run(capsys, "operations", "--db", str(demo.db), "--limit", "1")
    assert [(r["id"], r["kind"], r["undo_of"]) for r in out["operations"]] == [(2, "undo", 1)]

    # resuming finished work is a no-op that succeeds: the same report, exit 0, nothing sent
    writes = control(demo.emulator, "GET", "/stats")["writes"]
    status, again, err = run(capsys, *demo.base("resume"), "--operation", "1")
    assert (status, err) == (0, "")
    assert again == first
    assert control(demo.emulator, "GET", "/stats")["writes"] == writes


def test_resume_of_an_interrupted_operation_with_nothing_left_closes_it(
        demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.csv("users.csv", "".join(f"{u['upn']}\n" for u in demo.people[:4]))
    status, out, _ = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, out["status"]) == (0, "complete")
    report = {k: out[k] for k in ("operation_id", "planned", "applied", "outcomes", "differs_from_preview")}
    # the process was killed after the last answer was journaled, before the operation was closed
    with open_store(f"sqlite:///{demo.db}") as store, store.engine.begin() as conn:
        conn.execute(sa.update(operations).where(operations.c.id == out["operation_id"]).values(
            status="running", finished_at=None, owner=dead_owner()))
    status, out, _ = run(capsys, "operations", "--db", str(demo.db))
    assert out["operations"][0]["status"] == "interrupted"
    for _ in range(2):  # and again: still a success that changes nothing
        status, again, err = run(capsys, *demo.base("resume"), "--operation", str(report["operation_id"]))
        assert (status, err, again["status"]) == (0, "", "complete")
        assert {k: again[k] for k in report} == report
    assert control(demo.emulator, "GET", "/stats")["writes"] == 4


def test_the_wave_3_sequence_reports_outcomes_equal_to_what_graph_says(
        demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    """Enforce, undo, enable again: registered users now stay Enabled, the preview says so, Graph agrees."""
    registered = [u for u in demo.people if any(METHOD_KINDS[k].mfa for k in u["methods"])
                  and u["methods"] == u["visible_methods"]][:5]
    unregistered = [u for u in demo.people if not u["methods"]][:5]
    assert len(registered) == len(unregistered) == 5
    path = demo.csv("wave3.csv", "".join(f"{u['upn']}\n" for u in registered + unregistered))
    status, out, _ = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, out["differs_from_preview"]) == (0, 0)
    status, out, _ = run(capsys, *demo.base("undo"), "--operation", str(out["operation_id"]))
    assert (status, out["status"], out["differs_from_preview"]) == (0, "complete", 0)
    status, dry, _ = run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path, "--dry-run")
    assert {c["upn"]: c["expected"] for c in dry["changes"]} == {u["upn"]: "enabled"
                                                                  for u in registered + unregistered}
    assert {w["code"]: w["count"] for w in dry["warnings"]}["stays_enabled"] == 5
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path,
                           "--wave", "Wave 3: Engineering")
    assert (status, err, out["status"], out["differs_from_preview"]) == (0, "", "complete", 0)
    now = truth(demo.emulator)
    assert [(o["upn"], o["before"], o["expected"], o["after"], o["matches_preview"]) for o in out["outcomes"]] == [
        (u["upn"], "disabled", "enabled", now[u["id"]]["mfa_state"], True) for u in registered + unregistered]
    assert {now[u["id"]]["mfa_state"] for u in registered} == {"enabled"}  # Entra's rule, and the preview's


def test_a_later_run_plans_from_the_states_as_they_are_now(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.csv("users.csv", "".join(f"{u['upn']}\n" for u in demo.people[:8]))
    status, out, _ = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, out["snapshot_taken"], out["applied"]) == (0, True, 8)
    # the stored snapshot still says Disabled; the plan re-reads the 8 users, so nothing is "already disabled"
    status, out, _ = run(capsys, *demo.base("apply"), "--state", "disabled", "--users-csv", path)
    assert (status, out["snapshot_taken"], out["applied"], out["skipped"]) == (0, False, 8, [])
    status, out, _ = run(capsys, *demo.base("apply"), "--state", "disabled", "--users-csv", path)
    assert (out["planned"], {s["code"] for s in out["skipped"]}) == (0, {"already_in_state"})


def test_second_operation_is_refused_naming_the_first(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    control(demo.emulator, "PATCH", "/config", {"hold_after_writes": 0})  # the first run's writes wait at the door
    with open_store(f"sqlite:///{demo.db}") as store, gateway_for(demo.emulator) as gateway:
        status, _, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--dry-run", "--users-csv",
                             demo.csv("one.csv", demo.people[0]["upn"] + "\n"))  # takes the snapshot
        assert (status, err) == (0, "")
        frame = store.load_users(demo.emulator.tenant_id)
        actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
        ids = [u["id"] for u in demo.people[:60]]
        first = start_operation(store, gateway, plan(frame, "enforced", ids, actor=actor),
                                tenant_id=demo.emulator.tenant_id, actor=actor,
                                options=ExecuteOptions(chunk_size=5, window=1))
        try:
            path = demo.csv("overlap.csv", "".join(f"{u['upn']}\n" for u in demo.people[50:70]))
            status, out, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
            assert (status, out) == (1, None)
            line = one_line(err)
            assert line.startswith(f"refused: operation {first} (apply to enforced by MFA Rollout Console (demo, "
                                   "app-only), started ")
            assert ", running) is still working on " in line
        finally:
            cancel_operation(store, first, actor=actor)
            control(demo.emulator, "PATCH", "/config", {"hold_after_writes": None})
            assert wait_operation(first, timeout=30)


def _use_read_only_app(demo: Demo) -> None:
    """Register a reporting app that may read but not change MFA, and point the CLI's demo info at it."""
    reader = App("0f0e0d0c-0000-4000-8000-00000000cafe", "reporting app", "r3ader-secret",
                 frozenset({"Policy.Read.All", "User.Read.All", "Organization.Read.All"}))
    demo.emulator.state.tenant.apps[reader.client_id] = reader
    info = json.loads(demo.info.read_text())
    demo.info.write_text(json.dumps({**info, "client_id": reader.client_id, "client_secret": "r3ader-secret"}))


def test_read_only_app_is_refused_before_anything_is_sent(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    _use_read_only_app(demo)
    control(demo.emulator, "POST", "/stats/reset")
    path = demo.csv("users.csv", demo.people[0]["upn"] + "\n")
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, out) == (1, None)
    assert one_line(err) == ("The app reporting app lacks the application permission "
                             "Policy.ReadWrite.AuthenticationMethod: grant it (with admin consent) to change "
                             "per-user MFA.")
    assert control(demo.emulator, "GET", "/stats")["requests"] == 0


@pytest.mark.parametrize(("csv", "message"), [
    (b"", "the file is empty: it needs one user principal name per line"),
    (b"\n \n", "the file is empty: it needs one user principal name per line"),
    ("UserPrincipalName\nbjörn@contoso.example\n".encode("cp1252"),
     'the file is not UTF-8 (it looks like Windows-1252 ("ANSI", what Excel\'s plain "CSV (Comma delimited)" '
     'writes); first bad byte on line 2): save it as "CSV UTF-8 (Comma delimited) (*.csv)" (Excel: File → Save As)'),
])
def test_unusable_csv_files_are_refused_in_one_line(demo: Demo, capsys: pytest.CaptureFixture[str], csv: bytes,
                                                    message: str) -> None:
    path = demo.csv("bad.csv", csv)
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path)
    assert (status, out) == (2, None)
    assert one_line(err) == f"{path}: {message}"
    assert not demo.db.exists()  # refused before touching the database or Graph


@pytest.mark.parametrize("separator", [";", "\t", ","])
def test_the_separator_is_detected_as_on_the_users_page(demo: Demo, capsys: pytest.CaptureFixture[str],
                                                        separator: str) -> None:
    """Excel writes semicolons where the decimal mark is a comma: the CLI reads them as the page does."""
    first, second, third = (u["upn"] for u in demo.people[:3])
    text = (f"\ufeffUserPrincipalName{separator}State\r\n{first}{separator}Enforced\r\n{second}{separator}\r\n"
            f"{third}{separator}disabled\r\n")
    path = demo.csv("excel.csv", text)
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path, "--dry-run")
    assert (status, err, out["csv_errors"]) == (0, "", [])
    assert [(c["upn"], c["requested"]) for c in out["changes"]] == [(first, "enforced"), (second, "enabled")]
    assert [(s["upn"], s["code"]) for s in out["skipped"]] == [(third, "already_in_state")]
    assert control(demo.emulator, "GET", "/stats")["writes"] == 0


def test_rows_with_errors_stop_the_import_unless_skipped(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.csv("rows.csv", f"upn,state\n{demo.people[0]['upn']},enforced\nnobody@x.example,enforced\n"
                                f"{demo.people[1]['upn']},sometimes\n")
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, out) == (2, None)
    assert one_line(err) == (f"{path}: 2 rows rejected; first: line 3: nobody@x.example is not in the tenant's "
                             "latest snapshot (deleted, or a typo?) (fix the file, or pass --skip-invalid-rows)")
    status, out, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path,
                           "--skip-invalid-rows")
    assert (status, err, out["applied"], len(out["csv_errors"])) == (0, "", 1, 2)


def test_bad_arguments_get_one_line(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.csv("ok.csv", demo.people[0]["upn"] + "\n")
    cases = [
        (["apply", "--graph", demo.emulator.graph_url, "--state", "on", "--users-csv", path], 2,
         "python -m lib.cli apply: argument --state: invalid choice: 'on' (choose from 'enabled', 'enforced', "
         "'disabled') (see --help)"),
        ([*demo.base("apply"), "--state", "enabled", "--users-csv", str(demo.tmp / "missing.csv")], 2,
         f"{demo.tmp / 'missing.csv'}: No such file or directory"),
        ([*demo.base("apply"), "--state", "enforced", "--users-csv", path, "--wave", "W"], 2,
         "--wave names an Enable: use it with --state enabled"),
        (["apply", "--graph", "http://127.0.0.1:9", "--state", "enabled", "--users-csv", path], 2,
         "no credentials: give --client-id (MFA_CLIENT_ID), --client-secret (MFA_CLIENT_SECRET), --tenant-id "
         "(MFA_TENANT_ID) or --authority, or --emulator-info FILE for the demo tenant"),
        (["apply", "--graph", "ftp://graph", "--state", "enabled", "--users-csv", path], 2,
         "--graph: base_url must be an http(s) URL with a host, got 'ftp://graph'"),
        ([*demo.base("resume"), "--operation", "99"], 1, "there is no operation 99"),
        (["resume", "--graph", demo.emulator.graph_url, "--operation", "x"], 2,
         "python -m lib.cli resume: argument --operation: 'x' is not a whole number (see --help)"),
        (["operations", "--db", str(demo.db), "--limit", "0"], 2,
         "python -m lib.cli operations: argument --limit: 0 is out of range: give 1 to 1,000,000 (see --help)"),
        ([], 2, "python -m lib.cli: give a command: apply, promote, resume, undo, operations, snapshot, users "
                "(see --help)"),
        (["frobnicate"], 2, "python -m lib.cli: argument COMMAND: invalid choice: 'frobnicate' (choose from "
                            "'apply', 'promote', 'resume', 'undo', 'operations', 'snapshot', 'users') (see --help)"),
    ]
    for argv, expected_status, message in cases:
        status, out, err = run(capsys, *argv)
        assert (status, out, one_line(err)) == (expected_status, None, message), argv


def test_unreachable_graph_is_one_line(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    path = demo.csv("ok.csv", demo.people[0]["upn"] + "\n")
    argv = ["apply", "--graph", "http://127.0.0.1:9", "--emulator-info", str(demo.info), "--db", str(demo.db),
            "--state", "enabled", "--users-csv", path]
    info = json.loads(demo.info.read_text())
    kept = demo.tmp / "ca.pem"
    kept.write_bytes(Path(info["ca_cert"]).read_bytes())
    demo.info.write_text(json.dumps({**info, "ca_cert": str(kept)}))
    demo.emulator.stop()  # nothing answers any more, neither the authority nor Graph
    status, out, err = run(capsys, *argv)
    assert (status, out) == (1, None)
    line = one_line(err)
    assert line.startswith("sign-in (app token): cannot initialise MSAL for https://127.0.0.1:")
    assert "Traceback" not in line


def test_a_demo_tenant_url_needs_its_control_key(demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo tenant hands its app's credentials only to whoever holds the key it was started with."""
    path = demo.csv("one.csv", demo.people[0]["upn"] + "\n")
    status, out, err = run(capsys, "apply", "--graph", demo.emulator.graph_url, "--db", str(demo.db),
                           "--state", "enabled", "--users-csv", path, "--dry-run")
    assert (status, out) == (2, None) and "no credentials" in err and demo.emulator.client_secret not in err
    key_only = demo.tmp / "key.json"
    key_only.write_text(json.dumps({"graph": demo.emulator.graph_url, "control_key": demo.emulator.control_key}))
    status, out, err = run(capsys, "apply", "--graph", demo.emulator.graph_url, "--emulator-info", str(key_only),
                           "--db", str(demo.db), "--state", "enabled", "--users-csv", path, "--dry-run")
    assert (status, err) == (0, "")
    assert out["planned"] == 1


def test_read_only_app_cannot_resume_or_undo_and_nothing_changes(demo: Demo,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from lib.rollout import journal
    from tests.read_only_support import store_fingerprint, tenant_fingerprint

    path = demo.csv("done.csv", "".join(f"{u['upn']}\n" for u in demo.people[:2]))
    status, done, err = run(capsys, *demo.base("apply"), "--state", "enforced", "--users-csv", path)
    assert (status, err, done["applied"]) == (0, "", 2)
    with open_store(f"sqlite:///{demo.db}") as store, gateway_for(demo.emulator) as gateway:
        actor = app_actor_from_token(gateway.aio._token_provider._credential.get_token().token)
        frame = store.load_users(demo.emulator.tenant_id)
        interrupted = journal.create_operation(store, plan(frame, "enabled", [u["id"] for u in demo.people[2:5]],
                                                           actor=actor), tenant_id=demo.emulator.tenant_id,
                                               actor=actor)
        before = store_fingerprint(store), tenant_fingerprint(demo.emulator)
    _use_read_only_app(demo)
    control(demo.emulator, "POST", "/stats/reset")
    refusal = ("The app reporting app lacks the application permission Policy.ReadWrite.AuthenticationMethod: "
               "grant it (with admin consent) to change per-user MFA.")
    for argv in ([*demo.base("resume"), "--operation", str(interrupted)],
                 [*demo.base("undo"), "--operation", str(done["operation_id"])]):
        status, out, err = run(capsys, *argv)
        assert (status, out, one_line(err)) == (1, None, refusal), argv
    assert control(demo.emulator, "GET", "/stats")["writes"] == 0
    with open_store(f"sqlite:///{demo.db}") as store:
        assert (store_fingerprint(store), tenant_fingerprint(demo.emulator)) == before


def test_promote_enforces_the_ready_members_unless_told_to_include_the_rest(
        demo: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    """A wave of registered members left Enabled: the ready ones are planned, the others listed with why."""
    from datetime import datetime, timedelta

    from lib.emulator.signin_log import legacy_client_of
    from lib.signins import is_legacy_client
    from tests.test_signins_reader import whole_log

    by_id = {u.id: u for u in demo.emulator.state.tenant.users}
    registered = [u for u in demo.people if any(METHOD_KINDS[k].mfa for k in u["methods"])
                  and u["methods"] == u["visible_methods"] and by_id[u["id"]].sign_in_rate >= 0.5]
    old_client = [u for u in registered if legacy_client_of(by_id[u["id"]]) is not None][:1]
    registered = old_client + [u for u in registered if u not in old_client][:4]
    assert len(old_client) == 1 and len(registered) == 5
    path = demo.csv("wave.csv", "".join(f"{u['upn']}\n" for u in registered))
    for state in ("enforced", "disabled"):
        assert run(capsys, *demo.base("apply"), "--state", state, "--users-csv", path)[0] == 0
    assert run(capsys, *demo.base("apply"), "--state", "enabled", "--users-csv", path, "--wave", "Wave R")[0] == 0
    control(demo.emulator, "POST", "/clock/advance", {"days": 15})  # Enabled and registered: MFA from now on
    assert run(capsys, *demo.base("snapshot"))[0] == 0  # reads the sign-ins since the first snapshot
    since = demo.emulator.state.tenant.now - timedelta(days=14)
    held: set[str] = set()
    for row in whole_log(demo.emulator):
        at = datetime.fromisoformat(row["createdDateTime"][:26] + "+00:00")
        one_factor = (row["status"]["errorCode"] == 0
                      and row["authenticationRequirement"] == "singleFactorAuthentication")
        if at >= since and (is_legacy_client(row["clientAppUsed"]) or one_factor):
            held.add(row["userId"])
    ids = [u["id"] for u in registered]
    ready = [uid for uid in ids if uid not in held]
    assert held & set(ids) == {old_client[0]["id"]} and len(ready) == 4  # the old client kept trying
    status, out, err = run(capsys, *demo.base("promote"), "--wave", "Wave R", "--dry-run")
    assert (status, err, out["wave"], out["include_not_ready"]) == (0, "", "Wave R", False)
    assert sorted(c["user_id"] for c in out["changes"]) == sorted(ready)
    assert sorted(s["user_id"] for s in out["skipped"]) == sorted(held & set(ids))
    assert {s["code"] for s in out["skipped"]} == {"not_ready"}
    assert all(s["reason"].startswith("not ready to enforce: signed in with ") for s in out["skipped"])
    status, out, _ = run(capsys, *demo.base("promote"), "--wave", "Wave R", "--dry-run", "--include-not-ready")
    assert (status, sorted(c["user_id"] for c in out["changes"]), out["skipped"]) == (0, sorted(ids), [])
    assert {w["user_id"] for w in out["user_warnings"]} == {old_client[0]["id"]}
    assert all(w["warning"].endswith(": Enforced breaks this client unless an app password is set up")
               for w in out["user_warnings"])
    assert control(demo.emulator, "GET", "/stats")["writes"] == 15  # the three applies only
    status, _, err = run(capsys, *demo.base("promote"), "--wave", "Wave nobody made", "--dry-run")
    assert (status, one_line(err)) == (2, "--wave: there is no wave 'Wave nobody made'")
