"""The catalogue: create or update SKUs and locations (called by resolvers.catalog and
service.seed)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.model import LocationKind
from domain.outcome import Outcome
from service.inventory import Inventory
from service.recording import Command
from store import bundles, catalog


async def upsert_sku(
    inventory: Inventory, *, code: str, name: str, low_stock_threshold: int | None
) -> Outcome:
    """Create the SKU `code`, or rename it (and change its threshold when given)."""

    async def work(conn: asyncpg.Connection) -> Outcome:
        await catalog.upsert_sku(conn, code, name, low_stock_threshold)
        return Outcome(sku=(await catalog.skus_by_code(conn, [code]))[code])

    return await inventory.mutate(
        work, command=Command.UPSERT_SKU,
        arguments={"code": code, "name": name, "low_stock_threshold": low_stock_threshold},
    )


async def upsert_bundle(
    inventory: Inventory, *, code: str, name: str, low_stock_threshold: int | None,
    components: Sequence[tuple[str, int]],
) -> Outcome:
    """Create the bundle `code`, or replace its name, threshold and components."""

    async def work(conn: asyncpg.Connection) -> Outcome:
        await bundles.upsert(conn, code, name, low_stock_threshold, components)
        return Outcome(sku=(await catalog.skus_by_code(conn, [code]))[code])

    return await inventory.mutate(
        work, command=Command.UPSERT_BUNDLE,
        arguments={"code": code, "name": name, "low_stock_threshold": low_stock_threshold,
                   "components": [list(c) for c in components]},
    )


async def upsert_location(
    inventory: Inventory, *, code: str, name: str, kind: LocationKind
) -> Outcome:
    """Create the location `code`, or change its name and kind."""

    async def work(conn: asyncpg.Connection) -> Outcome:
        return Outcome(location=await catalog.upsert_location(conn, code, name, kind))

    return await inventory.mutate(
        work, command=Command.UPSERT_LOCATION, arguments={"code": code, "name": name, "kind": kind}
    )
