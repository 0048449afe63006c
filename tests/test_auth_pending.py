"""lib.auth.pending: single use, TTL on an injectable clock, bounded, thread-safe, never a token."""

from __future__ import annotations

import threading

import pytest

from lib.auth.pending import DEFAULT_TTL, MAX_PENDING, PendingFlows, default_pending


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def flow(state: str, **extra: str) -> dict[str, str]:
    return {"state": state, "code_verifier": f"verifier-{state}", "nonce": "n", **extra}


def test_defaults() -> None:
    assert (DEFAULT_TTL, MAX_PENDING, PendingFlows().ttl) == (600.0, 10_000, 600.0)
    assert default_pending() is default_pending()


def test_pop_is_single_use() -> None:
    pending = PendingFlows()
    assert pending.put(flow("s1")) == "s1"
    assert "s1" in pending and len(pending) == 1
    assert pending.pop("s1") == flow("s1")
    assert pending.pop("s1") is None
    assert ("s1" in pending, len(pending)) == (False, 0)


def test_the_stored_flow_is_a_copy() -> None:
    pending = PendingFlows()
    original = flow("s1")
    pending.put(original)
    original["code_verifier"] = "changed"
    assert pending.pop("s1") == flow("s1")


@pytest.mark.parametrize("state", [None, "", "unknown"])
def test_unknown_state_is_none(state: str | None) -> None:
    pending = PendingFlows()
    pending.put(flow("s1"))
    assert pending.pop(state) is None
    assert len(pending) == 1


def test_ttl_expiry_on_an_injected_clock() -> None:
    clock = Clock()
    pending = PendingFlows(ttl=600, clock=clock)
    pending.put(flow("old"))
    clock.now += 300
    pending.put(flow("young"))
    clock.now += 299.9
    assert ("old" in pending, "young" in pending) == (True, True)
    clock.now += 0.1  # "old" is exactly 600 s old: gone
    assert pending.pop("old") is None
    assert len(pending) == 1
    clock.now += 300
    assert pending.pop("young") is None
    assert len(pending) == 0


def test_putting_the_same_state_again_restarts_its_clock() -> None:
    clock = Clock()
    pending = PendingFlows(ttl=10, clock=clock)
    pending.put(flow("s"))
    clock.now += 9
    pending.put(flow("s", nonce="second"))
    clock.now += 9
    assert pending.pop("s") == flow("s", nonce="second")


def test_bounded_oldest_dropped_first() -> None:
    pending = PendingFlows(max_entries=3)
    for n in range(5):
        pending.put(flow(f"s{n}"))
    assert len(pending) == 3
    assert [pending.pop(f"s{n}") is not None for n in range(5)] == [False, False, True, True, True]


def test_discard() -> None:
    pending = PendingFlows()
    pending.put(flow("s"))
    pending.discard("s")
    pending.discard(None)
    assert pending.pop("s") is None


def test_an_empty_store_is_still_truthy() -> None:
    assert bool(PendingFlows()) is True


@pytest.mark.parametrize(("bad", "message"), [
    ({"code_verifier": "v"}, "an auth-code flow must carry a non-empty 'state'"),
    ({"state": ""}, "an auth-code flow must carry a non-empty 'state'"),
    ({"state": "s", "access_token": "t"}, "a pending flow must never carry a token"),
    ({"state": "s", "refresh_token": "t"}, "a pending flow must never carry a token"),
])
def test_rejects_what_is_not_a_flow(bad: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        PendingFlows().put(bad)
    assert str(caught.value) == message


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ttl": 0}, "ttl must be > 0 seconds, got 0"),
    ({"max_entries": 0}, "max_entries must be >= 1, got 0"),
])
def test_constructor_validates(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        PendingFlows(**kwargs)
    assert str(caught.value) == message


def test_concurrent_pops_hand_each_flow_out_exactly_once() -> None:
    pending = PendingFlows()
    states = [f"s{n}" for n in range(400)]
    for state in states:
        pending.put(flow(state))
    won: list[list[str]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def worker(slot: int) -> None:
        barrier.wait()
        for state in states:
            if pending.pop(state) is not None:
                won[slot].append(state)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(s for got in won for s in got) == sorted(states)
    assert len(pending) == 0


def test_repr_shows_no_flow() -> None:
    pending = PendingFlows(ttl=60)
    pending.put(flow("secret-state"))
    assert repr(pending) == "PendingFlows(ttl=60, pending=1)"
