"""Transfers between locations: ship, receive and cancel, each one transaction of the unit of
work, and the reads behind the transfer and transfers queries (called by resolvers.transfers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.errors import StockError
from domain.model import Transfer
from domain.outcome import Outcome
from domain.transfers import check_ends, merge_transfer_lines
from service.inventory import Inventory
from service.recording import Command
from store import transfer_reads, transfer_receipt, transfers

# Each `arguments` dict is what a retry with the same idempotency key must repeat (stored
# hashed with the key): its keys never change.


async def ship(
    inventory: Inventory, *, from_: str, to: str, lines: Sequence[tuple[str, int]],
    expected_at: datetime | None, reference: str | None, idempotency_key: str | None = None,
    idempotency_scope: str = "-",
) -> Outcome:
    """Take every line off available at `from_` and make it incoming at `to`, or nothing."""
    try:
        check_ends(from_, to)
        merged = merge_transfer_lines(lines, inventory.limits)
    except StockError as error:
        return Outcome(error=error)
    return await inventory.mutate(
        lambda conn: transfers.ship(
            conn, from_, to, merged, expected_at, reference, inventory.limits.max_quantity
        ),
        command=Command.SHIP_TRANSFER,
        arguments={"from": from_, "to": to, "lines": [list(line) for line in lines],
                   "expected_at": expected_at, "reference": reference},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def receive(
    inventory: Inventory, *, transfer_id: str, lines: Sequence[tuple[str, int]] | None,
    idempotency_key: str | None = None, idempotency_scope: str = "-",
) -> Outcome:
    """Close the transfer at `to`: what arrived (None: every line in full) to on hand."""
    try:
        receipt = None if lines is None else merge_transfer_lines(
            lines, inventory.limits, receipt=True
        )
    except StockError as error:
        return Outcome(error=error)
    return await inventory.mutate(
        lambda conn: transfer_receipt.receive(
            conn, transfer_id, receipt, inventory.limits.max_quantity
        ),
        command=Command.RECEIVE_TRANSFER,
        arguments={"transfer_id": transfer_id,
                   "lines": None if lines is None else [list(line) for line in lines]},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def cancel(inventory: Inventory, *, transfer_id: str) -> Outcome:
    """Send the stock back to on hand at `from`; only while IN_TRANSIT."""
    return await inventory.mutate(
        lambda conn: transfer_receipt.cancel(conn, transfer_id, inventory.limits.max_quantity),
        command=Command.CANCEL_TRANSFER,
        arguments={"transfer_id": transfer_id},
    )


async def transfer(pool: asyncpg.Pool, transfer_id: str) -> Transfer | None:
    async with pool.acquire() as conn:
        return await transfer_reads.get(conn, transfer_id)


async def transfer_page(
    pool: asyncpg.Pool, *, status: str | None, location: str | None, limit: int
) -> list[Transfer]:
    async with pool.acquire() as conn:
        return await transfer_reads.page(conn, status=status, location=location, limit=limit)


async def ends(pool: asyncpg.Pool, transfer_id: str) -> tuple[str, str] | None:
    """(from, to) location codes of a transfer, None if there is none with this id."""
    async with pool.acquire() as conn:
        return await transfer_reads.ends(conn, transfer_id)
