"""Live feeds through a real uvicorn: both WebSocket subprotocols, resume, throttle, SSE."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.api.test_mutations import ADJUST, call
from tests.client import GraphQLClient
from tests.conftest import RunningServer

EVENTS = """subscription($sku: String!, $after: Int) { stockEvents(sku: $sku, afterSequence: $after) {
  sku sequence kind onHandDelta reservedDelta available status location { code } level { onHand version } } }"""
AVAILABILITY = """subscription($sku: String!, $t: Int) { availability(sku: $sku, throttleMs: $t) {
  code available status onHand reserved sequence } }"""
PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]


async def restock(client: GraphQLClient, n: int = 1, sku: str = "SKU-1") -> None:
    p = await call(client, ADJUST, "adjustStock",
                   {"sku": sku, "location": "WH-A", "delta": n, "reason": "RESTOCK"})
    assert p["userErrors"] == []


class Feed:
    """A subscription read through a background task, so the test can await its items."""

    def __init__(self, url: str, query: str, variables: dict[str, Any], protocol: str) -> None:
        self.transport = WebsocketsTransport(url=url, subprotocols=[protocol])
        self.request = GraphQLRequest(query, variable_values=variables)
        self.items: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def _run(self) -> None:
        async with Client(transport=self.transport) as session:
            async for item in session.subscribe(self.request):
                await self.items.put(item)

    async def __aenter__(self) -> Feed:
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        assert self.task is not None
        getter = asyncio.ensure_future(self.items.get())
        done, _ = await asyncio.wait({getter, self.task}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            return getter.result()
        getter.cancel()
        if self.task in done:
            self.task.result()
            raise AssertionError("the subscription ended")
        raise TimeoutError(f"no item within {timeout} s")

    async def take(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        return [await self.next(timeout) for _ in range(n)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_snapshot_then_ordered_events(
    server: RunningServer, catalogue: GraphQLClient, protocol: str
) -> None:
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, protocol) as feed:
        snapshot = (await feed.next())["stockEvents"]
        assert snapshot["kind"] == "SNAPSHOT" and snapshot["sequence"] == 2
        assert snapshot["available"] == 14 and snapshot["level"] is None
        for _ in range(3):
            await restock(catalogue)
        events = [e["stockEvents"] for e in await feed.take(3)]
    assert [e["sequence"] for e in events] == [3, 4, 5]
    assert [e["available"] for e in events] == [15, 16, 17]
    assert events[0]["kind"] == "ADJUSTED" and events[0]["location"] == {"code": "WH-A"}
    assert events[0]["level"] == {"onHand": 11, "version": 2}


async def test_resume_after_disconnect_gets_exactly_the_missed_events(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as feed:
        seen = (await feed.next())["stockEvents"]["sequence"]
    for _ in range(5):
        await restock(catalogue)
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1", "after": seen}, PROTOCOLS[0]) as feed:
        replayed = [e["stockEvents"]["sequence"] for e in await feed.take(5)]
        await restock(catalogue)
        live = (await feed.next())["stockEvents"]
        assert feed.items.empty()
    assert replayed == list(range(seen + 1, seen + 6))
    assert live["sequence"] == seen + 6 and live["kind"] == "ADJUSTED"


async def test_availability_coalesces_a_burst(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    async with Feed(server.ws_url, AVAILABILITY, {"sku": "SKU-1", "t": 500}, PROTOCOLS[0]) as feed:
        first = (await feed.next())["availability"]
        assert first["available"] == 14
        async with asyncio.timeout(10):
            await asyncio.gather(*(restock(catalogue) for _ in range(50)))
        values = []
        while not values or values[-1]["available"] != 64:
            values.append((await feed.next(timeout=5))["availability"])
    assert len(values) <= 5, values
    assert values[-1] == {"code": "SKU-1", "available": 64, "status": "IN_STOCK",
                          "onHand": 64, "reserved": 0, "sequence": 52}


async def test_unknown_sku_is_a_clean_error(server: RunningServer, catalogue: GraphQLClient) -> None:
    from gql.transport.exceptions import TransportQueryError

    feed = Feed(server.ws_url, EVENTS, {"sku": "NOPE"}, PROTOCOLS[0])
    with pytest.raises(TransportQueryError, match="unknown SKU"):
        async with asyncio.timeout(10):
            await feed._run()


async def sse_events(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    yield fields
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def test_sse_feed_resumes_with_last_event_id(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    url = f"{server.url}/skus/SKU-1/events"
    stream = sse_events(url)
    async with asyncio.timeout(10):
        snapshot = await anext(stream)
        assert (snapshot["event"], snapshot["id"]) == ("snapshot", "2")
        await restock(catalogue, 2)
        event = await anext(stream)
        await stream.aclose()
    assert (event["event"], event["id"]) == ("stock", "3")
    assert '"available":16' in event["data"]
    for _ in range(3):
        await restock(catalogue)
    resumed = sse_events(url, {"Last-Event-ID": "3"})
    async with asyncio.timeout(10):
        ids = [(await anext(resumed))["id"] for _ in range(3)]
        await resumed.aclose()
    assert ids == ["4", "5", "6"]
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/skus/NOPE/events") as r:
        assert r.status == 404


@pytest.mark.parametrize("accept", ["text/event-stream", 'multipart/mixed;subscriptionSpec="1.0",application/json'])
async def test_subscriptions_over_http_streaming(
    server: RunningServer, catalogue: GraphQLClient, accept: str
) -> None:
    body = {"query": 'subscription { stockEvents(sku: "SKU-1") { sequence kind } }'}
    async with aiohttp.ClientSession() as session, session.post(
        server.graphql_url, json=body, headers={"Accept": accept}
    ) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith(accept.split(";")[0])
        seen = b""
        async with asyncio.timeout(10):
            while b'"SNAPSHOT"' not in seen:
                seen += await response.content.readany()
            await restock(catalogue)
            while b'"ADJUSTED"' not in seen:
                seen += await response.content.readany()
    assert b'{"sequence":2,"kind":"SNAPSHOT"}' in seen
    assert b'{"sequence":3,"kind":"ADJUSTED"}' in seen
