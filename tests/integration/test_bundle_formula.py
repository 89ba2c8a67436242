"""A bundle's derived figures have two homes that agree: migration 0010's `bundle_levels` view
(with `bundle_fit`) and domain/bundles.py's `bundles_from`, over random components and levels."""

from __future__ import annotations

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.bundles import Component, bundles_from
from domain.model import available_quantity

COMPONENTS = ("C1", "C2", "C3")
LOCATIONS = ("L1", "L2")

# Per component: its quantity in the bundle and, per location, a level (on_hand, reserved,
# safety, incoming) or None (no level there).
levels = st.one_of(st.none(), st.tuples(
    st.integers(0, 40), st.integers(0, 40), st.integers(0, 10), st.integers(0, 30),
).filter(lambda t: t[1] <= t[0]))
bundle = st.lists(
    st.tuples(st.integers(1, 7), st.tuples(*(levels for _ in LOCATIONS))),
    min_size=1, max_size=len(COMPONENTS),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=bundle)
async def test_view_and_twin_agree(pool: asyncpg.Pool, parts: list[tuple[int, tuple[object, ...]]]) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            ids = {code: await conn.fetchval(
                "INSERT INTO skus (code, name) VALUES ($1, $1) RETURNING id", code)
                for code in COMPONENTS}
            kit = await conn.fetchval(
                "INSERT INTO skus (code, name, is_bundle) VALUES ('KIT', 'K', true) RETURNING id")
            where = {code: await conn.fetchval(
                "INSERT INTO locations (code, name, kind) VALUES ($1, $1, 'STORE') RETURNING id", code)
                for code in LOCATIONS}
            components = []
            figures: dict[int, dict[int, tuple[int, int, int]]] = {lid: {} for lid in where.values()}
            for position, (quantity, per_location) in enumerate(parts):
                sku_id = ids[COMPONENTS[position]]
                components.append(Component(sku_id, COMPONENTS[position], quantity))
                await conn.execute(
                    """INSERT INTO bundle_components (bundle_id, component_id, quantity, position)
                       VALUES ($1, $2, $3, $4)""", kit, sku_id, quantity, position)
                for code, level in zip(LOCATIONS, per_location, strict=True):
                    if level is None:
                        continue
                    on_hand, reserved, safety, incoming = level  # type: ignore[misc]
                    await conn.execute(
                        """INSERT INTO stock_levels (sku_id, location_id, on_hand, reserved,
                               safety_stock, incoming) VALUES ($1, $2, $3, $4, $5, $6)""",
                        sku_id, where[code], on_hand, reserved, safety, incoming)
                    figures[where[code]][sku_id] = (
                        on_hand, available_quantity(on_hand, reserved, safety), incoming)
            got = {r["location_id"]: (r["on_hand"], r["available"], r["incoming"])
                   for r in await conn.fetch("SELECT * FROM bundle_levels WHERE sku_id = $1", kit)}
            want = {}
            for location_id, by_sku in figures.items():
                if len(by_sku) < len(components):
                    continue  # a location lacking a component's level has no bundle level
                want[location_id] = tuple(
                    bundles_from({sku: f[n] for sku, f in by_sku.items()}, components)
                    for n in range(3))
            assert got == want
        finally:
            await tx.rollback()
