"""Which users each policy reaches, for the whole tenant at once, in time proportional to the policies' reach.

A user's placement under policy *i* is 0 (not included), 1 (included) or 2 (included but excluded: exclusion
wins), packed two bits per policy into one integer code. Policies that include everyone set their bits in a
shared ``base`` and only their exclusions are visited; other policies visit only the users they name (group
and role members already expanded). So 100k users under "All users" policies cost a few set operations, not
100k × policies look-ups, and users with the same code share one verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from lib.protection.policy import CompiledPolicy, Side

__all__ = ["INCLUDED", "INCLUDED_BUT_EXCLUDED", "guest_excluded", "guest_included", "place", "placement_at"]

INCLUDED = 1
INCLUDED_BUT_EXCLUDED = 2


def guest_included(side: Side, kinds: frozenset[str]) -> bool:
    """Whether a user who may be any of ``kinds`` is certainly included by the guest conditions of ``side``.

    Certainty is needed for an include: every possible kind must be named, and all external tenants.
    """
    return bool(kinds) and (side.any_guest or (side.all_tenants and bool(side.guest_kinds)
                                               and kinds <= side.guest_kinds))


def guest_excluded(side: Side, kinds: frozenset[str]) -> bool:
    """Whether a user who may be any of ``kinds`` may be excluded: any possible kind named is enough."""
    return bool(kinds) and (side.any_guest or bool(kinds & side.guest_kinds))


def _excluded(policy: CompiledPolicy, by_kind: Mapping[frozenset[str], Sequence[str]],
              everyone: Iterable[str]) -> set[str]:
    exclude = policy.exclude
    if exclude.everyone:
        return set(everyone)
    found = set(exclude.ids)
    for kinds, uids in by_kind.items():
        if guest_excluded(exclude, kinds):
            found.update(uids)
    return found


def place(policies: Sequence[CompiledPolicy], uids: Sequence[str],
          by_kind: Mapping[frozenset[str], Sequence[str]]) -> tuple[int, dict[str, int]]:
    """``(base, deltas)``: a user's code is ``base + deltas.get(uid, 0)``.

    ``uids`` are every user's lower-cased id; ``by_kind`` groups the ids of guests and external users by the
    Conditional Access guest kinds each may be (members are not in it).
    """
    base = 0
    deltas: dict[str, int] = {}
    for index, policy in enumerate(policies):
        one = INCLUDED << (2 * index)
        excluded = _excluded(policy, by_kind, uids)
        if policy.include.everyone:
            base += one
            for uid in excluded:
                deltas[uid] = deltas.get(uid, 0) + one
            continue
        included = set(policy.include.ids)
        for kinds, members in by_kind.items():
            if guest_included(policy.include, kinds):
                included.update(members)
        for uid in included:
            deltas[uid] = deltas.get(uid, 0) + (one * INCLUDED_BUT_EXCLUDED if uid in excluded else one)
    return base, deltas


def placement_at(code: int, index: int) -> int:
    """The placement (0, 1 or 2) under policy ``index`` packed in ``code``."""
    return (code >> (2 * index)) & 3
