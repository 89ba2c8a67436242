"""The read replica's lag, measured every READ_REPLICA_CHECK_INTERVAL_MS on each instance
(bootstrap/lifespan.py runs it), exported, and the replica routed by it.

Past READ_REPLICA_MAX_LAG_MS or while unreachable, the replica is out of use; back in once it
has caught up (domain/replica_lag.py says how the lag is worked out)."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from domain.replica_lag import LagClock
from ops.metrics import READ_REPLICA_LAG
from store import replica
from store.read_pool import ACQUIRE_TIMEOUT, ReadPool

log = logging.getLogger("inventory")


async def check(reads: ReadPool, clock: LagClock, max_lag: float) -> float:
    """One measurement: the lag (NaN: the replica or the primary did not answer)."""
    try:
        async with asyncio.timeout(ACQUIRE_TIMEOUT * 2):
            sampled_at = time.monotonic()
            async with reads.primary.acquire() as conn:
                primary = await replica.primary_position(conn)
            async with reads.replica.acquire() as conn:
                replayed = await replica.replayed_position(conn)
    except Exception as exc:  # refused, timed out, a standby shutting down, a broken socket
        return _unreachable(reads, clock, type(exc).__name__)
    lag = clock.measure(sampled_at, primary, replayed, time.monotonic())
    READ_REPLICA_LAG.set(lag.seconds)
    if not lag.known:
        reads.route(False, f"not caught up yet, at least {lag.seconds:.3f} s behind")
    elif lag.seconds > max_lag:
        reads.route(False, f"{lag.seconds:.3f} s behind, over {max_lag:.3f} s")
    else:
        reads.route(True, f"{lag.seconds:.3f} s behind")
    return lag.seconds


def _unreachable(reads: ReadPool, clock: LagClock, reason: str) -> float:
    clock.forget()
    READ_REPLICA_LAG.set(math.nan)
    reads.route(False, f"unreachable: {reason}")
    return math.nan


async def watch_replica(reads: ReadPool, interval: float, max_lag: float) -> None:
    """Until cancelled."""
    clock = LagClock()
    while True:
        started = time.monotonic()
        await check(reads, clock, max_lag)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
