"""The append-only stock ledger, with its gap-free per-SKU sequence: written by store's writers,
read by service.views and feed/ (gap fill)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from domain.errors import InvalidQuantity
from domain.model import AdjustmentReason, StockEvent, StockEventKind
from domain.rules import MAX_FIGURE
from store import rows

# Taking the SKU row lock last (after the level rows) orders every change of a SKU: the
# sequence is handed out under that lock and the lock is held until commit, so sequences are
# gap-free and each entry's SKU-wide figures see exactly the changes sequenced before it.
NEXT_SEQUENCE = """
UPDATE skus SET last_sequence = last_sequence + 1 WHERE id = $1
RETURNING code, last_sequence, low_stock_threshold
"""

# A separate statement from NEXT_SEQUENCE on purpose: it needs a snapshot taken after the SKU
# lock was granted. The SKU-wide sums are bigint; a change that would push the SKU's on-hand
# total (which bounds reserved and available) past $17 (GraphQL's Int) inserts nothing.
INSERT_EVENT = """
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta,
    level_on_hand, level_reserved, level_safety, level_version,
    sku_on_hand, sku_reserved, available, status, reason, reservation_id, reference, actor,
    incoming_delta, incoming_id, transfer_id, happened_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, t.on_hand, t.reserved, t.available::int,
       stock_status(t.available, $11), $12, $13::uuid, $14, $16::bigint, $18, $19::uuid,
       $20::uuid, $21::timestamptz
FROM (SELECT coalesce(sum(on_hand), 0) AS on_hand, coalesce(sum(reserved), 0) AS reserved,
             coalesce(sum(stock_available(on_hand, reserved, safety_stock)), 0) AS available
      FROM stock_levels WHERE sku_id = $1) t
WHERE t.on_hand <= $17
RETURNING *, $15::text AS sku, (SELECT code FROM locations WHERE id = location_id) AS location
"""

EVENTS_AFTER = """
SELECT e.*, s.code AS sku, l.code AS location
FROM stock_events e JOIN skus s ON s.id = e.sku_id JOIN locations l ON l.id = e.location_id
WHERE s.code = $1 AND e.sequence > $2
ORDER BY e.sequence
LIMIT $3
"""


async def append(
    conn: asyncpg.Connection,
    level: rows.Record,
    kind: StockEventKind,
    *,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    reason: AdjustmentReason | None = None,
    reservation_id: str | None = None,
    reference: str | None = None,
    actor: int | None = None,
    incoming_delta: int = 0,
    incoming_id: str | None = None,
    transfer_id: str | None = None,
    happened_at: datetime | None = None,
) -> StockEvent:
    """Record one change of `level` (a stock_levels record as it is after the change)."""
    sku = await conn.fetchrow(NEXT_SEQUENCE, level["sku_id"])
    record = await conn.fetchrow(
        INSERT_EVENT,
        level["sku_id"],
        sku["last_sequence"],
        kind.value,
        level["location_id"],
        on_hand_delta,
        reserved_delta,
        level["on_hand"],
        level["reserved"],
        level["safety_stock"],
        level["version"],
        sku["low_stock_threshold"],
        reason.value if reason else None,
        reservation_id,
        reference,
        sku["code"],
        actor,
        MAX_FIGURE,
        incoming_delta,
        incoming_id,
        transfer_id,
        happened_at,
    )
    if record is None:
        raise InvalidQuantity(
            f"{sku['code']}'s total on hand would exceed {MAX_FIGURE}")
    return rows.event(record)


async def events_after(
    conn: asyncpg.Connection, sku: str, after_sequence: int, limit: int
) -> list[StockEvent]:
    return [rows.event(r) for r in await conn.fetch(EVENTS_AFTER, sku, after_sequence, limit)]
