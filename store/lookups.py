"""Codes to ids (SKU, location), NotFound naming the argument at fault; used by the writers in
store/ (reservations, levels, hold_batch)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.errors import NotFound


async def sku_id(conn: asyncpg.Connection, code: str, field: Sequence[str | int]) -> int:
    found: int | None = await conn.fetchval("SELECT id FROM skus WHERE code = $1", code)
    if found is None:
        raise NotFound(f"unknown SKU {code!r}", field)
    return found


async def location_id(conn: asyncpg.Connection, code: str, field: Sequence[str | int]) -> int:
    found: int | None = await conn.fetchval("SELECT id FROM locations WHERE code = $1", code)
    if found is None:
        raise NotFound(f"unknown location {code!r}", field)
    return found


async def ids_by_code(
    conn: asyncpg.Connection, table: str, codes: Sequence[str]
) -> dict[str, int]:
    assert table in ("skus", "locations")
    records = await conn.fetch(
        f"SELECT code, id FROM {table} WHERE code = ANY($1::text[])", list(set(codes))
    )
    return {r["code"]: r["id"] for r in records}
