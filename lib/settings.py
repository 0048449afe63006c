"""Where the console points: the built-in demo tenant, or a real Microsoft tenant.

Settings come from ``.streamlit/secrets.toml`` (passed in as a mapping by ``app.py``, so this
module needs no Streamlit; the CLI reads the same file with :func:`read_secrets_file`) or from
``MFA_*`` environment variables, which win. App and CLI share this one validation. With no tenant
configured at all the console runs on the demo tenant: nothing below this module special-cases
demo mode except starting the emulator and seeding its history.
"""

from __future__ import annotations

import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse, urlunparse

from lib.errors import ConsoleError
from lib.redaction import redact_secrets

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"
DEFAULT_REDIRECT_URI = "http://localhost:8501/"
DEMO_THROTTLE_SPEEDUP = 10.0
"""The demo's default: a 100k-user snapshot's floor (the reports API's 5 requests per 10 s) drops from about
200 s to about 20 s, so the demo clock's day moves in well under a minute; still throttled, still paced by
``Retry-After``, so the client is exercised as against Graph."""
MAX_THROTTLE_SPEEDUP = 1000.0
DEFAULT_BACKGROUND_PLAN_ABOVE = 500

_KEYS = {
    "tenant_id": "MFA_TENANT_ID",
    "client_id": "MFA_CLIENT_ID",
    "client_secret": "MFA_CLIENT_SECRET",
    "redirect_uri": "MFA_REDIRECT_URI",
    "authority_host": "MFA_AUTHORITY_HOST",
    "graph_url": "MFA_GRAPH_URL",
    "database_url": "MFA_DATABASE_URL",
    "data_dir": "MFA_CONSOLE_DATA",
    "demo_users": "MFA_DEMO_USERS",
    "demo_seed": "MFA_DEMO_SEED",
    "demo_premium": "MFA_DEMO_PREMIUM",
    "demo_security_defaults": "MFA_DEMO_SECURITY_DEFAULTS",
    "demo_throttle_speedup": "MFA_DEMO_THROTTLE_SPEEDUP",
    # Unattended use (the CLI): an explicit token authority, a private CA, the demo emulator's line.
    "authority_url": "MFA_AUTHORITY",
    "ca_cert": "MFA_CA_CERT",
    "emulator_info": "MFA_EMULATOR_INFO",
    # Pages: selections of more users than this are previewed in the background.
    "background_plan_above": "MFA_BACKGROUND_PLAN_ABOVE",
}

SECRETS_FILES = (Path(".streamlit") / "secrets.toml", Path("~/.streamlit/secrets.toml").expanduser())
"""Where Streamlit looks for ``secrets.toml``; the CLI reads the first that exists, the same way."""


class SettingsError(ConsoleError, ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""

    code = "settings"
    area: ClassVar[str] = "configuration"


@dataclass(frozen=True)
class Settings:
    """Everything the console needs to know before it can talk to a tenant."""

    mode: str
    """'demo' or 'tenant'."""
    data_dir: Path
    database_url: str
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str = DEFAULT_REDIRECT_URI
    authority_host: str = DEFAULT_AUTHORITY_HOST
    graph_url: str = DEFAULT_GRAPH_URL
    demo_users: int = 3000
    demo_seed: int = 7
    demo_premium: bool = True
    demo_security_defaults: bool = False
    """A demo tenant protected by security defaults, with no Conditional Access (MFA_DEMO_SECURITY_DEFAULTS)."""
    demo_throttle_speedup: float = DEMO_THROTTLE_SPEEDUP
    """How many times faster than Graph's documented limits the demo tenant's throttle refills (1: Graph's own
    pace). Only the demo tenant's own throttle moves; a real tenant is throttled by Graph."""
    authority_url: str = ""
    """An explicit token authority (``MFA_AUTHORITY``); else the authority host + tenant id."""
    ca_cert: str = ""
    """A PEM file to trust for a private authority (``MFA_CA_CERT``)."""
    emulator_info: str = ""
    """The file holding the line ``python -m lib.emulator`` printed (``MFA_EMULATOR_INFO``)."""
    background_plan_above: int = DEFAULT_BACKGROUND_PLAN_ABOVE
    """A preview of more users than this re-reads their states in the background, with progress and cancel
    (``MFA_BACKGROUND_PLAN_ABOVE``); a smaller one is made at once, inside the page."""

    def __repr__(self) -> str:
        """Never the client secret (settings end up in logs and error reports)."""
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.redacted().items())})"

    @property
    def is_demo(self) -> bool:
        return self.mode == "demo"

    @property
    def authority(self) -> str:
        return self.authority_url or f"{self.authority_host.rstrip('/')}/{self.tenant_id}"

    def redacted(self) -> dict[str, str]:
        """The settings as shown on the Connection page: the secret is never shown."""
        return {
            "mode": self.mode,
            "tenant_id": self.tenant_id or "(not set)",
            "client_id": self.client_id or "(not set)",
            "client_secret": "set" if self.client_secret else "(not set)",
            "redirect_uri": self.redirect_uri,
            "authority": self.authority if self.tenant_id else self.authority_host,
            "graph_url": self.graph_url,
            "database_url": _redact_url(self.database_url),
        }


def _redact_url(url: str) -> str:
    """``url`` with its password (``user:…@host``, percent-encoded or not) and any secret-named query value
    replaced by ``***``."""
    try:
        parsed = urlparse(url)
        password = parsed.password
    except ValueError:  # not a URL (e.g. a bare file path): nothing in it to hide but what redaction finds
        return redact_secrets(url)
    if password is not None and "@" in parsed.netloc:
        userinfo, _, host = parsed.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        url = urlunparse(parsed._replace(netloc=f"{user}:***@{host}"))
    return redact_secrets(url)


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _https_url(name: str, value: str, allow_loopback_http: bool = False) -> str:
    parsed = urlparse(value)
    loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    if parsed.scheme == "https" or (allow_loopback_http and parsed.scheme == "http" and loopback):
        if not parsed.hostname:
            raise SettingsError(f"{name} {value!r} has no host name.")
        return value.rstrip("/")
    raise SettingsError(f"{name} must be an https URL (got {value!r}).")


