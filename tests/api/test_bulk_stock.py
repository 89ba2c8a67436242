"""bulkAdjustStock and bulkSetStock through real HTTP: per-line results, atomic all or
nothing, idempotent lines, refusals, scope and location binding, the ledger after each."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.api.test_access import as_key, tokens
from tests.api.test_mutations import ADJUST, SET, SKU, call, codes
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent

__all__ = ["as_key", "tokens"]  # fixtures

BULK_ADJUST = """mutation($i: BulkAdjustStockInput!) { bulkAdjustStock(input: $i) {
  results { level { sku onHand reserved version location { code } } userErrors { code field } }
  userErrors { code field message } } }"""
BULK_SET = """mutation($i: BulkSetStockInput!) { bulkSetStock(input: $i) {
  results { level { sku onHand safetyStock version location { code } } userErrors { code field } }
  userErrors { code field message } } }"""


def line(sku: str, location: str, delta: int, reason: str = "", **more: Any) -> dict[str, Any]:
    why = reason or ("RESTOCK" if delta > 0 else "SALE")
    return {"sku": sku, "location": location, "delta": delta, "reason": why, **more}


async def levels(client: GraphQLClient, sku: str) -> dict[str, tuple[int, int, int]]:
    found = (await client.data(SKU, {"c": sku}))["sku"]["levels"]
    return {lv["location"]["code"]: (lv["onHand"], lv["reserved"], lv["version"]) for lv in found}


async def assert_ledger_figures(pool: asyncpg.Pool) -> None:
    """Every entry's level and SKU-wide figures equal the replay of the entries before it."""
    async with pool.acquire() as conn:
        wrong = await conn.fetch("""
            SELECT sku_id, sequence FROM (
              SELECT sku_id, sequence, sku_on_hand, level_on_hand,
                     sum(on_hand_delta) OVER (PARTITION BY sku_id ORDER BY sequence) AS total,
                     sum(on_hand_delta) OVER (PARTITION BY sku_id, location_id
                                              ORDER BY sequence) AS at_level
              FROM stock_events) e
            WHERE sku_on_hand <> total OR level_on_hand <> at_level""")
    assert not wrong, f"entries whose figures are not the replay: {wrong}"
    await assert_consistent(pool)


async def test_lines_succeed_or_fail_alone_in_input_order(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    p = await call(catalogue, BULK_ADJUST, "bulkAdjustStock", {"lines": [
        line("SKU-1", "WH-A", 5),                 # 10 -> 15
        line("SKU-1", "WH-A", -14),               # 15 -> 1: only after the line before
        line("SKU-1", "ST-B", -5),                # 4 held there: refused
        line("GHOST", "WH-A", 1),
        line("SKU-1", "NOWHERE", 1),
        line("SKU-1", "WH-A", 0, "RESTOCK"),
        line("SKU-2", "WH-A", 2, reference="po-1"),  # a new level
        line("SKU-1", "WH-A", 3, "RETURN"),       # 1 -> 4
    ]})
    assert codes(p) == [
        ("INSUFFICIENT_STOCK", ["input", "lines", "2", "delta"]),
        ("NOT_FOUND", ["input", "lines", "3", "sku"]),
        ("NOT_FOUND", ["input", "lines", "4", "location"]),
        ("INVALID_QUANTITY", ["input", "lines", "5", "delta"]),
    ]
    results = p["results"]
    assert len(results) == 8
    assert [r["level"] and r["level"]["onHand"] for r in results] == [15, 1, None, None, None,
                                                                      None, 2, 4]
    assert [r["level"] and r["level"]["version"] for r in results][:2] == [2, 3]
    assert results[2]["userErrors"] == [{"code": "INSUFFICIENT_STOCK",
                                         "field": ["input", "lines", "2", "delta"]}]
    assert results[6]["level"]["location"]["code"] == "WH-A"
    assert await levels(catalogue, "SKU-1") == {"WH-A": (4, 0, 4), "ST-B": (4, 0, 1)}
    assert await levels(catalogue, "SKU-2") == {"WH-A": (2, 0, 1)}
    await assert_ledger_figures(pool)


async def test_atomic_applies_nothing_and_stores_no_key(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    before = await levels(catalogue, "SKU-1")
    lines = [line("SKU-1", "WH-A", 5, idempotencyKey="a-1"),
             line("SKU-1", "ST-B", -9, idempotencyKey="a-2"),
             line("SKU-2", "WH-A", 0, "RESTOCK")]
    p = await call(catalogue, BULK_ADJUST, "bulkAdjustStock", {"lines": lines, "atomic": True})
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "lines", "1", "delta"]),
                        ("INVALID_QUANTITY", ["input", "lines", "2", "delta"])]
    assert [r["level"] for r in p["results"]] == [None, None, None]
    assert await levels(catalogue, "SKU-1") == before
    assert await levels(catalogue, "SKU-2") == {}
    lines[1] = line("SKU-1", "ST-B", -3, idempotencyKey="a-2")  # corrected, same keys
    ok = await call(catalogue, BULK_ADJUST, "bulkAdjustStock",
                    {"lines": lines[:2], "atomic": True})
    assert ok["userErrors"] == []
    assert [r["level"]["onHand"] for r in ok["results"]] == [15, 1]
    await assert_ledger_figures(pool)


