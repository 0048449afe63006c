"""``plan``: what a bulk change would do, before anything is sent. A pure function over the users frame.

A plan says, for every selected user, either *change* (from what, to what was asked, and the state
Entra will leave them in) or *skip* with a stable reason code and a sentence a person understands,
plus warnings about the set as a whole. Execution re-checks each item against the live state, so a
plan made from a snapshot an hour old is still safe to run.

The *expected* state follows Entra's per-user MFA rules (docs/graph.md, *Lifecycle*, the one place
they are written down): enabling a user who already registered a second factor makes them Enforced
at once, except a user an admin disabled since they last registered (re-enabled, they stay Enabled
until they register again: ``lib.rollout.reregistration`` finds them); every other request leaves
the user in the requested state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from lib.columns import STATES, ids_among
from lib.exports import to_csv_bytes
from lib.rollout.actor import actor_kind
from lib.rollout.protected import Protection, as_protection, upn_key

__all__ = [
    "CHANGE_COLUMNS",
    "KINDS",
    "NOTE_COLUMNS",
    "SKIP_CODES",
    "SKIP_COLUMNS",
    "WARNING_CODES",
    "LegacyUse",
    "Plan",
    "PlanWarning",
    "expected_state",
    "plan",
]

KINDS: tuple[str, ...] = ("apply", "undo")

SKIP_CODES: dict[str, str] = {
    "unknown_user": "not in the tenant's latest snapshot (deleted, or a typo)",
    "protected": "protected account",
    "likely_break_glass": "looks like a break-glass (emergency access) account: protect it on the Protected "
                          "accounts page",
    "state_unknown": "MFA state unknown: refresh the snapshot (re-read) first",
    "already_in_state": "already in that state",
    "already_stronger": "already Enforced: Enabled would be a step back",
    "account_disabled": "account disabled: it cannot sign in to register",
    "self_lockout": "this is you, and you have no registered method: it would lock you out",
    "moved_on": "moved on since the operation: not reverted",
    "cannot_restore_enabled": "registered: Entra turns Enabled into Enforced for a registered user, so "
                              "Enabled cannot be restored",
    # decided when the worker re-reads the state just before sending:
    "state_changed": "state changed since the preview",
    "changed_by_later_operation": "a later operation changed this user: not re-sent",
    # the protection plans (lib.rollout.coverage_plans), decided from the snapshot's coverage:
    "not_registered_yet": "has not registered a second factor yet: per-user MFA stays until they do",
    "coverage_partial": "Conditional Access requires MFA only for some apps or conditions",
    "coverage_blocked": "blocked by Conditional Access, not asked for MFA",
    "coverage_report_only": "only a report-only Conditional Access policy would require MFA",
    "coverage_excluded": "excluded from the Conditional Access MFA policy",
    "coverage_per_user_only": "per-user MFA is their only MFA",
    "coverage_unknown": "coverage unknown (Conditional Access or security defaults could not be read): "
                        "refresh the snapshot",
    "already_covered": "already covered by MFA",
    # wave promotion (lib.rollout.waves.promote_plan), decided from the sign-in evidence:
    "not_ready": "not ready to enforce yet (see the reason)",
}
"""Every reason a user can be skipped: stable code → the gist (a row's ``reason`` adds its details)."""

WARNING_CODES: tuple[str, ...] = (
    "admins", "must_register", "stays_enabled", "app_passwords", "legacy_clients", "legacy_unchecked",
    "service_accounts", "guests", "not_applied",
)

CHANGE_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "before": "string",
    "requested": "string",
    "expected": "string",
    "registered": "bool",
    "is_admin": "bool",
}
"""Columns of :attr:`Plan.changes`, in order."""

SKIP_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "before": "string",
    "requested": "string",
    "code": "string",
    "reason": "string",
}
"""Columns of :attr:`Plan.skipped`, in order."""

NOTE_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "client": "string",
    "last_used": "datetime64[ns, UTC]",
    "effect": "string",
    "note": "string",
}
"""Columns of :attr:`Plan.notes`: one row per user and legacy client an Enforce would break."""

