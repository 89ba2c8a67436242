"""The ingester: while leading, fetches batches, applies them as INGEST_API_KEY, dead-letters what
cannot be applied, acks each run after its commit (run by bootstrap/ingest.py under a lead)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from nats.aio.msg import Msg

from domain.access import Principal
from domain.ingest import INTERNAL, Ingested, Unusable, dead_letter, decode
from feed.ingest_source import IngestSource
from ops.metrics import (
    INGEST_APPLIED,
    INGEST_CONSUMED,
    INGEST_DEAD_LETTERED,
    INGEST_KEY_REFUSED,
    INGEST_LAG,
)
from service import ingesting
from service.access import AccessError, Gatekeeper
from service.ingesting import Settled
from service.inventory import Inventory
from settings.ingest import IngestSettings
from store.errors import connection_lost

log = logging.getLogger("service.ingest")
FETCH_WAIT = 1.0  # seconds a fetch waits for a first message
LAG_EVERY = 1.0  # seconds between reads of the consumer's lag


class _SourceFailed(Exception):
    """NATS failed while settling (a dead letter or an ack): the connection is made again."""


class Ingester:
    def __init__(self, inventory: Inventory, gatekeeper: Gatekeeper, settings: IngestSettings,
                 source: IngestSource) -> None:
        self.inventory = inventory
        self.gatekeeper = gatekeeper
        self.settings = settings
        self.source = source
        self._principal: Principal | None = None
        self._key_checked = float("-inf")
        self._key_refused = False
        self._lag_read = float("-inf")
        self._outage: str | None = None
        # the next batch, fetched while this one is applied; handed back after it on failure
        self._ahead: asyncio.Task[list[Msg]] | None = None

    async def consume(self) -> None:
        """Until cancelled (the lead lost, or shutdown): rounds of fetch, apply, settle; an
        outage of NATS or the database is one log line, and retried every `retry` seconds."""
        try:
            while True:
                try:
                    await self._round()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._failed(exc)
                    await self._hand_back_ahead()
                    await self.source.close()
                    await asyncio.sleep(self.settings.retry)
        finally:
            await self._hand_back_ahead()
            await self.source.close()

    async def _round(self) -> None:
        principal = await self._key()
        if principal is None:
            if self.source.connected:  # still say how many wait
                INGEST_LAG.set(await self.source.lag())
            await asyncio.sleep(self.settings.key_recheck)
            return
        if not self.source.connected:
            await self._hand_back_ahead()
            await self.source.open()
            self._back("NATS")
            await self._after_predecessor()
        ahead, self._ahead = self._ahead, None
        messages = await (ahead or self.source.fetch(self.settings.batch, FETCH_WAIT))
        if time.monotonic() - self._lag_read >= LAG_EVERY:
            self._lag_read = time.monotonic()
            INGEST_LAG.set(await self.source.lag())
        if messages:
            self._ahead = asyncio.create_task(self.source.fetch(self.settings.batch, FETCH_WAIT))
            if not await self._settle(principal, messages):
                await self._hand_back_ahead(self.settings.retry / 2)
                await asyncio.sleep(self.settings.retry)
                return
        if self._outage is not None:
            self._back(self._outage)

    async def _hand_back_ahead(self, delay: float | None = None) -> None:
        """The batch fetched ahead goes back to JetStream (after the current one's messages,
        so their order holds); a fetch still waiting is cancelled."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        if not ahead.done():
            ahead.cancel()
        try:
            messages = await ahead
        except BaseException:  # cancelled or failed: what it got comes back after the ack wait
            return
        await self.source.nak(messages, delay=delay)

    async def _key(self) -> Principal | None:
        """The key the ingester acts as, looked up again every `key_recheck` seconds; None (one
        log line, the gauge at 1) while it is unknown or revoked."""
        if time.monotonic() - self._key_checked < self.settings.key_recheck:
            return self._principal
        try:
            principal = await self.gatekeeper.principal(f"Bearer {self.settings.api_key}")
        except AccessError as error:
            principal = None
            if not self._key_refused:
                log.warning("ingest: INGEST_API_KEY refused (%s); consuming nothing until it is "
                            "valid, messages wait in the stream", error.message)
        else:
            if self._key_refused:
                log.info("ingest: INGEST_API_KEY accepted again; consuming")
        self._key_refused = principal is None
        INGEST_KEY_REFUSED.set(1 if principal is None else 0)
        self._principal, self._key_checked = principal, time.monotonic()
        return principal

    async def _after_predecessor(self) -> None:
        """What an earlier holder (or connection) was delivered and did not acknowledge comes
        back after the consumer's ack wait; fetching before it would apply later messages first,
        so wait for it (at most the ack wait)."""
        deadline = time.monotonic() + self.settings.ack_wait + 0.5
        while time.monotonic() < deadline and await self.source.held_elsewhere() > 0:
            await asyncio.sleep(0.25)

    async def _settle(self, principal: Principal, messages: Sequence[Msg]) -> bool:
        """Applies and settles the batch; False when it was handed back (a bug, not an
        outage: redelivered after a delay). A redelivered batch goes a message at a time, and
        a message failing on its INGEST_MAX_DELIVERIES-th delivery is dead-lettered INTERNAL."""
        items = [self._decoded(msg) for msg in messages]
        single = any((msg.metadata.num_delivered or 1) > 1 for msg in messages)
        unsettled = set(range(len(messages)))
        keepalive = asyncio.create_task(self._keep(messages, unsettled))
        try:
            while unsettled:
                pending = sorted(unsettled)
                try:
                    async for chunk in ingesting.apply(
                            self.inventory, principal, [items[i] for i in pending],
                            single=single):
                        done = [(pending[j], verdict) for j, verdict in chunk]
                        await self._finish(messages, items, done)
                        unsettled.difference_update(i for i, _ in done)
                except _SourceFailed:
                    raise
                except Exception as exc:
                    if connection_lost(exc) or isinstance(exc, OSError | TimeoutError):
                        # the database is down: keep the batch (in order) and try again
                        self._down("the database", exc)
                        await asyncio.sleep(self.settings.retry)
                        continue
                    failing = min(unsettled)  # runs go in order: the first unsettled failed
                    delivered = messages[failing].metadata.num_delivered or 1
                    if single and delivered >= self.settings.max_deliveries:
                        log.exception("ingest: stream sequence %d failed %d times; dead-"
                                      "lettered INTERNAL", _sequence(messages[failing]),
                                      delivered, exc_info=exc)
                        await self._finish(messages, items, [(failing, Unusable(
                            INTERNAL, f"failed on each of {delivered} deliveries: "
                            f"{type(exc).__name__} (see the ingester's log)",
                            items[failing].kind))])
                        unsettled.discard(failing)
                        continue
                    log.exception("ingest: applying a batch failed; redelivering it",
                                  exc_info=exc)
                    await self.source.nak([messages[i] for i in sorted(unsettled)],
                                          delay=self.settings.retry / 2)
                    unsettled.clear()
                    return False
            return True
        finally:
            keepalive.cancel()
            if unsettled:  # cancelled (lead lost, shutdown) or NATS failed: redeliver them
                await self.source.nak([messages[i] for i in sorted(unsettled)])

    def _decoded(self, msg: Msg) -> Ingested | Unusable:
        item = decode(msg.data)
        kind = item.kind
        INGEST_CONSUMED.labels(kind.value if kind is not None else "other").inc()
        return item

    async def _finish(self, messages: Sequence[Msg], items: Sequence[Ingested | Unusable],
                      done: Settled) -> None:
        """Dead letters first (each acknowledged by JetStream), then the acks of the run."""
        dead = [(messages[i], verdict) for i, verdict in done if verdict is not None]
        try:
            await asyncio.gather(*(self.source.dead_letter(msg, dead_letter(
                verdict, msg.subject, msg.metadata.sequence.stream, msg.data))
                for msg, verdict in dead))
            await self.source.ack([messages[i] for i, _ in done])
        except Exception as exc:
            raise _SourceFailed(f"{type(exc).__name__}: {exc}") from exc
        for i, verdict in done:
            if verdict is None:
                kind = items[i].kind
                INGEST_APPLIED.labels(kind.value if kind is not None else "other").inc()
            else:
                INGEST_DEAD_LETTERED.labels(verdict.code).inc()

    async def _keep(self, messages: Sequence[Msg], unsettled: set[int]) -> None:
        """While a batch is worked on, tells JetStream its messages are in progress (their ack
        wait starts again), so a slow batch is not redelivered under our feet."""
        while True:
            await asyncio.sleep(self.settings.ack_wait / 3)
            try:
                await self.source.in_progress([messages[i] for i in sorted(unsettled)])
            except Exception as exc:  # NATS gone: settling fails too, and says so
                log.debug("ingest: in-progress mark failed: %r", exc)
                return

    def _failed(self, exc: Exception) -> None:
        if not self.source.connected and not connection_lost(exc):
            self._down("NATS", exc)
        elif connection_lost(exc) or isinstance(exc, OSError | TimeoutError):
            self._down("the database", exc)
        else:
            log.exception("ingest: a round failed; retrying", exc_info=exc)

    def _down(self, what: str, exc: BaseException) -> None:
        if self._outage != what:
            log.warning("ingest: %s is unavailable (%s: %s); messages wait in the stream", what,
                        type(exc).__name__, exc)
            self._outage = what

    def _back(self, what: str) -> None:
        if self._outage == what:
            log.info("ingest: %s is back; consuming", what)
            self._outage = None


def _sequence(msg: Msg) -> int:
    return int(msg.metadata.sequence.stream)
