"""Transfers racing holds and each other over real HTTP: never ship held or missing stock,
never deadlock (every wait bounded), settle a transfer once, and the ledger still adds up."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg

from tests.api.conftest import set_stock
from tests.api.test_mutations import RESERVE, RESERVE_LINES, call
from tests.api.test_transfers import CANCEL, RECEIVE, SHIP, levels, ship
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent


async def test_ships_racing_holds_on_scarce_stock(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    """40 shipments and 60 holds of one unit each want 100 of the 30 units at WH-A: exactly
    30 succeed between them, and none takes what another took."""
    await set_stock(catalogue, "SKU-1", "WH-A", 30)
    ship_input = {"from": "WH-A", "to": "ST-B", "lines": [{"sku": "SKU-1", "quantity": 1}]}
    calls = [call(catalogue, SHIP, "shipTransfer", ship_input) for _ in range(40)]
    calls += [call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 1, "location": "WH-A"})
              for _ in range(60)]
    random.Random(13).shuffle(calls)
    async with asyncio.timeout(90):  # a deadlock would hang or fail a call with an error
        results = await asyncio.gather(*calls)
    refused = {e["code"] for p in results for e in p["userErrors"]}
    assert refused <= {"INSUFFICIENT_STOCK"}, refused
    shipped = sum(1 for p in results if "transfer" in p and p["userErrors"] == [])
    held = sum(1 for p in results if "reservation" in p and p["userErrors"] == [])
    assert shipped + held == 30, (shipped, held)
    assert await levels(catalogue, "SKU-1") == {
        "WH-A": (30 - shipped, held, 0, 0), "ST-B": (4, 0, 4, shipped)}
    await assert_consistent(pool)


async def test_crossing_transfers_and_carts_never_deadlock(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    """Shipments both ways with their lines in either SKU order, carts over the same levels,
    then receipts and cancels of every shipment beside more carts: all within the bound."""
    for sku in ("SKU-1", "SKU-2"):
        await set_stock(catalogue, sku, "WH-A", 60)
        await set_stock(catalogue, sku, "ST-B", 60)
    rng = random.Random(5)

    def lines(first: str, second: str) -> list[dict[str, Any]]:
        return [{"sku": first, "quantity": rng.randint(1, 2)},
                {"sku": second, "quantity": rng.randint(1, 2)}]

    ships = [call(catalogue, SHIP, "shipTransfer", {"from": "WH-A", "to": "ST-B", "lines": lines("SKU-1", "SKU-2")})
             for _ in range(15)]
    ships += [call(catalogue, SHIP, "shipTransfer", {"from": "ST-B", "to": "WH-A", "lines": lines("SKU-2", "SKU-1")})
              for _ in range(15)]

    def carts(n: int) -> list[Any]:
        return [call(catalogue, RESERVE_LINES, "reserveLines", {"lines": [
            {"sku": "SKU-2", "quantity": 1, "location": "ST-B"},
            {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}]}) for _ in range(n)]

    async with asyncio.timeout(90):
        results = await asyncio.gather(*ships, *carts(15))
    assert all(p["userErrors"] == [] for p in results), results
    transfers = [p["transfer"]["id"] for p in results[:30]]
    settles = [call(catalogue, *((CANCEL, "cancelTransfer") if n % 3 == 0 else (RECEIVE, "receiveTransfer")),
                    {"transferId": t}) for n, t in enumerate(transfers)]
    async with asyncio.timeout(90):
        results = await asyncio.gather(*settles, *carts(15))
    assert all(p["userErrors"] == [] for p in results), results
    for sku in ("SKU-1", "SKU-2"):
        found = (await catalogue.data('query($c: String!) { sku(code: $c) { onHand reserved incoming } }',
                                      {"c": sku}))["sku"]
        assert found == {"onHand": 120, "reserved": 30, "incoming": 0}  # received in full or back
    await assert_consistent(pool)


async def test_a_transfer_settles_once(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    transfer = (await ship(catalogue, [("SKU-1", 4)]))["id"]
    calls = [call(catalogue, query, field, {"transferId": transfer})
             for _ in range(8) for query, field in ((RECEIVE, "receiveTransfer"), (CANCEL, "cancelTransfer"))]
    async with asyncio.timeout(60):
        results = await asyncio.gather(*calls)
    done = [p for p in results if p["userErrors"] == []]
    assert len(done) == 1
    assert all(p["userErrors"][0]["code"] == "INVALID_STATE" for p in results if p not in done)
    on_hand = {"RECEIVED": (6, 8), "CANCELLED": (10, 4)}[done[0]["transfer"]["status"]]
    found = await levels(catalogue, "SKU-1")
    assert (found["WH-A"][0], found["ST-B"][0], found["ST-B"][3]) == (*on_hand, 0)
    await assert_consistent(pool)
