"""How long a relay round holds its pool connection (and the cursors' transaction) while a broker
is slow, frozen or never answers: at most the handler's round deadline, whatever the backlog
(feed/jetstream.py, feed/mqtt.py against a real nats-server and mosquitto behind a proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime

import asyncpg
import pytest

from domain.changes import LedgerChange
from domain.model import AvailabilityStatus, StockEvent, StockEventKind
from feed.jetstream import JetStreamHandler, StreamSettings
from feed.mqtt import BrokerSettings, MqttHandler
from tests.mqtt_broker import MqttBroker, mosquitto_binary
from tests.nats_server import NatsServer, nats_server_binary

DEADLINE = 1.5
SLACK = 0.8  # the transaction's own statements, a loaded machine


class Proxy:
    """A TCP proxy to `port` whose broker-to-relay direction can be slowed (each chunk waits
    `delay`) or cut (`frozen`: the relay's bytes still reach the broker, nothing comes back)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.delay = 0.0
        self.frozen = False
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        for task in (self._pipe(reader, up_writer, False), self._pipe(up_reader, writer, True)):
            running = asyncio.create_task(task)
            self.tasks.add(running)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    down: bool) -> None:
        try:
            while chunk := await reader.read(65536):
                while down and self.frozen:
                    await asyncio.sleep(0.05)
                if down and self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def changes(count: int, sku: str = "D-1", sku_id: int = 1) -> list[LedgerChange]:
    """`count` entries of one SKU, each moving its availability (two NATS messages each)."""
    found = []
    for n in range(1, count + 1):
        event = StockEvent(
            sku=sku, sequence=n, kind=StockEventKind.RESERVED, location_id=1, location="W",
            on_hand_delta=0, reserved_delta=1, level=None, sku_on_hand=100, sku_reserved=n,
            available=100 - n, status=AvailabilityStatus.IN_STOCK, reason=None,
            reservation_id=None, reference=None, occurred_at=datetime.now(UTC))
        found.append(LedgerChange(sku_id, event, 101 - n, AvailabilityStatus.IN_STOCK))
    return found


async def timed_round(pool: asyncpg.Pool, handler: JetStreamHandler | MqttHandler,
                      entries: list[LedgerChange]) -> tuple[float, Mapping[int, int]]:
    """One round as feed/tail.py runs it: within a transaction on a pool connection, bounded
    here so that a round without a deadline fails the test instead of hanging it."""
    started = time.monotonic()
    async with pool.acquire() as conn, conn.transaction(), asyncio.timeout(DEADLINE + 10):
        done = await handler.handle(conn, entries)
    return time.monotonic() - started, done


async def connected(pool: asyncpg.Pool, handler: JetStreamHandler | MqttHandler) -> None:
    async with asyncio.timeout(10):
        while (await timed_round(pool, handler, changes(1, "warm-up", 99)))[1] != {99: 1}:
            await asyncio.sleep(0.1)


@pytest.fixture
def nats_broker() -> Iterator[NatsServer]:
    binary = nats_server_binary()
    if binary is None:
        pytest.skip("no nats-server binary")
    with NatsServer(binary) as server:
        yield server


@pytest.fixture
def mqtt_broker() -> Iterator[MqttBroker]:
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("no mosquitto binary")
    with MqttBroker(binary) as broker:
        yield broker


@contextlib.asynccontextmanager
async def proxied(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Proxy]:
    broker: NatsServer | MqttBroker = request.getfixturevalue(f"{kind}_broker")
    async with Proxy(broker.port) as proxy:
        yield proxy


def handler_for(kind: str, port: int) -> JetStreamHandler | MqttHandler:
    if kind == "nats":
        return JetStreamHandler(StreamSettings(
            url=f"nats://127.0.0.1:{port}", name="DEADLINE", prefix="dl",
            round_deadline=DEADLINE))
    return MqttHandler(BrokerSettings(url=f"mqtt://127.0.0.1:{port}", prefix="dl", events=True,
                                      round_deadline=DEADLINE))


@pytest.mark.parametrize("kind", ["nats", "mqtt"])
async def test_a_slow_broker_holds_a_round_no_longer_than_the_deadline(
    pool: asyncpg.Pool, kind: str, request: pytest.FixtureRequest
) -> None:
    """Each acknowledgement takes 0.25 s: 40 entries took 40 (MQTT events) or 80 (NATS) of
    them in one round; now the round hands on the prefix acked by the deadline and the next
    round goes on from there."""
    async with proxied(kind, request) as proxy:
        handler = handler_for(kind, proxy.listening)
        try:
            await connected(pool, handler)
            proxy.delay = 0.25
            entries = changes(40)
            took, done = await timed_round(pool, handler, entries)
            assert took < DEADLINE + SLACK, f"a slow broker held the round {took:.2f}s"
            assert 0 < done[1] < 40, done  # a prefix, not nothing, not everything
            proxy.delay = 0.0
            rest = [c for c in entries if c.event.sequence > done[1]]
            async with asyncio.timeout(10):
                while (last := (await timed_round(pool, handler, rest))[1]) != {1: 40}:
                    await asyncio.sleep(0.1)
            assert last == {1: 40}
            print(f"{kind}: slow broker, round held {took:.2f}s, {done[1]} of 40 handed on")
        finally:
            await handler.close()


@pytest.mark.parametrize("kind", ["nats", "mqtt"])
async def test_a_frozen_broker_holds_a_round_no_longer_than_the_deadline(
    pool: asyncpg.Pool, kind: str, request: pytest.FixtureRequest
) -> None:
    """The broker's host freezes after the connection is made (nothing comes back): each
    round waited for an acknowledgement timeout (5 s), round after round; now the first waits
    for the deadline, drops the connection, and the next ones return at once."""
    async with proxied(kind, request) as proxy:
        handler = handler_for(kind, proxy.listening)
        try:
            await connected(pool, handler)
            proxy.frozen = True
            held = []
            for _ in range(3):
                took, done = await timed_round(pool, handler, changes(5))
                assert not done
                held.append(took)
            assert max(held) < DEADLINE + SLACK, held
            assert max(held[1:]) < 1.0, held  # reconnecting runs beside the rounds
            proxy.frozen = False
            async with asyncio.timeout(15):
                while (await timed_round(pool, handler, changes(5)))[1] != {1: 5}:
                    await asyncio.sleep(0.1)
            print(f"{kind}: frozen broker, rounds held {', '.join(f'{t:.2f}s' for t in held)}")
        finally:
            await handler.close()


@pytest.mark.parametrize("kind", ["nats", "mqtt"])
async def test_a_listener_that_never_answers_holds_a_round_half_a_second(
    pool: asyncpg.Pool, kind: str
) -> None:
    """A blackholed broker address (the TCP connection is accepted, nothing ever answers):
    rounds never wait longer than the connect wait."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = int(silent.sockets[0].getsockname()[1])
    handler = handler_for(kind, port)
    try:
        held = []
        for _ in range(4):
            took, done = await timed_round(pool, handler, changes(5))
            assert not done
            held.append(took)
            await asyncio.sleep(0.3)
        assert max(held) < 1.0, held
        print(f"{kind}: silent listener, rounds held {', '.join(f'{t:.2f}s' for t in held)}")
    finally:
        await handler.close()
        silent.close()
        with contextlib.suppress(Exception):
            await silent.wait_closed()
