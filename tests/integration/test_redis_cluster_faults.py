"""Redis Cluster faults beyond a clean kill: a hung master (only the listener's PING notices) and
a cluster that does not answer at all (mutations and the rate limit go on)."""

from __future__ import annotations

import asyncio
import dataclasses

import aiohttp
import pytest
from redis.crc import key_slot

from settings import Settings
from tests.api.conftest import SETUP, set_stock
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.integration.test_redis_cluster import (  # noqa: F401  # fixtures
    catalogue,
    channel,
    cluster,
    instances,
    readiness,
)
from tests.redis_cluster import RedisCluster, cluster_unavailable

pytestmark = pytest.mark.skipif(cluster_unavailable() is not None,
                                reason=cluster_unavailable() or "")


async def test_a_hung_master_is_noticed_by_ping_and_left_for_its_replica(
    instances: list[RunningServer], cluster: RedisCluster,  # noqa: F811  # the fixtures
    settings: Settings,
) -> None:
    """SIGSTOP: the master's sockets stay open and say nothing, so only the listener's own PING
    notices (redis-py's PubSub would wait forever); the replica takes over and the subscriber
    gets every event, in order, once."""
    a, b = instances
    slot = key_slot(channel(settings, "SKU-1").encode())
    async with aiohttp.ClientSession() as session:
        client = await catalogue(session, b.graphql_url)
        async with Feed(a.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[1]) as feed:
            first = (await feed.next())["stockEvents"]["sequence"]
            victim = cluster.owner(slot)
            cluster.pause(victim)
            try:
                for _ in range(3):  # mutations go on meanwhile
                    await restock(client, 1)
                await asyncio.to_thread(cluster.await_failover, victim, slot, 20.0)
                for _ in range(2):
                    await restock(client, 1)
                got = [(await feed.next(timeout=15))["stockEvents"]["sequence"]
                       for _ in range(5)]
                await asyncio.sleep(0.3)
                assert feed.items.empty()
            finally:
                cluster.resume(victim)
    assert got == list(range(first + 1, first + 6))


async def test_an_unreachable_cluster_leaves_mutations_and_the_rate_limit_working(
    settings: Settings,
) -> None:
    """No node answers: mutations commit (their events wait in the ledger), the rate limit
    fails open, /readyz says why it is not ready."""
    nowhere = RedisCluster()  # ports chosen, never started
    try:
        down = dataclasses.replace(settings, redis_url=nowhere.url, redis_cluster=True)
        async with RunningServer(down) as server, aiohttp.ClientSession() as session:
            client = GraphQLClient(server.graphql_url, session, ADMIN)
            await client.data(SETUP)
            await set_stock(client, "SKU-1", "WH-A", 5)
            async with session.post(server.graphql_url,
                                    json={"query": "{ locations { code } }"}) as r:
                assert r.status == 200
            status, body = await readiness(server.url)
        assert status == 503 and body["redis"].startswith("down"), body
    finally:
        nowhere.close()
