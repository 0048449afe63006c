"""lib.graph.loop: one long-lived event loop thread that sync callers submit coroutines to."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from lib.graph import LoopThread, default_loop


async def whoami(value: int) -> tuple[int, str, int]:
    await asyncio.sleep(0)
    return value, threading.current_thread().name, id(asyncio.get_running_loop())


def test_every_call_runs_on_the_same_loop_and_thread() -> None:
    loop = LoopThread(name="test-loop")
    try:
        answers = [loop.run(whoami(i)) for i in range(50)]
        assert [a[0] for a in answers] == list(range(50))
        assert {a[1] for a in answers} == {"test-loop"}
        assert {a[2] for a in answers} == {id(loop.loop)}
        with ThreadPoolExecutor(8) as pool:
            threaded = list(pool.map(lambda i: loop.run(whoami(i)), range(40)))
        assert {a[2] for a in threaded} == {id(loop.loop)}
        asyncio.run(asyncio.sleep(0))  # another loop elsewhere does not disturb ours
        assert loop.run(whoami(7))[0] == 7
    finally:
        loop.stop()
    assert not loop.running


def test_exceptions_come_back_to_the_caller() -> None:
    loop = LoopThread()
    try:
        async def boom() -> None:
            raise KeyError("nope")

        with pytest.raises(KeyError, match="nope"):
            loop.run(boom())
        assert loop.run(whoami(1))[0] == 1
    finally:
        loop.stop()


def test_a_blocking_call_from_the_loop_thread_is_refused_not_deadlocked() -> None:
    loop = LoopThread()
    try:
        async def nested() -> str:
            try:
                loop.run(whoami(1))
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        assert loop.run(nested(), timeout=5) == (
            "graph-loop: blocking call from the event loop thread would deadlock; await the async API")
    finally:
        loop.stop()


def test_a_timed_out_wait_cancels_the_coroutine() -> None:
    loop = LoopThread()
    try:
        started = threading.Event()
        cancelled = threading.Event()

        async def slow() -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with pytest.raises(TimeoutError):
            loop.run(slow(), timeout=0.05)
        assert started.is_set()
        assert cancelled.wait(2)
    finally:
        loop.stop()


def test_a_stopped_loop_refuses_work_and_the_default_loop_is_one_per_process() -> None:
    loop = LoopThread()
    loop.stop()
    loop.stop()  # idempotent
    with pytest.raises(RuntimeError, match="has been stopped"):
        loop.submit(whoami(1))
    assert default_loop() is default_loop()
    assert default_loop().running
