"""Apply the numbered SQL files of migrations/ in order, once, under an advisory lock (called by
server.py at startup, cli.py `migrate` and /readyz)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
LOCK_ID = 0x1E57_0C4B  # any constant shared by every instance

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def pending(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = (
        {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        if exists
        else set()
    )
    return [p.stem for p in migration_files(directory) if p.stem not in applied]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; safe when several instances start at once."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
    try:
        await conn.execute(CREATE_TABLE)
        done = []
        for name in await pending(conn, directory):
            path = directory / f"{name}.sql"
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", name)
            log.info("applied migration %s", name)
            done.append(name)
        return done
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
        except BaseException:
            # a pooled connection is not reset on release (store.database): never hand one
            # back still holding the lock (one that broke is gone already)
            with contextlib.suppress(asyncpg.InterfaceError):
                conn.terminate()
            raise
