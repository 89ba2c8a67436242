"""Reads of bundles' stock, straight from the store (called by resolvers.loaders for levels,
availableToPromise and nextRestockAt, and by resolvers.bundle_feed for live figures)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.bundle_stock import BundleStock, ComponentLevel
from domain.model import StockLevel
from store import bundle_stock


async def levels_of(pool: asyncpg.Pool, bundle_ids: Sequence[int]) -> dict[int, list[StockLevel]]:
    async with pool.acquire() as conn:
        return await bundle_stock.levels_of(conn, bundle_ids)


async def stock_of(pool: asyncpg.Pool, bundle_ids: Sequence[int]) -> dict[int, BundleStock]:
    async with pool.acquire() as conn:
        return await bundle_stock.stock_of(conn, bundle_ids)


async def component_levels(
    pool: asyncpg.Pool, sku_ids: Sequence[int]
) -> tuple[tuple[ComponentLevel, ...], dict[int, int]]:
    async with pool.acquire() as conn:
        return await bundle_stock.component_levels(conn, sku_ids)
