"""availability(throttleMs) as the client receives it: arrival gaps during a burst of 50
concurrent changes, on graphql-transport-ws, legacy graphql-ws, graphql-sse and multipart."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.api.test_subscriptions import AVAILABILITY, restock
from tests.client import GraphQLClient
from tests.conftest import RunningServer

THROTTLE_MS = 400
TOLERANCE = 0.03  # the client shares the event loop with the server under test
FINAL = {"code": "SKU-1", "available": 64, "status": "IN_STOCK", "onHand": 64, "reserved": 0,
         "sequence": 52}
VALUE = re.compile(rb'"availability":(\{[^{}]*\})')
Arrival = tuple[float, dict[str, Any]]
Reader = Callable[[RunningServer, "asyncio.Queue[Arrival]"], Coroutine[Any, Any, None]]
VARIABLES = {"sku": "SKU-1", "t": THROTTLE_MS}


def _websocket(protocol: str) -> Reader:
    async def read(server: RunningServer, arrivals: asyncio.Queue[Arrival]) -> None:
        transport = WebsocketsTransport(url=server.ws_url, subprotocols=[protocol])
        loop = asyncio.get_running_loop()
        async with Client(transport=transport) as session:
            async for item in session.subscribe(GraphQLRequest(AVAILABILITY, variable_values=VARIABLES)):
                await arrivals.put((loop.time(), item["availability"]))

    return read


def _streaming(accept: str) -> Reader:
    async def read(server: RunningServer, arrivals: asyncio.Queue[Arrival]) -> None:
        loop = asyncio.get_running_loop()
        body = {"query": AVAILABILITY, "variables": VARIABLES}
        async with aiohttp.ClientSession() as session, session.post(
            server.graphql_url, json=body, headers={"Accept": accept}
        ) as response:
            assert response.status == 200
            buffer = b""
            while chunk := await response.content.readany():
                now = loop.time()
                buffer += chunk
                found = list(VALUE.finditer(buffer))
                for match in found:
                    await arrivals.put((now, json.loads(match.group(1))))
                if found:
                    buffer = buffer[found[-1].end():]

    return read


READERS = {
    "graphql-transport-ws": _websocket(WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL),
    "graphql-ws": _websocket(WebsocketsTransport.APOLLO_SUBPROTOCOL),
    "graphql-sse": _streaming("text/event-stream"),
    "multipart": _streaming('multipart/mixed;subscriptionSpec="1.0",application/json'),
}


@pytest.mark.parametrize("transport", list(READERS))
async def test_throttle_spaces_values_as_delivered_during_a_burst(
    server: RunningServer, catalogue: GraphQLClient, transport: str
) -> None:
    arrivals: asyncio.Queue[Arrival] = asyncio.Queue()
    reader = asyncio.create_task(READERS[transport](server, arrivals))
    try:
        async with asyncio.timeout(20):
            seen = [await arrivals.get()]
            assert seen[0][1]["available"] == 14
            await asyncio.gather(*(restock(catalogue) for _ in range(50)))
            while seen[-1][1] != FINAL:
                seen.append(await arrivals.get())
            # nothing after the final value: the last one of the burst is the state
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(THROTTLE_MS / 1000 * 1.5):
                    seen.append(await arrivals.get())
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    gaps = [round(b[0] - a[0], 3) for a, b in zip(seen, seen[1:], strict=False)]
    print(f"{transport}: {len(seen)} values, arrival gaps {gaps} s (throttleMs={THROTTLE_MS})")
    assert len(seen) >= 2, seen
    assert min(gaps) >= THROTTLE_MS / 1000 - TOLERANCE, (transport, gaps)
    assert [v["sequence"] for _, v in seen] == sorted(v["sequence"] for _, v in seen)
