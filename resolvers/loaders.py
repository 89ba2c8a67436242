"""Per-request DataLoaders over service.views: one SQL statement per batch, whatever the number
of SKUs (made by resolvers.context, used by resolvers and schema.types).

With the instance's read model (feed/read_model.py) the SKUs, their levels and locations it
answers need no SQL; the SKUs it missed are handed to it to keep."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from aiodataloader import DataLoader

from domain.bundle_stock import BundleStock
from domain.bundles import Component
from domain.model import Channel, Location, Sku, StockLevel
from feed.read_model import ReadModel
from ops.metrics import READ_MODEL_READS
from service import bundle_views, incoming, views

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Pool, Sequence[Any]], Awaitable[dict[Any, Any]]],
    missing: Any = None,
    cache: bool = True,
) -> DataLoader[Any, Any]:
    async def batch(keys: list[Any]) -> list[Any]:
        found = await fetch(pool, keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(batch, cache=cache)


def _read_model_loader(
    pool: asyncpg.Pool,
    fetch: Callable[[asyncpg.Pool, Sequence[Any]], Awaitable[dict[Any, Any]]],
    kept: Callable[[Any], Any], missing: Any = None, cache: bool = True,
    keep: Callable[[dict[Any, Any]], None] | None = None,
    settle: Callable[[list[Any]], Awaitable[None]] | None = None,
    own: tuple[asyncpg.Pool, Callable[[Any], bool]] | None = None,
) -> DataLoader[Any, Any]:
    """A loader asking `kept` (the read model; None: a miss) before fetching the misses;
    `settle` first lets the model catch up with this instance's own commits (a bounded wait).
    With `own` (the primary, and which keys the model missed for being older than this
    instance's commit), those are read from the primary, not from `pool` (a replica)."""

    async def batch(keys: list[Any]) -> list[Any]:
        if settle is not None:
            await settle(keys)
        hits = [kept(key) for key in keys]
        misses = [key for key, hit in zip(keys, hits, strict=True) if hit is None]
        found = await _fetch(pool, fetch, misses, own) if misses else {}
        if keep is not None:
            READ_MODEL_READS.labels("hit").inc(len(keys) - len(misses))
            READ_MODEL_READS.labels("miss").inc(len(misses))
            if found:
                keep(found)
        return [found.get(key, missing) if hit is None else hit
                for key, hit in zip(keys, hits, strict=True)]

    return DataLoader(batch, cache=cache)


async def _fetch(
    pool: asyncpg.Pool, fetch: Callable[[asyncpg.Pool, Sequence[Any]], Awaitable[dict[Any, Any]]],
    keys: list[Any], own: tuple[asyncpg.Pool, Callable[[Any], bool]] | None,
) -> dict[Any, Any]:
    if own is None:
        return await fetch(pool, keys)
    primary, behind = own
    mine = [key for key in keys if behind(key)]
    if not mine:
        return await fetch(pool, keys)
    rest = [key for key in keys if not behind(key)]
    found = await fetch(primary, mine)
    if rest:
        found.update(await fetch(pool, rest))
    return found


class Loaders:
    """Made on first use: a WebSocket context lives as long as its socket, and most sockets
    never resolve a field that needs one, and idle DataLoaders cost memory per subscriber."""

    def __init__(
        self, pool: asyncpg.Pool, *, cache: bool = True, model: ReadModel | None = None,
        primary: asyncpg.Pool | None = None,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self.model = model
        # where the model's misses for this instance's own commits go when `pool` may lag
        self._primary = primary if primary is not None and primary is not pool else None

    def clear(self) -> None:
        """Forgets every value the loaders made so far. graphql-core's execution context is a
        reference cycle holding the request's context, so what the loaders cached would
        otherwise live until the next full garbage collection (ops/gc_pacing.py: minutes)."""
        for name, value in list(vars(self).items()):
            if isinstance(value, DataLoader):
                value.clear_all()
                del self.__dict__[name]

    @functools.cached_property
    def sku(self) -> DataLoader[str, Sku | None]:
        if self.model is None:
            return _loader(self._pool, views.skus_by_code, cache=self._cache)
        model = self.model
        own = None if self._primary is None else (self._primary, model.behind)
        return _read_model_loader(self._pool, views.skus_by_code, model.sku, cache=self._cache,
                                  keep=lambda found: model.want(found.values()),
                                  settle=model.settle, own=own)

    @functools.cached_property
    def levels(self) -> DataLoader[int, list[StockLevel]]:
        if self.model is None:
            return _loader(self._pool, views.levels_of, [], cache=self._cache)
        own = None if self._primary is None else (self._primary, self.model.behind_id)
        return _read_model_loader(self._pool, views.levels_of, self.model.levels, [],
                                  cache=self._cache, own=own)

    @functools.cached_property
    def location(self) -> DataLoader[int, Location]:
        if self.model is None:
            return _loader(self._pool, views.locations_by_id, cache=self._cache)
        return _read_model_loader(self._pool, views.locations_by_id, self.model.location,
                                  cache=self._cache)

    @functools.cached_property
    def location_by_code(self) -> DataLoader[str, Location | None]:
        return _loader(self._pool, views.locations_by_code, cache=self._cache)

    @functools.cached_property
    def channel(self) -> DataLoader[int, Channel | None]:
        return _loader(self._pool, views.channels_by_id, cache=self._cache)

    @functools.cached_property
    def channel_by_code(self) -> DataLoader[str, Channel | None]:
        return _loader(self._pool, views.channels_by_code, cache=self._cache)

    @functools.cached_property
    def components(self) -> DataLoader[int, list[Component]]:
        """A bundle's components by its SKU id ([] for a plain SKU)."""
        return _loader(self._pool, views.components_of, [], cache=self._cache)

    @functools.cached_property
    def bundle_levels(self) -> DataLoader[int, list[StockLevel]]:
        """A bundle's derived levels, by its SKU id."""
        return _loader(self._pool, bundle_views.levels_of, [], cache=self._cache)

    def levels_of(self, sku_id: int, is_bundle: bool) -> Awaitable[list[StockLevel]]:
        """A SKU's levels, or a bundle's derived ones: a plain SKU's read does not look for
        bundle levels."""
        return (self.bundle_levels if is_bundle else self.levels).load(sku_id)

    @functools.cached_property
    def bundle_stock(self) -> DataLoader[int, BundleStock]:
        """What a bundle is made of, by its SKU id: components, their levels and incoming."""
        return _loader(self._pool, bundle_views.stock_of, cache=self._cache)

    @functools.cached_property
    def next_restock(self) -> DataLoader[int, datetime | None]:
        return _loader(self._pool, incoming.next_restock, cache=self._cache)

    @functools.cached_property
    def promise(self) -> DataLoader[tuple[int, datetime, str | None], int]:
        """Keyed by (SKU id, at, channel)."""
        return _loader(self._pool, incoming.available_to_promise, 0, cache=self._cache)
