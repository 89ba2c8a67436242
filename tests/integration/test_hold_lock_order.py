"""A single hold takes its candidate levels in the global (sku, location) order before it picks
one: a pick that lost a race used to keep the row lock of the level it lost (PostgreSQL locks
the row its guarded UPDATE rechecks) and re-pick a level of a lower id, deadlocking with a
split hold, cart or bundle hold locking both in order (seen as a rare failure of
test_split_holds_racing_single_holds_never_oversell; this test makes the interleaving
certain)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from domain.model import LocationKind
from service import cataloguing, stocking
from service.inventory import Inventory
from store import reservations


async def _waiting(pool: asyncpg.Pool, pid: int) -> None:
    """Until the backend `pid` waits for a lock (bounded)."""
    async with asyncio.timeout(10):
        while await pool.fetchval(
                "SELECT wait_event_type IS DISTINCT FROM 'Lock' FROM pg_stat_activity "
                "WHERE pid = $1", pid):
            await asyncio.sleep(0.01)


async def test_a_hold_that_loses_a_race_never_deadlocks_with_an_ordered_locker(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    for code in ("WH-A", "ST-B"):  # WH-A first: the lower id
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="S", name="S", low_stock_threshold=None)
    for code, on_hand in (("WH-A", 10), ("ST-B", 4)):
        await stocking.set_stock(inventory, sku="S", location=code, on_hand=on_hand,
                                 safety_stock=None, expected_version=None, reference=None)
    sku, wh_a, st_b = (await pool.fetchval("SELECT id FROM skus WHERE code = 'S'"),
                       await pool.fetchval("SELECT id FROM locations WHERE code = 'WH-A'"),
                       await pool.fetchval("SELECT id FROM locations WHERE code = 'ST-B'"))
    level = "SELECT 1 FROM stock_levels WHERE sku_id = $1 AND location_id = $2 FOR UPDATE"
    async with pool.acquire() as rival, pool.acquire() as ordered, pool.acquire() as holder:
        rival_tx, ordered_tx, holder_tx = (c.transaction() for c in (rival, ordered, holder))
        for tx in (rival_tx, ordered_tx, holder_tx):
            await tx.start()
        try:
            # a rival takes all of ST-B's stock and has not committed yet
            await rival.execute("UPDATE stock_levels SET reserved = 4 WHERE sku_id = $1 "
                                "AND location_id = $2", sku, st_b)
            await ordered.execute(level, sku, wh_a)  # a split hold: WH-A, then ST-B
            # a hold through a channel preferring ST-B, then WH-A
            hold = asyncio.create_task(reservations._hold(holder, sku, None, 3, [st_b, wh_a]))
            await _waiting(pool, holder.get_server_pid())
            await rival_tx.commit()  # ST-B cannot hold 3 any more: the hold looks elsewhere
            second = asyncio.create_task(ordered.execute(level, sku, st_b))
            async with asyncio.timeout(10):
                await second  # the ordered locker gets ST-B (it deadlocked here)
            await ordered_tx.commit()
            async with asyncio.timeout(10):
                held = await hold
            assert held is not None and held["location_id"] == wh_a
            await holder_tx.commit()
        finally:
            for tx in (rival_tx, ordered_tx, holder_tx):  # those a failed step left open
                with contextlib.suppress(asyncpg.InterfaceError):
                    await tx.rollback()
