"""The one exit of committed events: StockFeed.publish queues them here without making the
mutation wait, and one task hands each batch to every sink (today the backbone)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from domain.model import StockEvent
from feed import codec
from ops.metrics import FEED_LAG, PUBLISHED

log = logging.getLogger(__name__)
SIZE = 10_000
BATCH = 256  # events per round of sends


def age(event: StockEvent) -> float:
    """Seconds since the event was committed."""
    return max(0.0, (datetime.now(UTC) - event.occurred_at).total_seconds())


class Sink(Protocol):
    """Where committed events go: one batch at a time, in commit order; raises if it failed."""

    name: str

    async def send(self, events: Sequence[StockEvent]) -> None: ...


class BackboneSink:
    """The broadcast backbone (Redis, or memory in one process): one topic per SKU, one
    pipelined publish per batch; every instance's StockFeed subscribes to it."""

    name = "backbone"

    def __init__(self, broadcast: Any, topic: Callable[[str], str]) -> None:
        self.broadcast = broadcast
        self.topic = topic

    async def send(self, events: Sequence[StockEvent]) -> None:
        await self.broadcast.publish_many(
            [(self.topic(event.sku), codec.encode(event)) for event in events])


class Outbox:
    """What cannot be sent (queue full, sink down) is dropped and counted; subscribers get it
    from the ledger through the sweep and the RESYNC notices."""

    def __init__(self, sinks: Sequence[Sink], size: int = SIZE) -> None:
        self.sinks = tuple(sinks)
        self.dropped = 0
        self._queue: asyncio.Queue[StockEvent] = asyncio.Queue(size)

    def put(self, events: Sequence[StockEvent]) -> None:
        for event in events:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1
                PUBLISHED.labels("dropped").inc()

    async def drained(self, timeout: float) -> None:
        """Waits up to `timeout` seconds for what is queued to be sent."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()

    async def run(self) -> None:
        """Sends what queued since the last round (a group commit queues many events at once)
        in one batch per sink, in commit order."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                for sink in self.sinks:
                    await self._send(sink, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _send(self, sink: Sink, batch: list[StockEvent]) -> None:
        try:
            await sink.send(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.dropped += len(batch)
            PUBLISHED.labels("failed").inc(len(batch))
            log.warning("publish of %d events (%s #%d first) failed (%r); the sweep will "
                        "deliver them", len(batch), batch[0].sku, batch[0].sequence, exc)
            return
        PUBLISHED.labels("ok").inc(len(batch))
        for event in batch:
            FEED_LAG.labels("commit_to_publish").observe(age(event))
