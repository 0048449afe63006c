"""The protection answer in the store, on SQLite and PostgreSQL: each snapshot's record of what it evaluated,
and each user's protection columns versioned like the other facts."""

from __future__ import annotations

import pandas as pd

from lib import console
from lib.columns import PROTECTION_COLUMNS
from lib.protection import CaAvailability
from lib.store import MIGRATIONS, ProtectionRecord, open_store
from tests.test_rollout_support import T0, TENANT, store_with_tenant, user, users

POLICY = {"id": "p1", "displayName": "Require MFA for Sales", "state": "enabled",
          "conditions": {"users": {"includeGroups": ["g1"]}}, "grantControls": {"builtInControls": ["mfa"]}}


def protected_row(n: int, **overrides: object) -> dict:
    answer = dict(covered_by="ca_all_apps", covered_by_policies="Require MFA for Sales", protection_conflict="",
                  method_class="sms_voice_only", sms_voice_deadline="2027-02-01")
    return user(n, **{**answer, **overrides})


def record(**overrides: object) -> ProtectionRecord:
    values = dict(ca_availability="available", policies=(POLICY,), security_defaults=False,
                  methods_policy={"campaign": {"state": "enabled", "snoozeDurationInDays": 3,
                                               "includeTargets": [{"id": "all_users", "targetType": "group"}]},
                                  "methods": {"Sms": "enabled", "Fido2": "enabled", "X509Certificate": "disabled"}},
                  summary={"users": 2, "protected": 2, "covered_by": {"ca_all_apps": 2}, "method_class":
                           {"sms_voice_only": 2}, "conflicts": {}, "users_with_conflicts": 0,
                           "sms_voice_only": [{"deadline": "2027-02-01", "users": 2, "days_left": 1}],
                           "admins_not_protected": 0, "tenant_conflicts": []},
                  read_at=T0, methods_policy_message=None)
    values.update(overrides)
    return ProtectionRecord(**values)  # type: ignore[arg-type]


def _complete(store, rows: pd.DataFrame, protection: ProtectionRecord | None, at: pd.Timestamp) -> int:
    snapshot = store.begin_snapshot(TENANT, "reports", started_at=at)
    store.complete_snapshot(snapshot, rows, users_read_at=at, registration_read_at=at, state_read_at=at, stats={},
                            finished_at=at, protection=protection)
    return snapshot


def test_a_snapshot_keeps_what_it_evaluated_and_the_users_keep_their_answer(database_url: str) -> None:
    store = store_with_tenant(database_url)
    rows = users(protected_row(1), protected_row(2, protection_conflict="per_user_with_ca", state="enforced"))
    first = _complete(store, rows, record(), T0)
    fresh = open_store(database_url)  # another process: nothing remembered in memory
    loaded = fresh.load_users(TENANT)
    pd.testing.assert_frame_equal(loaded[list(PROTECTION_COLUMNS)], rows[list(PROTECTION_COLUMNS)])
    kept = fresh.protection(first)
    assert kept == record()
    fresh.clock = lambda: T0 + pd.Timedelta(days=10)  # the days left count from the console's "now", not the read
    status = console.protection_status(console.Workspace(fresh, None, TENANT, None))
    assert status.evaluated and status.ca_availability is CaAvailability.AVAILABLE
    assert [(p.name, p.state_label) for p in status.policies] == [("Require MFA for Sales", "On")]
    assert status.campaign.state_label == "On" and status.campaign.snooze_days == 3
    assert status.method_states["Sms"] == "enabled"
    assert status.summary.sms_voice_only[0].users == 2
    assert status.summary.sms_voice_only[0].days_left == 702 - 10


def test_covered_by_is_versioned_like_the_other_facts(database_url: str) -> None:
    store = store_with_tenant(database_url)
    _complete(store, users(protected_row(1), protected_row(2)), record(), T0)
    same = _complete(store, users(protected_row(1), protected_row(2)), record(), T0 + pd.Timedelta(days=1))
    assert store.list_snapshots(TENANT)[-1].id == same
    history = store.user_history(TENANT, "u002")
    assert len(history) == 1  # an unchanged answer writes nothing
    moved = users(protected_row(1), protected_row(2, covered_by="ca_excluded", method_class="phishing_resistant",
                                                   sms_voice_deadline=""))
    later = T0 + pd.Timedelta(days=2)
    snapshot = store.begin_snapshot(TENANT, "reports", started_at=later)
    summary = store.complete_snapshot(snapshot, moved, users_read_at=later, registration_read_at=later,
                                      state_read_at=later, stats={}, finished_at=later, protection=record())
    assert (summary.new, summary.changed, summary.removed) == (0, 1, 0)
    history = open_store(database_url).user_history(TENANT, "u002")
    assert list(history["covered_by"]) == ["ca_all_apps", "ca_excluded"]
    assert list(history["sms_voice_deadline"]) == ["2027-02-01", ""]
    assert store.load_users(TENANT, 1).set_index("id").loc["u002", "covered_by"] == "ca_all_apps"


def test_a_snapshot_from_before_the_policies_were_read_says_not_evaluated(database_url: str) -> None:
    old = open_store(database_url, migrations=MIGRATIONS[:3])  # a database from before schema version 4
    old.upsert_tenant(TENANT, "Contoso", "contoso.example", "demo")
    old.close()
    store = open_store(database_url)
    assert store.schema_version == len(MIGRATIONS)
    plain = users(user(1), user(2)).drop(columns=list(PROTECTION_COLUMNS))  # as older code built frames
    before = _complete(store, plain, None, T0)
    loaded = open_store(database_url).load_users(TENANT)
    assert len(loaded) == 2 and all(loaded[c].isna().all() for c in PROTECTION_COLUMNS)
    assert store.protection(before) is None
    status = console.protection_status(console.Workspace(store, None, TENANT, None))
    assert not status.evaluated and status.summary is None
    assert "take a snapshot" in status.headline
