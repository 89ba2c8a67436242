"""Fresh databases per scenario, seeded by direct SQL, and the checks run after each load."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from store import migrations

LOCATION = "BENCH-WH"

# One warehouse level per SKU, and the SET entry that put the stock there: the ledger stays
# consistent (last_sequence = 1 = the SKU's only event) without going through setStock.
SEED = """
WITH loc AS (
    INSERT INTO locations (code, name, kind) VALUES ($4, 'Bench warehouse', 'WAREHOUSE')
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id
), new_skus AS (
    INSERT INTO skus (code, name, last_sequence)
    SELECT $1 || lpad(n::text, 5, '0'), 'Bench item ' || n, 1 FROM generate_series(1, $2) n
    RETURNING id, low_stock_threshold
), levels AS (
    INSERT INTO stock_levels (sku_id, location_id, on_hand)
    SELECT new_skus.id, loc.id, $3 FROM new_skus, loc
    RETURNING sku_id, location_id, on_hand, reserved, safety_stock, version
)
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta, level_on_hand,
    level_reserved, level_safety, level_version, sku_on_hand, sku_reserved, available, status,
    reason, reference)
SELECT sku_id, 1, 'SET', location_id, on_hand, 0, on_hand, reserved, safety_stock, version,
       on_hand, reserved, stock_available(on_hand, reserved, safety_stock),
       stock_status(stock_available(on_hand, reserved, safety_stock), low_stock_threshold),
       'CORRECTION', 'bench seed'
FROM levels JOIN new_skus ON new_skus.id = levels.sku_id
"""

# Whatever went wrong, one row per broken invariant (empty: consistent).
CHECKS = """
SELECT 'oversold ' || s.code FROM stock_levels l JOIN skus s ON s.id = l.sku_id
WHERE l.reserved > l.on_hand OR l.reserved < 0
UNION ALL
SELECT 'reserved <> ACTIVE reservations for ' || s.code
FROM stock_levels l JOIN skus s ON s.id = l.sku_id
LEFT JOIN (SELECT sku_id, location_id, sum(quantity) AS held FROM reservations
           WHERE status = 'ACTIVE' GROUP BY 1, 2) r USING (sku_id, location_id)
WHERE l.reserved <> coalesce(r.held, 0)
UNION ALL
SELECT 'ledger gap or head mismatch for ' || s.code
FROM skus s LEFT JOIN (SELECT sku_id, count(*) AS n, max(sequence) AS top
                       FROM stock_events GROUP BY 1) e ON e.sku_id = s.id
WHERE s.last_sequence <> coalesce(e.n, 0) OR s.last_sequence <> coalesce(e.top, 0)
UNION ALL
SELECT 'onHand differs from the ledger for ' || s.code
FROM stock_levels l JOIN skus s ON s.id = l.sku_id
JOIN (SELECT sku_id, location_id, sum(on_hand_delta) AS total FROM stock_events
      GROUP BY 1, 2) e USING (sku_id, location_id)
WHERE l.on_hand <> e.total
"""


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, name: str) -> AsyncIterator[str]:
    """The URL of a freshly made and migrated database `name` beside `admin_url`'s, dropped
    when the block ends (however it ends)."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
        url = with_database(admin_url, name)
        conn = await asyncpg.connect(url)
        try:
            await migrations.migrate(conn)
        finally:
            await conn.close()
        yield url
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@dataclass(frozen=True)
class Consistency:
    reservations: int
    reserved: int
    on_hand: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class Databases:
    """Creates `bench_<run>_<name>` databases on the server of `admin_url` and drops them."""

    def __init__(self, admin_url: str, run_id: str, keep: bool = False) -> None:
        self.admin_url = admin_url
        self.run_id = run_id
        self.keep = keep
        self.created: list[str] = []

    async def _admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def template(self, name: str, skus: int, on_hand: int) -> str:
        """A migrated, seeded database to clone: fresh copies cost a file copy, not a seed."""
        db = f"bench_{self.run_id}_{name}_tpl"
        await self._admin(f"DROP DATABASE IF EXISTS {db}", f"CREATE DATABASE {db}")
        self.created.append(db)
        conn = await asyncpg.connect(with_database(self.admin_url, db))
        try:
            await migrations.migrate(conn)
            await conn.execute(SEED, "B", skus, on_hand, LOCATION)
            # Statistics for the seeded tables only. Analyzing the still empty reservations
            # table would record it as empty: the foreign-key checks of stock_events then get
            # a cached generic plan that scans reservations sequentially, which the reserve
            # window makes O(n^2) (perf: 90 % of PostgreSQL's CPU in RI checks). A database
            # in use has real statistics, and a new one that was never analyzed is planned
            # as 10 pages, i.e. by index.
            await conn.execute("ANALYZE skus, locations, stock_levels, stock_events")
        finally:
            await conn.close()
        return db

    async def fresh(self, name: str, template: str) -> str:
        db = f"bench_{self.run_id}_{name}"
        await self._admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)",
                          f"CREATE DATABASE {db} TEMPLATE {template}")
        self.created.append(db)
        return with_database(self.admin_url, db)

    async def drop_all(self) -> None:
        if self.keep:
            return
        for db in reversed(self.created):
            with contextlib.suppress(Exception):
                await self._admin(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        self.created.clear()


def sku_code(n: int) -> str:
    """The code SEED gives SKU number n (1-based)."""
    return f"B{n:05d}"


@contextlib.asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def consistency(url: str) -> Consistency:
    async with connection(url) as conn:
        problems = [r[0] for r in await conn.fetch(CHECKS)]
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM reservations WHERE status = 'ACTIVE') AS n,
                      (SELECT coalesce(sum(reserved), 0) FROM stock_levels) AS reserved,
                      (SELECT coalesce(sum(on_hand), 0) FROM stock_levels) AS on_hand"""
        )
    return Consistency(row["n"], row["reserved"], row["on_hand"], tuple(problems[:5]))
