"""Group commit and bundles: a batch hands a bundle's request back untouched and the batcher
remembers the code, so bundle reserves take the single path and plain ones stay batched."""

from __future__ import annotations

import asyncio

import asyncpg

from domain.model import LocationKind
from service import cataloguing, reserving, stocking
from service.inventory import Inventory
from store.hold_batch import HoldRequest
from tests.ledger_checks import assert_consistent


async def _catalogue(inventory: Inventory) -> None:
    """KIT = 1 x P + 2 x Q; 50 P and 40 Q at W: 20 kits at most."""
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in ("P", "Q"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=None)
        await stocking.set_stock(inventory, sku=code, location="W", on_hand=50 if code == "P" else 40,
                                 safety_stock=None, expected_version=None, reference=None)
    outcome = await cataloguing.upsert_bundle(inventory, code="KIT", name="kit", low_stock_threshold=None,
                                              components=[("P", 1), ("Q", 2)])
    assert outcome.error is None


async def test_bundles_leave_the_batch_and_plain_reserves_stay_in_it(
    pool: asyncpg.Pool, inventory: Inventory
) -> None:
    await _catalogue(inventory)
    batched = Inventory(pool=pool, limits=inventory.limits, group_commit=True)
    batcher = batched.batcher
    assert batcher is not None and batcher.holds("KIT")
    # the batch hands a bundle back, held nothing for it, and held the plain request beside it
    kit, plain = await asyncio.gather(batcher.reserve("KIT", HoldRequest(None, 1, 60, "k")),
                                      batcher.reserve("P", HoldRequest(None, 1, 60, "p")))
    assert kit is None and not batcher.holds("KIT") and batcher.holds("P")
    assert plain is not None and plain.error is None and plain.reservations[0].sku == "P"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 1
        assert await conn.fetchval("SELECT count(*) FROM reservation_components") == 0
    # through the use case: 30 kits and 30 P race for 49 P; each kit holds 1 P and 2 Q
    outcomes = await asyncio.gather(
        *(reserving.reserve(batched, sku="KIT", location=None, quantity=1, ttl=60, reference=None)
          for _ in range(30)),
        *(reserving.reserve(batched, sku="P", location=None, quantity=1, ttl=60, reference=None)
          for _ in range(30)))
    held = [o for o in outcomes if o.error is None]
    assert {o.error.code for o in outcomes if o.error is not None} <= {"INSUFFICIENT_STOCK"}
    kits = [o for o in held if o.reservations[0].sku == "KIT"]
    assert kits and all(len(o.reservations[0].components) == 2 for o in kits)
    async with pool.acquire() as conn:
        reserved = dict(await conn.fetch(
            """SELECT s.code, l.reserved FROM stock_levels l JOIN skus s ON s.id = l.sku_id"""))
        # the plain reserves went through batches: fewer transactions than holds of P
        plain_events, transactions = await conn.fetchrow(
            """SELECT count(*), count(DISTINCT occurred_at) FROM stock_events
               WHERE kind = 'RESERVED' AND reservation_id IN (
                   SELECT id FROM reservations WHERE sku_id = (SELECT id FROM skus WHERE code = 'P'))""")
    assert reserved == {"P": 1 + len(held), "Q": 2 * len(kits)}
    assert reserved["P"] <= 50 and reserved["Q"] <= 40 and len(held) < 60
    assert plain_events == len(held) - len(kits) + 1 and transactions < plain_events
    await assert_consistent(pool)
