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
               LEFT JOIN (SELECT sku_id, location_id, quantity FROM reservations
                          WHERE status = 'ACTIVE'
                          UNION ALL
                          SELECT c.sku_id, c.location_id, c.quantity
                          FROM reservation_components c
                          JOIN reservations b ON b.id = c.reservation_id
                          WHERE b.status = 'ACTIVE') r
                 ON r.sku_id = l.sku_id AND r.location_id = l.location_id
               GROUP BY l.sku_id, l.location_id
               HAVING l.reserved <> coalesce(sum(r.quantity), 0)""")
        assert not held, f"reserved disagrees with ACTIVE holds (and bundle components): {held}"
        await _assert_bundle_holds_whole(conn)
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
        settled = await conn.fetch(
            """SELECT i.id FROM incoming i LEFT JOIN stock_events e ON e.incoming_id = i.id
               GROUP BY i.id
               HAVING coalesce(sum(e.incoming_delta), 0)
                      <> CASE WHEN i.status = 'EXPECTED' THEN i.quantity - i.received ELSE 0 END""")
        assert not settled, f"an incoming's events do not add up to its open quantity: {settled}"
    await assert_transfers_consistent(pool)


# Per transfer line: its one SHIPPED event at `from`, what its RECEIVED events at `to` added,
# what its ADJUSTED events returned to `from`, and its incoming row at `to`.
TRANSFER_LINES = """
SELECT t.id, t.status, l.sku_id, l.quantity, l.received,
       count(*) FILTER (WHERE e.kind = 'SHIPPED') AS shipments,
       coalesce(sum(e.on_hand_delta) FILTER (WHERE e.kind = 'SHIPPED'), 0) AS shipped,
       coalesce(sum(e.on_hand_delta) FILTER (WHERE e.kind = 'RECEIVED'), 0) AS arrived,
       coalesce(sum(e.on_hand_delta) FILTER (WHERE e.kind = 'ADJUSTED'), 0) AS returned,
       bool_and(e.location_id = CASE WHEN e.kind IN ('SHIPPED', 'ADJUSTED')
                                     THEN t.from_location_id ELSE t.to_location_id END) AS placed,
       bool_and(e.reason IS NOT DISTINCT FROM CASE WHEN e.kind = 'INCOMING' THEN NULL
                                                   ELSE 'TRANSFER' END) AS reasons
FROM transfers t
JOIN transfer_lines l ON l.transfer_id = t.id
LEFT JOIN stock_events e ON e.transfer_id = t.id AND e.sku_id = l.sku_id
GROUP BY t.id, l.sku_id, l.quantity, l.received
"""

TRANSFER_INCOMING = """
SELECT t.id, l.sku_id FROM transfers t
JOIN transfer_lines l ON l.transfer_id = t.id
LEFT JOIN incoming i ON i.transfer_id = t.id AND i.sku_id = l.sku_id
WHERE i.id IS NULL OR i.source <> 'TRANSFER' OR i.location_id <> t.to_location_id
   OR i.quantity <> l.quantity OR i.received <> l.received
   OR i.status <> CASE t.status WHEN 'IN_TRANSIT' THEN 'EXPECTED' ELSE t.status END
"""


async def assert_transfers_consistent(pool: asyncpg.Pool) -> None:
    """Every transfer's lines agree with the events it caused and with its incoming rows."""
    async with pool.acquire() as conn:
        for r in await conn.fetch(TRANSFER_LINES):
            line = dict(r)
            received = r["received"] if r["status"] == "RECEIVED" else 0
            returned = r["quantity"] if r["status"] == "CANCELLED" else 0
            assert (r["shipments"], r["shipped"]) == (1, -r["quantity"]), line
            assert (r["received"], r["arrived"], r["returned"]) == (received, received, returned), line
            assert r["placed"] and r["reasons"], line
        astray = await conn.fetch(TRANSFER_INCOMING)
        assert not astray, f"transfer lines disagree with their incoming rows: {astray}"


async def _assert_bundle_holds_whole(conn: asyncpg.Connection) -> None:
    """A bundle hold has component rows (a plain one none), at its location, each a multiple
    of its quantity; each row has one RESERVED entry with the hold's id and, once closed, one
    entry of its closing kind (COMMITTED also off on hand), and the hold's id is on no other
    SKU's entries: no partial bundle hold, in the levels or in the ledger."""
    shapes = await conn.fetch(
        """SELECT r.id, s.is_bundle, count(c.sku_id) AS parts FROM reservations r
           JOIN skus s ON s.id = r.sku_id
           LEFT JOIN reservation_components c ON c.reservation_id = r.id
           GROUP BY r.id, s.is_bundle
           HAVING s.is_bundle <> (count(c.sku_id) > 0)
               OR bool_or(c.location_id <> r.location_id)
               OR bool_or(c.quantity % r.quantity <> 0)""")
    assert not shapes, f"bundle holds without their component rows (or plain with): {shapes}"
    entries = await conn.fetch(
        """SELECT c.reservation_id, c.sku_id, r.status FROM reservation_components c
           JOIN reservations r ON r.id = c.reservation_id
           LEFT JOIN stock_events e ON e.reservation_id = c.reservation_id
             AND e.sku_id = c.sku_id AND e.location_id = c.location_id
             AND e.kind <> 'MOVED'
           GROUP BY c.reservation_id, c.sku_id, c.quantity, r.status
           HAVING count(*) FILTER (WHERE e.kind = 'RESERVED' AND e.reserved_delta = c.quantity
                                     AND e.on_hand_delta = 0) <> 1
               OR count(*) FILTER (WHERE e.kind <> 'RESERVED')
                  <> CASE WHEN r.status = 'ACTIVE' THEN 0 ELSE 1 END
               OR count(*) FILTER (WHERE e.kind = r.status AND e.reserved_delta = -c.quantity
                   AND e.on_hand_delta = CASE WHEN r.status = 'COMMITTED' THEN -c.quantity
                                              ELSE 0 END)
                  <> CASE WHEN r.status = 'ACTIVE' THEN 0 ELSE 1 END""")
    assert not entries, f"bundle holds' ledger entries disagree with their components: {entries}"
    astray = await conn.fetch(
        """SELECT e.reservation_id, e.sku_id, e.sequence FROM stock_events e
           JOIN reservations r ON r.id = e.reservation_id JOIN skus s ON s.id = r.sku_id
           WHERE s.is_bundle AND NOT EXISTS (
               SELECT 1 FROM reservation_components c
               WHERE c.reservation_id = e.reservation_id AND c.sku_id = e.sku_id
                 AND c.location_id = e.location_id)
             AND NOT (e.location_id <> r.location_id AND e.kind IN ('RESERVED', 'MOVED'))""")
    assert not astray, f"a bundle hold's entries at levels it does not hold: {astray}"
    left = await conn.fetch(
        """SELECT e.reservation_id, e.sku_id, e.location_id FROM stock_events e
           JOIN reservations r ON r.id = e.reservation_id
           WHERE e.location_id <> r.location_id
           GROUP BY e.reservation_id, e.sku_id, e.location_id
           HAVING sum(e.reserved_delta) <> 0 OR sum(e.on_hand_delta) <> 0""")
    assert not left, f"a hold's entries where it no longer is do not net to zero: {left}"


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
