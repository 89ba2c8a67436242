"""Per-instance fan-out of stock events: one backbone subscription per SKU with local
watchers, gap-filled from the ledger, which stays the source of truth.

A channel delivers a SKU's events to its watchers contiguously and in sequence order. When a
sequence is missing (a lost publish, a backbone outage, a restart) it reads the gap from the
ledger before going on; the backbone's RESYNC notice and a periodic sweep of the ledger heads
catch what no later event would reveal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import asyncpg

from domain.model import Sku, StockEvent
from feed import codec
from feed.audience import Audience, Member, Render
from feed.backends import RESYNC
from ops.metrics import DELIVERED, FEED_LAG, PUBLISHED
from store import catalog, ledger

log = logging.getLogger(__name__)
PAGE = 500
OUTBOX_SIZE = 10_000
RELAY_BATCH = 256  # events per pipelined publish
SHARED_SIZE = 4096
T = TypeVar("T")


def _age(event: StockEvent) -> float:
    return max(0.0, (datetime.now(UTC) - event.occurred_at).total_seconds())


class FeedOverflow(Exception):
    """The client fell too far behind; it may resume with afterSequence."""

    @classmethod
    def behind(cls, queue_size: int) -> FeedOverflow:
        return cls(f"client fell more than {queue_size} events behind; "
                   "resubscribe with afterSequence to resume")


@dataclass(eq=False, slots=True)
class Watch:
    """One local client's bounded buffer. Coalescing watches keep only the latest event.

    A list and at most one future, not an asyncio.Queue: an idle subscriber holds one of these
    for hours, and a Queue's three deques cost ~3.3 KB per subscriber (tracemalloc)."""

    queue_size: int
    coalesce: bool = False
    overflowed: bool = False
    _events: list[StockEvent] = field(default_factory=list)
    _waiter: asyncio.Future[None] | None = None

    def offer(self, event: StockEvent) -> None:
        if self.overflowed:
            return
        if len(self._events) >= self.queue_size:
            if not self.coalesce:
                self.overflowed = True
                self._wake()
                return
            self._events.clear()
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> list[StockEvent]:
        """What is buffered, emptying the buffer."""
        events, self._events = self._events, []
        return events

    async def next(self) -> StockEvent:
        while True:
            if self.overflowed:
                raise FeedOverflow.behind(self.queue_size)
            if self._events:
                return self._events.pop(0)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class Channel:
    def __init__(self, feed: StockFeed, sku: str) -> None:
        self.feed = feed
        self.sku = sku
        self.watches: set[Watch] = set()
        self.audiences: dict[Hashable, Audience] = {}
        self.last = 0
        self.ready = asyncio.Event()
        self.lock = asyncio.Lock()
        self.task = asyncio.create_task(self._run(), name=f"feed:{sku}")

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                async with self.feed.broadcast.subscribe(self.feed.topic(self.sku)) as subscriber:
                    await self._start()
                    backoff = 0.05
                    async for message in subscriber:
                        if message.message == RESYNC:
                            await self.catch_up()
                        else:
                            await self._accept(codec.decode(message.message))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # backbone down or our queue overflowed: the ledger has it
                log.warning("feed for %s interrupted (%r); retrying", self.sku, exc)
                try:
                    await self._start()
                except Exception:
                    log.exception("feed for %s cannot read the ledger", self.sku)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _start(self) -> None:
        if self.ready.is_set():
            await self.catch_up()
            return
        async with self.feed.pool.acquire() as conn:
            head = await conn.fetchval("SELECT last_sequence FROM skus WHERE code = $1", self.sku)
        self.last = head or 0
        self.ready.set()

    async def _accept(self, event: StockEvent) -> None:
        if event.sequence <= self.last:
            return
        if event.sequence > self.last + 1:
            await self.catch_up()
            return
        async with self.lock:
            if event.sequence == self.last + 1:
                self._deliver(event)

    async def catch_up(self) -> None:
        async with self.lock:
            while True:
                async with self.feed.pool.acquire() as conn:
                    events = await ledger.events_after(conn, self.sku, self.last, PAGE)
                for event in events:
                    self._deliver(event)
                if len(events) < PAGE:
                    return

    def _deliver(self, event: StockEvent) -> None:
        self.last = event.sequence
        for watch in self.watches:
            watch.offer(event)
        for audience in self.audiences.values():
            audience.offer(event)
        if self.watches:  # an audience counts its members' deliveries itself
            DELIVERED.inc(len(self.watches))
        if self.watches or self.audiences:
            FEED_LAG.labels("commit_to_send").observe(_age(event))


