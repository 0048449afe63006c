"""The console's command line, over the same engine as the pages: ``python -m lib.cli COMMAND …``.

Commands (each prints one JSON document on stdout; bad input exits non-zero with ONE line on stderr,
never a traceback):

- ``apply --graph URL --db URL --state enabled|enforced|disabled --users-csv FILE [--dry-run] [--wave NAME]``
- ``promote --graph URL --db URL --wave NAME [--include-not-ready] [--dry-run]``: set a wave's registered,
  still Enabled members to Enforced, the ones ready to enforce (no legacy-client or single-factor sign-in
  in 14 days) only unless ``--include-not-ready``; the others are listed as ``not_ready`` skips
- ``resume --graph URL --db URL --operation ID``
- ``undo --graph URL --db URL --operation ID [--dry-run]``
- ``operations --db URL [--tenant ID]``
- ``snapshot --graph URL --db URL``: read the tenant into the store (schedule it with cron); its JSON
  has ``protection``: Conditional Access availability and counts by ``covered_by`` and method class
- ``users --db URL --format csv|json [--tenant ID] [--output FILE]``: every user of the latest snapshot,
  with the protection columns (stdout unless ``--output``)

``apply``, ``resume`` and ``undo`` print the operation's report with ``outcomes`` (each planned user's
before, expected and read-back state, and whether it matches the preview) and ``differs_from_preview``.
Resuming an operation with nothing left is a success: it is closed if need be and reported again.

Exit status: 0 done (every planned user applied or skipped with a reason), 1 refused or failed
(Graph, database, role, a conflicting operation), 2 bad input (arguments, the CSV), 3 the operation
ended with users failed, unknown or cancelled (the JSON lists them), 130 interrupted (Ctrl-C cancels
the operation first; ``resume`` finishes it).

Configuration is read through :mod:`lib.settings`, as the app reads it: ``MFA_*`` variables, else
``.streamlit/secrets.toml``, with the same validation and messages; a flag wins over both.

Credentials (app-only, client credentials), first match wins:

0. ``--demo`` (instead of ``--graph``): the built-in demo tenant of the data folder (``MFA_CONSOLE_DATA``,
   ``MFA_DEMO_USERS``, ``MFA_DEMO_SEED``, ``MFA_DEMO_PREMIUM``), the one the app of that folder serves, else
   started in its own process for this command (``lib.demo``, as the app starts it) and stopped after;
1. ``--emulator-info FILE`` (or ``MFA_EMULATOR_INFO``): the JSON line ``python -m lib.emulator`` prints
   (demo app id, secret, authority, CA certificate, control key); a line with only ``control_key``
   makes the demo tenant at ``--graph`` hand out its demo app's credentials (lib/connect.py). Without
   the key the demo tenant tells nobody anything;
2. ``--client-id`` / ``--client-secret`` / ``--tenant-id`` (or ``MFA_CLIENT_ID``, ``MFA_CLIENT_SECRET``,
   ``MFA_TENANT_ID``) with ``--authority URL`` (``MFA_AUTHORITY``; default
   ``{MFA_AUTHORITY_HOST or https://login.microsoftonline.com}/{tenant id}``) and ``--ca-cert`` (``MFA_CA_CERT``)
   to trust a private authority's certificate.

The role check for an app is its application permission ``Policy.ReadWrite.AuthenticationMethod``
(read from the token), made before anything is sent. The users frame comes from the latest snapshot
in the database; when there is none (or with ``--refresh``) a snapshot is taken first.

Adding a command: write ``_x_arguments(parser)`` and ``cmd_x(args) -> int`` and list them in
:data:`COMMANDS`; :func:`add_graph_arguments` / :func:`connect` and :func:`open_database` give the
Graph connection and the store.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from lib.errors import ConsoleError, describe
from lib.settings import Settings, SettingsError, load_settings, read_secrets_file

PROG = "python -m lib.cli"


class CliError(ConsoleError):
    """Ends the command with one line on stderr and ``status``."""

    code = "cli"

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in ONE line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message} (see --help)", 2)


def emit(obj: Any) -> None:
    """Print the command's JSON document."""
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False), flush=True)


