"""What following a bundle costs and refuses, through a real uvicorn: stockEvents of a bundle is
BAD_USER_INPUT pointing to `availability` on every transport (the SSE feed: 400), a
connection's bundle subscriptions follow at most its subscription cap of components, and
every follow is given back when its subscription ends."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from gql.transport.exceptions import TransportQueryError

from domain.bundle_stock import no_events_of
from settings import Settings
from tests.api.test_bundle_feed import BUNDLE, START
from tests.api.test_bundle_reads import kits
from tests.api.test_subscriptions import PROTOCOLS, Feed
from tests.client import GraphQLClient
from tests.conftest import RunningServer

__all__ = ["kits"]  # the fixture

CAP = 3  # subscriptions per connection; KIT-1 and KIT-2 have two components each
EVENTS = 'subscription { stockEvents(sku: "KIT-1") { sequence } }'
STREAMING = ["text/event-stream", 'multipart/mixed;subscriptionSpec="1.0",application/json']
REFUSAL = no_events_of("KIT-1")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_subscriptions_per_connection=CAP)


def followed(server: RunningServer) -> set[str]:
    """The SKUs this instance streams for subscribers (the read model may keep others' and
    these streams open for itself: feed/stream.py `kept`)."""
    streams = server.server.lifespan.state["services"].feed.streams
    return {sku for sku, s in streams.items() if s.watches or s.audiences}


async def until_followed(server: RunningServer, wanted: set[str]) -> None:
    async with asyncio.timeout(10):
        while followed(server) != wanted:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stock_events_of_a_bundle_over_websockets(
    server: RunningServer, kits: GraphQLClient, protocol: str
) -> None:
    feed = Feed(server.ws_url, EVENTS, {}, protocol)
    with pytest.raises(TransportQueryError) as raised:
        async with asyncio.timeout(10):
            await feed._run()
    assert [(e["message"], e["extensions"]["code"]) for e in raised.value.errors or []] == [
        (REFUSAL, "BAD_USER_INPUT")]
    assert 'availability(sku: "KIT-1")' in REFUSAL
    await until_followed(server, set())


@pytest.mark.parametrize("accept", STREAMING)
async def test_stock_events_of_a_bundle_over_http(
    server: RunningServer, kits: GraphQLClient, accept: str
) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(10), session.post(
        server.graphql_url, json={"query": EVENTS}, headers={"Accept": accept}
    ) as response:
        body = await response.read()
    assert response.status == 200
    # graphql-sse: `data: {"data": null, "errors": ...}`; multipart: `{"payload": {...}}`
    [line] = [line.removeprefix(b"data: ") for line in body.split(b"\r\n") if b'"errors"' in line]
    result = orjson.loads(line)
    errors = result.get("payload", result)["errors"]
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        (REFUSAL, "BAD_USER_INPUT")]
    await until_followed(server, set())


async def test_the_sse_feed_of_a_bundle_answers_400_and_keeps_no_slot(
    server: RunningServer, kits: GraphQLClient
) -> None:
    gatekeeper = server.server.lifespan.state["services"].gatekeeper
    async with aiohttp.ClientSession() as session, session.get(
        f"{server.url}/skus/KIT-1/events"
    ) as response:
        assert response.status == 400
        assert await response.json() == {"error": {"code": "BAD_USER_INPUT",
                                                   "message": REFUSAL}}
    assert gatekeeper.open_feeds("ip:127.0.0.1") == 0
    await until_followed(server, set())


async def _subscribe(ws: Any, id: str, variables: dict[str, Any]) -> dict[str, Any]:
    await ws.send(orjson.dumps({"id": id, "type": "subscribe", "payload": {
        "query": BUNDLE, "variables": variables}}).decode())
    async with asyncio.timeout(10):
        message: dict[str, Any] = orjson.loads(await ws.recv())
    assert message["id"] == id
    return message


async def test_a_connections_bundles_follow_at_most_its_cap_and_give_it_back(
    server: RunningServer, kits: GraphQLClient
) -> None:
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(await ws.recv()) == {"type": "connection_ack"}
        first = await _subscribe(ws, "a", {"sku": "KIT-1"})
        assert first["payload"]["data"]["availability"] == START
        assert followed(server) == {"SKU-1", "SKU-2"}
        refused = await _subscribe(ws, "b", {"sku": "KIT-1", "c": "web"})  # 2 + 2 > CAP
        assert [e["extensions"]["code"] for e in refused["payload"]["errors"]] == [
            "TOO_MANY_CONNECTIONS"]
        assert orjson.loads(await ws.recv()) == {"id": "b", "type": "complete"}
        plain = await _subscribe(ws, "c", {"sku": "SKU-3"})  # a plain SKU still may
        assert plain["payload"]["data"]["availability"]["code"] == "SKU-3"
        await ws.send(orjson.dumps({"id": "a", "type": "complete"}).decode())
        await until_followed(server, {"SKU-3"})  # KIT-1's components let go
        again = await _subscribe(ws, "d", {"sku": "KIT-2"})  # the follows were given back
        assert again["payload"]["data"]["availability"]["available"] == 0
        assert followed(server) == {"SKU-1", "SKU-3"}
    await until_followed(server, set())
