"""Closing a hold (commit, release, expiry): its level, or every component level of a bundle hold
at once, after the caller's guarded UPDATE of its row (called by store.reservations).

Lock order as every writer: the reservation row (taken by the caller), the levels in
(sku_id, location_id) order, then the SKU rows in id order (taken by the ledger)."""

from __future__ import annotations

import asyncpg

from domain.model import HeldComponent, StockEventKind
from domain.outcome import Outcome
from store import bundles, ledger, rows
from store.rows import LEVEL_COLUMNS

UNHOLD = f"""
UPDATE stock_levels
SET on_hand = on_hand - $3, reserved = reserved - $4, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2
RETURNING {LEVEL_COLUMNS}
"""

# What a bundle hold holds, its component levels locked in the global order before any of
# them changes: the ledger then takes each SKU row while no level lock is still to come.
LOCK_HELD = """
SELECT rc.sku_id, rc.location_id, rc.quantity, s.code
FROM reservation_components rc
JOIN stock_levels l ON l.sku_id = rc.sku_id AND l.location_id = rc.location_id
JOIN skus s ON s.id = rc.sku_id
WHERE rc.reservation_id = $1::uuid
ORDER BY rc.sku_id, rc.location_id FOR UPDATE OF l
"""


async def close(
    conn: asyncpg.Connection, r: rows.Record, kind: StockEventKind, reference: str | None
) -> Outcome:
    """`r`: the reservation as the guarded UPDATE left it, with its SKU's code (`sku`) and
    `is_bundle`. COMMITTED takes the units off on hand and reserved, RELEASED and EXPIRED off
    reserved; one ledger entry per level, with the reservation's id."""
    if r["is_bundle"]:
        return await _close_bundle(conn, r, kind, reference)
    quantity = r["quantity"]
    sold = quantity if kind is StockEventKind.COMMITTED else 0
    level = await conn.fetchrow(UNHOLD, r["sku_id"], r["location_id"], sold, quantity)
    event = await ledger.append(
        conn, level, kind, on_hand_delta=-sold, reserved_delta=-quantity,
        reservation_id=r["id"], reference=reference or r["reference"], actor=r["owner"],
    )
    return Outcome(
        reservations=[rows.reservation(r, event.sku)],
        level=rows.level(level, event.sku),
        events=[event],
    )


async def _close_bundle(
    conn: asyncpg.Connection, r: rows.Record, kind: StockEventKind, reference: str | None
) -> Outcome:
    """What the hold holds of each component, as it was taken: changing the bundle since
    changes nothing here. Its level in the outcome is the bundle's derived one after."""
    held = await conn.fetch(LOCK_HELD, r["id"])
    events = []
    for part in held:
        quantity = part["quantity"]
        sold = quantity if kind is StockEventKind.COMMITTED else 0
        level = await conn.fetchrow(UNHOLD, part["sku_id"], part["location_id"], sold, quantity)
        events.append(await ledger.append(
            conn, level, kind, on_hand_delta=-sold, reserved_delta=-quantity,
            reservation_id=r["id"], reference=reference or r["reference"], actor=r["owner"],
        ))
    components = [HeldComponent(part["code"], part["quantity"]) for part in held]
    return Outcome(
        reservations=[rows.reservation(r, r["sku"], components)],
        level=await bundles.level_at(conn, r["sku_id"], r["sku"], r["location_id"]),
        events=events,
    )
