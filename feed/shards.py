"""A broadcaster backend over a Redis Cluster's sharded pub/sub (SPUBLISH, SSUBSCRIBE; Redis 7):
feed/broadcast.py wraps it when bootstrap/ shares a cluster client.

One listener per master that serves a subscribed channel's slot; after a failover, a moved slot
or a lost connection the channel is subscribed again on its owner and gets RESYNC, as
feed/backends.py's does. Not redis-py's ClusterPubSub: it polls every node's pubsub in one
round robin with a timeout each (one hung node delays all), watches no connection's health
(redis-py #3979) and moves channels only on slot-map events (a dead node answers with a refused
connection, not MOVED: redis-py #4076)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisClusterException, RedisError

from feed.backends import RESYNC, FeedUnavailable
from feed.outlet import Outlet
from feed.shard_listener import UNREACHABLE, Shard, ShardMoved

log = logging.getLogger(__name__)


def cluster_client(nodes: Sequence[tuple[str, int]], *, timeout: float = 1.0, tls: bool = False,
                   username: str | None = None, password: str | None = None) -> RedisCluster:
    """A cluster client as the backend needs it: RESP2 (listeners read pub/sub replies as
    lists), seeded with `nodes` (it learns the rest). It connects on first use."""
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes], protocol=2,
        socket_timeout=timeout, socket_connect_timeout=timeout, ssl=tls,
        username=username, password=password,
    )


class ShardedRedisBackend(BroadcastBackend):
    """Publishes with SPUBLISH through `client`; listens with one connection per master."""

    def __init__(
        self, client: RedisCluster, *, owns_client: bool = False, timeout: float = 1.0,
        min_backoff: float = 0.05, max_backoff: float = 1.0,
        health_check_interval: float = 2.0,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.health_check_interval = health_check_interval
        self._owns_client = owns_client
        self._outlet = Outlet("redis cluster feed")
        self.channels: set[str] = set()  # wanted, whichever shard serves them
        self.resync: set[str] = set()  # get RESYNC once (re)subscribed
        self._shards: dict[str, Shard] = {}
        self._placer: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(self.timeout * 2):
                await self.client.initialize()
        except UNREACHABLE as exc:
            log.warning("redis cluster feed: not reachable yet (%s); subscribers will get "
                        "RESYNC once it is", exc)

    async def disconnect(self) -> None:
        for task in (self._placer, self._refresher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            await shard.stop()
        if self._owns_client:
            await self.client.aclose()

    def owner(self, channel: str) -> str | None:
        """The master serving `channel`'s slot, as the client's slot map says now."""
        try:
            node = self.client.get_node_from_key(channel)
        except (RedisError, RedisClusterException, IndexError, KeyError, AttributeError):
            return None  # no slot map yet: the placer reads it
        return None if node is None else node.name

    async def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        node = self.owner(channel)
        if node is None:
            self.resync.add(channel)
            self._homeless()
            return
        await self._shard(node).add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self.resync.discard(channel)
        for shard in self._shards.values():
            if channel in shard.channels:
                await shard.remove(channel)

    async def publish(self, channel: str, message: Any) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, messages: Sequence[tuple[str, Any]]) -> None:
        """One pipeline per master, side by side: each master gets its SPUBLISHes in one
        round trip (one SKU's keep their order), and a master that is down (a failover under
        way) loses only the events of the slots it serves. One that this instance's listener
        could not connect to is not tried (its subscribers RESYNC once it is back or replaced):
        the batch does not wait out the timeout, so the other masters' SKUs keep flowing."""
        groups: dict[str | None, list[tuple[str, Any]]] = {}
        for channel, message in messages:
            groups.setdefault(self.owner(channel), []).append((channel, message))
        results = await asyncio.gather(*(self._publish(node, group)
                                         for node, group in groups.items()),
                                       return_exceptions=True)
        failed = [(len(group), error) for group, error in zip(groups.values(), results,
                                                               strict=True) if error]
        if failed:
            lost = sum(count for count, _ in failed)
            raise FeedUnavailable(f"cannot publish {lost} of {len(messages)} events: "
                                  f"{failed[0][1]!r}") from failed[0][1]

    async def _publish(self, node: str | None, messages: Sequence[tuple[str, Any]]) -> None:
        shard = self._shards.get(node or "")
        if shard is not None and shard.refused:
            raise FeedUnavailable(f"{node} refused this instance's listener")
        try:
            async with asyncio.timeout(self.timeout):
                async with self.client.pipeline(transaction=False) as pipe:
                    for channel, message in messages:
                        pipe.spublish(channel, message)
                    await pipe.execute()
        except UNREACHABLE as exc:
            self._refresh_slots()
            raise FeedUnavailable(f"{exc!r}") from exc

    def _refresh_slots(self) -> None:
        """A publish failed: the slot map is read again in the background (at most one at a
        time), so that after a failover the next batch goes to the promoted replica even on an
        instance that listens to nothing there (redis-py refreshes it only on some errors)."""
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh(), name="redis-cluster-slots")

    async def _refresh(self) -> None:
        with contextlib.suppress(*UNREACHABLE):
            async with asyncio.timeout(self.timeout * 2):
                await self.client.nodes_manager.initialize()

    def deliver_to(self, receive: Callable[[Event], None]) -> None:
        self._outlet.deliver_to(receive)

    async def next_published(self) -> Event:
        return await self._outlet.next_published()

    def emit(self, event: Event) -> None:
        self._outlet.emit(event)

    def confirmed(self, channel: str) -> None:
        """A shard's SSUBSCRIBE of `channel` was confirmed: RESYNC if it was (re)subscribed
        after messages may have been missed."""
        if channel in self.resync and channel in self.channels:
            self.resync.discard(channel)
            self.emit(Event(channel, RESYNC))

    def _shard(self, node: str) -> Shard:
        shard = self._shards.get(node)
        if shard is None:
            shard = self._shards[node] = Shard(self, node)
        return shard

    def connection(self, node: str) -> AbstractConnection:
        found = self.client.get_node(node_name=node)
        if found is None:
            raise ShardMoved(f"{node} is no longer in the cluster")
        conn: AbstractConnection = found.connection_class(**found.connection_kwargs)
        return conn

    async def rehome(self, shard: Shard) -> None:
        """After `shard`'s connection failed: refreshes the slot map and moves each of its
        channels that another master serves now (failover, resharding) to that master's
        listener, with a RESYNC once subscribed there."""
        try:
            async with asyncio.timeout(self.timeout * 2):
                await self.client.nodes_manager.initialize()
        except UNREACHABLE as exc:
            log.warning("redis cluster feed: refreshing the slot map failed: %s", exc)
            return
        moved: dict[str, list[str]] = {}
        for channel in list(shard.channels):
            node = self.owner(channel)
            if node is not None and node != shard.node:
                shard.channels.discard(channel)
                moved.setdefault(node, []).append(channel)
        for node, channels in moved.items():
            log.info("redis cluster feed: %d channel(s) moved from %s to %s", len(channels),
                     shard.node, node)
            await self._shard(node).take(channels)
        if not shard.channels and self._shards.get(shard.node) is shard:
            del self._shards[shard.node]
            shard.retired = True  # its task ends: nothing left to listen to there

    def _homeless(self) -> None:
        """A channel was subscribed before the slot map could be read: a task places the
        channels no shard serves once it can."""
        if self._placer is None or self._placer.done():
            self._placer = asyncio.create_task(self._place(), name="redis-cluster-placer")

    async def _place(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                async with asyncio.timeout(self.timeout * 2):
                    await self.client.initialize()
                served = set().union(*(s.channels for s in self._shards.values()))
                placed: dict[str, list[str]] = {}
                for channel in self.channels - served:
                    node = self.owner(channel)
                    if node is None:
                        raise ShardMoved(f"no master serves {channel!r} yet")
                    placed.setdefault(node, []).append(channel)
                for node, channels in placed.items():
                    await self._shard(node).take(channels)
                return
            except (*UNREACHABLE, ShardMoved) as exc:
                log.warning("redis cluster feed: still not reachable (%s)", exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)