# -- shared: database and Graph ----------------------------------------------------------------------

def settings() -> Settings:
    """The console's settings, or a one-line configuration error (exit 2). Cheap: read when needed."""
    try:
        return load_settings(read_secrets_file())
    except SettingsError as exc:
        raise CliError(describe(exc), 2) from None


MAX_ID = 2**63 - 1
"""The largest id a database row can have (a signed 64-bit integer)."""


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else argparse's one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {low} to {high:,}")
        return value

    return parse


def _database_url(url: str) -> str:
    """A SQLAlchemy URL the store can open (SQLite or PostgreSQL), else exit 2 naming the problem (never the
    password: only the kind of database is repeated)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    give = "give sqlite:///FILE, postgresql://USER@HOST/DATABASE or a file path"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError(f"--db: not a database URL: {give}", 2) from None
    try:
        supported = parsed.get_backend_name() in ("sqlite", "postgresql") and parsed.get_dialect() is not None
    except NoSuchModuleError:
        supported = False
    if not supported:
        raise CliError(f"--db: {parsed.drivername!r} databases are not supported: {give}", 2)
    return url


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL",
                        help="SQLAlchemy URL or SQLite file path of the console database "
                             "(default: $MFA_DATABASE_URL, else the data folder's console.db)")


def open_database(args: argparse.Namespace) -> Any:
    """The store named by ``--db`` (a URL, or a file path for SQLite), migrated to the current schema."""
    from lib.private_files import secure_data_folder
    from lib.store import open_store

    if args.db:
        url = args.db
    else:
        config = settings()
        if config.data_dir.is_dir():  # the console's own data folder is private (0700, files 0600), as the app
            secure_data_folder(config.data_dir)  # keeps it; a new one is made so with the database
        url = config.database_url
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser().resolve()}"
    return open_store(_database_url(url))


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    tenant = parser.add_mutually_exclusive_group(required=True)
    tenant.add_argument("--graph", metavar="URL",
                        help="Microsoft Graph root (https://graph.microsoft.com, or the demo emulator's URL)")
    tenant.add_argument("--demo", action="store_true",
                        help="the built-in demo tenant of the data folder ($MFA_CONSOLE_DATA): the app's, if it runs, "
                             "else started for this command")
    parser.add_argument("--emulator-info", metavar="FILE",
                        help="the line `python -m lib.emulator` printed (demo app credentials; $MFA_EMULATOR_INFO)")
    parser.add_argument("--tenant-id", help="tenant GUID or domain ($MFA_TENANT_ID)")
    parser.add_argument("--client-id", help="app (client) id ($MFA_CLIENT_ID)")
    parser.add_argument("--client-secret", help="client secret ($MFA_CLIENT_SECRET; prefer the variable to a flag)")
    parser.add_argument("--authority",
                        help="token authority URL ($MFA_AUTHORITY; default: the authority host + tenant id)")
    parser.add_argument("--ca-cert", help="PEM file to trust for the authority (and an https Graph) ($MFA_CA_CERT)")


def _with_settings(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with every credential flag not given filled in from the settings."""
    config = settings()
    return argparse.Namespace(**{
        **vars(args),
        "emulator_info": args.emulator_info or config.emulator_info,
        "tenant_id": args.tenant_id or config.tenant_id,
        "client_id": args.client_id or config.client_id,
        "client_secret": args.client_secret or config.client_secret,
        "authority": args.authority or config.authority_url,
        "ca_cert": args.ca_cert or config.ca_cert,
    })


def add_refresh_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refresh", action="store_true",
                        help="take a fresh snapshot of the tenant before planning (else the latest stored one)")


