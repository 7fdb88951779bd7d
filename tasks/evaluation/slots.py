"""A process-wide limit on concurrent provider calls, shared by coroutines on several event loops.

Parallel batches (Prefect tasks in threads, each with its own event loop) share one provider's slots.
A waiting coroutine parks on a future of its own loop; a released slot is handed to the oldest waiter
directly (``call_soon_threadsafe``), so waiting costs nothing and the order is first come, first served.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque


class SharedSlots:
    """``n`` slots for coroutines of any event loop in the process."""

    def __init__(self, n: int) -> None:
        self._free = n
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    async def acquire(self) -> None:
        """Wait for a slot."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            waiter = (loop, future)
            self._waiters.append(waiter)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                queued = waiter in self._waiters
                if queued:
                    self._waiters.remove(waiter)
            if not queued and future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: give it back
            raise

    def release(self) -> None:
        """Give a slot back (to the oldest waiter, if any)."""
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, future = self._waiters.popleft()
        try:
            loop.call_soon_threadsafe(self._hand, future)
        except RuntimeError:  # that loop has closed: pass the slot on
            self.release()

    def _hand(self, future: asyncio.Future[None]) -> None:
        if future.done():  # cancelled meanwhile
            self.release()
        else:
            future.set_result(None)

    async def __aenter__(self) -> SharedSlots:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
