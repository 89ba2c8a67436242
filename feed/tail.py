"""A partner sink's reader of the ledger, per SKU after its cursor (woken by the outbox, swept
for SKUs whose head is ahead: rows commit out of order); bootstrap/partners.py runs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from domain.changes import LedgerChange
from domain.model import StockEvent
from feed import bundle_feed
from ops.metrics import SINK_LAG_EVENTS, SINK_LAG_SECONDS
from store import bundle_figures, cursors
from store.errors import log_failure

log = logging.getLogger(__name__)
SKUS_PER_ROUND = 200
ENTRIES_PER_SKU = 500
SWEEP_LIMIT = 10_000  # SKUs picked up per sweep


class Handler(Protocol):
    """Hands a round's entries on. `name` is the cursor's (and the metrics') sink name."""

    name: str

    async def handle(
        self, conn: asyncpg.Connection, changes: Sequence[LedgerChange]
    ) -> Mapping[int, int]:
        """Called within the transaction that holds the cursors of `changes` (per SKU in
        sequence order); returns, by sku_id, the last sequence handled: a prefix of each SKU's
        entries (a SKU left out stays where it was and comes again next round). Raising rolls
        the round back: it comes again after the sweep interval. A change's `bundles` are
        computed in the round's order: a handler sending SKUs side by side keeps each bundle's
        order by sending feed/bundle_feed.py's `chains` instead."""
        ...


class LedgerTail:
    """Per SKU, the entries after the sink's cursor, handed on in sequence order (with the changes
    they made to bundles: feed/bundle_feed.py), the cursor moved in the same transaction. Woken
    by the outbox right after a commit (TailSink) and by a sweep of the SKUs whose head is
    ahead: rows commit out of order, so nothing is read by a global id or a time. Several tails
    on one sink (instances) share the work SKU by SKU."""

    def __init__(
        self, pool: asyncpg.Pool, handler: Handler, *, sweep_interval: float = 1.0,
        skus_per_round: int = SKUS_PER_ROUND, entries_per_sku: int = ENTRIES_PER_SKU,
        committed: Callable[[], None] | None = None,
        idle: Callable[[asyncpg.Connection], Awaitable[bool]] | None = None,
    ) -> None:
        self.pool = pool
        self.handler = handler
        self.sweep_interval = sweep_interval
        self.skus_per_round = skus_per_round
        self.entries_per_sku = entries_per_sku
        self.committed = committed  # called after each round that handed something on
        # within a sweep's transaction: True if nothing wants entries now, nor can until it
        # ends; the cursors then go to the heads and no round reads the ledger until a sweep
        # finds it busy again
        self.idle = idle
        self._woken: set[str] = set()
        self._wake = asyncio.Event()
        self._begun = False
        self._idle = False

    def wake(self, skus: Iterable[str]) -> None:
        self._woken.update(skus)
        self._wake.set()

    async def begin(self) -> None:
        """Starts the sink's cursors at the ledger's heads if it never ran before (what was
        committed earlier is not handed on); bootstrap awaits it before serving."""
        if self._begun:
            return
        async with self.pool.acquire() as conn:
            if await cursors.start(conn, self.handler.name):
                log.info("sink %s starts at the ledger's heads", self.handler.name)
        self._begun = True

    async def run(self) -> None:
        """Begins (retrying while the database is away), then hands on what is woken, and
        every sweep_interval what is behind, until cancelled."""
        name = self.handler.name
        while not self._begun:
            try:
                await self.begin()
            except Exception as exc:
                log_failure(log, exc, "sink %s: start", name)
                await asyncio.sleep(self.sweep_interval)
        sweep_due = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= sweep_due:
                    sweep_due = loop.time() + self.sweep_interval
                    await self._sweep()
                while self._woken:
                    await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log_failure(log, exc, "sink %s: a round", name)
            self._wake.clear()
            if self._woken:
                continue
            try:
                async with asyncio.timeout(max(0.0, sweep_due - loop.time())):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _sweep(self) -> None:
        """Picks up the SKUs that are behind; an idle handler's cursors go to the heads in
        one statement instead, and its rounds wait for the next sweep that finds it busy."""
        name = self.handler.name
        async with self.pool.acquire() as conn:
            if self.idle is not None:
                async with conn.transaction():
                    self._idle = await self.idle(conn)
                    if self._idle:
                        await cursors.skip_to_heads(conn, name)
                        await bundle_figures.forget(conn, name)
                        self._woken.clear()
            if not self._idle:
                self._woken.update(await cursors.behind(conn, name, SWEEP_LIMIT))
            lag = await cursors.lag(conn, name)
        SINK_LAG_EVENTS.labels(name).set(lag.events)
        SINK_LAG_SECONDS.labels(name).set(0.0 if lag.oldest is None else max(
            0.0, (datetime.now(UTC) - lag.oldest).total_seconds()))

    async def _round(self) -> None:
        """One transaction over up to skus_per_round woken SKUs. A SKU with more entries than
        entries_per_sku is woken again at once; one handed on only in part (the handler's peer
        is down) waits for the sweep."""
        if self._idle:  # the next sweep skips to the heads, or finds work and wakes them
            self._woken.clear()
            return
        skus = sorted(self._woken)[: self.skus_per_round]
        self._woken.difference_update(skus)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                locked = await cursors.lock(conn, self.handler.name, skus)
                if not locked:
                    return
                changes = await cursors.entries(conn, locked, self.entries_per_sku)
                step = await bundle_feed.attach(conn, self.handler.name, changes)
                handled = dict(await self.handler.handle(conn, step.changes))
                await bundle_feed.keep(conn, self.handler.name, step, handled)
                await cursors.advance(conn, self.handler.name, handled)
        except BaseException:
            self._woken.update(skus)
            raise
        if self.committed is not None and changes:
            self.committed()
        counts: dict[int, int] = {}
        last: dict[int, StockEvent] = {}
        for change in changes:
            counts[change.sku_id] = counts.get(change.sku_id, 0) + 1
            last[change.sku_id] = change.event
        self._woken.update(
            event.sku for sku_id, event in last.items()
            if counts[sku_id] >= self.entries_per_sku and handled.get(sku_id) == event.sequence)


class TailSink:
    """The outbox's side of a tail (feed/outbox.py's Sink): a commit wakes it for its SKUs; what
    a full outbox drops, the tail's sweep still reads from the ledger."""

    on_failure = "the sink's sweep reads them from the ledger"

    def __init__(self, tail: LedgerTail) -> None:
        self.tail = tail
        self.name = tail.handler.name

    async def send(self, events: Sequence[StockEvent]) -> None:
        self.tail.wake(event.sku for event in events)
