"""Reads, straight from the store without the unit of work (called by resolvers/ and by /readyz
in web/ops_routes.py).

The queries' pages and lookups, the batch fetchers behind the per-request DataLoaders, and the
migrations /readyz reports as pending."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.bundles import Component
from domain.model import Channel, Location, Reservation, Sku, StockEvent, StockLevel
from domain.webhooks import EndpointQueue
from store import (
    bundles,
    catalog,
    catalogue_version,
    channels,
    ledger,
    migrations,
    reservations,
    webhook_deliveries,
)
from store.catalogue_version import Token


async def sku_page(
    pool: asyncpg.Pool, *, after: str | None, limit: int, search: str | None = None,
    status: str | None = None, location: str | None = None,
) -> list[Sku]:
    """Up to `limit` SKUs ordered by code, from the one after `after`."""
    async with pool.acquire() as conn:
        return await catalog.skus_page(
            conn, after=after, limit=limit, search=search, status=status, location=location
        )


async def any_sku_up_to(
    pool: asyncpg.Pool, code: str, *, search: str | None = None, status: str | None = None,
    location: str | None = None,
) -> bool:
    """Whether `sku_page`'s filter keeps a SKU at or before `code` (hasPreviousPage)."""
    async with pool.acquire() as conn:
        return await catalog.any_sku_up_to(
            conn, code, search=search, status=status, location=location
        )


async def events_after(pool: asyncpg.Pool, sku: str, after: int, limit: int) -> list[StockEvent]:
    async with pool.acquire() as conn:
        return await ledger.events_after(conn, sku, after, limit)


async def reservation(pool: asyncpg.Pool, reservation_id: str) -> Reservation | None:
    async with pool.acquire() as conn:
        return await reservations.get(conn, reservation_id)


async def locations(pool: asyncpg.Pool) -> list[Location]:
    async with pool.acquire() as conn:
        return await catalog.all_locations(conn)


async def catalogue_token(pool: asyncpg.Pool, codes: Sequence[str]) -> Token | None:
    """What a read of these plain SKUs can only change with (None if one is a bundle)."""
    async with pool.acquire() as conn:
        return await catalogue_version.token(conn, codes)


async def skus_by_code(pool: asyncpg.Pool, codes: Sequence[str]) -> dict[str, Sku]:
    async with pool.acquire() as conn:
        return await catalog.skus_by_code(conn, codes)


async def levels_of(pool: asyncpg.Pool, sku_ids: Sequence[int]) -> dict[int, list[StockLevel]]:
    async with pool.acquire() as conn:
        return await catalog.levels_of(conn, sku_ids)


async def locations_by_id(pool: asyncpg.Pool, ids: Sequence[int]) -> dict[int, Location]:
    async with pool.acquire() as conn:
        return await catalog.locations_by_id(conn, ids)


async def locations_by_code(pool: asyncpg.Pool, codes: Sequence[str]) -> dict[str, Location]:
    async with pool.acquire() as conn:
        return await catalog.locations_by_code(conn, codes)


async def pending_migrations(pool: asyncpg.Pool) -> list[str]:
    """Migrations this code has and the database has not applied yet."""
    async with pool.acquire() as conn:
        return await migrations.pending(conn)


async def channels_by_code(pool: asyncpg.Pool, codes: Sequence[str]) -> dict[str, Channel]:
    async with pool.acquire() as conn:
        return await channels.by_codes(conn, codes)


async def channels_by_id(pool: asyncpg.Pool, ids: Sequence[int]) -> dict[int, Channel]:
    async with pool.acquire() as conn:
        return await channels.by_ids(conn, ids)


async def all_channels(pool: asyncpg.Pool) -> list[Channel]:
    async with pool.acquire() as conn:
        return await channels.every(conn)


async def components_of(
    pool: asyncpg.Pool, bundle_ids: Sequence[int]
) -> dict[int, list[Component]]:
    async with pool.acquire() as conn:
        return await bundles.components_of(conn, bundle_ids)


async def webhook_queue(pool: asyncpg.Pool, endpoint_id: int) -> EndpointQueue:
    """An endpoint's backlog, dead deliveries and last error (the console's webhooks tab)."""
    return await webhook_deliveries.queue_of(pool, endpoint_id)
