"""Operating the server: metrics, readiness, drift check, graceful shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
import websockets

from ops import health
from settings import Settings
from tests.api.test_mutations import RESERVE, call
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, ADMIN_KEY, RunningServer
from tests.ledger_checks import assert_consistent
from tests.processes import ROOT, ServerProcess
from tests.redis_server import RedisServer


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^(\w+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


async def metrics(server: RunningServer) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as r:
        assert r.status == 200
        return await r.text()


async def test_metrics_move_with_reservations_and_deliveries(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    before = await metrics(server)
    for name in ("inventory_graphql_requests_total", "inventory_reservations_total",
                 "inventory_websocket_connections", "inventory_subscriptions",
                 "inventory_events_published_total", "inventory_events_delivered_total",
                 "inventory_feed_lag_seconds_bucket", "inventory_db_pool_connections",
                 "inventory_graphql_request_seconds_bucket"):
        assert name in before or name.replace("_total", "") in before, name
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 1})
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 999})
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
        await feed.next()
        during = await metrics(server)
        await restock(catalogue)
        await feed.next()
    after = await metrics(server)
    assert sample(after, "inventory_reservations_total", outcome="held") == sample(before, "inventory_reservations_total", outcome="held") + 1
    assert sample(after, "inventory_reservations_total", outcome="insufficient") == sample(before, "inventory_reservations_total", outcome="insufficient") + 1
    assert sample(during, "inventory_websocket_connections") == 1
    assert sample(during, "inventory_subscriptions", kind="stockEvents") == 1
    assert sample(after, "inventory_events_delivered_total") >= sample(before, "inventory_events_delivered_total") + 1
    assert sample(after, "inventory_events_published_total", result="ok") >= 3
    assert sample(after, "inventory_graphql_requests_total", operation="reserve", type="mutation", outcome="ok") >= 2


@pytest.fixture
async def redis_backed(settings: Settings, redis_url: str) -> AsyncIterator[RunningServer]:
    async with RunningServer(dataclasses.replace(settings, redis_url=redis_url)) as running:
        yield running


async def test_readyz_follows_redis(redis_backed: RunningServer, redis_server: RedisServer) -> None:
    async def ready() -> tuple[int, dict[str, str]]:
        async with aiohttp.ClientSession() as session, session.get(f"{redis_backed.url}/readyz") as r:
            return r.status, await r.json()

    assert await ready() == (200, {"status": "ready", "database": "ok", "redis": "ok"})
    redis_server.stop()
    try:
        status, body = await ready()
        assert status == 503 and body["redis"].startswith("down") and body["database"] == "ok"
        async with aiohttp.ClientSession() as session, session.get(f"{redis_backed.url}/healthz") as r:
            assert r.status == 200  # the process itself is fine
    finally:
        redis_server.start()
    async with asyncio.timeout(10):
        while (await ready())[0] != 200:
            await asyncio.sleep(0.1)


async def test_readyz_is_ready_at_once_after_a_redis_restart(
    redis_backed: RunningServer, redis_server: RedisServer
) -> None:
    """The shared client's pooled connection went stale with the restart: the first command on
    it reconnects rather than fail (no spurious 503 from /readyz, no failed rate-limit lease)."""
    async def ready() -> tuple[int, dict[str, str]]:
        async with asyncio.timeout(5), aiohttp.ClientSession() as session, session.get(
            f"{redis_backed.url}/readyz"
        ) as r:
            return r.status, await r.json()

    shared = redis_backed.server.lifespan.state["services"].redis
    up = (200, {"status": "ready", "database": "ok", "redis": "ok"})
    assert await ready() == up  # the pool holds a connection now
    try:
        redis_server.stop()
    finally:
        # Blocking the loop: the pooled connection has not read the old server's EOF yet, as
        # when Redis failed over behind the same address. start() returns once Redis answers.
        redis_server.start()
    async with asyncio.timeout(5):
        assert await health.redis_status(shared) == "ok"  # what /readyz asks, on that connection
    assert await ready() == up


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "server.py", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=60,
                          env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"})


async def test_check_finds_injected_drift_and_repairs_it(
    catalogue: GraphQLClient, pool: asyncpg.Pool, database_url: str
) -> None:
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 2, "location": "WH-A"})
    assert run_cli(database_url, "check").returncode == 0
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE stock_levels SET on_hand = on_hand + 5, reserved = 0
                              WHERE location_id = (SELECT id FROM locations WHERE code = 'WH-A')""")
    found = run_cli(database_url, "check")
    assert found.returncode == 1
    assert "SKU-1@WH-A: onHand 15 (ledger 10), reserved 0 (ACTIVE reservations 2" in found.stdout
    repaired = run_cli(database_url, "check", "--repair")
    assert repaired.returncode == 0 and "repaired" in repaired.stdout, repaired.stdout + repaired.stderr
    assert run_cli(database_url, "check").returncode == 0
    await assert_consistent(pool)
    sku = (await catalogue.data('{ sku(code: "SKU-1") { onHand reserved } }'))["sku"]
    assert sku == {"onHand": 14, "reserved": 2}


