"""The relay's MQTT handler (feed/relay.py runs it in a LedgerTail): each SKU's and bundle's newest
figures as a retained QoS 1 message, and with MQTT_EVENTS every ledger entry's CloudEvent."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import asyncpg

from domain.changes import AvailabilityChange, LedgerChange
from feed import bundle_feed, cloudevents
from feed.outbox import age
from feed.peer import PeerState
from ops.metrics import PARTNER_EVENTS, PARTNER_LATENCY
from store import leases

log = logging.getLogger("feed.relay")
SINK = "mqtt"
Connected = tuple[aiomqtt.Client, contextlib.AsyncExitStack]
CONNECT_WAIT = 0.5  # seconds a round waits for a connection being made
RETAINED = ("sku", "available", "status", "onHand", "reserved", "sequence", "updatedAt")


@dataclass(frozen=True)
class BrokerSettings:
    url: str  # mqtt://[user:password@]host[:port] or mqtts://
    prefix: str = "inventory"
    events: bool = False  # also every ledger entry, not retained, on <prefix>/events/<sku>
    source: str = "inventory"
    ack_timeout: float = 5.0  # per PUBACK; a SKU stops at the first one missing
    retry: float = 1.0  # between connection attempts while the broker is down
    # the longest a round (its pool connection and cursors' transaction) waits for the broker;
    # what is acked by then is handed on, the rest waits for the next round
    round_deadline: float = 3.0


def retained(change: AvailabilityChange) -> dict[str, Any]:
    """The retained message's figures: {sku, available, status, onHand, reserved, sequence,
    updatedAt}."""
    fields = cloudevents.availability_fields(change)
    return {key: fields[key] for key in RETAINED}


def figures(change: LedgerChange) -> AvailabilityChange:
    """The SKU's figures after `change`, also when it moved only onHand and reserved (a commit):
    what the retained message says is always the newest entry's."""
    moved = change.availability
    if moved is not None:
        return moved
    event = change.event
    return AvailabilityChange(
        sku=event.sku, cause_sku=event.sku, cause_sequence=event.sequence,
        on_hand=event.sku_on_hand, reserved=event.sku_reserved, available=event.available,
        status=event.status, previous_available=change.previous_available,
        previous_status=change.previous_status, occurred_at=event.occurred_at)


