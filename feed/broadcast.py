"""A broadcast over a broadcaster backend with bounded subscriber queues and race-free topic
bookkeeping; bootstrap/ makes it (broadcast_over) for feed/hub.py's streams and outbox."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlparse

from broadcaster import BroadcastBackend, Event
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from compat.broadcaster import MemoryBackend
from feed.backends import ReliableRedisBackend
from feed.shards import ShardedRedisBackend, cluster_client
from settings.redis import CLUSTER_SCHEMES, cluster_address

log = logging.getLogger(__name__)


class SubscriberOverflow(Exception):
    """The subscriber fell `maxsize` events behind and was dropped; close it and resync."""


class Unsubscribed(Exception):
    """The subscription was closed: its consumer stops (iteration just ends)."""


class SubscriberState(enum.Enum):
    OPEN = "open"  # events are queued for the consumer
    OVERFLOWED = "overflowed"  # the queue filled up: the next get() raises SubscriberOverflow
    CLOSED = "closed"  # unsubscribed or disconnected: the next get() raises Unsubscribed


class BoundedSubscriber:
    """One subscriber's bounded queue: `offer` never blocks the reader of the backend."""

    def __init__(self, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.state = SubscriberState.OPEN
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)

    def offer(self, event: Event) -> None:
        if self.state is not SubscriberState.OPEN:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.state = SubscriberState.OVERFLOWED
            log.warning("feed: subscriber on %r overflowed; dropping it", self.channel)

    def close(self) -> None:
        if self.state is SubscriberState.OPEN:
            self.state = SubscriberState.CLOSED
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes a get() waiting on an empty queue

    async def get(self) -> Event:
        if self.state is SubscriberState.OVERFLOWED:
            raise SubscriberOverflow(self.channel)
        if self.state is SubscriberState.CLOSED:
            raise Unsubscribed()
        item = await self._queue.get()
        if item is None:
            raise Unsubscribed()
        return item

    async def __aiter__(self) -> AsyncGenerator[Event, None]:
        try:
            while True:
                yield await self.get()
        except Unsubscribed:
            pass


class BoundedBroadcast:
    """broadcaster's Broadcast API (connect, publish, subscribe, disconnect) over its public
    BroadcastBackend interface, plus publish_many."""

    def __init__(self, backend: BroadcastBackend, *, queue_size: int = 1000) -> None:
        self._backend = backend
        self._queue_size = queue_size
        self._members: dict[str, set[BoundedSubscriber]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._releases: set[asyncio.Task[None]] = set()
        self._listener_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        deliver_to = getattr(self._backend, "deliver_to", None)
        if deliver_to is not None:  # ReliableRedisBackend hands events over as it reads them
            deliver_to(self._offer)
        await self._backend.connect()
        if deliver_to is None:
            self._listener_task = asyncio.create_task(self._listener(), name="feed-listener")

    async def disconnect(self) -> None:
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener_task
            self._listener_task = None
        for members in self._members.values():
            for subscriber in members:
                subscriber.close()
        await self._backend.disconnect()

    async def __aenter__(self) -> BoundedBroadcast:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def _listener(self) -> None:
        while True:
            try:
                event = await self._backend.next_published()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feed: backend failed to deliver an event; continuing")
                await asyncio.sleep(0.1)
                continue
            self._offer(event)

    def _offer(self, event: Event) -> None:
        for subscriber in list(self._members.get(event.channel, ())):
            subscriber.offer(event)

    @property
    def epoch(self) -> int:
        """The backend's connection epoch (feed/backends.py); the in-process one has one."""
        return int(getattr(self._backend, "epoch", 0))

    def subscribed(self, channel: str) -> bool:
        """Whether messages on `channel` reach this process now (always, in process)."""
        check = getattr(self._backend, "subscribed", None)
        return channel in self._members if check is None else bool(check(channel))

    async def publish(self, channel: str, message: Any) -> None:
        await self._backend.publish(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, Any]]) -> None:
        """In one round trip where the backend can (ReliableRedisBackend), else one by one."""
        many = getattr(self._backend, "publish_many", None)
        if many is not None:
            await many(messages)
            return
        for channel, message in messages:
            await self._backend.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[BoundedSubscriber]:
        subscriber = BoundedSubscriber(channel, self._queue_size)
        async with self._channel_lock(channel):
            members = self._members.get(channel)
            if members is not None:
                members.add(subscriber)
            else:
                self._members[channel] = {subscriber}
                try:
                    await self._backend.subscribe(channel)
                except BaseException:
                    del self._members[channel]
                    raise
        try:
            yield subscriber
        finally:
            subscriber.close()
            self._members[channel].discard(subscriber)
            if not self._members[channel]:
                # Shielded so that a cancelled consumer still releases the backend subscription.
                release = asyncio.create_task(self._release(channel))
                self._releases.add(release)
                release.add_done_callback(self._releases.discard)
                await asyncio.shield(release)

    async def _release(self, channel: str) -> None:
        try:
            async with self._channel_lock(channel):
                if self._members.get(channel) == set():
                    del self._members[channel]
                    await self._backend.unsubscribe(channel)
        except Exception:
            log.exception("feed: unsubscribing from %r failed", channel)

    @contextlib.asynccontextmanager
    async def _channel_lock(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(channel, (asyncio.Lock(), 0))
        self._locks[channel] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[channel]
            if users == 1:
                del self._locks[channel]
            else:
                self._locks[channel] = (lock, users - 1)


def broadcast_over(redis: Redis | RedisCluster | None, *,
                   queue_size: int = 1000) -> BoundedBroadcast:
    """Over a shared Redis client (which the caller closes), or in-process without one; a
    cluster client's is sharded pub/sub (feed/shards.py)."""
    if redis is None:
        return BoundedBroadcast(MemoryBackend("memory://"), queue_size=queue_size)
    if isinstance(redis, RedisCluster):
        return BoundedBroadcast(ShardedRedisBackend(redis), queue_size=queue_size)
    return BoundedBroadcast(ReliableRedisBackend(redis), queue_size=queue_size)


def make_broadcast(url: str | None, *, queue_size: int = 1000) -> BoundedBroadcast:
    """From a URL, with a Redis client of its own (closed on disconnect)."""
    scheme = urlparse(url).scheme if url else "memory"
    if url is None or scheme == "memory":
        return BoundedBroadcast(MemoryBackend(url or "memory://"), queue_size=queue_size)
    if scheme in ("redis", "rediss"):
        return BoundedBroadcast(ReliableRedisBackend.from_url(url), queue_size=queue_size)
    if scheme in CLUSTER_SCHEMES:
        address = cluster_address(url)
        client = cluster_client(address.nodes, tls=address.tls, username=address.username,
                                password=address.password)
        return BoundedBroadcast(ShardedRedisBackend(client, owns_client=True),
                                queue_size=queue_size)
    raise ValueError(f"unsupported broadcast URL scheme: {scheme!r}")