class StockFeed:
    def __init__(
        self, broadcast: Any, pool: asyncpg.Pool, *, queue_size: int = 1000,
        sweep_interval: float = 1.0, prefix: str = "inventory",
    ) -> None:
        self.broadcast = broadcast
        self.prefix = prefix
        self.pool = pool
        self.queue_size = queue_size
        self.sweep_interval = sweep_interval
        self.channels: dict[str, Channel] = {}
        self._outbox: asyncio.Queue[StockEvent] = asyncio.Queue(OUTBOX_SIZE)
        self._shared: OrderedDict[Hashable, Any] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._sweep(), name="feed-sweep"),
            asyncio.create_task(self._relay(), name="feed-relay"),
        ]

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._outbox.join()
        tasks = [c.task for c in self.channels.values()] + self._tasks
        for channel in self.channels.values():
            for audience in channel.audiences.values():
                audience.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.channels.clear()

    def shared(self, key: Hashable, build: Callable[[], T]) -> T:
        """One object per key for every local subscriber (bounded LRU): what each of them
        is sent for one event is computed once (see schema/execution.py)."""
        found = self._shared.get(key)
        if found is None:
            found = self._shared[key] = build()
            if len(self._shared) > SHARED_SIZE:
                self._shared.popitem(last=False)
        else:
            self._shared.move_to_end(key)
        return cast(T, found)

    def topic(self, sku: str) -> str:
        return f"{self.prefix}:stock:{sku}"

    async def publish(self, events: Sequence[StockEvent]) -> None:
        """Queue committed events for the backbone without making the mutation wait for it.

        What cannot be published (queue full, backbone down) is dropped here and reaches
        subscribers from the ledger through the sweep and the RESYNC notices."""
        for event in events:
            try:
                self._outbox.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1
                PUBLISHED.labels("dropped").inc()

    async def _relay(self) -> None:
        """Publishes what queued since the last round trip in one pipeline (a group commit
        queues many events at once), in commit order."""
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < RELAY_BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self.broadcast.publish_many(
                    [(self.topic(event.sku), codec.encode(event)) for event in batch])
                PUBLISHED.labels("ok").inc(len(batch))
                for event in batch:
                    FEED_LAG.labels("commit_to_publish").observe(_age(event))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += len(batch)
                PUBLISHED.labels("failed").inc(len(batch))
                log.warning("publish of %d events (%s #%d first) failed (%r); the sweep will "
                            "deliver them", len(batch), batch[0].sku, batch[0].sequence, exc)
            finally:
                for _ in batch:
                    self._outbox.task_done()

    @contextlib.asynccontextmanager
    async def watch(self, sku: str, *, coalesce: bool = False) -> AsyncIterator[Watch]:
        channel = self.channels.get(sku)
        if channel is None:
            channel = self.channels[sku] = Channel(self, sku)
        watch = Watch(self.queue_size, coalesce)
        channel.watches.add(watch)
        try:
            async with asyncio.timeout(30):
                await channel.ready.wait()
            yield watch
        finally:
            channel.watches.discard(watch)
            self._release(channel)

    def _release(self, channel: Channel) -> None:
        if (not channel.watches and not channel.audiences
                and self.channels.get(channel.sku) is channel):
            del self.channels[channel.sku]
            channel.task.cancel()

    def relay(self, follow: Follow, key: Hashable, render: Callable[[], Render],
              member: Member) -> Audience:
        """Hand `follow`'s subscriber over to the audience of its SKU that asked `key`
        (made with `render()` if it is the first): from now on the audience delivers it every
        live event after `follow.last`, and `follow` itself no longer receives any. What its
        buffer held goes to it first, so nothing is lost or doubled in the switch."""
        if follow.watch.overflowed:
            raise FeedOverflow.behind(self.queue_size)
        channel = self.channels[follow.sku]
        channel.watches.discard(follow.watch)
        audience = channel.audiences.get(key)
        if audience is None:
            audience = channel.audiences[key] = Audience(follow.sku, key, render())
        member.last = follow.last
        audience.members.add(member)
        for event in follow.watch.take():
            audience.offer(event, member)
        return audience

    def unrelay(self, audience: Audience, member: Member) -> None:
        audience.members.discard(member)
        channel = self.channels.get(audience.sku)
        if audience.members or channel is None:
            return
        if channel.audiences.get(audience.key) is not audience:
            return
        audience.stop()
        del channel.audiences[audience.key]
        self._release(channel)

    @contextlib.asynccontextmanager
    async def follow(
        self, sku: str, after_sequence: int | None, *, coalesce: bool = False
    ) -> AsyncIterator[Follow]:
        """Register first, then read the snapshot or replay: no gap, no duplicate."""
        async with self.watch(sku, coalesce=coalesce) as watch:
            async with self.pool.acquire() as conn:
                snapshot = (await catalog.skus_by_code(conn, [sku])).get(sku)
            start = snapshot.sequence if after_sequence is None and snapshot else after_sequence
            yield Follow(self, watch, sku, snapshot, start or 0)

    async def _sweep(self) -> None:
        """Catch up every local channel that is behind its SKU's ledger head."""
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                ready = {s: c for s, c in self.channels.items() if c.ready.is_set()}
                if not ready:
                    continue
                async with self.pool.acquire() as conn:
                    heads = await conn.fetch(
                        "SELECT code, last_sequence FROM skus WHERE code = ANY($1::text[])",
                        list(ready),
                    )
                for r in heads:
                    channel = ready[r["code"]]
                    if r["last_sequence"] > channel.last:
                        log.info("sweep: %s behind the ledger; catching up", r["code"])
                        await channel.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("feed sweep failed; retrying")


@dataclass(slots=True)
class Follow:
    feed: StockFeed
    watch: Watch
    sku: str
    snapshot: Sku | None
    last: int

    async def replay(self) -> AsyncIterator[StockEvent]:
        """Every event after `last` that the ledger holds now."""
        while True:
            async with self.feed.pool.acquire() as conn:
                replay = await ledger.events_after(conn, self.sku, self.last, PAGE)
            for event in replay:
                self.last = event.sequence
                yield event
            if len(replay) < PAGE:
                break

    async def events(self) -> AsyncIterator[StockEvent]:
        """Every event after `last`: the ledger's first, then live ones."""
        async for event in self.replay():
            yield event
        while True:
            fresh = await self.live()
            if fresh is not None:
                yield fresh

    async def live(self) -> StockEvent | None:
        """The next live event, or None if it was one already seen."""
        event = await self.watch.next()
        if event.sequence <= self.last:
            return None
        self.last = event.sequence
        return event
