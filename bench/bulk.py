"""Bulk stock lines/s: bulkAdjustStock's use case (keys, atomic and not) beside the same
set-based SQL through asyncpg alone, in one run on a scratch database (python -m bench.bulk).

Each round is one call of 1,000 lines over 1,000 levels (500 SKUs x 2 locations), lines in a
random order; figures go to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from domain.bulk import StockLine
from domain.model import AdjustmentReason
from domain.rules import Limits
from service import bulk, stocking
from service.inventory import Inventory
from store import migrations
from store.bulk_levels import apply_lines
from store.database import create_pool

SEED = """
INSERT INTO locations (code, name, kind) VALUES ('B-A', 'A', 'WAREHOUSE'), ('B-B', 'B', 'STORE');
INSERT INTO skus (code, name) SELECT 'B-' || n, 'B-' || n FROM generate_series(1, 500) n;
"""


def _lines(rng: random.Random, run: str, keyed: bool) -> list[StockLine]:
    lines = [StockLine(f"B-{n}", where, delta=rng.randint(1, 5),
                       reason=AdjustmentReason.RESTOCK, reference=f"bench-{run}-{n}-{where}",
                       idempotency_key=f"{run}-{n}-{where}" if keyed else None)
             for n in range(1, 501) for where in ("B-A", "B-B")]
    rng.shuffle(lines)
    return lines


async def _rate(rounds: int, call: Callable[[int], Awaitable[None]]) -> float:
    await call(-1)  # warm up
    started = time.perf_counter()
    for n in range(rounds):
        await call(n)
    return rounds * 1000 / (time.perf_counter() - started)


async def measure(pool: asyncpg.Pool, rounds: int) -> dict[str, float]:
    inventory = Inventory(pool, Limits())
    rng = random.Random(14)

    async def service(atomic: bool, keyed: bool) -> Callable[[int], Awaitable[None]]:
        async def call(n: int) -> None:
            run = f"{atomic}-{keyed}-{n}"
            done = await bulk.adjust_many(inventory, _lines(rng, run, keyed), atomic=atomic,
                                          refusals={})
            assert all(o.error is None for o in done.lines)
        return call

    async def sql(n: int) -> None:
        lines = _lines(rng, f"sql-{n}", False)
        async with pool.acquire() as conn, conn.transaction():
            outcomes = await apply_lines(conn, lines, 1_000_000)
        assert all(o.error is None for o in outcomes)

    async def singles(n: int) -> None:
        for line in _lines(rng, f"single-{n}", True):
            await stocking.adjust(inventory, sku=line.sku, location=line.location,
                                  delta=line.delta, reason=AdjustmentReason.RESTOCK,
                                  reference=line.reference, idempotency_key=line.idempotency_key)

    return {
        "adjustStock use case, one keyed line per call (for scale)": await _rate(1, singles),
        "set-based SQL through asyncpg (store.bulk_levels, no keys)": await _rate(rounds, sql),
        "bulkAdjustStock use case, per-line, no keys": await _rate(
            rounds, await service(False, False)),
        "bulkAdjustStock use case, per-line, a key per line": await _rate(
            rounds, await service(False, True)),
        "bulkAdjustStock use case, atomic, a key per line": await _rate(
            rounds, await service(True, True)),
    }


async def main(admin_url: str, rounds: int) -> None:
    name = f"bench_bulk_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        pool = await create_pool(url, min_size=1, max_size=2)
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
            await conn.execute(SEED)
        try:
            for label, rate in (await measure(pool, rounds)).items():
                print(f"{rate:10.0f} lines/s  {label}")
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.rounds))
