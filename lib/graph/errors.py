"""Every error the Graph gateway raises, in one place.

Callers (pages, the CLI, the snapshot and rollout workers) catch ``GraphError`` to show one clear
message instead of a traceback; the subclasses let them react to the cases that need a different
answer (sign in again, ask for a role or a licence, wait, check the network). ``GraphError`` is a
:class:`lib.errors.ConsoleError`.

::

    GraphError              code / retryable          status, graph_code, message, request_id, url
    ├── BadRequest          bad_request               400 (and other final 4xx without a class of their own)
    ├── Unauthorized        unauthorized              401: the token is missing, expired or not for this tenant
    ├── Forbidden           forbidden                 403: ``missing`` names the permission or role that may be missing
    │   └── NoPremiumLicense                          403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
    ├── NotFound            not_found                 404
    ├── Throttled           throttled, retryable      429 after every retry: ``retry_after`` seconds
    ├── GraphServerError    server_error, retryable   5xx after every retry
    ├── GraphUnavailable    unavailable, retryable    no HTTP answer: DNS, refused, TLS, timeout, dropped connection
    ├── MalformedResponse   malformed_response, retryable   not the JSON Graph promises (a broken page)
    ├── CredentialError     unauthorized              the credential could not produce a token
    │                                                 (lib.auth's SessionExpired and TokenRefreshFailed are ones)
    └── OperationCancelled  cancelled                 the caller cancelled

``code``, ``reason`` and ``retryable`` are class attributes and a subclass inherits them, so whoever
decides "try again?" or "which reason to journal" reads the attributes, never the class's name. The
gateway and the ``$batch`` executor retry single requests by HTTP status (``RetryPolicy``); these
attributes describe the error left once those retries are spent. ``reason`` is the failure reason the
rollout journal records; ``code`` may refine it (``SessionExpired`` has the code ``session_expired``
and the reason ``unauthorized``). ``retryable`` means the same request may succeed later unchanged.
``graph_code`` is the code in Graph's own error body (``Authorization_RequestDenied``, or the token
endpoint's OAuth error such as ``invalid_client``); ``""`` when the answer had none. A plain
``GraphError`` (an answer no subclass describes) is retryable.

Messages never contain an access token or an ``Authorization`` header: everything that goes into
one passes through :func:`redact`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from lib.errors import ConsoleError
from lib.redaction import redact

__all__ = [
    "BadRequest",
    "CredentialError",
    "Forbidden",
    "GraphError",
    "GraphServerError",
    "GraphUnavailable",
    "MalformedResponse",
    "NoPremiumLicense",
    "NotFound",
    "OperationCancelled",
    "Throttled",
    "Unauthorized",
    "error_from_exception",
    "error_from_response",
    "parse_retry_after",
    "redact",
    "required_permission",
]

NO_PREMIUM_CODE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
UNSUPPORTED_ROLE_CODE = "Authentication_RequestFromUnsupportedUserRole"
NO_DIRECTORY_READ_CODE = "Authentication_ApplicationHasNoDirectoryReadAccess"


class GraphError(ConsoleError):
    """Base class: Microsoft Graph did not do what was asked.

    ``status`` is the HTTP status (``None`` when no answer came), ``graph_code`` and ``message`` come
    from Graph's error body, ``request_id`` from its ``innerError`` (quote it to Microsoft support),
    and ``url`` is the request URL (never carrying a token). ``code``, ``reason`` and ``retryable``
    are set by the class (see the module's table).
    """

    code = "graph_error"
    reason: ClassVar[str] = "graph_error"
    retryable: ClassVar[bool] = True
    area: ClassVar[str] = "Microsoft Graph"
    default_message: ClassVar[str] = "Microsoft Graph request failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        graph_code: str | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.graph_code = graph_code or ""
        self.request_id = request_id
        self.url = redact(url) if url else None
        super().__init__(redact(message or self.default_message))
        self.args = (self._text(),)

    def __str__(self) -> str:
        return self._text()

    def _text(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.graph_code:
            parts.append(self.graph_code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.url and self.url not in text:
            text += f" ({self.url})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary for journals and exports (no token can be in it)."""
        return {
            "error": type(self).__name__,
            "code": self.code,
            "reason": self.reason,
            "retryable": self.retryable,
            "status": self.status,
            "graph_code": self.graph_code,
            "message": self.message,
            "request_id": self.request_id,
        }


class BadRequest(GraphError):
    """400, or another final 4xx without a class of its own (405, 409, 412, 424…)."""

    code = reason = "bad_request"
    retryable = False


class Unauthorized(GraphError):
    """401: the token is missing, expired, revoked, or not for this tenant. Sign in again."""

    code = reason = "unauthorized"
    retryable = False

    default_message = "Graph rejected the access token; sign in again"


class Forbidden(GraphError):
    """403: the app or the signed-in admin lacks a permission, a role or a licence.

    ``missing`` names what is probably missing (a permission, a role or a licence) when the request
    or the error code tells; ``None`` when it cannot be known.
    """

    code = reason = "forbidden"
    retryable = False

    def __init__(self, message: str | None = None, *, missing: str | None = None, **kw: Any) -> None:
        self.missing = missing
        if missing and message and missing not in message:
            message = f"{message} (needs {missing})"
        super().__init__(message, **kw)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "missing": self.missing}


