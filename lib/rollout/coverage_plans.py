"""Who the two protection plans pick, from the users frame's coverage columns: pure, no Graph.

* **Move covered users off per-user MFA.** Microsoft: "Disabled is the appropriate status for users who
  are using security defaults or Conditional Access based MFA", and "Don't enable or enforce per-user
  MFA if you use Conditional Access" (docs/graph.md, "Security defaults"). So a user whose per-user MFA
  is Enabled or Enforced *and* who is covered cleanly (an enabled policy requiring MFA for all cloud
  apps, or security defaults) and has registered is set to Disabled. Anyone covered only partly, by a
  report-only policy, or excluded, keeps per-user MFA: it is the only thing asking them for MFA
  everywhere, so the preview lists them with the reason.
* **Close the gap.** Users covered by nothing. Where Conditional Access is available the better fix is a
  Conditional Access policy (the same advice, read the other way round), so the preview recommends
  listing them for one and offers per-user Enable/Enforce as the alternative; without Entra ID P1
  per-user MFA is the way (security defaults would cover everyone, and no one would be in the gap).
  A user reached only by a report-only policy is in the gap: report-only never asks for MFA.

The columns come from the snapshot (``covered_by``, ``covered_by_policies``, ``protection_conflict``;
``lib.protection`` decides them). The plan itself is still :func:`lib.rollout.plan.plan`: protected
accounts, disabled accounts and the signed-in admin are skipped there, as for every change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from lib.protection import CoveredBy, label
from lib.rollout.errors import RolloutError
from lib.rollout.plan import SKIP_CODES, SKIP_COLUMNS, Plan

__all__ = [
    "CLOSE_GAP",
    "COVERAGE_COLUMNS",
    "MOVE_OFF",
    "ROUTES",
    "CoverageSelection",
    "CoverageUnknown",
    "close_gap_selection",
    "move_off_selection",
    "with_coverage_skips",
]

MOVE_OFF = "move_off_per_user"
"""The plan's ``source``: journaled with the operation, shown on the Operations page."""
CLOSE_GAP = "close_gap"

ROUTES: dict[str, str] = {
    "per_user": "per-user MFA",
    "conditional_access": "a Conditional Access policy",
}
"""Which fix a close-the-gap preview recommends (its ``route``) → words."""

COVERAGE_COLUMNS: dict[str, str] = {
    "user_id": "string",
    "upn": "string",
    "display_name": "string",
    "coverage": "string",
    "policies": "string",
}
"""Columns of :attr:`CoverageSelection.coverage`: what covers each considered user, in words."""

CLEAN = (CoveredBy.CA_ALL_APPS, CoveredBy.SECURITY_DEFAULTS)
"""Coverage that demands MFA on every sign-in without per-user MFA: the move-off plan may Disable."""

GAP = (CoveredBy.NOT_COVERED, CoveredBy.CA_UNAVAILABLE, CoveredBy.CA_REPORT_ONLY)
"""Covered by nothing: ``ca_unavailable`` is "not covered, and the tenant has no Conditional Access", and a
report-only policy never asks for MFA (docs/graph.md, the decision table)."""

PER_USER_ON = ("enabled", "enforced")


class CoverageUnknown(RolloutError, ValueError):
    """The users frame has no coverage columns (a snapshot taken before coverage was read)."""

    code = "coverage_unknown"


@dataclass(frozen=True)
class CoverageSelection:
    """Whom a protection plan would change, whom it lists and why, and what covers each of them."""

    source: str
    target_ids: tuple[str, ...]
    """Users the plan asks :func:`lib.rollout.plan.plan` to change (in frame order)."""
    skips: Mapping[str, tuple[str, str]]
    """Considered users it leaves alone: user id → (skip code of ``SKIP_CODES``, reason in words)."""
    coverage: pd.DataFrame
    """One row per considered user (:data:`COVERAGE_COLUMNS`): the coverage and the policies behind it."""
    route: str = "per_user"
    """Close the gap: ``conditional_access`` (recommended where CA exists) or ``per_user``; see :data:`ROUTES`."""
    recommendation: str = ""
    """One or two sentences for the preview: which fix applies, and why."""
    considered: int = 0
    """How many users of the scope the plan looked at (targets and listed skips)."""

    @property
    def skip_ids(self) -> tuple[str, ...]:
        return tuple(self.skips)

    def coverage_of(self, user_ids: Iterable[str]) -> pd.DataFrame:
        """The coverage rows of ``user_ids`` (e.g. a plan's changes), in their order."""
        ids = list(user_ids)
        rows = self.coverage.set_index("user_id", drop=False)
        return rows.loc[[u for u in ids if u in rows.index]].reset_index(drop=True)