@dataclass
class GraphConnection:
    """A gateway with app-only credentials, and what the CLI learns about the tenant."""

    gateway: Any
    credential: Any
    mode: str
    """``demo`` (emulator credentials) or ``tenant``."""
    clock: Any = None
    """The demo tenant's simulated time in demo mode (what the store then stamps by), else None: real time."""
    _org: dict[str, Any] | None = field(default=None, repr=False)
    on_close: Any = field(default=lambda: None, repr=False)
    """Stops the demo tenant's process ``--demo`` started for this command (nothing otherwise)."""

    def actor(self) -> Any:
        """The app as an actor, with the permissions its token carries."""
        from lib.graph import GRAPH_DEFAULT_SCOPE
        from lib.rollout import app_actor_from_token

        token = self.credential.get_token(GRAPH_DEFAULT_SCOPE)
        return app_actor_from_token(token.token)

    def organization(self) -> dict[str, Any]:
        if self._org is None:
            self._org = self.gateway.organization()
        return self._org

    @property
    def tenant_id(self) -> str:
        return str(self.organization().get("id") or "")

    def close(self) -> None:
        self.gateway.close()
        self.on_close()


def _read_emulator_info(path: str, graph: str) -> dict[str, Any]:
    """The demo app's credentials from the ``--emulator-info`` line, or fetched with its control key."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
        info = json.loads(text.strip().splitlines()[-1])
    except OSError as exc:
        raise CliError(f"--emulator-info {path}: {exc.strerror or exc}", 2) from None
    except (ValueError, IndexError):
        raise CliError(f"--emulator-info {path}: not the JSON line `python -m lib.emulator` prints", 2) from None
    if not isinstance(info, dict):
        raise CliError(f"--emulator-info {path}: not the JSON line `python -m lib.emulator` prints", 2)
    needed = ("client_id", "client_secret", "authority")
    if all(info.get(k) for k in needed):
        return info
    key = info.get("control_key")
    if isinstance(key, str) and key:
        from lib.connect import demo_credentials

        fetched = demo_credentials(graph, key)
        if fetched is None:
            raise CliError(f"--emulator-info {path}: the demo tenant at {graph} did not accept its control_key "
                           "(is it still running? its key is new every run)", 1)
        return {**info, **fetched}
    missing = [k for k in needed if not info.get(k)]
    raise CliError(f"--emulator-info {path}: missing {', '.join(missing)} (or a control_key)", 2)


def connect(args: argparse.Namespace) -> GraphConnection:
    """A Graph gateway for ``--graph`` with app-only credentials (see the module docstring)."""
    from lib.graph import GatewayOptions, GraphGateway, MsalClientCredential

    if getattr(args, "demo", False):
        return _connect_demo(args)
    args = _with_settings(args)
    try:
        from lib.graph import normalize_base_url

        graph = normalize_base_url(args.graph)
    except ValueError as exc:
        raise CliError(f"--graph: {exc}", 2) from None
    ca_cert = args.ca_cert
    control_key = ""
    if args.emulator_info:
        info = _read_emulator_info(args.emulator_info, graph)
        client_id, secret, authority = info["client_id"], info["client_secret"], info["authority"]
        ca_cert = ca_cert or info.get("ca_cert")
        control_key = str(info.get("control_key") or "")
        mode = "demo"
    else:
        client_id, secret = args.client_id, args.client_secret
        missing = [name for name, value in (("--client-id (MFA_CLIENT_ID)", client_id),
                                            ("--client-secret (MFA_CLIENT_SECRET)", secret)) if not value]
        if not args.authority and not args.tenant_id:
            missing.append("--tenant-id (MFA_TENANT_ID) or --authority")
        if missing:
            raise CliError("no credentials: give " + ", ".join(missing)
                           + ", or --emulator-info FILE for the demo tenant", 2)
        authority = args.authority or f"{settings().authority_host.rstrip('/')}/{args.tenant_id}"
        mode = "tenant"
    if ca_cert and not Path(ca_cert).is_file():
        raise CliError(f"--ca-cert {ca_cert}: no such file", 2)
    try:
        credential = MsalClientCredential(client_id, secret, authority, ca_cert=ca_cert)
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    options = GatewayOptions(verify=ca_cert, trust_env=False) if ca_cert and graph.startswith("https") else None
    clock = None
    if mode == "demo":
        from lib.connect import demo_clock

        clock = demo_clock(graph, control_key)
    return GraphConnection(GraphGateway(graph, credential, options=options), credential, mode, clock)


def _connect_demo(args: argparse.Namespace) -> GraphConnection:
    """The data folder's demo tenant, reached as the app reaches it (``lib.demo``)."""
    from lib.demo import demo_for_command
    from lib.graph import GraphGateway, MsalClientCredential

    try:
        demo, release = demo_for_command(settings())
    except ConsoleError as err:
        raise CliError(describe(err), 1) from None
    link = demo.emulator
    credential = MsalClientCredential(link.client_id, link.client_secret, link.authority, ca_cert=link.ca_cert)
    return GraphConnection(GraphGateway(link.graph_url, credential), credential, "demo", demo.clock,
                           on_close=release)


