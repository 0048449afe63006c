"""Fresh per-user MFA states for a plan: the snapshot's facts, with the selected users' states read now.

A snapshot may be hours old and does not show what operations changed since; a plan made from it
could skip a user as "already Disabled" who was Enforced an hour ago. Reading the states of just the
selected users (on the read budget, not the write one) fixes that before the preview: from the users
listing (``$filter=id in (…)``, or the whole listing for a large selection) when Graph serves the state
there and a sample agrees with ``authentication/requirements``, else user by user (batched GETs, 20 per
request; ``lib.graph.state_read``). Execution re-reads them again just before sending in any case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from lib.columns import STATES, UNKNOWN_STATE, ids_among

__all__ = ["ReadProgress", "with_current_states"]

ReadProgress = Callable[[int, int], Any]
"""Told ``(users read, users to read)`` as the re-read goes: whatever way the states are read, a caller
(a background plan) shows the same two numbers."""

log = logging.getLogger("lib.rollout")


def with_current_states(gateway: Any, frame: pd.DataFrame, user_ids: Iterable[str], *, cancel: Any = None,
                        read_at: pd.Timestamp | None = None,
                        on_progress: ReadProgress | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose ``state`` (and ``state_read_at``) of ``user_ids`` is what Graph says now.

    Users whose state cannot be read get ``unknown`` (a plan skips them: "re-read first"); ids not in
    the frame are ignored (a plan lists them as unknown users). Raises ``GraphError`` only for a
    failure of the whole read (no token, no network). ``on_progress`` is told ``(read, total)`` as
    answers come back (on the gateway's loop thread: it must only record the numbers).
    """
    wanted = set(user_ids)
    present = ids_among(frame["id"], wanted)
    ids = frame.loc[present, "id"].astype(str).tolist()
    out = frame.copy()
    if not ids:
        return out
    if on_progress is not None:
        on_progress(0, len(ids))

    def told(done: int, total: int) -> None:  # after a cancel the executor counts the unsent as done: not read
        if on_progress is not None and not (cancel is not None and cancel.is_set()):
            on_progress(done, total)

    current, how = gateway.read_states(ids, tenant_size=len(frame), cancel=cancel,
                                       on_progress=told if on_progress is not None else None)
    log.info("re-read %d users' per-user MFA state (%s%s)", len(ids), how.path,
             f": {how.reason}" if how.reason else "")
    fresh = {uid: (s if isinstance(s, str) and s in STATES else UNKNOWN_STATE) for uid, s in current.items()}
    out.loc[present, "state"] = out.loc[present, "id"].map(fresh).fillna(UNKNOWN_STATE).astype("string")
    out.loc[present, "state_read_at"] = read_at if read_at is not None else pd.Timestamp.now(tz="UTC")
    return out