class MqttHandler:
    """A feed/tail.py Handler. One connection, made again on the first round after a failure;
    what was not acked stays behind the cursor, so the SKUs changed during an outage get their
    newest figures published once the broker is back."""

    name = SINK

    def __init__(self, settings: BrokerSettings) -> None:
        self.settings = settings
        self.peer = PeerState("MQTT")
        self._client: aiomqtt.Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._next_attempt = 0.0
        self._connecting: asyncio.Task[Connected] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def handle(
        self, conn: asyncpg.Connection, changes: Sequence[LedgerChange]
    ) -> Mapping[int, int]:
        await leases.bound_round(conn)
        per_sku: dict[int, list[LedgerChange]] = {}
        for change in changes:
            per_sku.setdefault(change.sku_id, []).append(change)
        done: dict[int, int] = {}  # by sku_id, the last sequence fully sent so far
        deadline = asyncio.timeout(self.settings.round_deadline)
        failed = False
        try:
            async with deadline:
                client = await self._ready()
                if client is None:
                    return {}
                failed = not all(await asyncio.gather(*(
                    self._publish_run(client, run, done)
                    for run in bundle_feed.chains(changes))))
        except TimeoutError:
            if not deadline.expired():
                raise
            if not done:  # a slow broker goes on next round from what it acked
                PARTNER_EVENTS.labels(SINK, "failed").inc()
                self.peer.lost(f"nothing acknowledged within {self.settings.round_deadline:g}s")
                failed = True
        if failed:
            self._drop()  # a failed publish or a silent broker: a fresh connection next round
        elif all(done.get(sku_id) == sku[-1].event.sequence for sku_id, sku in per_sku.items()):
            self.peer.reached(self._where)
        return done

    async def _publish_run(self, client: aiomqtt.Client, run: list[LedgerChange],
                           done: dict[int, int]) -> bool:
        """A run of feed/bundle_feed.py's `chains` SKU after SKU, stopping at a failure: a
        bundle's retained figures are published in the order they were computed."""
        for _, sku in itertools.groupby(run, key=lambda change: change.sku_id):
            if not await self._publish(client, list(sku), done):
                return False
        return True

    async def _publish(self, client: aiomqtt.Client, changes: list[LedgerChange],
                       done: dict[int, int]) -> bool:
        """One SKU's round: its events in order (with MQTT_EVENTS), then the figures after its
        newest entry (retained: newest wins), whatever moved, so onHand and reserved are never
        stale, then the newest figures its entries gave each bundle made of it. Records in
        `done` the last sequence sent: everything up to it is out, the retained values
        counting as out only once the round's newest entry's (and its bundles') are. False if
        a publish failed."""
        s = self.settings
        token = cloudevents.sku_token(changes[0].event.sku)
        newest = changes[-1]
        sku_id = newest.sku_id
        bundles = {moved.sku: moved for change in changes for moved in change.bundles}
        try:
            if s.events:
                for change in changes[:-1]:  # the newest one's event waits for its figures
                    await self._send(client, f"{s.prefix}/events/{token}", change,
                                     cloudevents.stock_event(change.event, s.source), False)
                    if not bundles:  # else the bundles' figures are out only at the end
                        done[sku_id] = change.event.sequence
                await self._send(client, f"{s.prefix}/events/{token}", newest,
                                 cloudevents.stock_event(newest.event, s.source), False)
            await self._send(client, f"{s.prefix}/availability/{token}", newest,
                             retained(figures(newest)), True)
            for bundle, moved in bundles.items():
                await self._send(client, f"{s.prefix}/availability/{cloudevents.sku_token(bundle)}",
                                 newest, retained(moved), True)
            done[sku_id] = newest.event.sequence
        except (aiomqtt.MqttError, TimeoutError) as exc:
            # the retained value is not out: the cursor stays before the newest entry, whose
            # figures the next round publishes (its event again too, QoS 1 is at least once)
            PARTNER_EVENTS.labels(SINK, "failed").inc()
            self.peer.lost(exc)
            return False
        return True

    async def _send(self, client: aiomqtt.Client, topic: str, change: LedgerChange,
                    document: dict[str, Any], retain: bool) -> None:
        await client.publish(topic, cloudevents.encode(document), qos=1, retain=retain,
                             timeout=self.settings.ack_timeout)
        PARTNER_EVENTS.labels(SINK, "delivered").inc()
        PARTNER_LATENCY.labels(SINK).observe(age(change.event))

    @property
    def _where(self) -> str:
        return f"topics {self.settings.prefix}/availability/+"

    async def _ready(self) -> aiomqtt.Client | None:
        """The connected client, else None at once (the sweep brings the SKUs back). Connecting
        runs in a task of its own, so a round waits for it at most CONNECT_WAIT."""
        if self._client is not None:
            return self._client
        task = self._connecting
        if task is None:
            if time.monotonic() < self._next_attempt:
                return None
            self._next_attempt = time.monotonic() + self.settings.retry
            task = self._connecting = asyncio.create_task(_connect(self.settings.url))
        done, _ = await asyncio.wait({task}, timeout=CONNECT_WAIT)
        if not done:
            return None
        self._connecting = None
        try:
            self._client, self._stack = task.result()
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            self.peer.lost(exc)
            return None
        return self._client

    def _drop(self) -> None:
        """Forgets the connection at once and closes it in the background (a round never
        waits for a broken one to close)."""
        stack, self._client, self._stack = self._stack, None, None
        if stack is not None:
            task = asyncio.create_task(_quietly(stack))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        stack, self._client, self._stack = self._stack, None, None
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                _, stack = await self._connecting
            self._connecting = None
        if stack is not None:
            await _quietly(stack)
        await asyncio.gather(*self._closing, return_exceptions=True)


async def _connect(url: str) -> Connected:
    stack = contextlib.AsyncExitStack()
    try:
        return await stack.enter_async_context(_client(url)), stack
    except BaseException:
        await _quietly(stack)
        raise


def _client(url: str) -> aiomqtt.Client:
    parts = urlsplit(url)
    secure = parts.scheme == "mqtts"
    return aiomqtt.Client(
        parts.hostname or "127.0.0.1", parts.port or (8883 if secure else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        identifier=f"inventory-relay-{uuid.uuid4().hex[:12]}", keepalive=15, timeout=5,
        max_inflight_messages=200, tls_context=ssl.create_default_context() if secure else None,
        logger=logging.getLogger("feed.mqtt.paho"),
    )


async def _quietly(stack: contextlib.AsyncExitStack) -> None:
    try:
        async with asyncio.timeout(2):
            await stack.aclose()
    except Exception as exc:  # closing a broken connection: nothing to keep
        log.debug("MQTT close: %r", exc)
