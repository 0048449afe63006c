"""Control routes under ``/_emulator/``: knobs, the simulated clock, ground truth and counters.

Not Graph: no bearer token, plain JSON, served to loopback clients only. When
``state.extras["control_key"]`` is set, every call must carry it in ``X-Emulator-Control``.

- ``GET|PATCH /_emulator/config``: ``latency_ms``, ``time_scale``, ``fault_rate``, ``throttle``,
  ``seed``, ``fault_applied_share`` (share of dropped connections that happen after a write applied),
  ``hold_requests`` (Graph requests wait until it is switched off again), ``hold_after_writes``
  (writes wait, once that many per-user MFA PATCHes have applied; ``null`` switches it off)
- ``POST /_emulator/clock/advance`` ``{"days": n}`` / ``{"hours": n}`` → the clock's report + ``now``
- ``GET /_emulator/truth/users`` (JSON, or JSON lines with ``?format=jsonl``),
  ``GET /_emulator/truth/history`` (every user's events and the waves)
- ``POST /_emulator/users/{id or upn}/methods`` ``{"kind": "mobilePhone"}``: the user registers that
  method now, as on their security info page (Entra's rules follow: an Enabled user becomes Enforced,
  and one disabled by an admin has registered again)
- ``GET /_emulator/stats``, ``POST /_emulator/stats/reset``, ``POST /_emulator/throttle/reset``
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from lib.emulator.faults import get_faults
from lib.emulator.generator import demo_app, new_method
from lib.emulator.graph_api import EmulatorStats, emulator_stats
from lib.emulator.model import METHOD_KINDS, SyntheticTenant, User
from lib.emulator.state import EmulatorState
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
    if host in ("localhost", "testclient"):
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guard(state: EmulatorState, handler: Callable[[Request], Awaitable[Response]]) -> Callable:
    async def endpoint(request: Request) -> Response:
        if not _is_loopback(request.client.host if request.client else None):
            return _json({"error": "the control API is served to loopback clients only"}, 403)
        key = state.extras.get("control_key")
        if key and not hmac.compare_digest(request.headers.get(CONTROL_HEADER, ""), str(key)):
            return _json({"error": f"missing or wrong {CONTROL_HEADER} header"}, 403)
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


def config_json(state: EmulatorState) -> dict:
    c = state.config
    return {"latency_ms": c.latency_ms, "time_scale": c.time_scale, "fault_rate": c.fault_rate,
            "throttle": c.throttle, "seed": c.seed, "fault_applied_share": get_faults(state).applied_share,
            "hold_requests": c.hold_requests, "hold_after_writes": c.hold_after_writes}


def _number(name: str, value: Any, low: float, high: float | None, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _ControlError(400, f"{name} must be a number, got {value!r}")
    if value < low or (low_open and value == low) or (high is not None and value > high):
        bound = f"> {low}" if low_open else f">= {low}"
        raise _ControlError(400, f"{name} must be {bound}" + (f" and <= {high}" if high is not None else "")
                            + f", got {value!r}")
    return float(value)


def apply_config(state: EmulatorState, changes: dict) -> dict:
    """Validate every change first, then apply them all (a bad field changes nothing)."""
    known = {"latency_ms", "time_scale", "fault_rate", "throttle", "seed", "fault_applied_share", "hold_requests",
             "hold_after_writes"}
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
    for switch in ("throttle", "hold_requests"):
        if switch in changes:
            if not isinstance(changes[switch], bool):
                raise _ControlError(400, f"{switch} must be true or false, got {changes[switch]!r}")
            checked[switch] = changes[switch]
    if "hold_after_writes" in changes:
        value = changes["hold_after_writes"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _ControlError(400, f"hold_after_writes must be a whole number of at least 0 or null, got {value!r}")
        checked["hold_after_writes"] = value
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
        "tenant": {"id": tenant.id, "name": tenant.name, "created": iso(tenant.created),
                   "now": iso(tenant.now)},
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
        return _json({"report": report, "now": iso(state.tenant.now)})

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

    async def get_stats(request: Request) -> Response:
        return _json(emulator_stats(state).as_dict())

    async def reset_stats(request: Request) -> Response:
        state.extras["emulator_stats"] = EmulatorStats()
        return _json(EmulatorStats().as_dict())

    async def demo_app_info(request: Request) -> Response:
        # The demo tenant's app-only credentials, so the CLI pointed at a demo URL can sign in with no
        # configuration (the same values `python -m lib.emulator` prints). Loopback callers only.
        app = demo_app(state.tenant)
        return _json({"tenant_id": state.tenant.id, "client_id": app.client_id, "client_secret": app.client_secret,
                      "authority": state.authority, "ca_cert": state.ca_cert_path})

    async def reset_throttle(request: Request) -> Response:
        get_throttle(state).reset()
        return Response(status_code=204)

    def route(path: str, handler: Callable[[Request], Awaitable[Response]], method: str) -> Route:
        return Route(PREFIX + path, _guard(state, handler), methods=[method])

    return [
        route("/config", get_config, "GET"),
        route("/config", patch_config, "PATCH"),
        route("/clock/advance", advance, "POST"),
        route("/truth/users", truth_users, "GET"),
        route("/truth/history", truth_history, "GET"),
        route("/users/{user}/methods", register, "POST"),
        route("/stats", get_stats, "GET"),
        route("/stats/reset", reset_stats, "POST"),
        route("/throttle/reset", reset_throttle, "POST"),
        route("/demo-app", demo_app_info, "GET"),
    ]
