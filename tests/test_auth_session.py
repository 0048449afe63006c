"""lib.auth.session against the demo tenant: real MSAL, real HTTP, the Graph gateway reading roles.

The "browser" is plain httpx on the emulator's sign-in page (tests/auth_fixtures.py): GET the
auth URI, POST the chosen identity, read ``code`` and ``state`` from the redirect, hand them to
``complete_sign_in`` exactly as the Streamlit page hands over ``st.query_params``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest

from lib.auth import (
    GLOBAL_READER_REASON,
    AuthConfig,
    AuthError,
    AuthSession,
    ConfigurationError,
    FlowExpired,
    PendingFlows,
    PermissionDenied,
    SessionExpired,
    SignedInAdmin,
    SignInCancelled,
    app_only_credential,
    is_sign_in_callback,
    require_writer,
)
from lib.demo import demo_auth_config
from lib.emulator.generator import DELEGATED_SCOPES, demo_app, demo_public_app, generate_tenant
from lib.emulator.identity import device_code_polls, identity_config, revoke_refresh_tokens
from lib.emulator.model import App
from lib.emulator.server import RunningEmulator, start_emulator
from lib.graph import GRAPH_DEFAULT_SCOPE, GraphGateway
from lib.graph.roles import ROLE_TEMPLATE_IDS
from lib.settings import load_settings
from tests.auth_fixtures import (
    ADMIN,
    AUTHPOLICY,
    READER,
    REDIRECT_URI,
    PageBrowser,
    reset_knobs,
    serve_idp,
    upn,
    user_id,
)
from tests.conftest import emulator_config

GA = ROLE_TEMPLATE_IDS["Global Administrator"]
APA = ROLE_TEMPLATE_IDS["Authentication Policy Administrator"]
GR = ROLE_TEMPLATE_IDS["Global Reader"]
UNKNOWN_TENANT = "0b9f7a43-1111-4a5e-9c1d-2f6f0e3a9d10"
UNKNOWN_CLIENT = "5e0c3f3a-2222-4c7e-8d0a-6b8f2f6e1c11"
EXPIRED_LINK = "This sign-in link has expired or was already used. Sign in again."


@pytest.fixture(scope="module")
def idp_server() -> Iterator[RunningEmulator]:
    yield from serve_idp()


@pytest.fixture
def idp(idp_server: RunningEmulator) -> Iterator[RunningEmulator]:
    yield idp_server
    reset_knobs(idp_server)


@pytest.fixture
def browser(idp: RunningEmulator) -> Iterator[PageBrowser]:
    page = PageBrowser(idp)
    yield page
    page.close()


@pytest.fixture
def pending() -> PendingFlows:
    return PendingFlows()


def new_session(emulator: RunningEmulator, pending: PendingFlows | None = None, **config: Any) -> AuthSession:
    store = pending if pending is not None else PendingFlows()
    return AuthSession(demo_auth_config(emulator, REDIRECT_URI, **config), pending=store)


def sign_in(session: AuthSession, browser: PageBrowser, local: str = ADMIN) -> SignedInAdmin:
    return session.complete_sign_in(browser.sign_in(session.begin_sign_in(), local))


def oid_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["oid"]


def state_of(auth_uri: str) -> str:
    return parse_qs(urlsplit(auth_uri).query)["state"][0]


# --- authorization code with PKCE --------------------------------------------------------------


@pytest.mark.parametrize(("local", "name", "roles", "role_names", "writer", "reason"), [
    (ADMIN, "MOD Administrator", {GA}, ("Global Administrator",), True, None),
    (AUTHPOLICY, "Auth Policy Admin", {APA}, ("Authentication Policy Administrator",), True, None),
    (READER, "Security Reader", {GR}, ("Global Reader",), False, GLOBAL_READER_REASON),
])
def test_pkce_sign_in_as_each_demo_identity(idp: RunningEmulator, browser: PageBrowser, pending: PendingFlows,
                                           local: str, name: str, roles: set[str], role_names: tuple[str, ...],
                                           writer: bool, reason: str | None) -> None:
    session = new_session(idp, pending)
    assert (session.admin, session.signed_in) == (None, False)
    auth_uri = session.begin_sign_in()
    query = parse_qs(urlsplit(auth_uri).query)
    assert auth_uri.startswith(f"{idp.graph_url}/{idp.tenant_id}/oauth2/v2.0/authorize?")
    assert (query["code_challenge_method"], query["prompt"], query["redirect_uri"]) == (
        ["S256"], ["select_account"], [REDIRECT_URI])
    assert sorted(query["scope"][0].split()) == [GRAPH_DEFAULT_SCOPE, "offline_access", "openid", "profile"]
    assert len(pending) == 1
    admin = session.complete_sign_in(browser.sign_in(auth_uri, local))
    assert admin == SignedInAdmin(name=name, upn=upn(idp, local), user_id=user_id(idp, local),
                                  tenant_id=idp.tenant_id, roles=frozenset(roles), role_names=role_names)
    assert (admin.can_change_mfa, admin.read_only_reason, admin.role_label) == (writer, reason, role_names[0])
    assert (session.admin, session.signed_in, session.expired, len(pending)) == (admin, True, False, 0)
    if writer:
        assert require_writer(admin) is admin
    else:
        with pytest.raises(PermissionDenied) as denied:
            require_writer(admin)
        assert denied.value.message == GLOBAL_READER_REASON
    token = session.credential().get_token(GRAPH_DEFAULT_SCOPE)
    assert oid_of(token.token) == user_id(idp, local)


def test_the_sign_in_link_is_reused_while_young(idp: RunningEmulator, browser: PageBrowser,
                                               pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    first = session.begin_sign_in()
    assert session.begin_sign_in() == first  # a rerun does not pile up flows
    other = session.begin_sign_in("http://localhost:9000/")
    assert other != first
    assert (state_of(first) in pending, state_of(other) in pending, len(pending)) == (False, True, 1)
    session.complete_sign_in(browser.sign_in(other))
    assert session.begin_sign_in("http://localhost:9000/") != other


def test_replayed_state_is_rejected(idp: RunningEmulator, browser: PageBrowser, pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    params = browser.sign_in(session.begin_sign_in())
    session.complete_sign_in(params)
    with pytest.raises(FlowExpired, match=f"^{EXPIRED_LINK}$"):
        new_session(idp, pending).complete_sign_in(params)
    assert session.signed_in  # a replay does not disturb the session that signed in


@pytest.mark.parametrize("params", [
    {"code": "abc", "state": "never-issued"}, {"code": "abc"}, {}, {"state": ["x", "never-issued"]},
])
def test_unknown_or_missing_state_is_rejected(idp: RunningEmulator, pending: PendingFlows,
                                              params: dict[str, Any]) -> None:
    with pytest.raises(FlowExpired) as caught:
        new_session(idp, pending).complete_sign_in(params)
    assert caught.value.message == EXPIRED_LINK


def test_pending_flow_expires_after_its_ttl(idp: RunningEmulator, browser: PageBrowser) -> None:
    now = [1000.0]
    pending = PendingFlows(ttl=600, clock=lambda: now[0])
    session = new_session(idp, pending)
    params = browser.sign_in(session.begin_sign_in())
    now[0] += 600
    with pytest.raises(FlowExpired, match=f"^{EXPIRED_LINK}$"):
        session.complete_sign_in(params)
    assert not session.signed_in


def test_the_callback_completes_in_a_new_session(idp: RunningEmulator, browser: PageBrowser,
                                                pending: PendingFlows) -> None:
    starter = new_session(idp, pending)
    params = browser.sign_in(starter.begin_sign_in(), AUTHPOLICY)
    receiver = new_session(idp, pending)  # Streamlit's session after the redirect
    assert receiver.complete_sign_in(params).upn == upn(idp, AUTHPOLICY)
    assert (starter.signed_in, receiver.signed_in) == (False, True)


def test_wrong_pkce_verifier_is_rejected(idp: RunningEmulator, browser: PageBrowser, pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    auth_uri = session.begin_sign_in()
    flow = pending.pop(state_of(auth_uri))
    assert flow is not None
    pending.put({**flow, "code_verifier": "x" * 43})
    with pytest.raises(AuthError) as caught:
        session.complete_sign_in(browser.sign_in(auth_uri))
    assert (type(caught.value), caught.value.code, caught.value.message) == (
        AuthError, "AADSTS501481",
        "The sign-in response did not match this sign-in request (PKCE check failed). Sign in again.")
    assert not session.signed_in


def test_replayed_code_is_rejected_by_the_service(idp: RunningEmulator, browser: PageBrowser,
                                                  pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    auth_uri = session.begin_sign_in()
    flow = pending.pop(state_of(auth_uri))
    assert flow is not None
    pending.put(dict(flow))
    params = browser.sign_in(auth_uri)
    session.complete_sign_in(params)
    pending.put(dict(flow))  # as if the pending store had let the same callback through twice
    with pytest.raises(FlowExpired) as caught:
        new_session(idp, pending).complete_sign_in(params)
    assert (caught.value.code, caught.value.message) == ("AADSTS54005", EXPIRED_LINK)


def test_cancel_is_a_clear_error_and_uses_up_the_flow(idp: RunningEmulator, browser: PageBrowser,
                                                      pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    params = browser.cancel(session.begin_sign_in())
    assert is_sign_in_callback(params)
    with pytest.raises(SignInCancelled, match=r"^Sign-in was cancelled\.$"):
        session.complete_sign_in(params)
    with pytest.raises(FlowExpired):
        session.complete_sign_in(params)


def test_other_sign_in_page_errors_are_explained(idp: RunningEmulator, browser: PageBrowser,
                                                 pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    response = browser.client.get(session.begin_sign_in(prompt="none"))
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}
    with pytest.raises(AuthError) as caught:
        session.complete_sign_in(params)
    assert (caught.value.code, caught.value.message) == (
        "AADSTS50058", "Sign-in failed: AADSTS50058: A silent sign-in request was sent but no user is signed in.")


def test_signing_in_again_replaces_the_previous_admin(idp: RunningEmulator, browser: PageBrowser,
                                                     pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    sign_in(session, browser, ADMIN)
    assert sign_in(session, browser, READER).upn == upn(idp, READER)
    assert [a["username"] for a in session._client().get_accounts()] == [upn(idp, READER)]
    assert oid_of(session.credential().get_token(GRAPH_DEFAULT_SCOPE).token) == user_id(idp, READER)


@pytest.mark.parametrize(("params", "expected"), [
    ({"code": "c", "state": "s", "session_state": "x"}, True),
    ({"error": "access_denied", "state": "s"}, True),
    ({"state": ["s"], "code": ["c"]}, True),
    ({"code": "c"}, False),
    ({"state": "s"}, False),
    ({"page": "users"}, False),
])
def test_is_sign_in_callback(params: dict[str, Any], expected: bool) -> None:
    assert is_sign_in_callback(params) is expected


# --- silent refresh and expiry -----------------------------------------------------------------


def test_cached_token_is_reused_and_expiring_one_refreshed_silently(idp: RunningEmulator, browser: PageBrowser,
                                                                    pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    sign_in(session, browser, AUTHPOLICY)
    credential = session.credential()
    first = credential.get_token(GRAPH_DEFAULT_SCOPE)
    assert credential.get_token(GRAPH_DEFAULT_SCOPE) == first  # from the cache
    identity_config(idp.state)["access_token_lifetime"] = 120  # MSAL refreshes anything under 5 minutes
    credential.get_token(GRAPH_DEFAULT_SCOPE, claims='{"access_token":{"xms_cc":{"values":["cp1"]}}}')
    short = credential.get_token(GRAPH_DEFAULT_SCOPE)
    asked = int(time.time())
    renewed = credential.get_token(GRAPH_DEFAULT_SCOPE)
    answered = time.time()
    assert len({first.token, short.token, renewed.token}) == 3
    assert {oid_of(t.token) for t in (first, short, renewed)} == {user_id(idp, AUTHPOLICY)}
    assert asked + 120 <= renewed.expires_on <= answered + 120
    with GraphGateway(idp.graph_url, credential) as gateway:
        assert gateway.me(["userPrincipalName"])["userPrincipalName"] == upn(idp, AUTHPOLICY)


def test_revoked_refresh_token_expires_the_session(idp: RunningEmulator, browser: PageBrowser,
                                                   pending: PendingFlows) -> None:
    identity_config(idp.state)["access_token_lifetime"] = 120
    session = new_session(idp, pending)
    sign_in(session, browser, ADMIN)
    credential = session.credential()
    revoke_refresh_tokens(idp.state, user_id(idp, ADMIN))
    with pytest.raises(SessionExpired) as caught:
        credential.get_token(GRAPH_DEFAULT_SCOPE)
    assert (caught.value.message, caught.value.code) == ("Your session has expired. Sign in again.", "invalid_grant")
    assert (session.expired, session.signed_in, session.admin) == (True, False, None)
    with GraphGateway(idp.graph_url, credential) as gateway, pytest.raises(SessionExpired):
        gateway.me()  # crosses the gateway unchanged, so a page can catch SessionExpired
    sign_in(session, browser, ADMIN)
    assert (session.expired, session.signed_in) == (False, True)


def test_expired_refresh_token_expires_the_session(idp: RunningEmulator, browser: PageBrowser,
                                                   pending: PendingFlows) -> None:
    knobs = identity_config(idp.state)
    knobs["access_token_lifetime"], knobs["refresh_token_lifetime"] = 120, 2
    session = new_session(idp, pending)
    sign_in(session, browser, READER)
    time.sleep(2.05)
    with pytest.raises(SessionExpired) as caught:
        session.credential().get_token(GRAPH_DEFAULT_SCOPE)
    assert (caught.value.code, session.expired) == ("invalid_grant", True)


# --- device code --------------------------------------------------------------------------------


def test_device_flow_pending_then_approved(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["device_code_interval"] = 0
    session = new_session(idp)
    asked = time.time()
    prompt = session.start_device_flow()
    answered = time.time()
    uri = f"{idp.graph_url}/devicelogin"
    assert (prompt.verification_uri, prompt.interval) == (uri, 1)  # 0 from the service becomes 1
    assert prompt.message == (f"To sign in, use a web browser to open the page {uri} and enter the code "
                              f"{prompt.user_code} to authenticate.")
    assert asked + 900 <= prompt.expires_at <= answered + 900
    assert session.device_flow == prompt
    assert session.poll_device_flow() is None
    assert session.poll_device_flow() is None
    assert device_code_polls(idp.state, prompt.user_code) == 2  # one request per call, no blocking loop
    assert browser.approve_device(prompt.user_code, AUTHPOLICY).status_code == 200
    admin = session.poll_device_flow()
    assert admin is not None
    assert (admin.upn, admin.roles, admin.can_change_mfa) == (upn(idp, AUTHPOLICY), frozenset({APA}), True)
    assert (session.admin, session.device_flow) == (admin, None)
    assert oid_of(session.credential().get_token(GRAPH_DEFAULT_SCOPE).token) == user_id(idp, AUTHPOLICY)
    with pytest.raises(AuthError, match=r"^No device code sign-in is in progress\. Start again\.$"):
        session.poll_device_flow()


def test_device_flow_polls_no_sooner_than_the_interval(idp: RunningEmulator, browser: PageBrowser) -> None:
    session = new_session(idp)
    prompt = session.start_device_flow()
    assert prompt.interval == 5
    assert session.poll_device_flow() is None  # asks the service
    asked_at = session._device_flow["latest_attempt_at"]  # type: ignore[index]
    browser.approve_device(prompt.user_code)
    assert session.poll_device_flow() is None  # too soon: nothing sent, so no MSAL warning either
    assert session._device_flow["latest_attempt_at"] == asked_at  # type: ignore[index]
    session._device_flow["latest_attempt_at"] = asked_at - 5  # type: ignore[index]
    admin = session.poll_device_flow()
    assert admin is not None and admin.upn == upn(idp, ADMIN)


def test_device_flow_expired(idp: RunningEmulator) -> None:
    identity_config(idp.state).update(device_code_lifetime=0, device_code_interval=0)
    session = new_session(idp)
    session.start_device_flow()
    with pytest.raises(FlowExpired) as caught:
        session.poll_device_flow()
    assert (caught.value.code, caught.value.message) == (
        "expired_token", "The sign-in code has expired. Start again to get a new code.")
    assert (session.device_flow, session.signed_in) == (None, False)


def test_device_flow_declined(idp: RunningEmulator, browser: PageBrowser) -> None:
    identity_config(idp.state)["device_code_interval"] = 0
    session = new_session(idp)
    prompt = session.start_device_flow()
    browser.approve_device(prompt.user_code, action="cancel")
    with pytest.raises(SignInCancelled, match=r"^Sign-in was cancelled\.$"):
        session.poll_device_flow()


# --- configuration problems ----------------------------------------------------------------------


def test_unknown_client_is_a_configuration_error(idp: RunningEmulator) -> None:
    session = new_session(idp, client_id=UNKNOWN_CLIENT)
    with pytest.raises(ConfigurationError) as caught:
        session.start_device_flow()
    assert (caught.value.code, caught.value.message) == (
        "AADSTS700016", f"The app registration {UNKNOWN_CLIENT} was not found in this tenant (AADSTS700016). "
        "Check MFA_CLIENT_ID and MFA_TENANT_ID.")


def test_unknown_tenant_is_a_configuration_error(idp: RunningEmulator) -> None:
    session = new_session(idp, authority=f"{idp.state.authority_host}/{UNKNOWN_TENANT}")
    with pytest.raises(ConfigurationError) as caught:
        session.begin_sign_in()
    assert caught.value.message == (
        f"The tenant in {idp.state.authority_host}/{UNKNOWN_TENANT} was not found (AADSTS90002). Check "
        "MFA_TENANT_ID: it must be your tenant's ID (a GUID) or one of its verified domains.")


def test_unreachable_authority(idp: RunningEmulator) -> None:
    session = new_session(idp, authority=f"https://127.0.0.1:9/{idp.tenant_id}", timeout_s=5)
    with pytest.raises(AuthError) as caught:
        session.begin_sign_in()
    assert (caught.value.code, caught.value.message) == (
        "unreachable", f"Cannot reach the sign-in service at https://127.0.0.1:9/{idp.tenant_id}. Check the network "
        "and the authority host setting (MFA_AUTHORITY_HOST).")


def test_auth_config_validates_early(idp: RunningEmulator) -> None:
    base = demo_auth_config(idp)
    assert (base.client_id, base.redirect_uri, base.confidential, base.scopes) == (
        demo_public_app(idp.state.tenant).client_id, "http://localhost:8501/", False, (GRAPH_DEFAULT_SCOPE,))
    assert repr(demo_auth_config(idp, app_only=True)).count(idp.client_secret) == 0
    with pytest.raises(ValueError, match="client_id is required"):
        AuthConfig(client_id=" ", authority=idp.authority)
    with pytest.raises(ValueError, match="authority must be https://host/tenant"):
        AuthConfig(client_id="x", authority="http://login.example/tenant")
    with pytest.raises(ValueError, match=r"scopes must not name \['offline_access'\]"):
        AuthConfig(client_id="x", authority=idp.authority, scopes=("offline_access",))
    with pytest.raises(ValueError, match=r"lib\.demo\.demo_auth_config"):
        AuthConfig.from_settings(load_settings({}, environ={}))
    tenant = load_settings({}, environ={"MFA_TENANT_ID": UNKNOWN_TENANT, "MFA_CLIENT_ID": UNKNOWN_CLIENT,
                                        "MFA_CLIENT_SECRET": "s3cret", "MFA_REDIRECT_URI": "https://console.example/"})
    config = AuthConfig.from_settings(tenant)
    assert (config.client_id, config.authority, config.graph_url, config.redirect_uri, config.confidential) == (
        UNKNOWN_CLIENT, f"https://login.microsoftonline.com/{UNKNOWN_TENANT}", "https://graph.microsoft.com",
        "https://console.example", True)


# --- client credentials --------------------------------------------------------------------------


def test_client_credentials_for_the_cli(idp: RunningEmulator) -> None:
    credential = app_only_credential(demo_auth_config(idp, app_only=True))
    claims = jwt.decode(credential.get_token(GRAPH_DEFAULT_SCOPE).token, options={"verify_signature": False})
    assert (claims["idtyp"], claims["appid"], claims["roles"]) == (
        "app", idp.client_id, sorted(demo_app(idp.state.tenant).permissions))
    with pytest.raises(ConfigurationError, match=r"^App-only access needs a client secret: set MFA_CLIENT_SECRET\.$"):
        app_only_credential(demo_auth_config(idp))


# --- a confidential web app (a real tenant with a client secret) -----------------------------------


@pytest.fixture(scope="module")
def web_tenant() -> Iterator[tuple[RunningEmulator, App, App]]:
    tenant = generate_tenant(60, 7)
    web = App(str(uuid.uuid4()), "Console (web)", "web~secret", DELEGATED_SCOPES,
              redirect_uris=("http://localhost:8501/",))
    bare = App(str(uuid.uuid4()), "Console (no consent)", "bare~secret", frozenset(),
               redirect_uris=("http://localhost:8501/",))
    tenant.apps.update({web.client_id: web, bare.client_id: bare})
    with start_emulator(tenant, config=emulator_config()) as running:
        yield running, web, bare


def web_session(emulator: RunningEmulator, app: App, secret: str | None = None) -> AuthSession:
    config = AuthConfig(client_id=app.client_id, authority=emulator.authority, graph_url=emulator.graph_url,
                        redirect_uri=REDIRECT_URI, client_secret=secret or app.client_secret or "",
                        ca_cert=emulator.ca_cert)
    return AuthSession(config, pending=PendingFlows())


def test_confidential_client_signs_in_with_its_secret(web_tenant: tuple[RunningEmulator, App, App]) -> None:
    emulator, web, _ = web_tenant
    session = web_session(emulator, web)
    assert isinstance(session._client(), msal.ConfidentialClientApplication)
    page = PageBrowser(emulator)
    try:
        admin = sign_in(session, page, READER)
    finally:
        page.close()
    assert (admin.upn, admin.can_change_mfa) == (upn(emulator, READER), False)
    assert oid_of(session.credential().get_token(GRAPH_DEFAULT_SCOPE).token) == user_id(emulator, READER)


def test_confidential_client_with_a_wrong_secret(web_tenant: tuple[RunningEmulator, App, App]) -> None:
    emulator, web, _ = web_tenant
    session = web_session(emulator, web, secret="not-the-secret")
    page = PageBrowser(emulator)
    try:
        with pytest.raises(ConfigurationError) as caught:
            sign_in(session, page, ADMIN)
    finally:
        page.close()
    assert (caught.value.code, caught.value.message) == (
        "AADSTS7000215", f"The app registration {web.client_id} rejected the client credentials (AADSTS7000215): "
        "MFA_CLIENT_SECRET must be the secret's Value (not its ID) and must not have expired.")


def test_device_flow_needs_public_client_flows_allowed(web_tenant: tuple[RunningEmulator, App, App]) -> None:
    emulator, web, _ = web_tenant
    identity_config(emulator.state)["device_code_interval"] = 0
    session = web_session(emulator, web)
    prompt = session.start_device_flow()
    from lib.emulator.identity import approve_device_code

    approve_device_code(emulator.state, prompt.user_code, upn(emulator, ADMIN))
    with pytest.raises(ConfigurationError) as caught:
        session.poll_device_flow()
    assert (caught.value.code, caught.value.message) == (
        "AADSTS7000218", f"The app registration {web.client_id} rejected the client credentials (AADSTS7000218): "
        "set MFA_CLIENT_SECRET, or turn on 'Allow public client flows' in the app registration's Authentication "
        "page.")


def test_roles_that_cannot_be_read_fail_the_sign_in_clearly(web_tenant: tuple[RunningEmulator, App, App]) -> None:
    emulator, _, bare = web_tenant
    session = web_session(emulator, bare)
    page = PageBrowser(emulator)
    try:
        with pytest.raises(AuthError) as caught:
            sign_in(session, page, ADMIN)
    finally:
        page.close()
    assert caught.value.message.startswith("You signed in, but your directory roles could not be read: ")
    assert session.signed_in is False
    assert all(entries == [] for entries in cache_entries(session.token_cache).values())


# --- sign-out and isolation ------------------------------------------------------------------------


def cache_entries(cache: msal.SerializableTokenCache) -> dict[str, list[dict[str, Any]]]:
    kinds = msal.TokenCache.CredentialType
    return {kind: list(cache.search(kind)) for kind in (kinds.ACCESS_TOKEN, kinds.REFRESH_TOKEN, kinds.ID_TOKEN,
                                                         kinds.ACCOUNT)}


def test_sign_out_clears_the_cache_and_the_admin(idp: RunningEmulator, browser: PageBrowser,
                                                 pending: PendingFlows) -> None:
    session = new_session(idp, pending)
    sign_in(session, browser, ADMIN)
    credential = session.credential()
    credential.get_token(GRAPH_DEFAULT_SCOPE)
    old_cache = session.token_cache
    assert all(len(entries) == 1 for entries in cache_entries(old_cache).values())
    session.begin_sign_in()
    assert len(pending) == 1
    session.sign_out()
    assert (session.admin, session.signed_in, session.expired, len(pending)) == (None, False, False, 0)
    assert all(entries == [] for entries in cache_entries(old_cache).values())
    assert session.token_cache is not old_cache
    assert all(entries == [] for entries in cache_entries(session.token_cache).values())
    with pytest.raises(SessionExpired) as caught:
        credential.get_token(GRAPH_DEFAULT_SCOPE)
    assert caught.value.code == "signed_out"
    assert sign_in(session, browser, READER).upn == upn(idp, READER)  # and one can sign in again


def test_two_concurrent_sessions_never_see_each_other(idp: RunningEmulator, pending: PendingFlows) -> None:
    identity_config(idp.state)["access_token_lifetime"] = 120  # every get_token refreshes: the worst case
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {ADMIN: [], READER: []}
    sessions: dict[str, AuthSession] = {}
    failures: list[BaseException] = []

    def run(local: str) -> None:
        page = PageBrowser(idp)
        try:
            session = new_session(idp, pending)
            sessions[local] = session
            barrier.wait()
            auth_uri = session.begin_sign_in()
            barrier.wait()
            params = page.sign_in(auth_uri, local)
            barrier.wait()
            session.complete_sign_in(params)
            barrier.wait()
            for _ in range(10):
                seen[local].append(session.credential().get_token(GRAPH_DEFAULT_SCOPE).token)
                assert session.admin is not None and session.admin.upn == upn(idp, local)
        except BaseException as exc:  # reported below
            failures.append(exc)
            barrier.abort()
        finally:
            page.close()

    threads = [threading.Thread(target=run, args=(local,)) for local in (ADMIN, READER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert {local: {oid_of(t) for t in tokens} for local, tokens in seen.items()} == {
        ADMIN: {user_id(idp, ADMIN)}, READER: {user_id(idp, READER)}}
    assert not set(seen[ADMIN]) & set(seen[READER])
    for local, other in ((ADMIN, READER), (READER, ADMIN)):
        serialized = sessions[local].token_cache.serialize()
        assert user_id(idp, other) not in serialized
        assert upn(idp, other) not in serialized
        assert not any(token in serialized for token in seen[other])


def test_roles_are_read_again_once_they_are_older_than_asked(idp: RunningEmulator, browser: PageBrowser) -> None:
    """A sign-in outlives reloads, so a role taken away in Entra reaches the console at the next re-read."""
    session = new_session(idp)
    assert sign_in(session, browser, ADMIN).can_change_mfa
    user = idp.state.tenant.lookup(upn(idp, ADMIN))
    roles = user.roles
    try:
        user.roles = (GR,)
        assert session.recheck_roles(600).can_change_mfa  # read just now: not read again
        later = time.time() + 601
        admin = session.recheck_roles(600, now=later)
        assert admin is not None and not admin.can_change_mfa and admin.roles == frozenset({GR})
        assert session.admin is admin
    finally:
        user.roles = roles
    session.sign_out()
    assert session.recheck_roles(600, now=time.time() + 601) is None
