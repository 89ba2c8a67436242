"""inventory_slow_consumers_total counts a subscriber dropped as SLOW_CONSUMER: a real SSE
client on a real server with FEED_QUEUE_SIZE 1, and one commit of ten stock changes."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
from prometheus_client import REGISTRY

from domain.model import LocationKind
from service import cataloguing
from service.inventory import Inventory
from settings import Settings
from tests.conftest import ADMIN, RunningServer

BULK = """mutation($lines: [AdjustStockInput!]!) { bulkAdjustStock(input: {lines: $lines}) {
            results { userErrors { code } } } }"""


def dropped(transport: str) -> float:
    value = REGISTRY.get_sample_value("inventory_slow_consumers_total", {"transport": transport})
    assert value is not None
    return value


async def test_an_sse_subscriber_that_falls_behind_is_counted(
    settings: Settings, inventory: Inventory,
) -> None:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="BURST", name="BURST", low_stock_threshold=0)
    before = dropped("sse")
    lines = [{"sku": "BURST", "location": "W", "delta": 1, "reason": "RESTOCK"}] * 10
    async with (
        RunningServer(dataclasses.replace(settings, feed_queue_size=1)) as server,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.get(f"{server.url}/skus/BURST/events") as stream,
    ):
        assert stream.status == 200
        async with session.post(server.graphql_url, json={"query": BULK,
                                "variables": {"lines": lines}}, headers=ADMIN) as response:
            assert response.status == 200
        async with asyncio.timeout(15):
            body = await stream.content.read()  # the server ends a dropped subscriber's stream
    assert body.count(b"event: stock") < 10
    assert dropped("sse") == before + 1
