"""Secrets out of text: bearer tokens, JWTs, and the values of secret-named fields, in every form they take.

One module that imports nothing else from ``lib``, so the error hierarchy (``lib.errors.describe``), the
Graph errors and the log filter (``lib.auth.logs``) all use the same rules. The forms covered: JSON and
dict reprs (``"client_secret": "…"``), keyword arguments and settings files (``client_secret='…'``,
``password = "…"``), and ``key=value`` as in URL queries and form bodies (``?client_secret=…&``).
"""

from __future__ import annotations

import re

__all__ = ["redact", "redact_secrets"]

_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+)?[^'\",}\s]+")


def redact(text: str) -> str:
    """``text`` with bearer tokens, JWTs and Authorization header values replaced by ``***``."""
    text = _AUTH_HEADER.sub(r"\1***", text)
    text = _BEARER.sub("Bearer ***", text)
    return _JWT.sub("***", text)


_EXACT_KEYS = "code|code_verifier|device_code|assertion|client_assertion"
"""Secret only under exactly this name (``error_code`` is not)."""
_SUFFIX_KEYS = r"[\w.-]*(?:secret|password|passwd|credential|token|api_key|control_key)"
"""Secret under any name ending so: ``client_secret``, ``MFA_CLIENT_SECRET``, ``client_credential``,
``refresh_token``, ``db.password``."""
_KEY = rf"(?<![\w.-])(?:{_EXACT_KEYS}|{_SUFFIX_KEYS})(?![\w.-])"
_QUOTED_KEY = re.compile(rf"""(["'])({_KEY})\1(\s*[:=]\s*)(["'])((?:\\.|(?!\4).)*)\4""", re.IGNORECASE)
"""JSON and dict reprs: ``"client_secret": "…"``, ``'refresh_token': '…'``."""
_QUOTED_VALUE = re.compile(rf"""({_KEY})(\s*[:=]\s*)(["'])((?:\\.|(?!\3).)*)\3""", re.IGNORECASE)
"""Keyword arguments and settings files: ``client_secret='…'``, ``password = "…"``, ``client_credential: '…'``."""
_PLAIN = re.compile(rf"({_KEY})=([^&\s\"',;)\]}}]+)", re.IGNORECASE)
"""``key=value`` as in URL queries and form bodies: ``?client_secret=…&…``, ``code=…``."""


def redact_secrets(text: str) -> str:
    """``text`` with bearer tokens, JWTs and the values of secret-named fields replaced by ``***``.

    >>> redact_secrets('{"code": "0.AbC", "error_codes": [54005]} code_verifier=xyz&state=s')
    '{"code": "***", "error_codes": [54005]} code_verifier=***&state=s'
    >>> redact_secrets("ClientApplication(client_credential='s3cr3t', client_id='app')")
    "ClientApplication(client_credential='***', client_id='app')"
    """
    text = redact(text)
    text = _QUOTED_KEY.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}***{m[4]}", text)
    text = _QUOTED_VALUE.sub(lambda m: f"{m[1]}{m[2]}{m[3]}***{m[3]}", text)
    return _PLAIN.sub(r"\1=***", text)
