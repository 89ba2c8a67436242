"""Full garbage collections on a schedule instead of whenever CPython decides (bootstrap/
lifespan.py runs paced_collections with GC_FULL_INTERVAL_SECONDS; BENCHMARKS.md: the pauses).

A worker holding thousands of WebSocket subscriptions has millions of long-lived objects, and
each automatic full (generation 2) collection walks all of them with the event loop stopped,
often enough to set the fan-out's tail latency. Young
collections (generations 0 and 1) stay automatic and cheap; they free almost everything a
request or an event allocates, and reference counting frees the rest that has no cycles.

With pacing on: what startup built (schema, modules) is frozen out of every collection, the
automatic full collections are off, and a task runs one every `interval` seconds, so cyclic
garbage that reached generation 2 lives at most that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

from ops.metrics import GC_FULL_SECONDS

log = logging.getLogger(__name__)

NEVER = 2**31 - 1  # collections of generation 1 before CPython would start a full one


@contextlib.asynccontextmanager
async def paced_collections(interval: float) -> AsyncIterator[None]:
    if interval <= 0:
        yield
        return
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    task = asyncio.create_task(_collect_every(interval), name="gc-pacing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _collect_every(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        started = time.perf_counter()
        found = gc.collect()
        elapsed = time.perf_counter() - started
        GC_FULL_SECONDS.observe(elapsed)
        log.debug("full collection: %d objects in %.1f ms", found, elapsed * 1000)
