"""A hold a recorded sale leaves uncovered: moved whole to another location that can cover it,
else SHORTED (called by store.sales, with every level involved already locked)."""

from __future__ import annotations

import asyncpg

from domain.model import HeldComponent, Reservation, StockEvent, StockEventKind
from domain.sales import Held, Level, destination
from store import ledger, rows
from store.rows import RESERVATION_COLUMNS

CHANGE = f"""
UPDATE stock_levels
SET on_hand = on_hand + $3, reserved = reserved + $4, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2
  AND ($4 <= 0 OR stock_available(on_hand, reserved, safety_stock) >= $4)
RETURNING {rows.LEVEL_COLUMNS}
"""

MOVE = f"""
UPDATE reservations SET location_id = $2, updated_at = now() WHERE id = $1::uuid
RETURNING {RESERVATION_COLUMNS}
"""

MOVE_PARTS = "UPDATE reservation_components SET location_id = $2 WHERE reservation_id = $1::uuid"

SHORT = f"""
UPDATE reservations SET status = $2, updated_at = now() WHERE id = $1::uuid
RETURNING {RESERVATION_COLUMNS}
"""


async def _change(
    conn: asyncpg.Connection, levels: dict[Level, list[int]], level: Level, on_hand: int,
    reserved: int,
) -> rows.Record:
    record = await conn.fetchrow(CHANGE, *level, on_hand, reserved)
    if record is None:
        raise RuntimeError("a locked level lost the stock it was planned to hold")
    levels[level][0] += on_hand
    levels[level][1] += reserved
    return record


async def resolve(
    conn: asyncpg.Connection, hold: Held, levels: dict[Level, list[int]],
) -> tuple[Reservation, list[StockEvent]]:
    """Move `hold` (MOVED at its location, RESERVED at the new one, per SKU) or short it
    (SHORTED per SKU); a lapsed hold is expired as the sweeper would (EXPIRED per SKU).
    `levels` ([on_hand, reserved, safety] by level, all locked) follow the changes."""
    where = None if hold.lapsed else destination(hold, levels)
    kind = StockEventKind.EXPIRED if hold.lapsed else StockEventKind.SHORTED
    leaves = kind if where is None else StockEventKind.MOVED
    events = []
    if where is None:
        r = await conn.fetchrow(SHORT, hold.id, kind.value)
    else:
        r = await conn.fetchrow(MOVE, hold.id, where)
        if hold.is_bundle:
            await conn.execute(MOVE_PARTS, hold.id, where)
    for sku_id, _, units in hold.parts:
        old = await _change(conn, levels, (sku_id, hold.location_id), 0, -units)
        events.append(await ledger.append(
            conn, old, leaves, reserved_delta=-units, reservation_id=hold.id,
            reference=hold.reference, actor=hold.owner))
        if where is not None:
            new = await _change(conn, levels, (sku_id, where), 0, units)
            events.append(await ledger.append(
                conn, new, StockEventKind.RESERVED, reserved_delta=units, reservation_id=hold.id,
                reference=hold.reference, actor=hold.owner))
    components = [HeldComponent(code, units) for _, code, units in hold.parts]
    return rows.reservation(r, hold.code, components if hold.is_bundle else ()), events