_STATE_LABEL = {"disabled": "Disabled", "enabled": "Enabled", "enforced": "Enforced"}


def _label(state: Any) -> str:
    return _STATE_LABEL.get(state, str(state) if isinstance(state, str) and state else "unknown")


def _protected_reason(protection: Protection, user_id: str, upn: str) -> str:
    found = protection.find(user_id, upn)
    detail = found.describe() if found is not None else ""
    return f"protected account ({detail})" if detail else "protected account"


def expected_state(before: str, requested: str, registered: bool, reregistration_due: bool = False) -> str:
    """The state Entra leaves a user in after ``requested`` (docs/graph.md, *Lifecycle*).

    Enabled + a registered second factor → Enforced, unless an admin disabled the user since they
    registered (``reregistration_due``): then Enabled stays Enabled. ``before`` does not change the
    outcome of a request Entra accepts (a plan skips the requests it would refuse or undo).
    """
    if requested == "enabled" and registered and not reregistration_due:
        return "enforced"
    return requested


@dataclass(frozen=True)
class PlanWarning:
    """Something about the set that deserves a second look; ``user_ids`` are the users concerned."""

    code: str
    message: str
    count: int
    user_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegacyUse:
    """A legacy client a user signed in with lately: the client, the last use, and what Enforced does to it
    (worded by the caller, who knows the evidence)."""

    client: str
    last_used: datetime
    note: str
    """The whole warning, e.g. "signed in with IMAP4 on 28 Nov: Enforced breaks this client unless …"."""
    effect: str = ""
    """What Enforced does to the client, without the client and date (the preview's "What happens")."""


