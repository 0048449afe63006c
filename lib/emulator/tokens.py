"""Access tokens the emulator issues and Graph routes accept.

Real JWTs (HS256, signed with the emulator's per-process key) carrying the claims Graph reads:
``tid``, ``appid``, ``oid`` (delegated), and ``roles`` (app permissions) or ``scp`` (delegated
scopes). Graph answers 401 ``InvalidAuthenticationToken`` for anything else, as Microsoft does.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.model import App, User
from lib.emulator.state import EmulatorState

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


@dataclass(frozen=True)
class Principal:
    """Who is calling Graph: an app alone (client credentials) or an app acting for a user."""

    app_id: str
    permissions: frozenset[str]
    user_id: str | None = None

    @property
    def delegated(self) -> bool:
        return self.user_id is not None


def mint_access_token(
    state: EmulatorState, app: App, permissions: frozenset[str], user: User | None = None, lifetime: int = 3600
) -> tuple[str, int]:
    """A signed access token for ``app`` (and ``user`` when delegated); returns (token, expires_in)."""
    now = int(time.time())
    claims: dict = {
        "aud": GRAPH_AUDIENCE,
        "iss": f"https://sts.windows.net/{state.tenant.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "tid": state.tenant.id,
        "appid": app.client_id,
        "app_displayname": app.display_name,
        "uti": uuid.uuid4().hex,
        "ver": "1.0",
    }
    if user is None:
        claims["roles"] = sorted(permissions)
        claims["oid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{app.client_id}"))
        claims["idtyp"] = "app"
    else:
        claims["scp"] = " ".join(sorted(permissions))
        claims["oid"] = user.id
        claims["upn"] = user.upn
        claims["name"] = user.display_name
        claims["idtyp"] = "user"
    return jwt.encode(claims, state.signing_key, algorithm="HS256"), lifetime


def _invalid(message: str) -> EmulatedGraphError:
    return EmulatedGraphError(401, "InvalidAuthenticationToken", message)


def verify_bearer(state: EmulatorState, authorization: str | None) -> Principal:
    """The caller behind an ``Authorization`` header, or EmulatedGraphError 401 as Graph words it."""
    if not authorization or not authorization.strip():
        raise _invalid("Access token is empty.") from None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid("Access token validation failure. Invalid audience.") from None
    try:
        claims = jwt.decode(
            token.strip(), state.signing_key, algorithms=["HS256"], audience=GRAPH_AUDIENCE,
            options={"require": ["exp", "tid", "appid"]},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("Lifetime validation failed, the token is expired.") from None
    except jwt.InvalidAudienceError:
        raise _invalid("Access token validation failure. Invalid audience.") from None
    except jwt.PyJWTError:
        raise _invalid("IDX14100: JWT is not well formed.") from None
    if claims["tid"] != state.tenant.id:
        raise _invalid("Access token validation failure. Invalid issuer.") from None
    if claims.get("idtyp") == "user":
        perms = frozenset(str(claims.get("scp", "")).split())
        user_id = claims.get("oid")
        if not user_id or state.tenant.lookup(user_id) is None:
            raise _invalid("Access token validation failure.") from None
        return Principal(claims["appid"], perms, user_id)
    return Principal(claims["appid"], frozenset(claims.get("roles", [])))
