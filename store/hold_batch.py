"""Group commit for holds: many reserve requests, of one SKU or many, in one transaction
(called by service.batching).

All levels of the batch's SKUs are locked in (sku, location) order, as carts lock them, each
request is allocated in arrival order with the same location policy as a single reserve, and
then ONE statement sets every touched level to its total (guarded), writes the reservations
and hands out each SKU's sequence numbers (the SKU rows last and in id order, like every
writer), and ONE INSERT writes the ledger with SKU-wide figures read under those locks: the
same number of statements for one request or for 256 over 200 SKUs (with the one that looks
up the codes and locks the levels, three; BEGIN and COMMIT besides). The
guard (available >= total) still holds in the database; the allocation only decides which
request gets which units, under the row locks. A bundle's request is left out (its outcome is
None): its holds span several SKUs' levels, which store.bundle_holds takes alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import asyncpg

from domain.errors import InsufficientStock, NotFound
from domain.model import (
    AvailabilityStatus,
    Reservation,
    ReservationStatus,
    StockEvent,
    StockEventKind,
    StockLevel,
    available_quantity,
)
from domain.outcome import Outcome

# ONE statement for the batch's lookups and locks: its SKUs ('k': id and kind), its named
# locations ('p') and the levels of its plain SKUs ('l'), locked in (sku, location) order.
LOOK_UP_AND_LOCK = """
WITH kinds AS MATERIALIZED (
  SELECT code, id, is_bundle FROM skus WHERE code = ANY($1::text[])
), locked AS (
  SELECT l.sku_id, l.location_id, lo.code AS location, l.on_hand, l.reserved, l.safety_stock,
         l.version, l.incoming
  FROM stock_levels l JOIN locations lo ON lo.id = l.location_id
  WHERE l.sku_id = ANY(ARRAY(SELECT id FROM kinds WHERE NOT is_bundle))  -- by the index
  ORDER BY l.sku_id, l.location_id FOR UPDATE OF l
)
SELECT 'k' AS part, code, id, is_bundle, NULL::bigint AS location_id, NULL::text AS location,
       NULL::int AS on_hand, NULL::int AS reserved, NULL::int AS safety_stock,
       NULL::bigint AS version, NULL::int AS incoming FROM kinds
UNION ALL
SELECT 'p', code, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM locations WHERE code = ANY($2::text[])
UNION ALL
SELECT 'l', NULL, sku_id, NULL, location_id, location, on_hand, reserved, safety_stock, version,
       incoming FROM locked
"""
# The SKU rows last and in id order, like every other writer (see store/ledger.py); also used
# by store/bulk_levels.py. WRITE_HOLDS takes the numbers the same way.
NEXT_SEQUENCES = """
WITH locked AS (SELECT id FROM skus WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE)
UPDATE skus s SET last_sequence = s.last_sequence + u.n
FROM locked JOIN unnest($1::bigint[], $2::int[]) AS u(id, n) ON u.id = locked.id
WHERE s.id = locked.id
RETURNING s.id, s.code, s.last_sequence
"""
# ONE statement for the batch's writes before its ledger: the guarded level totals (their rows
# locked by LOOK_UP_AND_LOCK already), the reservations, and the SKUs' sequence numbers (the SKU
# rows locked last and in id order, like every other writer, see store/ledger.py). Its rows:
# 't' per level updated, 'r' per reservation, 's' per SKU.
WRITE_HOLDS = """
WITH totals AS (
  UPDATE stock_levels l
  SET reserved = l.reserved + u.quantity, version = l.version + u.count, updated_at = now()
  FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::int[])
       AS u(sku_id, location_id, quantity, count)
  WHERE l.sku_id = u.sku_id AND l.location_id = u.location_id
    AND stock_available(l.on_hand, l.reserved, l.safety_stock) >= u.quantity
  RETURNING l.updated_at
), held AS (
  INSERT INTO reservations (id, sku_id, location_id, quantity, expires_at, reference, owner)
  SELECT u.id, u.sku_id, u.location_id, u.quantity, now() + make_interval(secs => u.ttl),
         u.reference, u.owner
  FROM unnest($5::uuid[], $6::bigint[], $7::bigint[], $8::int[], $9::float8[], $10::text[],
              $11::bigint[])
       AS u(id, sku_id, location_id, quantity, ttl, reference, owner)
  RETURNING id::text AS id, expires_at, created_at
), locked AS (
  SELECT id FROM skus WHERE id = ANY($12::bigint[]) ORDER BY id FOR UPDATE
), heads AS (
  UPDATE skus s SET last_sequence = s.last_sequence + u.n
  FROM locked JOIN unnest($12::bigint[], $13::int[]) AS u(id, n) ON u.id = locked.id
  WHERE s.id = locked.id
  RETURNING s.id, s.code, s.last_sequence
)
SELECT 't' AS part, NULL AS id, updated_at AS at, NULL::timestamptz AS created_at,
       NULL::bigint AS sku_id, NULL AS code, NULL::bigint AS last_sequence FROM totals