@dataclass(frozen=True)
class Plan:
    """The preview of one bulk change. Build it with :func:`plan`; never edit its frames."""

    kind: str
    requested_state: str | None
    """The one state asked for, or None when it varies per user (CSV with states, undo)."""
    changes: pd.DataFrame
    """One row per user that will be changed (:data:`CHANGE_COLUMNS`), in selection order."""
    skipped: pd.DataFrame
    """One row per selected user left alone (:data:`SKIP_COLUMNS`), with ``code`` and ``reason``."""
    warnings: tuple[PlanWarning, ...]
    actor: str
    actor_kind: str
    actor_can_apply: bool
    source: str = "selection"
    undo_of: int | None = None
    created_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now(tz="UTC"))
    notes: pd.DataFrame = field(default_factory=lambda: _empty(NOTE_COLUMNS))
    """Per-user notes on the changes (:data:`NOTE_COLUMNS`): legacy clients an Enforce breaks."""

    @property
    def selected(self) -> int:
        return len(self.changes) + len(self.skipped)

    @property
    def change_ids(self) -> list[str]:
        return self.changes["user_id"].tolist()

    def skip_counts(self) -> dict[str, int]:
        """Skipped users per reason code (codes in :data:`SKIP_CODES` order)."""
        counts = self.skipped["code"].value_counts()
        return {code: int(counts[code]) for code in SKIP_CODES if code in counts.index}

    def expected_counts(self) -> dict[str, int]:
        """Changes per expected resulting state."""
        counts = self.changes["expected"].value_counts()
        return {state: int(counts[state]) for state in STATES if state in counts.index}

    def transitions(self) -> pd.DataFrame:
        """``before``, ``expected``, ``users``: who changes from what to what, counted."""
        if self.changes.empty:
            return pd.DataFrame({"before": pd.Series(dtype="string"), "expected": pd.Series(dtype="string"),
                                 "users": pd.Series(dtype="int64")})
        grouped = self.changes.groupby(["before", "expected"], observed=True).size()
        return grouped.rename("users").reset_index().astype({"users": "int64"})

    def needs_typed_confirmation(self, threshold: int = 50) -> bool:
        """True when the confirmation dialog should ask for the count to be typed (above ``threshold``)."""
        return len(self.changes) > threshold

    def skip_users(self, reasons: Mapping[str, tuple[str, str]]) -> Plan:
        """A copy with the given changes turned into skips (user id → (code, reason)); warnings kept."""
        mask = self.changes["user_id"].isin(list(reasons))
        if not mask.any():
            return self
        moved = self.changes.loc[mask]
        extra = pd.DataFrame({
            "user_id": moved["user_id"], "upn": moved["upn"], "display_name": moved["display_name"],
            "before": moved["before"], "requested": moved["requested"],
            "code": [reasons[u][0] for u in moved["user_id"]], "reason": [reasons[u][1] for u in moved["user_id"]],
        })
        skipped = _typed(pd.concat([self.skipped, extra], ignore_index=True), SKIP_COLUMNS)
        notes = self.notes.loc[~self.notes["user_id"].isin(list(reasons))].reset_index(drop=True)
        return replace(self, changes=self.changes.loc[~mask].reset_index(drop=True), skipped=skipped, notes=notes)

    def enforced_ids(self) -> list[str]:
        """The users this plan leaves Enforced."""
        return self.changes.loc[self.changes["expected"] == "enforced", "user_id"].tolist()

    def with_legacy_use(self, facts: Mapping[str, Sequence[LegacyUse]] | None, *,
                        unchecked: str | None = None) -> Plan:
        """A copy that warns, user by user, about the legacy clients its Enforced changes would break.

        ``facts`` holds each user's legacy clients of the last 30 days (users without any may be left
        out); None means the sign-in log could not be checked, and ``unchecked`` says why. A plan that
        leaves nobody Enforced is returned as it is."""
        enforced = self.enforced_ids()
        if not enforced:
            return self
        if facts is None:
            text = "The sign-in log could not be checked for legacy clients"
            text += f": {unchecked}" if unchecked else "."
            warning = PlanWarning("legacy_unchecked", text, len(enforced), tuple(enforced))
            return replace(self, warnings=_in_order((*self.warnings, warning)), notes=_empty(NOTE_COLUMNS))
        names = self.changes.set_index("user_id")
        rows = [{"user_id": uid, "upn": names.at[uid, "upn"], "display_name": names.at[uid, "display_name"],
                 "client": use.client, "last_used": pd.Timestamp(use.last_used), "effect": use.effect or use.note,
                 "note": use.note}
                for uid in enforced for use in sorted(facts.get(uid, ()), key=lambda u: u.last_used, reverse=True)]
        notes = pd.DataFrame(rows, columns=list(NOTE_COLUMNS)) if rows else _empty(NOTE_COLUMNS)
        if rows:
            notes["last_used"] = pd.to_datetime(notes["last_used"], utc=True)
            notes = notes.astype({c: t for c, t in NOTE_COLUMNS.items() if t == "string"})
        users = tuple(dict.fromkeys(notes["user_id"].tolist()))
        warnings = self.warnings
        if users:
            count = len(users)
            text = (f"{_count(count, 'user', 'users')} signed in with a legacy client in the last 30 days: "
                    "Enforced breaks those clients unless an app password is set up (see each user below)")
            warnings = _in_order((*warnings, PlanWarning("legacy_clients", text, count, users)))
        return replace(self, warnings=warnings, notes=notes)

    def notes_by_user(self) -> dict[str, str]:
        """User id → their notes in one line (for the dry-run CSV)."""
        out: dict[str, list[str]] = {}
        for uid, note in zip(self.notes["user_id"], self.notes["note"], strict=True):
            out.setdefault(str(uid), []).append(str(note))
        return {uid: "; ".join(notes) for uid, notes in out.items()}

    def to_frame(self) -> pd.DataFrame:
        """Every selected user, one row each: ``action`` change or skip, then the details."""
        notes = self.notes_by_user()
        changes = self.changes.assign(action="change", code=pd.NA, reason=pd.NA,
                                      warning=[notes.get(str(u), pd.NA) for u in self.changes["user_id"]])
        skipped = self.skipped.assign(action="skip", expected=pd.NA, warning=pd.NA)
        columns = ["action", "user_id", "upn", "display_name", "before", "requested", "expected", "code", "reason",
                   "warning"]
        frame = pd.concat([changes[columns], skipped[columns]], ignore_index=True)
        return frame.astype({c: "string" for c in columns})

    def to_csv(self) -> bytes:
        """The dry-run download: :meth:`to_frame` as CSV (formula cells neutralised, UTF-8 with BOM)."""
        return to_csv_bytes(self.to_frame())

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (journaled with the operation, printed by the CLI)."""
        return {
            "kind": self.kind,
            "requested_state": self.requested_state,
            "source": self.source,
            "actor": self.actor,
            "selected": self.selected,
            "changes": len(self.changes),
            "skipped": len(self.skipped),
            "expected": self.expected_counts(),
            "skipped_by_reason": self.skip_counts(),
            "warnings": [{"code": w.code, "message": w.message, "count": w.count} for w in self.warnings],
            "undo_of": self.undo_of,
            **({"user_warnings": [
                {"user_id": str(r.user_id), "upn": None if pd.isna(r.upn) else str(r.upn), "client": str(r.client),
                 "last_used": r.last_used.isoformat().replace("+00:00", "Z"), "warning": str(r.note)}
                for r in self.notes.itertuples(index=False)]} if len(self.notes) else {}),
        }


def _in_order(warnings: Iterable[PlanWarning]) -> tuple[PlanWarning, ...]:
    """Warnings in :data:`WARNING_CODES` order (the legacy-client ones next to the app-password one)."""
    rank = {code: i for i, code in enumerate(WARNING_CODES)}
    return tuple(sorted(warnings, key=lambda w: rank.get(w.code, len(rank))))


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    return frame.loc[:, list(columns)].astype(dict(columns)).reset_index(drop=True)


def _empty(columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


def _selection(
    requested_state: str | None, selection_ids: Iterable[str] | None, targets: Mapping[str, str] | None
) -> tuple[list[str], list[str]]:
    if targets is not None:
        if requested_state is not None and selection_ids is not None:
            raise ValueError("give either requested_state with selection_ids, or targets, not both")
        ids = [str(uid) for uid in targets]
        states = [targets[uid] for uid in targets]
    else:
        if requested_state is None:
            raise ValueError("requested_state is required (or targets: user id → state)")
        if selection_ids is None:
            raise ValueError("selection_ids is required")
        if isinstance(selection_ids, str):
            raise TypeError("selection_ids must be a collection of user ids, not a single string")
        ids = list(dict.fromkeys(str(uid) for uid in selection_ids))
        states = [requested_state] * len(ids)
    for uid, state in zip(ids, states, strict=True):
        if state not in STATES:
            raise ValueError(f"requested state must be one of {', '.join(STATES)}, got {state!r} for {uid}")
    return ids, states


def plan(
    frame: pd.DataFrame,
    requested_state: str | None = None,
    selection_ids: Iterable[str] | None = None,
    *,
    protected: Any = None,
    actor: Any,
    kind: str = "apply",
    targets: Mapping[str, str] | None = None,
    left_states: Mapping[str, str] | None = None,
    undo_of: int | None = None,
    include_break_glass: bool = False,
    source: str = "selection",
    reregistration_due: Iterable[str] = (),
) -> Plan:
    """Preview changing ``selection_ids`` to ``requested_state`` (or each user to ``targets[id]``).

    ``frame`` is a users frame (``lib.columns``); its ``state`` is taken as each user's current state
    (for an undo, pass the states just re-read: see ``lib.rollout.undo.undo_preview``). ``protected``
    is a :class:`~lib.rollout.protected.Protection`, ProtectedAccount records or UPN strings.
    ``actor`` has ``upn`` and ``can_change_mfa``; the plan never refuses a read-only actor (the
    preview is allowed), it records ``actor_can_apply`` and execution refuses.

    ``kind='undo'`` takes ``targets`` (user → state to restore) and ``left_states`` (user → state the
    undone operation left them in): a user whose current state is neither is skipped as ``moved_on``.
    Accounts classified ``break_glass`` are skipped unless ``include_break_glass``.
    ``reregistration_due`` are the users an admin disabled since they registered
    (``lib.rollout.reregistration.awaiting_reregistration``): Enable leaves them Enabled.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "undo" and (targets is None or left_states is None):
        raise ValueError("an undo plan needs targets (states to restore) and left_states")
    if actor is None or not hasattr(actor, "upn"):
        raise ValueError("actor is required (an object with upn and can_change_mfa)")
    ids, wanted = _selection(requested_state, selection_ids, targets)
    protection: Protection = as_protection(protected)

    sub = frame.loc[ids_among(frame["id"], ids)].drop_duplicates("id").set_index("id", drop=False)
    present = set(sub.index)
    requested_by_id = dict(zip(ids, wanted, strict=True))
    order = [uid for uid in ids if uid in present]
    sub = sub.loc[order] if order else sub.iloc[0:0]
    unknown = [uid for uid in ids if uid not in present]

    n = len(sub)
    upn_series = sub["upn"].fillna("").astype(str)
    upn = upn_series.to_numpy(dtype=object)
    before = sub["state"].fillna("unknown").astype(str).to_numpy(dtype=object)
    requested = np.array([requested_by_id[uid] for uid in order], dtype=object)
    registered = sub["registered"].astype(bool).to_numpy()
    enabled_account = sub["account_enabled"].astype(bool).to_numpy()
    kinds = sub["account_kind"].fillna("").astype(str).to_numpy(dtype=object)
    upn_keys = upn_series.str.strip().str.casefold().to_numpy(dtype=object)
    no_one = np.zeros(n, dtype=bool)
    # by object id first, so a protected account renamed in the tenant stays protected
    is_protected = (np.fromiter((protection.find(uid, u) is not None for uid, u in zip(order, upn, strict=True)),
                                dtype=bool, count=n) if len(protection) else no_one)
    state_known = np.isin(before, STATES)
    actor_key = upn_key(str(getattr(actor, "upn", "") or ""))
    is_self = (upn_keys == actor_key) if actor_key else np.zeros(n, dtype=bool)
    left = np.array([(left_states or {}).get(uid, "") for uid in order], dtype=object)

    code = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)

    def rule(mask: np.ndarray, name: str, text: Any = None) -> None:
        """Skip the rows of ``mask`` not skipped yet; ``text(i)`` words row i's reason (default: the gist)."""
        pick = mask & (code == "")
        code[pick] = name
        if text is None:
            reason[pick] = SKIP_CODES[name]
        else:
            for i in pick.nonzero()[0]:
                reason[i] = text(i)

    rule(is_protected, "protected", lambda i: _protected_reason(protection, order[i], upn[i]))
    if not include_break_glass:
        rule(kinds == "break_glass", "likely_break_glass")
    rule(~state_known, "state_unknown")
    same = before == requested
    already = lambda i: f"already {_label(requested[i])}"  # noqa: E731
    if kind == "undo":
        moved = (left != "") & (before != left) & ~same
        rule(moved & state_known, "moved_on",
             lambda i: f"moved on since the operation: it left {_label(left[i])}, now {_label(before[i])}; "
                       "not reverted")
        rule(same, "already_in_state", already)
        rule((requested == "enabled") & registered & (before == "enforced"), "cannot_restore_enabled")
    else:
        rule(same, "already_in_state", already)
        rule((requested == "enabled") & (before == "enforced"), "already_stronger")
        rule(~enabled_account & (requested != "disabled"), "account_disabled")
    rule(is_self & ~registered & (requested != "disabled"), "self_lockout",
         lambda i: f"this is you, and you have no registered method: {_label(requested[i])} would lock you out")

    due_ids = set(map(str, reregistration_due))
    due = np.fromiter((uid in due_ids for uid in order), dtype=bool, count=n)
    expected = np.where((requested == "enabled") & registered & ~due, "enforced", requested)
    change_mask = code == ""

    changes = sub.loc[change_mask, ["id", "upn", "display_name", "registered", "is_admin"]].rename(
        columns={"id": "user_id"})
    changes = changes.assign(before=before[change_mask], requested=requested[change_mask],
                             expected=expected[change_mask])
    changes = _typed(changes, CHANGE_COLUMNS) if len(changes) else _empty(CHANGE_COLUMNS)

    skip_known = sub.loc[~change_mask, ["id", "upn", "display_name"]].rename(columns={"id": "user_id"})
    skip_known = skip_known.assign(before=before[~change_mask], requested=requested[~change_mask],
                                   code=code[~change_mask], reason=reason[~change_mask])
    skip_unknown = pd.DataFrame({
        "user_id": unknown, "upn": [None] * len(unknown), "display_name": [None] * len(unknown),
        "before": [None] * len(unknown), "requested": [requested_by_id[u] for u in unknown],
        "code": ["unknown_user"] * len(unknown), "reason": [SKIP_CODES["unknown_user"]] * len(unknown),
    })
    parts = [p for p in (skip_known, skip_unknown) if len(p)]
    skipped = _typed(pd.concat(parts, ignore_index=True), SKIP_COLUMNS) if parts else _empty(SKIP_COLUMNS)
    if len(skipped):  # keep the selection order across known and unknown users
        position = {uid: i for i, uid in enumerate(ids)}
        skipped = skipped.iloc[np.argsort([position[u] for u in skipped["user_id"]], kind="stable")]
        skipped = skipped.reset_index(drop=True)

    warnings = _warnings(sub.loc[change_mask], changes, kind)
    requested_single = requested_state if targets is None else None
    return Plan(
        kind=kind,
        requested_state=requested_single,
        changes=changes,
        skipped=skipped,
        warnings=tuple(warnings),
        actor=str(getattr(actor, "upn", "") or ""),
        actor_kind=actor_kind(actor),
        actor_can_apply=bool(getattr(actor, "can_change_mfa", False)),
        source=source,
        undo_of=undo_of,
    )


