"""One execution per event and query shape, shared by every local subscriber."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from resolvers.context import Context
from schema.root import build_schema
from service.access import Gatekeeper
from service.inventory import Inventory
from tests.integration.test_subscription_memory import event

WITH_LOCATION = 'subscription { stockEvents(sku: "MEM-1") { sequence available location { code } } }'
PLAIN = 'subscription { stockEvents(sku: "MEM-1") { sequence kind } }'


async def test_fifty_subscribers_one_execution_per_shape(
    pool: asyncpg.Pool, inventory: Inventory, location_resolutions: list[int]
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO skus (code, name) VALUES ('MEM-1', 'm')")
        await conn.execute("INSERT INTO locations (code, name, kind) VALUES ('L', 'l', 'STORE')")
    broadcast = make_broadcast(None)
    await broadcast.connect()
    feed = StockFeed(broadcast, pool, sweep_interval=3600)
    await feed.start()
    served = build_schema()
    try:
        streams = []
        for n in range(50):
            context = Context(inventory=inventory, feed=feed, gatekeeper=Gatekeeper(pool), cache=False)
            stream = await served.subscribe(WITH_LOCATION if n % 2 else PLAIN, context_value=context)
            streams.append(stream)
        async with asyncio.timeout(20):
            firsts = await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[arg-type]
            assert all(r.data["stockEvents"]["sequence"] == 0 for r in firsts)
            location = (await pool.fetchval("SELECT id FROM locations"))
            await feed.publish([_at(event(1), location)])
            results = await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[arg-type]
        for n, r in enumerate(results):
            assert r.errors is None
            assert r.data == ({"stockEvents": {"sequence": 1, "available": 1, "location": {"code": "L"}}}
                              if n % 2 else {"stockEvents": {"sequence": 1, "kind": "ADJUSTED"}})
        assert len(location_resolutions) == 1  # 25 subscribers asked for the location; it was resolved once
        for s in streams:
            await s.aclose()  # type: ignore[union-attr]
    finally:
        await feed.stop()
        await broadcast.disconnect()


def _at(e: Any, location_id: int) -> Any:
    import dataclasses

    return dataclasses.replace(e, location_id=location_id, location="L")
