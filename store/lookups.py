"""Codes to ids (SKU, location), NotFound naming the argument at fault; used by the writers in
store/ (reservations, carts, levels, incoming)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.errors import InvalidInput, NotFound


async def sku_kind(
    conn: asyncpg.Connection, code: str, field: Sequence[str | int]
) -> tuple[int, bool]:
    """The SKU's id and whether it is a bundle (fixed when it was created)."""
    found = await conn.fetchrow("SELECT id, is_bundle FROM skus WHERE code = $1", code)
    if found is None:
        raise NotFound(f"unknown SKU {code!r}", field)
    return found["id"], found["is_bundle"]


async def stocked_sku_id(
    conn: asyncpg.Connection, code: str, field: Sequence[str | int]
) -> int:
    """The id of a plain SKU, the only kind with stock levels: a bundle is refused
    (InvalidInput), naming its components as what to change instead."""
    sku_id, is_bundle = await sku_kind(conn, code, field)
    if is_bundle:
        parts = await conn.fetchval(
            """SELECT string_agg(s.code, ', ' ORDER BY bc.position) FROM bundle_components bc
               JOIN skus s ON s.id = bc.component_id WHERE bc.bundle_id = $1""", sku_id)
        raise InvalidInput(
            f"{code} is a bundle and holds no stock of its own: change its components "
            f"({parts}) instead", field)
    return sku_id


async def sku_kinds(
    conn: asyncpg.Connection, codes: Sequence[str]
) -> dict[str, tuple[int, bool]]:
    """Each known code's id and whether it is a bundle."""
    records = await conn.fetch(
        "SELECT code, id, is_bundle FROM skus WHERE code = ANY($1::text[])", list(set(codes)))
    return {r["code"]: (r["id"], r["is_bundle"]) for r in records}


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
