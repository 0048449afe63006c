"""Every preview's prediction is what Entra does: each combination of (history, registered, current state,
requested state) driven through the demo tenant, with the console's own operations making the history.

History is what an admin did before: ``none`` (never changed), ``disabled`` (Enforced, then set to
Disabled: Entra now waits for a re-registration) or ``reregistered`` (disabled that way, then the
user registered a second factor again). The current state is set with the console's operations
too, so the prediction can only come from what the console saw (its journal and its snapshots), never
from the demo tenant's ground truth, which the test reads only to check the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

import pytest

from lib import console, rollout
from lib.directory.refresh import refresh_snapshot
from lib.emulator.model import METHOD_KINDS
from lib.rollout.plan import expected_state
from tests.test_rollout_execute import FAST, World, make_world
from tests.test_rollout_support import control, truth

STATES = ("disabled", "enabled", "enforced")
REACHABLE: dict[tuple[str, bool], tuple[str, ...]] = {
    ("none", True): ("disabled", "enforced"),   # an Enable of a registered user gives Enforced
    ("none", False): STATES,
    ("disabled", True): STATES,                 # re-enabled: stays Enabled
    ("disabled", False): STATES,
    ("reregistered", True): ("disabled", "enforced"),
}
"""(history, registered) → the current states the documented rules can lead to. Enabled with a
second factor is reachable only by re-enabling a user who was disabled since registering."""
PER_COMBINATION = 2


@pytest.fixture
def world(make_emulator, database_url: str) -> Iterator[World]:
    w = make_world(make_emulator, database_url, users=700, seed=23)
    yield w
    w.gateway.close()
    w.store.close()


def run(ws: console.Workspace, frame, ids: list[str], state: str) -> rollout.Plan:
    """Preview through the console, apply, wait; the plan is returned for its predictions."""
    preview = console.preview_change(ws, frame, ids, state)
    operation_id = console.start_change(ws, preview, options=FAST)
    rollout.wait_operation(operation_id)
    assert rollout.get_operation(ws.store, operation_id).status == "complete"
    return preview


def people(w: World) -> tuple[list[str], list[str]]:
    """Disabled ordinary people never changed before: (registered, with no second factor at all)."""
    seen = truth(w.emulator)
    f = w.frame
    base = f[(f["account_kind"] == "person") & f["account_enabled"] & ~f["is_guest"] & ~f["is_admin"]
             & (f["state"] == "disabled")]
    registered, unregistered = [], []
    for row in base.itertuples(index=False):
        facts = seen[row.id]
        if facts["needs_reregistration"]:
            continue
        factors = [k for k in facts["methods"] if METHOD_KINDS[k].mfa]
        visible = [k for k in facts["visible_methods"] if METHOD_KINDS[k].mfa]
        if row.registered and factors == visible:
            registered.append(row.id)
        elif not row.registered and not factors:
            unregistered.append(row.id)
    return registered, unregistered


def test_every_prediction_equals_what_the_demo_tenant_does(world: World) -> None:
    w = world
    ws = console.Workspace(w.store, w.gateway, w.tenant_id, w.actor)
    registered, unregistered = people(w)
    groups: dict[tuple[str, bool], list[str]] = {}
    for (history, is_registered), currents in REACHABLE.items():
        pool = registered if is_registered else unregistered
        need = len(currents) * len(STATES) * PER_COMBINATION
        assert len(pool) >= need, f"the demo tenant has too few such users for {history}/{is_registered}"
        groups[(history, is_registered)], pool[:need] = pool[:need], []

    # History, made with the console's own operations: Enforced, then Disabled by an admin.
    with_history = [uid for (history, _), ids in groups.items() if history != "none" for uid in ids]
    run(ws, w.frame, with_history, "enforced")
    run(ws, w.frame, with_history, "disabled")
    refresh_snapshot(w.store, w.gateway, mode="demo")  # saw them Disabled, before anyone registered again
    for uid in groups[("reregistered", True)]:
        control(w.emulator, "POST", f"/users/{uid}/methods", {"kind": "softwareOneTimePasscode"})
    # The registration report lags a few hours; none of these users is Enabled, so none registers meanwhile.
    control(w.emulator, "POST", "/clock/advance", {"hours": 4})
    refresh_snapshot(w.store, w.gateway, mode="demo")
    frame = w.store.load_users(w.tenant_id)

    # The current state, again through the console; then one request per user.
    cases: dict[str, tuple[str, bool, str]] = {}
    final: dict[str, list[str]] = {state: [] for state in STATES}
    for (history, is_registered), ids in groups.items():
        currents = REACHABLE[(history, is_registered)]
        for i, (current, requested) in enumerate(product(currents, STATES)):
            chosen = ids[i * PER_COMBINATION:(i + 1) * PER_COMBINATION]
            for uid in chosen:
                cases[uid] = (history, is_registered, current)
                final[requested].append(uid)
    for current in ("enabled", "enforced"):
        run(ws, frame, [uid for uid, case in cases.items() if case[2] == current], current)
    now = truth(w.emulator)
    reached = {uid: now[uid]["mfa_state"] for uid in cases}
    assert reached == {uid: case[2] for uid, case in cases.items()}, "the setup did not reach every current state"

    predicted: dict[str, str] = {}
    plans: dict[str, rollout.Plan] = {}
    for requested, ids in final.items():
        plans[requested] = run(ws, frame, ids, requested)
        for change in plans[requested].changes.itertuples(index=False):
            predicted[change.user_id] = change.expected
        for skip in plans[requested].skipped.itertuples(index=False):
            assert skip.code in ("already_in_state", "already_stronger"), (skip.user_id, skip.code, skip.reason)
            predicted[skip.user_id] = skip.before  # left alone: the prediction is "unchanged"
    outcome = {uid: row["mfa_state"] for uid, row in truth(w.emulator).items() if uid in cases}

    wrong = {(*cases[uid], requested, predicted[uid], outcome[uid])
             for requested, ids in final.items() for uid in ids if predicted[uid] != outcome[uid]}
    assert not wrong, f"(history, registered, current, requested, predicted, outcome): {sorted(wrong)}"
    covered = {(*cases[uid], requested) for requested, ids in final.items() for uid in ids}
    assert covered == {(h, r, c, q) for (h, r), currents in REACHABLE.items() for c in currents for q in STATES}
    # The rule that was missing: a re-enabled user who has not registered again stays Enabled.
    stays = [uid for uid in final["enabled"] if cases[uid] == ("disabled", True, "disabled")]
    assert stays and all(predicted[uid] == outcome[uid] == "enabled" for uid in stays)
    warning = {x.code: x for x in plans["enabled"].warnings}["stays_enabled"]
    assert set(warning.user_ids) == set(stays)
    # ... while a user who registered again is Enforced at once, like one never disabled.
    again = [uid for uid in final["enabled"] if cases[uid][:2] in (("reregistered", True), ("none", True))
             and cases[uid][2] == "disabled"]
    assert again and all(outcome[uid] == "enforced" for uid in again)


def test_expected_state_covers_the_documented_table() -> None:
    table = {
        ("disabled", False, False): "disabled", ("disabled", True, True): "disabled",
        ("enforced", False, False): "enforced", ("enforced", True, True): "enforced",
        ("enabled", False, False): "enabled", ("enabled", False, True): "enabled",
        ("enabled", True, False): "enforced", ("enabled", True, True): "enabled",
    }
    for (requested, registered, due), result in table.items():
        for before in STATES:
            assert expected_state(before, requested, registered, due) == result
