"""Control routes under ``/_emulator/``: knobs, the simulated clock, ground truth and counters.

Not Graph: no bearer token, plain JSON. These routes can read the demo app's client secret and move
the clock, so a caller must prove it started the emulator, not merely that it runs on this machine:

- every call carries the emulator's per-run random key (``state.control_key``, which
  ``python -m lib.emulator`` prints and ``RunningEmulator.control_key`` holds) in
  ``X-Emulator-Control``; without it, or with a wrong one, the answer is 403;
- the client's address and the ``Host`` header must both be loopback (``127.0.0.1``, ``::1``,
  ``localhost``): a page whose DNS name was rebound to 127.0.0.1 sends its own name as ``Host``;
- a call that may change something (anything but GET) declares ``Content-Type: application/json``,
  which a cross-site form or ``fetch`` cannot send without a CORS preflight that is never answered;
  anything else is 415.

- ``GET|PATCH /_emulator/config``: ``latency_ms``, ``time_scale``, ``fault_rate``, ``throttle``,
  ``seed``, ``fault_applied_share`` (share of dropped connections that happen after a write applied),
  ``fault_kinds`` (which faults ``fault_rate`` draws: ``500``, ``503``, ``504``, ``drop``, ``truncated``,
  ``html_502``, ``wrong_content_type``, ``error_200``, ``batch_missing``; ``null`` = 5xx and drops),
  ``fault_paths`` (path prefixes such as ``/users`` or ``/$batch`` faults may hit; ``null`` = all),
  ``fault_on`` (``any``, ``reads`` or ``writes``; lib/emulator/faults.py says what each kind does),
  ``hold_requests`` (Graph requests wait until it is switched off again), ``hold_after_writes``
  (writes wait, once that many per-user MFA PATCHes have applied; ``null`` switches it off),
  ``ca_without_premium`` (``forbidden`` or ``empty``: how a tenant without Entra ID P1 answers the
  Conditional Access policies list),
  ``bulk_mfa_state`` (``false``: ``/users`` refuses ``$select=perUserMfaState`` as if Graph did not serve it),
  ``bulk_mfa_state_stale`` (that many recently changed users show their previous state in the listing)
- ``GET /_emulator/clock`` → ``{"now": …, "tenant_now": …}``: the simulated time running on in real time
  since it last moved (what the console stamps in demo mode), and the time it last moved to
- ``GET /_emulator/demo-app``: the demo app's app-only credentials and the demo's public client id
- ``POST /_emulator/clock/advance`` ``{"days": n}`` / ``{"hours": n}`` → the clock's report + ``now``; a sign-in
  log read before starts generating the new span in the background (lib/emulator/signin_log.prepare_in_background)
- ``GET /_emulator/truth/users`` (JSON, or JSON lines with ``?format=jsonl``),
  ``GET /_emulator/truth/history`` (every user's events, the waves, the tenant's domain and the methods its
  policy turns off)
- ``POST /_emulator/users/{id or upn}/methods`` ``{"kind": "mobilePhone"}``: the user registers that
  method now, as on their security info page (Entra's rules follow: an Enabled user becomes Enforced,
  and one disabled by an admin has registered again)
- ``PUT /_emulator/users/{id or upn}/roles`` ``{"roles": [role template ids]}``: the user now holds these
  directory roles, as after an Entra admin's change or a PIM activation running out
- ``GET /_emulator/stats``, ``POST /_emulator/stats/reset``, ``POST /_emulator/throttle/reset``
- ``GET /_emulator/stats`` (requests, batch items, throttled, faults, writes, ``state_reads``: GETs of
  ``authentication/requirements``, ``user_listings``: pages of ``/users``, statuses),
  ``POST /_emulator/stats/reset``, ``POST /_emulator/throttle/reset``
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lib.emulator.faults import FAULT_ON, KIND_NAMES, get_faults
from lib.emulator.generator import demo_app, demo_public_app, new_method
from lib.emulator.graph_api import EmulatorStats, emulator_stats
from lib.emulator.model import METHOD_KINDS, SyntheticTenant, User
from lib.emulator.signin_log import prepare_in_background
from lib.emulator.state import CA_WITHOUT_PREMIUM, EmulatorState
from lib.emulator.throttle import get_throttle
from lib.emulator.wire import iso

CONTROL_HEADER = "X-Emulator-Control"
PREFIX = "/_emulator"


class _ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(obj: Any, status: int = 200) -> Response:
    text = json.dumps(obj, separators=(",", ":"), default=str)
    return Response(text, status, media_type="application/json")


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port and IPv6 brackets (``[::1]:80`` → ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def refusal(state: EmulatorState, request: Request) -> Response | None:
    """Why this request may not use the control API (a 403 or 415 answer), or None if it may."""
    if not _is_loopback(request.client.host if request.client else None):
        return _json({"error": "the control API is served to loopback clients only"}, 403)
    if not _is_loopback(host_name(request.headers.get("host", ""))):
        return _json({"error": "the control API answers only a loopback Host (127.0.0.1, ::1 or localhost)"}, 403)
    if not hmac.compare_digest(request.headers.get(CONTROL_HEADER, "").encode(), state.control_key.encode()):
        return _json({"error": f"missing or wrong {CONTROL_HEADER} header: give the key the emulator printed"},
                     403)
    if request.method != "GET" and not _is_json(request.headers.get("content-type", "")):
        return _json({"error": "the control API accepts only Content-Type: application/json"}, 415)
    return None


def _guard(state: EmulatorState, handler: Callable[[Request], Awaitable[Response]]) -> Callable:
    async def endpoint(request: Request) -> Response:
        refused = refusal(state, request)
        if refused is not None:
            return refused
        try:
            return await handler(request)
        except _ControlError as err:
            return _json({"error": err.message}, err.status)

    return endpoint


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        raise _ControlError(400, "the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _ControlError(400, "the body must be a JSON object")
    return payload


def running_now(state: EmulatorState) -> datetime:
    """The simulated time, running on in real time since it last moved: every console process that reads
    it (the app, each CLI run) then stamps on one timeline, later commands never before earlier ones."""
    now = state.tenant.now
    anchor = state.extras.get("clock_anchor")
    if anchor is None or anchor[0] != now:
        anchor = state.extras["clock_anchor"] = (now, time.monotonic())
    return now + timedelta(seconds=time.monotonic() - anchor[1])


def config_json(state: EmulatorState) -> dict:
    c = state.config
    return {"latency_ms": c.latency_ms, "time_scale": c.time_scale, "fault_rate": c.fault_rate,
            "throttle": c.throttle, "seed": c.seed, "fault_applied_share": get_faults(state).applied_share,
            "hold_requests": c.hold_requests, "hold_after_writes": c.hold_after_writes,
            "fault_kinds": None if c.fault_kinds is None else list(c.fault_kinds),
            "fault_paths": None if c.fault_paths is None else list(c.fault_paths), "fault_on": c.fault_on,
            "ca_without_premium": c.ca_without_premium,
            "bulk_mfa_state": c.bulk_mfa_state, "bulk_mfa_state_stale": c.bulk_mfa_state_stale}


def _number(name: str, value: Any, low: float, high: float | None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _ControlError(400, f"{name} must be a number, got {value!r}")
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bound = f"> {low}" if low_open else f">= {low}"
        raise _ControlError(400, f"{name} must be {bound}" + (f" and <= {high}" if high is not None else "")
                            + f", got {value!r}")
    return float(value)


def _names(name: str, value: Any, allowed: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A non-empty list of strings (each one of ``allowed`` when given), or null."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _ControlError(400, f"{name} must be a non-empty list of strings or null, got {value!r}")
    unknown = sorted(set(value) - set(allowed)) if allowed is not None else []
    if unknown:
        raise _ControlError(400, f"{name}: unknown {', '.join(unknown)}; known: {', '.join(allowed or ())}")
    return tuple(value)


def apply_config(state: EmulatorState, changes: dict) -> dict:
    """Validate every change first, then apply them all (a bad field changes nothing)."""
    known = {"latency_ms", "time_scale", "fault_rate", "throttle", "seed", "fault_applied_share", "hold_requests",
             "hold_after_writes", "fault_kinds", "fault_paths", "fault_on", "ca_without_premium", "bulk_mfa_state",
             "bulk_mfa_state_stale"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise _ControlError(400, f"unknown setting(s): {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
    checked: dict[str, Any] = {}
    if "latency_ms" in changes:
        checked["latency_ms"] = _number("latency_ms", changes["latency_ms"], 0, 60_000)
    if "time_scale" in changes:
        checked["time_scale"] = _number("time_scale", changes["time_scale"], 0, 1000, low_open=True)
    if "fault_rate" in changes:
        checked["fault_rate"] = _number("fault_rate", changes["fault_rate"], 0, 1)
    if "fault_applied_share" in changes:
        checked["fault_applied_share"] = _number("fault_applied_share", changes["fault_applied_share"], 0, 1)
    for switch in ("throttle", "hold_requests", "bulk_mfa_state"):
        if switch in changes:
            if not isinstance(changes[switch], bool):
                raise _ControlError(400, f"{switch} must be true or false, got {changes[switch]!r}")
            checked[switch] = changes[switch]
    if "hold_after_writes" in changes:
        value = changes["hold_after_writes"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _ControlError(400, f"hold_after_writes must be a whole number of at least 0 or null, got {value!r}")
        checked["hold_after_writes"] = value
    if "bulk_mfa_state_stale" in changes:
        value = changes["bulk_mfa_state_stale"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _ControlError(400, f"bulk_mfa_state_stale must be a whole number of at least 0, got {value!r}")
        checked["bulk_mfa_state_stale"] = value
    if "fault_kinds" in changes:
        checked["fault_kinds"] = _names("fault_kinds", changes["fault_kinds"], KIND_NAMES)
    if "fault_paths" in changes:
        paths = _names("fault_paths", changes["fault_paths"], None)
        if paths is not None and any(not p.startswith("/") for p in paths):
            raise _ControlError(400, f"fault_paths must start with '/' (e.g. /users or /$batch), got {list(paths)!r}")
        checked["fault_paths"] = paths
    if "fault_on" in changes:
        if changes["fault_on"] not in FAULT_ON:
            raise _ControlError(400, f"fault_on must be one of {', '.join(FAULT_ON)}, got {changes['fault_on']!r}")
        checked["fault_on"] = changes["fault_on"]
    if "ca_without_premium" in changes:
        if changes["ca_without_premium"] not in CA_WITHOUT_PREMIUM:
            raise _ControlError(400, f"ca_without_premium must be one of {', '.join(CA_WITHOUT_PREMIUM)}, "
                                f"got {changes['ca_without_premium']!r}")
        checked["ca_without_premium"] = changes["ca_without_premium"]
    if "seed" in changes:
        if isinstance(changes["seed"], bool) or not isinstance(changes["seed"], int):
            raise _ControlError(400, f"seed must be an integer, got {changes['seed']!r}")
        checked["seed"] = changes["seed"]
    faults = get_faults(state)
    for name, value in checked.items():
        if name == "fault_applied_share":
            faults.applied_share = value
        else:
            setattr(state.config, name, value)
    if "seed" in checked:
        faults.reseed(checked["seed"])
    return config_json(state)


def user_truth(tenant: SyntheticTenant, user: User) -> dict:
    """Everything the emulator knows about a user, including what Graph never shows."""
    return {
        "id": user.id, "upn": user.upn, "display_name": user.display_name, "kind": user.kind,
        "user_type": user.user_type, "account_enabled": user.account_enabled, "mfa_state": user.mfa_state,
        "methods": [m.kind for m in user.methods],
        "visible_methods": [m.kind for m in tenant.visible_methods(user)],
        "roles": list(user.roles), "needs_reregistration": user.needs_reregistration,
        "last_sign_in": iso(user.last_sign_in), "created": iso(user.created),
    }


def history_json(tenant: SyntheticTenant) -> dict:
    return {
        "tenant": {"id": tenant.id, "name": tenant.name, "domain": tenant.domain, "created": iso(tenant.created),
                   "now": iso(tenant.now), "methods_off_by_policy": list(tenant.methods_off_by_policy)},
        "waves": [{"name": w.name, "launched_at": iso(w.launched_at), "actor": w.actor,
                   "user_ids": w.user_ids} for w in tenant.waves],
        "users": [{"id": u.id, "upn": u.upn,
                   "events": [{"at": iso(e.at), "kind": e.kind, "value": e.value, "actor": e.actor}
                              for e in u.events]}
                  for u in tenant.users],
    }


def control_routes(state: EmulatorState) -> list[BaseRoute]:
    """Starlette routes of the control API for this emulator."""

    async def get_config(request: Request) -> Response:
        return _json(config_json(state))

    async def patch_config(request: Request) -> Response:
        return _json(apply_config(state, await _body(request)))

    async def advance(request: Request) -> Response:
        payload = await _body(request)
        unknown = sorted(set(payload) - {"days", "hours", "minutes"})
        if unknown or not payload:
            raise _ControlError(400, 'give {"days": n}, {"hours": n} and/or {"minutes": n}')
        parts = {k: _number(k, v, 0, None) for k, v in payload.items()}
        delta = timedelta(**parts)
        try:
            from lib.emulator.clock import advance as clock_advance
        except ImportError:  # pragma: no cover - the clock ships with the emulator
            raise _ControlError(501, "the simulated clock is not available") from None
        try:
            report = clock_advance(state.tenant, delta)
        except ValueError as err:
            raise _ControlError(400, str(err)) from None
        prepare_in_background(state)  # the console reads sign-ins some 20 s later: have them ready
        return _json({"report": report, "now": iso(state.tenant.now)})

    async def clock_now(request: Request) -> Response:
        # "now" to the microsecond (commands seconds apart); "tenant_now" where the clock last stopped, which a
        # console process runs on from by itself (lib.clock.SimulatedClock) instead of asking every time.
        return _json({"now": running_now(state).isoformat(), "tenant_now": state.tenant.now.isoformat()})

    async def truth_users(request: Request) -> Response:
        tenant = state.tenant
        rows = [user_truth(tenant, u) for u in tenant.users]
        if request.query_params.get("format") == "jsonl":
            text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
            return Response(text, media_type="application/x-ndjson")
        return _json({"now": iso(tenant.now), "users": rows})

    async def truth_history(request: Request) -> Response:
        return _json(history_json(state.tenant))

    async def register(request: Request) -> Response:
        tenant = state.tenant
        user = tenant.lookup(request.path_params["user"])
        if user is None:
            raise _ControlError(404, f"no user {request.path_params['user']!r}")
        kind = (await _body(request)).get("kind")
        if kind not in METHOD_KINDS:
            raise _ControlError(400, f"kind must be one of {', '.join(sorted(METHOD_KINDS))}, got {kind!r}")
        rng = random.Random(f"register:{tenant.seed}:{user.id}:{len(user.methods)}")
        tenant.register_method(user, new_method(rng, kind, tenant.now, user.usage_location))
        return _json(user_truth(tenant, user))

    async def set_roles(request: Request) -> Response:
        tenant = state.tenant
        user = tenant.lookup(request.path_params["user"])
        if user is None:
            raise _ControlError(404, f"no user {request.path_params['user']!r}")
        roles = (await _body(request)).get("roles")
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise _ControlError(400, f"roles must be a list of role template ids, got {roles!r}")
        user.roles = tuple(roles)
        tenant.revision += 1
        return _json(user_truth(tenant, user))

    async def get_stats(request: Request) -> Response:
        return _json(emulator_stats(state).as_dict())

    async def reset_stats(request: Request) -> Response:
        state.extras["emulator_stats"] = EmulatorStats()
        return _json(EmulatorStats().as_dict())

    async def demo_app_info(request: Request) -> Response:
        # The demo tenant's app-only credentials, so a CLI given only the control key can sign in (the
        # same values `python -m lib.emulator` prints). Key holders only (_guard).
        app = demo_app(state.tenant)
        return _json({"tenant_id": state.tenant.id, "client_id": app.client_id, "client_secret": app.client_secret,
                      "authority": state.authority, "ca_cert": state.ca_cert_path,
                      "public_client_id": demo_public_app(state.tenant).client_id})

    async def reset_throttle(request: Request) -> Response:
        get_throttle(state).reset()
        return Response(status_code=204)

    def route(path: str, handler: Callable[[Request], Awaitable[Response]], method: str) -> Route:
        return Route(PREFIX + path, _guard(state, handler), methods=[method])

    return [
        route("/config", get_config, "GET"),
        route("/config", patch_config, "PATCH"),
        route("/clock", clock_now, "GET"),
        route("/clock/advance", advance, "POST"),
        route("/truth/users", truth_users, "GET"),
        route("/truth/history", truth_history, "GET"),
        route("/users/{user}/methods", register, "POST"),
        route("/users/{user}/roles", set_roles, "PUT"),
        route("/stats", get_stats, "GET"),
        route("/stats/reset", reset_stats, "POST"),
        route("/throttle/reset", reset_throttle, "POST"),
        route("/demo-app", demo_app_info, "GET"),
    ]
