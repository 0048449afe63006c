"""Which properties Microsoft's ``user`` entity type has in v1.0 and in beta, for ``$select``.

The lists are vendored from Microsoft's published Graph metadata (``user_properties.json`` says
exactly where from), so the demo tenant accepts every property real Graph accepts, and answers
null or an empty collection where it has no data, instead of refusing the query.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["PER_USER_MFA_STATE", "empty_value", "user_properties"]

PER_USER_MFA_STATE = "perUserMfaState"
"""Served on ``/users`` by real Graph although no metadata lists it (docs/graph.md)."""

_FILE = Path(__file__).with_name("user_properties.json")


@cache
def _schema() -> dict[str, dict[str, dict[str, Any]]]:
    return json.loads(_FILE.read_text(encoding="utf-8"))["versions"]


def user_properties(version: str) -> dict[str, dict[str, Any]]:
    """Property name → ``{"type", "collection", "nullable"}`` of ``microsoft.graph.user`` in ``version``."""
    return _schema()[version]


def empty_value(version: str, name: str) -> list | None:
    """What a property the demo tenant has no data for renders as: ``[]`` for a collection, else null."""
    found = _schema()[version].get(name)
    return [] if found is not None and found["collection"] else None
