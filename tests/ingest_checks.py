"""What the ingester's tests share (tests/integration/test_ingest_*.py): CloudEvents to publish,
an in-process ingester on a real nats-server, the consumer's pending count, the dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import nats
import orjson
from nats.js.errors import NotFoundError

from feed.ingest_source import CODE_HEADER, IngestSource, SourceSettings
from service.access import Gatekeeper
from service.ingest_lead import lead
from service.ingester import Ingester
from service.inventory import Inventory
from settings.ingest import IngestSettings
from store import leases
from tests.conftest import ADMIN_KEY

SUBJECTS = ("stores.*.stock",)
CONSUMER = "inventory-ingest"


def ingest_settings(url: str, api_key: str, **overrides: Any) -> IngestSettings:
    """Fast retries and a short ack wait: a test waits seconds, not the defaults' tens."""
    values: dict[str, Any] = {
        "url": url, "subjects": SUBJECTS, "api_key": api_key, "ack_wait": 2.0, "retry": 0.3,
        "key_recheck": 0.3, "batch": 200, **overrides}
    return IngestSettings(**values)


def source_for(s: IngestSettings) -> IngestSource:
    return IngestSource(SourceSettings.from_settings(s))


@dataclass
class Running:
    """An in-process ingester competing for the lock; `dead` makes its database unreachable
    (its lock connection cannot be made again), as when its host is gone."""

    name: str
    ingester: Ingester
    dead: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@contextlib.asynccontextmanager
async def ingesters(
    database_url: str, inventory: Inventory, s: IngestSettings, names: Sequence[str] = ("a",),
) -> AsyncIterator[list[Running]]:
    """One ingester per name, each with its lock connection named `ingest-<name>`."""
    gatekeeper = Gatekeeper(inventory.pool, admin_token=ADMIN_KEY, cache_seconds=0.2)
    running = [Running(name, Ingester(inventory, gatekeeper, s, source_for(s))) for name in names]

    def connector(one: Running) -> Callable[[], Any]:
        async def connect() -> asyncpg.Connection:
            if one.dead:
                raise OSError("host gone")
            return await leases.connect(database_url, f"ingest-{one.name}")
        return connect

    for one in running:
        one.task = asyncio.create_task(lead(connector(one), one.ingester.consume,
                                            retry=s.retry, check_interval=0.2))
    try:
        yield running
    finally:
        for one in running:
            assert one.task is not None
            one.task.cancel()
        await asyncio.gather(*(one.task for one in running if one.task), return_exceptions=True)


def cloudevent(kind: str, event_id: str, source: str = "urn:pos:test",
               **data: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": kind,
            "datacontenttype": "application/json", "data": data}


async def publish(url: str, messages: Sequence[tuple[str, bytes]],
                  stream: str = "INGEST", subjects: Sequence[str] = SUBJECTS) -> None:
    """Publishes each (subject, body) to JetStream in order, each acked, without a Nats-Msg-Id
    (a resent event is a second message: the ingester's idempotency must catch it)."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        with contextlib.suppress(Exception):
            await js.add_stream(name=stream, subjects=list(subjects))
        acks = [js.publish(subject, body) for subject, body in messages]
        for chunk in range(0, len(acks), 500):
            await asyncio.gather(*acks[chunk:chunk + 500])
    finally:
        await nc.close()


def encoded(document: object) -> bytes:
    return orjson.dumps(document)


async def pending(url: str, stream: str = "INGEST", consumer: str = CONSUMER) -> int | None:
    """The consumer's not yet delivered plus not yet acknowledged (None: no consumer yet)."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        try:
            info = await nc.jetstream().consumer_info(stream, consumer)
        except NotFoundError:
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    finally:
        await nc.close()


async def drained(url: str, stream: str = "INGEST") -> bool:
    return await pending(url, stream) == 0


async def dead_letters(url: str, stream: str = "INGEST_DEAD") -> list[tuple[str, str, dict[str, Any]]]:
    """Every dead letter in stream order: (Nats-Msg-Id, code header, body)."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        found = []
        if not info.state.messages:
            return found
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            headers = msg.headers or {}
            found.append((headers.get("Nats-Msg-Id", ""), headers.get(CODE_HEADER, ""),
                          orjson.loads(msg.data or b"{}")))
        return found
    finally:
        await nc.close()


async def levels(pool: asyncpg.Pool) -> dict[tuple[str, str], tuple[int, int]]:
    """(SKU, location): (on hand, version)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("""SELECT s.code, l.code AS location, v.on_hand, v.version
                                   FROM stock_levels v JOIN skus s ON s.id = v.sku_id
                                   JOIN locations l ON l.id = v.location_id""")
    return {(r["code"], r["location"]): (r["on_hand"], r["version"]) for r in rows}


async def ledger_count(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM stock_events"))
