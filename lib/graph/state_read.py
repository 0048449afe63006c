"""Per-user MFA states at the speed of a users listing, checked against the documented endpoint.

Real Graph serves ``perUserMfaState`` on the users listing (``$select``), undocumented (docs/graph.md):
one request reads 999 users where the documented ``authentication/requirements`` reads one. Because
it is undocumented, nothing here trusts it alone:

- a random sample (``SAMPLE_SIZE`` users, or all when fewer) is read through
  ``authentication/requirements`` as well; if any sampled user disagrees (or cannot be confirmed), the
  whole read is done again user by user, and the report says why;
- when the listing refuses the property (Graph's 400 "Could not find a property named
  'perUserMfaState'…"), the read goes user by user from the start.

A set of users (a plan's selection, a chunk's read-back) is read with ``$filter=id in (…)``, 15 ids per
request (Graph's limit), 20 requests per ``$batch`` (300 users per HTTP request); when that would take
more HTTP requests than listing the whole tenant (999 users a page), the whole listing is read instead
and the wanted users picked from it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lib.graph.batch import MAX_BATCH_SIZE, BatchItem, CancelLike, Progress
from lib.graph.errors import BadRequest, GraphError, MalformedResponse

__all__ = [
    "FALLBACK",
    "FAST",
    "IDS_PER_FILTER",
    "NOT_SERVED",
    "PROPERTY",
    "SAMPLE_SIZE",
    "StateRead",
    "cross_check",
    "is_refusal",
    "read_states",
]

PROPERTY = "perUserMfaState"
FAST = "users listing"
FALLBACK = "per-user reads"
SAMPLE_SIZE = 20
IDS_PER_FILTER = 15
"""Graph's limit on the values of one ``in`` (docs/graph.md)."""
_STATES = frozenset({"disabled", "enabled", "enforced"})
NOT_SERVED = "Microsoft Graph does not list per-user MFA states with the users"
"""The reason when Graph refuses ``$select=perUserMfaState`` on the listing."""


@dataclass(frozen=True)
class StateRead:
    """Which way the states were read, and why: what the snapshot record, the CLI and the page show."""

    path: str
    """``FAST`` ("users listing") or ``FALLBACK`` ("per-user reads")."""
    reason: str | None = None
    """Why the per-user reads were used (None on the fast path)."""
    sampled: int = 0
    """Users cross-checked against ``authentication/requirements``."""
    disagreed: int = 0
    """Sampled users whose listed state differed from the documented endpoint (or could not be read)."""

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "sampled": self.sampled, "disagreed": self.disagreed}


def is_refusal(error: BaseException) -> bool:
    """Graph's answer when it does not serve ``perUserMfaState`` on the listing: a 400 naming it."""
    return isinstance(error, GraphError) and error.status == 400 and PROPERTY.lower() in str(error).lower()


async def cross_check(
    aio: Any, listed: Mapping[str, Any], *, rng: random.Random | None = None, cancel: CancelLike | None = None
) -> StateRead:
    """Compare the listed states of a random sample with ``authentication/requirements``.

    Returns the fast path's report when every sampled user agrees, else the fallback's with the reason.
    """
    ids = list(listed)
    if not ids:
        return StateRead(FAST)
    missing = [uid for uid in ids if listed[uid] not in _STATES]
    if missing:
        return StateRead(FALLBACK, f"the users listing left out the per-user MFA state of {len(missing)} of "
                         f"{len(ids)} users", 0, 0)
    sample = (rng or random.Random()).sample(ids, min(SAMPLE_SIZE, len(ids)))
    documented = await aio.read_mfa_states(sample, cancel=cancel)
    unread = [uid for uid in sample if not isinstance(documented.get(uid), str)]
    differ = [uid for uid in sample if isinstance(documented.get(uid), str) and documented[uid] != listed[uid]]
    if differ:
        return StateRead(FALLBACK, f"{len(differ)} of {len(sample)} users checked at random had another state in "
                         "the users listing than in their own MFA settings", len(sample), len(differ))
    if unread:
        return StateRead(FALLBACK, f"{len(unread)} of {len(sample)} users checked at random could not be read "
                         "one by one to confirm the users listing", len(sample), len(unread))
    return StateRead(FAST, None, len(sample), 0)


UsersRead = Callable[[int, int], Any]
"""Told ``(users read, users to read)`` as a read goes, whichever path it takes."""


