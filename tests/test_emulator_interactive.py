"""The emulator's interactive sign-in: authorize page, authorization code + PKCE, refresh, device code.

Driven over real HTTP: the browser side with plain httpx (tests/auth_fixtures.py), the token
endpoint over TLS trusting only the emulator's CA. lib.auth's tests drive the same endpoints
through real MSAL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
import pytest

from lib.emulator.generator import DELEGATED_SCOPES, demo_app, demo_public_app
from lib.emulator.identity import approve_device_code, identity_config, revoke_refresh_tokens
from lib.emulator.server import RunningEmulator
from lib.emulator.tokens import Principal, verify_bearer
from tests.auth_fixtures import (
    ADMIN,
    AUTHPOLICY,
    READER,
    REDIRECT_URI,
    PageBrowser,
    parse_picker,
    query_of,
    reset_knobs,
    serve_idp,
    upn,
    user_id,
)

GRAPH = "https://graph.microsoft.com"
FULL_SCOPE = f"{GRAPH}/.default offline_access openid profile"
VERIFIER = "v" * 20 + "-verifier-" + "x" * 20
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
UNKNOWN_CLIENT = "5e0c3f3a-2222-4c7e-8d0a-6b8f2f6e1c11"
GRANTED = " ".join(f"{GRAPH}/{p}" for p in sorted(DELEGATED_SCOPES))


@pytest.fixture(scope="module")
def idp_server() -> Iterator[RunningEmulator]:
    yield from serve_idp()


@pytest.fixture
def idp(idp_server: RunningEmulator) -> Iterator[RunningEmulator]:
    """This module's tenant; identity knobs a test turns are reset after it."""
    yield idp_server
    reset_knobs(idp_server)


@pytest.fixture
def browser(idp: RunningEmulator) -> Iterator[PageBrowser]:
    page = PageBrowser(idp)
    yield page
    page.close()


def public_id(emulator: RunningEmulator) -> str:
    return demo_public_app(emulator.state.tenant).client_id


def authorize_url(emulator: RunningEmulator, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": public_id(emulator), "response_type": "code", "redirect_uri": REDIRECT_URI,
        "scope": FULL_SCOPE, "state": "st-1", "nonce": "n-1", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{emulator.graph_url}/{emulator.tenant_id}/oauth2/v2.0/authorize?{query}"


def tls(emulator: RunningEmulator) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_cert), trust_env=False)


def token(emulator: RunningEmulator, **form: str) -> httpx.Response:
    with tls(emulator) as client:
        return client.post(f"{emulator.authority}/oauth2/v2.0/token", data=form)


