"""Figures that cannot overflow: a level never ends above MAX_QUANTITY, a SKU's totals never
above GraphQL's Int, and a refused change leaves nothing behind (store/levels.py, ledger.py)."""

from __future__ import annotations

import asyncio

import asyncpg

from domain.model import AdjustmentReason, LocationKind
from domain.outcome import Outcome
from domain.rules import MAX_FIGURE, Limits
from service import cataloguing, reserving, stocking
from service.inventory import Inventory
from tests.ledger_checks import assert_consistent


async def stocked(inventory: Inventory, sku: str, **on_hand: int) -> None:
    await cataloguing.upsert_sku(inventory, code=sku, name=sku, low_stock_threshold=3)
    for code, n in on_hand.items():
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.WAREHOUSE)
        outcome = await stocking.set_stock(inventory, sku=sku, location=code, on_hand=n,
                                           safety_stock=None, expected_version=None,
                                           reference=None)
        assert outcome.error is None, outcome.error


async def adjust(inventory: Inventory, sku: str, location: str, delta: int) -> Outcome:
    return await stocking.adjust(
        inventory, sku=sku, location=location, delta=delta,
        reason=AdjustmentReason.RESTOCK if delta > 0 else AdjustmentReason.CORRECTION,
        reference=None)


async def figures(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    async with pool.acquire() as conn:
        return [tuple(r) for r in await conn.fetch(
            """SELECT sku_id, location_id, on_hand, reserved, version FROM stock_levels
               UNION ALL SELECT sku_id, sequence, 0, 0, 0 FROM stock_events ORDER BY 1, 2""")]


async def test_a_restock_past_max_quantity_is_refused_and_changes_nothing(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await stocked(inventory, "S", A=999_999)
    before = await figures(pool)
    refused = await adjust(inventory, "S", "A", 2)
    assert refused.error is not None and refused.error.code == "INVALID_QUANTITY"
    assert refused.error.field == ["delta"]
    assert await figures(pool) == before
    exact = await adjust(inventory, "S", "A", 1)  # up to the bound is fine
    assert exact.error is None and exact.level is not None and exact.level.on_hand == 1_000_000
    await assert_consistent(pool)


async def test_concurrent_restocks_never_pass_max_quantity(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await stocked(inventory, "S", A=999_900)
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(adjust(inventory, "S", "A", 7) for _ in range(30))), 60)
    accepted = [o for o in outcomes if o.error is None]
    assert len(accepted) == 100 // 7
    assert {o.error.code for o in outcomes if o.error} == {"INVALID_QUANTITY"}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT on_hand FROM stock_levels") == 999_900 + 7 * 14
    await assert_consistent(pool)


async def test_a_sku_total_past_int_is_refused_so_releasing_a_hold_still_works(
    pool: asyncpg.Pool,
) -> None:
    """The issue's attack: with a level near 2^31 and another level's stock all held, a
    restock left the SKU's on-hand total past 2^31; releasing the hold then overflowed the
    ledger's `available` and failed (and with it, expiry for every SKU)."""
    inventory = Inventory(pool=pool, limits=Limits(max_quantity=MAX_FIGURE))
    await stocked(inventory, "S", A=MAX_FIGURE - 10, B=5)
    held = await reserving.reserve(inventory, sku="S", location="B", quantity=5, ttl=60,
                                   reference=None)
    assert held.error is None and held.reservation is not None
    before = await figures(pool)
    refused = await adjust(inventory, "S", "A", 6)  # the level fits, the SKU total would not
    assert refused.error is not None and refused.error.code == "INVALID_QUANTITY"
    assert refused.error.field == ["delta"]
    reset = await stocking.set_stock(inventory, sku="S", location="A", on_hand=MAX_FIGURE,
                                     safety_stock=None, expected_version=None, reference=None)
    assert reset.error is not None and reset.error.code == "INVALID_QUANTITY"
    assert reset.error.field == ["on_hand"]
    assert await figures(pool) == before
    released = await reserving.release(inventory, reservation_id=held.reservation.id)
    assert released.error is None and released.events[0].available == MAX_FIGURE - 5
    await assert_consistent(pool)


async def test_the_ledger_refuses_a_sku_total_past_int_by_constraint(
    inventory: Inventory, pool: asyncpg.Pool
) -> None:
    await stocked(inventory, "S", A=1)
    async with pool.acquire() as conn:
        try:
            await conn.execute(
                """INSERT INTO stock_events (sku_id, sequence, kind, location_id, on_hand_delta,
                       reserved_delta, level_on_hand, level_reserved, level_safety,
                       level_version, sku_on_hand, sku_reserved, available, status)
                   SELECT sku_id, 99, 'ADJUSTED', location_id, 0, 0, 1, 0, 0, 1, $1, 0, 0,
                          'IN_STOCK' FROM stock_levels""", MAX_FIGURE + 1)
        except asyncpg.CheckViolationError as error:
            assert error.constraint_name == "sku_on_hand_fits_int"
        else:
            raise AssertionError("the ledger took a SKU total past 2^31-1")
