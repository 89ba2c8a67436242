"""feed/shards.py on its own against a real Redis Cluster: channels over every master in order,
subscriptions released, and a cluster that comes up after its subscribers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from broadcaster import Event
from redis.asyncio.cluster import RedisCluster as ClusterClient

from feed.backends import RESYNC
from feed.broadcast import BoundedBroadcast, BoundedSubscriber, make_broadcast
from tests.redis_cluster import RedisCluster, cluster_unavailable

pytestmark = pytest.mark.skipif(cluster_unavailable() is not None,
                                reason=cluster_unavailable() or "")
CHANNELS = [f"t:stock:{{SKU-{n}}}" for n in range(12)]  # slots on all three masters


@pytest.fixture
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as running:
        yield running


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[BoundedBroadcast]:
    broadcast = make_broadcast(url)
    await broadcast.connect()
    try:
        yield broadcast
    finally:
        await broadcast.disconnect()


async def receive(subscriber: BoundedSubscriber, timeout: float = 5.0) -> Event:
    async with asyncio.timeout(timeout):
        return await subscriber.get()


async def shard_subscribers(cluster: RedisCluster, channel: str) -> int:
    client = ClusterClient(host="127.0.0.1", port=cluster.ports[0])
    try:
        await client.initialize()
        node = client.get_node_from_key(channel)
        reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
        return int(reply[1])
    finally:
        await client.aclose()


async def test_each_channel_keeps_its_order_whichever_master_serves_it(
    cluster: RedisCluster,
) -> None:
    async with connected(cluster.url) as broadcast, contextlib.AsyncExitStack() as stack:
        subscribers = [await stack.enter_async_context(broadcast.subscribe(c)) for c in CHANNELS]
        for start in range(0, 60, 20):  # batches mixing every channel, as the outbox sends
            await broadcast.publish_many([(c, f"{n}") for n in range(start, start + 20)
                                          for c in CHANNELS])
        for channel, subscriber in zip(CHANNELS, subscribers, strict=True):
            got = [(await receive(subscriber)).message for _ in range(60)]
            assert got == [str(n) for n in range(60)], channel
        owners = {cluster.owner(cluster_slot(c)) for c in CHANNELS}
        assert len(owners) == 3  # the channels really were spread over every master
        assert await shard_subscribers(cluster, CHANNELS[0]) == 1
    async with asyncio.timeout(5):  # released on the way out
        while await shard_subscribers(cluster, CHANNELS[0]) != 0:
            await asyncio.sleep(0.05)


async def test_subscribers_before_the_cluster_is_up_get_resync_then_events() -> None:
    cluster = RedisCluster()  # its ports are chosen; nothing listens on them yet
    try:
        async with connected(cluster.url) as broadcast:
            async with broadcast.subscribe(CHANNELS[0]) as subscriber:
                await asyncio.to_thread(cluster.start)
                resync = await receive(subscriber, timeout=20)
                assert resync.message == RESYNC  # whatever was published meanwhile: re-read
                await broadcast.publish(CHANNELS[0], "after")
                assert (await receive(subscriber)).message == "after"
    finally:
        cluster.close()


def cluster_slot(channel: str) -> int:
    from redis.crc import key_slot

    return key_slot(channel.encode())