def workspace(store: Any, conn: GraphConnection, actor: Any = None) -> Any:
    """The use cases' workspace for this command: the store, the app's gateway, its tenant, the app as actor."""
    from lib import console

    _use_clock(store, conn)
    return console.Workspace(store, conn.gateway, conn.tenant_id, actor)


def _use_clock(store: Any, conn: GraphConnection) -> None:
    """Stamp by the tenant's clock: the demo tenant's simulated time when the CLI drives a demo tenant."""
    if conn.clock is not None:
        store.clock = conn.clock


def users_frame(ws: Any, conn: GraphConnection, *, refresh: bool) -> tuple[Any, bool]:
    """(the latest users frame, whether a snapshot was taken now)."""
    from lib import console

    taken = False
    if refresh or ws.store.latest_snapshot(ws.tenant_id) is None:
        console.take_snapshot(ws, mode=conn.mode)
        taken = True
    return ws.store.load_users(ws.tenant_id), taken


def _wait(operation_id: int, store: Any, actor: Any) -> None:
    """Wait for this process's worker; Ctrl-C cancels the operation (as ``actor``, who started it) and still
    waits for it to stop."""
    from lib import rollout

    try:
        rollout.wait_operation(operation_id)
    except KeyboardInterrupt:
        rollout.cancel_operation(store, operation_id, actor=actor)
        rollout.wait_operation(operation_id)
        emit(rollout.operation_report(store, operation_id))
        raise CliError(f"interrupted: operation {operation_id} cancelled; `resume` finishes it", 130) from None


def _report_status(report: dict[str, Any]) -> int:
    if report["status"] == "complete":
        return 0
    return 3


def _warnings(the_plan: Any) -> list[dict[str, Any]]:
    return [{"code": w.code, "count": w.count, "message": w.message} for w in the_plan.warnings]


def _plan_json(the_plan: Any) -> dict[str, Any]:
    def text(value: Any) -> Any:
        return _jsonable(value)

    changes = [{"upn": text(r.upn), "user_id": r.user_id, "before": r.before, "requested": r.requested,
                "expected": r.expected} for r in the_plan.changes.itertuples(index=False)]
    skipped = [{"upn": text(r.upn), "user_id": r.user_id, "code": r.code, "reason": r.reason}
               for r in the_plan.skipped.itertuples(index=False)]
    return {"changes": changes, "skipped": skipped,
            "user_warnings": the_plan.summary().get("user_warnings", [])}


# -- apply -------------------------------------------------------------------------------------------

def _apply_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    add_database_argument(parser)
    add_refresh_argument(parser)
    parser.add_argument("--state", required=True, choices=("enabled", "enforced", "disabled"),
                        help="the state to set (rows of the CSV may name their own)")
    parser.add_argument("--users-csv", required=True, metavar="FILE",
                        help="CSV of user principal names (UTF-8; optional header; optional state column; separated by "
                             "commas, semicolons or tabs, detected as on the Users page)")
    parser.add_argument("--dry-run", action="store_true", help="plan only: print who would change, send nothing")
    parser.add_argument("--plan-csv", metavar="FILE", help="also write the plan as CSV to FILE")
    parser.add_argument("--wave", metavar="NAME", help="record this Enable as a rollout wave named NAME")
    parser.add_argument("--skip-invalid-rows", action="store_true",
                        help="go ahead without the CSV rows that have errors (they are listed)")


def _read_csv(path: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not a CSV file", 2) from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}", 2) from None


