"""lib.graph.errors and the small pure helpers: exact mappings, no network."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
from kiota_abstractions.api_error import APIError

from lib.graph import (
    BadRequest,
    Forbidden,
    GatewayOptions,
    GraphServerError,
    GraphUnavailable,
    MalformedResponse,
    NoPremiumLicense,
    NotFound,
    RetryPolicy,
    Throttled,
    Unauthorized,
    error_from_exception,
    error_from_response,
    normalize_base_url,
    parse_retry_after,
    redact,
    relative_url,
    required_permission,
    throttle_class,
)
from lib.graph.answers import is_json_type, json_answer

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def graph_body(code: str, message: str, request_id: str = "rid-1") -> dict:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": request_id}}}


def test_no_premium_403_is_a_forbidden_that_names_the_licence() -> None:
    err = error_from_response(
        403,
        graph_body("Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                   "Tenant is not a B2C tenant and doesn't have premium license"),
        method="GET",
        url="https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails",
    )
    assert type(err) is NoPremiumLicense
    assert isinstance(err, Forbidden)
    assert (err.status, err.graph_code, err.request_id) == (
        403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "rid-1")
    assert err.missing == "an Entra ID P1 or P2 licence (and the app needs Directory.Read.All to check it)"
    assert str(err) == (
        "403 Authentication_RequestFromNonPremiumTenantOrB2CTenant: Tenant is not a B2C tenant and doesn't "
        "have premium license (needs an Entra ID P1 or P2 licence (and the app needs Directory.Read.All to "
        "check it)) (https://graph.microsoft.com/v1.0/reports/authenticationMethods/userRegistrationDetails)"
    )


@pytest.mark.parametrize(
    ("method", "url", "missing"),
    [
        ("GET", "/users/u1/authentication/requirements", "Policy.Read.All (application or delegated)"),
        ("PATCH", "/users/u1/authentication/requirements",
         "Policy.ReadWrite.AuthenticationMethod, and for a signed-in admin the Authentication Policy "
         "Administrator or Global Administrator role"),
        ("GET", "http://127.0.0.1:9/v1.0/users/u1/authentication/methods",
         "UserAuthenticationMethod.Read.All"),
        ("GET", "/users?$select=id", "User.Read.All"),
        ("GET", "/me/transitiveMemberOf/microsoft.graph.directoryRole",
         "Directory.Read.All (or RoleManagement.Read.Directory)"),
        ("GET", "/identity/conditionalAccess/policies", "Policy.Read.All"),
        ("GET", "/policies/identitySecurityDefaultsEnforcementPolicy", "Policy.Read.All"),
        ("GET", "/policies/authenticationMethodsPolicy",
         "Policy.Read.AuthenticationMethod (or Policy.ReadWrite.AuthenticationMethod)"),
        ("GET", "/groups/g1/transitiveMembers/microsoft.graph.user?$select=id", "GroupMember.Read.All"),
        ("GET", "/roleManagement/directory/roleAssignments?$filter=x", "RoleManagement.Read.Directory"),
        ("GET", "/applications", None),
    ],
)
def test_forbidden_names_the_permission_the_request_needs(method: str, url: str, missing: str | None) -> None:
    assert required_permission(method, url) == missing
    err = error_from_response(403, graph_body("Authorization_RequestDenied", "Insufficient privileges to "
                                              "complete the operation."), method=method, url=url)
    assert type(err) is Forbidden
    assert err.missing == missing


def test_unsupported_role_on_the_report_names_the_roles() -> None:
    err = error_from_response(403, graph_body("Authentication_RequestFromUnsupportedUserRole",
                                              "User is not in the allowed roles"))
    assert type(err) is Forbidden
    assert err.missing == ("a directory role allowed to read authentication reports (Reports Reader, "
                           "Security Reader, Global Reader or Global Administrator)")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequest), (401, Unauthorized), (404, NotFound), (405, BadRequest), (429, Throttled),
     (500, GraphServerError), (503, GraphServerError)],
)
def test_statuses_map_to_classes(status: int, cls: type) -> None:
    err = error_from_response(status, b'{"error":{"code":"X","message":"m"}}', {"Retry-After": "2.5"})
    assert type(err) is cls
    assert (err.status, err.graph_code, err.message) == (status, "X", "m")
    if cls is Throttled:
        assert err.retry_after == 2.5


def test_error_bodies_that_are_not_graph_json_still_map() -> None:
    plain = error_from_response(502, b"<html>Bad gateway</html>")
    assert plain.message == "an HTML page came back instead of Graph's answer: a proxy or gateway in between?"
    nginx = error_from_response(502, b"<html>\r\n<head><title>502 Bad Gateway</title></head><body>x</body></html>")
    assert type(nginx) is GraphServerError and nginx.retryable and "<" not in nginx.message
    assert nginx.message.startswith('an HTML page ("502 Bad Gateway") came back')
    assert error_from_response(500, b"upstream timed out").message == "upstream timed out"  # not a page: as is
    assert error_from_response(500, None).message == "HTTP 500"
    err = error_from_response(401, {"error": "invalid_token", "error_description": "expired"})
    assert (type(err), err.graph_code, err.message) == (Unauthorized, "invalid_token", "expired")
    assert error_from_response(404, {}, {"request-id": "hdr-id"}).request_id == "hdr-id"


def test_kiota_api_errors_map_by_status_and_keep_retry_after() -> None:
    exc = APIError("The server returned an unexpected status code", 429, httpx.Headers({"Retry-After": "7"}))
    err = error_from_exception(exc, url="https://graph.microsoft.com/v1.0/users")
    assert type(err) is Throttled
    assert (err.status, err.retry_after) == (429, 7.0)


def test_transport_errors_become_graph_unavailable_naming_the_url_without_query() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/v1.0/users?$top=999")
    err = error_from_exception(httpx.ConnectError("All connection attempts failed", request=request))
    assert type(err) is GraphUnavailable
    assert err.status is None
    assert str(err) == ("cannot reach Microsoft Graph at http://127.0.0.1:9/v1.0/users: connection refused "
                        "or host unreachable (All connection attempts failed)")
    dropped = error_from_exception(httpx.RemoteProtocolError("Server disconnected"), url="http://h/v1.0/x")
    assert str(dropped) == (
        "cannot reach Microsoft Graph at http://h/v1.0/x: connection dropped (Server disconnected)")
    tls = error_from_exception(
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
        url="https://graph.microsoft.com/v1.0/me")
    assert "TLS handshake failed" in str(tls)


def test_tokens_never_reach_a_message() -> None:
    assert redact(f"Authorization: Bearer {JWT}") == "Authorization: ***"
    assert redact(f"headers={{'authorization': 'Bearer abc.def'}} and {JWT}") == (
        "headers={'authorization': '***'} and ***")
    err = error_from_response(401, graph_body("InvalidAuthenticationToken", f"token {JWT} is bad"),
                              url=f"http://x/v1.0/users?access_token={JWT}")
    assert JWT not in str(err) and JWT not in repr(err) and JWT not in str(err.to_dict())
    assert str(err) == "401 InvalidAuthenticationToken: token *** is bad (http://x/v1.0/users?access_token=***)"


def test_retry_after_parses_seconds_fractions_and_dates() -> None:
    assert parse_retry_after("10") == 10.0
    assert parse_retry_after("2.128") == 2.128
    assert parse_retry_after("0.001") == 0.001
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    in_30 = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28.0 <= parse_retry_after(in_30) <= 30.0


@pytest.mark.parametrize(
    ("url", "version", "expected"),
    [
        ("/users/a/authentication/requirements", "beta", "/users/a/authentication/requirements"),
        ("users/a", "v1.0", "/users/a"),
        ("/v1.0/users/a?$select=id", "v1.0", "/users/a?$select=id"),
        ("https://graph.microsoft.com/beta/users/a/authentication/requirements", "beta",
         "/users/a/authentication/requirements"),
        ("http://127.0.0.1:8/v1.0/me", "v1.0", "/me"),
    ],
)
def test_batch_item_urls_are_made_relative(url: str, version: str, expected: str) -> None:
    assert relative_url(url, version) == expected


def test_a_batch_never_mixes_versions() -> None:
    with pytest.raises(ValueError, match=r"is a beta URL; this batch is v1\.0"):
        relative_url("/beta/users/a/authentication/requirements", "v1.0")
    with pytest.raises(ValueError, match="version must be one of"):
        relative_url("/users", "v2.0")


@pytest.mark.parametrize(
    ("method", "url", "cls"),
    [("GET", "/users/a/authentication/requirements", "read"),
     ("PATCH", "/users/a/authentication/requirements", "write"),
     ("GET", "/reports/authenticationMethods/userRegistrationDetails/a", "reports"),
     ("GET", "/users?$filter=startswith(displayName,'reports')", "read"),
     ("GET", "/identity/conditionalAccess/policies?$top=5", "conditional_access")],
)
def test_throttle_classes(method: str, url: str, cls: str) -> None:
    assert throttle_class(method, url) == cls


def test_conditional_access_requests_are_paced_a_second_apart() -> None:
    """Graph's Conditional Access limit is 1 request per second with no Retry-After: the gate, not a 429, spaces
    them (the times are given, so nothing here depends on the machine's clock)."""
    from lib.graph.batch import PACED_CLASSES, Throttle

    interval = PACED_CLASSES["conditional_access"]
    assert interval >= 1.0
    gate = Throttle(4)
    gate.pace("conditional_access", interval, now=100.0)
    assert gate.gate("conditional_access") == 100.0 + interval and not gate.can_send("conditional_access", 100.9)
    assert gate.can_send("conditional_access", 100.0 + interval) and gate.can_send("read", 100.0)
    gate.throttled("conditional_access", 5.0, now=100.5)  # a 429's wait only ever pushes the gate later
    gate.pace("conditional_access", interval, now=101.0)
    assert gate.gate("conditional_access") == 105.5


@pytest.mark.parametrize(
    ("given", "root"),
    [("https://graph.microsoft.com", "https://graph.microsoft.com"),
     ("https://graph.microsoft.com/v1.0/", "https://graph.microsoft.com"),
     ("http://127.0.0.1:8123/beta", "http://127.0.0.1:8123"),
     ("http://localhost:8123", "http://localhost:8123")],
)
def test_base_urls_normalize_to_the_root(given: str, root: str) -> None:
    assert normalize_base_url(given) == root


@pytest.mark.parametrize(
    ("given", "message"),
    [("http://graph.example.com", "must use https"), ("graph.microsoft.com", "http\\(s\\) URL"),
     ("", "base_url is required"), ("https://graph.microsoft.com/?x=1", "query")],
)
def test_bad_base_urls_are_refused_early(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_base_url(given)


def test_options_validate_early() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be between 1 and 256, got 0"):
        GatewayOptions(max_concurrency=0)
    with pytest.raises(ValueError, match="page_size must be between 1 and 999, got 1000"):
        GatewayOptions(page_size=1000)
    with pytest.raises(ValueError, match="max_attempts must be >= 1, got 0"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="retry_statuses must be 5xx codes"):
        RetryPolicy(retry_statuses=frozenset({429}))


def test_backoff_doubles_with_equal_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=5.0)

    class Fixed:
        def __init__(self, r: float) -> None:
            self.r = r

        def random(self) -> float:
            return self.r

    assert [policy.backoff(n, Fixed(0.0)) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.5]
    assert [policy.backoff(n, Fixed(1.0)) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.honour(2000.0) == 900.0


@pytest.mark.parametrize(("content", "content_type", "expected"), [
    (b'{"value": [{"id": "1"', "application/json", "broken JSON: it ends in the middle, after 21 bytes (cut off"),
    (b'{"value": ]}', "application/json", "broken JSON: Expecting value (byte 10 of 12)"),
    (b"<!DOCTYPE html><html><head><title>Sign in</title></head></html>", "text/html; charset=utf-8",
     'came as text/html (an HTML page ("Sign in"), 63 bytes), not Graph\'s JSON'),
    (b'{"value": []}', "", "came as no content type (13 bytes)"),
    (b'{"error": {"code": "generalException", "message": "Try later."}}', "application/json",
     "is an error body under HTTP 200: generalException: Try later."),
])
def test_a_2xx_that_is_not_graphs_json_is_a_retryable_malformed_response(content: bytes, content_type: str,
                                                                         expected: str) -> None:
    with pytest.raises(MalformedResponse) as raised:
        json_answer(200, content, {"content-type": content_type}, url="https://graph.microsoft.com/v1.0/users")
    assert expected in raised.value.message and raised.value.retryable and raised.value.status == 200


def test_graphs_own_json_answers_pass_as_they_are() -> None:
    odata = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
    assert json_answer(200, b'{"value": [], "error_count": 0}', {"Content-Type": odata}) == {
        "value": [], "error_count": 0}
    assert json_answer(204, b"", {}) is None
    assert is_json_type("application/problem+json") and not is_json_type("text/json")