def read_secrets_file(paths: tuple[Path, ...] = SECRETS_FILES) -> dict[str, object]:
    """The first ``secrets.toml`` of ``paths`` as a mapping ({} when there is none)."""
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as err:
            raise SettingsError(f"{path} could not be read ({err}).") from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{path} is not valid TOML ({err}): fix that line, or remove the file.") from None
    return {}


def load_settings(secrets: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings; raise SettingsError with an exact fix for anything malformed.

    ``secrets`` may hold the keys flat or under an ``[mfa]`` table.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    source = dict(secrets or {})
    nested = source.get("mfa")
    if isinstance(nested, Mapping):
        source = {**source, **nested}
    for key, env in _KEYS.items():
        value = environ.get(env)
        if value is None and source.get(key) is not None:
            value = str(source[key])
        if value is not None and value.strip():
            raw[key] = value.strip()

    data_dir = Path(raw.get("data_dir") or ".data").expanduser()
    database_url = raw.get("database_url") or f"sqlite:///{(data_dir / 'console.db').as_posix()}"
    demo_kwargs = _demo_settings(raw)
    unattended: dict = {k: raw.get(k, "") for k in ("authority_url", "ca_cert", "emulator_info")}
    unattended["background_plan_above"] = _background_plan_above(raw)
    if unattended["authority_url"]:
        unattended["authority_url"] = _https_url("MFA_AUTHORITY", unattended["authority_url"], True)
    if "tenant_id" not in raw and "client_id" not in raw:
        return Settings(mode="demo", data_dir=data_dir, database_url=database_url, **demo_kwargs, **unattended)

    missing = [_KEYS[k] for k in ("tenant_id", "client_id") if k not in raw]
    if missing == [_KEYS["tenant_id"]] and unattended["authority_url"]:
        missing = []  # the authority names the tenant
        raw["tenant_id"] = unattended["authority_url"].rstrip("/").rsplit("/", 1)[-1]
    if missing:
        raise SettingsError(
            f"A tenant is half configured: set {' and '.join(missing)} (or remove the other to use the demo)."
        )
    tenant_id = raw["tenant_id"]
    if not (_is_guid(tenant_id) or "." in tenant_id):
        raise SettingsError(f"MFA_TENANT_ID must be the tenant's GUID or a verified domain (got {tenant_id!r}).")
    if not _is_guid(raw["client_id"]):
        raise SettingsError(
            f"MFA_CLIENT_ID must be the app registration's Application (client) ID, a GUID (got {raw['client_id']!r})."
        )
    return Settings(
        mode="tenant",
        data_dir=data_dir,
        database_url=database_url,
        tenant_id=tenant_id,
        client_id=raw["client_id"],
        client_secret=raw.get("client_secret", ""),
        redirect_uri=_https_url("MFA_REDIRECT_URI", raw.get("redirect_uri", DEFAULT_REDIRECT_URI), True),
        authority_host=_https_url("MFA_AUTHORITY_HOST", raw.get("authority_host", DEFAULT_AUTHORITY_HOST)),
        graph_url=_https_url("MFA_GRAPH_URL", raw.get("graph_url", DEFAULT_GRAPH_URL), True),
        **demo_kwargs,
        **unattended,
    )


def _background_plan_above(raw: Mapping[str, str]) -> int:
    value = raw.get("background_plan_above", str(DEFAULT_BACKGROUND_PLAN_ABOVE))
    try:
        above = int(value)
    except ValueError:
        raise SettingsError(f"MFA_BACKGROUND_PLAN_ABOVE must be a whole number of users (got {value!r}).") from None
    if above < 0:
        raise SettingsError(f"MFA_BACKGROUND_PLAN_ABOVE must be 0 or more (got {above}).")
    return above


def _demo_settings(raw: Mapping[str, str]) -> dict:
    try:
        users = int(raw.get("demo_users", "3000"))
        seed = int(raw.get("demo_seed", "7"))
    except ValueError as err:
        raise SettingsError(f"MFA_DEMO_USERS and MFA_DEMO_SEED must be whole numbers ({err}).") from None
    if not 50 <= users <= 200_000:
        raise SettingsError(f"MFA_DEMO_USERS must be between 50 and 200000 (got {users}).")
    premium = raw.get("demo_premium", "true").lower() not in ("0", "false", "no", "off")
    security_defaults = raw.get("demo_security_defaults", "false").lower() in ("1", "true", "yes", "on")
    return {"demo_users": users, "demo_seed": seed, "demo_premium": premium,
            "demo_security_defaults": security_defaults,
            "demo_throttle_speedup": _speedup(raw.get("demo_throttle_speedup"))}


def _speedup(value: str | None) -> float:
    """``MFA_DEMO_THROTTLE_SPEEDUP``: a number from 1 (Graph's own pace) to 1000."""
    if value is None:
        return DEMO_THROTTLE_SPEEDUP
    try:
        speedup = float(value.lower().removeprefix("x").removesuffix("x"))
    except ValueError:
        speedup = float("nan")
    if not 1 <= speedup <= MAX_THROTTLE_SPEEDUP:  # also refuses nan and inf
        raise SettingsError(f"MFA_DEMO_THROTTLE_SPEEDUP must be a number from 1 (Graph's own throttling pace) to "
                            f"{MAX_THROTTLE_SPEEDUP:g} (got {value!r}).")
    return speedup
