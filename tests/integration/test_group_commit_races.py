"""Group commit beside every other writer of the same SKUs: carts, adjustments, new levels. No
deadlock, and every ledger entry's SKU-wide figures are those of the SKU at its sequence."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from domain.model import AdjustmentReason, LocationKind
from service import cataloguing, reserving, stocking
from service.batching import ReserveBatcher
from service.inventory import Inventory
from store.hold_batch import HoldRequest
from tests.integration.test_group_commit import catalogue_of
from tests.ledger_checks import assert_consistent


async def test_batches_racing_carts_and_adjustments_on_the_same_skus_stay_consistent(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue_of(inventory, "R", [{"A": 40, "B": 40, "C": 40} for _ in range(12)])
    # D gets levels during the race
    await cataloguing.upsert_location(inventory, code="D", name="D", kind=LocationKind.WAREHOUSE)
    rng = random.Random(11)
    batcher = ReserveBatcher(inventory)

    async def shopper() -> None:
        for _ in range(15):
            await batcher.reserve(f"R{rng.randrange(12)}", HoldRequest(
                rng.choice([None, "A", "B", "C", "D"]), rng.randint(1, 3), 60, "shop"))

    async def cart() -> None:
        for _ in range(10):
            lines = [(f"R{rng.randrange(12)}", rng.choice([None, "A", "B", "C"]), rng.randint(1, 2))
                     for _ in range(rng.randint(2, 4))]
            await reserving.reserve_lines(inventory, lines=lines, ttl=60, reference=None)

    async def stocker() -> None:
        for _ in range(15):
            n, code, delta = rng.randrange(12), rng.choice("ABCD"), rng.choice([-2, -1, 1, 3])
            await stocking.adjust(
                inventory, sku=f"R{n}", location=code, delta=delta,
                reason=AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.DAMAGE,
                reference=None)

    async with asyncio.timeout(90):  # a deadlock would end this (PostgreSQL aborts one side)
        await asyncio.gather(*(shopper() for _ in range(40)), *(cart() for _ in range(8)),
                             *(stocker() for _ in range(4)))
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_levels WHERE reserved > on_hand") == 0
        deadlocks = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        shops, transactions = await conn.fetchrow(
            """SELECT count(*), count(DISTINCT occurred_at) FROM stock_events
               WHERE kind = 'RESERVED' AND reference = 'shop'""")
    assert deadlocks == 0
    assert shops > 300 and transactions < shops / 3, (shops, transactions)
    assert not await figures_that_disagree_with_the_ledger(pool)
    await assert_consistent(pool)


async def figures_that_disagree_with_the_ledger(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Events whose SKU-wide figures differ from a replay of the SKU's ledger up to them."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            """SELECT e.sku_id, e.sequence, e.sku_on_hand, e.sku_reserved, e.available, e.status,
                      t.on_hand, t.reserved, t.available AS replayed_available
               FROM stock_events e JOIN skus s ON s.id = e.sku_id
               CROSS JOIN LATERAL (
                   SELECT sum(f.level_on_hand) AS on_hand, sum(f.level_reserved) AS reserved,
                          sum(stock_available(f.level_on_hand, f.level_reserved,
                                              f.level_safety)) AS available
                   FROM (SELECT DISTINCT ON (location_id) * FROM stock_events
                         WHERE sku_id = e.sku_id AND sequence <= e.sequence
                         ORDER BY location_id, sequence DESC) f) t
               WHERE (e.sku_on_hand, e.sku_reserved, e.available)
                     IS DISTINCT FROM (t.on_hand, t.reserved, t.available)
                  OR e.status <> stock_status(t.available, s.low_stock_threshold)""")


async def test_a_level_created_while_a_batch_waits_for_the_sku_row_is_in_its_figures(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue_of(inventory, "N", [{"A": 5}])
    await cataloguing.upsert_location(inventory, code="D", name="D", kind=LocationKind.WAREHOUSE)
    batcher = ReserveBatcher(inventory)

    async def waiting_for_the_sku_row(n: int) -> None:
        async with asyncio.timeout(10), pool.acquire() as conn:
            while await conn.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'""") < n:
                await asyncio.sleep(0.01)

    # a slow writer holds the SKU row; a stocker creates level D and queues behind it, then a
    # batch locks level A (D is not visible to it yet) and queues behind the stocker
    async with pool.acquire() as holder:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM skus WHERE code = 'N0' FOR UPDATE")
        stocker = asyncio.create_task(stocking.adjust(
            inventory, sku="N0", location="D", delta=7, reason=AdjustmentReason.RESTOCK,
            reference=None))
        await waiting_for_the_sku_row(1)
        shopper = asyncio.create_task(batcher.reserve("N0", HoldRequest(None, 2, 60, None)))
        await waiting_for_the_sku_row(2)
        await lock.rollback()
        async with asyncio.timeout(10):
            restocked, held = await asyncio.gather(stocker, shopper)
    assert [e.sequence for e in restocked.events + held.events] == [2, 3]
    event = held.events[0]
    assert (event.sku_on_hand, event.sku_reserved, event.available) == (12, 2, 10)
    assert not await figures_that_disagree_with_the_ledger(pool)
    await assert_consistent(pool)
