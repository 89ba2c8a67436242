"""The relay's NATS JetStream handler (feed/relay.py runs it in a LedgerTail): every ledger entry
and availability change (bundles' too), per SKU in order, each acked before the next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from domain.changes import LedgerChange
from feed import bundle_feed, cloudevents
from feed.outbox import age
from feed.peer import PeerState
from ops.metrics import PARTNER_EVENTS, PARTNER_LATENCY
from store import leases

log = logging.getLogger("feed.relay")
SINK = "nats"
CONNECT_WAIT = 0.5  # seconds a round waits for a connection being made


@dataclass(frozen=True)
class StreamSettings:
    url: str
    name: str = "INVENTORY"
    prefix: str = "inventory"
    max_age: float = 7 * 86400.0
    duplicate_window: float = 600.0
    source: str = "inventory"
    replicas: int = 1  # the stream's copies in a NATS cluster (`url` lists its nodes)
    ack_timeout: float = 5.0  # per message; a SKU stops at the first one not acked
    connect_timeout: float = 2.0
    retry: float = 1.0  # between connection attempts while NATS is down
    # the longest a round (its pool connection and cursors' transaction) waits for NATS; what
    # is acked by then is handed on, the rest waits for the next round
    round_deadline: float = 3.0


def messages(change: LedgerChange, settings: StreamSettings) -> list[tuple[str, dict[str, Any]]]:
    """The subjects and CloudEvents of one entry: the stock event, then the availability changes
    it caused (the SKU's, then each bundle's on the bundle's subject)."""
    token = cloudevents.sku_token(change.event.sku)
    return [(f"{settings.prefix}.stock.{token}",
             cloudevents.stock_event(change.event, settings.source))] + [
        (f"{settings.prefix}.availability.{cloudevents.sku_token(moved.sku)}",
         cloudevents.availability_event(moved, settings.source))
        for moved in change.availability_changes]


class JetStreamHandler:
    """A feed/tail.py Handler. The connection is opened on the first round and kept; after a
    loss, made again (every `retry` seconds while NATS is down); the stream is checked on
    every connection."""

    name = SINK

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.peer = PeerState("NATS")
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._stream_checked = False
        self._next_attempt = 0.0
        self._connecting: asyncio.Task[NATS] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def handle(
        self, conn: asyncpg.Connection, changes: Sequence[LedgerChange]
    ) -> Mapping[int, int]:
        await leases.bound_round(conn)
        done: dict[int, int] = {}  # by sku_id, the last sequence fully acked so far
        deadline = asyncio.timeout(self.settings.round_deadline)
        try:
            async with deadline:
                js = await self._ready()
                if js is None:
                    return {}
                await asyncio.gather(*(self._publish(js, run, done)
                                       for run in bundle_feed.chains(changes)))
        except TimeoutError:
            if not deadline.expired():
                raise
            self._overdue(bool(done))
        return done

    async def _publish(self, js: JetStreamContext, changes: list[LedgerChange],
                       done: dict[int, int]) -> None:
        """Publishes one run's entries in order (a SKU's, or those of SKUs that moved a common
        bundle), recording in `done` the last sequence of each SKU fully acked; stops at the
        first failure (the rest of the run waits for the sweep)."""
        for change in changes:
            for subject, document in messages(change, self.settings):
                try:
                    await js.publish(subject, cloudevents.encode(document),
                                     timeout=self.settings.ack_timeout,
                                     headers={"Nats-Msg-Id": document["id"]})
                except Exception as exc:
                    PARTNER_EVENTS.labels(SINK, "failed").inc()
                    self._stream_checked = False  # a lost stream (a wiped server) is made again
                    self.peer.lost(exc)
                    return
                PARTNER_EVENTS.labels(SINK, "delivered").inc()
                PARTNER_LATENCY.labels(SINK).observe(age(change.event))
            done[change.sku_id] = change.event.sequence
        self.peer.reached(self._where)

    def _overdue(self, progressed: bool) -> None:
        """The round's deadline passed: a slow NATS goes on next round from what was acked;
        one that acked nothing at all is taken as gone, and its connection dropped (without
        waiting) so that the next rounds return at once while a new one is made."""
        if progressed:
            return
        PARTNER_EVENTS.labels(SINK, "failed").inc()
        self.peer.lost(f"nothing acknowledged within {self.settings.round_deadline:g}s")
        nc, self._nc, self._js = self._nc, None, None
        self._stream_checked = False
        if nc is not None:
            task = asyncio.create_task(_close_quietly(nc))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @property
    def _where(self) -> str:
        return f"stream {self.settings.name}"

    async def _ready(self) -> JetStreamContext | None:
        """The stream's context once connected and checked, else None at once (the round hands
        nothing on; the sweep brings its SKUs back). Connecting runs in a task of its own, so a
        round waits for it at most CONNECT_WAIT."""
        if self._nc is not None and self._nc.is_closed:  # lost: nats-py does not reconnect
            self._nc = self._js = None
        if self._nc is None:
            nc = await self._connected()
            if nc is None:
                return None
            self._nc, self._js = nc, nc.jetstream(timeout=self.settings.ack_timeout)
            self._stream_checked = False
        if self._js is None or not self._nc.is_connected:
            return None
        if not self._stream_checked:
            try:
                await self._ensure_stream(self._js)
            except Exception as exc:
                self.peer.lost(exc)
                return None
            self._stream_checked = True
        return self._js

    async def _connected(self) -> NATS | None:
        task = self._connecting
        if task is None:
            if time.monotonic() < self._next_attempt:
                return None
            self._next_attempt = time.monotonic() + self.settings.retry
            task = self._connecting = asyncio.create_task(self._connect())
        done, _ = await asyncio.wait({task}, timeout=CONNECT_WAIT)
        if not done:
            return None
        self._connecting = None
        try:
            return task.result()
        except Exception as exc:
            self.peer.lost(exc)
            return None

    async def _connect(self) -> NATS:
        # No reconnects by nats-py: a lost connection closes the client, its requests fail at
        # once, and the next round connects again (the cursor keeps the place). With several
        # nodes (a cluster) each is tried in a random order until one answers.
        urls = [url.strip() for url in self.settings.url.split(",") if url.strip()]
        random.shuffle(urls)
        for url in urls[:-1]:
            try:
                return await self._connect_to(url)
            except Exception as exc:
                log.debug("NATS %s: %r; trying the next node", url, exc)
        return await self._connect_to(urls[-1])

    async def _connect_to(self, url: str) -> NATS:
        return await nats.connect(
            url, name="inventory-relay", allow_reconnect=False,
            max_reconnect_attempts=1, reconnect_time_wait=0.1,  # the first connect: two tries
            connect_timeout=int(max(1, self.settings.connect_timeout)),
            error_cb=self._on_error, disconnected_cb=self._on_disconnected)

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        """Creates the stream if missing; brings its subjects, max age and duplicate window to
        the settings if they differ (or logs that it could not)."""
        s = self.settings
        subject = f"{s.prefix}.>"
        try:
            info = await js.stream_info(s.name)
        except NotFoundError:
            await js.add_stream(StreamConfig(
                name=s.name, subjects=[subject], max_age=s.max_age,
                duplicate_window=s.duplicate_window, num_replicas=s.replicas))
            log.info("NATS stream %s created (subjects %s, max age %gs, duplicate window %gs, "
                     "R%d)", s.name, subject, s.max_age, s.duplicate_window, s.replicas)
            return
        config = info.config
        subjects = list(config.subjects or [])
        wanted = replace(config, subjects=subjects if subject in subjects else [*subjects, subject],
                         max_age=s.max_age, duplicate_window=s.duplicate_window,
                         num_replicas=s.replicas)
        if (wanted.subjects, _close(config.max_age, s.max_age),
                _close(config.duplicate_window, s.duplicate_window),
                config.num_replicas or 1) == (subjects, True, True, s.replicas):
            return
        try:
            await js.update_stream(wanted)
        except Exception as exc:
            log.warning("NATS stream %s differs from the settings (subjects %s, max age %s, "
                        "duplicate window %s) and could not be updated: %s", s.name, subjects,
                        config.max_age, config.duplicate_window, exc)
            return
        log.info("NATS stream %s updated to subjects %s, max age %gs, duplicate window %gs",
                 s.name, wanted.subjects, s.max_age, s.duplicate_window)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        self.peer = PeerState("NATS")  # a new leadership term starts with a new connection
        self._stream_checked = False
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                nc = await self._connecting
            self._connecting = None
        if nc is not None:
            await _close_quietly(nc)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS: %r", exc)  # outages are logged once by the PeerState

    async def _on_disconnected(self) -> None:
        if self._nc is not None:  # not our own close()
            self.peer.lost("disconnected")


async def _close_quietly(nc: NATS) -> None:
    try:
        async with asyncio.timeout(2):
            await nc.close()
    except Exception as exc:  # closing a broken connection: nothing to keep
        log.debug("NATS close: %r", exc)


def _close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) < 0.001
