"""Verify the levels against the ledger and the reservations, and repair drift (called by
service.auditing).

The ledger is the source of truth for on hand (sum of its deltas), the ACTIVE reservations
for reserved (a plain hold at its level, a bundle hold at each of its component rows' levels)
and the open incoming stock (EXPECTED rows, purchases and transfers) for incoming. A repair
sets the level to those figures and records an ADJUSTED/CORRECTION entry so that the ledger's
reserved and incoming deltas add up again and subscribers see the change.
"""

from __future__ import annotations

import asyncpg

from domain.drift import LevelDrift, SequenceDrift
from domain.model import AdjustmentReason, StockEventKind
from store import ledger
from store.rows import LEVEL_COLUMNS

DRIFT = """
SELECT s.code AS sku, lo.code AS location, l.sku_id, l.location_id, l.on_hand, l.reserved,
       coalesce(e.on_hand, 0) AS ledger_on_hand, coalesce(e.reserved, 0) AS ledger_reserved,
       coalesce(r.reserved, 0) AS active_reserved, l.incoming,
       coalesce(e.incoming, 0) AS ledger_incoming, coalesce(i.incoming, 0) AS open_incoming
FROM stock_levels l
JOIN skus s ON s.id = l.sku_id
JOIN locations lo ON lo.id = l.location_id
LEFT JOIN (SELECT sku_id, location_id, sum(on_hand_delta) AS on_hand,
                  sum(reserved_delta) AS reserved, sum(incoming_delta) AS incoming
           FROM stock_events GROUP BY sku_id, location_id) e
       ON e.sku_id = l.sku_id AND e.location_id = l.location_id
LEFT JOIN (SELECT sku_id, location_id, sum(quantity) AS reserved FROM (
               -- a bundle hold's own row names the bundle, which has no level to match
               SELECT sku_id, location_id, quantity FROM reservations WHERE status = 'ACTIVE'
               UNION ALL
               SELECT c.sku_id, c.location_id, c.quantity FROM reservation_components c
               JOIN reservations h ON h.id = c.reservation_id WHERE h.status = 'ACTIVE') held
           GROUP BY sku_id, location_id) r
       ON r.sku_id = l.sku_id AND r.location_id = l.location_id
LEFT JOIN (SELECT sku_id, location_id, sum(quantity - received) AS incoming FROM incoming
           WHERE status = 'EXPECTED' GROUP BY sku_id, location_id) i
       ON i.sku_id = l.sku_id AND i.location_id = l.location_id
WHERE ($1::bigint IS NULL OR (l.sku_id = $1 AND l.location_id = $2))
  AND (l.on_hand <> coalesce(e.on_hand, 0) OR l.reserved <> coalesce(r.reserved, 0)
       OR coalesce(e.reserved, 0) <> coalesce(r.reserved, 0)
       OR l.incoming <> coalesce(i.incoming, 0)
       OR coalesce(e.incoming, 0) <> coalesce(i.incoming, 0))
ORDER BY l.sku_id, l.location_id
"""

SEQUENCE_DRIFT = """
SELECT s.id, s.code, s.last_sequence, coalesce(max(e.sequence), 0) AS ledger_sequence
FROM skus s LEFT JOIN stock_events e ON e.sku_id = s.id
GROUP BY s.id HAVING s.last_sequence <> coalesce(max(e.sequence), 0)
"""

FIX_LEVEL = f"""
UPDATE stock_levels
SET on_hand = $3, reserved = $4, incoming = $5, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2
RETURNING {LEVEL_COLUMNS}
"""


def _drift(r: asyncpg.Record) -> LevelDrift:
    return LevelDrift(r["sku"], r["location"], r["on_hand"], r["reserved"],
                      int(r["ledger_on_hand"]), int(r["ledger_reserved"]),
                      int(r["active_reserved"]), r["incoming"], int(r["ledger_incoming"]),
                      int(r["open_incoming"]))


async def find_drift(conn: asyncpg.Connection) -> tuple[list[LevelDrift], list[SequenceDrift]]:
    levels = [_drift(r) for r in await conn.fetch(DRIFT, None, None)]
    sequences = [SequenceDrift(r["code"], r["last_sequence"], int(r["ledger_sequence"]))
                 for r in await conn.fetch(SEQUENCE_DRIFT)]
    return levels, sequences


async def repair(conn: asyncpg.Connection) -> list[LevelDrift]:
    """Repair every drift in one transaction each; returns the levels that cannot be repaired
    (their ledger's on hand is below their ACTIVE reservations)."""
    unrepairable: list[LevelDrift] = []
    for found in await conn.fetch(DRIFT, None, None):
        async with conn.transaction():
            # lock the level, then look again: traffic may have moved on meanwhile
            await conn.execute(
                "SELECT 1 FROM stock_levels WHERE sku_id = $1 AND location_id = $2 FOR UPDATE",
                found["sku_id"], found["location_id"],
            )
            r = await conn.fetchrow(DRIFT, found["sku_id"], found["location_id"])
            if r is None:
                continue
            target_on_hand, target_reserved = int(r["ledger_on_hand"]), int(r["active_reserved"])
            target_incoming = int(r["open_incoming"])
            if not 0 <= target_reserved <= target_on_hand:
                unrepairable.append(_drift(r))
                continue
            level = await conn.fetchrow(
                FIX_LEVEL, r["sku_id"], r["location_id"], target_on_hand, target_reserved,
                target_incoming,
            )
            await ledger.append(
                conn, level, StockEventKind.ADJUSTED,
                reserved_delta=target_reserved - int(r["ledger_reserved"]),
                incoming_delta=target_incoming - int(r["ledger_incoming"]),
                reason=AdjustmentReason.CORRECTION, reference="check --repair",
            )
    await conn.execute(
        """UPDATE skus s SET last_sequence = e.max_sequence
           FROM (SELECT sku_id, max(sequence) AS max_sequence FROM stock_events GROUP BY sku_id) e
           WHERE e.sku_id = s.id AND s.last_sequence < e.max_sequence"""
    )
    return unrepairable


async def count_drift(conn: asyncpg.Connection) -> int:
    """How many levels `find_drift` would list, in one statement (one snapshot: a level and its
    ledger are read at the same instant, so traffic never shows as drift)."""
    return int(await conn.fetchval(f"SELECT count(*) FROM ({DRIFT}) d", None, None))
