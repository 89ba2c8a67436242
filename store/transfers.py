"""Shipping a transfer, all or nothing: every line off available at `from` (SHIPPED) and into
incoming at `to` (a TRANSFER incoming row, INCOMING); called by service.transfers.

Lock order, as every stock change (store/reservations.py): the transfer row, then every level
touched, both ends, in (sku_id, location_id) order, then SKU rows in id order (ledger.append).
store.transfer_receipt settles what this ships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.errors import InsufficientStock, InvalidInput, InvalidQuantity, NotFound, StockError
from domain.model import AdjustmentReason, StockEventKind, TransferLine
from domain.outcome import Outcome
from domain.transfers import LineRequest, refuse
from store import ledger, lookups, rows
from store.incoming import EXPECT_LEVEL
from store.rows import LEVEL_COLUMNS, TRANSFER_COLUMNS

SKUS = "SELECT code, id, is_bundle FROM skus WHERE code = ANY($1::text[])"

INSERT_TRANSFER = f"""
INSERT INTO transfers (from_location_id, to_location_id, expected_at, reference)
VALUES ($1, $2, $3, $4)
RETURNING {TRANSFER_COLUMNS}
"""

# Every level of the given SKUs at the given locations, in the one fixed order; a level that
# does not exist yet (a first shipment to `to`) is created later by EXPECT_LEVEL.
LOCK_LEVELS = """
SELECT 1 FROM stock_levels
WHERE sku_id = ANY($1::bigint[]) AND location_id = ANY($2::bigint[])
ORDER BY sku_id, location_id
FOR UPDATE
"""

# The guarded write: only what is available (never reserved or safety stock) leaves.
TAKE = f"""
UPDATE stock_levels SET on_hand = on_hand - $3, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND stock_available(on_hand, reserved, safety_stock) >= $3
RETURNING {LEVEL_COLUMNS}
"""

INSERT_LINES = """
INSERT INTO transfer_lines (transfer_id, sku_id, position, quantity)
SELECT $1::uuid, u.sku_id, u.position - 1, u.quantity
FROM unnest($2::bigint[], $3::int[]) WITH ORDINALITY AS u(sku_id, quantity, position)
"""

INSERT_INCOMING = """
INSERT INTO incoming (sku_id, location_id, quantity, expected_at, source, transfer_id, reference)
SELECT u.sku_id, $2, u.quantity, $3, 'TRANSFER', $1::uuid, $4
FROM unnest($5::bigint[], $6::int[]) AS u(sku_id, quantity)
RETURNING id::text AS id, sku_id
"""


async def _ids(
    conn: asyncpg.Connection, from_: str, to: str, lines: Sequence[LineRequest]
) -> tuple[int, int, dict[str, int]]:
    """The ends' and the SKUs' ids; every unknown one named (NOT_FOUND), and every bundle
    (INVALID_INPUT: only plain SKUs have levels to ship from)."""
    errors: list[StockError] = []
    ends: list[int] = []
    for code, end in ((from_, "from"), (to, "to")):
        try:
            ends.append(await lookups.location_id(conn, code, [end]))
        except NotFound as error:
            errors.append(error)
    found = {r["code"]: r for r in await conn.fetch(SKUS, [line.sku for line in lines])}
    for line in lines:
        field: list[str | int] = ["lines", line.index, "sku"]
        if line.sku not in found:
            errors.append(NotFound(f"unknown SKU {line.sku!r}", field))
        elif found[line.sku]["is_bundle"]:
            errors.append(InvalidInput(
                f"{line.sku!r} is a bundle, which holds no stock of its own: ship its "
                "components", field))
    refuse(errors)
    return ends[0], ends[1], {code: r["id"] for code, r in found.items()}


async def ship(
    conn: asyncpg.Connection, from_: str, to: str, lines: Sequence[LineRequest],
    expected_at: datetime | None, reference: str | None, max_quantity: int,
) -> Outcome:
    """Ship `lines` (one per SKU) from `from_` to `to`; a short line is INSUFFICIENT_STOCK, and
    every short line is named. The incoming at `to` is expected at `expected_at`, or at the
    shipping time when it is None."""
    from_id, to_id, sku_ids = await _ids(conn, from_, to, lines)
    record = await conn.fetchrow(INSERT_TRANSFER, from_id, to_id, expected_at, reference)
    await conn.execute(LOCK_LEVELS, list(sku_ids.values()), [from_id, to_id])
    ordered = sorted(lines, key=lambda line: sku_ids[line.sku])
    taken: dict[str, rows.Record] = {}
    added: dict[str, rows.Record] = {}
    errors: list[StockError] = []
    # Every level written before the first ledger entry: no level lock after a SKU lock.
    for line in ordered:
        field: list[str | int] = ["lines", line.index, "quantity"]
        for location_id in sorted((from_id, to_id)):
            if location_id == from_id:
                level = await conn.fetchrow(TAKE, sku_ids[line.sku], from_id, line.quantity)
                if level is None:
                    errors.append(InsufficientStock(
                        f"fewer than {line.quantity} of {line.sku} available at {from_}", field
                    ))
                taken[line.sku] = level
            else:
                level = await conn.fetchrow(
                    EXPECT_LEVEL, sku_ids[line.sku], to_id, line.quantity, max_quantity
                )
                if level is None:
                    errors.append(InvalidQuantity(
                        f"{to} would expect more than {max_quantity} {line.sku}", field
                    ))
                added[line.sku] = level
    refuse(sorted(errors, key=lambda error: int(error.field[1]) if error.field else 0))
    transfer_id = record["id"]
    await conn.execute(INSERT_LINES, transfer_id, [sku_ids[line.sku] for line in lines],
                       [line.quantity for line in lines])
    incoming_ids = {r["sku_id"]: r["id"] for r in await conn.fetch(
        INSERT_INCOMING, transfer_id, to_id, expected_at or record["created_at"], reference,
        [sku_ids[line.sku] for line in lines], [line.quantity for line in lines],
    )}
    events = []
    for line in ordered:  # SKU rows in id order
        events.append(await ledger.append(
            conn, taken[line.sku], StockEventKind.SHIPPED, on_hand_delta=-line.quantity,
            reason=AdjustmentReason.TRANSFER, reference=reference, transfer_id=transfer_id,
        ))
        events.append(await ledger.append(
            conn, added[line.sku], StockEventKind.INCOMING, incoming_delta=line.quantity,
            incoming_id=incoming_ids[sku_ids[line.sku]], reference=reference,
            transfer_id=transfer_id,
        ))
    shipped = [TransferLine(line.sku, line.quantity) for line in lines]
    return Outcome(transfer=rows.transfer(record, shipped), events=events)
