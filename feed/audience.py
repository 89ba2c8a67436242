"""Live subscribers that hold no task, generator or buffer of their own while idle; made by
StockFeed.relay for web/websocket.py.

A subscription handed over by its transport (see web/websocket.py) becomes a `Member`
of an `Audience`: the subscribers of one SKU stream that asked the same question (same
document and variables). The stream offers each event to the audience once; the audience
renders it once (execution and JSON) and gives the same text to every member, in sequence
order. A task runs only while events are pending, not one per subscriber. While tracing is
on, each event's rendering and delivery is a "feed deliver" span linked to the mutation that
committed it (ops/trace_links.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol

from domain.model import StockEvent
from ops import trace_links, tracing
from ops.metrics import DELIVERED

log = logging.getLogger(__name__)
Render = Callable[[StockEvent], Awaitable[str]]


class Member(Protocol):
    """One relayed subscription: the last sequence it was given, and how to give it more."""

    last: int

    def deliver(self, payload: str) -> None:
        """Queue `payload` (the rendered `next` payload); never waits."""


class Audience:
    __slots__ = ("sku", "key", "members", "render", "_pending", "_task")

    def __init__(self, sku: str, key: Hashable, render: Render) -> None:
        self.sku = sku
        self.key = key
        self.render = render
        self.members: set[Member] = set()
        self._pending: list[tuple[StockEvent, Member | None]] = []
        self._task: asyncio.Task[None] | None = None

    def offer(self, event: StockEvent, only: Member | None = None) -> None:
        """Every member, or `only` that one (what it had buffered before it joined)."""
        self._pending.append((event, only))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="feed-audience")

    def stop(self) -> None:
        self._pending.clear()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            while self._pending:
                event, only = self._pending.pop(0)
                targets = [m for m in ((only,) if only else self.members)
                           if m in self.members and event.sequence > m.last]
                if not targets:
                    continue
                if not tracing.on():
                    await self._deliver(event, targets)
                    continue
                with trace_links.span("feed deliver", [trace_links.origin_of(event)]) as span:
                    delivered = await self._deliver(event, targets)
                    if span is not None:
                        span.set_attribute("messaging.batch.message_count", delivered)
        finally:
            self._task = None

    async def _deliver(self, event: StockEvent, targets: list[Member]) -> int:
        try:
            payload = await self.render(event)
        except Exception:
            log.exception("feed: rendering %s #%d failed; its subscribers skip it",
                          event.sku, event.sequence)
            return 0
        targets = [m for m in targets if m in self.members]  # some may have left
        for member in targets:
            member.last = event.sequence
            member.deliver(payload)
        DELIVERED.inc(len(targets))
        return len(targets)
