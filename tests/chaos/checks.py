"""After the chaos: what the clients were told against what the database holds (called by
tests/chaos/test_chaos.py, besides tests/ledger_checks.py assert_consistent)."""

from __future__ import annotations

import asyncpg

from tests.chaos.workload import Record


async def oversold(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT sku_id, location_id, on_hand, reserved FROM stock_levels
           WHERE reserved > on_hand OR reserved < 0 OR on_hand < 0""")
    return [f"oversold level {dict(r)}" for r in rows]


async def holds(conn: asyncpg.Connection, record: Record) -> tuple[list[str], int]:
    """Every acknowledged hold exactly once, each unanswered request at most once (all of its
    lines or none); every reservation has one RESERVED event and at most one end."""
    problems: list[str] = []
    rows = await conn.fetch("SELECT reference, id::text FROM reservations")
    by_reference: dict[str, set[str]] = {}
    for row in rows:
        by_reference.setdefault(row["reference"], set()).add(row["id"])
    for reference, ids in record.reserves.items():
        if by_reference.get(reference) != ids:
            problems.append(f"acknowledged {reference} {sorted(ids)}, found "
                            f"{sorted(by_reference.get(reference, ()))}")
    found_unknown = 0
    for reference, lines in record.reserves_unknown.items():
        n = len(by_reference.get(reference, ()))
        found_unknown += n > 0
        if n not in (0, lines):
            problems.append(f"unanswered {reference}: {n} holds for {lines} lines")
    known = set(record.reserves) | set(record.reserves_unknown)
    strays = set(by_reference) - known
    if strays:
        problems.append(f"holds nobody asked for: {sorted(strays)[:10]}")
    events = await conn.fetch(
        """SELECT r.id::text, r.status,
                  count(*) FILTER (WHERE e.kind = 'RESERVED') AS reserved,
                  count(*) FILTER (WHERE e.kind IN ('COMMITTED', 'RELEASED', 'EXPIRED')) AS ended,
                  min(e.kind) FILTER (WHERE e.kind IN ('COMMITTED', 'RELEASED', 'EXPIRED'))
                    AS ending
           FROM reservations r LEFT JOIN stock_events e ON e.reservation_id = r.id
           GROUP BY r.id, r.status""")
    for row in events:
        ending = row["ending"] or "ACTIVE"
        if row["reserved"] != 1 or row["ended"] > 1 or ending != row["status"]:
            problems.append(f"reservation's events disagree: {dict(row)}")
    status = {row["id"]: row["status"] for row in events}
    for held in record.commits:
        if status.get(held) != "COMMITTED":
            problems.append(f"acknowledged commit of {held}, status {status.get(held)}")
    for held in record.releases:
        if status.get(held) != "RELEASED":
            problems.append(f"acknowledged release of {held}, status {status.get(held)}")
    return problems, found_unknown


async def adjustments(conn: asyncpg.Connection, record: Record) -> tuple[list[str], int]:
    rows = await conn.fetch(
        """SELECT reference, count(*) AS n FROM stock_events
           WHERE kind = 'ADJUSTED' AND reference IS NOT NULL GROUP BY reference""")
    found = {row["reference"]: row["n"] for row in rows}
    problems = [f"acknowledged adjustment {ref} found {found.get(ref, 0)} times"
                for ref in record.adjusts if found.get(ref) != 1]
    problems += [f"unanswered adjustment {ref} found {found[ref]} times"
                 for ref in record.adjusts_unknown if found.get(ref, 0) > 1]
    strays = set(found) - record.adjusts - record.adjusts_unknown
    if strays:
        problems.append(f"adjustments nobody asked for: {sorted(strays)[:10]}")
    return problems, sum(1 for ref in record.adjusts_unknown if ref in found)