async def test_check_finds_incoming_drift_and_repairs_it(
    catalogue: GraphQLClient, pool: asyncpg.Pool, database_url: str
) -> None:
    """A level's incoming is checked against the open incoming stock (a transfer's here) and
    the ledger's incoming deltas; a repair sets it to what is open."""
    shipped = await catalogue.data("""mutation { shipTransfer(input: {from: "WH-A", to: "ST-B",
        lines: [{sku: "SKU-1", quantity: 3}]}) { userErrors { code } } }""")
    assert shipped["shipTransfer"]["userErrors"] == []
    assert run_cli(database_url, "check").returncode == 0
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE stock_levels SET incoming = incoming + 2
                              WHERE location_id = (SELECT id FROM locations WHERE code = 'ST-B')""")
    found = run_cli(database_url, "check")
    assert found.returncode == 1
    assert "SKU-1@ST-B: onHand 4 (ledger 4), reserved 0 (ACTIVE reservations 0, ledger 0), " \
           "incoming 5 (open incoming 3, ledger 3)" in found.stdout, found.stdout
    repaired = run_cli(database_url, "check", "--repair")
    assert repaired.returncode == 0 and "repaired" in repaired.stdout, repaired.stdout + repaired.stderr
    assert run_cli(database_url, "check").returncode == 0
    await assert_consistent(pool)
    level = (await catalogue.data('{ sku(code: "SKU-1") { levels(location: "ST-B") { incoming } } }'))
    assert level["sku"]["levels"] == [{"incoming": 3}]


async def test_sigterm_during_reserves_loses_nothing_acknowledged(
    database_url: str, pool: asyncpg.Pool
) -> None:
    server = ServerProcess({"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY,
                            "GRACE_SECONDS": "10"})
    await server.start()
    acknowledged: list[str] = []
    failures: list[str] = []
    async with aiohttp.ClientSession() as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await client.data('mutation { upsertLocation(input: {code: "W", name: "w", kind: WAREHOUSE}) { userErrors { code } } upsertSku(input: {code: "S", name: "s"}) { userErrors { code } } }')
        await client.data('mutation { setStock(input: {sku: "S", location: "W", onHand: 100000}) { userErrors { code } } }')
        socket = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
        await socket.send('{"type": "connection_init"}')
        await socket.send('{"id": "1", "type": "subscribe", "payload": {"query": "subscription { stockEvents(sku: \\"S\\") { sequence } }"}}')
        stop = asyncio.Event()

        async def reserver() -> None:
            while not stop.is_set():
                try:
                    p = await call(client, RESERVE, "reserve", {"sku": "S", "quantity": 1})
                    acknowledged.append(p["reservation"]["id"])
                except (aiohttp.ClientError, AssertionError, ValueError) as exc:
                    failures.append(repr(exc))
                    await asyncio.sleep(0.01)

        workers = [asyncio.create_task(reserver()) for _ in range(8)]
        async with asyncio.timeout(20):
            while len(acknowledged) < 50:
                await asyncio.sleep(0.01)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.process.wait, 20)
        stop.set()
        await asyncio.gather(*workers)
        # the subscriber was told to reconnect elsewhere (1012 service restart), not hung
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await socket.recv()
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    async with pool.acquire() as conn:
        stored = {r["id"] for r in await conn.fetch("SELECT id::text AS id FROM reservations")}
    assert set(acknowledged) <= stored
    await assert_consistent(pool)