class NoPremiumLicense(Forbidden):
    """403 ``Authentication_RequestFromNonPremiumTenantOrB2CTenant``: the tenant has no Entra ID P1/P2.

    Registration then has to come from per-user authentication methods instead of the reports API.
    (Graph also answers this, intermittently, when the app lacks ``Directory.Read.All`` and so
    cannot check the tenant's licence.)
    """


class NotFound(GraphError):
    """404: the user, object or route does not exist."""

    code = reason = "not_found"
    retryable = False


class Throttled(GraphError):
    """429 that outlasted every retry. ``retry_after`` is Graph's last ``Retry-After`` in seconds."""

    code = reason = "throttled"
    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class GraphServerError(GraphError):
    """5xx that outlasted every retry."""

    code = reason = "server_error"
    retryable = True


class GraphUnavailable(GraphError):
    """Graph could not be reached: DNS, connection refused, TLS, timeout or a dropped connection.

    The message names the URL that failed (never a token).
    """

    code = reason = "unavailable"
    retryable = True


class MalformedResponse(GraphError):
    """Graph answered, but not with the JSON it documents (not JSON, no ``value`` list…)."""

    code = reason = "malformed_response"
    retryable = True


class CredentialError(GraphError):
    """The credential could not produce an access token (wrong secret, unknown tenant, MSAL error)."""

    code = reason = "unauthorized"
    retryable = False
    area = "sign-in (app token)"


class OperationCancelled(GraphError):
    """The caller cancelled the operation before it completed."""

    code = reason = "cancelled"
    retryable = False
    default_message = "cancelled"


# --------------------------------------------------------------------------- permissions

_PERMISSION_HINTS: tuple[tuple[str, str, str], ...] = (
    # (method prefix or "*", path fragment, what is needed)
    ("GET", "/authentication/requirements",
     "Policy.Read.All (application or delegated)"),
    ("*", "/authentication/requirements",
     "Policy.ReadWrite.AuthenticationMethod, and for a signed-in admin the Authentication Policy "
     "Administrator or Global Administrator role"),
    ("*", "/reports/authenticationmethods",
     "AuditLog.Read.All, and for a signed-in admin a Reports Reader, Security Reader, "
     "Global Reader or Global Administrator role"),
    ("*", "/identity/conditionalaccess", "Policy.Read.All"),
    ("GET", "/policies/identitysecuritydefaultsenforcementpolicy", "Policy.Read.All"),
    ("GET", "/policies/authenticationmethodspolicy",
     "Policy.Read.AuthenticationMethod (or Policy.ReadWrite.AuthenticationMethod)"),
    ("*", "/policies/authenticationmethodspolicy",
     "Policy.ReadWrite.AuthenticationMethod, and for a signed-in admin the Authentication Policy "
     "Administrator or Global Administrator role"),
    ("GET", "/policies/authenticationstrengthpolicies", "Policy.Read.All"),
    ("GET", "/transitivemembers", "GroupMember.Read.All"),
    ("GET", "/rolemanagement/directory/roleassignments", "RoleManagement.Read.Directory"),
    ("GET", "/authentication/", "UserAuthenticationMethod.Read.All"),
    ("*", "/authentication/", "UserAuthenticationMethod.ReadWrite.All"),
    ("*", "/transitivememberof", "Directory.Read.All (or RoleManagement.Read.Directory)"),
    ("*", "/memberof", "Directory.Read.All (or RoleManagement.Read.Directory)"),
    ("*", "/organization", "Organization.Read.All (or User.Read for a signed-in admin)"),
    ("GET", "/users", "User.Read.All"),
    ("GET", "/me", "User.Read"),
)


def required_permission(method: str, url: str) -> str | None:
    """The Graph permission (and role) a request to ``url`` needs, when this module knows it."""
    path = httpx.URL(url).path.lower() if "://" in url else url.split("?", 1)[0].lower()
    method = method.upper()
    for want_method, fragment, needed in _PERMISSION_HINTS:
        if want_method != "*" and want_method != method:
            continue
        if fragment in path or path.endswith(fragment.rstrip("/")):
            return needed
    return None


def _missing_for(code: str, method: str | None, url: str | None) -> str | None:
    if code == NO_PREMIUM_CODE:
        return "an Entra ID P1 or P2 licence (and the app needs Directory.Read.All to check it)"
    if code == UNSUPPORTED_ROLE_CODE:
        return ("a directory role allowed to read authentication reports (Reports Reader, Security "
                "Reader, Global Reader or Global Administrator)")
    if code == NO_DIRECTORY_READ_CODE:
        return "Directory.Read.All"
    if method and url:
        return required_permission(method, url)
    return None


# --------------------------------------------------------------------------- mapping

