"""One SKU's live events on this instance (a backbone subscription, gap-filled from the ledger)
and the sweep against the ledger heads; StockFeed (feed/hub.py) keeps one per followed SKU.

A stream delivers contiguously. When a sequence is missing (a lost publish, a backbone
outage, a restart) it reads the gap from the ledger before going on; the backbone's RESYNC
notice and the periodic sweep catch what no later event would reveal.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

import asyncpg

from domain.model import StockEvent
from feed import codec
from feed.audience import Audience
from feed.backends import RESYNC
from feed.follower import PAGE, Watch
from feed.outbox import age
from ops.metrics import DELIVERED, FEED_LAG
from store import heads, ledger
from store.errors import log_failure

log = logging.getLogger(__name__)


class StreamState(enum.Enum):
    OPENING = "opening"  # subscribing; the ledger head not read yet
    LIVE = "live"  # subscribed, in step with the ledger
    INTERRUPTED = "interrupted"  # backbone lost; retrying, the sweep keeps it in step


class Kept(Protocol):
    """What feed/read_model.py keeps of the SKU: every event, in sequence, and a word when
    some may have been missed."""

    def apply(self, event: StockEvent) -> None: ...

    def lost(self, cause: str) -> None: ...


class SkuStream:
    def __init__(self, sku: str, broadcast: Any, topic: str, pool: asyncpg.Pool) -> None:
        self.sku = sku
        self.broadcast = broadcast
        self.topic = topic
        self.pool = pool
        self.watches: set[Watch] = set()
        self.audiences: dict[Hashable, Audience] = {}
        self.kept: Kept | None = None
        self.last = 0
        self.state = StreamState.OPENING
        self.ready = asyncio.Event()  # set as the state leaves OPENING: what followers await
        self.lock = asyncio.Lock()
        # a context of its own: not the first follower's request id nor its span, whose
        # request it outlives
        self.task = asyncio.create_task(self._run(), name=f"feed:{sku}",
                                        context=contextvars.Context())

    @property
    def idle(self) -> bool:
        return not self.watches and not self.audiences and self.kept is None

    @property
    def head_read(self) -> bool:
        """Whether the ledger head was read: followers may start, the sweep may catch it up."""
        return self.state is not StreamState.OPENING

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                async with self.broadcast.subscribe(self.topic) as subscriber:
                    await self._start(StreamState.LIVE)
                    backoff = 0.05
                    async for message in subscriber:
                        if message.message == RESYNC:
                            if self.kept is not None:
                                self.kept.lost("resync")
                            await self.catch_up()
                        else:
                            await self._accept(codec.decode(message.message))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # backbone down or our queue overflowed: the ledger has it
                if self.kept is not None:
                    self.kept.lost("stream")
                if self.head_read:
                    self.state = StreamState.INTERRUPTED
                log.warning("feed for %s interrupted (%r); retrying", self.sku, exc)
                try:
                    await self._start(StreamState.INTERRUPTED)
                except Exception as error:
                    log_failure(log, error, "feed for %s reading the ledger", self.sku)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _start(self, then: StreamState) -> None:
        """Reads the head the first time, catches up after that; the state is `then`."""
        if self.head_read:
            await self.catch_up()
        else:
            async with self.pool.acquire() as conn:
                self.last = await heads.head(conn, self.sku) or 0
        self.state = then
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
                async with self.pool.acquire() as conn:
                    events = await ledger.events_after(conn, self.sku, self.last, PAGE)
                for event in events:
                    self._deliver(event)
                if len(events) < PAGE:
                    return

    def _deliver(self, event: StockEvent) -> None:
        self.last = event.sequence
        if self.kept is not None:
            self.kept.apply(event)
        for watch in self.watches:
            watch.offer(event)
        for audience in self.audiences.values():
            audience.offer(event)
        if self.watches:  # an audience counts its members' deliveries itself
            DELIVERED.inc(len(self.watches))
        if self.watches or self.audiences:
            FEED_LAG.labels("commit_to_send").observe(age(event))


async def sweep(streams: Mapping[str, SkuStream], pool: asyncpg.Pool, interval: float) -> None:
    """Catches up every stream that is behind its SKU's ledger head, every `interval` s."""
    while True:
        await asyncio.sleep(interval)
        try:
            ready = {s: c for s, c in streams.items() if c.head_read}
            if not ready:
                continue
            async with pool.acquire() as conn:
                found = await heads.heads(conn, list(ready))
            for sku, head in found.items():
                stream = ready[sku]
                if head > stream.last:
                    log.info("sweep: %s behind the ledger; catching up", sku)
                    await stream.catch_up()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_failure(log, exc, "feed sweep")
