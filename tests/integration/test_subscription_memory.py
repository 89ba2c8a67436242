"""The process serving a subscription stays flat over many delivered events (graphql-core 3.3
leaked ~1.9 KB per event; see schema/execution.py). Runs the server's own schema and feed."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from domain.model import AvailabilityStatus, StockEvent, StockEventKind, StockLevel
from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from resolvers.context import Context
from schema.root import build_schema
from service.access import Gatekeeper
from service.inventory import Inventory

EVENTS = 20_000
WARMUP = 500
MAX_GROWTH_MB = 8.0  # without the workaround: about 30 MB


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def event(sequence: int) -> StockEvent:
    now = datetime.now(UTC)
    return StockEvent(
        sku="MEM-1", sequence=sequence, kind=StockEventKind.ADJUSTED, location_id=None,
        location=None, on_hand_delta=1, reserved_delta=0,
        level=StockLevel("MEM-1", 1, sequence, 0, 0, sequence, now), sku_on_hand=sequence,
        sku_reserved=0, available=sequence, status=AvailabilityStatus.IN_STOCK, reason=None,
        reservation_id=None, reference=None, occurred_at=now,
    )


async def rss_growth_over_events(
    pool: asyncpg.Pool, inventory: Inventory, collect: Callable[[], object]
) -> float:
    """MB of RSS the process grew by while EVENTS - WARMUP events were delivered to one
    subscription through the server's own schema and feed; `collect` runs before each
    reading."""
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO skus (code, name) VALUES ('MEM-1', 'memory')")
    broadcast = make_broadcast(None)
    await broadcast.connect()
    feed = StockFeed(broadcast, pool, sweep_interval=3600)
    await feed.start()
    try:
        context = Context(inventory=inventory, feed=feed, gatekeeper=Gatekeeper(pool), cache=False)
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
            assert result.data["stockEvents"]["sequence"] == count
            if count == WARMUP:
                collect()
                start = rss_mb()
            if count == EVENTS:
                collect()
                end = rss_mb()
                break
            count += 1
            await feed.publish([event(count)])
    finally:
        await feed.stop()
        await broadcast.disconnect()
    return end - start


async def test_rss_is_flat_over_20000_delivered_events(
    pool: asyncpg.Pool, inventory: Inventory
) -> None:
    growth = await rss_growth_over_events(pool, inventory, gc.collect)
    assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MB over {EVENTS - WARMUP} events"
