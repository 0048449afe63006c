"""Sign-in evidence folded from constructed logs, with the exact figures expected."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from lib.signins import TenantEvidence, event_from_graph, fold, is_legacy_client, readiness
from lib.signins.events import SignInEvent
from lib.signins.evidence import DayCount
from tests.fixtures import graph_example

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)



def sign_in(n: int, user: str, days_ago: float, *, client: str = "Browser", mfa: bool | None = True,
            error: int = 0) -> dict:
    """A beta sign-in object as Graph returns it (the fields the evidence reads)."""
    item = {"id": f"s{n}", "userId": user, "clientAppUsed": client, "status": {"errorCode": error},
            "createdDateTime": (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")}
    if mfa is not None:
        item["authenticationRequirement"] = "multiFactorAuthentication" if mfa else "singleFactorAuthentication"
    return item


def events(*items: dict) -> list[SignInEvent]:
    return [e for e in map(event_from_graph, items) if e is not None]


def test_microsofts_beta_example_is_a_failed_single_factor_browser_sign_in() -> None:
    body = graph_example("beta-signins-list.json")
    (event,) = events(*body["value"])
    assert event.user_id == "26be570a-1111-5555-b4e2-a37c6808512d"
    assert event.at == datetime(2021, 6, 30, 16, 34, 32, tzinfo=timezone.utc)
    assert (event.client, event.succeeded, event.mfa, event.legacy) == ("Browser", False, False, False)


def test_requirement_is_compared_without_case_and_v1_events_are_unknown() -> None:
    a = {"id": "1", "userId": "u", "createdDateTime": "2026-11-30T10:00:00Z",
         "authenticationRequirement": "MultifactorAuthentication"}
    b = {"id": "2", "userId": "u", "createdDateTime": "2026-11-30T10:00:00Z"}
    assert [e.mfa for e in events(a, b)] == [True, None]
    assert events({"id": "3", "createdDateTime": "2026-11-30T10:00:00Z"}) == []  # no user: nothing kept
    assert is_legacy_client("imap4") and not is_legacy_client("Mobile Apps and Desktop clients")


def test_fold_keeps_last_dates_legacy_clients_and_the_mfa_share() -> None:
    log = events(
        sign_in(1, "alice", 1.0), sign_in(2, "alice", 2.0), sign_in(3, "alice", 3.0, mfa=False),
        sign_in(4, "alice", 4.0, client="IMAP4", mfa=False), sign_in(5, "alice", 6.0, client="imap4", mfa=False),
        sign_in(6, "alice", 0.5, client="POP3", mfa=False, error=50126),  # failed: client counts, sign-in not
        sign_in(7, "bob", 40.0),  # older than the log's 30 days
    )
    evidence = fold(TenantEvidence(), log, read_until=NOW, now=NOW)
    alice = evidence.users["alice"]
    assert alice.last_sign_in == NOW - timedelta(days=1)
    assert alice.last_mfa_sign_in == NOW - timedelta(days=1)
    assert alice.last_single_factor_sign_in == NOW - timedelta(days=3)
    assert alice.legacy_since(NOW - timedelta(days=30)) == {
        "POP3": NOW - timedelta(days=0.5), "IMAP4": NOW - timedelta(days=4)}
    assert alice.mfa_share(NOW) == 2 / 5
    assert evidence.single_factor_since((NOW - timedelta(days=30)).date()) == 3
    assert evidence.users["bob"].days == {} and evidence.users["bob"].mfa_share(NOW) is None


def test_equal_day_counts_are_one_object_so_a_large_tenant_holds_few() -> None:
    log = events(*(sign_in(n, f"user{n % 50}", 1.0 + (n // 50)) for n in range(500)))  # 50 users, 10 days each
    evidence = fold(TenantEvidence(), log, read_until=NOW, now=NOW)
    counts = [count for user in evidence.users.values() for count in user.days.values()]
    assert len(counts) == 500 and {(c.total, c.mfa, c.unknown) for c in counts} == {(1, 1, 0)}
    assert len({id(c) for c in counts}) == 1
    assert DayCount.of(2, 1) is DayCount.of(2, 1, 0) == DayCount(2, 1, 0)


def test_an_incremental_read_adds_only_new_sign_ins_and_skips_the_boundary_ones_seen() -> None:
    first = fold(TenantEvidence(), events(sign_in(1, "u", 2.0, mfa=False), sign_in(2, "u", 1.0)),
                 read_until=NOW - timedelta(days=1), now=NOW)
    assert first.seen_at_read_until == {"s2"}
    # The next window starts at read_until (ge): Graph returns s2 again; only s3 is new.
    later = NOW + timedelta(days=1)
    second = fold(first, events(sign_in(2, "u", 1.0), sign_in(3, "u", -0.5, mfa=False)),
                  read_until=later, now=later)
    user = second.users["u"]
    assert sum(day.total for day in user.days.values()) == 3
    assert user.last_single_factor_sign_in == NOW + timedelta(days=0.5)
    assert second.single_factor_since(NOW.date() - timedelta(days=30)) == 2


def test_evidence_older_than_the_retention_window_is_dropped_as_the_clock_moves() -> None:
    start = fold(TenantEvidence(), events(sign_in(1, "u", 29.0, client="POP3", mfa=False)),
                 read_until=NOW, now=NOW)
    assert start.single_factor_since(NOW.date() - timedelta(days=30)) == 1
    week = NOW + timedelta(days=7)
    moved = fold(start, events(sign_in(2, "v", -6.0)), read_until=week, now=week)
    assert moved.single_factor_by_day == {}
    assert moved.users["u"].legacy_clients == {} and moved.users["u"].days == {}
    assert moved.users["u"].last_sign_in == NOW - timedelta(days=29)  # last dates are kept: they are facts
    assert moved.users["v"].mfa_share(week) == 1.0


def test_readiness_names_the_client_and_the_date() -> None:
    evidence = fold(TenantEvidence(), events(
        sign_in(1, "imap", 3.0, client="IMAP4", mfa=False), sign_in(2, "imap", 1.0),
        sign_in(3, "ok", 1.0), sign_in(4, "ok", 20.0, mfa=False, client="Exchange ActiveSync"),
        sign_in(5, "single", 13.0, mfa=False)), read_until=NOW, now=NOW)
    imap = readiness(evidence.users["imap"], registered=True, now=NOW)
    assert not imap.ready
    assert imap.reasons == (
        "signed in with IMAP4 on 28 Nov: Enforced breaks this client unless an app password is set up",
        "signed in with one factor on 28 Nov")
    assert readiness(evidence.users["ok"], registered=True, now=NOW).ready  # ActiveSync was 20 days ago
    assert readiness(evidence.users["single"], registered=True, now=NOW).reasons == (
        "signed in with one factor on 18 Nov",)
    assert readiness(None, registered=False, now=NOW).reasons == ("not registered for MFA yet",)
    assert readiness(None, registered=True, now=NOW) == readiness(evidence.users.get("nobody"), registered=True,
                                                                 now=NOW)
    assert readiness(None, registered=True, now=NOW).reasons == ("no sign-ins in the last 14 days",)