def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: fractional seconds or an HTTP date; ``None`` if absent."""
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from datetime import datetime, timezone
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    if isinstance(headers, httpx.Headers):
        return headers.get(name)
    lname = name.lower()
    for key, value in headers.items():
        if key.lower() == lname:
            return value
    return None


_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_HEADING = re.compile(r"(?is)<h1[^>]*>(.*?)</h1>")
_TAGS = re.compile(r"<[^>]+>")


def describe_html(text: str) -> str:
    """``an HTML page ("502 Bad Gateway")`` when ``text`` is an HTML page, else ``""``.

    A proxy's error page is no message for a person: its title says all there is to say.
    """
    head = text.lstrip()[:200].lower()
    if not head.startswith(("<!doctype html", "<html", "<head", "<body")):
        return ""
    found = _TITLE.search(text) or _HEADING.search(text)
    title = " ".join(_TAGS.sub(" ", found.group(1)).split())[:120] if found else ""
    return f'an HTML page ("{title}")' if title else "an HTML page"


def error_fields(body: Any) -> tuple[str, str, str | None]:
    """(code, message, request_id) from a Graph error body (dict, bytes or str)."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body
        try:
            body = json.loads(body) if body.strip() else None
        except ValueError:
            page = describe_html(text)
            if page:
                return "", f"{page} came back instead of Graph's answer: a proxy or gateway in between?", None
            return "", text.strip()[:300], None
    if not isinstance(body, dict):
        return "", "", None
    err = body.get("error")
    if isinstance(err, str):  # OAuth-style {"error": "invalid_token", "error_description": ...}
        return err, str(body.get("error_description") or ""), None
    if not isinstance(err, dict):
        return "", "", None
    inner = err.get("innerError") or err.get("innererror") or {}
    request_id = None
    if isinstance(inner, dict):
        request_id = inner.get("request-id") or inner.get("requestId")
    return str(err.get("code") or ""), str(err.get("message") or ""), request_id


def error_from_response(
    status: int,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    method: str | None = None,
    url: str | None = None,
) -> GraphError:
    """The ``GraphError`` subclass for a non-success Graph answer (whole request or ``$batch`` item)."""
    code, message, request_id = error_fields(body)
    request_id = request_id or _header(headers, "request-id")
    kw: dict[str, Any] = {"status": status, "graph_code": code, "request_id": request_id, "url": url}
    message = message or f"HTTP {status}"
    if status == 401:
        return Unauthorized(message or None, **kw)
    if status == 403:
        missing = _missing_for(code, method, url)
        cls = NoPremiumLicense if code == NO_PREMIUM_CODE else Forbidden
        return cls(message, missing=missing, **kw)
    if status == 404:
        return NotFound(message, **kw)
    if status == 429:
        return Throttled(message, retry_after=parse_retry_after(_header(headers, "Retry-After")), **kw)
    if status >= 500:
        return GraphServerError(message, **kw)
    return BadRequest(message, **kw)


def error_from_exception(
    exc: BaseException, *, method: str | None = None, url: str | None = None
) -> GraphError:
    """Map an httpx transport error or a kiota ``APIError``/``ODataError`` to a ``GraphError``."""
    if isinstance(exc, GraphError):
        return exc
    if isinstance(exc, httpx.TransportError):
        target = (url.split("?", 1)[0] if url else None) or _request_url(exc)
        kind = _transport_kind(exc)
        detail = redact(str(exc)) or type(exc).__name__
        return GraphUnavailable(f"cannot reach Microsoft Graph at {target}: {kind} ({detail})", url=target)
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, APIError):
        status = getattr(exc, "response_status_code", None) or 0
        headers = getattr(exc, "response_headers", None) or {}
        code, message, request_id = "", "", None
        odata = getattr(exc, "error", None)  # ODataError.error: MainError
        if odata is not None:
            code = getattr(odata, "code", None) or ""
            message = getattr(odata, "message", None) or ""
            inner = getattr(odata, "inner_error", None)
            request_id = getattr(inner, "request_id", None) if inner is not None else None
        if not message:
            message = getattr(exc, "message", None) or ""
        body = {"error": {"code": code, "message": message, "innerError": {"request-id": request_id}}}
        if status:
            return error_from_response(status, body, _plain_headers(headers), method=method, url=url)
        return GraphError(message or str(exc), graph_code=code, request_id=request_id, url=url)
    return GraphError(f"{type(exc).__name__}: {redact(str(exc))}", url=url)


def _plain_headers(headers: Any) -> dict[str, str]:
    try:
        items = headers.items()
    except AttributeError:
        return {}
    out: dict[str, str] = {}
    for key, value in items:
        if isinstance(value, (set, list, tuple)):
            value = ", ".join(str(v) for v in value)
        out[str(key)] = str(value)
    return out


def _request_url(exc: httpx.TransportError) -> str:
    try:
        request = exc.request
    except RuntimeError:
        return "Microsoft Graph"
    return str(request.url.copy_with(query=None))


def _transport_kind(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        if "ssl" in text or "certificate" in text:
            return "TLS handshake failed"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text or "resolve" in text:
            return "host name could not be resolved"
        if "refused" in text or "all connection attempts failed" in text:
            return "connection refused or host unreachable"
        return "connection failed"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "connection dropped"
    return "transport error"
