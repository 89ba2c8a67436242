"""What the in-server ledger check costs: `python -m bench.ledger_check --skus 2000 --entries 500`.

A fresh database gets `--skus` SKUs at one location with `--entries` ledger entries each (the
seed's SET, then entries that move nothing, so the figures agree). Timed, best of 3 each: the
ceiling (one pass over the ledger: count and sum of every entry), the in-server check
(store/audit.py count_drift, one statement) and the CLI's `check` (find_drift). Prints their
ratios to the ceiling; BENCHMARKS.md keeps the figures."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable

import asyncpg

from bench.pg import LOCATION, SEED, scratch_database
from store import audit

MORE = """
INSERT INTO stock_events (
    sku_id, sequence, kind, location_id, on_hand_delta, reserved_delta, level_on_hand,
    level_reserved, level_safety, level_version, sku_on_hand, sku_reserved, available, status,
    reason, reference)
SELECT e.sku_id, n, 'ADJUSTED', e.location_id, 0, 0, e.level_on_hand, 0, 0, 1,
       e.sku_on_hand, 0, e.available, e.status, 'CORRECTION', 'bench'
FROM stock_events e, generate_series(2, $1) n
"""
CEILING = "SELECT count(*), sum(on_hand_delta) FROM stock_events"


async def best(run: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return min(times)


async def measure(url: str, skus: int, entries: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SEED, "LC-", skus, 100, LOCATION)
        await conn.execute(MORE, entries)
        await conn.execute("UPDATE skus SET last_sequence = $1", entries)
        await conn.execute("ANALYZE")
        rows = await conn.fetchval("SELECT count(*) FROM stock_events")
        assert await audit.count_drift(conn) == 0
        ceiling = await best(lambda: conn.fetch(CEILING))
        check = await best(lambda: audit.count_drift(conn))
        cli = await best(lambda: audit.find_drift(conn))
    finally:
        await conn.close()
    print(f"ledger entries: {rows:,} ({skus} SKUs x {entries})")
    for name, seconds in (("ceiling: one pass over the ledger", ceiling),
                          ("in-server check (count_drift)", check),
                          ("CLI check (find_drift)", cli)):
        print(f"{name:36} {seconds * 1000:9.1f} ms  {seconds / ceiling:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=500)
    args = parser.parse_args()
    admin = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"

    async def run() -> None:
        async with scratch_database(admin, "bench_ledger_check") as url:
            await measure(url, args.skus, args.entries)

    asyncio.run(run())


if __name__ == "__main__":
    main()
