"""The NATS side of ingestion (service/ingester.py drives it): the connection, the stream and its
durable pull consumer, fetching a batch, acks, the dead-letter stream, the consumer's lag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from settings.ingest import IngestSettings

log = logging.getLogger("feed.ingest")
CODE_HEADER = "Inventory-Dead-Letter-Code"


@dataclass(frozen=True)
class SourceSettings:
    url: str
    subjects: tuple[str, ...]
    stream: str = "INGEST"
    consumer: str = "inventory-ingest"
    dead_letter_subject: str = "inventory.ingest.dead"
    dead_letter_stream: str = "INGEST_DEAD"
    ack_wait: float = 10.0
    max_ack_pending: int = 1000
    timeout: float = 5.0  # connecting, and each JetStream request

    @classmethod
    def from_settings(cls, s: IngestSettings) -> SourceSettings:
        assert s.url is not None
        return cls(url=s.url, subjects=s.subjects, stream=s.stream, consumer=s.consumer,
                   dead_letter_subject=s.dead_letter_subject,
                   dead_letter_stream=s.dead_letter_stream, ack_wait=s.ack_wait,
                   max_ack_pending=max(1000, 2 * s.batch))


class IngestSource:
    """One connection (no reconnects by nats-py: a lost connection closes it and `open` makes a
    new one); `open` also makes the streams and the consumer if they are missing."""

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected and self._sub is not None

    async def open(self) -> None:
        """Connects, makes sure of the streams and the consumer, binds to it; raises what NATS
        raised (the caller retries)."""
        await self.close()
        s = self.settings
        nc = await nats.connect(s.url, name="inventory-ingest", allow_reconnect=False,
                                max_reconnect_attempts=1, reconnect_time_wait=0.1,
                                connect_timeout=int(max(1, s.timeout)), error_cb=_on_error)
        try:
            js = nc.jetstream(timeout=s.timeout)
            await _ensure_stream(js, s.stream, list(s.subjects))
            await self._ensure_dead_letters(js)
            await self._ensure_consumer(js)
            self._sub = await js.pull_subscribe_bind(durable=s.consumer, stream=s.stream,
                                                     pending_msgs_limit=-1)
        except BaseException:
            await _close_quietly(nc)
            raise
        self._nc, self._js = nc, js

    async def _ensure_dead_letters(self, js: JetStreamContext) -> None:
        """Dead letters are kept by the stream that already captures their subject (the relay's
        `inventory.>` does the default's), else by the dead-letter stream, made if missing."""
        s = self.settings
        try:
            keeper = await js.find_stream_name_by_subject(s.dead_letter_subject)
        except NotFoundError:
            await _ensure_stream(js, s.dead_letter_stream, [s.dead_letter_subject])
            return
        if keeper != s.dead_letter_stream:
            log.info("NATS stream %s keeps the dead letters (%s)", keeper, s.dead_letter_subject)

    async def _ensure_consumer(self, js: JetStreamContext) -> None:
        s = self.settings
        config = ConsumerConfig(
            durable_name=s.consumer, ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL, ack_wait=s.ack_wait, max_deliver=-1,
            max_ack_pending=s.max_ack_pending, filter_subjects=list(s.subjects))
        try:
            await js.consumer_info(s.stream, s.consumer)
        except NotFoundError:
            await js.add_consumer(s.stream, config)
            log.info("NATS consumer %s created on stream %s (subjects %s)", s.consumer, s.stream,
                     ", ".join(s.subjects))

    async def fetch(self, batch: int, wait: float) -> list[Msg]:
        """Up to `batch` messages, waiting at most `wait` seconds for the first; [] if none."""
        assert self._sub is not None
        try:
            return await self._sub.fetch(batch, timeout=wait)
        except TimeoutError:  # nats-py raises its own subclass, or asyncio's plain one
            if self._nc is None or not self._nc.is_connected:
                raise ConnectionError("NATS connection lost") from None
            return []

    async def held_elsewhere(self) -> int:
        """Messages delivered and not yet acknowledged (by an earlier holder, or redeliveries
        waiting): a new leader lets them come back first."""
        assert self._js is not None
        info = await self._js.consumer_info(self.settings.stream, self.settings.consumer)
        return int(info.num_ack_pending or 0)

    async def lag(self) -> int:
        """The consumer's messages not yet delivered plus those not yet acknowledged."""
        assert self._js is not None
        info = await self._js.consumer_info(self.settings.stream, self.settings.consumer)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def dead_letter(self, msg: Msg, letter: dict[str, Any]) -> None:
        """Publishes `letter` and waits for JetStream's ack; its id is the original's stream
        sequence, so a resend after a crash is dropped as a duplicate."""
        assert self._js is not None
        meta = msg.metadata
        await self._js.publish(
            self.settings.dead_letter_subject, orjson.dumps(letter),
            headers={"Nats-Msg-Id": f"{meta.stream}:{meta.sequence.stream}",
                     CODE_HEADER: str(letter["code"])})

    @staticmethod
    async def ack(messages: Sequence[Msg]) -> None:
        for msg in messages:
            await msg.ack()

    @staticmethod
    async def in_progress(messages: Sequence[Msg]) -> None:
        for msg in messages:
            await msg.in_progress()

    @staticmethod
    async def nak(messages: Sequence[Msg], delay: float | None = None) -> None:
        """Hands `messages` back for redelivery (after `delay`), quietly: when NATS is gone they
        come back after the ack wait anyway."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                for msg in messages:
                    await msg.nak(delay=delay)

    async def close(self) -> None:
        nc, self._nc, self._js, self._sub = self._nc, None, None, None
        if nc is not None:
            await _close_quietly(nc)


async def _ensure_stream(js: JetStreamContext, name: str, subjects: list[str]) -> None:
    """Creates the stream with `subjects` if it is missing; one that exists is left alone."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=name, subjects=subjects))
        log.info("NATS stream %s created (subjects %s)", name, ", ".join(subjects))


async def _on_error(exc: Exception) -> None:
    log.debug("NATS (ingest): %r", exc)  # outages are logged once by the ingester


async def _close_quietly(nc: NATS) -> None:
    try:
        async with asyncio.timeout(2):
            await nc.close()
    except Exception as exc:
        log.debug("NATS close: %r", exc)
