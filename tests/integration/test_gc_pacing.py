"""ops/gc_pacing.py turns CPython's automatic full collections off: what a delivered event
leaves behind must then still be freed by reference counting and young collections, or
memory grows until the next scheduled full collection. 20,000 events through the server's
own schema and feed with pacing on and no full collection at all."""

from __future__ import annotations

import gc

import asyncpg

from ops.gc_pacing import NEVER, paced_collections
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
    async with paced_collections(3600):  # no scheduled collection within the test
        # young generations only, as the automatic collector does
        growth = await rss_growth_over_events(pool, inventory, lambda: gc.collect(1))
        full_after = gc.get_stats()[2]["collections"]
    assert full_after == full_before + 1  # only the one pacing runs when it starts
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MB over {EVENTS - WARMUP} events"
