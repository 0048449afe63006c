"""The emulator's identity platform endpoints, driven by real MSAL Python and by raw HTTP."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests

from lib.emulator.generator import demo_app, demo_public_app
from lib.emulator.identity import openid_configuration
from lib.emulator.server import RunningEmulator
from lib.emulator.tokens import GRAPH_APP_ID, Principal, verify_bearer
from tests.conftest import GRAPH_SCOPE, confidential_app, msal_http_client

UNKNOWN_TENANT = "0b9f7a43-1111-4a5e-9c1d-2f6f0e3a9d10"
UNKNOWN_CLIENT = "5e0c3f3a-2222-4c7e-8d0a-6b8f2f6e1c11"
DISCOVERY = "/v2.0/.well-known/openid-configuration"


def tls_client(emulator: RunningEmulator) -> httpx.Client:
    """httpx trusting only the emulator's CA (and ignoring SSL_CERT_FILE & co.)."""
    return httpx.Client(verify=ssl.create_default_context(cafile=emulator.ca_cert), trust_env=False)


def public_app(emulator: RunningEmulator) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        demo_public_app(emulator.state.tenant).client_id, authority=emulator.authority,
        instance_discovery=False, http_client=msal_http_client(emulator.ca_cert),
    )


def authority_host(emulator: RunningEmulator) -> str:
    return emulator.state.authority_host


def description(result: dict) -> str:
    """The error description without the trailer Entra appends (Trace ID, Correlation ID, Timestamp)."""
    return result["error_description"].split(" Trace ID: ")[0]


class RecordingSession(requests.Session):
    """MSAL's http_client that logs every call and refuses any host other than the emulator's."""

    def __init__(self, emulator: RunningEmulator) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = emulator.ca_cert
        self.allowed = (authority_host(emulator), emulator.graph_url)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append((method, url, dict(kwargs.get("data") or {})))
        if not url.startswith(self.allowed):
            raise requests.ConnectionError(f"refused: {url} is not the emulator")
        return super().request(method, url, *args, **kwargs)


# --- discovery -------------------------------------------------------------------------------


def test_discovery_document_is_exact(emulator: RunningEmulator) -> None:
    tid, auth, graph = emulator.tenant_id, authority_host(emulator), emulator.graph_url
    with tls_client(emulator) as client:
        response = client.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json() == {
        "token_endpoint": f"{auth}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{auth}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{auth}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{graph}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{auth}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name",
            "tid", "ver", "at_hash", "c_hash", "email",
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph.removeprefix("http://"),
        "rbac_url": "https://pas.windows.net",
    }


