"""Admin sign-in with MSAL: per-session token caches, pending flows, roles, and the errors to show.

Typical use from the Streamlit shell (see :mod:`lib.auth.session` for the details)::

    from lib.auth import AuthConfig, AuthSession, AuthError, is_sign_in_callback

    auth = st.session_state.setdefault("auth", AuthSession(config))
    if is_sign_in_callback(st.query_params):
        try:
            admin = auth.complete_sign_in(st.query_params.to_dict())
        except AuthError as err:
            st.error(err.message)
        st.query_params.clear()
    gateway = GraphGateway(config.graph_url, auth.credential())
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
