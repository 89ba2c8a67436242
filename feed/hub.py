"""StockFeed, this instance's feed (outbox, SKU streams, followers, audiences, render cache):
bootstrap/resources.py opens it; resolvers and web/ follow SKUs through it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from typing import Any, TypeVar

import asyncpg
import orjson

from domain.model import Sku, StockEvent
from feed.audience import Audience, Member, Render
from feed.backends import FeedUnavailable
from feed.follower import FeedOverflow, Follow, Watch
from feed.outbox import BackboneSink, Outbox, Sink
from feed.render_cache import RenderCache
from feed.stream import Kept, SkuStream, sweep
from ops.metrics import READ_MODEL_READS
from store import catalog

log = logging.getLogger(__name__)
__all__ = ["FeedOverflow", "Follow", "StockFeed", "Watch"]
T = TypeVar("T")


class StockFeed:
    """Committed events go to the backbone (which the SKU streams read) and then to `sinks`."""

    def __init__(
        self, broadcast: Any, pool: asyncpg.Pool, *, queue_size: int = 1000,
        sweep_interval: float = 1.0, prefix: str = "inventory", sinks: Sequence[Sink] = (),
        hash_tags: bool = False,
    ) -> None:
        self.broadcast = broadcast
        self.prefix = prefix
        self.hash_tags = hash_tags  # on a Redis Cluster: the SKU decides the channel's slot
        self.pool = pool
        self.queue_size = queue_size
        self.sweep_interval = sweep_interval
        self.streams: dict[str, SkuStream] = {}
        self.outbox = Outbox(BackboneSink(broadcast, self.topic), sinks)
        self.renders = RenderCache()
        self._tasks: list[asyncio.Task[None]] = []
        # feed/read_model.py's, when bootstrap/resources.py made one (READ_MODEL)
        self.read_model: Any = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(sweep(self.streams, self.pool, self.sweep_interval),
                                name="feed-sweep"),
            asyncio.create_task(self.outbox.run(), name="feed-outbox"),
        ]
        if self.read_model is not None:
            self._tasks.append(asyncio.create_task(self.read_model.run(), name="read-model"))

    async def stop(self) -> None:
        await self.outbox.drained(2)
        tasks = [s.task for s in self.streams.values()] + self._tasks
        for stream in self.streams.values():
            for audience in stream.audiences.values():
                audience.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.streams.clear()

    def shared(self, key: Hashable, build: Callable[[], T]) -> T:
        """One object per key for every local subscriber (see feed/render_cache.py)."""
        return self.renders.get(key, build)

    def topic(self, sku: str) -> str:
        if self.hash_tags:
            return f"{self.prefix}:stock:{{{sku}}}"
        return f"{self.prefix}:stock:{sku}"

    @property
    def catalog_topic(self) -> str:
        return f"{self.prefix}:catalog"

    async def catalogue_changed(self, skus: Sequence[str] = (), locations: bool = False) -> None:
        """What events do not carry changed (a SKU's name, a location): every instance's read
        model drops it (feed/read_model.py), this one's at once."""
        if self.read_model is not None:
            self.read_model.forget(skus, locations)
        notice = orjson.dumps({"skus": list(skus), "locations": locations}).decode()
        try:
            await self.broadcast.publish(self.catalog_topic, notice)
        except FeedUnavailable as exc:
            log.warning("feed: catalogue notice not sent (%s)", exc)

    async def publish(self, events: Sequence[StockEvent]) -> None:
        """Queue committed events for the outbox without making the mutation wait for it; the
        read model serves nothing older than them from now on (feed/own_writes.py)."""
        if self.read_model is not None:
            self.read_model.committed(events)
        self.outbox.put(events)

    @contextlib.asynccontextmanager
    async def watch(
        self, sku: str, *, coalesce: bool = False, into: Watch | None = None
    ) -> AsyncIterator[Watch]:
        """A buffer of `sku`'s live events (`into`, if given, may be another SKU's too)."""
        stream = self.streams.get(sku)
        if stream is None:
            stream = self.streams[sku] = SkuStream(sku, self.broadcast, self.topic(sku), self.pool)
        watch = into if into is not None else Watch(self.queue_size, coalesce)
        stream.watches.add(watch)
        try:
            async with asyncio.timeout(30):
                await stream.ready.wait()
            yield watch
        finally:
            stream.watches.discard(watch)
            self._release(stream)

    @contextlib.asynccontextmanager
    async def watch_each(
        self, skus: Sequence[str], *, coalesce: bool = False
    ) -> AsyncIterator[Watch]:
        """One buffer of the live events of every SKU in `skus`, each SKU's in its sequence
        order (a bundle's availability follows its components so). As `follow`, the reader
        reads their figures once this is entered: nothing after that read is missed. Every
        stream lets the buffer go on the way out."""
        watch = Watch(self.queue_size, coalesce)
        async with contextlib.AsyncExitStack() as each:
            for sku in skus:
                await each.enter_async_context(self.watch(sku, into=watch))
            yield watch

    def keep(self, sku: str, kept: Kept) -> SkuStream:
        """`sku`'s stream, made if needed, handing every event to `kept` until `unkeep`."""
        stream = self.streams.get(sku)
        if stream is None:
            stream = self.streams[sku] = SkuStream(sku, self.broadcast, self.topic(sku), self.pool)
        stream.kept = kept
        return stream

    def unkeep(self, stream: SkuStream) -> None:
        stream.kept = None
        self._release(stream)

    def _release(self, stream: SkuStream) -> None:
        if stream.idle and self.streams.get(stream.sku) is stream:
            del self.streams[stream.sku]
            stream.task.cancel()

    @contextlib.asynccontextmanager
    async def follow(
        self, sku: str, after_sequence: int | None, *, coalesce: bool = False
    ) -> AsyncIterator[Follow]:
        """Register first, then read the snapshot or replay: no gap, no duplicate.

        The stream delivers contiguously, so the watch gets every event after `covered` (the
        stream's last delivery before the watch's first): a replay from there on reads
        nothing and is skipped. The snapshot comes from the read model when it holds the SKU
        at exactly the stream's last delivery (so, at or after `covered`), else from SQL."""
        async with self.watch(sku, coalesce=coalesce) as watch:
            stream = self.streams[sku]
            covered = watch.covered_after(stream.last)
            snapshot = self._kept_snapshot(stream)
            if snapshot is None:
                async with self.pool.acquire() as conn:
                    snapshot = (await catalog.skus_by_code(conn, [sku])).get(sku)
                if snapshot is not None and self.read_model is not None:
                    self.read_model.want([snapshot])
            start = snapshot.sequence if after_sequence is None and snapshot else after_sequence
            yield Follow(self.pool, watch, sku, snapshot, start or 0, covered)

    def _kept_snapshot(self, stream: SkuStream) -> Sku | None:
        if self.read_model is None:
            return None
        kept: Sku | None = self.read_model.sku(stream.sku)
        if kept is None or kept.sequence != stream.last:
            READ_MODEL_READS.labels("miss").inc()
            return None
        READ_MODEL_READS.labels("hit").inc()
        return kept

    def relay(self, follow: Follow, key: Hashable, render: Callable[[], Render],
              member: Member) -> Audience:
        """Hand `follow`'s subscriber over to the audience of its SKU that asked `key`
        (made with `render()` if it is the first): from now on the audience delivers it every
        live event after `follow.last`, and `follow` itself no longer receives any. What its
        buffer held goes to it first, so nothing is lost or doubled in the switch."""
        if follow.watch.overflowed:
            raise FeedOverflow(self.queue_size)
        stream = self.streams[follow.sku]
        stream.watches.discard(follow.watch)
        audience = stream.audiences.get(key)
        if audience is None:
            audience = stream.audiences[key] = Audience(follow.sku, key, render())
        member.last = follow.last
        audience.members.add(member)
        for event in follow.watch.take():
            audience.offer(event, member)
        return audience

    def unrelay(self, audience: Audience, member: Member) -> None:
        audience.members.discard(member)
        stream = self.streams.get(audience.sku)
        if audience.members or stream is None:
            return
        if stream.audiences.get(audience.key) is not audience:
            return
        audience.stop()
        del stream.audiences[audience.key]
        self._release(stream)
