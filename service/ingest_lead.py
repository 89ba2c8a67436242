"""The ingester's leadership: one instance at a time holds INGEST_LOCK (store/leases.py) on a
connection of its own and runs the consuming; a lost lock stops it at once (service/ingester.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from ops.metrics import INGEST_LEADER
from store import leases
from store.errors import log_failure

log = logging.getLogger("service.ingest")
Work = Callable[[], Coroutine[Any, Any, None]]


class LeadLost(Exception):
    pass


async def lead(
    connect: Callable[[], Awaitable[asyncpg.Connection]], work: Work,
    *, retry: float = 2.0, check_interval: float = 1.0, key: int = leases.INGEST_LOCK,
) -> None:
    """Until cancelled: tries the lock every `retry` seconds; while held, runs `work()` (which
    runs until cancelled), checking the lock every `check_interval`. A holder that dies frees
    the lock with its connection, so another instance takes over within `retry` seconds."""
    conn: asyncpg.Connection | None = None
    waiting_logged = False
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await connect()
                if await leases.try_lock(conn, key):
                    waiting_logged = False
                    await _hold(conn, work, min(check_interval, retry), key)
                elif not waiting_logged:
                    log.info("ingest: another instance ingests; trying every %gs", retry)
                    waiting_logged = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, LeadLost):
                    log_failure(log, exc, "ingest: the lock")
                await leases.drop(conn)
                conn = None
            await asyncio.sleep(retry)
    finally:
        await leases.drop(conn)


async def _hold(conn: asyncpg.Connection, work: Work,
                check_interval: float, key: int) -> None:
    """Runs `work` until the lock is lost (LeadLost), `work` ends, or the task is cancelled."""
    lost = asyncio.Event()

    def closed(_: Any) -> None:
        lost.set()

    task = asyncio.create_task(work())
    watch = asyncio.create_task(lost.wait())
    conn.add_termination_listener(closed)
    INGEST_LEADER.set(1)
    log.info("ingest: leading")
    reason = "stopped"
    try:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(check_interval):
                    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                break
            if lost.is_set():
                reason = "its database connection closed"
                raise LeadLost(reason)
            try:
                async with asyncio.timeout(max(check_interval, 1.0)):
                    still = await leases.held(conn, key)
            except Exception as exc:
                reason = f"its database connection failed: {type(exc).__name__}"
                raise LeadLost(reason) from exc
            if not still:
                reason = "the lock is no longer held"
                raise LeadLost(reason)
        task.result()  # work ended by itself: its failure is the lock loop's to log
    finally:
        task.cancel()
        watch.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
        INGEST_LEADER.set(0)
        with contextlib.suppress(Exception):
            conn.remove_termination_listener(closed)
        log.info("ingest: no longer leading (%s)", reason)