def _told(on_progress: UsersRead | None, total: int, per_item: int = 1) -> Callable[[Progress], None] | None:
    """The executor's progress (items done) as users read, for a caller that counts users."""
    if on_progress is None:
        return None
    return lambda progress: on_progress(min(progress.done * per_item, total), total)


def _filter_url(ids: list[str]) -> str:
    quoted = ",".join("'" + uid.replace("'", "''") + "'" for uid in ids)
    return f"/users?$filter=id in ({quoted})&$select=id,{PROPERTY}&$top={len(ids)}"


async def _listed_states_of(aio: Any, ids: list[str], tenant_size: int | None,
                            cancel: CancelLike | None, on_progress: UsersRead | None = None) -> dict[str, Any]:
    """``{id: listed state}`` for ``ids`` from the users listing (raises ``BadRequest`` when refused)."""
    batches = math.ceil(len(ids) / (IDS_PER_FILTER * MAX_BATCH_SIZE))
    pages = math.ceil(tenant_size / aio.options.page_size) if tenant_size else None
    if pages is not None and pages < batches:  # the whole listing is fewer HTTP requests
        wanted = set(ids)
        listed: dict[str, Any] = {}
        params = {"$select": ["id", PROPERTY], "$top": aio.options.page_size}
        seen = 0
        async for page in aio.iter_pages("/users", params=params, cancel=cancel):
            for row in page:
                if row.get("id") in wanted:
                    listed[row["id"]] = row.get(PROPERTY)
            seen += len(page)
            if on_progress is not None:
                on_progress(min(len(ids), seen * len(ids) // max(tenant_size or 1, 1)), len(ids))
        return listed
    items = [BatchItem(n, "GET", _filter_url(ids[start:start + IDS_PER_FILTER]))
             for n, start in enumerate(range(0, len(ids), IDS_PER_FILTER))]
    report = await aio.execute(items, version="v1.0", cancel=cancel,
                               on_progress=_told(on_progress, len(ids), IDS_PER_FILTER))
    if report.abort_error is not None:
        raise report.abort_error
    listed = {}
    for result in report.results:
        if not result.ok:
            error = result.error or MalformedResponse("the users listing gave no answer", status=result.status)
            raise error
        value = result.body.get("value") if isinstance(result.body, dict) else None
        if not isinstance(value, list):
            raise MalformedResponse("the users listing answer has no 'value' list", status=result.status)
        for row in value:
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                listed[row["id"]] = row.get(PROPERTY)
    return listed


async def read_states(
    aio: Any,
    user_ids: Iterable[str],
    *,
    tenant_size: int | None = None,
    rng: random.Random | None = None,
    cancel: CancelLike | None = None,
    on_progress: UsersRead | None = None,
) -> tuple[dict[str, str | GraphError], StateRead]:
    """The per-user MFA state of each of ``user_ids``, the fast way when Graph serves it and it checks out.

    Returns what :meth:`AsyncGraph.read_mfa_states` returns (``{id: state | GraphError}``) and how it
    was read. ``tenant_size`` (users in the tenant, e.g. the snapshot's) lets a large set be read from
    the whole listing; ``on_progress`` is told users read of the total as the main read goes. Users the
    listing does not show (deleted since) are read one by one, so they
    get the documented endpoint's answer (404).
    """
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}, StateRead(FAST)
    per_user = _told(on_progress, len(ids))
    if len(ids) <= SAMPLE_SIZE:  # the sample would be every user: the per-user reads alone are cheaper
        return (await aio.read_mfa_states(ids, cancel=cancel, on_progress=per_user),
                StateRead(FALLBACK, f"only {len(ids)} users: reading them one by one costs no more than "
                                    "checking them"))
    try:
        listed = await _listed_states_of(aio, ids, tenant_size, cancel, on_progress)
    except BadRequest as err:
        if not is_refusal(err):
            raise
        return (await aio.read_mfa_states(ids, cancel=cancel, on_progress=per_user),
                StateRead(FALLBACK, NOT_SERVED))
    present = {uid: listed[uid] for uid in ids if uid in listed}
    check = await cross_check(aio, present, rng=rng, cancel=cancel)
    if check.path == FALLBACK:
        return await aio.read_mfa_states(ids, cancel=cancel, on_progress=per_user), check
    out: dict[str, str | GraphError] = {uid: present[uid] for uid in ids if uid in present}
    absent = [uid for uid in ids if uid not in present]
    if absent:
        out.update(await aio.read_mfa_states(absent, cancel=cancel))
    return {uid: out[uid] for uid in ids}, check
