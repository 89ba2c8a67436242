"""Reads of transfers: one by id, a page newest first, and the codes of a transfer's two ends
for a location-bound key's check (called by service.transfers)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.model import Transfer, TransferLine
from store import rows
from store.rows import TRANSFER_COLUMNS

GET = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1::uuid"

# `location` ($2) matches either end; an unknown one matches nothing.
PAGE = f"""
SELECT {TRANSFER_COLUMNS} FROM transfers t
WHERE ($1::text IS NULL OR t.status = $1)
  AND ($2::text IS NULL
       OR (SELECT id FROM locations WHERE code = $2) IN (t.from_location_id, t.to_location_id))
ORDER BY t.created_at DESC, t.id DESC
LIMIT $3
"""

LINES_OF = """
SELECT l.transfer_id::text AS transfer_id, s.code AS sku, l.quantity, l.received
FROM transfer_lines l JOIN skus s ON s.id = l.sku_id
WHERE l.transfer_id = ANY($1::uuid[])
ORDER BY l.transfer_id, l.position
"""

ENDS = """
SELECT f.code AS from_code, t.code AS to_code
FROM transfers x
JOIN locations f ON f.id = x.from_location_id
JOIN locations t ON t.id = x.to_location_id
WHERE x.id = $1::uuid
"""


async def _with_lines(conn: asyncpg.Connection, found: Sequence[rows.Record]) -> list[Transfer]:
    """The transfers with their lines: one statement for the lines of all of them."""
    lines: dict[str, list[TransferLine]] = {r["id"]: [] for r in found}
    for r in await conn.fetch(LINES_OF, list(lines)):
        lines[r["transfer_id"]].append(rows.transfer_line(r))
    return [rows.transfer(r, lines[r["id"]]) for r in found]


async def get(conn: asyncpg.Connection, transfer_id: str) -> Transfer | None:
    found = await conn.fetchrow(GET, transfer_id)
    return (await _with_lines(conn, [found]))[0] if found is not None else None


async def page(
    conn: asyncpg.Connection, *, status: str | None, location: str | None, limit: int
) -> list[Transfer]:
    """Newest first; the filters combine with AND."""
    return await _with_lines(conn, await conn.fetch(PAGE, status, location, limit))


async def ends(conn: asyncpg.Connection, transfer_id: str) -> tuple[str, str] | None:
    """The codes of (from, to), None for an unknown transfer."""
    found = await conn.fetchrow(ENDS, transfer_id)
    return (found["from_code"], found["to_code"]) if found is not None else None
