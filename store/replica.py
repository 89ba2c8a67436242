"""The WAL positions that measure a read replica's lag (service/replica_watch.py's checks)."""

from __future__ import annotations

import asyncpg

PRIMARY_POSITION = "SELECT pg_current_wal_lsn()"
# NULL when the server is not a standby (pg_last_wal_replay_lsn() is NULL there too)
REPLAYED_POSITION = """
SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() END
"""


async def primary_position(conn: asyncpg.Connection) -> int:
    """The primary's current WAL write position (asyncpg reads a pg_lsn as an int)."""
    found: int = await conn.fetchval(PRIMARY_POSITION)
    return found


async def replayed_position(conn: asyncpg.Connection) -> int | None:
    """How far a standby has replayed the WAL; None on a server that is not in recovery."""
    found: int | None = await conn.fetchval(REPLAYED_POSITION)
    return found
