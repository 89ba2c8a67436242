"""Reads that may be stale: the replica's pool while it is in use, else the primary's (made by
bootstrap/resources.py, routed by service/replica_watch.py, read by resolvers/context.py).

It stands in for an asyncpg pool where reads take one (`acquire`, `fetch`, `fetchrow`,
`fetchval`). A replica that cannot hand out a connection (it died, it is restarting) sends that
read to the primary and goes out of use until the next check finds it healthy again, so a dead
standby costs no failed read unless it dies in the middle of one (that read fails with
SERVICE_UNAVAILABLE, as on the primary, and the replica goes out of use)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from ops.metrics import READ_REPLICA_IN_USE
from store.errors import connection_lost

log = logging.getLogger("inventory")

ACQUIRE_TIMEOUT = 1.0  # a replica slower than this to hand out a connection is not used


class ReadPool:
    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool) -> None:
        self.primary = primary
        self.replica = replica
        self.in_use = False
        READ_REPLICA_IN_USE.set(0)

    def route(self, in_use: bool, reason: str) -> None:
        """Reads go to the replica (True) or the primary; one log line per change."""
        if in_use == self.in_use:
            return
        self.in_use = in_use
        READ_REPLICA_IN_USE.set(1 if in_use else 0)
        if in_use:
            log.info("read replica in use (%s)", reason)
        else:
            log.warning("read replica out of use, reads go to the primary (%s)", reason)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        if self.in_use:
            try:
                conn = await self.replica.acquire(timeout=ACQUIRE_TIMEOUT)
            except Exception as exc:  # nothing ran yet: refused, timed out, shutting down...
                self.route(False, f"no connection: {type(exc).__name__}")
            else:
                try:
                    yield conn
                except Exception as exc:
                    if connection_lost(exc):  # the read fails; the next ones need not
                        self.route(False, f"connection lost: {type(exc).__name__}")
                    raise
                finally:
                    await self.replica.release(conn)
                return
        async with self.primary.acquire() as conn:
            yield conn

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            found: list[asyncpg.Record] = await conn.fetch(query, *args)
            return found

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.acquire() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.acquire() as conn:
            return await conn.fetchval(query, *args)
