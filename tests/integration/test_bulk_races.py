"""20 concurrent bulk adjusts and sets over overlapping levels, beside carts, holds and single
adjustments: no deadlock, every applied line's ledger entry present, and every entry's figures
those of a replay of the ledger up to it."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from domain.bulk import StockLine
from domain.model import AdjustmentReason, LocationKind
from domain.outcome import Outcome
from service import bulk, cataloguing, reserving, stocking
from service.inventory import Inventory
from tests.integration.test_group_commit import catalogue_of
from tests.integration.test_group_commit_races import figures_that_disagree_with_the_ledger
from tests.ledger_checks import assert_consistent


def _line(rng: random.Random, setting: bool, key: str | None) -> StockLine:
    sku, location = f"K{rng.randrange(10)}", rng.choice("ABCD")
    if setting:
        return StockLine(sku, location, on_hand=rng.randint(0, 30), idempotency_key=key)
    delta = rng.choice([-3, -1, 2, 5])
    reason = AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.SALE
    return StockLine(sku, location, delta=delta, reason=reason, reference="bulk",
                     idempotency_key=key)


async def test_concurrent_bulks_and_carts_never_deadlock_and_keep_the_ledger(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue_of(inventory, "K", [{"A": 20, "B": 20, "C": 20} for _ in range(10)])
    await cataloguing.upsert_location(inventory, code="D", name="D", kind=LocationKind.WAREHOUSE)
    rng = random.Random(14)
    applied: list[Outcome] = []

    async def bulker(n: int) -> None:
        for round_ in range(3):
            setting, atomic = n % 2 == 0, (n + round_) % 3 == 0
            lines = [_line(rng, setting, f"b{n}-{round_}-{i}" if i % 2 else None)
                     for i in range(rng.randint(20, 60))]
            run = bulk.set_many if setting else bulk.adjust_many
            done = await run(inventory, lines, atomic=atomic, refusals={})
            applied.extend(o for o in done.lines if o.events)
            assert done.applied or atomic

    async def cart() -> None:
        for _ in range(8):
            lines = [(f"K{rng.randrange(10)}", rng.choice([None, "A", "B", "C"]), 1)
                     for _ in range(rng.randint(2, 4))]
            await reserving.reserve_lines(inventory, lines=lines, ttl=60, reference=None)

    async def stocker() -> None:
        for _ in range(10):
            await stocking.adjust(inventory, sku=f"K{rng.randrange(10)}",
                                  location=rng.choice("ABCD"), delta=2,
                                  reason=AdjustmentReason.RESTOCK, reference=None)

    async with asyncio.timeout(120):  # a deadlock would end this (PostgreSQL aborts one side)
        await asyncio.gather(*(bulker(n) for n in range(20)), *(cart() for _ in range(6)),
                             *(stocker() for _ in range(3)))
    assert len(applied) > 500
    async with pool.acquire() as conn:
        deadlocks = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        entries = {(r["code"], r["sequence"]): r["on_hand_delta"] for r in await conn.fetch(
            "SELECT s.code, e.sequence, e.on_hand_delta FROM stock_events e "
            "JOIN skus s ON s.id = e.sku_id")}
    assert deadlocks == 0
    for outcome in applied:
        event = outcome.events[0]
        assert entries[event.sku, event.sequence] == event.on_hand_delta
    assert not await figures_that_disagree_with_the_ledger(pool)
    await assert_consistent(pool)


async def test_a_level_another_writer_creates_first_is_applied_on_top_of_it(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await catalogue_of(inventory, "N", [{"A": 5}])
    await cataloguing.upsert_location(inventory, code="D", name="D", kind=LocationKind.WAREHOUSE)
    async with pool.acquire() as holder:
        creating = holder.transaction()
        await creating.start()
        await holder.execute(
            """INSERT INTO stock_levels (sku_id, location_id, on_hand)
               SELECT s.id, l.id, 0 FROM skus s, locations l WHERE s.code = 'N0' AND l.code = 'D'""")
        lines = [StockLine("N0", "A", delta=1, reason=AdjustmentReason.RESTOCK),
                 StockLine("N0", "D", delta=4, reason=AdjustmentReason.RESTOCK)]
        bulking = asyncio.create_task(bulk.adjust_many(inventory, lines, atomic=True, refusals={}))
        async with asyncio.timeout(10), pool.acquire() as watcher:  # the bulk waits for it
            while await watcher.fetchval(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'""") < 1:
                await asyncio.sleep(0.01)
        await creating.commit()  # empty level, no ledger entry: as a level with nothing yet
        async with asyncio.timeout(10):
            done = await bulking
    assert [(o.level.on_hand, o.level.version) for o in done.lines if o.level] == [(6, 2), (4, 2)]
    assert not await figures_that_disagree_with_the_ledger(pool)
    await assert_consistent(pool)
