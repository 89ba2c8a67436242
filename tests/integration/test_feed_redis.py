"""Live feeds across real Redis: outages, several server processes, slow consumers."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
import psutil
import pytest
import redis.asyncio as aioredis
import websockets

from domain.model import StockEvent
from feed import codec
from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, ADMIN_KEY, RunningServer, database_name
from tests.integration.test_subscription_memory import event
from tests.processes import ServerProcess
from tests.redis_server import RedisServer


def big_event(sequence: int) -> StockEvent:
    """An event with a 4 KB reference: 10,000 of them (40 MB) overflow every socket buffer."""
    return dataclasses.replace(event(sequence), reference="r" * 4096)


@pytest.fixture
async def redis_server_app(settings: Settings, redis_url: str,
                           request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    read_model = getattr(request, "param", settings.read_model)
    running = RunningServer(dataclasses.replace(settings, redis_url=redis_url, feed_sweep_interval=30,
                                                read_model=read_model))
    await running.start()
    yield running
    await running.stop()


async def prepared(url: str) -> GraphQLClient:
    session = aiohttp.ClientSession()
    client = GraphQLClient(url, session, ADMIN)
    await client.data(SETUP)
    await set_stock(client, "SKU-1", "WH-A", 10)
    return client


async def test_redis_outage_mid_stream_loses_and_duplicates_nothing(
    redis_server_app: RunningServer, redis_server: RedisServer
) -> None:
    client = await prepared(redis_server_app.graphql_url)
    try:
        async with Feed(redis_server_app.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
            first = (await feed.next())["stockEvents"]["sequence"]
            await restock(client)
            assert (await feed.next())["stockEvents"]["sequence"] == first + 1
            redis_server.stop()
            started = time.monotonic()
            for _ in range(5):
                await restock(client)  # mutations keep working while Redis is down
            assert time.monotonic() - started < 5
            redis_server.start()
            for _ in range(2):
                await restock(client)
            got = [(await feed.next(timeout=15))["stockEvents"]["sequence"] for _ in range(7)]
            await asyncio.sleep(0.5)  # nothing more may come: no duplicate
            assert feed.items.empty()
        assert got == list(range(first + 2, first + 9))
    finally:
        redis_server.start()
        await client.session.close()


@pytest.fixture
async def two_instances(database_url: str, redis_url: str) -> AsyncIterator[list[ServerProcess]]:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ADMIN_API_KEY": ADMIN_KEY,
           "FEED_CHANNEL_PREFIX": database_name(database_url),
           "FEED_SWEEP_INTERVAL_MS": "60000", "DB_POOL_MAX_SIZE": "4"}
    servers = [ServerProcess(env), ServerProcess(env)]
    try:
        await asyncio.gather(*(s.start() for s in servers))
        yield servers
    finally:
        for s in servers:
            s.stop()


async def test_subscribe_on_one_process_mutate_on_another(two_instances: list[ServerProcess]) -> None:
    a, b = two_instances
    client = await prepared(b.graphql_url)
    try:
        async with Feed(a.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[1]) as feed:
            snapshot = (await feed.next())["stockEvents"]
            started = time.monotonic()
            await restock(client, 3)
            change = (await feed.next(timeout=5))["stockEvents"]
            # far below the 60 s sweep: the event came over Redis
            assert time.monotonic() - started < 3
        assert change["sequence"] == snapshot["sequence"] + 1 and change["available"] == 13
    finally:
        await client.session.close()


async def test_a_client_that_never_reads_is_cut_off_and_memory_stays_bounded(
    database_url: str, redis_url: str
) -> None:
    prefix = database_name(database_url)
    server = ServerProcess({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ADMIN_API_KEY": ADMIN_KEY,
                            "FEED_CHANNEL_PREFIX": prefix, "FEED_SWEEP_INTERVAL_MS": "60000",
                            "FEED_QUEUE_SIZE": "500"})
    await server.start()
    publisher = aioredis.Redis.from_url(redis_url)
    try:
        client = await prepared(server.graphql_url)
        await client.data('mutation { upsertSku(input: {code: "MEM-1", name: "m"}) { userErrors { code } } }')
        await client.session.close()
        # an admin sees the 4 KB references (anonymous subscribers get them as null)
        init = orjson.dumps({"type": "connection_init",
                             "payload": {"Authorization": f"Bearer {ADMIN_KEY}"}}).decode()
        subscribe = orjson.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": 'subscription { stockEvents(sku: "MEM-1") { sequence kind reference } }'}}).decode()
        slow = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"],
                                        max_size=None, max_queue=1, compression=None)
        await slow.send(init)
        assert orjson.loads(await slow.recv())["type"] == "connection_ack"
        await slow.send(subscribe)
        assert orjson.loads(await slow.recv())["payload"]["data"]["stockEvents"]["kind"] == "SNAPSHOT"
        async with Feed(server.ws_url, EVENTS, {"sku": "MEM-1"}, PROTOCOLS[0]) as reader:
            assert (await reader.next())["stockEvents"]["kind"] == "SNAPSHOT"
            rss_before = psutil.Process(server.pid).memory_info().rss
            for start in range(1, 10_001, 500):
                async with publisher.pipeline(transaction=False) as pipe:
                    for n in range(start, start + 500):
                        pipe.publish(f"{prefix}:stock:MEM-1", codec.encode(big_event(n)))
                    await pipe.execute()
                # the reader keeps up, in order; the slow client reads nothing at all
                for n in range(start, start + 500):
                    assert (await reader.next(timeout=20))["stockEvents"]["sequence"] == n
                    seen = n
            rss_after = psutil.Process(server.pid).memory_info().rss
        assert seen == 10_000
        assert rss_after - rss_before < 40 * 2**20, (rss_before, rss_after)
        # the slow client was told why it was cut off, after what it had buffered
        received = 0
        async with asyncio.timeout(30):
            while True:
                message = orjson.loads(await slow.recv())
                if message["type"] != "next" or "errors" in message["payload"]:
                    break
                received += 1
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "SLOW_CONSUMER"
        assert received < 10_000
        assert orjson.loads(await slow.recv())["type"] == "complete"
        await slow.close()
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as r:
            assert r.status == 200
    finally:
        await publisher.aclose()
        server.stop()


# without a read model: the SKUs it keeps stay subscribed (feed/read_model.py)
@pytest.mark.parametrize("redis_server_app", [False], indirect=True, ids=["no read model"])
async def test_one_redis_subscription_per_sku_whatever_the_number_of_clients(
    redis_server_app: RunningServer, redis_url: str, settings: Settings
) -> None:
    client = await prepared(redis_server_app.graphql_url)
    redis = aioredis.Redis.from_url(redis_url)
    channel = f"{settings.feed_prefix}:stock:SKU-1"
    try:
        feeds = [Feed(redis_server_app.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[n % 2]) for n in range(5)]
        for feed in feeds:
            await feed.__aenter__()
            await feed.next()
        assert (await redis.pubsub_numsub(channel))[0][1] == 1
        await restock(client)
        assert [(await f.next())["stockEvents"]["sequence"] for f in feeds] == [2] * 5
        for feed in feeds:
            await feed.__aexit__()
        async with asyncio.timeout(5):  # the last client gone, the instance unsubscribes
            while (await redis.pubsub_numsub(channel))[0][1] != 0:
                await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
        await client.session.close()


async def test_rate_limits_are_shared_by_instances_through_redis(settings: Settings, redis_url: str) -> None:
    shared = dataclasses.replace(settings, redis_url=redis_url, rate_limit_anonymous=10)
    servers = [RunningServer(shared), RunningServer(shared)]
    for s in servers:
        await s.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def one(url: str) -> int:
                async with session.post(url, json={"query": "{ locations { code } }"}) as r:
                    return r.status

            for _ in range(5):  # all 60 requests must land in one one-second window
                await asyncio.sleep(1 - time.time() % 1 + 0.01)
                window = int(time.time())
                statuses = await asyncio.gather(*(one(s.graphql_url) for s in servers for _ in range(30)))
                if int(time.time()) == window:
                    break
            else:
                pytest.fail("could not fit the burst in one second")
        # one budget of 10 for both instances, not 10 each
        assert statuses.count(200) == 10 and statuses.count(429) == 50, statuses
    finally:
        for s in servers:
            await s.stop()
