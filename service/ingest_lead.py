"""The ingester's leadership: one instance at a time holds INGEST_LOCK and runs the consuming
(service/ingester.py); store/leadership.py is the lock loop, a lost lock stops it at once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from ops.metrics import INGEST_LEADER
from store import leadership, leases

log = logging.getLogger("service.ingest")
Work = Callable[[], Coroutine[Any, Any, None]]


async def lead(
    connect: Callable[[], Awaitable[asyncpg.Connection]], work: Work,
    *, retry: float = 2.0, check_interval: float = 1.0, key: int = leases.INGEST_LOCK,
) -> None:
    """Until cancelled: tries the lock every `retry` seconds; while held, runs `work()` (which
    runs until cancelled), checking the lock every `check_interval`."""
    lease = leadership.Lease(key=key, log=log, name="ingest", gauge=INGEST_LEADER,
                             waiting="another instance ingests", retry=retry,
                             check_interval=check_interval)

    async def consume(_conn: asyncpg.Connection) -> None:
        log.info("ingest: leading")
        await work()

    await leadership.lead(connect, lease, consume)
