"""The ceilings CAPACITY.md's model runs into, measured beside the costs by bench/capacity.py:
one PostgreSQL's commits/s of the reserve transaction (one reservation per commit, and group
commit through store.hold_batch as the server's drains do it, on many SKUs and on one hot SKU),
and Redis PUBLISH/s of event-sized messages with a subscriber receiving them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from redis import asyncio as aioredis

from bench import ceiling
from bench.harness import Harness
from bench.load import closed_loop
from bench.pg import sku_code
from store import database, hold_batch

Sample = dict[str, float]


def _per(cpu: dict[str, float], count: int, seconds: float) -> Sample:
    """Rates and CPU per operation (ms) of one window."""
    n = max(1, count)
    return {"count": count, "per_s": count / seconds if seconds else 0.0,
            "postgres_ms": 1000 * cpu["postgres_cpu_s"] / n,
            "redis_us": 1e6 * cpu["redis_cpu_s"] / n,
            "other_cores": cpu["other_cpu_s"] / (cpu["wall_s"] or 1.0)}


async def single_commits(h: Harness, url: str, skus: int, clients: int = 32,
                         pool: int = 8) -> Sample:
    """store.reservations.reserve, one reservation per transaction, random SKUs: what one
    primary commits without batching (commits/s = reserves/s)."""
    rng = random.Random(5)
    measured = h.measured(None)
    tally = await ceiling.reserve_loop(
        url, pool, clients, 0.5, h.config.seconds,
        lambda: sku_code(rng.randint(1, skus)), on_start=measured.start, on_stop=measured.end)
    cpu = await measured.stop()
    return _per(cpu, tally.outcomes["held"], tally.seconds)


async def batched_commits(h: Harness, url: str, skus: int, batch: int, drains: int) -> Sample:
    """store.hold_batch.hold_many in one transaction per `batch` requests, `drains`
    connections committing at once (the server runs two per process). skus == 1: every batch
    is the same hot SKU, so batches queue on its row locks, as on a shared primary."""
    pool = await database.create_pool(url, min_size=drains, max_size=drains)
    rng = random.Random(6)
    batches = 0

    async def call(_: int) -> str:
        nonlocal batches
        requests = [(sku_code(rng.randint(1, skus)), hold_batch.HoldRequest(None, 1, 900, None))
                    for _ in range(batch)]
        async with pool.acquire() as conn, conn.transaction():
            outcomes = await hold_batch.hold_many(conn, requests)
        if any(o is None or o.error is not None for o in outcomes):
            return "error"
        batches += 1
        return "ok"

    measured = h.measured(None)
    try:
        tally = await closed_loop(drains, 0.5, h.config.seconds, call,
                                  on_start=measured.start, on_stop=measured.end)
    finally:
        await pool.close()
    cpu = await measured.stop()
    commits = tally.outcomes["ok"]
    found = _per(cpu, commits * batch, tally.seconds)  # per reservation
    found["commits_per_s"] = commits / tally.seconds
    found["errors"] = tally.outcomes["error"]
    return found


async def redis_publishes(h: Harness, size: int, pipeline: int = 100) -> Sample:
    """PUBLISH of `size`-byte messages, `pipeline` per round trip from one client (as the
    server's outbox sends what queued), to a channel one pattern subscriber receives;
    published/s and received/s over the window."""
    channel = f"bench-{h.config.run_id}-cap-redis"
    publisher = aioredis.Redis.from_url(h.config.redis_url)
    listener = aioredis.Redis.from_url(h.config.redis_url)
    pubsub = listener.pubsub()
    await pubsub.psubscribe(f"{channel}*")
    received = 0

    async def receive() -> None:
        nonlocal received
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                received += 1

    receiver = asyncio.create_task(receive())
    body = b"x" * size
    published = 0
    measured = h.measured(None)
    try:
        measured.start()
        started = time.perf_counter()
        deadline = started + min(h.config.seconds, 2.0)
        while time.perf_counter() < deadline:
            async with publisher.pipeline(transaction=False) as pipe:
                for n in range(pipeline):
                    pipe.publish(f"{channel}:{n % 50}", body)
                await pipe.execute()
            published += pipeline
        seconds = time.perf_counter() - started
        seen = received
        measured.end()
        cpu = await measured.stop()
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await listener.aclose()
        await publisher.aclose()
    found = _per(cpu, published, seconds)
    found["received_per_s"] = seen / seconds
    return found
