"""What an idle product page costs the server: 400 sockets, each with one stockEvents
subscription, opened by another process against a real uvicorn (configured as `serve` runs
it: no permessage-deflate, web/ws_protocol.py). The server's traced allocations per socket
must stay well under what they were before the memory work (58 KB; now ~39 KB)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
import textwrap
import tracemalloc
from collections.abc import AsyncIterator

import aiohttp
import pytest

from settings import Settings
from tests.api.conftest import SETUP
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SOCKETS = 400
MAX_KB_PER_SOCKET = 48


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One process opens every socket from one address: a memory measurement, not a test of
    the per-address feed cap or rate (tests/api/test_feed_slots.py, test_caller_limits.py)."""
    return dataclasses.replace(settings, rate_limit_anonymous=0,
                               max_anonymous_feeds_per_address=1000)

CLIENT = textwrap.dedent('''
    import asyncio, json, sys
    import websockets

    async def one(url, sku, ready):
        ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None)
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($s: String!) { stockEvents(sku: $s) { sequence kind available } }",
            "variables": {"s": sku}}}))
        assert json.loads(await ws.recv())["payload"]["data"]["stockEvents"]["kind"] == "SNAPSHOT"
        ready.append(ws)

    async def main(url, n):
        ready = []
        gate = asyncio.Semaphore(50)
        async def gated(i):
            async with gate:
                await one(url, "SKU-1" if i % 2 else "SKU-2", ready)
        await asyncio.gather(*(gated(i) for i in range(n)))
        print("ready", len(ready), flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
''')


@contextlib.asynccontextmanager
async def idle_sockets(server: RunningServer, count: int) -> AsyncIterator[float]:
    """Opens `count` idle subscribed sockets from another process (the catalogue of
    tests/api/conftest.SETUP, half on SKU-1, half on SKU-2) and yields the server's traced
    growth per socket in KB; the sockets stay open until the block ends."""
    async with aiohttp.ClientSession() as session:
        data = await GraphQLClient(server.graphql_url, session, ADMIN).data(SETUP)
        assert all(v["userErrors"] == [] for v in data.values())
    tracemalloc.start()
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, server.ws_url, str(count), stdout=asyncio.subprocess.PIPE)
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert client.stdout is not None
        async with asyncio.timeout(120):
            line = await client.stdout.readline()
        assert line.decode().split() == ["ready", str(count)], line
        await asyncio.sleep(0.5)  # let the last acknowledgements settle
        yield (tracemalloc.get_traced_memory()[0] - before) / count / 1024
    finally:
        tracemalloc.stop()
        client.kill()
        await client.wait()


async def test_an_idle_subscriber_costs_the_server_under_48_kb(server: RunningServer) -> None:
    async with idle_sockets(server, SOCKETS) as per_socket:
        pass
    assert per_socket < MAX_KB_PER_SOCKET, f"{per_socket:.1f} KB per idle subscriber"
    print(f"{per_socket:.1f} KB per idle subscriber")
