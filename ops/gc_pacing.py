"""Full garbage collections on a schedule instead of whenever CPython decides (bootstrap/
lifespan.py runs paced_collections with GC_FULL_INTERVAL_SECONDS; BENCHMARKS.md: the pauses).

A worker holding thousands of WebSocket subscriptions has millions of long-lived objects, and
each automatic full (generation 2) collection walks all of them with the event loop stopped,
often enough to set the fan-out's tail latency. Young
collections (generations 0 and 1) stay automatic and cheap; they free almost everything a
request or an event allocates, and reference counting frees the rest that has no cycles.

With pacing on: what startup built (schema, modules) is frozen out of every collection, the
automatic full collections are off, and a task runs one every `interval` seconds, so cyclic
garbage that reached generation 2 lives at most that long, or sooner when the heap grows
fast: CPython's own rule (a full collection once the long-lived objects grew by a quarter),
read from the allocated blocks once a second, bounds the garbage a busy worker makes between
two scheduled collections (a read-heavy worker once grew ~90 MB/s, BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable

from ops.metrics import GC_FULL_SECONDS

log = logging.getLogger(__name__)

NEVER = 2**31 - 1  # collections of generation 1 before CPython would start a full one
GROWTH = 1.25  # allocated blocks over those left by the last full collection: collect now
CHECK_SECONDS = 1.0


@contextlib.asynccontextmanager
async def paced_collections(interval: float, growth: float = GROWTH) -> AsyncIterator[None]:
    if interval <= 0:
        yield
        return
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    task = asyncio.create_task(_collect_every(interval, growth=growth),
                               name="gc-pacing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _collect_every(interval: float, check: float = CHECK_SECONDS,
                         growth: float = GROWTH,
                         blocks: Callable[[], int] = sys.getallocatedblocks) -> None:
    left, last = blocks(), time.monotonic()
    while True:
        await asyncio.sleep(min(check, interval))
        grown = blocks() > left * growth
        if not grown and time.monotonic() - last < interval:
            continue
        started = time.perf_counter()
        found = gc.collect()
        elapsed = time.perf_counter() - started
        GC_FULL_SECONDS.observe(elapsed)
        left, last = blocks(), time.monotonic()
        log.debug("full collection (%s): %d objects in %.1f ms",
                  "heap grew" if grown else "scheduled", found, elapsed * 1000)
