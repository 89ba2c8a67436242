"""Bundles and their components racing for scarce stock through real HTTP: reserves of the
bundle and of its components, through two channels sharing a location, with and without
idempotency keys (the single path and group commit), carts, restocks, and closes of what was
held."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import asyncpg

from tests.api.conftest import set_stock
from tests.api.test_bundle_holds import LINES, RESERVE, UPSERT
from tests.api.test_mutations import call
from tests.client import GraphQLClient
from tests.ledger_checks import assert_channel_holds, assert_consistent

CLOSE = """mutation($id: ID!) { commitReservation(input: {reservationId: $id}) {
  userErrors { code } } }"""
RELEASE = """mutation($id: ID!) { releaseReservation(input: {reservationId: $id}) {
  userErrors { code } } }"""
STOCK = {  # (SKU, location): (onHand, safetyStock); 16 kits at most if nothing else is held
    ("SKU-1", "WH-A"): (6, 0), ("SKU-1", "ST-B"): (4, 0), ("SKU-1", "WH-C"): (3, 1),
    ("SKU-2", "WH-A"): (12, 2), ("SKU-2", "ST-B"): (7, 0), ("SKU-2", "WH-C"): (5, 0),
}


async def _setup(client: GraphQLClient) -> None:
    """KIT = 1 x SKU-1 + 2 x SKU-2; web sells from ST-B then WH-A, market from WH-A then
    WH-C."""
    data = await client.data("""mutation { upsertLocation(input: {code: "WH-C", name: "East",
      kind: WAREHOUSE}) { userErrors { code } } }""")
    assert data["upsertLocation"]["userErrors"] == []
    for (sku, location), (on_hand, safety) in STOCK.items():
        await set_stock(client, sku, location, on_hand)
        if safety:
            p = await client.data("""mutation($i: SetStockInput!) { setStock(input: $i) {
              userErrors { code } } }""", {"i": {"sku": sku, "location": location,
                                                  "onHand": on_hand, "safetyStock": safety}})
            assert p["setStock"]["userErrors"] == []
    p = await call(client, UPSERT, "upsertBundle", {"code": "KIT", "name": "Kit", "components": [
        {"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 2}]})
    assert p["userErrors"] == []
    for code, places in (("web", ["ST-B", "WH-A"]), ("market", ["WH-A", "WH-C"])):
        data = await client.data("""mutation($i: UpsertChannelInput!) { upsertChannel(input: $i) {
          userErrors { code } } }""", {"i": {"code": code, "name": code, "locations": places}})
        assert data["upsertChannel"]["userErrors"] == []


def _held(reservation: dict[str, Any]) -> Counter[tuple[str, str]]:
    """Units a reservation holds, by (component SKU, location)."""
    where = reservation["location"]["code"]
    parts = reservation["components"] or [reservation]
    return Counter({(part["sku"], where): part["quantity"] for part in parts})


async def _levels(pool: asyncpg.Pool) -> dict[tuple[str, str], tuple[int, int, int]]:
    async with pool.acquire() as conn:
        return {(r["sku"], r["location"]): (r["on_hand"], r["reserved"], r["safety_stock"])
                for r in await conn.fetch(
                    """SELECT s.code AS sku, l.code AS location, on_hand, reserved, safety_stock
                       FROM stock_levels JOIN skus s ON s.id = sku_id
                       JOIN locations l ON l.id = location_id""")}


async def test_bundles_and_components_race_through_two_channels_without_oversell(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    await _setup(catalogue)
    rng = random.Random(13)
    requests: list[dict[str, Any]] = []
    for n in range(100):
        i: dict[str, Any] = {"sku": rng.choice(["KIT", "KIT", "SKU-1", "SKU-2"]),
                             "quantity": rng.randint(1, 2)}
        if (channel := rng.choice([None, None, "web", "market"])) is not None:
            i["channel"] = channel
        if rng.random() < 0.4:  # the single path; without a key, plain SKUs group-commit
            i["idempotencyKey"] = f"k-{n}"
        if rng.random() < 0.2:
            i["location"] = rng.choice(["WH-A", "ST-B", "WH-C"] if channel is None
                                       else {"web": ["ST-B"], "market": ["WH-A"]}[channel])
        requests.append(i)
    carts = [[{"sku": "KIT", "quantity": 1}, {"sku": rng.choice(["SKU-1", "SKU-2"]),
                                              "quantity": 1, "location": "WH-A"}]
             for _ in range(10)]

    async def reserve(i: dict[str, Any]) -> list[dict[str, Any]]:
        p = await call(catalogue, RESERVE, "reserve", i)
        assert [e["code"] for e in p["userErrors"]] in ([], ["INSUFFICIENT_STOCK"]), (i, p)
        return [p["reservation"]] if p["reservation"] else []

    async def cart(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        p = await call(catalogue, LINES, "reserveLines", {"lines": lines})
        assert {e["code"] for e in p["userErrors"]} <= {"INSUFFICIENT_STOCK"}, p
        return list(p["reservations"])

    async def restock(n: int) -> list[dict[str, Any]]:
        data = await catalogue.data("""mutation($i: AdjustStockInput!) { adjustStock(input: $i) {
          userErrors { code } } }""", {"i": {"sku": f"SKU-{n % 2 + 1}", "location": "WH-A",
                                             "delta": 1, "reason": "RESTOCK"}})
        assert data["adjustStock"]["userErrors"] == []
        return []

    async with asyncio.timeout(120):  # a deadlock ends a transaction with an error instead
        results = await asyncio.gather(*map(reserve, requests), *map(cart, carts),
                                       *map(restock, range(10)))
    held = [r for result in results for r in result]
    kits = [r for r in held if r["sku"] == "KIT"]
    assert 0 < len(held) < len(requests) + 2 * len(carts), "stock should run out midway"
    assert kits and all(len(r["components"]) == 2 for r in kits)
    assert all(r["components"] == [{"sku": "SKU-1", "quantity": r["quantity"]},
                                   {"sku": "SKU-2", "quantity": 2 * r["quantity"]}]
               for r in kits)
    levels = await _levels(pool)
    expected = sum((_held(r) for r in held), Counter())
    assert {key: reserved for key, (_, reserved, _) in levels.items() if reserved} == expected
    assert all(reserved <= on_hand - safety for on_hand, reserved, safety in levels.values())

    # then the holds close (half committed) while as many new ones race them
    async def close(n: int, reservation_id: str) -> None:
        data = await catalogue.data(CLOSE if n % 2 else RELEASE, {"id": reservation_id})
        assert next(iter(data.values()))["userErrors"] == []

    fresh = [{**i, "idempotencyKey": f"{i['idempotencyKey']}-again"} if "idempotencyKey" in i
             else i for i in requests[:50]]  # not replays of the first round's holds
    async with asyncio.timeout(120):
        again = await asyncio.gather(*(close(n, r["id"]) for n, r in enumerate(held)),
                                     *map(reserve, fresh))
    still = [r for result in again if result for r in result]
    levels = await _levels(pool)
    assert {key: reserved for key, (_, reserved, _) in levels.items() if reserved} == sum(
        (_held(r) for r in still), Counter())
    assert all(reserved <= on_hand - safety for on_hand, reserved, safety in levels.values())
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()") == 0
    await assert_consistent(pool)
    await assert_channel_holds(pool)
