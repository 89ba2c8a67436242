"""What an idle relayed subscriber costs the server (resolvers/websocket.py, feed/audience.py):
500 graphql-transport-ws sockets, each with one stockEvents subscription, opened by another
process against a real uvicorn configured as `serve` runs it. Traced growth per socket was
36.5 KB with a task and generator pipeline per subscription; relayed it is ~22 KB."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc

import aiohttp

from tests.api.conftest import SETUP
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer
from tests.integration.test_socket_memory import CLIENT

SOCKETS = 500
MAX_KB_PER_SOCKET = 28


async def test_an_idle_relayed_subscriber_costs_the_server_under_28_kb(
    server: RunningServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        data = await GraphQLClient(server.graphql_url, session, ADMIN).data(SETUP)
        assert all(v["userErrors"] == [] for v in data.values())
    tracemalloc.start()
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, server.ws_url, str(SOCKETS), stdout=asyncio.subprocess.PIPE)
    try:
        before = tracemalloc.get_traced_memory()[0]
        assert client.stdout is not None
        async with asyncio.timeout(120):
            line = await client.stdout.readline()
        assert line.decode().split() == ["ready", str(SOCKETS)], line
        await asyncio.sleep(0.5)  # let the last acknowledgements settle
        per_socket = (tracemalloc.get_traced_memory()[0] - before) / SOCKETS / 1024
        feed = server.server.lifespan.state["feed"]
        audiences = [len(a.members) for c in feed.channels.values() for a in c.audiences.values()]
    finally:
        tracemalloc.stop()
        client.kill()
        await client.wait()
    assert sorted(audiences) == [SOCKETS // 2, SOCKETS // 2]  # two SKUs, one document
    assert per_socket < MAX_KB_PER_SOCKET, f"{per_socket:.1f} KB per idle subscriber"
    print(f"{per_socket:.1f} KB per idle subscriber")
