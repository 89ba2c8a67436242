"""Group commit for holds on one SKU: many reserve requests in one transaction.

All levels of the SKU are locked (in location order, like a cart), each request is allocated
in arrival order with the same location policy as a single reserve, and then each touched
level gets ONE guarded UPDATE for its total, the reservations ONE INSERT and the ledger ONE
INSERT. The guard (available >= total) still holds in the database; the allocation only
decides which request gets which units, under the row locks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from domain.errors import InsufficientStock, NotFound, StockError
from domain.model import (
    Reservation,
    ReservationStatus,
    StockEvent,
    StockEventKind,
    StockLevel,
    availability_status,
)
from domain.outcome import Outcome
from store import lookups

LOCK_LEVELS = """
SELECT l.location_id, lo.code AS location, l.on_hand, l.reserved, l.safety_stock, l.version
FROM stock_levels l JOIN locations lo ON lo.id = l.location_id
WHERE l.sku_id = $1 ORDER BY l.location_id FOR UPDATE OF l
"""
HOLD_TOTAL = """
UPDATE stock_levels SET reserved = reserved + $3, version = version + $4, updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND on_hand - reserved - safety_stock >= $3
RETURNING updated_at
"""
INSERT_RESERVATIONS = """
INSERT INTO reservations (id, sku_id, location_id, quantity, expires_at, reference)
SELECT u.id, $1, u.location_id, u.quantity, now() + make_interval(secs => u.ttl), u.reference
FROM unnest($2::uuid[], $3::bigint[], $4::int[], $5::float8[], $6::text[])
     AS u(id, location_id, quantity, ttl, reference)
RETURNING id::text AS id, expires_at, created_at
"""
NEXT_SEQUENCES = """
UPDATE skus SET last_sequence = last_sequence + $2 WHERE id = $1
RETURNING code, last_sequence, low_stock_threshold
"""
INSERT_EVENTS = """
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta,
    level_on_hand, level_reserved, level_safety, level_version,
    sku_on_hand, sku_reserved, available, status, reservation_id, reference)
SELECT $1, u.sequence, 'RESERVED', u.location_id, 0, u.quantity, u.on_hand, u.reserved,
       u.safety, u.version, $2, u.sku_reserved, u.available, u.status, u.reservation_id,
       u.reference
FROM unnest($3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[], $8::int[], $9::int[],
            $10::bigint[], $11::int[], $12::text[], $13::uuid[], $14::text[])
     AS u(sequence, location_id, quantity, on_hand, reserved, safety, version, sku_reserved,
          available, status, reservation_id, reference)
RETURNING occurred_at
"""


@dataclass(frozen=True, slots=True)
class HoldRequest:
    location: str | None
    quantity: int
    ttl: int
    reference: str | None


@dataclass(slots=True)
class _Level:
    location_id: int
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    version: int

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


@dataclass(slots=True)
class _Held:
    index: int
    request: HoldRequest
    level: _Level  # a copy, as it is after this hold
    reservation_id: uuid.UUID
    sku_reserved: int
    available: int


def _pick(levels: list[_Level], request: HoldRequest) -> _Level | None:
    fits = [lv for lv in levels if (request.location is None or lv.location == request.location)
            and lv.on_hand - lv.reserved - lv.safety_stock >= request.quantity]
    # the policy of store.reservations.HOLD: most available first, ties: the oldest location
    return min(fits, key=lambda lv: (-lv.available, lv.location_id), default=None)


async def hold_batch(
    conn: asyncpg.Connection, sku: str, requests: Sequence[HoldRequest]
) -> list[Outcome]:
    """One outcome per request, in order; the caller runs this in one transaction."""
    sku_id = await lookups.sku_id(conn, sku, ["sku"])
    known = await lookups.ids_by_code(
        conn, "locations", [r.location for r in requests if r.location]
    )
    levels = [_Level(**dict(r)) for r in await conn.fetch(LOCK_LEVELS, sku_id)]
    outcomes: list[Outcome] = [Outcome() for _ in requests]
    held: list[_Held] = []
    for index, request in enumerate(requests):
        error: StockError | None = None
        if request.location and request.location not in known:
            error = NotFound(f"unknown location {request.location!r}", ["location"])
        elif (level := _pick(levels, request)) is None:
            where = f" at {request.location}" if request.location else " at any one location"
            error = InsufficientStock(
                f"fewer than {request.quantity} of {sku} available{where}", ["quantity"]
            )
        else:
            level.reserved += request.quantity
            level.version += 1
            held.append(_Held(index, request, replace(level), uuid.uuid4(),
                              sum(lv.reserved for lv in levels),
                              sum(lv.available for lv in levels)))
        outcomes[index].error = error
    if held:
        await _write(conn, sku_id, sum(lv.on_hand for lv in levels), held, outcomes)
    return outcomes


async def _write(
    conn: asyncpg.Connection, sku_id: int, sku_on_hand: int, held: list[_Held],
    outcomes: list[Outcome],
) -> None:
    totals: dict[int, tuple[int, int]] = {}
    for h in held:
        quantity, count = totals.get(h.level.location_id, (0, 0))
        totals[h.level.location_id] = (quantity + h.request.quantity, count + 1)
    updated_at: datetime | None = None
    for location_id in sorted(totals):
        quantity, count = totals[location_id]
        updated_at = await conn.fetchval(HOLD_TOTAL, sku_id, location_id, quantity, count)
        if updated_at is None:  # the guard refused: the allocation was wrong; change nothing
            raise RuntimeError("batched hold refused by the stock guard")
    assert updated_at is not None
    inserted = await conn.fetch(
        INSERT_RESERVATIONS, sku_id, [h.reservation_id for h in held],
        [h.level.location_id for h in held], [h.request.quantity for h in held],
        [float(h.request.ttl) for h in held], [h.request.reference for h in held],
    )
    stamps = {r["id"]: r for r in inserted}
    head = await conn.fetchrow(NEXT_SEQUENCES, sku_id, len(held))
    first = head["last_sequence"] - len(held) + 1
    threshold = head["low_stock_threshold"]
    statuses = [availability_status(h.available, threshold).value for h in held]
    occurred = await conn.fetch(
        INSERT_EVENTS, sku_id, sku_on_hand, list(range(first, first + len(held))),
        [h.level.location_id for h in held], [h.request.quantity for h in held],
        [h.level.on_hand for h in held], [h.level.reserved for h in held],
        [h.level.safety_stock for h in held], [h.level.version for h in held],
        [h.sku_reserved for h in held], [h.available for h in held], statuses,
        [h.reservation_id for h in held], [h.request.reference for h in held],
    )
    occurred_at = occurred[0]["occurred_at"]
    for offset, h in enumerate(held):
        stamp = stamps[str(h.reservation_id)]
        level = StockLevel(head["code"], h.level.location_id, h.level.on_hand, h.level.reserved,
                           h.level.safety_stock, h.level.version, updated_at)
        outcome = outcomes[h.index]
        outcome.level = level
        outcome.reservations = [Reservation(
            str(h.reservation_id), head["code"], h.level.location_id, h.request.quantity,
            ReservationStatus.ACTIVE, stamp["expires_at"], h.request.reference,
            stamp["created_at"],
        )]
        outcome.events = [StockEvent(
            head["code"], first + offset, StockEventKind.RESERVED, h.level.location_id,
            h.level.location, 0, h.request.quantity, level, sku_on_hand, h.sku_reserved,
            h.available, availability_status(h.available, threshold), None,
            str(h.reservation_id), h.request.reference, occurred_at,
        )]