def redeem(emulator: RunningEmulator, code: str, **overrides: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "client_id": public_id(emulator), "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER, "scope": FULL_SCOPE, "client_info": "1"}
    form.update(overrides)
    return token(emulator, **{k: v for k, v in form.items() if v is not None})


def description(body: dict[str, Any]) -> str:
    return body["error_description"].split(" Trace ID: ")[0]


def error_of(response: httpx.Response) -> tuple[int, str, list[int], str]:
    body = response.json()
    return response.status_code, body["error"], body["error_codes"], description(body)


def code_for(browser: PageBrowser, local: str = ADMIN, **overrides: str | None) -> str:
    return browser.sign_in(authorize_url(browser.emulator, **overrides), local)["code"]


def claims_of(emulator: RunningEmulator, token_value: str, audience: str) -> dict[str, Any]:
    return jwt.decode(token_value, emulator.state.signing_key, algorithms=["HS256"], audience=audience)


# --- the authorize page ------------------------------------------------------------------------


def test_authorize_page_offers_the_demo_admins_with_their_roles(idp: RunningEmulator, browser: PageBrowser) -> None:
    url = authorize_url(idp)
    assert urlsplit(url).scheme == "http"  # the browser never meets the private CA
    response = browser.client.get(url)
    picker = parse_picker(response)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    assert response.headers["cache-control"] == "no-store, no-cache"
    assert picker.upns == [upn(idp, ADMIN), upn(idp, AUTHPOLICY), upn(idp, READER)]
    assert picker.user_ids == [user_id(idp, ADMIN), user_id(idp, AUTHPOLICY), user_id(idp, READER)]
    assert picker.checked == user_id(idp, ADMIN)
    roles = re.findall(r'<span class="roles">([^<]+)</span>', picker.text)
    assert roles == ["Global Administrator", "Authentication Policy Administrator", "Global Reader"]
    names = re.findall(r'<span class="name">([^<]+)</span>', picker.text)
    assert names == ["MOD Administrator", "Auth Policy Admin", "Security Reader"]
    assert "<h1>Pick an account</h1>" in picker.text
    assert '<p class="sub">to continue to MFA Rollout Console (demo)</p>' in picker.text
    assert '<span class="badge">Demo tenant: Fabrikam Consulting</span>' in picker.text
    assert '<button type="submit" class="primary" id="signin" name="action" value="signin">Sign in</button>' in (
        picker.text)
    assert 'id="cancel" name="action" value="cancel" formnovalidate>Cancel</button>' in picker.text


def test_login_hint_preselects_that_identity(idp: RunningEmulator, browser: PageBrowser) -> None:
    picker = browser.open(authorize_url(idp, login_hint=upn(idp, READER).upper()))
    assert picker.checked == user_id(idp, READER)


def test_sign_in_redirects_with_code_state_and_session_state(idp: RunningEmulator, browser: PageBrowser) -> None:
    url = authorize_url(idp)
    picker = browser.open(url)
    response = browser.choose(url, picker, user_id(idp, AUTHPOLICY))
    location = response.headers["location"]
    params = query_of(location)
    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store, no-cache"
    assert location.startswith(f"{REDIRECT_URI}?code=")
    assert list(params) == ["code", "state", "session_state"]
    assert params["state"] == "st-1"
    assert str(uuid.UUID(params["session_state"])) == params["session_state"]


@pytest.mark.parametrize("redirect_uri", [
    "http://localhost:8501/", "http://127.0.0.1:49152/any/path", "http://localhost/", "http://localhost:8501",
])
def test_public_client_accepts_any_loopback_redirect(idp: RunningEmulator, browser: PageBrowser,
                                                     redirect_uri: str) -> None:
    url = authorize_url(idp, redirect_uri=redirect_uri)
    params = browser.sign_in(url)
    response = redeem(idp, params["code"], redirect_uri=redirect_uri)
    assert response.status_code == 200


def test_redirect_uri_query_is_kept(idp: RunningEmulator, browser: PageBrowser) -> None:
    url = authorize_url(idp, redirect_uri="http://127.0.0.1:9999/cb?tab=2")
    response = browser.choose(url, browser.open(url), user_id(idp, ADMIN))
    assert response.headers["location"].startswith("http://127.0.0.1:9999/cb?tab=2&code=")


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/cb", "http://10.0.0.1:8501/", "https://localhost:8501/", "http://localhost:8501/#x",
    "http://localhost:notaport/",
])
def test_unregistered_redirect_uri_is_an_error_page_not_a_redirect(idp: RunningEmulator, browser: PageBrowser,
                                                                     redirect_uri: str) -> None:
    response = browser.client.get(authorize_url(idp, redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "location" not in response.headers
    expected = (
        f"AADSTS50011: The redirect URI &#x27;{redirect_uri}&#x27; specified in the request does not match the "
        f"redirect URIs configured for the application &#x27;{public_id(idp)}&#x27;. Make sure the redirect URI "
        "sent in the request matches one added to your application in the Azure portal. Navigate to "
        "https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
    )
    assert f"<p>{expected}</p>" in response.text


@pytest.mark.parametrize(("overrides", "text"), [
    ({"client_id": UNKNOWN_CLIENT},
     f"AADSTS700016: Application with identifier &#x27;{UNKNOWN_CLIENT}&#x27; was not found in the directory "
     "&#x27;Fabrikam Consulting&#x27;."),
    ({"client_id": None},
     "AADSTS900144: The request body must contain the following parameter: &#x27;client_id&#x27;."),
    ({"redirect_uri": None}, "AADSTS500113: No reply address is registered for the application."),
    ({"response_mode": "json"},
     "AADSTS70011: The provided value for the input parameter &#x27;response_mode&#x27; is not valid."),
])
def test_errors_before_the_redirect_is_trusted_stay_on_the_page(idp: RunningEmulator, browser: PageBrowser,
                                                                 overrides: dict, text: str) -> None:
    response = browser.client.get(authorize_url(idp, **overrides))
    assert response.status_code == 400
    assert text in response.text


def test_the_app_only_demo_app_has_no_redirect_uri(idp: RunningEmulator, browser: PageBrowser) -> None:
    response = browser.client.get(authorize_url(idp, client_id=idp.client_id))
    assert response.status_code == 400
    assert "AADSTS50011: The redirect URI &#x27;http://localhost:8501/&#x27;" in response.text


def test_cancel_redirects_access_denied_65004(idp: RunningEmulator, browser: PageBrowser) -> None:
    params = browser.cancel(authorize_url(idp, state="cancel-me"))
    assert list(params) == ["error", "error_description", "error_uri", "state"]
    assert params["error"] == "access_denied"
    assert params["error_description"].split(" Trace ID: ")[0] == (
        "AADSTS65004: User declined to consent to access the app.")
    assert params["error_uri"] == "https://login.microsoftonline.com/error?code=65004"
    assert params["state"] == "cancel-me"


@pytest.mark.parametrize(("overrides", "error", "text"), [
    ({"response_type": "token"}, "unsupported_response_type",
     "AADSTS700054: response_type 'token' is not enabled for the application."),
    ({"response_type": None}, "invalid_request",
     "AADSTS900144: The request body must contain the following parameter: 'response_type'."),
    ({"scope": None}, "invalid_request",
     "AADSTS900144: The request body must contain the following parameter: 'scope'."),
    ({"scope": "https://management.azure.com/.default openid"}, "invalid_resource",
     "AADSTS500011: The resource principal named https://management.azure.com was not found in the tenant named "
     "Fabrikam Consulting. This can happen if the application has not been installed by the administrator of the "
     "tenant or consented to by any user in the tenant. You might have sent your authentication request to the "
     "wrong tenant."),
    ({"code_challenge_method": "S512"}, "invalid_request",
     "AADSTS70011: The provided value for the input parameter 'code_challenge_method' is not valid."),
    ({"code_challenge": "too-short"}, "invalid_request", "AADSTS501491: Invalid size of Code_Challenge parameter."),
    ({"prompt": "none"}, "login_required", "AADSTS50058: A silent sign-in request was sent but no user is signed in."),
])
def test_errors_after_the_redirect_is_trusted_go_back_to_the_app(idp: RunningEmulator, browser: PageBrowser,
                                                                 overrides: dict, error: str, text: str) -> None:
    response = browser.client.get(authorize_url(idp, **overrides))
    params = query_of(response.headers["location"])
    assert response.status_code == 302
    assert (params["error"], params["error_description"].split(" Trace ID: ")[0], params["state"]) == (
        error, text, "st-1")


def test_a_picker_page_is_single_use(idp: RunningEmulator, browser: PageBrowser) -> None:
    url = authorize_url(idp)
    picker = browser.open(url)
    assert browser.choose(url, picker, user_id(idp, ADMIN)).status_code == 302
    again = browser.choose(url, picker, user_id(idp, ADMIN))
    assert again.status_code == 400
    assert "<h1>This sign-in page has expired</h1>" in again.text
    assert "This sign-in page has expired or was already used. Go back to the app and sign in again." in again.text


def test_an_expired_picker_page_is_refused(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["sign_in_lifetime"] = 0
    url = authorize_url(idp)
    response = browser.choose(url, browser.open(url), user_id(idp, ADMIN))
    assert response.status_code == 400
    assert "This sign-in page has expired or was already used." in response.text


def test_no_choice_shows_the_page_again_with_an_error(idp: RunningEmulator, browser: PageBrowser) -> None:
    url = authorize_url(idp)
    picker = browser.open(url)
    again = parse_picker(browser.choose(url, picker, None))
    assert again.status == 400
    assert '<p class="error" role="alert">Pick an account to sign in with.</p>' in again.text
    assert again.txn == picker.txn
    stranger = next(u.id for u in idp.state.tenant.users if not u.roles)
    assert browser.choose(url, picker, stranger).status_code == 400
    assert browser.choose(url, picker, user_id(idp, READER)).status_code == 302


@pytest.mark.parametrize("mode", ["fragment", "form_post"])
def test_other_response_modes(idp: RunningEmulator, browser: PageBrowser, mode: str) -> None:
    url = authorize_url(idp, response_mode=mode)
    response = browser.choose(url, browser.open(url), user_id(idp, ADMIN))
    if mode == "fragment":
        assert response.status_code == 302
        assert response.headers["location"].startswith(f"{REDIRECT_URI}#code=")
        return
    assert response.status_code == 200
    assert f'<form method="post" id="handback" action="{REDIRECT_URI}">' in response.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text))
    assert sorted(fields) == ["code", "session_state", "state"]
    nonce = re.search(r'<script nonce="([^"]+)">', response.text).group(1)  # type: ignore[union-attr]
    assert response.headers["content-security-policy"] == (
        f"default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'")


# --- authorization code redemption -----------------------------------------------------------


def test_code_redeems_for_tokens_msal_accepts(idp: RunningEmulator, browser: PageBrowser) -> None:
    response = redeem(idp, code_for(browser, READER))
    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store, no-cache"
    assert sorted(body) == ["access_token", "client_info", "expires_in", "ext_expires_in", "id_token",
                            "refresh_token", "scope", "token_type"]
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == ("Bearer", 3599, 3599)
    assert body["scope"] == f"{GRANTED} {GRAPH}/.default offline_access openid profile"
    reader = idp.state.tenant.lookup(upn(idp, READER))
    assert reader is not None
    padded = body["client_info"] + "=" * (-len(body["client_info"]) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"uid": reader.id, "utid": idp.tenant_id}
    public = public_id(idp)
    id_claims = claims_of(idp, body["id_token"], public)
    assert id_claims["exp"] - id_claims["iat"] == 3600
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", id_claims["sub"])
    shown = ("aud", "iss", "name", "oid", "preferred_username", "tid", "ver", "nonce")
    assert {k: id_claims[k] for k in shown} == {
        "aud": public,
        "iss": f"{idp.state.authority_host}/{idp.tenant_id}/v2.0",  # exactly the discovery issuer
        "name": "Security Reader",
        "oid": reader.id,
        "preferred_username": upn(idp, READER),
        "tid": idp.tenant_id,
        "ver": "2.0",
        "nonce": "n-1",
    }
    access = claims_of(idp, body["access_token"], GRAPH)
    assert (access["scp"], access["oid"], access["appid"], access["idtyp"]) == (
        " ".join(sorted(DELEGATED_SCOPES)), reader.id, public, "user")
    assert verify_bearer(idp.state, f"Bearer {body['access_token']}") == Principal(public, DELEGATED_SCOPES,
                                                                                  reader.id)


def test_granted_scopes_are_the_asked_ones_the_app_has(idp: RunningEmulator, browser: PageBrowser) -> None:
    scope = "User.Read https://graph.microsoft.com/Mail.Read openid"
    response = redeem(idp, code_for(browser, scope=scope), scope=scope)
    body = response.json()
    assert body["scope"] == f"{GRAPH}/User.Read openid"
    assert "refresh_token" not in body  # no offline_access asked
    assert claims_of(idp, body["access_token"], GRAPH)["scp"] == "User.Read"


def test_wrong_code_verifier_is_501481(idp: RunningEmulator, browser: PageBrowser) -> None:
    code = code_for(browser)
    assert error_of(redeem(idp, code, code_verifier="w" * 43)) == (
        400, "invalid_grant", [501481],
        "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.")
    assert error_of(redeem(idp, code, code_verifier=None)) == (
        400, "invalid_grant", [50148],
        "AADSTS50148: The code_verifier does not match the code_challenge supplied in the authorization request "
        "for PKCE.")
    assert redeem(idp, code).status_code == 200


def test_plain_pkce_and_no_pkce(idp: RunningEmulator, browser: PageBrowser) -> None:
    plain = "p" * 43
    code = code_for(browser, code_challenge=plain, code_challenge_method="plain")
    assert redeem(idp, code, code_verifier=plain).status_code == 200
    code = code_for(browser, code_challenge=None, code_challenge_method=None)
    assert redeem(idp, code, code_verifier=None).status_code == 200


def test_replayed_code_is_54005(idp: RunningEmulator, browser: PageBrowser) -> None:
    code = code_for(browser)
    assert redeem(idp, code).status_code == 200
    assert error_of(redeem(idp, code)) == (
        400, "invalid_grant", [54005],
        "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
        "existing refresh token.")


def test_expired_code_is_70008(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["code_lifetime"] = 0
    assert error_of(redeem(idp, code_for(browser))) == (
        400, "invalid_grant", [70008],
        "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new "
        "interactive authorization request for this user and resource.")


def test_code_is_bound_to_redirect_uri_and_client(idp: RunningEmulator, browser: PageBrowser) -> None:
    code = code_for(browser)
    assert error_of(redeem(idp, code, redirect_uri="http://localhost:9000/")) == (
        400, "invalid_grant", [500112],
        "AADSTS500112: The reply address 'http://localhost:9000/' does not match the reply address "
        "'http://localhost:8501/' provided when requesting Authorization code.")
    other = redeem(idp, code, client_id=idp.client_id, client_secret=idp.client_secret)
    assert error_of(other) == (400, "invalid_grant", [70000],
                               "AADSTS70000: The provided value for the 'code' parameter is not valid.")
    assert error_of(redeem(idp, "not-a-code"))[2] == [70000]
    assert redeem(idp, code).status_code == 200


def test_public_client_must_not_present_a_secret(idp: RunningEmulator, browser: PageBrowser) -> None:
    assert error_of(redeem(idp, code_for(browser), client_secret="s3cret")) == (
        401, "invalid_client", [700025],
        "AADSTS700025: Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")


def test_disabled_account_cannot_redeem(idp: RunningEmulator, browser: PageBrowser) -> None:
    code = code_for(browser, AUTHPOLICY)
    user = idp.state.tenant.lookup(upn(idp, AUTHPOLICY))
    assert user is not None
    user.account_enabled = False
    try:
        assert error_of(redeem(idp, code)) == (
            400, "invalid_grant", [50057],
            "AADSTS50057: The user account is disabled. The account has been disabled by an administrator.")
    finally:
        user.account_enabled = True


# --- refresh tokens ---------------------------------------------------------------------------


def refresh(emulator: RunningEmulator, refresh_token: str, **overrides: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": public_id(emulator), "refresh_token": refresh_token,
            "scope": FULL_SCOPE, "client_info": "1"}
    form.update(overrides)
    return token(emulator, **form)


def test_refresh_gives_new_tokens_and_the_old_refresh_token_stays_valid(idp: RunningEmulator,
                                                                         browser: PageBrowser) -> None:
    first = redeem(idp, code_for(browser, AUTHPOLICY)).json()
    second = refresh(idp, first["refresh_token"])
    body = second.json()
    assert second.status_code == 200
    assert sorted(body) == ["access_token", "client_info", "expires_in", "ext_expires_in", "id_token",
                            "refresh_token", "scope", "token_type"]
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert claims_of(idp, body["access_token"], GRAPH)["oid"] == user_id(idp, AUTHPOLICY)
    assert "nonce" not in claims_of(idp, body["id_token"], public_id(idp))
    assert refresh(idp, first["refresh_token"]).status_code == 200
    assert refresh(idp, body["refresh_token"]).status_code == 200


def test_refresh_token_errors(idp: RunningEmulator, browser: PageBrowser) -> None:
    rt = redeem(idp, code_for(browser)).json()["refresh_token"]
    assert error_of(refresh(idp, "garbage")) == (
        400, "invalid_grant", [70000],
        "AADSTS70000: The provided value for the 'refresh_token' parameter is not valid.")
    assert error_of(refresh(idp, rt, client_id=idp.client_id, client_secret=idp.client_secret))[2] == [70000]
    assert revoke_refresh_tokens(idp.state, user_id(idp, ADMIN)) >= 1
    assert error_of(refresh(idp, rt)) == (
        400, "invalid_grant", [70000], "AADSTS70000: The refresh token has been revoked. The user must sign in again.")


def test_expired_refresh_token_is_700082(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["refresh_token_lifetime"] = 0
    rt = redeem(idp, code_for(browser)).json()["refresh_token"]
    status, error, codes, text = error_of(refresh(idp, rt))
    assert (status, error, codes) == (400, "invalid_grant", [700082])
    assert re.fullmatch(r"AADSTS700082: The refresh token has expired due to inactivity\. The token was issued on "
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z and was inactive for 0\.00:00:00\.", text)


# --- device code ------------------------------------------------------------------------------


def start_device(emulator: RunningEmulator, client_id: str | None = None, scope: str = FULL_SCOPE) -> httpx.Response:
    with tls(emulator) as client:
        return client.post(f"{emulator.authority}/oauth2/v2.0/devicecode",
                           data={"client_id": client_id or public_id(emulator), "scope": scope})


def poll(emulator: RunningEmulator, device_code: str) -> httpx.Response:
    return token(emulator, grant_type="urn:ietf:params:oauth:grant-type:device_code",
                 client_id=public_id(emulator), device_code=device_code, client_info="1")


def test_devicecode_endpoint(idp: RunningEmulator) -> None:
    response = start_device(idp)
    body = response.json()
    uri = f"{idp.graph_url}/devicelogin"
    assert response.status_code == 200
    assert sorted(body) == ["device_code", "expires_in", "interval", "message", "user_code", "verification_uri"]
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{9}", body["user_code"])
    assert len(body["device_code"]) == 64
    assert (body["verification_uri"], body["expires_in"], body["interval"]) == (uri, 900, 5)
    assert urlsplit(uri).scheme == "http"
    assert body["message"] == (
        f"To sign in, use a web browser to open the page {uri} and enter the code {body['user_code']} to "
        "authenticate.")


@pytest.mark.parametrize(("client", "scope", "expected"), [
    (UNKNOWN_CLIENT, FULL_SCOPE, (400, "unauthorized_client", [700016])),
    (None, "", (400, "invalid_request", [900144])),
])
def test_devicecode_errors(idp: RunningEmulator, client: str | None, scope: str, expected: tuple) -> None:
    assert error_of(start_device(idp, client, scope))[:3] == expected


def test_device_flow_pending_then_approved_then_used_up(idp: RunningEmulator, browser: PageBrowser) -> None:
    flow = start_device(idp).json()
    assert error_of(poll(idp, flow["device_code"])) == (
        400, "authorization_pending", [70016],
        "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
    page = browser.approve_device(flow["user_code"].lower()[:4] + "-" + flow["user_code"][4:], READER)
    assert page.status_code == 200
    assert "<h1>You&#x27;re signed in</h1>" in page.text
    assert (f"You have signed in to the MFA Rollout Console (demo) application on your device as "
            f"{upn(idp, READER)}. You may now close this window.") in page.text
    granted = poll(idp, flow["device_code"])
    body = granted.json()
    assert granted.status_code == 200
    assert claims_of(idp, body["access_token"], GRAPH)["oid"] == user_id(idp, READER)
    assert {"refresh_token", "id_token", "client_info"} <= set(body)
    assert error_of(poll(idp, flow["device_code"])) == (
        400, "bad_verification_code", [70018],
        "AADSTS70018: The provided value for the input parameter 'device_code' is not valid.")


def test_device_flow_declined(idp: RunningEmulator, browser: PageBrowser) -> None:
    flow = start_device(idp).json()
    page = browser.approve_device(flow["user_code"], action="cancel")
    assert "You declined to sign in to MFA Rollout Console (demo) on your device." in page.text
    assert error_of(poll(idp, flow["device_code"])) == (
        400, "authorization_declined", [70000],
        "AADSTS70000: The user declined the sign-in request on the device login page.")


def test_device_flow_expired(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["device_code_lifetime"] = 0
    flow = start_device(idp).json()
    assert flow["expires_in"] == 0
    assert error_of(poll(idp, flow["device_code"])) == (
        400, "expired_token", [70020],
        "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has "
        "expired.")
    page = browser.enter_device_code(flow["user_code"])
    assert page.status_code == 400
    assert "That code has expired. Go back to your app or device and start again." in page.text


def test_device_login_page(idp: RunningEmulator, browser: PageBrowser) -> None:
    empty = browser.client.get(f"{idp.graph_url}/devicelogin?otc=ABC")
    assert empty.status_code == 200
    assert "<h1>Enter code</h1>" in empty.text
    assert '<input type="text" id="otc" name="otc" value="ABC"' in empty.text
    wrong = browser.enter_device_code("NOPE12345")
    assert wrong.status_code == 400
    assert '<p class="error" role="alert">That code didn&#x27;t work. Check the code and try again.</p>' in wrong.text
    assert error_of(poll(idp, "unknown"))[:3] == (400, "bad_verification_code", [70018])


def test_approve_device_code_hook(idp: RunningEmulator) -> None:
    flow = start_device(idp).json()
    with pytest.raises(ValueError, match="is not one of the identities"):
        approve_device_code(idp.state, flow["user_code"], next(u.id for u in idp.state.tenant.users if not u.roles))
    approve_device_code(idp.state, flow["user_code"], upn(idp, AUTHPOLICY))
    with pytest.raises(LookupError, match="no pending device code"):
        approve_device_code(idp.state, flow["user_code"], upn(idp, AUTHPOLICY))
    assert claims_of(idp, poll(idp, flow["device_code"]).json()["access_token"], GRAPH)["oid"] == (
        user_id(idp, AUTHPOLICY))


def test_client_credentials_still_served(idp: RunningEmulator) -> None:
    response = token(idp, grant_type="client_credentials", client_id=idp.client_id,
                     client_secret=idp.client_secret, scope=f"{GRAPH}/.default")
    claims = claims_of(idp, response.json()["access_token"], GRAPH)
    assert (claims["idtyp"], claims["roles"]) == ("app", sorted(demo_app(idp.state.tenant).permissions))
