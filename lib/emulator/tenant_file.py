"""The demo tenant as a JSON document, so it survives a restart in a format that cannot run code.

A pickle of the tenant would run whatever a replaced file told it to on loading. This is plain JSON:
values are strings, numbers, lists and objects; times, durations, tuples and sets are tagged
(``{"$dt": "…"}``…), and a record names its class, which must be one of the model's own
(:data:`RECORD_TYPES`), and lists its field values in the order the file's ``fields`` names them. Anything
else is refused with ``ValueError``; a file from a version whose records had other fields is refused too
(the demo then starts a fresh tenant).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

from lib.emulator.model import App, AuthMethod, Event, SyntheticTenant, SyntheticWave, User
from lib.emulator.protection_model import (
    ConditionalAccessPolicy,
    Group,
    GroupRoleAssignment,
    MethodConfiguration,
    ProtectionPolicies,
    RegistrationCampaign,
)

__all__ = ["FORMAT", "RECORD_TYPES", "tenant_from_json", "tenant_to_json"]

FORMAT = "mfa-console-demo-tenant"
VERSION = 1
RECORD_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    SyntheticTenant, User, AuthMethod, Event, SyntheticWave, App, ProtectionPolicies, ConditionalAccessPolicy, Group,
    GroupRoleAssignment, MethodConfiguration, RegistrationCampaign)}
"""The only classes a file may name."""
_DERIVED = {"by_id", "by_upn"}
"""Indexes the tenant rebuilds itself (``reindex``)."""
_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f.name for f in dataclasses.fields(cls) if f.name not in _DERIVED) for name, cls in RECORD_TYPES.items()
}
"""Each record's values, in this order (the file lists the names once, in ``fields``, to check them)."""


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, frozenset | set):
        return {"$set": sorted(_encode(v) for v in value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"$dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    name = type(value).__name__
    if name in RECORD_TYPES and dataclasses.is_dataclass(value):
        return {"$record": name, "values": [_encode(getattr(value, f)) for f in _FIELDS[name]]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"the demo tenant holds a {type(value).__name__}, which its file format does not know")


class _Untagged(dict):
    """An object without a tag: only the document itself and its ``fields`` may be one."""


def _no_untagged(values: Any) -> None:
    for value in values:
        if isinstance(value, _Untagged) or (isinstance(value, list) and any(isinstance(v, _Untagged) for v in value)):
            raise ValueError("an untagged object in a demo tenant file")


def _decode(obj: dict) -> Any:
    """``json.loads``' object hook: each tagged object, innermost first, becomes its value (the parser walks the
    document in C; only objects come here, which is what makes a 100,000-user file load several times faster
    than a walk over every value)."""
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag == "$dt":
            return datetime.fromisoformat(value)
        if tag == "$td":
            return timedelta(seconds=value)
        if tag in ("$set", "$tuple", "$dict"):
            if not isinstance(value, list):
                raise ValueError(f"a damaged demo tenant file: {tag} holds no list")
            _no_untagged(value)
            if tag == "$set":
                return frozenset(value)
            if tag == "$tuple":
                return tuple(value)
            return {k: v for k, v in value}
    if "$record" in obj:
        name, values = obj["$record"], obj.get("values")
        fields = _FIELDS.get(name) if isinstance(name, str) else None
        if len(obj) != 2 or fields is None or not isinstance(values, list) or len(values) != len(fields):
            raise ValueError(f"not a demo tenant record: {str(name)[:40]!r}")
        _no_untagged(values)
        return RECORD_TYPES[name](**dict(zip(fields, values, strict=True)))
    return _Untagged(obj)


def tenant_to_json(tenant: SyntheticTenant) -> bytes:
    """The tenant (users, methods, history, waves, apps, clock, protection policies) as compact UTF-8 JSON."""
    document = {"format": FORMAT, "version": VERSION, "fields": _FIELDS, "tenant": _encode(tenant)}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def tenant_from_json(data: bytes) -> SyntheticTenant:
    """The tenant saved by :func:`tenant_to_json`; ``ValueError`` for anything else (nothing in it runs)."""
    try:
        document = json.loads(data.decode("utf-8"), object_hook=_decode)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"not a demo tenant file: {err}") from None
    except (TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"a damaged demo tenant file: {err}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or document.get("version") != VERSION:
        raise ValueError("not a demo tenant file of this version")
    if document.get("fields") != {name: list(names) for name, names in _FIELDS.items()}:
        raise ValueError("a demo tenant file written by another version of the demo tenant")
    tenant = document.get("tenant")
    if not isinstance(tenant, SyntheticTenant):
        raise ValueError("the file does not hold a demo tenant")
    return tenant