@pytest.mark.parametrize("name", ["domain", "onmicrosoft", "upper-case id"])
def test_discovery_by_domain_names_the_tenant_by_guid(emulator: RunningEmulator, name: str) -> None:
    tenant = emulator.state.tenant
    segment = {"domain": tenant.domain, "onmicrosoft": "fabrikamconsulting.onmicrosoft.com",
               "upper-case id": tenant.id.upper()}[name]
    with tls_client(emulator) as client:
        response = client.get(f"{authority_host(emulator)}/{segment}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json() == openid_configuration(emulator.state)


def test_discovery_of_unknown_tenant_is_invalid_tenant(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.get(f"{authority_host(emulator)}/{UNKNOWN_TENANT}{DISCOVERY}")
    body = response.json()
    assert response.status_code == 400
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=90002"
    assert description(body) == (
        f"AADSTS90002: Tenant '{UNKNOWN_TENANT}' not found. Check to make sure you have the correct tenant "
        "ID and are signing into the correct cloud. Check with your subscription administrator, this may "
        "happen if there are no active subscriptions for the tenant."
    )


def test_jwks_is_empty_because_tokens_are_hs256(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.get(f"{emulator.authority}/discovery/v2.0/keys")
    assert (response.status_code, response.json()) == (200, {"keys": []})


# --- client credentials through real MSAL ----------------------------------------------------


def test_msal_client_credentials_token(emulator: RunningEmulator) -> None:
    app = confidential_app(emulator)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    token = result.pop("access_token")
    assert result == {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                      "token_source": "identity_provider"}
    claims = jwt.decode(token, emulator.state.signing_key, algorithms=["HS256"], audience="https://graph.microsoft.com")
    demo = demo_app(emulator.state.tenant)
    assert claims["exp"] - claims["iat"] == 3599
    shown = ("aud", "iss", "tid", "appid", "app_displayname", "roles", "idtyp", "ver")
    assert {k: claims[k] for k in shown} == {
        "aud": "https://graph.microsoft.com",
        "iss": f"https://sts.windows.net/{emulator.tenant_id}/",
        "tid": emulator.tenant_id,
        "appid": emulator.client_id,
        "app_displayname": "MFA Rollout Console (demo, app-only)",
        "roles": sorted(demo.permissions),
        "idtyp": "app",
        "ver": "1.0",
    }
    again = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert (again["access_token"], again["token_source"]) == (token, "cache")


def test_graph_token_fixture_is_an_app_principal(emulator: RunningEmulator, graph_token: str) -> None:
    principal = verify_bearer(emulator.state, f"Bearer {graph_token}")
    assert principal == Principal(emulator.client_id, demo_app(emulator.state.tenant).permissions)


def test_token_works_on_a_graph_route(emulator: RunningEmulator, graph_token: str) -> None:
    bearer = {"Authorization": f"Bearer {graph_token}"}
    response = httpx.get(f"{emulator.graph_url}/v1.0/organization", headers=bearer)
    assert response.status_code == 200
    assert [(o["id"], o["displayName"]) for o in response.json()["value"]] == [
        (emulator.tenant_id, emulator.state.tenant.name)
    ]
    anonymous = httpx.get(f"{emulator.graph_url}/v1.0/organization")
    assert anonymous.status_code == 401


@pytest.mark.parametrize("scope", [
    "https://graph.microsoft.com/.default",
    "https://GRAPH.microsoft.com//.default",
    f"{GRAPH_APP_ID}/.default",
    "{graph_url}/.default",
])
def test_every_name_of_graph_is_accepted(emulator: RunningEmulator, scope: str) -> None:
    app = confidential_app(emulator)
    result = app.acquire_token_for_client(scopes=[scope.format(graph_url=emulator.graph_url)])
    assert result["token_type"] == "Bearer"
    assert verify_bearer(emulator.state, f"Bearer {result['access_token']}").app_id == emulator.client_id


def test_client_secret_basic_is_accepted(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.post(
            f"{emulator.authority}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE},
            auth=(emulator.client_id, emulator.client_secret),
        )
    assert response.status_code == 200
    assert sorted(response.json()) == ["access_token", "expires_in", "ext_expires_in", "token_type"]
    assert response.headers["cache-control"] == "no-store, no-cache"


def test_tokens_from_a_tenant_addressed_by_domain_carry_its_guid(emulator: RunningEmulator) -> None:
    app = confidential_app(emulator, authority=f"{authority_host(emulator)}/{emulator.state.tenant.domain}")
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["tid"] == emulator.tenant_id


# --- errors, as MSAL hands them over ----------------------------------------------------------


def test_wrong_secret_is_invalid_client_7000215(emulator: RunningEmulator) -> None:
    result = confidential_app(emulator, client_credential="not-the-secret").acquire_token_for_client(
        scopes=[GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("invalid_client", [7000215])
    assert description(result) == (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{emulator.client_id}'."
    )
    assert "access_token" not in result


def test_unknown_client_is_unauthorized_client_700016(emulator: RunningEmulator) -> None:
    app = confidential_app(emulator, client_id=UNKNOWN_CLIENT)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("unauthorized_client", [700016])
    assert description(result) == (
        f"AADSTS700016: Application with identifier '{UNKNOWN_CLIENT}' was not found in the directory "
        "'Fabrikam Consulting'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may have sent your "
        "authentication request to the wrong tenant."
    )


def test_public_client_has_no_secret_to_present(emulator: RunningEmulator) -> None:
    public = demo_public_app(emulator.state.tenant)
    app = confidential_app(emulator, client_id=public.client_id)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("invalid_client", [7000215])


def test_wrong_tenant_fails_msal_discovery_with_90002(emulator: RunningEmulator) -> None:
    with pytest.raises(ValueError) as caught:
        confidential_app(emulator, authority=f"{authority_host(emulator)}/{UNKNOWN_TENANT}")
    cause = str(caught.value.__context__)
    assert cause.startswith(
        f"OIDC Discovery failed on {authority_host(emulator)}/{UNKNOWN_TENANT}{DISCOVERY}. HTTP status: 400, "
        "Error: "
    )
    assert '"error":"invalid_tenant"' in cause
    assert f"AADSTS90002: Tenant '{UNKNOWN_TENANT}' not found." in cause
    assert '"error_codes":[90002]' in cause


def test_wrong_tenant_at_the_token_endpoint_is_invalid_request_90002(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.post(f"{authority_host(emulator)}/contoso.example/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": emulator.client_id,
            "client_secret": emulator.client_secret, "scope": GRAPH_SCOPE,
        })
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"]) == (400, "invalid_request", [90002])
    assert description(body).startswith("AADSTS90002: Tenant 'contoso.example' not found.")


def test_grant_not_served_is_unsupported_grant_type_70003(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.post(f"{emulator.authority}/oauth2/v2.0/token", data={
            "grant_type": "password", "client_id": emulator.client_id, "username": "a", "password": "b"})
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"], description(body)) == (
        400, "unsupported_grant_type", [70003], "AADSTS70003: The app requested an unsupported grant type 'password'.")


def test_unknown_refresh_token_is_invalid_grant_70000(emulator: RunningEmulator) -> None:
    # MSAL's public refresh-token API posts grant_type=refresh_token (tests/test_emulator_interactive.py has the rest).
    app = confidential_app(emulator)
    result = app.acquire_token_by_refresh_token("a-refresh-token", scopes=["User.Read"])
    assert (result["error"], result["error_codes"]) == ("invalid_grant", [70000])
    assert description(result) == "AADSTS70000: The provided value for the 'refresh_token' parameter is not valid."


@pytest.mark.parametrize(("scopes", "status", "error", "code", "text"), [
    (["User.Read.All"], 400, "invalid_scope", 1002012,
     "AADSTS1002012: The provided value for scope User.Read.All is not valid. Client credential flows must "
     "have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
    (["https://graph.microsoft.com/User.Read.All"], 400, "invalid_scope", 1002012,
     "AADSTS1002012: The provided value for scope https://graph.microsoft.com/User.Read.All is not valid. "
     "Client credential flows must have a scope value with /.default suffixed to the resource identifier "
     "(application ID URI)."),
    (["https://graph.microsoft.com/.default", "https://management.azure.com/.default"], 400, "invalid_scope",
     70011, "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope "
     "https://graph.microsoft.com/.default https://management.azure.com/.default is not valid."),
    (["https://management.azure.com/.default"], 400, "invalid_resource", 500011,
     "AADSTS500011: The resource principal named https://management.azure.com was not found in the tenant "
     "named Fabrikam Consulting. This can happen if the application has not been installed by the "
     "administrator of the tenant or consented to by any user in the tenant. You might have sent your "
     "authentication request to the wrong tenant."),
])
def test_bad_scopes(emulator: RunningEmulator, scopes: list[str], status: int, error: str, code: int,
                    text: str) -> None:
    result = confidential_app(emulator).acquire_token_for_client(scopes=scopes)
    assert (result["error"], result["error_codes"], description(result)) == (error, [code], text)


@pytest.mark.parametrize(("form", "status", "error", "code", "text"), [
    ({}, 400, "invalid_request", 900144,
     "AADSTS900144: The request body must contain the following parameter: 'grant_type'."),
    ({"grant_type": "password_typo"}, 400, "unsupported_grant_type", 70003,
     "AADSTS70003: The app requested an unsupported grant type 'password_typo'."),
    ({"grant_type": "client_credentials"}, 400, "invalid_request", 900144,
     "AADSTS900144: The request body must contain the following parameter: 'client_id'."),
    ({"grant_type": "client_credentials", "client_id": "{client_id}"}, 401, "invalid_client", 7000218,
     "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or "
     "'client_secret'."),
    ({"grant_type": "client_credentials", "client_id": "{client_id}", "client_secret": "{secret}"}, 400,
     "invalid_request", 900144,
     "AADSTS900144: The request body must contain the following parameter: 'scope'."),
])
def test_token_endpoint_errors(emulator: RunningEmulator, form: dict, status: int, error: str, code: int,
                               text: str) -> None:
    data = {k: v.format(client_id=emulator.client_id, secret=emulator.client_secret) for k, v in form.items()}
    with tls_client(emulator) as client:
        response = client.post(f"{emulator.authority}/oauth2/v2.0/token", data=data)
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"], description(body)) == (
        status, error, [code], text)
    assert sorted(body) == ["correlation_id", "error", "error_codes", "error_description", "error_uri",
                            "timestamp", "trace_id"]


def test_token_endpoint_only_accepts_post(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.get(f"{emulator.authority}/oauth2/v2.0/token")
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"], description(body)) == (
        400, "invalid_request", [900561],
        "AADSTS900561: The endpoint only accepts POST requests. Received a GET request.")


# --- what MSAL calls, and instance discovery --------------------------------------------------


def test_msal_calls_discovery_then_token_and_nothing_else(emulator: RunningEmulator) -> None:
    session = RecordingSession(emulator)
    app = confidential_app(emulator, http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    app.acquire_token_for_client(scopes=[GRAPH_SCOPE])  # served from MSAL's cache
    assert "access_token" in result
    assert [(method, url) for method, url, _ in session.calls] == [
        ("GET", f"{emulator.authority}/v2.0/.well-known/openid-configuration"),
        ("POST", f"{emulator.authority}/oauth2/v2.0/token"),
    ]
    assert session.calls[1][2] == {
        "client_id": emulator.client_id, "grant_type": "client_credentials", "client_info": 1,
        "client_secret": emulator.client_secret, "scope": GRAPH_SCOPE,
    }


def test_msal_without_instance_discovery_off_asks_microsoft_first(emulator: RunningEmulator) -> None:
    # Why the console passes instance_discovery=False: otherwise MSAL leaves the machine first.
    session = RecordingSession(emulator)
    with pytest.raises(requests.ConnectionError):
        confidential_app(emulator, http_client=session, instance_discovery=None)
    assert [(m, u) for m, u, _ in session.calls] == [
        ("GET", "https://login.microsoftonline.com/common/discovery/instance"),
    ]


def test_instance_discovery_can_be_pointed_at_the_emulator(emulator: RunningEmulator) -> None:
    session = RecordingSession(emulator)
    endpoint = f"{authority_host(emulator)}/common/discovery/instance"
    app = confidential_app(emulator, http_client=session, instance_discovery=endpoint)
    assert "access_token" in app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert [(m, u) for m, u, _ in session.calls] == [
        ("GET", endpoint),
        ("GET", f"{emulator.authority}/v2.0/.well-known/openid-configuration"),
        ("POST", f"{emulator.authority}/oauth2/v2.0/token"),
    ]


def test_instance_discovery_refuses_other_hosts(emulator: RunningEmulator) -> None:
    with tls_client(emulator) as client:
        response = client.get(f"{authority_host(emulator)}/common/discovery/instance", params={
            "api-version": "1.1", "authorization_endpoint": "https://login.example.com/x/oauth2/v2.0/authorize"})
    body = response.json()
    assert (response.status_code, body["error"], body["error_codes"], description(body)) == (
        400, "invalid_instance", [50049], "AADSTS50049: Unknown or invalid instance.")


# --- interactive flows: the browser only ever meets the plain-http host ---------------------------


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_auth_code_flow_sends_the_browser_to_the_plain_http_host(emulator: RunningEmulator) -> None:
    public = demo_public_app(emulator.state.tenant)
    app = public_app(emulator)
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri="http://localhost:8501/")
    assert flow["auth_uri"].startswith(
        f"{emulator.graph_url}/{emulator.tenant_id}/oauth2/v2.0/authorize?client_id={public.client_id}&")
    page = httpx.get(flow["auth_uri"])
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Pick an account</h1>" in page.text
    assert '<p class="sub">to continue to MFA Rollout Console (demo)</p>' in page.text


def test_authorize_for_unknown_tenant_shows_90002(emulator: RunningEmulator) -> None:
    page = httpx.get(f"{emulator.graph_url}/{UNKNOWN_TENANT}/oauth2/v2.0/authorize")
    assert page.status_code == 400
    assert f"AADSTS90002: Tenant &#x27;{UNKNOWN_TENANT}&#x27; not found." in page.text


def test_device_flow_sends_the_person_to_the_plain_http_host(emulator: RunningEmulator) -> None:
    app = public_app(emulator)
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert flow["verification_uri"] == f"{emulator.graph_url}/devicelogin"
    assert flow["verification_uri"].startswith("http://")
    page = httpx.get(flow["verification_uri"])
    assert (page.status_code, "<h1>Enter code</h1>" in page.text) == (200, True)

