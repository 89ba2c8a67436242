"""Bundles in the catalogue through real HTTP: upsertBundle creates and replaces a bundle,
isBundle and components read back, and every refusal changes nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.api.test_mutations import call, codes
from tests.client import GraphQLClient

UPSERT = """mutation($i: UpsertBundleInput!) { upsertBundle(input: $i) {
  sku { code name lowStockThreshold isBundle components { sku { code isBundle } quantity } }
  userErrors { code field message } } }"""
UPSERT_SKU = """mutation($i: UpsertSkuInput!) { upsertSku(input: $i) {
  sku { code } userErrors { code field message } } }"""
READ = """query($c: String!) { sku(code: $c) { code isBundle
  components { sku { code name } quantity } } }"""
KIT = {"code": "KIT-1", "name": "Starter kit", "lowStockThreshold": 2,
       "components": [{"sku": "SKU-2", "quantity": 2}, {"sku": "SKU-1", "quantity": 1}]}


async def _bundle_rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    async with pool.acquire() as conn:
        return [tuple(r) for r in await conn.fetch(
            """SELECT s.code, s.name, s.low_stock_threshold, s.is_bundle, bc.component_id,
                      bc.quantity, bc.position
               FROM skus s LEFT JOIN bundle_components bc ON bc.bundle_id = s.id
               ORDER BY s.code, bc.position""")]


async def test_upsert_bundle_creates_and_replaces(catalogue: GraphQLClient) -> None:
    p = await call(catalogue, UPSERT, "upsertBundle", KIT)
    assert p == {"sku": {"code": "KIT-1", "name": "Starter kit", "lowStockThreshold": 2,
                         "isBundle": True, "components": [
                             {"sku": {"code": "SKU-2", "isBundle": False}, "quantity": 2},
                             {"sku": {"code": "SKU-1", "isBundle": False}, "quantity": 1}]},
                 "userErrors": []}
    p = await call(catalogue, UPSERT, "upsertBundle", {
        "code": "KIT-1", "name": "Kit", "components": [{"sku": "SKU-1", "quantity": 3}]})
    assert p["userErrors"] == []
    assert p["sku"]["lowStockThreshold"] == 2  # kept when not given, as upsertSku does
    data = await catalogue.data(READ, {"c": "KIT-1"})
    assert data["sku"] == {"code": "KIT-1", "isBundle": True, "components": [
        {"sku": {"code": "SKU-1", "name": "Widget"}, "quantity": 3}]}
    plain = await catalogue.data(READ, {"c": "SKU-1"})
    assert plain["sku"] == {"code": "SKU-1", "isBundle": False, "components": []}


@pytest.mark.parametrize(("components", "expected"), [
    ([], [("INVALID_INPUT", ["input", "components"])]),
    ([{"sku": "SKU-1", "quantity": 1}] * 51, [("INVALID_INPUT", ["input", "components"])]),
    ([{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 2}],
     [("INVALID_INPUT", ["input", "components", "1", "sku"])]),
    ([{"sku": "SKU-1", "quantity": 0}, {"sku": "SKU-2", "quantity": -1}],
     [("INVALID_QUANTITY", ["input", "components", "0", "quantity"]),
      ("INVALID_QUANTITY", ["input", "components", "1", "quantity"])]),
    ([{"sku": "SKU-1", "quantity": 1_000_001}],
     [("INVALID_QUANTITY", ["input", "components", "0", "quantity"])]),
    ([{"sku": "NOPE", "quantity": 1}, {"sku": "SKU-1", "quantity": 1}],
     [("NOT_FOUND", ["input", "components", "0", "sku"])]),
    ([{"sku": "bad code!", "quantity": 1}], [("INVALID_INPUT", ["input", "components", "0", "sku"])]),
    ([{"sku": "KIT-0", "quantity": 1}], [("INVALID_INPUT", ["input", "components", "0", "sku"])]),
])
async def test_upsert_bundle_refusals_change_nothing(
    catalogue: GraphQLClient, pool: asyncpg.Pool, components: list[Any],
    expected: list[tuple[str, list[str]]],
) -> None:
    assert (await call(catalogue, UPSERT, "upsertBundle", {
        "code": "KIT-0", "name": "Other kit", "components": [{"sku": "SKU-2", "quantity": 1}],
    }))["userErrors"] == []
    before = await _bundle_rows(pool)
    p = await call(catalogue, UPSERT, "upsertBundle",
                   {"code": "KIT-1", "name": "Kit", "components": components})
    assert p["sku"] is None
    assert codes(p) == expected
    assert await _bundle_rows(pool) == before


async def test_a_sku_never_changes_between_plain_and_bundle(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    assert (await call(catalogue, UPSERT, "upsertBundle", KIT))["userErrors"] == []
    before = await _bundle_rows(pool)
    p = await call(catalogue, UPSERT, "upsertBundle", {**KIT, "code": "SKU-1"})
    assert codes(p) == [("INVALID_INPUT", ["input", "code"])]
    p = await call(catalogue, UPSERT_SKU, "upsertSku", {"code": "KIT-1", "name": "plain now"})
    assert codes(p) == [("INVALID_INPUT", ["input", "code"])] and p["sku"] is None
    assert await _bundle_rows(pool) == before
    p = await call(catalogue, UPSERT, "upsertBundle", {
        **KIT, "components": [{"sku": "KIT-1", "quantity": 1}]})
    assert codes(p) == [("INVALID_INPUT", ["input", "components", "0", "sku"])]


async def test_the_database_refuses_levels_of_a_bundle_and_bundles_as_components(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    """The composite keys of migration 0010 back the rules even for a writer that forgot."""
    assert (await call(catalogue, UPSERT, "upsertBundle", KIT))["userErrors"] == []
    async with pool.acquire() as conn:
        kit, location = await conn.fetchval("SELECT id FROM skus WHERE code = 'KIT-1'"), \
            await conn.fetchval("SELECT id FROM locations WHERE code = 'WH-A'")
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO stock_levels (sku_id, location_id) VALUES ($1, $2)",
                               kit, location)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                """INSERT INTO bundle_components (bundle_id, component_id, quantity, position)
                   VALUES ((SELECT id FROM skus WHERE code = 'SKU-1'), $1, 1, 0)""", kit)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("UPDATE skus SET is_bundle = true WHERE code = 'SKU-1'")
