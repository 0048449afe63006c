"""One long-lived asyncio event loop on its own thread, for the async msgraph-sdk.

The SDK's httpx client is bound to the loop that first used it: ``asyncio.run`` per call gives
"Event loop is closed" on the second call. Sync callers (Streamlit pages, the CLI, worker threads)
instead hand coroutines to a :class:`LoopThread` and get ``concurrent.futures.Future`` objects back.
:func:`default_loop` is the process-wide one.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "default_loop"]

T = TypeVar("T")


class LoopThread:
    """Owns an event loop running forever on a daemon thread.

    >>> loop = LoopThread(name="graph")
    >>> loop.run(asyncio.sleep(0, result=42))
    42
    >>> loop.stop()
    """

    def __init__(self, name: str = "graph-loop") -> None:
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._stopped = False
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._started.set)
        try:
            self._loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self._loop)
                for task in pending:
                    task.cancel()
                if pending:
                    self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            finally:
                self._loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop (use only from its own thread, or through ``call_soon_threadsafe``)."""
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def in_loop_thread(self) -> bool:
        """True when called from the loop's own thread (a blocking ``run`` there would deadlock)."""
        return threading.current_thread() is self._thread

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a future any thread can wait on or cancel."""
        if not self.running:
            coro.close()
            raise RuntimeError(f"{self.name}: the event loop thread has been stopped")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block until it finishes; its exception is re-raised here.

        Raises RuntimeError when called from the loop thread itself (await the coroutine there).
        If the wait is interrupted (timeout, KeyboardInterrupt), the coroutine is cancelled.
        """
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                f"{self.name}: blocking call from the event loop thread would deadlock; await the async API"
            )
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run a plain callback on the loop thread (thread-safe)."""
        if self.running:
            self._loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (pending tasks are cancelled) and join the thread. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            if not self.in_loop_thread():
                self._thread.join(timeout)

    def __repr__(self) -> str:
        return f"LoopThread(name={self.name!r}, running={self.running})"


_default: LoopThread | None = None
_default_lock = threading.Lock()


def default_loop() -> LoopThread:
    """The process-wide loop thread, started on first use and stopped at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or not _default.running:
            _default = LoopThread(name="graph-loop")
            atexit.register(_default.stop)
        return _default
