"""Admin sign-in with MSAL: browser sessions, per-sign-in token caches, pending flows, roles, errors.

Interactive sign-in is two plain HTTP requests of one browser (:mod:`lib.auth.web_sign_in`, served by
``lib.ui.sign_in_routes``); the signed-in :class:`AuthSession` is kept on the server in
:mod:`lib.auth.browser_sessions`, and the browser holds only its signed id. A page then works with it::

    auth = default_sessions().resolve(st.context.cookies.get(SESSION_COOKIE))
    gateway = GraphGateway(auth.config.graph_url, auth.credential())

(see :mod:`lib.auth.session` for the MSAL details and the device code flow).
"""

from lib.auth.errors import (
    AuthError,
    ConfigurationError,
    FlowExpired,
    PermissionDenied,
    SessionExpired,
    SignInCancelled,
    TokenRefreshFailed,
)
from lib.auth.logs import install_log_redaction, redact_secrets
from lib.auth.pending import DEFAULT_TTL, PendingFlows, default_pending
from lib.auth.roles import (
    GLOBAL_READER_REASON,
    NO_ROLE_REASON,
    SignedInAdmin,
    admin_from_graph,
    read_signed_in_admin,
    require_writer,
)
from lib.auth.session import (
    AuthConfig,
    AuthSession,
    DevicePrompt,
    SessionCredential,
    app_only_credential,
    is_sign_in_callback,
)
from lib.auth.transport import instance_discovery_for, msal_http_client

__all__ = [
    "DEFAULT_TTL",
    "GLOBAL_READER_REASON",
    "NO_ROLE_REASON",
    "AuthConfig",
    "AuthError",
    "AuthSession",
    "ConfigurationError",
    "DevicePrompt",
    "FlowExpired",
    "PendingFlows",
    "PermissionDenied",
    "SessionCredential",
    "SessionExpired",
    "SignInCancelled",
    "SignedInAdmin",
    "TokenRefreshFailed",
    "admin_from_graph",
    "app_only_credential",
    "default_pending",
    "install_log_redaction",
    "instance_discovery_for",
    "is_sign_in_callback",
    "msal_http_client",
    "read_signed_in_admin",
    "redact_secrets",
    "require_writer",
]
