"""Incoming stock: expect, receive and cancel, each a change of a level's incoming recorded in
the ledger (INCOMING, RECEIVED); called by service.incoming."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from domain.errors import InvalidQuantity, InvalidState, NotFound
from domain.model import IncomingSource, IncomingStatus, StockEventKind
from domain.outcome import Outcome
from domain.rules import MAX_FIGURE
from store import ledger, lookups, rows
from store.rows import INCOMING_COLUMNS, LEVEL_COLUMNS

# Lock order: the incoming row, then its level, then (in ledger.append) the SKU row. Holds and
# adjustments take the level then the SKU, so no two writers wait on each other in a cycle.
EXPECT_LEVEL = f"""
INSERT INTO stock_levels (sku_id, location_id, incoming) VALUES ($1, $2, $3)
ON CONFLICT (sku_id, location_id) DO UPDATE
SET incoming = stock_levels.incoming + $3, version = stock_levels.version + 1, updated_at = now()
WHERE stock_levels.incoming::bigint + $3 <= $4
RETURNING {LEVEL_COLUMNS}
"""

INSERT_INCOMING = f"""
INSERT INTO incoming (sku_id, location_id, quantity, expected_at, reference)
VALUES ($1, $2, $3, $4, $5)
RETURNING {INCOMING_COLUMNS}
"""

LOCK_INCOMING = f"""
SELECT {INCOMING_COLUMNS}, (SELECT code FROM skus WHERE id = sku_id) AS sku
FROM incoming WHERE id = $1::uuid FOR UPDATE
"""

# `$3` moves from incoming to on hand (receive: $3 > 0, $4 = $3) or leaves incoming (cancel:
# $3 = 0, $4 = the open quantity); never past `max_quantity` on hand ($5).
SETTLE_LEVEL = f"""
UPDATE stock_levels
SET on_hand = on_hand + $3, incoming = incoming - $4, version = version + 1, updated_at = now()
WHERE sku_id = $1 AND location_id = $2 AND on_hand::bigint + $3 <= $5
RETURNING {LEVEL_COLUMNS}
"""

RECEIVE_INCOMING = f"""
UPDATE incoming
SET received = received + $2,
    status = CASE WHEN received + $2 = quantity THEN 'RECEIVED' ELSE status END,
    updated_at = now()
WHERE id = $1::uuid
RETURNING {INCOMING_COLUMNS}
"""

CANCEL_INCOMING = f"""
UPDATE incoming SET status = 'CANCELLED', updated_at = now() WHERE id = $1::uuid
RETURNING {INCOMING_COLUMNS}
"""


async def expect(
    conn: asyncpg.Connection, sku: str, location: str, quantity: int, expected_at: datetime,
    reference: str | None, max_quantity: int,
) -> Outcome:
    """Announce `quantity` of `sku` at `location` by `expected_at` (an INCOMING event)."""
    sku_id = await lookups.stocked_sku_id(conn, sku, ["sku"])
    location_id = await lookups.location_id(conn, location, ["location"])
    level = await conn.fetchrow(EXPECT_LEVEL, sku_id, location_id, quantity, max_quantity)
    if level is None:
        raise InvalidQuantity(
            f"{location} would expect more than {max_quantity} {sku}", ["quantity"]
        )
    record = await conn.fetchrow(
        INSERT_INCOMING, sku_id, location_id, quantity, expected_at, reference
    )
    event = await ledger.append(
        conn, level, StockEventKind.INCOMING, incoming_delta=quantity, incoming_id=record["id"],
        reference=reference,
    )
    return Outcome(
        level=rows.level(level, sku), events=[event], incoming=rows.incoming(record, sku)
    )


async def _open(conn: asyncpg.Connection, incoming_id: str, action: str) -> rows.Record:
    found = await conn.fetchrow(LOCK_INCOMING, incoming_id)
    if found is None:
        raise NotFound(f"unknown incoming {incoming_id!r}", ["incomingId"])
    if found["source"] == IncomingSource.TRANSFER.value:
        raise InvalidState(
            f"a transfer's incoming is settled by {action}Transfer", ["incomingId"]
        )
    if found["status"] != IncomingStatus.EXPECTED.value:
        raise InvalidState(f"the incoming is {found['status']}, not EXPECTED", ["incomingId"])
    return found


async def receive(
    conn: asyncpg.Connection, incoming_id: str, quantity: int | None, max_quantity: int
) -> Outcome:
    """Add `quantity` (default: all that is open) to on hand (a RECEIVED event); a partial
    receipt leaves the rest EXPECTED."""
    found = await _open(conn, incoming_id, "receive")
    open_quantity = found["quantity"] - found["received"]
    received = open_quantity if quantity is None else quantity
    if received > open_quantity:
        raise InvalidQuantity(
            f"only {open_quantity} of this incoming are open", ["quantity"]
        )
    level = await conn.fetchrow(
        SETTLE_LEVEL, found["sku_id"], found["location_id"], received, received, max_quantity
    )
    if level is None:
        raise InvalidQuantity(f"the level would hold more than {max_quantity}", ["quantity"])
    record = await conn.fetchrow(RECEIVE_INCOMING, incoming_id, received)
    try:
        event = await ledger.append(
            conn, level, StockEventKind.RECEIVED, on_hand_delta=received,
            incoming_delta=-received, incoming_id=incoming_id, reference=found["reference"],
        )
    except InvalidQuantity as error:
        raise error.at("quantity") from None
    sku = found["sku"]
    return Outcome(
        level=rows.level(level, sku), events=[event], incoming=rows.incoming(record, sku)
    )


async def cancel(conn: asyncpg.Connection, incoming_id: str) -> Outcome:
    """Take the open quantity out of incoming (an INCOMING event with a negative delta)."""
    found = await _open(conn, incoming_id, "cancel")
    open_quantity = found["quantity"] - found["received"]
    level = await conn.fetchrow(
        SETTLE_LEVEL, found["sku_id"], found["location_id"], 0, open_quantity, MAX_FIGURE
    )
    record = await conn.fetchrow(CANCEL_INCOMING, incoming_id)
    event = await ledger.append(
        conn, level, StockEventKind.INCOMING, incoming_delta=-open_quantity,
        incoming_id=incoming_id, reference=found["reference"],
    )
    sku = found["sku"]
    return Outcome(
        level=rows.level(level, sku), events=[event], incoming=rows.incoming(record, sku)
    )