UNION ALL
SELECT 'r', id, expires_at, created_at, NULL, NULL, NULL FROM held
UNION ALL
SELECT 's', NULL, NULL, NULL, id, code, last_sequence FROM heads
"""
# A separate statement from WRITE_HOLDS, as in store/ledger.py: its snapshot is taken after
# every SKU lock was granted, so the SKU totals count each change sequenced before the batch,
# even at a level created after LOOK_UP_AND_LOCK ran. The totals hold all of the batch's holds; each
# entry takes back what the SKU's later ones reserved and gives back the availability they used.
INSERT_EVENTS = """
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta,
    level_on_hand, level_reserved, level_safety, level_version,
    sku_on_hand, sku_reserved, available, status, reservation_id, reference, actor)
SELECT u.sku_id, u.sequence, 'RESERVED', u.location_id, 0, u.quantity, u.on_hand, u.reserved,
       u.safety, u.version, t.on_hand, t.reserved - u.reserved_later,
       t.available + u.available_later,
       stock_status(t.available + u.available_later, s.low_stock_threshold),
       u.reservation_id, u.reference, u.actor
FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::int[], $5::int[], $6::int[],
            $7::int[], $8::int[], $9::bigint[], $10::int[], $11::uuid[], $12::text[],
            $14::bigint[])
     AS u(sku_id, sequence, location_id, quantity, on_hand, reserved, safety, version,
          reserved_later, available_later, reservation_id, reference, actor)
JOIN skus s ON s.id = u.sku_id
JOIN (SELECT sku_id, sum(on_hand) AS on_hand, sum(reserved) AS reserved,
             sum(stock_available(on_hand, reserved, safety_stock))::int AS available
      FROM stock_levels WHERE sku_id = ANY($13::bigint[]) GROUP BY sku_id) t
  ON t.sku_id = u.sku_id
RETURNING sku_id, sequence, sku_on_hand, sku_reserved, available, status, occurred_at
"""


@dataclass(frozen=True, slots=True)
class HoldRequest:
    location: str | None
    quantity: int
    ttl: int
    reference: str | None
    owner: int | None = None  # the key making it (domain.ownership)


@dataclass(slots=True)
class _Level:
    location_id: int
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    version: int
    incoming: int = 0

    @property
    def available(self) -> int:
        return available_quantity(self.on_hand, self.reserved, self.safety_stock)


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
            and lv.available >= request.quantity]
    # the policy of store.reservations.HOLD: most available first, ties: the oldest location
    return min(fits, key=lambda lv: (-lv.available, lv.location_id), default=None)


async def hold_many(
    conn: asyncpg.Connection, requests: Sequence[tuple[str, HoldRequest]]
) -> list[Outcome | None]:
    """One outcome per (SKU code, request), in order, over any number of SKUs, with a fixed
    number of statements; the caller runs this in one transaction. Each SKU's requests are
    allocated in arrival order exactly as single reserves arriving in that order would be.
    None for a bundle's request: not held here, nothing changed for it."""
    outcomes: list[Outcome] = [Outcome() for _ in requests]
    named = {r.location for _, r in requests if r.location}
    rows = await conn.fetch(LOOK_UP_AND_LOCK, list({sku for sku, _ in requests}), list(named))
    kinds = {r["code"]: (r["id"], r["is_bundle"]) for r in rows if r["part"] == "k"}
    known = {r["code"]: r["id"] for r in rows if r["part"] == "p"}
    sku_ids = {code: sku_id for code, (sku_id, is_bundle) in kinds.items() if not is_bundle}
    bundles = kinds.keys() - sku_ids.keys()
    by_sku: dict[int, list[int]] = {}
    for index, (sku, request) in enumerate(requests):
        if sku in bundles:
            continue
        if sku not in sku_ids:
            outcomes[index].error = NotFound(f"unknown SKU {sku!r}", ["sku"])
        elif request.location and request.location not in known:
            outcomes[index].error = NotFound(f"unknown location {request.location!r}",
                                             ["location"])
        else:
            by_sku.setdefault(sku_ids[sku], []).append(index)
    if by_sku:
        await _hold(conn, requests, by_sku, [r for r in rows if r["part"] == "l"], outcomes)
    return [None if sku in bundles else outcome
            for (sku, _), outcome in zip(requests, outcomes, strict=True)]


