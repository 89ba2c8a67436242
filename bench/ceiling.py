"""Ceilings: the server's own SQL looped straight through asyncpg, without GraphQL or HTTP.

The reserve loop is the plain one-transaction-per-reservation path of store/reservations.py
(SKU lookup, guarded UPDATE of stock_levels, INSERT reservation, then store/ledger.py's
UPDATE skus.last_sequence and INSERT stock_events), in a pool created like the server's."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bench.load import Tally, closed_loop
from domain.errors import InsufficientStock
from store import catalog, database, reservations


async def _pool(url: str, size: int) -> asyncpg.Pool:
    return await database.create_pool(url, min_size=size, max_size=size)


async def reserve_loop(
    url: str, pool_size: int, clients: int, warmup: float, seconds: float,
    pick_sku: Callable[[], str], on_start: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> Tally:
    pool = await _pool(url, pool_size)

    async def call(_: int) -> str:
        try:
            async with pool.acquire() as conn, conn.transaction():
                await reservations.reserve(conn, pick_sku(), None, 1, 900, None)
        except InsufficientStock:
            return "insufficient"
        return "held"

    try:
        return await closed_loop(clients, warmup, seconds, call, on_start, on_stop)
    finally:
        await pool.close()


async def read_loop(
    url: str, pool_size: int, clients: int, warmup: float, seconds: float,
    codes: Callable[[], list[str]], on_start: Callable[[], None] = lambda: None,
    on_stop: Callable[[], None] = lambda: None,
) -> Tally:
    """What `sku`/`skusByCode` with levels and their location need: SKUs, levels, locations."""
    pool = await _pool(url, pool_size)

    async def call(_: int) -> str:
        wanted = codes()
        async with pool.acquire() as conn:
            skus = await catalog.skus_by_code(conn, wanted)
            if not skus:
                return "missing"
            ids = [sku.id for sku in skus.values()]
            levels = await catalog.levels_of(conn, ids)
            locations = {level.location_id for found in levels.values() for level in found}
            await catalog.locations_by_id(conn, sorted(locations))
        return "ok"

    try:
        return await closed_loop(clients, warmup, seconds, call, on_start, on_stop)
    finally:
        await pool.close()
