"""ops/gc_pacing.py turns CPython's automatic full collections off: what a delivered event
leaves behind must then still be freed by reference counting and young collections, or
memory grows until the next scheduled full collection. 20,000 events through the server's
own schema and feed with pacing on and no full collection at all."""

from __future__ import annotations

import asyncio
import gc
import sys

import asyncpg

from ops.gc_pacing import GROWTH, NEVER, _collect_every, paced_collections
from service.inventory import Inventory
from tests.integration.test_subscription_memory import (
    EVENTS,
    MAX_GROWTH_MB,
    WARMUP,
    rss_growth_over_events,
)


async def test_pacing_restores_the_collector_when_it_ends() -> None:
    before = gc.get_threshold()
    async with paced_collections(3600):
        assert gc.get_threshold()[2] == NEVER
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_no_full_collection_needed_over_20000_delivered_events(
    pool: asyncpg.Pool, inventory: Inventory
) -> None:
    full_before = gc.get_stats()[2]["collections"]
    # no scheduled collection within the test, none for growth either: what is measured is
    # what reference counting and young collections free on their own
    async with paced_collections(3600, growth=float("inf")):
        # young generations only, as the automatic collector does
        growth = await rss_growth_over_events(pool, inventory, lambda: gc.collect(1))
        full_after = gc.get_stats()[2]["collections"]
    assert full_after == full_before + 1  # only the one pacing runs when it starts
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MB over {EVENTS - WARMUP} events"


async def full_collections_while(check: float, grow_by: float) -> int:
    """Full collections the pacing task runs (an hour's schedule, so only for growth) while
    the heap grows to `grow_by` times its allocated blocks, with cyclic garbage."""
    before = gc.get_stats()[2]["collections"]
    task = asyncio.create_task(_collect_every(3600, check=check))
    try:
        await asyncio.sleep(0)  # the task reads its baseline
        wanted = int(sys.getallocatedblocks() * (grow_by - 1))
        garbage: list[object] = []
        while len(garbage) < wanted:  # cycles: only a collection frees them
            pair: list[object] = []
            pair.append(pair)
            garbage.append(pair)
        garbage.clear()  # unreachable now, and most of it promoted past the young generations
        async with asyncio.timeout(5):
            while gc.get_stats()[2]["collections"] == before and grow_by > GROWTH:
                await asyncio.sleep(check)
        await asyncio.sleep(check * 3)  # a few more checks: one collection, not a loop
        return int(gc.get_stats()[2]["collections"] - before)
    finally:
        task.cancel()


async def test_a_fast_growing_heap_is_collected_before_its_schedule() -> None:
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], NEVER)
    try:
        assert await full_collections_while(0.01, GROWTH + 0.2) == 1
        assert await full_collections_while(0.01, 1.05) == 0
    finally:
        gc.set_threshold(*thresholds)
