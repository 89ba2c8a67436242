"""One sale a store made offline, in its own transaction: the holds it leaves uncovered moved or
shorted newest first (store.hold_moves), then its ADJUSTED SALE entry (called by service.sales).

Lock order as every writer: the ACTIVE holds at the sold level, then every level of every SKU
they and the sale involve in (sku_id, location_id) order, then the SKU rows (the ledger)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from domain.model import AdjustmentReason, StockEventKind
from domain.outcome import Outcome
from domain.sales import Held, Level
from store import hold_moves, ledger, lookups, rows
from store.errors import Busy

HOLDS_AT = """
SELECT r.id::text AS id, r.sku_id, r.location_id, r.quantity, r.owner, r.reference,
       r.created_at, r.expires_at <= now() AS lapsed, s.code, s.is_bundle,
       (SELECT array_agg(cl.location_id ORDER BY cl.position) FROM channel_locations cl
        WHERE cl.channel_id = r.channel_id) AS among, r.channel_id,
       (SELECT CASE WHEN k.locations IS NULL THEN NULL ELSE
               ARRAY(SELECT l.id FROM locations l WHERE l.code = ANY(k.locations)) END
        FROM api_keys k WHERE k.id = r.owner) AS within
FROM reservations r JOIN skus s ON s.id = r.sku_id
WHERE r.status = 'ACTIVE'
  AND ((r.sku_id = $1 AND r.location_id = $2)
       OR r.id IN (SELECT reservation_id FROM reservation_components
                   WHERE sku_id = $1 AND location_id = $2))
ORDER BY r.id
"""

LOCK_HOLDS = HOLDS_AT + " FOR UPDATE OF r"

PARTS = """
SELECT rc.reservation_id::text AS id, rc.sku_id, s.code, rc.quantity
FROM reservation_components rc JOIN skus s ON s.id = rc.sku_id
WHERE rc.reservation_id = ANY($1::uuid[]) ORDER BY rc.reservation_id, rc.sku_id
"""

LOCK_LEVELS = """
SELECT sku_id, location_id, on_hand, reserved, safety_stock FROM stock_levels
WHERE sku_id = ANY($1::bigint[]) AND ($2::bigint IS NULL OR location_id = $2)
ORDER BY sku_id, location_id FOR UPDATE
"""

CREATE = """
INSERT INTO stock_levels (sku_id, location_id) VALUES ($1, $2)
ON CONFLICT (sku_id, location_id) DO NOTHING
"""

COUNTED_AT = """
SELECT occurred_at FROM stock_events
WHERE sku_id = $1 AND location_id = $2 AND kind = 'SET'
ORDER BY occurred_at DESC LIMIT 1
"""


class _NewHold(Exception):
    """Lock again: a hold appeared at the level between locking the holds and the levels, or
    the sale uncovers holds and needs the levels they may move to."""


class Contended(Busy):
    """New holds kept appearing at the sold level between two statements, MAX_LOCKS times in
    a row: the sale gives up (nothing changed; a resend with its key is safe) rather than
    spin while the level is that hot."""


MAX_LOCKS = 20


async def _holds(conn: asyncpg.Connection, sku_id: int, location_id: int) -> list[Held]:
    found = await conn.fetch(LOCK_HOLDS, sku_id, location_id)
    parts: dict[str, list[tuple[int, str, int]]] = {}
    bundles = [r["id"] for r in found if r["is_bundle"]]
    for p in await conn.fetch(PARTS, bundles) if bundles else []:
        parts.setdefault(p["id"], []).append((p["sku_id"], p["code"], p["quantity"]))
    return [
        Held(r["id"], r["code"], r["location_id"],
             tuple(parts.get(r["id"], [])) if r["is_bundle"]
             else ((r["sku_id"], r["code"], r["quantity"]),),
             r["owner"], r["reference"],
             tuple(r["among"] or ()) if r["channel_id"] is not None else None,
             frozenset(r["within"]) if r["within"] is not None else None, r["is_bundle"],
             r["lapsed"])
        # lapsed holds first (they free their stock anyway), then the newest first
        for r in sorted(found, key=lambda r: (r["lapsed"], r["created_at"], r["id"]),
                        reverse=True)
    ]


async def _lock(
    conn: asyncpg.Connection, sku_id: int, location_id: int, quantity: int
) -> tuple[list[Held], dict[Level, list[int]]]:
    """The holds at the level, newest first, and the levels, all locked: the sold one alone
    while the sale leaves its holds covered (most sales), else every level of every SKU
    involved (where they may move), taken again from the start in the global order."""
    wide = False
    for _ in range(MAX_LOCKS):
        savepoint = conn.transaction()
        await savepoint.start()
        try:
            holds = await _holds(conn, sku_id, location_id)
            skus = {sku_id} | {p[0] for h in holds for p in h.parts} if wide else {sku_id}
            levels = {(r["sku_id"], r["location_id"]):
                      [r["on_hand"], r["reserved"], r["safety_stock"]]
                      for r in await conn.fetch(
                          LOCK_LEVELS, sorted(skus), None if wide else location_id)}
            now = {r["id"] for r in await conn.fetch(HOLDS_AT, sku_id, location_id)}
            if not now <= {h.id for h in holds}:
                raise _NewHold
            on_hand, reserved, _ = levels[sku_id, location_id]
            if not wide and reserved > on_hand - min(quantity, on_hand):
                wide = True
                raise _NewHold
        except _NewHold:
            await savepoint.rollback()  # its row locks go with it
            continue
        except BaseException:
            await savepoint.rollback()
            raise
        await savepoint.commit()  # the locks stay with the transaction
        return holds, levels
    raise Contended(f"holds kept appearing at the sold level ({MAX_LOCKS} attempts)")


async def record_sale(
    conn: asyncpg.Connection, sku: str, location: str, quantity: int,
    happened_at: datetime, reference: str | None,
) -> Outcome:
    """Take min(quantity, on hand) off on hand (nothing if a stock count after `happened_at`
    already took it); holds that leaves uncovered are moved or shorted first."""
    sku_id = await lookups.stocked_sku_id(conn, sku, ["sku"])
    location_id = await lookups.location_id(conn, location, ["location"])
    if not await conn.fetchval(
        "SELECT true FROM stock_levels WHERE sku_id = $1 AND location_id = $2",
        sku_id, location_id,
    ):
        await conn.execute(CREATE, sku_id, location_id)
    holds, levels = await _lock(conn, sku_id, location_id, quantity)
    level = (sku_id, location_id)
    on_hand = levels[level][0]
    counted_at = await conn.fetchval(COUNTED_AT, sku_id, location_id)
    counted = counted_at is not None and happened_at < counted_at
    taken = 0 if counted else min(quantity, on_hand)
    outcome = Outcome(shortfall=0 if counted else quantity - taken)
    for hold in holds:
        if levels[level][1] <= on_hand - taken:
            break
        reservation, events = await hold_moves.resolve(conn, hold, levels)
        outcome.reservations.append(reservation)
        outcome.events.extend(events)
    record = await conn.fetchrow(hold_moves.CHANGE, sku_id, location_id, -taken, 0)
    outcome.events.append(await ledger.append(
        conn, record, StockEventKind.ADJUSTED, on_hand_delta=-taken,
        reason=AdjustmentReason.SALE, reference=reference, happened_at=happened_at,
    ))
    outcome.level = rows.level(record, sku)
    return outcome
