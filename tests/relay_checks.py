"""What the relay's tests share (tests/integration/test_relay_*.py): concurrent changes over
several SKUs through the service layer, and what the ledger says each broker should hold."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg

from domain.model import AdjustmentReason, LocationKind
from service import cataloguing, reserving, stocking
from service.inventory import Inventory

SKUS = ("R-1", "R-2", "R-3", "R/4 ü", "R-5")


async def catalogue(inventory: Inventory, skus: tuple[str, ...] = SKUS) -> None:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in skus:
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=2)


async def churn(inventory: Inventory, code: str, rounds: int, pause: float = 0.0,
                sales: bool = False) -> None:
    """Stock, then holds taken and some released: availability moves up and down. With
    `sales`, some holds are committed, some stock is written off, and the last entry is a
    commit: onHand and reserved move while available and status stay."""
    await stocking.set_stock(inventory, sku=code, location="W", on_hand=4, safety_stock=None,
                             expected_version=None, reference=None)
    for n in range(rounds):
        outcome = await reserving.reserve(inventory, sku=code, location="W", quantity=1,
                                          ttl=600, reference=f"r{n}")
        if outcome.error is None and sales and n % 3 == 0:
            await reserving.commit(inventory, reservation_id=outcome.reservations[0].id,
                                   reference=f"c{n}")
        elif outcome.error is None and n % 2:
            await reserving.release(inventory, reservation_id=outcome.reservations[0].id)
        if outcome.error is not None:
            await stocking.adjust(inventory, sku=code, location="W", delta=3,
                                  reason=AdjustmentReason.RESTOCK, reference=None)
        elif sales and n % 5 == 4:
            await stocking.adjust(inventory, sku=code, location="W", delta=-1,
                                  reason=AdjustmentReason.DAMAGE, reference=None)
        if pause:
            await asyncio.sleep(pause)
    if sales:
        await stocking.adjust(inventory, sku=code, location="W", delta=2,
                              reason=AdjustmentReason.RESTOCK, reference=None)
        outcome = await reserving.reserve(inventory, sku=code, location="W", quantity=1,
                                          ttl=600, reference="last")
        assert outcome.error is None, outcome.error
        await reserving.commit(inventory, reservation_id=outcome.reservations[0].id,
                               reference="last")


async def burst(inventory: Inventory, rounds: int, pause: float = 0.0,
                skus: tuple[str, ...] = SKUS, sales: bool = False) -> None:
    await asyncio.gather(*(churn(inventory, code, rounds, pause, sales) for code in skus))


async def entries(pool: asyncpg.Pool) -> dict[str, list[tuple[int, int, str]]]:
    """Per SKU code, its ledger entries (sequence, available, status) in order."""
    async with pool.acquire() as conn:
        found = await conn.fetch("""SELECT s.code, e.sequence, e.available, e.status
                                    FROM stock_events e JOIN skus s ON s.id = e.sku_id
                                    ORDER BY s.code, e.sequence""")
    out: dict[str, list[tuple[int, int, str]]] = {}
    for r in found:
        out.setdefault(r["code"], []).append((r["sequence"], r["available"], r["status"]))
    return out


def availability_causes(rows: list[tuple[int, int, str]]) -> list[int]:
    """The sequences of the entries that moved the SKU's available or status."""
    before = (0, "OUT_OF_STOCK")
    moved = []
    for sequence, available, status in rows:
        if (available, status) != before:
            moved.append(sequence)
        before = (available, status)
    return moved


async def until(check: Callable[[], Any], timeout: float = 30, every: float = 0.05) -> Any:
    """Awaits `check()` (a coroutine function) until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(every)
