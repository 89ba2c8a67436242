"""The feed and the rate limit on a Redis Cluster (3 masters, 3 replicas, redis-server 7).

Events cross instances through sharded pub/sub, and a master SIGKILLed mid-stream loses and
doubles nothing for any subscriber (the listener moves to the promoted replica and gap-fills)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient
from redis.crc import key_slot

from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.redis_cluster import RedisCluster, cluster_unavailable

pytestmark = pytest.mark.skipif(cluster_unavailable() is not None,
                                reason=cluster_unavailable() or "")
SKUS = ["SKU-1", "SKU-2", "SKU-3", "SKU-4"]


@pytest.fixture
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as running:
        yield running


@pytest.fixture
async def instances(settings: Settings, cluster: RedisCluster) -> AsyncIterator[list[RunningServer]]:
    """Two instances on one database and the cluster; a 60 s sweep, so only the backbone, its
    RESYNC and gap fill can deliver events in time."""
    shared = dataclasses.replace(settings, redis_url=cluster.url, redis_cluster=True,
                                 feed_sweep_interval=60, rate_limit_anonymous=10)
    servers = [RunningServer(shared), RunningServer(shared)]
    for server in servers:
        await server.start()
    try:
        yield servers
    finally:
        for server in servers:
            await server.stop()


async def catalogue(session: aiohttp.ClientSession, url: str) -> GraphQLClient:
    client = GraphQLClient(url, session, ADMIN)
    await client.data(SETUP)
    for sku in SKUS[2:]:
        await client.data('mutation($c: String!) { upsertSku(input: {code: $c, name: "x"}) '
                          '{ userErrors { code } } }', {"c": sku})
    for sku in SKUS:
        await set_stock(client, sku, "WH-A", 100)
    return client


def channel(settings: Settings, sku: str) -> str:
    return f"{settings.feed_prefix}:stock:{{{sku}}}"


async def burst_statuses(url: str) -> list[int]:
    """30 anonymous requests inside one one-second window (tried again if it straddled)."""
    async with aiohttp.ClientSession() as session:
        async def one() -> int:
            async with session.post(url, json={"query": "{ locations { code } }"}) as r:
                return r.status

        for _ in range(5):
            await asyncio.sleep(1 - time.time() % 1 + 0.01)
            window = int(time.time())
            statuses = await asyncio.gather(*(one() for _ in range(30)))
            if int(time.time()) == window:
                return list(statuses)
    pytest.fail("could not fit the burst in one second")


async def readiness(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as r:
        return r.status, await r.json()


async def ready_again(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """/readyz once it answers 200 again (bounded): the slot map has dropped a dead master."""
    async with asyncio.timeout(timeout):
        while True:
            status, body = await readiness(url)
            if status == 200:
                return body
            await asyncio.sleep(0.2)


async def test_events_cross_instances_through_sharded_pubsub(
    instances: list[RunningServer], cluster: RedisCluster, settings: Settings
) -> None:
    a, b = instances
    probe = ClusterClient.from_url(cluster.url.replace("redis+cluster", "redis").split(",")[0])
    await probe.initialize()
    async with aiohttp.ClientSession() as session:
        client = await catalogue(session, b.graphql_url)
        feeds = [Feed(a.ws_url, EVENTS, {"sku": sku}, PROTOCOLS[0]) for sku in SKUS]
        try:
            for feed in feeds:
                await feed.__aenter__()
                await feed.next()  # the snapshot
            started = time.monotonic()
            for sku in SKUS:
                await restock(client, 2, sku)
            got = [(await feed.next(timeout=5))["stockEvents"] for feed in feeds]
            assert time.monotonic() - started < 3  # far below the 60 s sweep: the backbone
            assert [(e["sku"], e["available"]) for e in got] == [(s, 102) for s in SKUS]
            # one shard channel per SKU, subscribed on the master serving its slot
            for sku in SKUS:
                node = probe.get_node(port=cluster.owner(key_slot(channel(settings, sku).encode())),
                                      host="127.0.0.1")
                assert node is not None
                numsub = await probe.execute_command(
                    "PUBSUB", "SHARDNUMSUB", channel(settings, sku), target_nodes=node)
                assert numsub[1] == 1, (sku, numsub)
        finally:
            for feed in feeds:
                await feed.__aexit__()
            await probe.aclose()
    status, body = await readiness(a.url)
    assert status == 200 and body["redis"] == "ok", body
    # one budget of 10 for both instances, counted on the cluster
    statuses = await burst_statuses(a.graphql_url)
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses


async def test_a_moved_slot_is_followed_to_its_new_master(
    instances: list[RunningServer], cluster: RedisCluster, settings: Settings
) -> None:
    """Resharding moves SKU-1's slot: the old master drops the subscription (`sunsubscribe`),
    the listener re-subscribes on the new one, and the next events arrive over it."""
    a, b = instances
    slot = key_slot(channel(settings, "SKU-1").encode())
    async with aiohttp.ClientSession() as session:
        client = await catalogue(session, b.graphql_url)
        async with Feed(a.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
            first = (await feed.next())["stockEvents"]["sequence"]
            await restock(client, 1)
            assert (await feed.next(timeout=5))["stockEvents"]["sequence"] == first + 1
            target = next(p for p in cluster.masters() if p != cluster.owner(slot))
            await asyncio.to_thread(cluster.move_slot, slot, target)
            probe = ClusterClient(host="127.0.0.1", port=target)
            try:
                await probe.initialize()
                node = probe.get_node(host="127.0.0.1", port=target)
                async with asyncio.timeout(10):  # the listener moved: one subscriber there
                    while (await probe.execute_command(
                            "PUBSUB", "SHARDNUMSUB", channel(settings, "SKU-1"),
                            target_nodes=node))[1] != 1:
                        await asyncio.sleep(0.05)
            finally:
                await probe.aclose()
            started = time.monotonic()
            for _ in range(3):
                await restock(client, 1)
            got = [(await feed.next(timeout=5))["stockEvents"]["sequence"] for _ in range(3)]
            assert time.monotonic() - started < 3  # over the new master, not the 60 s sweep
            await asyncio.sleep(0.3)
            assert feed.items.empty()
    assert got == [first + 2, first + 3, first + 4]


async def test_a_master_killed_mid_stream_loses_and_doubles_nothing(
    instances: list[RunningServer], cluster: RedisCluster, settings: Settings
) -> None:
    a, b = instances
    victim_sku = SKUS[0]
    slot = key_slot(channel(settings, victim_sku).encode())
    async with aiohttp.ClientSession() as session:
        clients = [await catalogue(session, b.graphql_url), GraphQLClient(a.graphql_url, session, ADMIN)]
        feeds = [Feed(server.ws_url, EVENTS, {"sku": sku}, PROTOCOLS[n % 2])
                 for n, server in enumerate(instances) for sku in SKUS]
        firsts: list[int] = []
        stop = asyncio.Event()
        changes = 0
        slowest = 0.0

        async def change_steadily() -> None:
            nonlocal changes, slowest
            while not stop.is_set():
                sku = SKUS[changes % len(SKUS)]
                started = time.monotonic()
                await restock(clients[changes % 2], 1, sku)
                slowest = max(slowest, time.monotonic() - started)
                changes += 1
                await asyncio.sleep(0.03)

        try:
            for feed in feeds:
                await feed.__aenter__()
                firsts.append((await feed.next())["stockEvents"]["sequence"])
            writer = asyncio.create_task(change_steadily())
            await asyncio.sleep(1)
            victim = cluster.owner(slot)
            before, slowest = slowest, 0.0
            cluster.kill(victim)
            killed = time.monotonic()
            promoted = await asyncio.to_thread(cluster.await_failover, victim, slot, 20.0)
            failover = time.monotonic() - killed
            at_failover = changes
            await asyncio.sleep(2)  # keep changing on the new topology
            stop.set()
            await asyncio.wait_for(writer, 10)
            heads = await head_sequences(clients[0])
            for feed, first, sku in zip(feeds, firsts, SKUS * 2, strict=True):
                want = list(range(first + 1, heads[sku] + 1))
                got = [(await feed.next(timeout=20))["stockEvents"]["sequence"] for _ in want]
                assert got == want, (sku, got, want)
            await asyncio.sleep(0.5)  # nothing more may come: no duplicate
            assert all(feed.items.empty() for feed in feeds)
        finally:
            stop.set()
            for feed in feeds:
                await feed.__aexit__()
    print(f"failover: {victim} -> {promoted} in {failover:.1f} s; {changes} changes, the "
          f"slowest {before * 1000:.0f} ms before the kill, {slowest * 1000:.0f} ms after")
    assert at_failover > 5 and changes - at_failover > 5  # changes before and after
    # readiness and the rate limit work again once the slot map moved on
    assert (await ready_again(a.url))["redis"] == "ok"
    statuses = await burst_statuses(b.graphql_url)
    assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses


async def head_sequences(client: GraphQLClient) -> dict[str, int]:
    data: dict[str, Any] = await client.data(
        "query($c: [String!]!) { skusByCode(codes: $c) { code sequence } }", {"c": SKUS})
    return {row["code"]: row["sequence"] for row in data["skusByCode"]}
