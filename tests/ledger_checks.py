"""Invariants every test can assert after it ran: levels, reservations and ledger agree."""

from __future__ import annotations

import asyncpg


async def assert_consistent(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        gaps = await conn.fetch(
            """SELECT sku_id, count(*) AS n, min(sequence) AS lo, max(sequence) AS hi
               FROM stock_events GROUP BY sku_id
               HAVING count(*) <> max(sequence) OR min(sequence) <> 1""")
        assert not gaps, f"ledger sequences with gaps: {gaps}"
        stale = await conn.fetch(
            """SELECT s.id FROM skus s LEFT JOIN stock_events e ON e.sku_id = s.id
               GROUP BY s.id HAVING s.last_sequence <> coalesce(max(e.sequence), 0)""")
        assert not stale, f"skus.last_sequence disagrees with the ledger: {stale}"
        drift = await conn.fetch(
            """SELECT l.sku_id, l.location_id, l.on_hand, l.reserved,
                      coalesce(sum(e.on_hand_delta), 0) AS ledger_on_hand,
                      coalesce(sum(e.reserved_delta), 0) AS ledger_reserved
               FROM stock_levels l LEFT JOIN stock_events e
                 ON e.sku_id = l.sku_id AND e.location_id = l.location_id
               GROUP BY l.sku_id, l.location_id
               HAVING l.on_hand <> coalesce(sum(e.on_hand_delta), 0)
                   OR l.reserved <> coalesce(sum(e.reserved_delta), 0)""")
        assert not drift, f"levels disagree with the ledger's deltas: {drift}"
        held = await conn.fetch(
            """SELECT l.sku_id, l.location_id FROM stock_levels l
               LEFT JOIN reservations r ON r.sku_id = l.sku_id AND r.location_id = l.location_id
                 AND r.status = 'ACTIVE'
               GROUP BY l.sku_id, l.location_id
               HAVING l.reserved <> coalesce(sum(r.quantity), 0)""")
        assert not held, f"reserved disagrees with ACTIVE reservations: {held}"
        incoming = await conn.fetch(
            """SELECT l.sku_id, l.location_id, l.incoming,
                      coalesce(sum(e.incoming_delta), 0) AS ledger_incoming
               FROM stock_levels l LEFT JOIN stock_events e
                 ON e.sku_id = l.sku_id AND e.location_id = l.location_id
               GROUP BY l.sku_id, l.location_id
               HAVING l.incoming <> coalesce(sum(e.incoming_delta), 0)""")
        assert not incoming, f"levels' incoming disagrees with the ledger's deltas: {incoming}"
        open_ = await conn.fetch(
            """SELECT l.sku_id, l.location_id FROM stock_levels l
               LEFT JOIN incoming i ON i.sku_id = l.sku_id AND i.location_id = l.location_id
                 AND i.status = 'EXPECTED'
               GROUP BY l.sku_id, l.location_id
               HAVING l.incoming <> coalesce(sum(i.quantity - i.received), 0)""")
        assert not open_, f"levels' incoming disagrees with open incoming stock: {open_}"
        received = await conn.fetch(
            """SELECT i.id FROM incoming i LEFT JOIN stock_events e
                 ON e.incoming_id = i.id AND e.kind = 'RECEIVED'
               GROUP BY i.id
               HAVING i.received <> coalesce(sum(e.on_hand_delta), 0)
                   OR i.received <> -coalesce(sum(e.incoming_delta), 0)""")
        assert not received, f"incoming.received disagrees with its RECEIVED events: {received}"


async def assert_channel_holds(pool: asyncpg.Pool) -> None:
    """Every hold taken through a channel is at one of the channel's locations (while no test
    removes a location from a channel that holds there)."""
    async with pool.acquire() as conn:
        astray = await conn.fetch(
            """SELECT r.id, r.channel_id, r.location_id FROM reservations r
               WHERE r.channel_id IS NOT NULL AND NOT EXISTS (
                   SELECT 1 FROM channel_locations cl
                   WHERE cl.channel_id = r.channel_id AND cl.location_id = r.location_id)""")
        assert not astray, f"holds outside their channel's locations: {astray}"