async def test_lines_keys_are_the_single_mutations_keys(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    single = {"sku": "SKU-1", "location": "WH-A", "delta": 2, "reason": "RESTOCK",
              "idempotencyKey": "k-1"}
    first = await call(catalogue, ADJUST, "adjustStock", single)
    assert first["level"]["onHand"] == 12
    p = await call(catalogue, BULK_ADJUST, "bulkAdjustStock", {"lines": [
        single,                                              # applied before: its first result
        line("SKU-1", "WH-A", 1, idempotencyKey="k-2"),
    ]})
    assert p["userErrors"] == []
    assert [r["level"]["onHand"] for r in p["results"]] == [12, 13]
    reused = await call(catalogue, BULK_ADJUST, "bulkAdjustStock", {"lines": [
        line("SKU-2", "WH-A", 1), {**single, "delta": 3}]})
    assert codes(reused) == [("IDEMPOTENCY_KEY_REUSED", ["input", "lines", "1", "idempotencyKey"])]
    assert reused["results"][0]["level"]["onHand"] == 1
    again = await call(catalogue, ADJUST, "adjustStock", line("SKU-1", "WH-A", 1,
                                                              idempotencyKey="k-2"))
    assert again["level"]["onHand"] == 13  # the bulk line's result, replayed
    repeat = await call(catalogue, BULK_ADJUST, "bulkAdjustStock", {"lines": [
        line("SKU-1", "WH-A", 1, idempotencyKey="k-3"),
        line("SKU-1", "WH-A", 1, idempotencyKey="k-3")]})
    assert codes(repeat) == [("INVALID_INPUT", ["input", "lines", "1", "idempotencyKey"])]
    assert (await levels(catalogue, "SKU-1"))["WH-A"][0] == 14
    await assert_ledger_figures(pool)


async def test_set_lines_keep_set_stocks_rules(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    hold = """mutation { reserve(input: {sku: "SKU-1", quantity: 3, location: "ST-B"}) {
      userErrors { code } } }"""
    assert (await catalogue.data(hold))["reserve"]["userErrors"] == []
    p = await call(catalogue, BULK_SET, "bulkSetStock", {"lines": [
        {"sku": "SKU-1", "location": "WH-A", "onHand": 7, "expectedVersion": 1},
        {"sku": "SKU-1", "location": "WH-A", "onHand": 8, "expectedVersion": 1},
        {"sku": "SKU-1", "location": "ST-B", "onHand": 2},
        {"sku": "SKU-2", "location": "ST-B", "onHand": 5, "safetyStock": 1, "expectedVersion": 0},
        {"sku": "SKU-2", "location": "WH-A", "onHand": 1, "expectedVersion": 4},
        {"sku": "SKU-1", "location": "WH-A", "onHand": -1},
    ]})
    assert codes(p) == [
        ("VERSION_CONFLICT", ["input", "lines", "1", "expectedVersion"]),
        ("INSUFFICIENT_STOCK", ["input", "lines", "2", "onHand"]),
        ("VERSION_CONFLICT", ["input", "lines", "4", "expectedVersion"]),
        ("INVALID_QUANTITY", ["input", "lines", "5", "onHand"]),
    ]
    assert p["results"][0]["level"]["version"] == 2
    assert p["results"][3]["level"] == {"sku": "SKU-2", "onHand": 5, "safetyStock": 1,
                                        "version": 1, "location": {"code": "ST-B"}}
    assert await levels(catalogue, "SKU-2") == {"ST-B": (5, 0, 1)}
    await assert_ledger_figures(pool)


async def test_refusals_of_the_whole_call(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Any, pool: asyncpg.Pool
) -> None:
    before = await levels(catalogue, "SKU-1")
    p = await call(catalogue, BULK_ADJUST, "bulkAdjustStock",
                   {"lines": [line("SKU-1", "WH-A", 1)] * 1001})
    assert codes(p) == [("INVALID_INPUT", ["input", "lines"])]
    assert len(p["results"]) == 1001 and all(r["level"] is None for r in p["results"])
    one = {"lines": [line("SKU-1", "WH-A", 1)]}
    for token, code in [(None, "UNAUTHENTICATED"), (tokens["read"], "FORBIDDEN"),
                        (tokens["reserve"], "FORBIDDEN")]:
        body = await as_key(token).post(BULK_ADJUST, {"i": one})
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    pos = as_key(tokens["store-b"])  # bound to ST-B: one line elsewhere refuses the call
    body = await pos.post(BULK_SET, {"i": {"lines": [
        {"sku": "SKU-1", "location": "ST-B", "onHand": 9},
        {"sku": "SKU-1", "location": "WH-A", "onHand": 9}]}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await levels(catalogue, "SKU-1") == before
    ok = await pos.data(BULK_SET, {"i": {"lines": [
        {"sku": "SKU-1", "location": "ST-B", "onHand": 9}]}})
    assert ok["bulkSetStock"]["userErrors"] == []
    assert (await as_key(tokens["write"]).data(BULK_ADJUST, {"i": one}))[
        "bulkAdjustStock"]["userErrors"] == []
    await assert_ledger_figures(pool)


async def test_a_bundle_line_is_refused_as_adjust_stock_refuses_it(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    made = await catalogue.data("""mutation { upsertBundle(input: {code: "KIT", name: "Kit",
      components: [{sku: "SKU-1", quantity: 2}]}) { userErrors { code } } }""")
    assert made["upsertBundle"]["userErrors"] == []
    single = await call(catalogue, SET, "setStock", {"sku": "KIT", "location": "WH-A", "onHand": 1})
    p = await call(catalogue, BULK_SET, "bulkSetStock", {"lines": [
        {"sku": "SKU-1", "location": "WH-A", "onHand": 1},
        {"sku": "KIT", "location": "WH-A", "onHand": 1}]})
    assert codes(single) == [("INVALID_INPUT", ["input", "sku"])]
    assert codes(p) == [("INVALID_INPUT", ["input", "lines", "1", "sku"])]
    assert p["results"][0]["level"]["onHand"] == 1
    await assert_ledger_figures(pool)
