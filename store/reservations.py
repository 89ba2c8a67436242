"""Holding stock: reserve, extend, commit, release and expiry (called by service.reserving and
service.expiry); a bundle's hold goes to store.bundle_holds, closing a hold to store.closing.

Lock order, shared by every transaction that changes stock: reservation row, then stock
levels in (sku_id, location_id) order, then SKU rows in id order (taken by the ledger).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.errors import InsufficientStock, NotFound, ReservationNotActive, StockError
from domain.model import Reservation, StockEventKind
from domain.outcome import Outcome
from domain.ownership import ANONYMOUS, Acting, NotOwner
from store import bundle_holds, channels, closing, ledger, lookups, rows
from store.rows import HELD_COLUMNS, LEVEL_COLUMNS, RESERVATION_COLUMNS

# Location policy when none is given: the location with the most available stock that can
# hold the whole quantity (ties: the oldest location). A lost race re-picks.
HOLD = f"""
WITH pick AS (
    SELECT location_id FROM stock_levels
    WHERE sku_id = $1 AND ($2::bigint IS NULL OR location_id = $2)
      AND stock_available(on_hand, reserved, safety_stock) >= $3
    ORDER BY stock_available(on_hand, reserved, safety_stock) DESC, location_id
    LIMIT 1
), held AS (
    UPDATE stock_levels l
    SET reserved = l.reserved + $3, version = l.version + 1, updated_at = now()
    FROM pick
    WHERE l.sku_id = $1 AND l.location_id = pick.location_id
      AND stock_available(l.on_hand, l.reserved, l.safety_stock) >= $3
    RETURNING l.{LEVEL_COLUMNS.replace(", ", ", l.")}
)
SELECT EXISTS (SELECT 1 FROM pick) AS picked, held.* FROM (VALUES (1)) one LEFT JOIN held ON true
"""

# Through a channel: the first of the candidate locations ($2, in sourcing-priority order)
# that can hold the whole quantity. A lost race re-picks.
SOURCED_HOLD = HOLD.replace(
    "($2::bigint IS NULL OR location_id = $2)", "location_id = ANY($2::bigint[])"
).replace(
    "ORDER BY stock_available(on_hand, reserved, safety_stock) DESC, location_id",
    "ORDER BY array_position($2::bigint[], location_id)",
)

INSERT_RESERVATION = f"""
INSERT INTO reservations (sku_id, location_id, quantity, expires_at, reference, owner, channel_id)
VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6, $7)
RETURNING {RESERVATION_COLUMNS}
"""

# What store.closing needs beside the row: its SKU's code and kind.
SKU_OF = """(SELECT code FROM skus WHERE id = sku_id) AS sku,
    (SELECT is_bundle FROM skus WHERE id = sku_id) AS is_bundle"""

CLOSE = f"""
UPDATE reservations SET status = $2, updated_at = now()
WHERE id = $1::uuid AND status = 'ACTIVE' AND expires_at > now()
  AND (owner IS NULL OR owner = $3 OR $4)
RETURNING {RESERVATION_COLUMNS}, {SKU_OF}
"""

NEXT_DUE = """
SELECT id FROM reservations
WHERE status = 'ACTIVE' AND expires_at <= now() AND NOT (id = ANY($1::uuid[]))
ORDER BY expires_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""

EXPIRE = f"""
UPDATE reservations SET status = 'EXPIRED', updated_at = now() WHERE id = $1
RETURNING {RESERVATION_COLUMNS}, {SKU_OF}
"""

EXTEND = f"""
UPDATE reservations SET expires_at = now() + make_interval(secs => $2), updated_at = now()
WHERE id = $1::uuid AND status = 'ACTIVE' AND expires_at > now()
  AND (owner IS NULL OR owner = $3 OR $4)
RETURNING {RESERVATION_COLUMNS}, (SELECT code FROM skus WHERE id = sku_id) AS sku, {HELD_COLUMNS}
"""


# The levels a hold may take, locked in location order before it picks: a pick that lost a race
# used to keep the row lock the guarded UPDATE's recheck took and re-pick a level of a lower id,
# out of the global order, deadlocking with split holds, carts and bundle holds.
LOCK_CANDIDATES = """
SELECT 1 FROM stock_levels
WHERE sku_id = $1 AND ($2::bigint IS NULL OR location_id = $2)
  AND ($3::bigint[] IS NULL OR location_id = ANY($3::bigint[]))
ORDER BY location_id FOR UPDATE
"""


async def _hold(
    conn: asyncpg.Connection, sku_id: int, location_id: int | None, quantity: int,
    among: Sequence[int] | None = None,
) -> rows.Record | None:
    await conn.execute(LOCK_CANDIDATES, sku_id, location_id,
                       None if among is None else list(among))
    while True:  # with the candidates locked, one round: the guard still checks the figure
        r = await (conn.fetchrow(HOLD, sku_id, location_id, quantity) if among is None
                   else conn.fetchrow(SOURCED_HOLD, sku_id, list(among), quantity))
        if r["sku_id"] is not None:
            return r
        if not r["picked"]:
            return None


