"""Keeping the latest value of each user's volatile columns (last sign-in) without writing history.

People sign in daily, so versioning ``last_sign_in`` would make nearly every user "changed" on
every refresh. Instead each user has one ``user_latest`` row: the latest values, and ``snapshot_id``
— the first snapshot that saw them — which tells a reader from which snapshot on they are exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.store.diff import values_differ
from lib.store.schema import LATEST_COLUMNS

LATEST_DTYPES: dict[str, str] = {
    "id": "string",
    **{name: "datetime64[ns, UTC]" for name in LATEST_COLUMNS},
    "snapshot_id": "int64",
}
"""Columns of a latest-values frame: the ``user_latest`` rows of one tenant."""


def advance_latest(state: pd.DataFrame, users: pd.DataFrame, snapshot_id: int) -> pd.DataFrame:
    """The latest-values frame after snapshot ``snapshot_id`` saw ``users``.

    A user whose values changed, or who is new to the tenant, gets ``snapshot_id``; a user with the
    same values keeps the snapshot that first saw them; a user absent from ``users`` keeps their
    last values (the tenant's record of them, even after they leave).
    """
    position = pd.Index(state["id"].to_numpy(dtype=object, na_value=None)).get_indexer(
        users["id"].to_numpy(dtype=object, na_value=None)
    )
    known = position >= 0
    same_known = np.ones(int(known.sum()), dtype=bool)
    for name in LATEST_COLUMNS:
        same_known &= ~values_differ(users[name].array[known], state[name].array.take(position[known]))
    same = np.zeros(len(users), dtype=bool)
    same[known] = same_known
    since = np.full(len(users), snapshot_id, dtype=np.int64)
    since[same] = state["snapshot_id"].to_numpy(dtype=np.int64)[position[same]]
    seen = users.loc[:, ["id", *LATEST_COLUMNS]].assign(snapshot_id=since)
    absent = np.ones(len(state), dtype=bool)
    absent[position[known]] = False
    if not absent.any():
        return seen.reset_index(drop=True)
    return pd.concat([state[absent], seen], ignore_index=True)
