"""One error hierarchy: every error lib raises is a ConsoleError, describe() is the one line people see,
and Graph errors say by class (not by name) what they are and whether trying again can help."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import httpx
import pytest

import lib
from lib.auth import AuthError, FlowExpired, PermissionDenied, SessionExpired, TokenRefreshFailed
from lib.cli import CliError
from lib.errors import ConsoleError, describe
from lib.graph import (
    BadRequest,
    CredentialError,
    Forbidden,
    GraphError,
    GraphServerError,
    GraphUnavailable,
    MalformedResponse,
    NoPremiumLicense,
    NotFound,
    OperationCancelled,
    Throttled,
    Unauthorized,
    error_from_response,
)
from lib.overview import ChartImageError
from lib.rollout import CsvImportError, OperationNotFound, ProtectionError, RolloutError
from lib.settings import SettingsError
from lib.store import NotFoundError, StoreError, StoreLockedError

ROOT = Path(__file__).resolve().parent.parent


def lib_exception_classes() -> list[type[Exception]]:
    """Every exception class defined at module level anywhere under lib/, except the demo tenant's server."""
    found: dict[str, type[Exception]] = {}
    for module_info in pkgutil.walk_packages(lib.__path__, "lib."):
        if module_info.name == "lib.emulator" or module_info.name.startswith("lib.emulator."):
            continue
        module = importlib.import_module(module_info.name)
        for obj in vars(module).values():
            if (inspect.isclass(obj) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and obj.__module__ == module.__name__):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[name] for name in sorted(found)]


# --- (a) one tree -----------------------------------------------------------------------------------


def test_every_exception_class_under_lib_is_a_console_error() -> None:
    classes = lib_exception_classes()
    roots = {GraphError, AuthError, RolloutError, StoreError, SettingsError, CliError, ChartImageError}
    assert roots <= set(classes), "the walk must see the module roots"
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, ConsoleError)]
    assert strays == [], f"derive these from lib.errors.ConsoleError (or a module's own root): {strays}"


def test_the_docstring_tree_names_every_error() -> None:
    tree = lib.errors.__doc__ or ""
    missing = [c.__name__ for c in lib_exception_classes() if c is not ConsoleError
               and not re.search(rf"\b{c.__name__}\b", tree)]
    assert missing == [], f"draw these in lib/errors.py's tree: {missing}"


def test_every_class_has_a_stable_snake_case_code() -> None:
    for cls in lib_exception_classes():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code), (cls, cls.code)


@pytest.mark.parametrize(("cls", "builtin"), [
    (SettingsError, ValueError), (CsvImportError, ValueError), (ProtectionError, ValueError),
    (NotFoundError, LookupError), (OperationNotFound, LookupError), (ChartImageError, RuntimeError),
    (SessionExpired, CredentialError), (TokenRefreshFailed, CredentialError), (SessionExpired, AuthError),
])
def test_older_except_clauses_still_catch(cls: type, builtin: type) -> None:
    assert issubclass(cls, builtin) and issubclass(cls, ConsoleError)


def _lib_imports(module: str) -> list[str]:
    tree = ast.parse((ROOT / "lib" / module).read_text(encoding="utf-8"))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    return [n for n in names if n == "lib" or n.startswith("lib.")]


def test_lib_errors_imports_nothing_from_lib() -> None:
    """Only the redaction rules describe() applies, and they import nothing from lib either: no cycle."""
    assert _lib_imports("errors.py") == ["lib.redaction"]
    assert _lib_imports("redaction.py") == []


def test_message_and_code_defaults_and_overrides() -> None:
    plain = ConsoleError()
    assert (plain.message, plain.code, plain.retryable) == (ConsoleError.default_message, "console_error", False)
    told = ConsoleError("the disk is full", code="disk_full")
    assert (told.message, str(told), told.code, ConsoleError.code) == (
        "the disk is full", "the disk is full", "disk_full", "console_error")
    assert (AuthError().code, AuthError(code="invalid_grant").code) == ("sign_in_failed", "invalid_grant")
    assert CsvImportError("empty file", code="empty").code == "empty"
    assert CliError("bad flag", 2).status == 2