def cmd_apply(args: argparse.Namespace) -> int:
    from lib import console, rollout
    from lib.columns import empty_users_frame

    data = _read_csv(args.users_csv)
    try:  # file-level problems first, before any network or database work
        rollout.parse_users_csv(data, empty_users_frame(), default_state=args.state, delimiter=None)
    except rollout.CsvImportError as exc:
        raise CliError(f"{args.users_csv}: {exc.message}", 2) from None
    if args.wave is not None and args.state != "enabled":
        raise CliError("--wave names an Enable: use it with --state enabled", 2)
    conn = connect(args)
    try:
        actor = conn.actor()
        if not args.dry_run:
            rollout.require_writer(actor)  # refuse before reading or sending anything
        with open_database(args) as store:
            ws = workspace(store, conn, actor)
            tenant_id = ws.tenant_id
            frame, taken = users_frame(ws, conn, refresh=args.refresh)
            imported = rollout.parse_users_csv(data, frame, default_state=args.state, delimiter=None)
            if imported.errors and not args.skip_invalid_rows:
                raise CliError(f"{args.users_csv}: {imported.describe_errors()} "
                               "(fix the file, or pass --skip-invalid-rows)", 2)
            # A stored snapshot may predate other operations: plan from the states as they are now.
            preview = console.preview_csv(ws, frame, imported, reread=not taken)
            if args.plan_csv:
                Path(args.plan_csv).write_bytes(preview.to_csv())
            csv_errors = [{"line": e.line, "upn": e.upn, "code": e.code, "message": e.message}
                          for e in imported.errors]
            if args.dry_run:
                emit({"dry_run": True, "operation_id": None, "tenant_id": tenant_id, "snapshot_taken": taken,
                      "planned": len(preview.changes), "applied": 0, **_plan_json(preview), "failed": [],
                      "warnings": _warnings(preview), "csv_errors": csv_errors})
                return 0
            operation_id = console.start_change(ws, preview, wave=args.wave, label=Path(args.users_csv).name)
            _wait(operation_id, store, actor)
            report = rollout.operation_report(store, operation_id)
            emit({"dry_run": False, "tenant_id": tenant_id, "snapshot_taken": taken, **report,
                  "warnings": _warnings(preview), "csv_errors": csv_errors, "wave": args.wave})
            return _report_status(report)
    finally:
        conn.close()


# -- promote -----------------------------------------------------------------------------------------

def _dry_run_or_apply(args: argparse.Namespace, ws: Any, store: Any, actor: Any, preview: Any, head: dict, *,
                      label: str) -> int:
    """``--dry-run``: print the plan and send nothing; else start it, wait, and print what Graph reported."""
    from lib import console, rollout

    if args.dry_run:
        emit({"dry_run": True, "operation_id": None, **head, "planned": len(preview.changes), "applied": 0,
              **_plan_json(preview), "failed": [], "warnings": _warnings(preview)})
        return 0
    operation_id = console.start_change(ws, preview, label=label)
    _wait(operation_id, store, actor)
    report = rollout.operation_report(store, operation_id)
    emit({"dry_run": False, **head, **report, "warnings": _warnings(preview),
          "user_warnings": preview.summary().get("user_warnings", [])})
    return _report_status(report)


def _promote_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    add_database_argument(parser)
    add_refresh_argument(parser)
    parser.add_argument("--wave", required=True, metavar="NAME",
                        help="the wave's name (as the Operations page lists it)")
    parser.add_argument("--include-not-ready", action="store_true",
                        help="also enforce the members who are not ready (legacy clients or single-factor sign-ins "
                             "in the last 14 days)")
    parser.add_argument("--dry-run", action="store_true", help="plan only: print who would change, send nothing")
    parser.add_argument("--plan-csv", metavar="FILE", help="also write the plan as CSV to FILE")


