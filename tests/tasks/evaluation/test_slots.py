"""Provider slots shared by coroutines on several event loops (parallel batches in threads)."""

from __future__ import annotations

import asyncio
import threading
import time

from tasks.evaluation.slots import SharedSlots


def test_two_event_loops_never_exceed_the_shared_limit() -> None:
    slots, lock = SharedSlots(3), threading.Lock()
    running, peak = [0], [0]

    async def call() -> None:
        async with slots:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.01)
            with lock:
                running[0] -= 1

    async def batch() -> None:
        await asyncio.gather(*(call() for _ in range(12)))

    start = time.perf_counter()
    threads = [threading.Thread(target=asyncio.run, args=(batch(),)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 3 and running[0] == 0
    assert time.perf_counter() - start >= 24 * 0.01 / 3 * 0.9  # the limit held across both loops


def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    slots = SharedSlots(1)

    async def main() -> None:
        await slots.acquire()
        waiter = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        slots.release()
        await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.wait_for(slots.acquire(), timeout=1)  # the slot is free again
        slots.release()

    asyncio.run(main())
