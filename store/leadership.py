"""One instance at a time runs some work while it holds a session advisory lock (store/leases.py)
on a connection of its own: the relay (feed/relay.py) and the ingester (service/ingest_lead.py).

A closed connection or a lock no longer held stops the work at once; the lock is tried again
every `retry` seconds, so when the holder dies (its connection, and with it the lock, goes)
another instance takes over within `retry` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client import Gauge

from store import leases
from store.errors import log_failure

Work = Callable[[asyncpg.Connection], Coroutine[Any, Any, None]]


class LeadLost(Exception):
    pass


@dataclass(frozen=True)
class Lease:
    """Which lock, and how the leader says so: `name` starts its log lines ("relay",
    "ingest"), `waiting` is the one line logged while another instance leads, `gauge` is 1 on
    the leader."""

    key: int
    log: logging.Logger
    name: str
    waiting: str
    gauge: Gauge
    retry: float = 2.0
    check_interval: float = 1.0


async def lead(connect: Callable[[], Awaitable[asyncpg.Connection]], lease: Lease,
               work: Work) -> None:
    """Until cancelled: tries the lock every `lease.retry` seconds and, while it holds it, runs
    `work(conn)` (until cancelled, or until it ends by itself: then the lock is let go and
    tried again), checking the lock every `lease.check_interval`."""
    conn: asyncpg.Connection | None = None
    waiting_logged = False
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await connect()
                if await leases.try_lock(conn, lease.key):
                    waiting_logged = False
                    await _hold(conn, lease, work)
                elif not waiting_logged:
                    lease.log.info("%s: %s; trying every %gs", lease.name, lease.waiting,
                                   lease.retry)
                    waiting_logged = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, LeadLost):
                    log_failure(lease.log, exc, f"{lease.name}: the lock")
                await leases.drop(conn)
                conn = None
            await asyncio.sleep(lease.retry)
    finally:
        await leases.drop(conn)


async def _hold(conn: asyncpg.Connection, lease: Lease, work: Work) -> None:
    """Runs `work` until the lock is lost (LeadLost), `work` ends, or the task is cancelled."""
    lost = asyncio.Event()
    check = min(lease.check_interval, lease.retry)

    def closed(_: Any) -> None:
        lost.set()

    conn.add_termination_listener(closed)
    task = asyncio.create_task(work(conn))
    watch = asyncio.create_task(lost.wait())
    lease.gauge.set(1)
    reason = "stopped"
    try:
        while not task.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(check):
                    await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                break
            if lost.is_set():
                reason = "its database connection closed"
                raise LeadLost(reason)
            try:
                async with asyncio.timeout(max(check, 1.0)):
                    still = await leases.held(conn, lease.key)
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
        lease.gauge.set(0)
        with contextlib.suppress(Exception):
            conn.remove_termination_listener(closed)
        lease.log.info("%s: no longer leading (%s)", lease.name, reason)
