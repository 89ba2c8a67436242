"""Concurrent clients over real HTTP: never oversell, never deadlock, never leave a gap."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from tests.api.conftest import set_stock
from tests.api.test_mutations import RESERVE, RESERVE_LINES, call
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent


async def test_400_reserves_against_50_units_sell_exactly_50(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    await set_stock(catalogue, "SKU-2", "WH-A", 50)
    gate = asyncio.Semaphore(100)

    async def one() -> bool:
        async with gate:
            p = await call(catalogue, RESERVE, "reserve", {"sku": "SKU-2", "quantity": 1})
        assert p["userErrors"] in ([], [{"code": "INSUFFICIENT_STOCK", "field": ["input", "quantity"],
                                         "message": p["userErrors"][0]["message"] if p["userErrors"] else ""}])
        return p["reservation"] is not None

    async with asyncio.timeout(120):
        results = await asyncio.gather(*(one() for _ in range(400)))
    assert sum(results) == 50
    sku = (await catalogue.data('{ sku(code: "SKU-2") { reserved available sequence } }'))["sku"]
    assert sku == {"reserved": 50, "available": 0, "sequence": 51}
    events = (await catalogue.data('{ stockEvents(sku: "SKU-2", first: 1000) { sequence reservedDelta } }'))["stockEvents"]
    assert [e["sequence"] for e in events] == list(range(1, 52))
    assert sum(e["reservedDelta"] for e in events) == 50
    await assert_consistent(pool)


async def test_concurrent_carts_over_shared_skus_never_deadlock(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    skus = [f"C-{n}" for n in range(4)]
    for code in skus:
        await catalogue.data('mutation($c: String!) { upsertSku(input: {code: $c, name: "c"}) { userErrors { code } } }', {"c": code})
        await set_stock(catalogue, code, "WH-A", 30)
        await set_stock(catalogue, code, "ST-B", 30)
    rng = random.Random(7)

    async def cart() -> int:
        lines = [{"sku": rng.choice(skus), "quantity": rng.randint(1, 3),
                  **({"location": rng.choice(["WH-A", "ST-B"])} if rng.random() < 0.5 else {})}
                 for _ in range(rng.randint(2, 5))]
        p = await call(catalogue, RESERVE_LINES, "reserveLines", {"lines": lines})
        assert all(e["code"] == "INSUFFICIENT_STOCK" for e in p["userErrors"]), p
        return sum(r["quantity"] for r in p["reservations"])

    async with asyncio.timeout(120):
        held = await asyncio.gather(*(cart() for _ in range(150)))
    async with pool.acquire() as conn:
        reserved = await conn.fetchval("SELECT sum(reserved) FROM stock_levels")
    assert reserved == sum(held) and 0 < reserved <= 240
    await assert_consistent(pool)
