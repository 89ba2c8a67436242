"""One follower of a SKU: its bounded buffer (`Watch`) and its place in the ledger (`Follow`).
StockFeed.follow hands them to the subscription resolvers and the SSE feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncpg

from domain.model import Sku, StockEvent
from store import ledger

PAGE = 500


class FeedOverflow(Exception):
    """The client fell more than `queue_size` events behind; it may resume from the ledger."""

    def __init__(self, queue_size: int) -> None:
        super().__init__(f"client fell more than {queue_size} events behind")
        self.queue_size = queue_size


@dataclass(eq=False, slots=True)
class Watch:
    """One local client's bounded buffer. Coalescing watches keep only the latest event.

    A list and at most one future, not an asyncio.Queue: an idle subscriber holds one of these
    for hours, and a Queue's three deques cost more per subscriber (BENCHMARKS.md)."""

    queue_size: int
    coalesce: bool = False
    overflowed: bool = False
    dropped: bool = False  # a coalescing watch let events go; a reader of several SKUs re-reads
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
            self.dropped = True
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def covered_after(self, last: int) -> int:
        """The sequence after which this watch holds or will get every event of a stream
        (feed/stream.py, contiguous) whose last delivery is `last`; 0 if it dropped some."""
        if self.dropped or self.overflowed:
            return 0
        return self._events[0].sequence - 1 if self._events else last

    def take(self) -> list[StockEvent]:
        """What is buffered, emptying the buffer."""
        events, self._events = self._events, []
        return events

    async def next(self) -> StockEvent:
        while True:
            if self.overflowed:
                raise FeedOverflow(self.queue_size)
            if self._events:
                return self._events.pop(0)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


@dataclass(slots=True)
class Follow:
    """A registered watch, the SKU as it was when it registered, the last sequence seen, and
    the sequence after which the watch gets every event (Watch.covered_after)."""

    pool: asyncpg.Pool
    watch: Watch
    sku: str
    snapshot: Sku | None
    last: int
    covered: int = 0

    async def replay(self) -> AsyncIterator[StockEvent]:
        """Every event after `last` that the ledger holds now and the watch will not get (a
        new subscriber's replay from its snapshot reads nothing)."""
        while self.last < self.covered:
            async with self.pool.acquire() as conn:
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
