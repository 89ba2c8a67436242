"""The reads' SQL totals of a bundle (skusByCode, the skus page and its status filter, levels)
agree with domain.bundle_stock, which ATP and the live availability use, on random stock."""

from __future__ import annotations

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import bundle_stock
from domain.model import availability_status
from store import bundle_stock as stock_reads
from store import catalog

LOCATIONS = ("L1", "L2", "L3")

# Per component: its quantity in the bundle and, per location, (on_hand, reserved, safety) or
# None (no level there).
levels = st.one_of(st.none(), st.tuples(st.integers(0, 30), st.integers(0, 30),
                                        st.integers(0, 5)).filter(lambda t: t[1] <= t[0]))
bundle = st.lists(st.tuples(st.integers(1, 5), st.tuples(*(levels for _ in LOCATIONS))),
                  min_size=1, max_size=4)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=bundle, threshold=st.integers(0, 6))
async def test_sql_totals_and_the_python_twin_agree(
    pool: asyncpg.Pool, parts: list[tuple[int, tuple[object, ...]]], threshold: int
) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            kit = await conn.fetchval("""INSERT INTO skus (code, name, is_bundle,
                low_stock_threshold) VALUES ('KIT', 'K', true, $1) RETURNING id""", threshold)
            where = [await conn.fetchval("""INSERT INTO locations (code, name, kind)
                VALUES ($1, $1, 'STORE') RETURNING id""", code) for code in LOCATIONS]
            for position, (quantity, per_location) in enumerate(parts):
                sku_id = await conn.fetchval(
                    "INSERT INTO skus (code, name) VALUES ($1, $1) RETURNING id", f"C{position}")
                await conn.execute("""INSERT INTO bundle_components (bundle_id, component_id,
                    quantity, position) VALUES ($1, $2, $3, $4)""", kit, sku_id, quantity,
                                   position)
                for location_id, level in zip(where, per_location, strict=True):
                    if level is not None:
                        await conn.execute("""INSERT INTO stock_levels (sku_id, location_id,
                            on_hand, reserved, safety_stock) VALUES ($1, $2, $3, $4, $5)""",
                                           sku_id, location_id, *level)  # type: ignore[misc]
            stock = (await stock_reads.stock_of(conn, [kit]))[kit]
            available = bundle_stock.available(stock)
            read = (await catalog.skus_by_code(conn, ["KIT"]))["KIT"]
            assert (read.available, read.reserved, read.sequence) == (available, 0, 0)
            status = availability_status(available, threshold).value
            page = await catalog.skus_page(conn, after=None, limit=10, status=status)
            assert [(s.code, s.available, s.on_hand) for s in page if s.is_bundle] == [
                ("KIT", available, read.on_hand)]
            derived = (await stock_reads.levels_of(conn, [kit]))[kit]
            assert sum(level.available for level in derived) == available
            assert sum(level.on_hand for level in derived) == read.on_hand
            for location_id in where:
                at = [level for level in derived if level.location_id == location_id]
                assert sum(level.available for level in at) == bundle_stock.available(
                    stock, {location_id})
        finally:
            await tx.rollback()