async def _hold_and_record(
    conn: asyncpg.Connection,
    outcome: Outcome,
    sku_id: int,
    location_id: int | None,
    quantity: int,
    ttl: int,
    reference: str | None,
    owner: int | None,
    sourced: channels.Sourced | None = None,
) -> bool:
    among = sourced.location_ids if sourced else None
    level = await _hold(conn, sku_id, location_id, quantity, among)
    if level is None:
        return False
    r = await conn.fetchrow(
        INSERT_RESERVATION, sku_id, level["location_id"], quantity, float(ttl), reference, owner,
        sourced.channel_id if sourced else None,
    )
    event = await ledger.append(
        conn, level, StockEventKind.RESERVED, reserved_delta=quantity,
        reservation_id=r["id"], reference=reference, actor=owner,
    )
    outcome.reservations.append(rows.reservation(r, event.sku))
    outcome.level = rows.level(level, event.sku)
    outcome.events.append(event)
    return True


hold_and_record = _hold_and_record  # store.split_holds holds each planned share with it


async def reserve(
    conn: asyncpg.Connection, sku: str, location: str | None, quantity: int, ttl: int,
    reference: str | None, owner: int | None = None, channel: str | None = None,
    within: Sequence[str] | None = None,
) -> Outcome:
    """Through `channel`: only at its locations (within a location-bound key's own). A
    bundle holds every component at one location (store.bundle_holds)."""
    sku_id, is_bundle = await lookups.sku_kind(conn, sku, ["sku"])
    location_id = await lookups.location_id(conn, location, ["location"]) if location else None
    sourced = None
    if channel is not None:
        found, ids = await channels.source(conn, channel, within)
        sourced = channels.sourced(found, location_id, ids)
    outcome: Outcome | None
    if is_bundle:
        outcome = await bundle_holds.reserve_bundle(
            conn, sku_id, sku, location_id, quantity, ttl, reference, owner, sourced)
    else:
        outcome = Outcome()
        if not await _hold_and_record(
            conn, outcome, sku_id, location_id, quantity, ttl, reference, owner, sourced
        ):
            outcome = None
    if outcome is None:
        where = f" at {location}" if location else " at any one location"
        where += f" of channel {channel}" if channel and not location else ""
        raise InsufficientStock(f"fewer than {quantity} of {sku} available{where}", ["quantity"])
    return outcome


async def _not_active(
    conn: asyncpg.Connection, reservation_id: str, acting: Acting
) -> StockError:
    """Why the guarded UPDATE changed nothing; NotOwner (raised) for another key's hold, whose
    owner never changes, so the answer cannot race the UPDATE."""
    r = await conn.fetchrow(
        "SELECT status, owner FROM reservations WHERE id = $1::uuid", reservation_id
    )
    if r is None:
        return NotFound(f"unknown reservation {reservation_id}", ["reservation_id"])
    if not acting.may_change(r["owner"]):
        raise NotOwner("this reservation was made with another API key")
    status = r["status"]
    if status == "ACTIVE":
        status = "EXPIRED"
    return ReservationNotActive(f"reservation is {status}", ["reservation_id"])


async def commit(
    conn: asyncpg.Connection, reservation_id: str, reference: str | None,
    acting: Acting = ANONYMOUS,
) -> Outcome:
    r = await conn.fetchrow(CLOSE, reservation_id, "COMMITTED", acting.key_id, acting.admin)
    if r is None:
        raise await _not_active(conn, reservation_id, acting)
    return await closing.close(conn, r, StockEventKind.COMMITTED, reference)


async def release(
    conn: asyncpg.Connection, reservation_id: str, acting: Acting = ANONYMOUS
) -> Outcome:
    r = await conn.fetchrow(CLOSE, reservation_id, "RELEASED", acting.key_id, acting.admin)
    if r is None:
        raise await _not_active(conn, reservation_id, acting)
    return await closing.close(conn, r, StockEventKind.RELEASED, None)


async def expire_next(
    conn: asyncpg.Connection, skip: Sequence[str] = (), picked: list[str] | None = None
) -> Outcome:
    """Expire the reservation that ran out first and no other instance is expiring, except
    those in `skip`; its id goes to `picked` first, so a caller knows which one failed."""
    reservation_id = await conn.fetchval(NEXT_DUE, list(skip))
    if reservation_id is None:
        return Outcome()
    if picked is not None:
        picked.append(str(reservation_id))
    r = await conn.fetchrow(EXPIRE, reservation_id)
    return await closing.close(conn, r, StockEventKind.EXPIRED, None)


async def extend(
    conn: asyncpg.Connection, reservation_id: str, ttl: int, acting: Acting = ANONYMOUS
) -> Outcome:
    r = await conn.fetchrow(EXTEND, reservation_id, float(ttl), acting.key_id, acting.admin)
    if r is None:
        raise await _not_active(conn, reservation_id, acting)
    return Outcome(reservations=[rows.reservation(r, r["sku"], rows.held(r))])


async def get(conn: asyncpg.Connection, reservation_id: str) -> Reservation | None:
    r = await conn.fetchrow(
        f"""SELECT {RESERVATION_COLUMNS}, (SELECT code FROM skus WHERE id = sku_id) AS sku,
                   {HELD_COLUMNS}
            FROM reservations WHERE id = $1::uuid""",
        reservation_id,
    )
    return rows.reservation(r, r["sku"], rows.held(r)) if r is not None else None
