"""Counting stock in: adjustments and absolute sets of one level, never past `max_quantity` nor
past what the SKU's totals can hold (called by service.stocking)."""

from __future__ import annotations

import asyncpg

from domain.errors import InsufficientStock, InvalidQuantity, VersionConflict
from domain.model import AdjustmentReason, StockEventKind
from domain.outcome import Outcome
from store import ledger, lookups, rows
from store.rows import LEVEL_COLUMNS

ADD = f"""
INSERT INTO stock_levels (sku_id, location_id, on_hand) VALUES ($1, $2, $3)
ON CONFLICT (sku_id, location_id) DO UPDATE
SET on_hand = stock_levels.on_hand + $3, version = stock_levels.version + 1, updated_at = now()
WHERE stock_levels.on_hand::bigint + $3 <= $4
RETURNING {LEVEL_COLUMNS}
"""

REMOVE = f"""
UPDATE stock_levels SET on_hand = on_hand + $3, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND on_hand + $3 >= reserved
RETURNING {LEVEL_COLUMNS}
"""

LOCK = f"""
SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE sku_id = $1 AND location_id = $2 FOR UPDATE
"""

CREATE = f"""
INSERT INTO stock_levels (sku_id, location_id, on_hand, safety_stock)
VALUES ($1, $2, $3, coalesce($4, 0))
ON CONFLICT (sku_id, location_id) DO NOTHING
RETURNING {LEVEL_COLUMNS}
"""

SET = f"""
UPDATE stock_levels
SET on_hand = $3, safety_stock = coalesce($4, safety_stock), version = version + 1,
    updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND ($5::int IS NULL OR version = $5) AND $3 >= reserved
RETURNING {LEVEL_COLUMNS}
"""


async def adjust(
    conn: asyncpg.Connection, sku: str, location: str, delta: int, reason: AdjustmentReason,
    reference: str | None, max_quantity: int,
) -> Outcome:
    """Add `delta` to on_hand: a level never ends above `max_quantity` (INVALID_QUANTITY)
    nor below what is reserved (INSUFFICIENT_STOCK)."""
    sku_id = await lookups.stocked_sku_id(conn, sku, ["sku"])
    location_id = await lookups.location_id(conn, location, ["location"])
    if delta > 0:
        level = await conn.fetchrow(ADD, sku_id, location_id, delta, max_quantity)
        if level is None:
            raise InvalidQuantity(
                f"{location} would hold more than {max_quantity} {sku}", ["delta"]
            )
    else:
        level = await conn.fetchrow(REMOVE, sku_id, location_id, delta)
        if level is None:
            raise InsufficientStock(
                f"{location} holds fewer than {-delta} unreserved {sku}", ["delta"]
            )
    try:
        event = await ledger.append(
            conn, level, StockEventKind.ADJUSTED, on_hand_delta=delta, reason=reason,
            reference=reference,
        )
    except InvalidQuantity as error:
        raise error.at("delta") from None
    return Outcome(level=rows.level(level, sku), events=[event])


async def set_stock(
    conn: asyncpg.Connection, sku: str, location: str, on_hand: int, safety_stock: int | None,
    expected_version: int | None, reference: str | None,
) -> Outcome:
    sku_id = await lookups.stocked_sku_id(conn, sku, ["sku"])
    location_id = await lookups.location_id(conn, location, ["location"])
    while True:
        current = await conn.fetchrow(LOCK, sku_id, location_id)
        if current is not None:
            break
        if expected_version not in (None, 0):
            raise VersionConflict(f"{sku} has no level at {location} yet", ["expected_version"])
        level = await conn.fetchrow(CREATE, sku_id, location_id, on_hand, safety_stock)
        if level is not None:
            return await _recorded(conn, level, sku, on_hand, reference)
    if expected_version is not None and current["version"] != expected_version:
        raise VersionConflict(
            f"level is at version {current['version']}, not {expected_version}",
            ["expected_version"],
        )
    if on_hand < current["reserved"]:
        raise InsufficientStock(
            f"{current['reserved']} are reserved; on_hand cannot go below that", ["on_hand"]
        )
    level = await conn.fetchrow(
        SET, sku_id, location_id, on_hand, safety_stock, expected_version
    )
    return await _recorded(conn, level, sku, on_hand - current["on_hand"], reference)


async def _recorded(
    conn: asyncpg.Connection, level: rows.Record, sku: str, delta: int, reference: str | None
) -> Outcome:
    try:
        event = await ledger.append(
            conn, level, StockEventKind.SET, on_hand_delta=delta, reference=reference
        )
    except InvalidQuantity as error:
        raise error.at("on_hand") from None
    return Outcome(level=rows.level(level, sku), events=[event])
