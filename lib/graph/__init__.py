"""The only package that talks to Microsoft Graph: gateway, ``$batch`` executor, errors, loop thread.

Typical use from sync code (pages, CLI, workers)::

    from lib.graph import GraphGateway, MsalClientCredential

    gw = GraphGateway(graph_url, MsalClientCredential(client_id, secret, authority))
    users = gw.list_users(["id", "userPrincipalName"])
    states = gw.read_mfa_states([u["id"] for u in users])      # {id: "enabled" | GraphError}
    states, how = gw.read_states(ids, tenant_size=n)           # the users listing when it checks out
    report = gw.write_mfa_states({uid: "enforced"}, on_result=journal.record)
"""

from lib.graph.batch import (
    MAX_BATCH_SIZE,
    BatchExecutor,
    BatchItem,
    BatchReport,
    CancelToken,
    ItemResult,
    Progress,
    Throttle,
    relative_url,
    throttle_class,
)
from lib.graph.credentials import (
    GRAPH_DEFAULT_SCOPE,
    MsalClientCredential,
    StaticTokenCredential,
    TokenCredentialLike,
)
from lib.graph.errors import (
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
    error_from_exception,
    error_from_response,
    parse_retry_after,
    redact,
    required_permission,
)
from lib.graph.gateway import (
    DEFAULT_USER_SELECT,
    MFA_STATES,
    AsyncGraph,
    GraphGateway,
    normalize_base_url,
)
from lib.graph.loop import LoopThread, default_loop
from lib.graph.options import GatewayOptions, RetryPolicy
from lib.graph.roles import ADMIN_ROLE_TEMPLATE_IDS, ROLE_TEMPLATE_IDS, WRITE_ROLE_TEMPLATE_IDS
from lib.graph.state_read import FALLBACK, FAST, StateRead
from lib.graph.stats import GraphStats, RequestCount, count_requests

__all__ = [
    "ADMIN_ROLE_TEMPLATE_IDS",
    "DEFAULT_USER_SELECT",
    "FALLBACK",
    "FAST",
    "GRAPH_DEFAULT_SCOPE",
    "MAX_BATCH_SIZE",
    "MFA_STATES",
    "ROLE_TEMPLATE_IDS",
    "WRITE_ROLE_TEMPLATE_IDS",
    "AsyncGraph",
    "BadRequest",
    "BatchExecutor",
    "BatchItem",
    "BatchReport",
    "CancelToken",
    "CredentialError",
    "Forbidden",
    "GatewayOptions",
    "GraphError",
    "GraphGateway",
    "GraphServerError",
    "GraphStats",
    "GraphUnavailable",
    "ItemResult",
    "LoopThread",
    "MalformedResponse",
    "MsalClientCredential",
    "NoPremiumLicense",
    "NotFound",
    "OperationCancelled",
    "Progress",
    "RequestCount",
    "RetryPolicy",
    "StateRead",
    "StaticTokenCredential",
    "Throttle",
    "Throttled",
    "TokenCredentialLike",
    "Unauthorized",
    "count_requests",
    "default_loop",
    "error_from_exception",
    "error_from_response",
    "normalize_base_url",
    "parse_retry_after",
    "redact",
    "relative_url",
    "required_permission",
    "throttle_class",
]
