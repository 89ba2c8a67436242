"""Redaction by viewer keeps executions shared: one per event, query shape and visibility
(domain.ownership), so a page of anonymous subscribers still costs one execution."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg

from domain.access import Principal, Scope
from feed.broadcast import make_broadcast
from feed.hub import StockFeed
from resolvers.context import Context
from schema.root import build_schema
from service.access import Gatekeeper
from service.inventory import Inventory
from tests.integration.test_subscription_memory import event

QUERY = 'subscription { stockEvents(sku: "MEM-1") { sequence reservationId reference location { code } } }'
RID = "6f1c1d3e-8f4a-4a57-9a55-2f8d7c2b1e01"


async def test_viewers_share_one_execution_per_visibility(
    pool: asyncpg.Pool, inventory: Inventory, location_resolutions: list[int]
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO skus (code, name) VALUES ('MEM-1', 'm')")
        location = await conn.fetchval(
            "INSERT INTO locations (code, name, kind) VALUES ('L', 'l', 'STORE') RETURNING id")
    broadcast = make_broadcast(None)
    await broadcast.connect()
    feed = StockFeed(broadcast, pool, sweep_interval=3600)
    await feed.start()
    served = build_schema()
    anonymous = Principal(None, "anonymous", frozenset({Scope.READ}))
    viewers = [anonymous] * 10 + [Principal(7, "owner", frozenset({Scope.READ}))] * 5 + [
        Principal(8, "other", frozenset({Scope.READ}))] * 5
    try:
        streams = []
        for principal in viewers:
            context = Context(inventory=inventory, feed=feed, gatekeeper=Gatekeeper(pool),
                              cache=False, principal=principal)
            streams.append(await served.subscribe(QUERY, context_value=context))
        async with asyncio.timeout(20):
            await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[arg-type]
            held = dataclasses.replace(event(1), location_id=location, location="L",
                                       reservation_id=RID, reference="order-1", actor=7)
            await feed.publish([held])
            results = await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[arg-type]
            assert len(location_resolutions) == 2  # one redacted execution, one full
            await feed.publish([dataclasses.replace(event(2), location_id=location, location="L")])
            await asyncio.gather(*(anext(s) for s in streams))  # type: ignore[arg-type]
            assert len(location_resolutions) == 3  # nothing hidden: one execution for all
        for principal, r in zip(viewers, results, strict=True):
            assert r.errors is None
            shown = (RID, "order-1") if principal.key_id == 7 else (None, None)
            data = r.data["stockEvents"]
            assert (data["reservationId"], data["reference"]) == shown, principal
        for s in streams:
            await s.aclose()  # type: ignore[union-attr]
    finally:
        await feed.stop()
        await broadcast.disconnect()
