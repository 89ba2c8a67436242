"""Settling a transfer in transit: receive it at `to` (RECEIVED for what arrived, INCOMING for
what did not) or cancel it (ADJUSTED back at `from`); called by service.transfers.

Lock order as in store.transfers: the transfer row first (FOR UPDATE), then the levels in
(sku_id, location_id) order, then SKU rows in id order (ledger.append)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.errors import InvalidQuantity, InvalidState, NotFound
from domain.model import AdjustmentReason, StockEvent, StockEventKind, TransferLine
from domain.outcome import Outcome
from domain.rules import MAX_FIGURE
from domain.transfers import LineRequest, received_per_sku
from store import ledger, rows
from store.incoming import SETTLE_LEVEL
from store.rows import TRANSFER_COLUMNS
from store.transfers import LOCK_LEVELS

LOCK_TRANSFER = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1::uuid FOR UPDATE"

LINES = """
SELECT l.sku_id, s.code AS sku, l.quantity, l.received, i.id::text AS incoming_id
FROM transfer_lines l
JOIN skus s ON s.id = l.sku_id
JOIN incoming i ON i.transfer_id = l.transfer_id AND i.sku_id = l.sku_id
WHERE l.transfer_id = $1::uuid
ORDER BY l.position
"""

CLOSE_INCOMING = """
UPDATE incoming i SET status = $2, received = u.received, updated_at = now()
FROM unnest($3::uuid[], $4::int[]) AS u(id, received)
WHERE i.id = u.id AND i.transfer_id = $1::uuid
"""

SET_RECEIVED = """
UPDATE transfer_lines l SET received = u.received
FROM unnest($2::bigint[], $3::int[]) AS u(sku_id, received)
WHERE l.transfer_id = $1::uuid AND l.sku_id = u.sku_id
"""

CLOSE_TRANSFER = f"""
UPDATE transfers SET status = $2, updated_at = now() WHERE id = $1::uuid
RETURNING {TRANSFER_COLUMNS}
"""


async def _in_transit(
    conn: asyncpg.Connection, transfer_id: str
) -> tuple[rows.Record, list[rows.Record]]:
    """The transfer, locked, and its lines in shipping order; only while IN_TRANSIT."""
    found = await conn.fetchrow(LOCK_TRANSFER, transfer_id)
    if found is None:
        raise NotFound(f"unknown transfer {transfer_id}", ["transferId"])
    if found["status"] != "IN_TRANSIT":
        raise InvalidState(f"the transfer is {found['status']}, not IN_TRANSIT", ["transferId"])
    return found, list(await conn.fetch(LINES, transfer_id))


async def _closed(
    conn: asyncpg.Connection, found: rows.Record, lines: Sequence[rows.Record], status: str,
    received: dict[str, int],
) -> rows.Record:
    transfer_id = found["id"]
    # a transfer closes RECEIVED or CANCELLED, and its incoming the same
    await conn.execute(CLOSE_INCOMING, transfer_id, status,
                       [line["incoming_id"] for line in lines],
                       [received[line["sku"]] for line in lines])
    await conn.execute(SET_RECEIVED, transfer_id, [line["sku_id"] for line in lines],
                       [received[line["sku"]] for line in lines])
    return await conn.fetchrow(CLOSE_TRANSFER, transfer_id, status)


def _outcome(
    record: rows.Record, lines: Sequence[rows.Record], received: dict[str, int],
    events: list[StockEvent],
) -> Outcome:
    settled = [TransferLine(line["sku"], line["quantity"], received[line["sku"]])
               for line in lines]
    return Outcome(transfer=rows.transfer(record, settled), events=events)


async def receive(
    conn: asyncpg.Connection, transfer_id: str, receipt: Sequence[LineRequest] | None,
    max_quantity: int,
) -> Outcome:
    """What arrived (`receipt`; None: every line in full) goes to on hand at `to`; the rest
    leaves incoming there and stays on its line as the loss in transit."""
    found, lines = await _in_transit(conn, transfer_id)
    received = received_per_sku(
        [TransferLine(line["sku"], line["quantity"]) for line in lines], receipt
    )
    fields: dict[str, list[str | int]] = {
        line.sku: ["lines", line.index, "quantity"] for line in receipt or ()
    }
    to_id = found["to_location_id"]
    await conn.execute(LOCK_LEVELS, [line["sku_id"] for line in lines], [to_id])
    events: list[StockEvent] = []
    for line in sorted(lines, key=lambda line: line["sku_id"]):
        arrived, lost = received[line["sku"]], line["quantity"] - received[line["sku"]]
        field: list[str | int] = fields.get(line["sku"], ["transferId"])
        common = {"incoming_id": line["incoming_id"], "reference": found["reference"],
                  "transfer_id": found["id"]}
        if arrived > 0:
            level = await conn.fetchrow(
                SETTLE_LEVEL, line["sku_id"], to_id, arrived, arrived, max_quantity
            )
            if level is None:
                raise InvalidQuantity(
                    f"the level of {line['sku']} would hold more than {max_quantity}", field
                )
            try:
                events.append(await ledger.append(
                    conn, level, StockEventKind.RECEIVED, on_hand_delta=arrived,
                    incoming_delta=-arrived, reason=AdjustmentReason.TRANSFER, **common,
                ))
            except InvalidQuantity as error:
                raise error.at(*field) from None
        if lost > 0:
            level = await conn.fetchrow(SETTLE_LEVEL, line["sku_id"], to_id, 0, lost, MAX_FIGURE)
            events.append(await ledger.append(
                conn, level, StockEventKind.INCOMING, incoming_delta=-lost, **common
            ))
    record = await _closed(conn, found, lines, "RECEIVED", received)
    return _outcome(record, lines, received, events)


async def cancel(conn: asyncpg.Connection, transfer_id: str, max_quantity: int) -> Outcome:
    """The stock goes back to on hand at `from` and leaves incoming at `to`."""
    found, lines = await _in_transit(conn, transfer_id)
    from_id, to_id = found["from_location_id"], found["to_location_id"]
    await conn.execute(LOCK_LEVELS, [line["sku_id"] for line in lines], [from_id, to_id])
    events: list[StockEvent] = []
    for line in sorted(lines, key=lambda line: line["sku_id"]):
        quantity = line["quantity"]
        back = await conn.fetchrow(SETTLE_LEVEL, line["sku_id"], from_id, quantity, 0,
                                   max_quantity)
        if back is None:
            raise InvalidQuantity(
                f"the level of {line['sku']} it left would hold more than {max_quantity}",
                ["transferId"],
            )
        try:
            events.append(await ledger.append(
                conn, back, StockEventKind.ADJUSTED, on_hand_delta=quantity,
                reason=AdjustmentReason.TRANSFER, reference=found["reference"],
                transfer_id=found["id"],
            ))
        except InvalidQuantity as error:
            raise error.at("transferId") from None
        gone = await conn.fetchrow(SETTLE_LEVEL, line["sku_id"], to_id, 0, quantity, MAX_FIGURE)
        events.append(await ledger.append(
            conn, gone, StockEventKind.INCOMING, incoming_delta=-quantity,
            incoming_id=line["incoming_id"], reference=found["reference"],
            transfer_id=found["id"],
        ))
    nothing = dict.fromkeys((line["sku"] for line in lines), 0)
    record = await _closed(conn, found, lines, "CANCELLED", nothing)
    return _outcome(record, lines, nothing, events)
