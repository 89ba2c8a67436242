"""The relay's and the ingester's leads: session advisory locks on connections of their own, and
the notices sent to the relay after commits (feed/relay.py, service/ingest_lead.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

RELAY_LOCK = 0x1E1A_7E1A  # the relay's advisory lock key (one per database)
INGEST_LOCK = 0x1E1A_16E5  # the NATS ingester's (one ingester per database)
LEDGER_CHECK_LOCK = 0x1E1A_C4EC  # the in-server ledger check's (service/ledger_watch.py)
CHANNEL = "inventory_relay"  # NOTIFY channel: SKUs committed on an instance that is not leading
PAYLOAD_LIMIT = 7900  # PostgreSQL's notification payload is below 8000 bytes

TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
TRY_XACT_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
UNLOCK = "SELECT pg_advisory_unlock($1)"
HELD = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
  AND ((classid::bigint << 32) | objid::bigint) = $1
"""
NOTIFY = "SELECT pg_notify($1, $2)"

# PostgreSQL's side of the lock's connection: a holder whose host froze or was cut off is
# dropped, and its lock freed, within DEAD_HOLDER seconds instead of the OS default (~2 h):
# probes after 10 s idle, every 5 s, 3 missed = 25 s; unacknowledged data (a NOTIFY it sends)
# gives up after 25 s too. Over a Unix socket PostgreSQL ignores them (SHOW says 0).
KEEPALIVE = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "25000",  # ms
}
# A relay round's transaction (its cursors' row locks) outlives a frozen holder no longer than
# this: PostgreSQL ends a session idle in a transaction that long (feed/tail.py's rounds are
# bounded well below it, see feed/jetstream.py ROUND_DEADLINE)
ROUND_IDLE_LIMIT = 30.0
BOUND_ROUND = "SELECT set_config('idle_in_transaction_session_timeout', $1, true)"


async def connect(dsn: str, name: str = "inventory-relay") -> asyncpg.Connection:
    """A connection outside the pool: the lock lives as long as it does (KEEPALIVE bounds how
    long PostgreSQL believes in a holder that vanished)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, command_timeout=10,
        server_settings={"application_name": name, **KEEPALIVE})
    return conn


async def bound_round(conn: asyncpg.Connection, limit: float = ROUND_IDLE_LIMIT) -> None:
    """Within a round's transaction: if its holder vanishes, PostgreSQL ends the session after
    `limit` seconds of silence, so the cursors it locked are not skipped for hours."""
    await conn.fetchval(BOUND_ROUND, f"{int(limit * 1000)}ms")


async def try_lock(conn: asyncpg.Connection, key: int = RELAY_LOCK) -> bool:
    return bool(await conn.fetchval(TRY_LOCK, key))


async def try_xact_lock(conn: asyncpg.Connection, key: int) -> bool:
    """Within a transaction: the lock until it ends, if no other session holds it."""
    return bool(await conn.fetchval(TRY_XACT_LOCK, key))


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


async def drop(conn: asyncpg.Connection | None) -> None:
    """Closes a lock's connection (which releases the lock) without waiting long: the relay's,
    the ingester's."""
    if conn is None or conn.is_closed():
        return
    try:
        async with asyncio.timeout(2):
            await conn.close()
    except Exception:
        conn.terminate()
