"""The one exit of committed events: StockFeed.publish queues them here, and one task hands each
batch to every sink: the backbone first, then those bootstrap/resources.py's open_feed adds.

While tracing is on, each event's origin (the mutation's span) is remembered as it is queued
(ops/trace_links.py) and a batch is sent in a "feed publish" span, a child of its first
event's origin linked to the others', so the Redis publish is in the mutation's trace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from domain.model import StockEvent
from feed import codec
from ops import trace_links, tracing
from ops.metrics import FEED_LAG, PUBLISHED, SINK_EVENTS

log = logging.getLogger(__name__)
SIZE = 10_000
BATCH = 256  # events per round of sends


def age(event: StockEvent) -> float:
    """Seconds since the event was committed."""
    return max(0.0, (datetime.now(UTC) - event.occurred_at).total_seconds())


class Sink(Protocol):
    """Where committed events go: one batch at a time, in commit order; raises if it failed.
    `name` labels its metrics; `on_failure` says in the log what becomes of a failed batch."""

    name: str
    on_failure: str

    async def send(self, events: Sequence[StockEvent]) -> None: ...


class BackboneSink:
    """The broadcast backbone (Redis, or memory in one process): one topic per SKU, one
    pipelined publish per batch; every instance's StockFeed subscribes to it."""

    name = "backbone"
    on_failure = "the sweep and RESYNC deliver them to subscribers from the ledger"

    def __init__(self, broadcast: Any, topic: Callable[[str], str]) -> None:
        self.broadcast = broadcast
        self.topic = topic

    async def send(self, events: Sequence[StockEvent]) -> None:
        await self.broadcast.publish_many(
            [(self.topic(event.sku), codec.encode(event)) for event in events])


class Outbox:
    """What cannot be sent (queue full, sink down) is dropped and counted, per sink; a sink that
    fails does not stop the others. Subscribers get what the backbone missed from the ledger
    through the sweep and the RESYNC notices."""

    def __init__(self, backbone: Sink, others: Sequence[Sink] = (), size: int = SIZE) -> None:
        self.backbone = backbone
        self.sinks = (backbone, *others)
        names = [sink.name for sink in self.sinks]
        if len(set(names)) < len(names):
            raise ValueError(f"two sinks share a name (it labels their metrics): {names}")
        self._queue: asyncio.Queue[StockEvent] = asyncio.Queue(size)

    def put(self, events: Sequence[StockEvent]) -> None:
        trace_links.remember(events)
        for event in events:
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                PUBLISHED.labels("dropped").inc()
                for sink in self.sinks:
                    SINK_EVENTS.labels(sink.name, "dropped").inc()

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
                if tracing.on():
                    await self._traced(batch)
                else:
                    for sink in self.sinks:
                        await self._send(sink, batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _traced(self, batch: list[StockEvent]) -> None:
        with trace_links.span("feed publish", [trace_links.origin_of(e) for e in batch],
                              child=True) as span:
            if span is not None:
                span.set_attribute("messaging.batch.message_count", len(batch))
            for sink in self.sinks:
                await self._send(sink, batch)

    async def _send(self, sink: Sink, batch: list[StockEvent]) -> None:
        try:
            await sink.send(batch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._count(sink, "failed", len(batch))
            log.warning("sink %s: sending %d events (%s #%d first) failed (%r); %s", sink.name,
                        len(batch), batch[0].sku, batch[0].sequence, exc, sink.on_failure)
            return
        self._count(sink, "ok", len(batch))
        if sink is self.backbone:
            for event in batch:
                FEED_LAG.labels("commit_to_publish").observe(age(event))

    def _count(self, sink: Sink, outcome: str, events: int) -> None:
        SINK_EVENTS.labels(sink.name, outcome).inc(events)
        if sink is self.backbone:
            PUBLISHED.labels(outcome).inc(events)
