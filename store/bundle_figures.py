"""What a ledger tail's round reads and keeps for bundles (feed/bundle_feed.py): the bundles made
of the round's SKUs, their components' levels, and each sink's last figures of each bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from domain.bundle_changes import Bundle, Figures, Stock
from domain.bundles import Component
from domain.model import AvailabilityStatus
from store import bundles

BUNDLES = """
SELECT b.id, b.code, b.low_stock_threshold, bc.component_id, c.code AS component, bc.quantity
FROM bundle_components bc
JOIN skus b ON b.id = bc.bundle_id
JOIN skus c ON c.id = bc.component_id
WHERE bc.bundle_id = ANY($1::bigint[])
ORDER BY bc.bundle_id, bc.position
"""

# Each level as the sink has handed it on: as before the first entry after the sink's cursor
# there (that entry's level less its deltas; its safety stock), else as it is. One statement,
# so that the levels and the ledger read agree. At most $3 entries of a SKU are read: where a
# SKU is further behind, it is taken as it is now.
LEVELS = """
WITH ahead AS (
    SELECT DISTINCT ON (e.sku_id, e.location_id) e.sku_id, e.location_id,
           e.level_on_hand - e.on_hand_delta AS on_hand,
           e.level_reserved - e.reserved_delta AS reserved, e.level_safety AS safety_stock
    FROM unnest($1::bigint[]) AS k (sku_id)
    LEFT JOIN sink_cursors c ON c.sink = $2 AND c.sku_id = k.sku_id
    CROSS JOIN LATERAL (
        SELECT * FROM stock_events e
        WHERE e.sku_id = k.sku_id AND e.sequence > coalesce(c.sequence, 0)
        ORDER BY e.sequence LIMIT $3
    ) e
    ORDER BY e.sku_id, e.location_id, e.sequence
)
SELECT l.sku_id, l.location_id, coalesce(a.on_hand, l.on_hand) AS on_hand,
       coalesce(a.reserved, l.reserved) AS reserved,
       coalesce(a.safety_stock, l.safety_stock) AS safety_stock
FROM stock_levels l LEFT JOIN ahead a ON a.sku_id = l.sku_id AND a.location_id = l.location_id
WHERE l.sku_id = ANY($1::bigint[])
"""

# A row per bundle first, so that the lock below always finds one; in bundle order, as the lock.
ENSURE = """
INSERT INTO sink_bundle_figures (sink, bundle_id)
SELECT $1, b FROM unnest($2::bigint[]) AS b ORDER BY b
ON CONFLICT DO NOTHING
"""

# Until the round commits: another round over one of these bundles (another component's
# cursor, another instance) waits, so one bundle's events are computed and queued in order.
LOCK = """
SELECT bundle_id, on_hand, reserved, available, status FROM sink_bundle_figures
WHERE sink = $1 AND bundle_id = ANY($2::bigint[])
ORDER BY bundle_id
FOR UPDATE
"""

SAVE = """
UPDATE sink_bundle_figures f
SET on_hand = v.on_hand, reserved = v.reserved, available = v.available, status = v.status
FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[])
     AS v (bundle_id, on_hand, reserved, available, status)
WHERE f.sink = $1 AND f.bundle_id = v.bundle_id
"""


async def made_of(conn: asyncpg.Connection, sku_ids: Sequence[int]) -> list[Bundle]:
    """The bundles made of any of `sku_ids`, each with all its components, in id order. Every
    round runs the first statement (an index probe per SKU: bundle_components_component, as
    cheap as a bare round trip); it is all a round without bundles does for them."""
    containing = await bundles.bundles_containing(conn, sku_ids)
    ids = sorted({bundle_id for found in containing.values() for bundle_id in found})
    if not ids:
        return []
    found: dict[int, Bundle] = {}
    for r in await conn.fetch(BUNDLES, ids):
        bundle = found.get(r["id"]) or Bundle(r["id"], r["code"], r["low_stock_threshold"], ())
        found[r["id"]] = Bundle(bundle.id, bundle.sku, bundle.low_stock_threshold, (
            *bundle.components, Component(r["component_id"], r["component"], r["quantity"])))
    return list(found.values())


async def levels(conn: asyncpg.Connection, sink: str, sku_ids: Sequence[int],
                 window: int) -> dict[tuple[int, int], Stock]:
    """The levels of `sku_ids` as `sink` has handed their entries on (reading at most `window`
    entries of each beyond), by (sku_id, location_id)."""
    return {(r["sku_id"], r["location_id"]): Stock(r["on_hand"], r["reserved"], r["safety_stock"])
            for r in await conn.fetch(LEVELS, list(sku_ids), sink, window)}


async def lock(conn: asyncpg.Connection, sink: str,
               bundle_ids: Sequence[int]) -> dict[int, Figures | None]:
    """Within the round's transaction: the sink's last figures of each bundle (None: none yet),
    locked until it ends."""
    ids = sorted(bundle_ids)
    await conn.execute(ENSURE, sink, ids)
    return {r["bundle_id"]: None if r["status"] is None else Figures(
        r["on_hand"], r["reserved"], r["available"], AvailabilityStatus(r["status"]))
        for r in await conn.fetch(LOCK, sink, ids)}


async def save(conn: asyncpg.Connection, sink: str, figures: Mapping[int, Figures]) -> None:
    """The sink's figures of these bundles are now these (rows locked by `lock`)."""
    if not figures:
        return
    ids = list(figures)
    await conn.execute(
        SAVE, sink, ids, [figures[i].on_hand for i in ids], [figures[i].reserved for i in ids],
        [figures[i].available for i in ids], [figures[i].status.value for i in ids])


async def forget(conn: asyncpg.Connection, sink: str) -> None:
    """The bundle figures the sink last handed on, dropped when it skips to the heads: its
    next bundle event then compares with the figures before that round, not with figures
    from before the skip."""
    await conn.execute("DELETE FROM sink_bundle_figures WHERE sink = $1", sink)
