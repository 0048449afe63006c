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
from collections.abc import Iterable
from typing import Any

import pandas as pd

from lib.columns import STATES, UNKNOWN_STATE

__all__ = ["with_current_states"]

log = logging.getLogger("lib.rollout")


def with_current_states(gateway: Any, frame: pd.DataFrame, user_ids: Iterable[str], *, cancel: Any = None,
                        read_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose ``state`` (and ``state_read_at``) of ``user_ids`` is what Graph says now.

    Users whose state cannot be read get ``unknown`` (a plan skips them: "re-read first"); ids not in
    the frame are ignored (a plan lists them as unknown users). Raises ``GraphError`` only for a
    failure of the whole read (no token, no network).
    """
    wanted = set(user_ids)
    present = frame["id"].isin(list(wanted)) if wanted else pd.Series(False, index=frame.index)
    ids = frame.loc[present, "id"].astype(str).tolist()
    out = frame.copy()
    if not ids:
        return out
    current, how = gateway.read_states(ids, tenant_size=len(frame), cancel=cancel)
    log.info("re-read %d users' per-user MFA state (%s%s)", len(ids), how.path,
             f": {how.reason}" if how.reason else "")
    fresh = {uid: (s if isinstance(s, str) and s in STATES else UNKNOWN_STATE) for uid, s in current.items()}
    out.loc[present, "state"] = out.loc[present, "id"].map(fresh).fillna(UNKNOWN_STATE).astype("string")
    out.loc[present, "state_read_at"] = read_at if read_at is not None else pd.Timestamp.now(tz="UTC")
    return out
