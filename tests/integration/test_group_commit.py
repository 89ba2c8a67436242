"""Group commit of reserves, on one hot SKU and across SKUs: fewer transactions, exactly the same
answers as one reserve at a time (races with other writers: test_group_commit_races.py)."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from domain.model import LocationKind
from domain.outcome import Outcome
from service import cataloguing, stocking
from service.batching import ReserveBatcher
from service.inventory import Inventory
from service.recording import Command
from store import reservations
from store.hold_batch import HoldRequest
from tests.ledger_checks import assert_consistent


async def stocked(inventory: Inventory, **on_hand: int) -> None:
    await cataloguing.upsert_sku(inventory, code="HOT", name="hot", low_stock_threshold=3)
    for code in on_hand:
        await cataloguing.upsert_location(inventory, code=code, name=code, kind=LocationKind.WAREHOUSE)
    for code, n in on_hand.items():
        await stocking.set_stock(inventory, sku="HOT", location=code, on_hand=n, safety_stock=None,
                                 expected_version=None, reference=None)


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


async def catalogue_of(inventory: Inventory, prefix: str, stock: list[dict[str, int]]) -> None:
    for code in ("A", "B", "C"):
        await cataloguing.upsert_location(inventory, code=code, name=code, kind=LocationKind.WAREHOUSE)
    for n in range(len(stock)):
        await cataloguing.upsert_sku(inventory, code=f"{prefix}{n}", name=f"{prefix}{n}",
                                     low_stock_threshold=2)
    for n, levels_of_sku in enumerate(stock):
        for code, on_hand in levels_of_sku.items():
            await stocking.set_stock(inventory, sku=f"{prefix}{n}", location=code, on_hand=on_hand,
                                     safety_stock=None, expected_version=None, reference=None)


def answer(outcome: Outcome, prefix: str) -> tuple[object, ...]:
    """What a client sees of one reserve, with the SKU prefix taken out."""
    if outcome.error is not None:
        return ("error", outcome.error.code, outcome.error.field,
                outcome.error.message.replace(prefix, "#"))
    event = outcome.events[0]
    assert outcome.level is not None and outcome.reservation is not None
    return ("held", outcome.reservation.quantity, event.location, event.sequence,
            outcome.level.on_hand, outcome.level.reserved, outcome.level.version,
            event.sku_on_hand, event.sku_reserved, event.available, event.status)


async def test_a_batch_across_skus_answers_as_single_reserves_in_arrival_order(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    rng = random.Random(7)
    stock = [{code: rng.randint(0, 6) for code in rng.sample("ABC", rng.randint(0, 3))}
             for _ in range(30)]
    await catalogue_of(inventory, "P", stock)
    await catalogue_of(inventory, "Q", stock)
    requests = [(rng.choice([*range(30), -1]), rng.choice([None, None, "A", "B", "C", "NOWHERE"]),
                 rng.randint(1, 4)) for _ in range(200)]

    def sku(prefix: str, n: int) -> str:
        return f"{prefix}{n}" if n >= 0 else f"{prefix}-UNKNOWN"

    # the reference: one reserve at a time, in this order, through the single-request path
    single = [await inventory.mutate(
        lambda c, n=n, loc=loc, q=q: reservations.reserve(c, sku("P", n), loc, q, 60, None),
        command=Command.RESERVE, arguments={}) for n, loc, q in requests]
    # the same requests all at once: one drain takes them as one batch, in arrival order
    batcher = ReserveBatcher(inventory, max_drains=1)
    async with asyncio.timeout(60):
        batched = await asyncio.gather(*(
            batcher.reserve(sku("Q", n), HoldRequest(loc, q, 60, None)) for n, loc, q in requests))
    assert [answer(o, "Q") for o in batched] == [answer(o, "P") for o in single]
    assert {answer(o, "Q")[0] for o in batched} == {"held", "error"}
    async with pool.acquire() as conn:
        transactions = await conn.fetchval(
            """SELECT count(DISTINCT e.occurred_at) FROM stock_events e JOIN skus s ON s.id = e.sku_id
               WHERE e.kind = 'RESERVED' AND s.code LIKE 'Q%'""")
    assert transactions == 1
    await assert_consistent(pool)
