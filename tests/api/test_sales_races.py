"""recordSales racing reserves (single path and group commit), commits and releases at the same
store through real HTTP: no deadlock, no error beyond the expected refusals, and the levels,
holds and ledger agree afterwards."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg

from tests.api.conftest import set_stock
from tests.api.test_mutations import call
from tests.api.test_record_sales import COMMIT, RECORD, RESERVE, sale
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent

RELEASE = """mutation($i: ReleaseReservationInput!) { releaseReservation(input: $i) {
  reservation { status } userErrors { code } } }"""


async def test_sales_race_holds_and_closes_at_the_same_store(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    await set_stock(catalogue, "SKU-1", "ST-B", 20)
    rng = random.Random(14)
    held: list[str] = []

    async def reserving(n: int) -> None:
        i: dict[str, Any] = {"sku": "SKU-1", "quantity": rng.randint(1, 3)}
        if n % 2:
            i |= {"location": "ST-B", "idempotencyKey": f"r{n}"}  # the single path
        p = await call(catalogue, RESERVE, "reserve", i)
        assert [e["code"] for e in p["userErrors"]] in ([], ["INSUFFICIENT_STOCK"]), p
        if p["reservation"]:
            held.append(p["reservation"]["id"])

    async def closing() -> None:
        for _ in range(10):
            await asyncio.sleep(0.01)
            if held:
                query, field = rng.choice([(COMMIT, "commitReservation"),
                                           (RELEASE, "releaseReservation")])
                p = await call(catalogue, query, field, {"reservationId": rng.choice(held)})
                assert [e["code"] for e in p["userErrors"]] in (
                    [], ["RESERVATION_NOT_ACTIVE"]), p

    async def selling(n: int) -> None:
        p = await call(catalogue, RECORD, "recordSales", {"location": "ST-B", "sales": [
            sale(f"s{n}-{k}", rng.randint(1, 4)) for k in range(3)]})
        assert p["userErrors"] == [] and all(r["userErrors"] == [] for r in p["results"]), p

    for round_ in range(3):
        await asyncio.wait_for(asyncio.gather(
            *(reserving(n + 100 * round_) for n in range(24)), closing(), closing(),
            *(selling(n + 100 * round_) for n in range(8))), timeout=60)
        await assert_consistent(pool)
    async with pool.acquire() as conn:
        statuses = {r["status"] for r in await conn.fetch("SELECT status FROM reservations")}
        sold = await conn.fetchval(
            "SELECT count(*) FROM stock_events WHERE kind = 'ADJUSTED' AND reason = 'SALE'")
        displaced = await conn.fetchval(
            "SELECT count(*) FROM stock_events WHERE kind IN ('MOVED', 'SHORTED')")
    assert statuses <= {"ACTIVE", "COMMITTED", "RELEASED", "SHORTED"}
    assert displaced > 0  # the sales did uncover holds while they raced
    assert sold == 3 * 8 * 3
