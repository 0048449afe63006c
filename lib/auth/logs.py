"""Keep tokens, codes and secrets out of log records, MSAL's own included.

MSAL's token cache logs every token event at DEBUG. It masks access, refresh and ID tokens but not
the authorization ``code``, the PKCE ``code_verifier`` or the ``device_code`` it sent; other
libraries may print a bearer token in an error. :func:`install_log_redaction` puts a filter on
MSAL's loggers (and on ``lib.auth``'s, urllib3's and requests') that rewrites such values to ``***``
before any handler sees the record, whatever level the application logs at.
"""

from __future__ import annotations

import logging
import threading
import traceback

from lib.redaction import redact_secrets

__all__ = ["REDACTED_LOGGERS", "SecretRedactingFilter", "install_log_redaction", "redact_secrets"]

REDACTED_LOGGERS = (
    "msal", "msal.application", "msal.token_cache", "msal.authority", "msal.oauth2cli",
    "msal.oauth2cli.oauth2", "msal.oauth2cli.oidc", "msal.oauth2cli.authcode", "msal.oauth2cli.assertion",
    "msal.oauth2cli.http", "msal.throttled_http_client", "msal.individual_cache", "msal.telemetry",
    "msal.region", "msal.broker", "msal.managed_identity", "msal.mex", "msal.wstrust_request",
    "msal.wstrust_response", "msal.cloudshell", "msal.sku",
    "lib.auth", "lib.auth.session", "lib.auth.roles", "lib.auth.pending",
    "lib.graph", "lib.rollout", "lib.overview", "lib.cli",
    "urllib3.connectionpool", "requests", "httpx", "httpcore.http11", "httpcore.connection",
)
"""A logger's filter sees only the records logged on it (not those its children propagate), so every logger
that may carry a request, a response or an error is listed by its own name."""

class SecretRedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) through :func:`redact_secrets`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        clean = redact_secrets(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_secrets("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return True


_FILTER = SecretRedactingFilter()
_lock = threading.Lock()


def install_log_redaction() -> None:
    """Attach the filter to every logger in ``REDACTED_LOGGERS`` and to any ``msal.*`` logger; idempotent."""
    with _lock:
        names = set(REDACTED_LOGGERS)
        names.update(n for n in list(logging.root.manager.loggerDict) if n == "msal" or n.startswith("msal."))
        for name in names:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