def cmd_promote(args: argparse.Namespace) -> int:
    """Promote a wave to Enforced, as the Operations page does: the ready members first."""
    from lib import console, rollout

    conn = connect(args)
    try:
        actor = conn.actor()
        if not args.dry_run:
            rollout.require_writer(actor)
        with open_database(args) as store:
            ws = workspace(store, conn, actor)
            try:
                wave = rollout.get_wave(store, ws.tenant_id, args.wave)
            except rollout.WaveError as exc:
                raise CliError(f"--wave: {exc}", 2) from None
            frame, taken = users_frame(ws, conn, refresh=args.refresh)
            preview = console.preview_wave_enforcement(ws, frame, wave.id, include_not_ready=args.include_not_ready)
            if args.plan_csv:
                Path(args.plan_csv).write_bytes(preview.to_csv())
            head = {"tenant_id": ws.tenant_id, "snapshot_taken": taken, "wave": wave.name,
                    "include_not_ready": args.include_not_ready}
            return _dry_run_or_apply(args, ws, store, actor, preview, head,
                                     label=f"Promote wave {wave.name} to Enforced"[:300])
    finally:
        conn.close()


# -- resume ------------------------------------------------------------------------------------------

def _operation_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    add_database_argument(parser)
    parser.add_argument("--operation", required=True, type=whole_number(1, MAX_ID), metavar="ID",
                        help="the operation's id")


def _same_tenant(conn: GraphConnection, operation: Any) -> None:
    if conn.tenant_id != operation.tenant_id:
        raise CliError(f"operation {operation.id} belongs to tenant {operation.tenant_id}, but --graph serves "
                       f"tenant {conn.tenant_id}", 2)


def cmd_resume(args: argparse.Namespace) -> int:
    from lib import console, rollout

    conn = connect(args)
    try:
        actor = conn.actor()
        rollout.require_writer(actor)
        with open_database(args) as store:
            ws = workspace(store, conn, actor)
            _same_tenant(conn, rollout.get_operation(store, args.operation))
            operation_id = console.resume(ws, args.operation)
            _wait(operation_id, store, actor)
            report = rollout.operation_report(store, operation_id)
            emit(report)
            return _report_status(report)
    finally:
        conn.close()


# -- undo --------------------------------------------------------------------------------------------

def _undo_arguments(parser: argparse.ArgumentParser) -> None:
    _operation_arguments(parser)
    add_refresh_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="preview the undo only: send nothing")


def cmd_undo(args: argparse.Namespace) -> int:
    from lib import console, rollout

    conn = connect(args)
    try:
        actor = conn.actor()
        if not args.dry_run:
            rollout.require_writer(actor)
        with open_database(args) as store:
            operation = rollout.get_operation(store, args.operation)
            _same_tenant(conn, operation)
            ws = workspace(store, conn, actor)
            frame, _taken = users_frame(ws, conn, refresh=args.refresh)
            preview = console.preview_undo(ws, frame, args.operation)
            return _dry_run_or_apply(args, ws, store, actor, preview, {"undo_of": args.operation},
                                     label=f"undo of operation {args.operation}")
    finally:
        conn.close()


# -- operations --------------------------------------------------------------------------------------

def _operations_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--tenant", metavar="ID", help="only this tenant's operations")
    parser.add_argument("--limit", type=whole_number(1, 1_000_000), metavar="N", help="only the N newest")


def cmd_operations(args: argparse.Namespace) -> int:
    from lib import rollout

    with open_database(args) as store:
        frame = rollout.operations_frame(store, args.tenant, limit=args.limit)
    rows = [{key: _jsonable(value) for key, value in row.items()} for row in frame.to_dict("records")]
    emit({"operations": rows})
    return 0


def _jsonable(value: Any) -> Any:
    import pandas as pd

    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _snapshot_arguments(parser: argparse.ArgumentParser) -> None:
    add_graph_arguments(parser)
    add_database_argument(parser)


