"""Is this answer the JSON Graph promised? One check for plain requests and ``$batch`` envelopes.

Something between the console and Graph (a proxy, a gateway, a captive portal) or a broken service
can answer a 2xx that is not Graph's answer: a body cut off mid-way, an HTML page, or a JSON error
body under a 200 status. Taken at face value, a users page like that would read as "no users" and a
``$batch`` as "no answers". :func:`json_answer` turns each into a :class:`MalformedResponse`
(retryable: the same request may well succeed next time) whose message says which of these it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lib.graph.errors import MalformedResponse, describe_html, error_fields

__all__ = ["is_json_type", "json_answer"]


def is_json_type(content_type: str | None) -> bool:
    """``application/json`` with any parameters (Graph adds ``odata.metadata=…``), or ``…+json``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def json_answer(status: int, content: bytes, headers: Mapping[str, str], *, url: str | None = None,
                what: str = "the answer") -> Any:
    """The parsed JSON of a 2xx answer (None when it has no body), or MalformedResponse saying why not."""
    if not content:
        return None
    content_type = headers.get("content-type") or headers.get("Content-Type") or ""
    if not is_json_type(content_type):
        page = describe_html(content[:4096].decode("utf-8", "replace"))
        shown = content_type.split(";", 1)[0].strip() or "no content type"
        detail = f"{page}, " if page else ""
        raise MalformedResponse(f"{what} came as {shown} ({detail}{len(content)} bytes), not Graph's JSON: "
                                "a proxy or gateway between the console and Microsoft Graph may have answered",
                                status=status, url=url)
    try:
        body = json.loads(content)
    except json.JSONDecodeError as exc:
        # the parser ran out of text (its position is the end, or an unterminated last string): cut off
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            detail = f"it ends in the middle, after {len(content)} bytes (cut off on the way)"
        else:
            detail = f"{exc.msg} (byte {exc.pos} of {len(content)})"
        raise MalformedResponse(f"{what} is broken JSON: {detail}", status=status, url=url) from None
    except ValueError:
        raise MalformedResponse(f"{what} is not text ({len(content)} bytes)", status=status, url=url) from None
    if isinstance(body, dict) and isinstance(body.get("error"), (dict, str)):
        code, message, _ = error_fields(body)
        raise MalformedResponse(f"{what} is an error body under HTTP {status}: {code or 'no code'}: "
                                f"{message or 'no message'}", status=status, graph_code=code, url=url)
    return body
