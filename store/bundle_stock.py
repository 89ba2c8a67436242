"""Reads of bundles' stock: derived levels, components' levels with their ledger sequences, open
incoming (service.bundle_views: levels, ATP, next restock, a bundle's live availability)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.bundle_stock import BundleStock, ComponentLevel, Due
from domain.model import StockLevel
from store import bundles, rows

# A bundle's levels (`bundle_levels`: at the locations where every component has one).
BUNDLE_LEVELS = """
SELECT b.*, s.code AS sku FROM bundle_levels b JOIN skus s ON s.id = b.sku_id
WHERE b.sku_id = ANY($1::bigint[])
ORDER BY b.sku_id, b.location_id
"""

# One statement, so each component's levels and its last sequence are from the same moment:
# the live feed applies exactly the events after that sequence.
LEVELS = """
SELECT s.id AS sku_id, s.last_sequence, l.location_id, l.on_hand,
       stock_available(l.on_hand, l.reserved, l.safety_stock) AS available
FROM skus s LEFT JOIN stock_levels l ON l.sku_id = s.id
WHERE s.id = ANY($1::bigint[])
ORDER BY s.id, l.location_id
"""

OPEN_INCOMING = """
SELECT sku_id, location_id, quantity - received AS quantity, expected_at FROM incoming
WHERE sku_id = ANY($1::bigint[]) AND status = 'EXPECTED'
ORDER BY expected_at, id
"""


async def levels_of(
    conn: asyncpg.Connection, bundle_ids: Sequence[int]
) -> dict[int, list[StockLevel]]:
    found: dict[int, list[StockLevel]] = {bundle_id: [] for bundle_id in bundle_ids}
    for r in await conn.fetch(BUNDLE_LEVELS, list(bundle_ids)):
        found[r["sku_id"]].append(rows.bundle_level(r))
    return found


async def component_levels(
    conn: asyncpg.Connection, sku_ids: Sequence[int]
) -> tuple[tuple[ComponentLevel, ...], dict[int, int]]:
    """The levels of these (component) SKUs, and each one's last ledger sequence."""
    levels: list[ComponentLevel] = []
    sequences: dict[int, int] = {}
    for r in await conn.fetch(LEVELS, list(sku_ids)):
        sequences[r["sku_id"]] = r["last_sequence"]
        if r["location_id"] is not None:
            levels.append(ComponentLevel(r["sku_id"], r["location_id"], r["on_hand"],
                                         r["available"]))
    return tuple(levels), sequences


async def stock_of(
    conn: asyncpg.Connection, bundle_ids: Sequence[int]
) -> dict[int, BundleStock]:
    """Each bundle's components, their levels and their open incoming (a plain SKU's id maps to
    a stock without components)."""
    components = await bundles.components_of(conn, bundle_ids)
    sku_ids = sorted({c.sku_id for found in components.values() for c in found})
    levels, _ = await component_levels(conn, sku_ids)
    due = [Due(r["sku_id"], r["location_id"], r["quantity"], r["expected_at"])
           for r in await conn.fetch(OPEN_INCOMING, sku_ids)]
    found: dict[int, BundleStock] = {}
    for bundle_id, parts in components.items():
        ids = {c.sku_id for c in parts}
        found[bundle_id] = BundleStock(
            components=tuple(parts),
            levels=tuple(level for level in levels if level.sku_id in ids),
            due=tuple(d for d in due if d.sku_id in ids),
        )
    return found