def _scope(frame: pd.DataFrame, user_ids: Iterable[str] | None) -> pd.DataFrame:
    """The rows considered: ``user_ids`` (a page's selection) or the whole frame, with the coverage columns."""
    missing = [c for c in ("covered_by", "covered_by_policies") if c not in frame.columns]
    if missing or (len(frame) and not frame["covered_by"].notna().any()):
        raise CoverageUnknown("This snapshot does not say who is covered by MFA yet (it was taken before the "
                              "console read the tenant's policies): take a snapshot first.")
    if user_ids is None:
        return frame
    if isinstance(user_ids, str):
        raise TypeError("user_ids must be a collection of user ids, not a single string")
    wanted = set(map(str, user_ids))
    return frame.loc[frame["id"].astype(str).isin(wanted)]


def _covered(value: object) -> CoveredBy | None:
    try:
        return CoveredBy(str(value))
    except ValueError:
        return None


def _policies(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def _coverage_words(covered: CoveredBy | None, policies: str) -> str:
    if covered is None:
        return "Unknown: take a snapshot"
    return f"{label(covered)} ({policies})" if policies and covered is CoveredBy.CA_ALL_APPS else label(covered)


def _coverage_frame(rows: pd.DataFrame) -> pd.DataFrame:
    covered = [_covered(v) for v in rows["covered_by"]]
    policies = [_policies(v) for v in rows["covered_by_policies"]]
    frame = pd.DataFrame({
        "user_id": rows["id"].astype(str).tolist(), "upn": rows["upn"].tolist(),
        "display_name": rows["display_name"].tolist(),
        "coverage": [_coverage_words(c, p) for c, p in zip(covered, policies, strict=True)],
        "policies": policies,
    })
    return frame.astype(COVERAGE_COLUMNS).reset_index(drop=True)


def _named(what: str, policies: str) -> str:
    return f"{what} ({policies})" if policies else what


def _move_off_skip(covered: CoveredBy | None, policies: str, registered: bool) -> tuple[str, str] | None:
    """Why a per-user Enabled/Enforced user keeps per-user MFA, or None: they can move off it."""
    if covered in CLEAN:
        if registered:
            return None
        return ("not_registered_yet", "has not registered a second factor yet: per-user MFA stays until they do, "
                                      "so nothing asks less of them in the meantime")
    if covered is CoveredBy.CA_PARTIAL:
        return ("coverage_partial", _named("Conditional Access requires MFA only for some apps or conditions",
                                           policies) + ": per-user MFA still covers the rest")
    if covered is CoveredBy.BLOCKED:
        return ("coverage_blocked", _named("blocked by Conditional Access, not asked for MFA", policies)
                + ": per-user MFA left as it is")
    if covered is CoveredBy.CA_REPORT_ONLY:
        return ("coverage_report_only", _named("only a report-only policy would require MFA", policies)
                + ": it does not ask for MFA, per-user MFA does")
    if covered is CoveredBy.CA_EXCLUDED:
        return ("coverage_excluded", _named("excluded from the Conditional Access MFA policy", policies)
                + ": per-user MFA is their only MFA")
    if covered in (CoveredBy.CA_NOT_READABLE, CoveredBy.DEFAULTS_UNKNOWN) or covered is None:
        return "coverage_unknown", SKIP_CODES["coverage_unknown"]
    return ("coverage_per_user_only", "no Conditional Access policy for all cloud apps and no security defaults "
                                      "cover them (excluded, report-only or not included): per-user MFA is their "
                                      "only MFA")


def move_off_selection(frame: pd.DataFrame, user_ids: Iterable[str] | None = None) -> CoverageSelection:
    """Per-user Enabled/Enforced users to set Disabled: covered cleanly by CA all apps or security defaults,
    registered. Every other per-user Enabled/Enforced user of the scope is listed with the reason."""
    rows = _scope(frame, user_ids)
    rows = rows.loc[rows["state"].astype("string").isin(PER_USER_ON).fillna(False).astype(bool)]
    targets: list[str] = []
    skips: dict[str, tuple[str, str]] = {}
    for uid, covered, policies, registered in zip(
            rows["id"].astype(str), rows["covered_by"], rows["covered_by_policies"], rows["registered"],
            strict=True):
        skip = _move_off_skip(_covered(covered), _policies(policies), bool(registered))
        if skip is None:
            targets.append(uid)
        else:
            skips[uid] = skip
    text = ("Microsoft advises per-user MFA Disabled for users covered by Conditional Access or security "
            "defaults: they are asked for MFA either way, and the two together confuse sign-in.")
    return CoverageSelection(MOVE_OFF, tuple(targets), skips, _coverage_frame(rows), "per_user", text, len(rows))


def _gap_skip(covered: CoveredBy | None, policies: str) -> tuple[str, str] | None:
    """Why a user of the scope is not in the gap (only users the gap plan should explain are listed)."""
    if covered in GAP:
        return None
    if covered is CoveredBy.CA_EXCLUDED:
        return ("coverage_excluded", _named("excluded from the Conditional Access MFA policy", policies)
                + ": an exclusion is usually deliberate (break-glass, service accounts); review it there")
    if covered in (CoveredBy.CA_NOT_READABLE, CoveredBy.DEFAULTS_UNKNOWN) or covered is None:
        return "coverage_unknown", SKIP_CODES["coverage_unknown"]
    if covered is CoveredBy.PER_USER_ENABLED_UNREGISTERED:
        return ("already_covered", "per-user MFA already Enabled: they are asked to register at their next sign-in")
    return "already_covered", f"already covered: {_coverage_words(covered, policies)}"


def close_gap_selection(frame: pd.DataFrame, user_ids: Iterable[str] | None = None, *,
                        ca_available: bool) -> CoverageSelection:
    """Users covered by nothing (report-only policies included), and which fix applies: a Conditional Access
    change where the tenant has Conditional Access (``ca_available``), else per-user MFA. Excluded users of the
    scope are listed with the reason; users already covered are listed only when ``user_ids`` named them."""
    rows = _scope(frame, user_ids)
    covered = [_covered(v) for v in rows["covered_by"]]
    policies = [_policies(v) for v in rows["covered_by_policies"]]
    explicit = user_ids is not None
    keep: list[bool] = []
    targets: list[str] = []
    skips: dict[str, tuple[str, str]] = {}
    for uid, c, p in zip(rows["id"].astype(str), covered, policies, strict=True):
        skip = _gap_skip(c, p)
        if skip is None:
            targets.append(uid)
        elif explicit or skip[0] != "already_covered":
            skips[uid] = skip
        keep.append(skip is None or explicit or skip[0] != "already_covered")
    considered = rows.loc[keep]
    report_only = sorted({name for uid, c, p in zip(rows["id"].astype(str), covered, policies, strict=True)
                          if c is CoveredBy.CA_REPORT_ONLY and uid in set(targets)
                          for name in p.split("; ") if name})
    if ca_available:
        route = "conditional_access"
        text = ("Your tenant has Conditional Access: add these users to a policy that requires MFA for all cloud "
                "apps (download the list for it). Microsoft advises against per-user MFA alongside Conditional "
                "Access; Enable or Enforce per-user MFA only as a stopgap.")
        if report_only:
            text += (f" Some are only in report-only policies ({', '.join(report_only)}), which never ask for MFA: "
                     "turning those on covers them.")
    else:
        route = "per_user"
        text = ("Your tenant has no Conditional Access (no Entra ID P1): per-user MFA is the way to cover these "
                "users. Enforced asks for MFA at once; Enabled lets them register at their next sign-in first.")
    return CoverageSelection(CLOSE_GAP, tuple(targets), skips, _coverage_frame(considered), route, text,
                             len(considered))


def with_coverage_skips(the_plan: Plan, frame: pd.DataFrame, selection: CoverageSelection) -> Plan:
    """``the_plan`` (made for ``selection.target_ids``) with the selection's skips added as skipped rows,
    so the preview, the journal's counts and the dry-run CSV list everyone the plan considered."""
    if not selection.skips:
        return the_plan
    rows = frame.loc[frame["id"].astype(str).isin(list(selection.skips))].drop_duplicates("id")
    requested = the_plan.requested_state or ""
    extra = pd.DataFrame({
        "user_id": rows["id"].astype(str).tolist(), "upn": rows["upn"].tolist(),
        "display_name": rows["display_name"].tolist(), "before": rows["state"].tolist(),
        "requested": [requested] * len(rows),
        "code": [selection.skips[str(u)][0] for u in rows["id"]],
        "reason": [selection.skips[str(u)][1] for u in rows["id"]],
    })
    parts = [p for p in (the_plan.skipped, extra) if len(p)]
    skipped = pd.concat(parts, ignore_index=True) if parts else extra
    skipped = skipped.loc[:, list(SKIP_COLUMNS)].astype(dict(SKIP_COLUMNS)).reset_index(drop=True)
    return replace(the_plan, skipped=skipped)