# --- (b) one line for a person --------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "line"), [
    (error_from_response(403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}},
                         url="https://graph.microsoft.com/v1.0/users"),
     "Microsoft Graph: 403 Authorization_RequestDenied: Insufficient privileges (https://graph.microsoft.com/v1.0/users)"),
    (GraphUnavailable("cannot reach Microsoft Graph at https://graph.microsoft.com: connection refused"),
     "Microsoft Graph: cannot reach Microsoft Graph at https://graph.microsoft.com: connection refused"),
    (CredentialError("cannot initialise MSAL for https://login.example/t: boom"),
     "sign-in (app token): cannot initialise MSAL for https://login.example/t: boom"),
    (SessionExpired(code="invalid_grant"), "Your session has expired. Sign in again."),
    (TokenRefreshFailed("Cannot reach the sign-in service. Try again.", code="unreachable"),
     "Cannot reach the sign-in service. Try again."),
    (FlowExpired(), FlowExpired.default_message),
    (PermissionDenied("Sign in first."), "Sign in first."),
    (StoreError("database console.db: disk I/O error"), "database: database console.db: disk I/O error"),
    (StoreLockedError("database console.db is locked"), "database: database console.db is locked"),
    (SettingsError("MFA_CLIENT_ID must be a GUID."), "configuration: MFA_CLIENT_ID must be a GUID."),
    (OperationNotFound("there is no operation 99"), "there is no operation 99"),
    (ProtectionError("reason is required"), "reason is required"),
    (CliError("--limit must be at least 1", 2), "--limit must be at least 1"),
    (ChartImageError("Chromium took longer than 30 s to draw the chart."),
     "Chromium took longer than 30 s to draw the chart."),
    (httpx.ConnectError("[Errno 111] Connection refused"), "network: [Errno 111] Connection refused"),
    (httpx.ReadTimeout("timed out"), "network: timed out"),
    (KeyError("id"), "internal error: KeyError: 'id'"),
    (ValueError("delimiter must be ',' or ';'"), "internal error: ValueError: delimiter must be ',' or ';'"),
    (RuntimeError(), "internal error: RuntimeError: RuntimeError"),
])
def test_describe_gives_one_line_by_area(error: BaseException, line: str) -> None:
    assert describe(error) == line


def test_describe_is_always_one_line_and_never_shows_a_token() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    error = Unauthorized(f"bad token\n  Bearer {jwt}\n", status=401)
    line = describe(error)
    assert "\n" not in line and jwt not in line and line.startswith("Microsoft Graph: 401: bad token")
    assert describe(StoreError("first line\nsecond line")) == "database: first line second line"


# --- (c) Graph errors: what they are, by class --------------------------------------------------------------


@pytest.mark.parametrize(("cls", "code", "reason", "retryable"), [
    (GraphError, "graph_error", "graph_error", True),
    (Throttled, "throttled", "throttled", True),
    (GraphServerError, "server_error", "server_error", True),
    (GraphUnavailable, "unavailable", "unavailable", True),
    (MalformedResponse, "malformed_response", "malformed_response", True),
    (Forbidden, "forbidden", "forbidden", False),
    (NoPremiumLicense, "forbidden", "forbidden", False),
    (Unauthorized, "unauthorized", "unauthorized", False),
    (CredentialError, "unauthorized", "unauthorized", False),
    (SessionExpired, "session_expired", "unauthorized", False),
    (TokenRefreshFailed, "token_refresh_failed", "unauthorized", False),
    (NotFound, "not_found", "not_found", False),
    (BadRequest, "bad_request", "bad_request", False),
    (OperationCancelled, "cancelled", "cancelled", False),
])
def test_graph_classes_carry_code_reason_and_retryable(cls: type[GraphError], code: str, reason: str,
                                                       retryable: bool) -> None:
    error = cls()
    assert (error.code, error.reason, error.retryable) == (code, reason, retryable)
    assert (cls.code, cls.reason, cls.retryable) == (code, reason, retryable)


def test_a_new_subclass_inherits_its_parents_classification() -> None:
    class Custom(GraphServerError):
        pass

    class Picky(Forbidden):
        pass

    assert (Custom().reason, Custom().retryable) == ("server_error", True)
    assert (Picky().reason, Picky().retryable) == ("forbidden", False)


def test_an_instance_code_never_changes_the_reason() -> None:
    expired = SessionExpired(code="invalid_grant")
    assert (expired.code, expired.reason, expired.retryable) == ("invalid_grant", "unauthorized", False)


def test_graphs_own_code_is_graph_code() -> None:
    error = error_from_response(404, {"error": {"code": "Request_ResourceNotFound", "message": "gone",
                                                "innerError": {"request-id": "r-1"}}})
    assert (error.code, error.graph_code, error.status) == ("not_found", "Request_ResourceNotFound", 404)
    assert error.to_dict() == {"error": "NotFound", "code": "not_found", "reason": "not_found", "retryable": False,
                               "status": 404, "graph_code": "Request_ResourceNotFound", "message": "gone",
                               "request_id": "r-1"}
