"""The ingester's lead (service/ingest_lead.py, store/leases.py INGEST_LOCK): of two ingesters one
consumes; when its host dies (its lock connection killed, the database out of its reach) the other
takes over within seconds, applies nothing twice and keeps one store's messages in order."""

from __future__ import annotations

import time

import asyncpg

from domain.access import Scope
from service import keys
from service.inventory import Inventory
from store import leases
from tests.ingest_checks import (
    cloudevent,
    drained,
    encoded,
    ingest_settings,
    ingesters,
    ledger_count,
    levels,
    publish,
)
from tests.integration.test_ingest_apply import shop
from tests.ledger_checks import assert_consistent
from tests.nats_server import NatsServer
from tests.relay_checks import until

ROUNDS = 300



async def holder(pool: asyncpg.Pool) -> tuple[str, int] | None:
    """The application name and pid of the connection holding the ingest lock."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT a.application_name, a.pid FROM pg_locks l
               JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted
                 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1""", leases.INGEST_LOCK)
    return (row["application_name"], row["pid"]) if row else None


def messages(first: int, last: int) -> list[tuple[str, bytes]]:
    """A set of A to n, then a restock of B by one, for n in [first, last)."""
    out = []
    for n in range(first, last):
        out.append(("stores.s1.stock", encoded(cloudevent(
            "inventory.set", f"set-{n}", sku="A", location="S1", onHand=n))))
        out.append(("stores.s1.stock", encoded(cloudevent(
            "inventory.adjust", f"adjust-{n}", sku="B", location="S1", delta=1,
            reason="RESTOCK"))))
    return out


async def test_a_dead_holder_is_taken_over_within_seconds_nothing_applied_twice(
    database_url: str, pool: asyncpg.Pool, inventory: Inventory, nats_server: NatsServer,
) -> None:
    await shop(inventory)
    token, _ = await keys.create_key(pool, "pos", [Scope.WRITE])
    s = ingest_settings(nats_server.url, token, batch=50)
    await publish(nats_server.url, messages(0, ROUNDS // 2))
    async with ingesters(database_url, inventory, s, names=("a", "b")) as running:
        first = await until(lambda: holder(pool), timeout=10)
        await until(lambda: _ledger_at_least(pool, 60), timeout=20)
        dying = next(r for r in running if f"ingest-{r.name}" == first[0])
        dying.dead = True  # it cannot reach the database again
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT pg_terminate_backend($1)", first[1])
        killed = time.monotonic()
        await publish(nats_server.url, messages(ROUNDS // 2, ROUNDS))
        second = await until(lambda: _held_by_another(pool, first[0]), timeout=10)
        taken_over = time.monotonic() - killed
        await until(lambda: drained(nats_server.url), timeout=30)
    assert second[0] != first[0]
    assert taken_over < 5, f"the lock was taken over after {taken_over:.1f}s"
    assert await levels(pool) == {("A", "S1"): (ROUNDS - 1, ROUNDS),
                                  ("B", "S1"): (ROUNDS, ROUNDS)}
    assert await ledger_count(pool) == 2 * ROUNDS  # every message once
    async with pool.acquire() as conn:
        sets = await conn.fetch("""SELECT e.on_hand_delta FROM stock_events e
                                   JOIN skus s ON s.id = e.sku_id
                                   WHERE s.code = 'A' ORDER BY e.sequence""")
    on_hand, seen = 0, []
    for row in sets:
        on_hand += row["on_hand_delta"]
        seen.append(on_hand)
    assert seen == list(range(ROUNDS)), "A's sets were not applied in publishing order"
    await assert_consistent(pool)


async def _ledger_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return await ledger_count(pool) >= count


async def _held_by_another(pool: asyncpg.Pool, name: str) -> tuple[str, int] | None:
    found = await holder(pool)
    return found if found is not None and found[0] != name else None
