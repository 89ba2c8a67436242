"""availability(sku: <bundle>) live through a real uvicorn: a value only when a component's
change moves the bundle's available or status, through a channel, throttled, and at another
instance over Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.api.test_bundle_reads import add_kits, hold, kits, put
from tests.api.test_mutations import ADJUST, call
from tests.api.test_subscriptions import PROTOCOLS, Feed
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

__all__ = ["kits"]  # the fixture

BUNDLE = """subscription($sku: String!, $c: String, $t: Int) {
  availability(sku: $sku, channel: $c, throttleMs: $t) {
    code available status onHand reserved sequence } }"""
START = {"code": "KIT-1", "available": 5, "status": "IN_STOCK", "onHand": 7, "reserved": 0,
         "sequence": 0}


async def nothing_more(feed: Feed) -> None:
    with pytest.raises(TimeoutError):
        await feed.next(timeout=0.7)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_value_only_when_the_bundles_figure_moves(
    server: RunningServer, kits: GraphQLClient, protocol: str
) -> None:
    async with Feed(server.ws_url, BUNDLE, {"sku": "KIT-1"}, protocol) as feed:
        assert (await feed.next())["availability"] == START
        # SKU-2 at WH-A: 8 -> 7 available; KIT-1 there stays min(7 / 2, 7) = 3: no value
        await hold(kits, "SKU-2", "WH-A", 1)
        # SKU-1 at ST-B: 4 -> 2; KIT-1 there 2 -> 1: the next value is this one
        await hold(kits, "SKU-1", "ST-B", 2)
        assert (await feed.next())["availability"] == {**START, "available": 4}
        await put(kits, "SKU-2", "ST-B", 0)  # KIT-1 at ST-B: nothing on hand, nothing left
        assert (await feed.next())["availability"] == {**START, "available": 3, "onHand": 5}
        await hold(kits, "SKU-1", "WH-A", 2)  # WH-A: SKU-1 5 available, KIT-1 there 2
        assert (await feed.next())["availability"] == {
            **START, "available": 2, "status": "LOW_STOCK", "onHand": 5}
        await nothing_more(feed)


async def test_through_a_channel_only_its_locations_move_it(
    server: RunningServer, kits: GraphQLClient
) -> None:
    async with (Feed(server.ws_url, BUNDLE, {"sku": "KIT-1", "c": "store"}, PROTOCOLS[0])
                as store,
                Feed(server.ws_url, BUNDLE, {"sku": "KIT-1", "c": "web"}, PROTOCOLS[0]) as web,
                Feed(server.ws_url, BUNDLE, {"sku": "KIT-1"}, PROTOCOLS[0]) as every):
        first = [(await f.next())["availability"] for f in (store, web, every)]
        assert [(v["available"], v["status"], v["onHand"]) for v in first] == [
            (2, "LOW_STOCK", 7), (5, "IN_STOCK", 7), (5, "IN_STOCK", 7)]
        await hold(kits, "SKU-1", "WH-A", 2)  # WH-A is web's, not store's: KIT-1 there 2
        assert (await web.next())["availability"]["available"] == 4
        assert (await every.next())["availability"]["available"] == 4
        await hold(kits, "SKU-1", "ST-B", 2)  # ST-B: KIT-1 there 1
        assert (await store.next())["availability"] == {
            **START, "available": 1, "status": "LOW_STOCK"}
        assert (await web.next())["availability"]["available"] == 3
        assert (await every.next())["availability"]["available"] == 3
        await asyncio.gather(*(nothing_more(f) for f in (store, web, every)))


THROTTLE_MS = 400
VALUE = re.compile(rb'"availability":(\{[^{}]*\})')


async def _sse_values(url: str, query: str, variables: dict[str, Any],
                      into: asyncio.Queue[tuple[float, dict[str, Any]]]) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session, session.post(
        url, json={"query": query, "variables": variables},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status == 200
        buffer = b""
        while chunk := await response.content.readany():
            buffer += chunk
            found = list(VALUE.finditer(buffer))
            for match in found:
                await into.put((loop.time(), json.loads(match.group(1))))
            if found:
                buffer = buffer[found[-1].end():]


async def _restock(client: GraphQLClient, sku: str, n: int) -> None:
    p = await call(client, ADJUST, "adjustStock",
                   {"sku": sku, "location": "WH-A", "delta": n, "reason": "RESTOCK"})
    assert p["userErrors"] == []


async def test_throttle_spaces_values_and_delivers_the_last(
    server: RunningServer, kits: GraphQLClient
) -> None:
    """20 concurrent restocks at WH-A (10 x 2 SKU-1, 10 x 1 SKU-2): KIT-1 there ends at
    min(27 / 2, 18) = 13, so 15 in all (onHand 15 + 2); over graphql-sse."""
    arrivals: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    reader = asyncio.create_task(_sse_values(
        server.graphql_url, BUNDLE, {"sku": "KIT-1", "t": THROTTLE_MS}, arrivals))
    final = {**START, "available": 15, "onHand": 17}
    try:
        async with asyncio.timeout(20):
            seen = [await arrivals.get()]
            assert seen[0][1] == START
            await asyncio.gather(*(_restock(kits, sku, n) for sku, n in
                                   [("SKU-1", 2), ("SKU-2", 1)] * 10))
            while seen[-1][1] != final:
                seen.append(await arrivals.get())
            with pytest.raises(TimeoutError):  # the last value of the burst was the final one
                async with asyncio.timeout(THROTTLE_MS / 1000 * 1.5):
                    seen.append(await arrivals.get())
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:], strict=False)]
    assert len(seen) >= 2 and min(gaps) >= THROTTLE_MS / 1000 - 0.03, gaps
    assert [v["available"] for _, v in seen] == sorted(v["available"] for _, v in seen)


@pytest.fixture
async def two_instances(
    settings: Settings, redis_url: str
) -> AsyncIterator[tuple[RunningServer, RunningServer, GraphQLClient]]:
    """Two servers on one database and one Redis; the kits made through the first."""
    on_redis = dataclasses.replace(settings, redis_url=redis_url)
    async with (RunningServer(on_redis) as first, RunningServer(on_redis) as second,
                aiohttp.ClientSession() as session):
        client = GraphQLClient(first.graphql_url, session, ADMIN)
        assert all(v["userErrors"] == [] for v in (await client.data(SETUP)).values())
        await set_stock(client, "SKU-1", "WH-A", 10)
        await set_stock(client, "SKU-1", "ST-B", 4)
        await add_kits(client)
        yield first, second, client


async def test_a_change_at_one_instance_reaches_a_subscriber_of_another(
    two_instances: tuple[RunningServer, RunningServer, GraphQLClient],
) -> None:
    _, second, through_first = two_instances
    async with (Feed(second.ws_url, BUNDLE, {"sku": "KIT-1"}, PROTOCOLS[0]) as feed,
                Feed(second.ws_url, BUNDLE, {"sku": "KIT-1", "c": "store"}, PROTOCOLS[1])
                as store):
        assert (await feed.next())["availability"] == START
        assert (await store.next())["availability"]["available"] == 2
        await hold(through_first, "SKU-2", "WH-A", 1)  # moves nothing
        await hold(through_first, "SKU-1", "ST-B", 2)  # KIT-1 at ST-B: 1
        assert (await feed.next())["availability"] == {**START, "available": 4}
        assert (await store.next())["availability"]["available"] == 1
        await asyncio.gather(nothing_more(feed), nothing_more(store))
