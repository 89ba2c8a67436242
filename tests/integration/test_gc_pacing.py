"""ops/gc_pacing.py turns CPython's automatic full collections off: what a delivered event
leaves behind must then still be freed by reference counting and young collections, or
memory grows until the next scheduled full collection. 20,000 events through the server's
own schema and feed with pacing on and no full collection at all."""

from __future__ import annotations

import gc

import asyncpg

from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from ops.gc_pacing import NEVER, paced_collections
from resolvers.context import Context
from schema.root import build_schema
from service.access import Gatekeeper
from service.inventory import Inventory
from tests.integration.test_subscription_memory import EVENTS, MAX_GROWTH_MB, WARMUP, event, rss_mb


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
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO skus (code, name) VALUES ('MEM-1', 'memory')")
    broadcast = make_broadcast(None)
    await broadcast.connect()
    feed = StockFeed(broadcast, pool, sweep_interval=3600)
    await feed.start()
    full_before = gc.get_stats()[2]["collections"]
    try:
        async with paced_collections(3600):  # no scheduled collection within the test
            context = Context(inventory=inventory, feed=feed, gatekeeper=Gatekeeper(pool),
                              cache=False)
            stream = await build_schema().subscribe(
                """subscription { stockEvents(sku: "MEM-1") {
                     sequence kind available status level { onHand version } } }""",
                context_value=context,
            )
            start = end = 0.0
            count = 0
            async for result in stream:  # type: ignore[union-attr]
                assert result.errors is None, result.errors
                assert result.data is not None
                if count == WARMUP:
                    gc.collect(1)  # young generations only, as the automatic collector does
                    start = rss_mb()
                if count == EVENTS:
                    gc.collect(1)
                    end = rss_mb()
                    break
                count += 1
                await feed.publish([event(count)])
            full_after = gc.get_stats()[2]["collections"]
    finally:
        await feed.stop()
        await broadcast.disconnect()
    assert full_after == full_before + 1  # only the one pacing runs when it starts
    assert end - start < MAX_GROWTH_MB, f"RSS grew {end - start:.1f} MB over {EVENTS - WARMUP} events"
