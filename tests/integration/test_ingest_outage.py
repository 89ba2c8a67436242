"""The ingester meets a PostgreSQL outage (every connection of its pool cut by a proxy, none
accepted): one log line, nothing acknowledged or dead-lettered, and once the database is back
every message applies once, in order."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from domain.access import Scope
from domain.rules import Limits
from service import keys
from service.inventory import Inventory
from store import database
from tests.ingest_checks import (
    cloudevent,
    dead_letters,
    drained,
    encoded,
    ingest_settings,
    ingesters,
    ledger_count,
    levels,
    pending,
    publish,
)
from tests.integration.test_ingest_apply import shop
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer
from tests.pg_proxy import TcpProxy
from tests.relay_checks import until


def restocks(first: int, last: int) -> list[tuple[str, bytes]]:
    return [("stores.s1.stock", encoded(cloudevent(
        "inventory.set" if n % 10 == 9 else "inventory.adjust", str(n), sku="A", location="S1",
        **({"onHand": n} if n % 10 == 9 else {"delta": 1, "reason": "RESTOCK"}))))
        for n in range(first, last)]


async def test_a_database_outage_holds_the_batch_and_applies_it_once_when_back(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await shop(inventory)
    token, _ = await keys.create_key(pool, "pos", [Scope.WRITE])
    proxy = TcpProxy.to(database_url)
    await proxy.start()
    proxied = await database.create_pool(proxy.url(database_url), min_size=1, max_size=4)
    back: TcpProxy | None = None
    try:
        cut_off = Inventory(pool=proxied, limits=Limits())
        s = ingest_settings(nats_server.url, token)
        with caplog.at_level(logging.INFO, logger="service.ingest"):
            async with ingesters(database_url, cut_off, s):
                await publish(nats_server.url, restocks(0, 5))
                await until(lambda: drained(nats_server.url), timeout=20)
                await proxy.close()  # every pool connection cut, no new one accepted
                await publish(nats_server.url, restocks(5, 60))
                await until(lambda: _logged(caplog, "the database is unavailable"), timeout=10)
                assert await ledger_count(pool) == 5  # nothing applied while it is down
                assert await pending(nats_server.url) == 55  # nothing acknowledged
                back = TcpProxy.to(database_url)
                back.port = proxy.port
                await back.start()
                await until(lambda: drained(nats_server.url), timeout=20)
    finally:
        await proxied.close()
        if back is not None:
            await back.close()
    assert await dead_letters(nats_server.url) == []
    assert await ledger_count(pool) == 60  # each message once
    # the last message is the set to 59: the order held through the outage
    assert await levels(pool) == {("A", "S1"): (59, 60)}
    outages = [r for r in caplog.records if "is unavailable" in r.getMessage()]
    assert len(outages) == 1, [r.getMessage() for r in outages]
    assert any("the database is back" in r.getMessage() for r in caplog.records)
    await assert_consistent(pool)


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in r.getMessage() for r in caplog.records)
