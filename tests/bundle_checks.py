"""What the bundle partner-feed tests share (tests/integration/test_bundle_*.py, tests/api): a kit
of two components, its figures as `bundle_levels` sums them, and the checks of an event chain."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from domain.model import AdjustmentReason, LocationKind
from service import cataloguing, reserving, stocking
from service.inventory import Inventory

KIT, PART_1, PART_2 = "KIT", "K-1", "K-2"  # a KIT is 2 x K-1 + 1 x K-2
NOTHING = {"available": 0, "status": "OUT_OF_STOCK"}  # before a sink sent anything

# The bundle's SKU-wide figures from the view: what its events end with. status: the SQL
# formula's, with the bundle's threshold.
VIEW = """
SELECT s.code AS sku, coalesce(sum(b.available), 0)::int AS available,
       stock_status(coalesce(sum(b.available), 0), s.low_stock_threshold) AS status,
       coalesce(sum(b.on_hand), 0)::int AS "onHand", coalesce(sum(b.reserved), 0)::int AS reserved,
       s.last_sequence AS sequence
FROM skus s LEFT JOIN bundle_levels b ON b.sku_id = s.id
WHERE s.code = $1 GROUP BY s.id
"""


async def kit_catalogue(inventory: Inventory, locations: Sequence[str] = ("W",)) -> None:
    for code in locations:
        await cataloguing.upsert_location(inventory, code=code, name=code,
                                          kind=LocationKind.WAREHOUSE)
    for code in (PART_1, PART_2, "OTHER"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=2)
    made = await cataloguing.upsert_bundle(inventory, code=KIT, name="Kit", low_stock_threshold=1,
                                           components=[(PART_1, 2), (PART_2, 1)])
    assert made.error is None, made.error


async def view_figures(pool: asyncpg.Pool, code: str = KIT) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return dict(await conn.fetchrow(VIEW, code))


def data_figures(data: dict[str, Any]) -> dict[str, Any]:
    """An availability event's figures, as VIEW names them."""
    return {k: data[k] for k in ("sku", "available", "status", "onHand", "reserved", "sequence")}


def assert_chain(documents: Sequence[dict[str, Any]], first: dict[str, Any] = NOTHING) -> None:
    """Each event's previous figures are the ones the event before it sent (the first's:
    `first`): none lost, none repeated, none out of order; each one moved something."""
    before = first
    for document in documents:
        data = document["data"]
        assert (data["previousAvailable"], data["previousStatus"]) == (
            before["available"], before["status"]), (document["id"], before)
        assert (data["available"], data["status"]) != (
            data["previousAvailable"], data["previousStatus"]), document["id"]
        before = data


async def churn(inventory: Inventory, sku: str, rounds: int, location: str = "W") -> None:
    """Holds taken and released, stock written off and restocked: the component's available
    moves up and down, and with it (sometimes) the kit's."""
    for n in range(rounds):
        hold = await reserving.reserve(inventory, sku=sku, location=location, quantity=1 + n % 2,
                                       ttl=600, reference=f"{sku}-{n}")
        if hold.error is not None or n % 3 == 2:
            await stocking.adjust(inventory, sku=sku, location=location, delta=2,
                                  reason=AdjustmentReason.RESTOCK, reference=None)
        elif n % 2:
            await reserving.release(inventory, reservation_id=hold.reservations[0].id)
        await asyncio.sleep(0)


async def caught_up(pool: asyncpg.Pool, sink: str) -> bool:
    """The sink's cursors are at every SKU's head."""
    async with pool.acquire() as conn:
        return not await conn.fetchval(
            """SELECT count(*) FROM skus s LEFT JOIN sink_cursors c
                   ON c.sink = $1 AND c.sku_id = s.id
               WHERE s.last_sequence > coalesce(c.sequence, 0)""", sink)
