"""Bundles: the upsert, who is made of what, and a bundle's derived level at one location (called
by service.cataloguing, service.views, the reservation writers and the feeds)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from domain.bundles import Component, bundle_level
from domain.errors import InvalidInput, NotFound, Rejected, StockError
from domain.model import StockLevel
from store import catalogue_version, rows

UPSERT = """
INSERT INTO skus (code, name, low_stock_threshold, is_bundle)
VALUES ($1, $2, coalesce($3, 5), true)
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
    low_stock_threshold = coalesce($3, skus.low_stock_threshold)
WHERE skus.is_bundle
RETURNING id
"""

PLACE = """
INSERT INTO bundle_components (bundle_id, component_id, quantity, position)
SELECT $1, component_id, quantity, position - 1
FROM unnest($2::bigint[], $3::integer[]) WITH ORDINALITY AS c (component_id, quantity, position)
"""

COMPONENTS = """
SELECT bc.bundle_id, bc.component_id, s.code, bc.quantity
FROM bundle_components bc JOIN skus s ON s.id = bc.component_id
WHERE bc.bundle_id = ANY($1::bigint[])
ORDER BY bc.bundle_id, bc.position
"""

# The bundle's components as it is defined now, each with its level at $2 (NULLs if none).
LEVELS_AT = """
SELECT bc.component_id, s.code, bc.quantity, $2::bigint AS location_id, l.on_hand, l.reserved,
       l.safety_stock, l.version, l.updated_at, l.incoming
FROM bundle_components bc JOIN skus s ON s.id = bc.component_id
LEFT JOIN stock_levels l ON l.sku_id = bc.component_id AND l.location_id = $2
WHERE bc.bundle_id = $1 ORDER BY bc.position
"""


async def upsert(
    conn: asyncpg.Connection, code: str, name: str, low_stock_threshold: int | None,
    components: Sequence[tuple[str, int]],
) -> int:
    """Create the bundle `code` or replace its name, threshold and components (plain SKUs that
    exist, each once); a plain SKU's code is refused. Holds already taken keep what they hold
    (reservation_components). The upsert's row lock orders concurrent upserts of one bundle."""
    found = {
        r["code"]: r for r in await conn.fetch(
            "SELECT code, id, is_bundle FROM skus WHERE code = ANY($1::text[])",
            [sku for sku, _ in components])
    }
    errors: list[StockError] = []
    for index, (sku, _) in enumerate(components):
        if sku not in found:
            errors.append(NotFound(f"unknown SKU {sku!r}", ["components", index, "sku"]))
        elif found[sku]["is_bundle"]:
            errors.append(InvalidInput(f"{sku!r} is a bundle: components are plain SKUs",
                                       ["components", index, "sku"]))
    if errors:
        raise errors[0] if len(errors) == 1 else Rejected(errors)
    bundle_id: int | None = await conn.fetchval(UPSERT, code, name, low_stock_threshold)
    if bundle_id is None:
        raise InvalidInput(f"{code!r} is a plain SKU, not a bundle", ["code"])
    await conn.execute("DELETE FROM bundle_components WHERE bundle_id = $1", bundle_id)
    await conn.execute(
        PLACE, bundle_id, [found[sku]["id"] for sku, _ in components],
        [quantity for _, quantity in components],
    )
    await catalogue_version.bump(conn)
    return bundle_id


async def components_of(
    conn: asyncpg.Connection, bundle_ids: Sequence[int]
) -> dict[int, list[Component]]:
    """Each bundle's components in the order they were given; a plain SKU maps to []."""
    found: dict[int, list[Component]] = {bundle_id: [] for bundle_id in bundle_ids}
    for r in await conn.fetch(COMPONENTS, list(bundle_ids)):
        found[r["bundle_id"]].append(Component(r["component_id"], r["code"], r["quantity"]))
    return found


async def bundles_containing(
    conn: asyncpg.Connection, component_ids: Sequence[int]
) -> dict[int, list[int]]:
    """For each component SKU id, the ids of the bundles it goes into."""
    found: dict[int, list[int]] = {sku_id: [] for sku_id in component_ids}
    for r in await conn.fetch(
        """SELECT component_id, bundle_id FROM bundle_components
           WHERE component_id = ANY($1::bigint[]) ORDER BY component_id, bundle_id""",
        list(component_ids),
    ):
        found[r["component_id"]].append(r["bundle_id"])
    return found


async def level_at(
    conn: asyncpg.Connection, bundle_id: int, code: str, location_id: int
) -> StockLevel:
    """The bundle's derived level at one location, as this transaction sees its components
    (domain.bundles.bundle_level: the one Python home of the formula)."""
    records = await conn.fetch(LEVELS_AT, bundle_id, location_id)
    components = [Component(r["component_id"], r["code"], r["quantity"]) for r in records]
    levels = {r["component_id"]: rows.level(r, r["code"])
              for r in records if r["on_hand"] is not None}
    return bundle_level(code, location_id, components, levels, datetime.now(UTC))
