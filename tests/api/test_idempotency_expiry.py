from __future__ import annotations

import asyncio

import asyncpg

from tests.api.test_mutations import ADJUST, COMMIT, RESERVE, SKU, call, codes
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent


async def test_sequential_retry_returns_first_result(catalogue: GraphQLClient) -> None:
    i = {"sku": "SKU-1", "quantity": 2, "idempotencyKey": "order-17"}
    first = await call(catalogue, RESERVE, "reserve", i)
    again = await call(catalogue, RESERVE, "reserve", i)
    assert first == again and first["reservation"] is not None
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["reserved"] == 2
    reused = await call(catalogue, RESERVE, "reserve", {**i, "quantity": 3})
    assert codes(reused) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    # keys are scoped per mutation field: the same key on another mutation is a new request
    adjusted = await call(catalogue, ADJUST, "adjustStock", {
        "sku": "SKU-1", "location": "WH-A", "delta": 1, "reason": "RESTOCK", "idempotencyKey": "order-17"})
    assert adjusted["userErrors"] == []
    rid = first["reservation"]["id"]
    c1 = await call(catalogue, COMMIT, "commitReservation", {"reservationId": rid, "idempotencyKey": "c"})
    c2 = await call(catalogue, COMMIT, "commitReservation", {"reservationId": rid, "idempotencyKey": "c"})
    assert c1 == c2 and c1["userErrors"] == []
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["onHand"] == 13


async def test_failed_first_attempt_is_what_retries_get(catalogue: GraphQLClient) -> None:
    i = {"sku": "SKU-1", "quantity": 50, "idempotencyKey": "too-big"}
    first = await call(catalogue, RESERVE, "reserve", i)
    assert codes(first) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    assert await call(catalogue, RESERVE, "reserve", i) == first


async def test_concurrent_retries_apply_once(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    i = {"sku": "SKU-1", "quantity": 1, "idempotencyKey": "burst"}
    async with asyncio.timeout(60):
        results = await asyncio.gather(*(call(catalogue, RESERVE, "reserve", i) for _ in range(40)))
    assert len({r["reservation"]["id"] for r in results}) == 1
    assert all(r == results[0] for r in results)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 1
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["reserved"] == 1
    await assert_consistent(pool)


async def test_short_ttl_expires_and_frees_stock(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    p = await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 4, "ttlSeconds": 1})
    rid = p["reservation"]["id"]
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["available"] == 10
    async with asyncio.timeout(5):
        while True:
            r = (await catalogue.data('query($id: ID!) { reservation(id: $id) { status } }', {"id": rid}))["reservation"]
            if r["status"] == "EXPIRED":
                break
            await asyncio.sleep(0.05)
    assert (await catalogue.data(SKU, {"c": "SKU-1"}))["sku"]["available"] == 14
    events = (await catalogue.data('{ stockEvents(sku: "SKU-1") { kind reservedDelta reservationId } }'))["stockEvents"]
    assert events[-1] == {"kind": "EXPIRED", "reservedDelta": -4, "reservationId": rid}
    late = await call(catalogue, COMMIT, "commitReservation", {"reservationId": rid})
    assert codes(late) == [("RESERVATION_NOT_ACTIVE", ["input", "reservationId"])]
    await assert_consistent(pool)
