"""SKUs, locations and levels: the reads, and the catalogue upserts, which move the catalogue
version (called by service/; feed/hub.py reads a follower's snapshot with skus_by_code)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.errors import InvalidInput
from domain.model import Location, LocationKind, Sku, StockLevel
from store import catalogue_version, rows
from store.rows import BUNDLE_COLUMNS, LEVEL_COLUMNS, SKU_COLUMNS

SKUS_BY_CODE = f"""
SELECT {SKU_COLUMNS}
FROM skus s LEFT JOIN stock_levels l ON l.sku_id = s.id
WHERE s.code = ANY($1::text[])
GROUP BY s.id
"""

# A bundle has no levels: its totals are its derived levels' (`bundle_levels`), read by a
# second statement only when bundles were asked for, so a plain SKU's read is what it was.
BUNDLE_TOTALS = """
SELECT sku_id, sum(on_hand) AS on_hand, sum(available) AS available FROM bundle_levels
WHERE sku_id = ANY($1::bigint[])
GROUP BY sku_id
"""

_SEARCH = """($2::text IS NULL OR s.code ILIKE $2 ESCAPE '\\' OR s.name ILIKE $2 ESCAPE '\\')"""
_AFTER_AND_SEARCH = f"($1::text IS NULL OR s.code > $1) AND {_SEARCH}"
# PageInfo.hasPreviousPage: whether the filter keeps a SKU at or before the cursor (the page's
# statement with the cursor's bound turned round, LIMIT 1)
_UP_TO_AND_SEARCH = f"s.code <= $1 AND {_SEARCH}"

# A page: every SKU after the cursor is summed before the status filter and the order. Plain
# SKUs and bundles in two branches, each cut to the page before they meet: a plain SKU plans
# as before, and the planner costs a bundle's figures for the bundles only (a per-row estimate
# over every SKU passed jit_above_cost). Each bundle's derived levels are summed from its own
# components (LATERAL).
_STATUS = "($4::text IS NULL OR $4 = stock_status(available, low_stock_threshold))"


def _page(where: str) -> str:
    return f"""
(SELECT * FROM (
    SELECT {SKU_COLUMNS}
    FROM skus s LEFT JOIN stock_levels l ON l.sku_id = s.id
    WHERE NOT s.is_bundle AND {where}
      AND ($3::text IS NULL OR EXISTS (
            SELECT 1 FROM stock_levels x JOIN locations xl ON xl.id = x.location_id
            WHERE x.sku_id = s.id AND xl.code = $3))
    GROUP BY s.id
) plain WHERE {_STATUS} ORDER BY code LIMIT $5)
UNION ALL
(SELECT * FROM (
    SELECT {BUNDLE_COLUMNS}
    FROM skus s LEFT JOIN LATERAL (
        SELECT sum(on_hand) AS on_hand, sum(available) AS available
        FROM bundle_levels WHERE sku_id = s.id) b ON true
    WHERE s.is_bundle AND {where}
      AND ($3::text IS NULL OR EXISTS (
            SELECT 1 FROM bundle_levels x JOIN locations xl ON xl.id = x.location_id
            WHERE x.sku_id = s.id AND xl.code = $3))
) bundles WHERE {_STATUS} ORDER BY code LIMIT $5)
ORDER BY code
LIMIT $5
"""


SKUS_PAGE = _page(_AFTER_AND_SEARCH)
SKUS_UP_TO = _page(_UP_TO_AND_SEARCH)


async def skus_by_code(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, Sku]:
    found = {r["code"]: rows.sku(r) for r in await conn.fetch(SKUS_BY_CODE, list(codes))}
    bundles = [sku.id for sku in found.values() if sku.is_bundle]
    if bundles:
        totals = {r["sku_id"]: r for r in await conn.fetch(BUNDLE_TOTALS, bundles)}
        for code, sku in found.items():
            if sku.is_bundle:
                found[code] = rows.bundle_totals(sku, totals.get(sku.id))
    return found


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def skus_page(
    conn: asyncpg.Connection,
    *,
    after: str | None,
    limit: int,
    search: str | None = None,
    status: str | None = None,
    location: str | None = None,
) -> list[Sku]:
    pattern = _like_pattern(search) if search else None
    records = await conn.fetch(SKUS_PAGE, after, pattern, location, status, limit)
    return [rows.sku(r) for r in records]


async def any_sku_up_to(
    conn: asyncpg.Connection, code: str, *, search: str | None = None,
    status: str | None = None, location: str | None = None,
) -> bool:
    """Whether the filter keeps a SKU sorting at or before `code`: the page after `code` has
    a previous page."""
    pattern = _like_pattern(search) if search else None
    return bool(await conn.fetch(SKUS_UP_TO, code, pattern, location, status, 1))


async def count_skus(conn: asyncpg.Connection) -> int:
    found: int = await conn.fetchval("SELECT count(*) FROM skus")
    return found


async def levels_of(
    conn: asyncpg.Connection, sku_ids: Sequence[int]
) -> dict[int, list[StockLevel]]:
    records = await conn.fetch(
        f"""SELECT {LEVEL_COLUMNS}, s.code AS sku FROM stock_levels
            JOIN skus s ON s.id = sku_id
            WHERE sku_id = ANY($1::bigint[]) ORDER BY sku_id, location_id""",
        list(sku_ids),
    )
    found: dict[int, list[StockLevel]] = {sku_id: [] for sku_id in sku_ids}
    for r in records:
        found[r["sku_id"]].append(rows.level(r, r["sku"]))
    return found


async def locations_by_id(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Location]:
    records = await conn.fetch(
        "SELECT id, code, name, kind FROM locations WHERE id = ANY($1::bigint[])", list(ids)
    )
    return {r["id"]: rows.location(r) for r in records}


async def locations_by_code(
    conn: asyncpg.Connection, codes: Sequence[str]
) -> dict[str, Location]:
    records = await conn.fetch(
        "SELECT id, code, name, kind FROM locations WHERE code = ANY($1::text[])", list(codes)
    )
    return {r["code"]: rows.location(r) for r in records}


async def all_locations(conn: asyncpg.Connection) -> list[Location]:
    records = await conn.fetch("SELECT id, code, name, kind FROM locations ORDER BY code")
    return [rows.location(r) for r in records]


async def upsert_sku(
    conn: asyncpg.Connection, code: str, name: str, low_stock_threshold: int | None
) -> None:
    """A bundle's code is refused (InvalidInput): a SKU never changes between plain and
    bundle."""
    done = await conn.fetchval(
        """INSERT INTO skus (code, name, low_stock_threshold) VALUES ($1, $2, coalesce($3, 5))
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
               low_stock_threshold = coalesce($3, skus.low_stock_threshold)
           WHERE NOT skus.is_bundle
           RETURNING id""",
        code,
        name,
        low_stock_threshold,
    )
    if done is None:
        raise InvalidInput(f"{code!r} is a bundle: change it with upsertBundle", ["code"])
    await catalogue_version.bump(conn)


async def upsert_location(
    conn: asyncpg.Connection, code: str, name: str, kind: LocationKind
) -> Location:
    r = await conn.fetchrow(
        """INSERT INTO locations (code, name, kind) VALUES ($1, $2, $3)
           ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind
           RETURNING id, code, name, kind""",
        code,
        name,
        kind.value,
    )
    await catalogue_version.bump(conn)
    return rows.location(r)
