"""A lean graphql-transport-ws subscriber: one asyncio Protocol per socket driving websockets'
sans-I/O ClientProtocol, no task per connection. It offers permessage-deflate like browsers do
(BENCH_WS_DEFLATE=0 to stop offering it)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import orjson
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

SUBSCRIPTION = """subscription Watch($sku: String!) {
  stockEvents(sku: $sku) { sequence kind available status reference reservationId
                           occurredAt level { available } } }"""
INIT = orjson.dumps({"type": "connection_init"}).decode()
PONG = orjson.dumps({"type": "pong"}).decode()


@dataclass
class Hub:
    """What all subscribers saw: readiness, deliveries and their latencies while recording."""

    ready: int = 0
    failed: int = 0
    closed: int = 0
    recording: bool = False
    delivered: int = 0
    commit_to_client: list[float] = field(default_factory=list)
    # (reservation id, receipt time): matched afterwards with the reserving client's send time
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(message[:200])


class Subscriber(asyncio.Protocol):
    def __init__(self, uri: str, sku: str, hub: Hub, deflate: bool,
                 token: str | None = None) -> None:
        self.hub = hub
        self.token = token
        self.sku = sku
        self.ws = ClientProtocol(
            parse_uri(uri), subprotocols=[Subprotocol("graphql-transport-ws")],
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
        )
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        request = self.ws.connect()
        if self.token:  # events show reservationId only to admins and the hold's own key
            request.headers["Authorization"] = f"Bearer {self.token}"
        self.ws.send_request(request)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.closed += 1
        self._settle(False, f"connection lost: {exc!r}")

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self._settle(False, f"handshake status {event.status_code}")
                else:
                    self.ws.send_text(INIT.encode())
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(bytes(event.data))
            elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                self._settle(False, f"closed by server: {event.data[2:]!r}")
        self._flush()

    def _message(self, raw: bytes) -> None:
        message = orjson.loads(raw)
        kind = message.get("type")
        if kind == "next":
            event = (message["payload"].get("data") or {}).get("stockEvents")
            if event is None:
                self._settle(False, f"no data: {message['payload']}")
            elif event["kind"] == "SNAPSHOT":
                self._settle(True)
            elif self.hub.recording:
                now = time.time()
                self.hub.delivered += 1
                occurred = datetime.fromisoformat(event["occurredAt"]).timestamp()
                self.hub.commit_to_client.append(now - occurred)
                reservation = event.get("reservationId")
                if reservation:
                    self.hub.arrivals.append((reservation, now))
        elif kind == "connection_ack":
            self.ws.send_text(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": SUBSCRIPTION, "variables": {"sku": self.sku}}}))
        elif kind == "ping":
            self.ws.send_text(PONG.encode())
        elif kind in ("error", "complete"):
            self._settle(False, f"{kind}: {message.get('payload')}")

    def _settle(self, ok: bool, why: str = "") -> None:
        if self.ready.done():
            if not ok and why:
                self.hub.error(why)
            return
        self.ready.set_result(ok)
        if ok:
            self.hub.ready += 1
        else:
            self.hub.failed += 1
            self.hub.error(why)

    def _flush(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def subscribe_many(
    port: int, skus: list[str], hub: Hub, deflate: bool, in_flight: int = 64,
    timeout: float = 30.0, token: str | None = None,
) -> list[Subscriber]:
    """One socket and one subscription per entry of `skus`; returns when each has its
    SNAPSHOT (or failed). At most `in_flight` handshakes at once, like a reconnect wave."""
    loop = asyncio.get_running_loop()
    uri = f"ws://127.0.0.1:{port}/graphql"
    gate = asyncio.Semaphore(in_flight)
    subscribers: list[Subscriber] = []

    async def one(sku: str) -> None:
        async with gate:
            try:
                _, sub = await loop.create_connection(
                    lambda: Subscriber(uri, sku, hub, deflate, token), "127.0.0.1", port)
            except OSError as exc:
                hub.failed += 1
                hub.error(f"connect: {exc!r}")
                return
            subscribers.append(sub)
            try:
                await asyncio.wait_for(asyncio.shield(sub.ready), timeout)
            except TimeoutError:
                hub.failed += 1
                hub.error("no SNAPSHOT within the timeout")

    await asyncio.gather(*(one(sku) for sku in skus))
    return subscribers