async def _hold(
    conn: asyncpg.Connection, requests: Sequence[tuple[str, HoldRequest]],
    by_sku: dict[int, list[int]], locked: list[asyncpg.Record], outcomes: list[Outcome],
) -> None:
    levels: dict[int, list[_Level]] = {sku_id: [] for sku_id in by_sku}
    for r in locked:
        if r["id"] in levels:
            levels[r["id"]].append(_Level(
                r["location_id"], r["location"], r["on_hand"], r["reserved"],
                r["safety_stock"], r["version"], r["incoming"]))
    held: dict[int, list[_Held]] = {}
    for sku_id, indexes in by_sku.items():
        mine = levels[sku_id]
        for index in indexes:
            sku, request = requests[index]
            level = _pick(mine, request)
            if level is None:
                where = f" at {request.location}" if request.location else " at any one location"
                outcomes[index].error = InsufficientStock(
                    f"fewer than {request.quantity} of {sku} available{where}", ["quantity"])
                continue
            level.reserved += request.quantity
            level.version += 1
            held.setdefault(sku_id, []).append(_Held(
                index, request, replace(level), uuid.uuid4(),
                sum(lv.reserved for lv in mine), sum(lv.available for lv in mine)))
    if held:
        await _write(conn, levels, held, outcomes)


async def _write(
    conn: asyncpg.Connection, levels: dict[int, list[_Level]], held: dict[int, list[_Held]],
    outcomes: list[Outcome],
) -> None:
    totals: dict[tuple[int, int], tuple[int, int]] = {}
    for sku_id, hs in held.items():
        for h in hs:
            quantity, count = totals.get((sku_id, h.level.location_id), (0, 0))
            totals[sku_id, h.level.location_id] = (quantity + h.request.quantity, count + 1)
    keys = sorted(totals)
    flat = [(sku_id, h) for sku_id in sorted(held) for h in held[sku_id]]
    skus = sorted(held)
    written = await conn.fetch(
        WRITE_HOLDS, [k[0] for k in keys], [k[1] for k in keys],
        [totals[k][0] for k in keys], [totals[k][1] for k in keys],
        [h.reservation_id for _, h in flat], [s for s, _ in flat],
        [h.level.location_id for _, h in flat], [h.request.quantity for _, h in flat],
        [float(h.request.ttl) for _, h in flat], [h.request.reference for _, h in flat],
        [h.request.owner for _, h in flat], skus, [len(held[s]) for s in skus],
    )
    updated = [r["at"] for r in written if r["part"] == "t"]
    if len(updated) != len(keys):  # the guard refused: the allocation was wrong; change nothing
        raise RuntimeError("batched hold refused by the stock guard")
    updated_at = updated[0]  # now(): the same for the whole transaction
    stamps = {r["id"]: r for r in written if r["part"] == "r"}
    heads = {r["sku_id"]: r for r in written if r["part"] == "s"}
    sequences: list[int] = []
    reserved_later: list[int] = []
    available_later: list[int] = []
    for sku_id in skus:
        first = heads[sku_id]["last_sequence"] - len(held[sku_id]) + 1
        sequences += range(first, first + len(held[sku_id]))
        reserved = sum(lv.reserved for lv in levels[sku_id])
        available = sum(lv.available for lv in levels[sku_id])
        reserved_later += [reserved - h.sku_reserved for h in held[sku_id]]
        available_later += [h.available - available for h in held[sku_id]]
    entries = {(r["sku_id"], r["sequence"]): r for r in await conn.fetch(
        INSERT_EVENTS, [s for s, _ in flat], sequences,
        [h.level.location_id for _, h in flat], [h.request.quantity for _, h in flat],
        [h.level.on_hand for _, h in flat], [h.level.reserved for _, h in flat],
        [h.level.safety_stock for _, h in flat], [h.level.version for _, h in flat],
        reserved_later, available_later,
        [h.reservation_id for _, h in flat], [h.request.reference for _, h in flat], skus,
        [h.request.owner for _, h in flat],
    )}
    for (sku_id, h), sequence in zip(flat, sequences, strict=True):
        code = heads[sku_id]["code"]
        stamp = stamps[str(h.reservation_id)]
        entry = entries[sku_id, sequence]
        level = StockLevel(code, h.level.location_id, h.level.on_hand, h.level.reserved,
                           h.level.safety_stock, h.level.version, updated_at,
                           h.level.incoming)
        outcome = outcomes[h.index]
        outcome.level = level
        outcome.reservations = [Reservation(
            str(h.reservation_id), code, h.level.location_id, h.request.quantity,
            ReservationStatus.ACTIVE, stamp["at"], h.request.reference,
            stamp["created_at"], h.request.owner,
        )]
        outcome.events = [StockEvent(
            code, sequence, StockEventKind.RESERVED, h.level.location_id, h.level.location, 0,
            h.request.quantity, level, entry["sku_on_hand"], entry["sku_reserved"],
            entry["available"], AvailabilityStatus(entry["status"]), None,
            str(h.reservation_id), h.request.reference, entry["occurred_at"], h.request.owner,
        )]
