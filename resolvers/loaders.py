"""Per-request DataLoaders: one SQL statement per batch, whatever the number of SKUs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from aiodataloader import DataLoader

from domain.model import Location, Sku, StockLevel
from store import catalog

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[dict[Any, Any]]],
    missing: Any = None,
    cache: bool = True,
) -> DataLoader[Any, Any]:
    async def batch(keys: list[Any]) -> list[Any]:
        async with pool.acquire() as conn:
            found = await fetch(conn, keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(batch, cache=cache)


class Loaders:
    def __init__(self, pool: asyncpg.Pool, *, cache: bool = True) -> None:
        self.sku: DataLoader[str, Sku | None] = _loader(
            pool, catalog.skus_by_code, cache=cache
        )
        self.levels: DataLoader[int, list[StockLevel]] = _loader(
            pool, catalog.levels_of, [], cache=cache
        )
        self.location: DataLoader[int, Location] = _loader(
            pool, catalog.locations_by_id, cache=cache
        )
        self.location_by_code: DataLoader[str, Location | None] = _loader(
            pool, catalog.locations_by_code, cache=cache
        )
