"""Webhook deliveries per second with one receiver, 1 and 20 endpoints:
`python -m bench.webhooks [--changes N] [--endpoint-concurrency N]` (DATABASE_URL: the server);
with `--bundles 0,1,10`, what bundles cost the fan-out instead (bench/bundle_cost.py).

The server's own fan-out and delivery loop (bootstrap.lifespan.open_services, as `serve` runs
them) on a fresh database; the receiver is another process answering 204 at once. Changes are
queued while the endpoints are disabled, then the endpoints are enabled: the time until every
delivery is DELIVERED is the delivery loop's alone."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import subprocess
import sys
import time

import asyncpg
from aiohttp import web

from bench.pg import scratch_database
from bench.serverproc import free_port
from bootstrap.lifespan import open_services
from domain.model import LocationKind
from service import cataloguing, stocking
from settings import Settings
from settings.partners import PartnerSettings

SKUS = 50


def receive(port: int) -> None:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{path}", answer)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_for_port(port: int) -> None:
    async with asyncio.timeout(10):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)


async def scenario(admin_url: str, endpoints: int, changes: int, partners: PartnerSettings,
                   port: int) -> tuple[int, float]:
    name = f"bench_webhooks_{os.getpid()}_{endpoints}"
    async with scratch_database(admin_url, name) as url:
        conn = await asyncpg.connect(url)
        for n in range(endpoints):
            await conn.execute("""INSERT INTO webhook_endpoints (url, secret, enabled)
                                  VALUES ($1, $2, false)""",
                               f"http://127.0.0.1:{port}/e{n}", "whsec_" + "A" * 32)
        settings = Settings(database_url=url, pool_max_size=8, partners=partners,
                            log_level="WARNING")
        async with open_services(settings, None) as services:
            async with asyncio.timeout(10):
                while not await conn.fetchval("SELECT count(*) FROM sink_starts"):
                    await asyncio.sleep(0.02)
            inventory = services.inventory
            await cataloguing.upsert_location(inventory, code="W", name="W",
                                              kind=LocationKind.WAREHOUSE)
            codes = [f"B-{n}" for n in range(SKUS)]
            for code in codes:
                await cataloguing.upsert_sku(inventory, code=code, name=code,
                                             low_stock_threshold=0)

            async def change(code: str, rounds: int) -> None:
                for n in range(rounds):  # each: a stock event and an availability change
                    await stocking.set_stock(inventory, sku=code, location="W", on_hand=n % 2 + 1,
                                             safety_stock=None, expected_version=None,
                                             reference=None)

            await asyncio.gather(*(change(code, changes // SKUS) for code in codes))
            wanted = 2 * (changes // SKUS) * SKUS * endpoints
            async with asyncio.timeout(120):
                while await conn.fetchval("SELECT count(*) FROM webhook_deliveries") < wanted:
                    await asyncio.sleep(0.05)
            started = time.perf_counter()
            await conn.execute("UPDATE webhook_endpoints SET enabled = true")
            async with asyncio.timeout(600):
                while await conn.fetchval(
                        "SELECT count(*) FROM webhook_deliveries WHERE status <> 'DELIVERED'"):
                    await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
        await conn.close()
        return wanted, elapsed


async def ceiling(port: int, concurrency: int, count: int) -> float:
    """Plain POSTs of a webhook-sized body to the same receiver, `concurrency` in flight, no
    database: what this machine's loopback and receiver allow in the same run (per second)."""
    import aiohttp

    body = b"x" * 900  # a stock event's CloudEvent is 800-1000 bytes
    left = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def post() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(f"http://127.0.0.1:{port}/ceiling", data=body,
                                        headers={"content-type": "application/json"}) as r:
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(post() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if args.bundles:  # the fan-out's cost of bundles instead (bench/bundle_cost.py)
        from bench import bundle_cost

        await bundle_cost.run(admin_url, [int(n) for n in args.bundles.split(",")],
                              args.changes, dataclasses.replace(PartnerSettings(),
                                                                pool_size=args.pool))
        return
    port = args.port or free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--receive", str(port)])
    try:
        await wait_for_port(port)
        partners = dataclasses.replace(
            PartnerSettings(), webhook_allow_private_networks=True,
            webhook_endpoint_concurrency=args.endpoint_concurrency, pool_size=args.pool)
        for endpoints in (1, 20):
            changes = args.changes if endpoints == 1 else args.changes // 10
            in_flight = min(endpoints * partners.webhook_endpoint_concurrency,
                            partners.webhook_concurrency)
            before = await ceiling(port, in_flight, 4000)
            count, elapsed = await scenario(admin_url, endpoints, changes, partners, port)
            after = await ceiling(port, in_flight, 4000)
            rate, top = count / elapsed, (before + after) / 2
            print(f"{endpoints:>2} endpoint(s): {count} deliveries in {elapsed:.2f} s = "
                  f"{rate:,.0f} deliveries/s (per endpoint and instance "
                  f"{partners.webhook_endpoint_concurrency} in flight, "
                  f"{partners.webhook_concurrency} in all); ceiling (plain POSTs, {in_flight} "
                  f"in flight, same receiver) {before:,.0f} before, {after:,.0f} after: "
                  f"{rate / top:.2f} of it", flush=True)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--receive", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help="the receiver's (default: a free one)")
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--endpoint-concurrency", type=int,
                        default=PartnerSettings().webhook_endpoint_concurrency)
    parser.add_argument("--pool", type=int, default=PartnerSettings().pool_size,
                        help="the partner feeds' connections (PARTNER_POOL_SIZE)")
    parser.add_argument("--bundles", default="",
                        help="instead: the fan-out of a hot SKU's backlog with this many bundles "
                             "made of it, e.g. 0,1,10")
    parsed = parser.parse_args()
    if parsed.receive:
        receive(parsed.receive)
    else:
        asyncio.run(main(parsed))
