"""Group commit of reserves on one hot SKU: fewer transactions, exactly the same answers."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from domain.model import LocationKind
from service.batching import ReserveBatcher
from service.inventory import Inventory
from store import catalog, levels
from store.hold_batch import HoldRequest
from tests.ledger_checks import assert_consistent


async def stocked(inventory: Inventory, **on_hand: int) -> None:
    async with inventory.pool.acquire() as conn:
        await catalog.upsert_sku(conn, "HOT", "hot", 3)
        for code in on_hand:
            await catalog.upsert_location(conn, code, code, LocationKind.WAREHOUSE)
    for code, n in on_hand.items():
        await inventory.mutate(lambda c, code=code, n=n: levels.set_stock(c, "HOT", code, n, None, None, None),
                               field="setStock", arguments={})


async def transactions_of(pool: asyncpg.Pool, kind: str) -> tuple[int, int]:
    async with pool.acquire() as conn:
        r = await conn.fetchrow(
            "SELECT count(*) AS events, count(DISTINCT occurred_at) AS transactions FROM stock_events WHERE kind = $1",
            kind)
    return r["events"], r["transactions"]


async def test_a_flash_sale_sells_exactly_the_stock_in_few_transactions(inventory: Inventory, pool: asyncpg.Pool) -> None:
    await stocked(inventory, A=120, B=80)
    batcher = ReserveBatcher(inventory)
    async with asyncio.timeout(60):
        outcomes = await asyncio.gather(*(
            batcher.reserve("HOT", HoldRequest(None, 1, 60, f"c{n}")) for n in range(500)))
    held = [o for o in outcomes if o.error is None]
    assert len(held) == 200
    assert {o.error.code for o in outcomes if o.error} == {"INSUFFICIENT_STOCK"}
    events, transactions = await transactions_of(pool, "RESERVED")
    assert events == 200 and transactions < 100, (events, transactions)
    # each answer carries its own reservation, level and event, with gap-free sequences
    assert sorted(o.events[0].sequence for o in held) == list(range(3, 203))
    assert len({o.reservation.id for o in held if o.reservation}) == 200
    assert all(o.level is not None and o.level.reserved == o.events[0].level.reserved for o in held)  # type: ignore[union-attr]
    await assert_consistent(pool)


async def test_mixed_quantities_and_locations_match_the_single_path_policy(inventory: Inventory, pool: asyncpg.Pool) -> None:
    await stocked(inventory, A=30, B=25, C=5)
    rng = random.Random(3)
    requests = [HoldRequest(rng.choice([None, None, "A", "B", "C", "NOWHERE"]), rng.randint(1, 4), 60, None)
                for _ in range(120)]
    batcher = ReserveBatcher(inventory)
    async with asyncio.timeout(60):
        outcomes = await asyncio.gather(*(batcher.reserve("HOT", r) for r in requests))
    for request, outcome in zip(requests, outcomes, strict=True):
        if request.location == "NOWHERE":
            assert outcome.error is not None and outcome.error.code == "NOT_FOUND"
        elif outcome.error is None:
            assert outcome.reservation is not None and outcome.reservation.quantity == request.quantity
            if request.location:
                assert outcome.events[0].location == request.location
        else:
            assert outcome.error.code == "INSUFFICIENT_STOCK"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT sum(reserved) FROM stock_levels") == sum(
            o.reservation.quantity for o in outcomes if o.reservation)
        assert await conn.fetchval("SELECT count(*) FROM stock_levels WHERE reserved > on_hand") == 0
    await assert_consistent(pool)
    unknown = await batcher.reserve("NO-SUCH-SKU", HoldRequest(None, 1, 60, None))
    assert unknown.error is not None and unknown.error.code == "NOT_FOUND"
