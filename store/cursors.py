"""Each partner sink's place in the ledger, per SKU: what feed/tail.py reads after it, locks while
it hands the entries on, and moves forward; and how far behind the sink is (its metrics)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from domain.changes import NOTHING, LedgerChange
from domain.model import AvailabilityStatus
from store import rows

START = "INSERT INTO sink_starts (sink) VALUES ($1) ON CONFLICT DO NOTHING RETURNING sink"
START_AT_HEADS = """
INSERT INTO sink_cursors (sink, sku_id, sequence) SELECT $1, id, last_sequence FROM skus
ON CONFLICT DO NOTHING
"""

# SKUs created after the sink started begin at 0: every entry of theirs is newer than the start.
ENSURE = """
INSERT INTO sink_cursors (sink, sku_id, sequence)
SELECT $1, id, 0 FROM skus WHERE code = ANY($2::text[])
ON CONFLICT DO NOTHING
"""

# Another instance handling a SKU holds its cursor: skip it, that one hands its entries on.
LOCK = """
SELECT c.sku_id, c.sequence FROM sink_cursors c JOIN skus s ON s.id = c.sku_id
WHERE c.sink = $1 AND s.code = ANY($2::text[]) AND s.last_sequence > c.sequence
ORDER BY c.sku_id
FOR UPDATE OF c SKIP LOCKED
"""

# The entry at the cursor is read too, for the availability before the first new one.
ENTRIES = """
SELECT e.*, s.code AS sku, l.code AS location,
       lag(e.available) OVER w AS previous_available, lag(e.status) OVER w AS previous_status,
       c.after
FROM unnest($1::bigint[], $2::bigint[]) AS c (sku_id, after)
CROSS JOIN LATERAL (
    SELECT * FROM stock_events e
    WHERE e.sku_id = c.sku_id AND e.sequence >= c.after
    ORDER BY e.sequence LIMIT $3 + 1
) e
JOIN skus s ON s.id = e.sku_id JOIN locations l ON l.id = e.location_id
WINDOW w AS (PARTITION BY e.sku_id ORDER BY e.sequence)
ORDER BY e.sku_id, e.sequence
"""

ADVANCE = """
UPDATE sink_cursors c SET sequence = v.sequence
FROM unnest($2::bigint[], $3::bigint[]) AS v (sku_id, sequence)
WHERE c.sink = $1 AND c.sku_id = v.sku_id AND v.sequence > c.sequence
"""

# Nothing wants the entries (the handler is idle): every cursor to its SKU's head.
SKIP_TO_HEADS = """
WITH started AS (
    INSERT INTO sink_cursors (sink, sku_id, sequence) SELECT $1, id, last_sequence FROM skus
    ON CONFLICT DO NOTHING
)
UPDATE sink_cursors c SET sequence = s.last_sequence FROM skus s
WHERE c.sink = $1 AND s.id = c.sku_id AND s.last_sequence > c.sequence
"""

BEHIND = """
SELECT s.code FROM skus s
LEFT JOIN sink_cursors c ON c.sink = $1 AND c.sku_id = s.id
WHERE s.last_sequence > coalesce(c.sequence, 0)
LIMIT $2
"""

LAG = """
SELECT count(*) AS skus, coalesce(sum(s.last_sequence - coalesce(c.sequence, 0)), 0) AS events,
       min(e.occurred_at) AS oldest
FROM skus s
LEFT JOIN sink_cursors c ON c.sink = $1 AND c.sku_id = s.id
LEFT JOIN stock_events e ON e.sku_id = s.id AND e.sequence = coalesce(c.sequence, 0) + 1
WHERE s.last_sequence > coalesce(c.sequence, 0)
"""


@dataclass(frozen=True, slots=True)
class Lag:
    skus: int
    events: int
    oldest: datetime | None  # the oldest entry not yet handled


async def start(conn: asyncpg.Connection, sink: str) -> bool:
    """Starts `sink` at every SKU's head unless it started before; True if it starts now."""
    async with conn.transaction():
        if await conn.fetchval(START, sink) is None:
            return False
        await conn.execute(START_AT_HEADS, sink)
        return True


async def lock(conn: asyncpg.Connection, sink: str, skus: Sequence[str]) -> dict[int, int]:
    """Within a transaction: the cursors of the SKUs of `skus` that have entries after them,
    locked until it ends (those another transaction holds are left out), by sku_id."""
    await conn.execute(ENSURE, sink, list(skus))
    return {r["sku_id"]: r["sequence"] for r in await conn.fetch(LOCK, sink, list(skus))}


async def entries(
    conn: asyncpg.Connection, cursors: Mapping[int, int], per_sku: int
) -> list[LedgerChange]:
    """Up to `per_sku` entries of each SKU after its cursor, per SKU in sequence order."""
    ids = list(cursors)
    found = await conn.fetch(ENTRIES, ids, [cursors[i] for i in ids], per_sku)
    changes = []
    for r in found:
        if r["sequence"] <= r["after"]:
            continue
        before = NOTHING if r["previous_status"] is None else (
            r["previous_available"], AvailabilityStatus(r["previous_status"]))
        changes.append(LedgerChange(r["sku_id"], rows.event(r), before[0], before[1]))
    return changes


async def advance(conn: asyncpg.Connection, sink: str, handled: Mapping[int, int]) -> None:
    """Moves each SKU's cursor to the sequence handled (never backwards)."""
    ids = list(handled)
    await conn.execute(ADVANCE, sink, ids, [handled[i] for i in ids])


async def skip_to_heads(conn: asyncpg.Connection, sink: str) -> None:
    await conn.execute(SKIP_TO_HEADS, sink)


async def behind(conn: asyncpg.Connection, sink: str, limit: int) -> list[str]:
    """SKUs with entries after the sink's cursor: what a sweep hands on."""
    return [r["code"] for r in await conn.fetch(BEHIND, sink, limit)]


async def lag(conn: asyncpg.Connection, sink: str) -> Lag:
    r = await conn.fetchrow(LAG, sink)
    return Lag(skus=r["skus"], events=int(r["events"]), oldest=r["oldest"])
