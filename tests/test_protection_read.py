"""The snapshot's policies read against the demo tenant over real HTTP: normal, security defaults, no P1 (both
answers), missing permissions, the Conditional Access throttle, and one read per policy-referenced group."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from lib import console
from lib.columns import PROTECTION_COLUMNS
from lib.directory.protection_read import read_policies
from lib.directory.refresh import refresh_snapshot
from lib.directory.snapshot import read_tenant
from lib.emulator.generator import APP_PERMISSIONS, demo_app, generate_tenant
from lib.emulator.protection_model import role_assignments
from lib.emulator.server import RunningEmulator
from lib.emulator.throttle import ManualClock, get_throttle
from lib.emulator.tokens import mint_access_token
from lib.graph import GatewayOptions, GraphGateway, RetryPolicy, StaticTokenCredential
from lib.protection import (
    GLOBAL_ADMINISTRATOR,
    CaAvailability,
    CoveredBy,
    MethodClass,
    referenced_groups,
    referenced_roles,
)
from lib.store import open_store
from tests.conftest import emulator_config
from tests.test_rollout_support import control, gateway_for

CA_WORDS = "Conditional Access unavailable (no Entra ID P1)"
CA_COVERAGE = {CoveredBy.CA_ALL_APPS, CoveredBy.CA_PARTIAL, CoveredBy.BLOCKED, CoveredBy.CA_EXCLUDED,
               CoveredBy.CA_REPORT_ONLY}


def _stats(emu: RunningEmulator) -> dict:
    return control(emu, "GET", "/stats")


def _app_gateway(emu: RunningEmulator, permissions: frozenset[str], **options: object) -> GraphGateway:
    """A gateway whose app-only token carries exactly ``permissions`` (as if an admin had not granted the rest)."""
    token = mint_access_token(emu.state, demo_app(emu.state.tenant), permissions)[0]
    opts = GatewayOptions(**options) if options else None
    return GraphGateway(emu.graph_url, StaticTokenCredential(token), options=opts)


def test_a_snapshot_reads_the_demo_policies_and_every_user_gets_an_answer(emulator: RunningEmulator) -> None:
    phases: list[tuple[str, int, int]] = []
    with gateway_for(emulator) as gw:
        read = read_tenant(gw, on_phase=lambda *p: phases.append(p))
    frame, found = read.frame, read.protection
    assert found is not None and found.record.ca_availability == CaAvailability.AVAILABLE
    assert [p["displayName"] for p in found.record.policies] == [
        "Require MFA for admins", "Require MFA for all users", "Require MFA for Sales",
        "Require MFA for Office 365 (Finance)", "Block legacy authentication"]
    assert found.record.security_defaults is False and found.record.ca_message is None
    assert found.record.methods_policy["methods"]["Voice"] == "disabled"
    assert found.record.methods_policy["campaign"]["state"] in ("default", "enabled", "disabled")
    progress = [p for p in phases if p[0] == "protection"]
    assert progress[-1][1] == progress[-1][2] > 3  # counted up to its total
    assert [done for _, done, _ in progress] == sorted(done for _, done, _ in progress)
    # Read beside the report, yet shown as the last phase: nothing else reports once it has begun.
    first = phases.index(progress[0])
    assert {p[0] for p in phases[first:]} == {"protection"}
    assert all(frame[c].notna().all() for c in PROTECTION_COLUMNS)
    assert set(frame["covered_by"]) <= {str(c) for c in CoveredBy}
    assert CoveredBy.NOT_COVERED not in set(frame["covered_by"])  # "all users" is report-only: never not covered
    # The policies behind CA coverage are named; nobody else names one.
    named = frame["covered_by_policies"] != ""
    assert (named == frame["covered_by"].isin([str(c) for c in CA_COVERAGE])).all()
    sales = frame[frame["covered_by_policies"] == "Require MFA for Sales"]
    assert len(sales) > 0 and (sales["department"] == "Sales").all()
    # Break-glass accounts are excluded from every policy: never covered by Conditional Access MFA.
    glass = frame[frame["account_kind"] == "break_glass"]
    assert len(glass) > 0 and not glass["covered_by"].isin(["ca_all_apps", "ca_partial"]).any()
    sms = frame["method_class"] == str(MethodClass.SMS_VOICE_ONLY)
    assert sms.any() and (frame.loc[sms, "sms_voice_deadline"].isin(["2027-02-01", "2027-07-01"])).all()
    assert (frame.loc[~sms, "sms_voice_deadline"] == "").all()
    # The stored summary counts exactly the frame's columns.
    summary = found.record.summary
    assert summary["users"] == len(frame)
    assert summary["covered_by"] == {str(c): int((frame["covered_by"] == str(c)).sum()) for c in CoveredBy}
    assert summary["method_class"] == {str(m): int((frame["method_class"] == str(m)).sum()) for m in MethodClass}
    assert summary["conflicts"]["per_user_with_ca"] == int((frame["protection_conflict"] == "per_user_with_ca").sum())


def test_each_policy_referenced_group_is_read_once_and_each_role_once(emulator: RunningEmulator) -> None:
    with gateway_for(emulator) as gw:
        frame = read_tenant(gw).frame
        before = _stats(emulator)["requests"]
        found = read_policies(gw, frame, premium=True)
        sent = _stats(emulator)["requests"] - before
    policies = list(found.record.policies)
    roles = referenced_roles(policies) | {GLOBAL_ADMINISTRATOR}
    tenant = emulator.state.tenant
    through_groups = {a.principal_id.lower() for a in role_assignments(tenant.protection, tenant.users)
                      if a.principal_is_group and a.role_template_id.lower() in roles}
    groups = referenced_groups(policies) | through_groups
    assert found.groups_resolved == len(groups) and found.roles_resolved == len(roles)
    # Conditional Access, security defaults, the methods policy, one per role, one per group: never per user.
    assert sent == found.requests == 3 + len(roles) + len(groups)
    assert sent < len(frame) / 5


def test_security_defaults_tenant_is_covered_by_defaults_and_per_user_mfa_conflicts(
        make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(tenant=generate_tenant(120, 5, security_defaults=True))
    with gateway_for(emu) as gw:
        read = read_tenant(gw)
    record, frame = read.protection.record, read.frame
    assert record.security_defaults is True and record.policies == ()
    assert set(frame["covered_by"]) == {"security_defaults"}
    on = frame["state"].isin(["enabled", "enforced"])
    assert on.any()
    assert (frame.loc[on, "protection_conflict"] == "per_user_with_security_defaults").all()
    assert (frame.loc[~on, "protection_conflict"] == "").all()


@pytest.mark.parametrize("answer", ["forbidden", "empty"])
def test_a_tenant_without_p1_shows_conditional_access_unavailable_never_not_covered(
        make_emulator: Callable[..., RunningEmulator], database_url: str, answer: str) -> None:
    emu = make_emulator(users=80, seed=4, premium=False, config=emulator_config(ca_without_premium=answer))
    store = open_store(database_url)
    with gateway_for(emu) as gw:
        result = refresh_snapshot(store, gw, mode="demo")
    frame = store.load_users(emu.tenant_id)
    assert result.read.registration_source == "methods"
    assert CoveredBy.NOT_COVERED not in set(frame["covered_by"])
    uncovered = frame["state"] == "disabled"
    assert uncovered.any() and (frame.loc[uncovered, "covered_by"] == "ca_unavailable").all()
    status = console.protection_status(console.Workspace(store, None, emu.tenant_id, None))
    assert status.evaluated and status.ca_availability is CaAvailability.NO_P1
    assert status.headline == CA_WORDS
    assert status.summary.by_covered_by[CoveredBy.NOT_COVERED] == 0
    assert status.summary.by_covered_by[CoveredBy.CA_UNAVAILABLE] == int(uncovered.sum())


def test_missing_permissions_are_named_and_the_snapshot_is_kept(emulator: RunningEmulator) -> None:
    with gateway_for(emulator) as gw:
        frame = read_tenant(gw).frame
    without_policy = APP_PERMISSIONS - {"Policy.Read.All"}
    with _app_gateway(emulator, without_policy) as gw:
        found = read_policies(gw, frame, premium=True)
    record = found.record
    assert record.ca_availability == CaAvailability.NOT_READABLE
    assert "Policy.Read.All" in record.ca_message and "Policy.Read.All" in record.security_defaults_message
    assert record.methods_policy is not None  # its own permission was granted
    assert CoveredBy.NOT_COVERED not in {u.covered_by for u in found.evaluation.users}
    assert {u.covered_by for u in found.evaluation.users if u.per_user_state == "disabled"} == {
        CoveredBy.CA_NOT_READABLE}

    without_groups = APP_PERMISSIONS - {"Directory.Read.All", "GroupMember.Read.All"}
    with _app_gateway(emulator, without_groups) as gw:
        found = read_policies(gw, frame, premium=True)
    assert found.record.ca_availability == CaAvailability.NOT_READABLE
    assert "GroupMember.Read.All" in found.record.ca_message
    disabled = {u.covered_by for u in found.evaluation.users if u.per_user_state == "disabled"}
    assert disabled == {CoveredBy.CA_NOT_READABLE}

    without_methods = APP_PERMISSIONS - {"Policy.ReadWrite.AuthenticationMethod"}
    with _app_gateway(emulator, without_methods) as gw:
        found = read_policies(gw, frame, premium=True)
    assert found.record.ca_availability == CaAvailability.AVAILABLE
    assert found.record.methods_policy is None
    assert "Policy.Read.AuthenticationMethod" in found.record.methods_policy_message


def test_the_conditional_access_throttle_is_never_hit_during_snapshots(
        make_emulator: Callable[..., RunningEmulator]) -> None:
    """The demo enforces 1 request per second (at half real time here, so only the pacing keeps it at 0)."""
    emu = make_emulator(users=60, seed=9, config=emulator_config(throttle=True, time_scale=0.5))
    with gateway_for(emu) as gw:
        read = read_tenant(gw)
        control(emu, "POST", "/stats/reset")
        again = [read_policies(gw, read.frame, premium=True) for _ in range(3)]  # back to back
        waited = gw.stats.wait_seconds
    stats = _stats(emu)
    assert stats["throttled"] == 0 and "429" not in stats["statuses"]
    assert all(a.record.ca_availability == CaAvailability.AVAILABLE for a in again)
    assert waited >= 2 * 0.5  # the client held back the 2nd and 3rd Conditional Access reads itself


def test_a_throttled_policy_read_is_recorded_and_the_snapshot_completes(
        make_emulator: Callable[..., RunningEmulator], tmp_path) -> None:
    """Conditional Access answers 429 without Retry-After: the gateway waits its pacing interval (not a short
    backoff) and, once its retries are spent, the snapshot still completes with the reason in words."""
    emu = make_emulator(users=60, seed=10, config=emulator_config(throttle=True))
    frozen = ManualClock()
    get_throttle(emu.state).use_clock(frozen)  # nothing refills: the first CA read takes the only token
    token = mint_access_token(emu.state, demo_app(emu.state.tenant), APP_PERMISSIONS)[0]
    first = httpx.get(f"{emu.graph_url}/v1.0/identity/conditionalAccess/policies",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert first.status_code == 200
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    with GraphGateway(emu.graph_url, StaticTokenCredential(token),
                      options=GatewayOptions(retry=RetryPolicy(max_throttled=1))) as gw:
        result = refresh_snapshot(store, gw, mode="demo")
        assert gw.stats.throttled == 2 and gw.stats.wait_seconds >= 1.0
    record = store.protection(result.snapshot_id)
    assert store.latest_snapshot(emu.tenant_id).id == result.snapshot_id
    assert record.ca_availability == CaAvailability.NOT_READABLE
    assert record.ca_message.startswith("Conditional Access policies could not be read: ")
    assert "Retry-After" not in first.headers


def test_cancelling_during_the_policies_read_cancels_the_snapshot(emulator: RunningEmulator, tmp_path) -> None:
    from lib.graph import CancelToken, OperationCancelled

    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    token = CancelToken()

    def on_phase(phase: str, done: int, total: int) -> None:
        if phase == "protection":  # Cancel while the phase is shown (its reads may be done already)
            token.cancel()

    with gateway_for(emulator) as gw, pytest.raises(OperationCancelled):
        refresh_snapshot(store, gw, mode="demo", on_phase=on_phase, cancel=token)
    [snapshot] = store.list_snapshots(emulator.tenant_id)
    assert snapshot.status == "cancelled" and store.latest_snapshot(emulator.tenant_id) is None
    assert store.protection(snapshot.id) is None


def test_a_refresh_job_shows_the_policies_phase_in_words_before_the_sign_in_evidence() -> None:
    from lib.jobs import RefreshJob

    job = RefreshJob("t")
    job.on_phase("state", 10, 10)
    at_states = job.fraction
    job.on_phase("protection", 3, 6)
    assert job.label == "Reading Conditional Access and methods policies: 3 of 6"
    assert at_states < job.fraction < 1.0
    job.on_phase("protection", 6, 6)
    policies_done = job.fraction
    job.on_phase("sign_ins", 1, 2)
    assert policies_done < job.fraction < 1.0  # the sign-in evidence, read after the snapshot is stored, ends it
    job.on_phase("sign_ins", 2, 2)
    assert job.fraction == 1.0


def test_without_role_permissions_a_no_p1_tenant_says_global_administrators_are_unknown(
        make_emulator: Callable[..., RunningEmulator]) -> None:
    emu = make_emulator(users=60, seed=6, premium=False)
    with gateway_for(emu) as gw:
        frame = read_tenant(gw).frame
    with _app_gateway(emu, APP_PERMISSIONS - {"RoleManagement.Read.Directory", "Directory.Read.All"}) as gw:
        found = read_policies(gw, frame, premium=False)
    assert found.record.ca_availability == CaAvailability.NO_P1 and found.record.ca_message == CA_WORDS
    assert "Global Administrators could not be told apart" in found.record.methods_policy_message
    assert "RoleManagement.Read.Directory" in found.record.methods_policy_message
    assert {u.sms_voice_deadline.isoformat() for u in found.evaluation.users if not u.is_external} == {"2027-02-01"}