def cmd_snapshot(args: argparse.Namespace) -> int:
    """Take a snapshot and print what it read: users, registered, states, source, how the states were read
    (``state_read``: the users listing or per-user reads, why, the sample checked), requests, retries, seconds,
    ``protection`` (counts by coverage and method class) and ``sign_ins`` (how many sign-ins this run read,
    over which window, from which source)."""
    from lib import console

    conn = connect(args)  # a bad --graph or missing credentials are refused before the database is created
    try:
        with open_database(args) as store:
            _use_clock(store, conn)
            result = console.take_snapshot(console.Workspace(store, conn.gateway, "", None), mode=conn.mode,
                                           all_sign_ins=True)
    finally:
        conn.close()
    frame = result.read.frame
    emit({
        "tenant_id": result.read.tenant_id,
        "tenant": result.read.tenant_name,
        "snapshot_id": result.snapshot_id,
        "users": len(frame),
        "registered": int(frame["registered"].sum()),
        "capable": int(frame["capable"].sum()),
        "states": {s: int(n) for s, n in frame["state"].value_counts().sort_index().items()},
        "registration_source": result.read.registration_source,
        "rows_written": result.summary.rows_written,
        "state_read": result.read.state_read.as_dict(),
        **{k: result.read.stats[k] for k in ("requests", "retries", "state_read_failures", "seconds")},
        "protection": _protection_json(result.read.protection),
        "sign_ins": result.sign_ins.summary() if result.sign_ins else None,
    })
    return 0


def _protection_json(read: Any) -> dict[str, Any] | None:
    """Conditional Access availability, what could not be read, and the summary's counts (None: not read)."""
    if read is None:
        return None
    record = read.record
    return {
        "ca_availability": record.ca_availability,
        "security_defaults": record.security_defaults,
        "policies": len(record.policies),
        "messages": [m for m in (record.ca_message, record.security_defaults_message, record.methods_policy_message)
                     if m],
        **read.summary.as_json(),
    }


def _users_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--format", required=True, choices=("csv", "json"),
                        help="csv (the Users page's export, protection columns added) or json")
    parser.add_argument("--tenant", metavar="ID", help="the tenant to export (needed when the database holds several)")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")


def cmd_users(args: argparse.Namespace) -> int:
    """Export every user of the latest snapshot, with the protection columns."""
    from lib.console.users_export import export_users, only_tenant

    with open_database(args) as store:
        data = export_users(store, only_tenant(store, args.tenant), args.format)
    if args.output:
        try:
            Path(args.output).expanduser().write_bytes(data)
        except OSError as exc:
            raise CliError(f"--output: cannot write {args.output}: {exc.strerror or exc}", 2) from None
        return 0
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


# -- the program ---------------------------------------------------------------------------------------

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: dict[str, Command] = {
    "apply": ("change per-user MFA state for the users in a CSV", _apply_arguments, cmd_apply),
    "promote": ("set a wave's registered, still Enabled members to Enforced (the ready ones unless "
                "--include-not-ready)", _promote_arguments, cmd_promote),
    "resume": ("resume an interrupted, cancelled or partly failed operation", _operation_arguments, cmd_resume),
    "undo": ("undo an operation (users who moved on since are shown and left alone)", _undo_arguments, cmd_undo),
    "operations": ("list operations: id, kind, status, counts, started, finished", _operations_arguments,
                   cmd_operations),
    "snapshot": ("read users, registration and MFA state into the database; print a JSON summary",
                 _snapshot_arguments, cmd_snapshot),
    "users": ("export every user of the latest snapshot with the protection columns (CSV or JSON)",
              _users_arguments, cmd_users),
}
"""Subcommand name → (help, add its arguments, run it and return the exit status)."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="MFA Rollout Console, command line.")
    parser.add_argument("--verbose", action="store_true", help="log progress and errors to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (text, add_arguments, _run) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=text, description=text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # No traceback ever reaches stderr: logging goes nowhere unless --verbose.
    logging.getLogger().addHandler(logging.NullHandler())
    from lib.auth.logs import install_log_redaction

    install_log_redaction()  # --verbose logs requests and errors: never a token or secret in them
    try:
        args = build_parser().parse_args(argv)
        if args.verbose:
            logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        if not args.command:
            raise CliError(f"{PROG}: give a command: {', '.join(COMMANDS)} (see --help)", 2)
        return COMMANDS[args.command][2](args)
    except CliError as exc:
        print(describe(exc), file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback: lib.errors.describe says which area failed
        print(describe(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
