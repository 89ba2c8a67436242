"""Where a Redis backend's listener (feed/backends.py, feed/shards.py) puts what it reads: the
subscriber's callback once one is set, else a queue for broadcaster's `next_published`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from broadcaster import Event

log = logging.getLogger(__name__)


class Outlet:
    def __init__(self, name: str) -> None:
        self._name = name
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._receive: Callable[[Event], None] | None = None

    def deliver_to(self, receive: Callable[[Event], None]) -> None:
        """Hands every event to `receive` as it is read (it must not block), instead of queueing
        it for next_published: no queue and no listener task between Redis and subscribers."""
        self._receive = receive

    async def next_published(self) -> Event:
        return await self._events.get()

    def emit(self, event: Event) -> None:
        if self._receive is None:
            self._events.put_nowait(event)
            return
        try:
            self._receive(event)
        except Exception:
            log.exception("%s: delivering an event failed; continuing", self._name)
