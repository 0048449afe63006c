"""``POST /{v1.0|beta}/$batch``: up to 20 requests in one, each answered on its own (json-batching.md).

Items run in process through the same pipeline as plain requests (``graph_api.execute``), each with
its own fault draw and throttle charge; latency and the bearer check apply once, to the envelope.
The outer status is 200 whatever the items did (the 2025 doc); responses come back shuffled with
the fault RNG. Rules enforced, as Graph does:

- whole batch 400: body not JSON, no ``requests`` array, more than 20 items, an item without
  ``id``, duplicate ids (case-insensitive), ``dependsOn`` naming an unknown id or forming a cycle;
- item 400: absolute url (``Invalid batch payload format``), a url under ``/v1.0/`` or ``/beta/``
  (``Resource not found for the segment 'v1.0'``), a body without a ``Content-Type`` header, a
  write without a body, a route of the other API version (one batch, one version);
- item 424 ``FailedDependency`` when an item it depends on failed (status ≥ 400).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lib.emulator.error_responses import EmulatedGraphError
from lib.emulator.faults import fault_error, get_faults
from lib.emulator.state import EmulatorState
from lib.emulator.wire import JSON_CONTENT_TYPE

if TYPE_CHECKING:
    from lib.emulator.graph_api import GraphRequest, GraphResponse

MAX_REQUESTS = 20
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_WRITES = frozenset({"POST", "PATCH", "PUT"})
_INVALID = "Invalid batch payload format."
BAD_JSON = ("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
            "valid JSON format.")
FAILED_DEPENDENCY = "The request failed because it depends on a request that failed."


def _bad(message: str = _INVALID) -> EmulatedGraphError:
    return EmulatedGraphError(400, "BadRequest", message)


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad()
    out: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, (list, tuple, set)):  # msgraph-core sends header values as lists
            value = ", ".join(str(v) for v in value)
        out[str(name).lower()] = str(value)
    return out


def _order(items: list[dict], ids: dict[str, int]) -> list[int]:
    """Indices in an order where every item comes after what it depends on; 400 on a cycle."""
    done: list[int] = []
    state = [0] * len(items)  # 0 new, 1 visiting, 2 done

    def visit(i: int) -> None:
        if state[i] == 2:
            return
        if state[i] == 1:
            raise _bad("Batch request has a circular dependency in dependsOn.")
        state[i] = 1
        for dep in items[i]["_deps"]:
            visit(ids[dep])
        state[i] = 2
        done.append(i)

    for i in range(len(items)):
        visit(i)
    return done


def _parse(req: GraphRequest) -> list[dict]:
    try:
        payload = json.loads(req.body)
    except (ValueError, UnicodeDecodeError):
        raise _bad(BAD_JSON) from None
    requests = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests, list) or not requests:
        raise _bad()
    if len(requests) > MAX_REQUESTS:
        raise _bad(f"Batch request exceeds limit of {MAX_REQUESTS}")
    ids: dict[str, int] = {}
    for i, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("id"), (str, int)) or str(item["id"]) == "":
            raise _bad()
        key = str(item["id"]).lower()
        if key in ids:
            raise _bad(f"Batch request contains duplicate request id '{item['id']}'.")
        ids[key] = i
    for item in requests:
        deps = item.get("dependsOn") or []
        if not isinstance(deps, list) or not all(isinstance(d, (str, int)) for d in deps):
            raise _bad()
        item["_deps"] = [str(d).lower() for d in deps]
        for dep in item["_deps"]:
            if dep not in ids:
                raise _bad(f"Request id '{dep}' named in dependsOn was not found in the batch.")
    requests[:] = [requests[i] for i in _order(requests, ids)]
    return requests


def _item_request(req: GraphRequest, item: dict, item_id: str, request_type: type) -> GraphRequest:
    """The sub-request of one item, or EmulatedGraphError for an item-level 400."""
    method = item.get("method")
    url = item.get("url")
    if not isinstance(method, str) or method.upper() not in _METHODS or not isinstance(url, str) or not url:
        raise _bad()
    method = method.upper()
    if "://" in url:
        raise _bad()
    headers = _headers(item.get("headers"))
    has_body = "body" in item and item["body"] is not None
    if (has_body and "content-type" not in headers) or (method in _WRITES and not has_body):
        raise _bad(f"Write request id : {item_id}, does not contain Content-Type header or body.")
    parts = urlsplit(url)
    sub = request_type(req.version, method, unquote(parts.path), parts.query, headers, req.principal,
                       req.request_id, req.client_request_id)
    if has_body:
        body = item["body"]
        if isinstance(body, (dict, list)):
            sub.json_body, sub.has_json_body = body, True
        elif isinstance(body, str):
            try:  # a non-object body travels base64-encoded
                sub.body = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                sub.body = body.encode()
        else:
            sub.json_body, sub.has_json_body = body, True
    return sub


def _item_json(item_id: str, response: GraphResponse) -> dict:
    headers: dict[str, str] = {"Cache-Control": "no-cache"}
    headers.update(response.headers)
    body = response.body
    if body is not None and response.content_type:
        if response.status < 300 and response.content_type == JSON_CONTENT_TYPE:
            headers["OData-Version"] = "4.0"
        headers["Content-Type"] = response.content_type
        if isinstance(body, str):
            body = base64.b64encode(body.encode()).decode()
    return {"id": item_id, "status": response.status, "headers": headers, "body": body}


def run_batch(
    state: EmulatorState, req: GraphRequest, execute: Callable[..., GraphResponse]
) -> GraphResponse:
    """Answer a ``$batch`` envelope (raises EmulatedGraphError for a whole-batch 400)."""
    from lib.emulator.graph_api import GraphRequest, GraphResponse, emulator_stats, error_response

    items = _parse(req)
    stats = emulator_stats(state)
    faults = get_faults(state)
    statuses: dict[str, int] = {}
    out: list[dict] = []
    for item in items:
        item_id = str(item["id"])
        stats.batch_items += 1
        try:
            if any(statuses[d] >= 400 for d in item["_deps"]):
                raise EmulatedGraphError(424, "FailedDependency", FAILED_DEPENDENCY)
            sub = _item_request(req, item, item_id, GraphRequest)
            fault = faults.draw_item()
            if fault is not None:  # drawn before the item runs: a faulted write changed nothing
                stats.faults += 1
                raise fault_error(fault, state.config.time_scale)
            response = execute(state, sub, nested=True)
        except EmulatedGraphError as err:
            response = error_response(err, req.request_id, req.client_request_id)
        statuses[item_id.lower()] = response.status
        stats.count(response.status)
        out.append(_item_json(item_id, response))
    faults.shuffle(out)
    return GraphResponse(200, {"responses": out})
