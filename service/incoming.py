"""Incoming stock: expect, receive and cancel, and the reads behind the incoming query, ATP and
the overdue metric (called by resolvers.incoming, resolvers.loaders and web.ops_routes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.model import Incoming
from domain.outcome import Outcome
from ops.metrics import INCOMING_OVERDUE
from service.inventory import Inventory
from service.recording import Command
from store import incoming as store_incoming
from store import promise

log = logging.getLogger(__name__)
OVERDUE_READ_SECONDS = 1.0  # a scrape during a database outage answers with the last figures

# Each `arguments` dict is what a retry with the same idempotency key must repeat (stored
# hashed with the key): its keys never change.


async def expect(
    inventory: Inventory, *, sku: str, location: str, quantity: int, expected_at: datetime,
    reference: str | None, idempotency_key: str | None = None, idempotency_scope: str = "-",
) -> Outcome:
    """Announce stock expected at a location: counted in incoming, never in available."""
    return await inventory.mutate(
        lambda conn: store_incoming.expect(
            conn, sku, location, quantity, expected_at, reference, inventory.limits.max_quantity
        ),
        command=Command.EXPECT_INCOMING,
        arguments={"sku": sku, "location": location, "quantity": quantity,
                   "expected_at": expected_at, "reference": reference},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def receive(
    inventory: Inventory, *, incoming_id: str, quantity: int | None,
    idempotency_key: str | None = None, idempotency_scope: str = "-",
) -> Outcome:
    """Move `quantity` (default: all that is open) from incoming to on hand."""
    return await inventory.mutate(
        lambda conn: store_incoming.receive(
            conn, incoming_id, quantity, inventory.limits.max_quantity
        ),
        command=Command.RECEIVE_INCOMING,
        arguments={"incoming_id": incoming_id, "quantity": quantity},
        idempotency_key=idempotency_key,
        principal=idempotency_scope,
    )


async def cancel(inventory: Inventory, *, incoming_id: str) -> Outcome:
    """Take what is still open out of incoming; only while EXPECTED."""
    return await inventory.mutate(
        lambda conn: store_incoming.cancel(conn, incoming_id),
        command=Command.CANCEL_INCOMING,
        arguments={"incoming_id": incoming_id},
    )


async def incoming(
    pool: asyncpg.Pool, *, sku: str | None, location: str | None, status: str | None,
    limit: int,
) -> list[Incoming]:
    async with pool.acquire() as conn:
        return await promise.incoming(
            conn, sku=sku, location=location, status=status, limit=limit
        )


async def location_of(pool: asyncpg.Pool, incoming_id: str) -> str | None:
    async with pool.acquire() as conn:
        return await promise.location_of(conn, incoming_id)


async def next_restock(pool: asyncpg.Pool, sku_ids: Sequence[int]) -> dict[int, datetime]:
    async with pool.acquire() as conn:
        return await promise.next_restock(conn, sku_ids)



async def available_to_promise(
    pool: asyncpg.Pool, keys: Sequence[tuple[int, datetime, str | None]]
) -> dict[tuple[int, datetime, str | None], int]:
    """Batched for a DataLoader: one statement per (at, channel) asked."""
    groups: dict[tuple[datetime, str | None], list[int]] = {}
    for sku_id, at, channel in keys:
        groups.setdefault((at, channel), []).append(sku_id)
    found: dict[tuple[int, datetime, str | None], int] = {}
    async with pool.acquire() as conn:
        for (at, channel), sku_ids in groups.items():
            figures = await promise.available_to_promise(conn, sku_ids, at, channel)
            found.update({(sku_id, at, channel): n for sku_id, n in figures.items()})
    return found


async def observe_overdue(pool: asyncpg.Pool) -> None:
    """Set the overdue gauge; a failed read leaves the last figures (the scrape goes on)."""
    try:
        async with asyncio.timeout(OVERDUE_READ_SECONDS), pool.acquire() as conn:
            count, quantity = await promise.overdue(conn)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("reading overdue incoming stock failed: %s", error)
        return
    INCOMING_OVERDUE.labels("count").set(count)
    INCOMING_OVERDUE.labels("quantity").set(quantity)
