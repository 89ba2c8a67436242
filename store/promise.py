"""Reads of incoming stock: the incoming query, a SKU's next restock and available-to-promise,
and the overdue figures the metric reports (called by service.views and service.overdue)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.model import Incoming
from domain.rules import MAX_FIGURE
from store import rows
from store.rows import INCOMING_COLUMNS

LIST = f"""
SELECT {INCOMING_COLUMNS}, sku FROM (
    SELECT i.*, s.code AS sku FROM incoming i
    JOIN skus s ON s.id = i.sku_id JOIN locations l ON l.id = i.location_id
    WHERE ($1::text IS NULL OR s.code = $1) AND ($2::text IS NULL OR l.code = $2)
      AND ($3::text IS NULL OR i.status = $3)
) AS found
ORDER BY created_at DESC, id DESC
LIMIT $4
"""

LOCATION_OF = """
SELECT l.code FROM incoming i JOIN locations l ON l.id = i.location_id WHERE i.id = $1::uuid
"""

NEXT_RESTOCK = """
SELECT sku_id, min(expected_at) AS next_restock FROM incoming
WHERE status = 'EXPECTED' AND sku_id = ANY($1::bigint[])
GROUP BY sku_id
"""

# The channel's locations ($3), or every location when $3 is NULL: available now plus what is
# open and expected at or before $2 (overdue stock included: it is late, not gone).
PROMISE = """
WITH places AS (
    SELECT id AS location_id FROM locations WHERE $3::text IS NULL
    UNION ALL
    SELECT cl.location_id FROM channel_locations cl JOIN channels c ON c.id = cl.channel_id
    WHERE c.code = $3
)
SELECT u.sku_id,
       (SELECT coalesce(sum(stock_available(on_hand, reserved, safety_stock)), 0)
        FROM stock_levels l
        WHERE l.sku_id = u.sku_id AND l.location_id IN (SELECT location_id FROM places))
     + (SELECT coalesce(sum(quantity - received), 0)
        FROM incoming i
        WHERE i.sku_id = u.sku_id AND i.status = 'EXPECTED' AND i.expected_at <= $2
          AND i.location_id IN (SELECT location_id FROM places)) AS promise
FROM unnest($1::bigint[]) AS u(sku_id)
"""

# A transfer shipped without an expected date is expected from the time it shipped (so that
# availableToPromise counts it): it is on its way, not late.
OVERDUE = """
SELECT count(*) AS count, coalesce(sum(quantity - received), 0) AS quantity FROM incoming i
WHERE status = 'EXPECTED' AND expected_at < now()
  AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = i.transfer_id AND t.expected_at IS NULL)
"""


async def incoming(
    conn: asyncpg.Connection, *, sku: str | None, location: str | None, status: str | None,
    limit: int,
) -> list[Incoming]:
    """Newest first; the filters combine with AND."""
    records = await conn.fetch(LIST, sku, location, status, limit)
    return [rows.incoming(r, r["sku"]) for r in records]


async def location_of(conn: asyncpg.Connection, incoming_id: str) -> str | None:
    found: str | None = await conn.fetchval(LOCATION_OF, incoming_id)
    return found


async def next_restock(
    conn: asyncpg.Connection, sku_ids: Sequence[int]
) -> dict[int, datetime]:
    records = await conn.fetch(NEXT_RESTOCK, list(sku_ids))
    return {r["sku_id"]: r["next_restock"] for r in records}


async def available_to_promise(
    conn: asyncpg.Connection, sku_ids: Sequence[int], at: datetime, channel: str | None
) -> dict[int, int]:
    """Per SKU id; an unknown `channel` has no locations (the caller checks it exists)."""
    records = await conn.fetch(PROMISE, list(sku_ids), at, channel)
    return {r["sku_id"]: min(int(r["promise"]), MAX_FIGURE) for r in records}


async def overdue(conn: asyncpg.Connection) -> tuple[int, int]:
    """How many incoming are past their expected date and still EXPECTED, and their open
    quantity."""
    r = await conn.fetchrow(OVERDUE)
    return int(r["count"]), int(r["quantity"])
