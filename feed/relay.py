"""The NATS/MQTT relay: the one instance holding the advisory lock runs a LedgerTail per broker;
every instance's outbox wakes it (bootstrap/partners.py opens it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from domain.changes import LedgerChange
from domain.model import StockEvent
from feed.tail import LedgerTail
from ops.metrics import RELAY_LEADER, SINK_LAG_EVENTS, SINK_LAG_SECONDS
from store import leadership, leases
from store.errors import log_failure

log = logging.getLogger("feed.relay")


class RelayHandler(Protocol):
    """A feed/tail.py Handler that holds a broker connection, closed when the lead is lost."""

    name: str

    async def handle(
        self, conn: asyncpg.Connection, changes: Sequence[LedgerChange]
    ) -> Mapping[int, int]: ...

    async def close(self) -> None: ...


class Relay:
    """Competes for the lock every `lock_retry` seconds on a connection of its own; while it
    holds it, runs the handlers' tails and listens for the other instances' commits. The lock
    is checked every `check_interval`: if the connection is lost, the tails stop at once (a
    round in flight rolls back; the next leader republishes it, JetStream drops the copy)."""

    def __init__(
        self, pool: asyncpg.Pool, connect: Callable[[], Awaitable[asyncpg.Connection]],
        handlers: Sequence[RelayHandler], *, lock_retry: float = 2.0,
        sweep_interval: float = 1.0, check_interval: float = 1.0,
    ) -> None:
        self.pool = pool
        self.connect = connect
        self.handlers = list(handlers)
        self.lock_retry = lock_retry
        self.sweep_interval = sweep_interval
        self.check_interval = min(check_interval, lock_retry)
        self.sink = RelaySink(self)
        self._tails: list[LedgerTail] = []
        self._unsent: set[str] = set()  # committed here while another instance leads
        self._noticed = asyncio.Event()

    @property
    def leading(self) -> bool:
        return bool(self._tails)

    def wake(self, skus: Iterable[str]) -> None:
        codes = list(skus)
        for tail in self._tails:
            tail.wake(codes)

    def committed(self, skus: Iterable[str]) -> None:
        """New entries of `skus` on this instance: the tails wake here if it leads, else the
        notifier tells the leader (never waiting: the outbox goes on at once)."""
        if self.leading:
            self.wake(skus)
        else:
            self._unsent.update(skus)
            self._noticed.set()

    async def _notify(self) -> None:
        """Sends what committed() queued as NOTIFYs, coalesced while one is on the way; a
        failure is left to the leader's sweep."""
        while True:
            await self._noticed.wait()
            self._noticed.clear()
            skus, self._unsent = sorted(self._unsent), set()
            if self.leading:
                self.wake(skus)
                continue
            try:
                async with self.pool.acquire() as conn:
                    await leases.notify(conn, skus)
            except Exception as exc:
                log_failure(log, exc, "relay: telling the leader of %d SKUs", len(skus))

    async def run(self) -> None:
        """Until cancelled: waits for the lock, leads while it holds it, and competes again."""
        notifier = asyncio.create_task(self._notify())
        lease = leadership.Lease(key=leases.RELAY_LOCK, log=log, name="relay",
                                 gauge=RELAY_LEADER, waiting="another instance leads",
                                 retry=self.lock_retry, check_interval=self.check_interval)
        try:
            await leadership.lead(self.connect, lease, self._lead)
        finally:
            notifier.cancel()
            await asyncio.gather(notifier, return_exceptions=True)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        """Runs the tails and listens for the other instances' commits until cancelled (the
        lock lost, store/leadership.py)."""

        def noticed(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            self.wake(payload.split("\n"))

        tails = [LedgerTail(self.pool, h, sweep_interval=self.sweep_interval)
                 for h in self.handlers]
        tasks = [asyncio.create_task(tail.run()) for tail in tails]
        self._tails = tails
        try:
            await conn.add_listener(leases.CHANNEL, noticed)
            log.info("relay: leading; publishing to %s",
                     ", ".join(h.name for h in self.handlers))
            await asyncio.gather(*tasks)
        finally:
            self._tails = []
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for handler in self.handlers:  # the lag is the new leader's to say (no stale figures)
                SINK_LAG_EVENTS.remove(handler.name)
                SINK_LAG_SECONDS.remove(handler.name)
            with contextlib.suppress(Exception):
                if not conn.is_closed():
                    await conn.remove_listener(leases.CHANNEL, noticed)
            for handler in self.handlers:
                await handler.close()


class RelaySink:
    """The outbox's side of the relay (feed/outbox.py's Sink): on the leader a commit wakes the
    tails; elsewhere the relay's notifier tells the leader by NOTIFY (coalesced, off the
    outbox's path). What is lost on the way, the leader's sweep reads from the ledger."""

    name = "relay"
    on_failure = "the relay's sweep reads them from the ledger"

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def send(self, events: Sequence[StockEvent]) -> None:
        self.relay.committed(event.sku for event in events)


def shown(url: str) -> str:
    """`url` without its password, for the logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}" + (
        f":{parts.port}" if parts.port else "")))