def _count(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _warnings(rows: pd.DataFrame, changes: pd.DataFrame, kind: str) -> list[PlanWarning]:
    out: list[PlanWarning] = []
    if changes.empty:
        return out
    ids = changes["user_id"].to_numpy(dtype=object)
    expected = changes["expected"].to_numpy(dtype=object)
    registered = changes["registered"].to_numpy(dtype=bool)
    stronger = np.isin(expected, ("enabled", "enforced"))

    def add(code: str, mask: np.ndarray, one: str, many: str) -> None:
        count = int(mask.sum())
        if count:
            text = (one if count == 1 else many).format(n=f"{count:,}")
            out.append(PlanWarning(code, text, count, tuple(ids[mask])))

    add("admins", changes["is_admin"].to_numpy(dtype=bool),
        "1 administrator is in the set: make sure they have a registered method and a way back in",
        "{n} administrators are in the set: make sure each has a registered method and a way back in")
    add("must_register", stronger & ~registered,
        "1 user has no registered method: they will be asked to register at their next sign-in",
        "{n} users have no registered method: they will be asked to register at their next sign-in")
    add("stays_enabled", (changes["requested"].to_numpy(dtype=object) == "enabled") & registered
        & (expected == "enabled"),
        "1 registered user was disabled by an admin since registering: Entra leaves them Enabled until they "
        "register again (set Enforced to require MFA now)",
        "{n} registered users were disabled by an admin since registering: Entra leaves them Enabled until they "
        "register again (set Enforced to require MFA now)")
    add("app_passwords", expected == "enforced",
        "1 user will be Enforced: legacy clients (old Office, IMAP/POP, SMTP AUTH) then need app passwords",
        "{n} users will be Enforced: legacy clients (old Office, IMAP/POP, SMTP AUTH) then need app passwords")
    kinds = rows["account_kind"].fillna("").astype(str).to_numpy(dtype=object)
    add("service_accounts", np.isin(kinds, ("service", "shared")) & stronger,
        "1 service or shared account is in the set: sign-ins that cannot answer MFA will break",
        "{n} service or shared accounts are in the set: sign-ins that cannot answer MFA will break")
    add("guests", rows["is_guest"].astype(bool).to_numpy() & stronger,
        "1 guest is in the set: they register in your tenant, apart from their home tenant",
        "{n} guests are in the set: they register in your tenant, apart from their home tenant")
    return out
