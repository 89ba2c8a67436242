"""The NATS/MQTT relay's lead: a session advisory lock on a connection of its own, and the
notices other instances send it after their commits (feed/relay.py holds and listens)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

RELAY_LOCK = 0x1E1A_7E1A  # the relay's advisory lock key (one per database)
CHANNEL = "inventory_relay"  # NOTIFY channel: SKUs committed on an instance that is not leading
PAYLOAD_LIMIT = 7900  # PostgreSQL's notification payload is below 8000 bytes

TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
UNLOCK = "SELECT pg_advisory_unlock($1)"
HELD = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
  AND ((classid::bigint << 32) | objid::bigint) = $1
"""
NOTIFY = "SELECT pg_notify($1, $2)"


async def connect(dsn: str) -> asyncpg.Connection:
    """A connection outside the pool: the lock lives as long as it does."""
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, command_timeout=10, server_settings={"application_name": "inventory-relay"})
    return conn


async def try_lock(conn: asyncpg.Connection, key: int = RELAY_LOCK) -> bool:
    return bool(await conn.fetchval(TRY_LOCK, key))


async def unlock(conn: asyncpg.Connection, key: int = RELAY_LOCK) -> None:
    await conn.fetchval(UNLOCK, key)


async def held(conn: asyncpg.Connection, key: int = RELAY_LOCK) -> bool:
    """Whether this connection's session still holds the lock (raises if it is lost)."""
    return bool(await conn.fetchval(HELD, key))


async def notify(conn: asyncpg.Connection, skus: Sequence[str]) -> None:
    """Tells the leader, wherever it runs, that `skus` have new entries (one notice per
    PAYLOAD_LIMIT bytes of codes, newline-separated)."""
    chunk: list[str] = []
    size = 0
    for code in skus:
        if chunk and size + len(code.encode()) + 1 > PAYLOAD_LIMIT:
            await conn.fetchval(NOTIFY, CHANNEL, "\n".join(chunk))
            chunk, size = [], 0
        chunk.append(code)
        size += len(code.encode()) + 1
    if chunk:
        await conn.fetchval(NOTIFY, CHANNEL, "\n".join(chunk))
