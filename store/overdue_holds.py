"""ACTIVE holds past their expiry, read for the alert rules at each /metrics scrape
(service/overdue_holds.py); the partial index reservations_active_expiry answers it."""

from __future__ import annotations

import asyncpg

OVERDUE = """
SELECT count(*) AS count,
       coalesce(extract(epoch FROM now() - min(expires_at)), 0)::float8 AS oldest_seconds
FROM reservations WHERE status = 'ACTIVE' AND expires_at < now()
"""


async def overdue(conn: asyncpg.Connection) -> tuple[int, float]:
    """How many ACTIVE holds are past their expiry, and how long the oldest one has been."""
    row = await conn.fetchrow(OVERDUE)
    assert row is not None
    return int(row["count"]), float(row["oldest_seconds"])
