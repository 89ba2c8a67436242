"""Hostile input through a real uvicorn: deep, wide and long documents, big and broken bodies,
slow requests, garbage WebSocket frames. After each, the server still answers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import websockets
from graphql import get_introspection_query
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from resolvers.limits import limit_extensions
from schema.root import build_schema
from settings import Settings
from tests.api.test_subscriptions import EVENTS, PROTOCOLS, Feed, restock
from tests.client import GraphQLClient
from tests.conftest import RunningServer

LIMITS: dict[str, Any] = {"max_depth": 15, "max_aliases": 30, "max_tokens": 2000,
                          "introspection": True}
MAX_BODY_BYTES = 128 * 1024
TIMEOUT_SECONDS = 2.0
GRAPHIQL_INTROSPECTION = (Path(__file__).parent / "graphiql_introspection.graphql").read_text()
TRANSPORT_WS, LEGACY_WS = "graphql-transport-ws", "graphql-ws"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, request_timeout_seconds=TIMEOUT_SECONDS)


async def still_serving(client: GraphQLClient) -> int:
    data = await client.data('{ sku(code: "SKU-1") { code available } }')
    assert data["sku"]["code"] == "SKU-1"
    available: int = data["sku"]["available"]
    return available


def nest(fields: list[str], leaf: str = "name") -> str:
    inner = leaf
    for field in reversed(fields):
        inner = f"{field} {{ {inner} }}"
    return f"{{ {inner} }}"


DEEP = {
    "ofType chain": nest(['__type(name: "Sku")', *["ofType"] * 48]),
    "schema types": nest(["__schema", "types", "fields", "type", *["ofType"] * 45]),
    "fields of types": nest(['__type(name: "Sku")', *["fields", "type"] * 24]),
}


@pytest.mark.parametrize("query", DEEP.values(), ids=DEEP.keys())
async def test_a_50_deep_introspection_query_is_refused(catalogue: GraphQLClient, query: str) -> None:
    body = await catalogue.post(query)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["message"] == "Query is 50 fields deep; the limit is 15."
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": "depth", "maximum": 15}
    await still_serving(catalogue)


@pytest.mark.parametrize("query", [
    GRAPHIQL_INTROSPECTION,
    get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                            schema_description=True, input_value_deprecation=True, one_of=True),
], ids=["graphiql", "graphql-core, every option"])
async def test_the_standard_introspection_query_passes(catalogue: GraphQLClient, query: str) -> None:
    types = {t["name"] for t in (await catalogue.data(query))["__schema"]["types"]}
    assert {"Sku", "StockEvent", "__Type"} <= types


ALIASES = " ".join(f"a{i}: __typename" for i in range(1000))
FAN_OUT = "{ ...F0 } " + " ".join(
    f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(10)
) + " fragment F10 on Query { a: __typename }"
WIDE = {
    "1,000 aliases": (f"{{ {ALIASES} }}", "tokens", None),
    "1,024 aliases by fragments": (FAN_OUT, "aliases", "Query uses 1024 aliases; the limit is 30."),
    "31 aliases": ("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }", "aliases",
                   "Query uses 31 aliases; the limit is 30."),
}


@pytest.mark.parametrize(("query", "limit", "message"), WIDE.values(), ids=WIDE.keys())
async def test_too_many_aliases_or_tokens_is_refused(
    catalogue: GraphQLClient, query: str, limit: str, message: str | None
) -> None:
    [error] = (await catalogue.post(query))["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "limit": limit,
                                   "maximum": LIMITS[f"max_{limit}"]}
    assert error["message"] == (
        message or "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    )
    assert len(await catalogue.data("{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }")) == 30
    await still_serving(catalogue)


@pytest.mark.parametrize(("query", "variables"), [
    ("query($n: Int) { skus(first: $n) { edges { cursor } } }", {"n": 501}),
    ("query($n: Int) { stockEvents(sku: \"SKU-1\", first: $n) { sequence } }", {"n": 1001}),
    ("query($c: [String!]!) { skusByCode(codes: $c) { code } }", {"c": ["X"] * 501}),
])
async def test_list_sizes_are_capped_by_the_resolvers(
    catalogue: GraphQLClient, query: str, variables: dict[str, Any]
) -> None:
    [error] = (await catalogue.post(query, variables))["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def _post(url: str, data: Any, headers: dict[str, str]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(
        url, data=data, headers=headers
    ) as response:
        return response.status, await response.read()


async def _chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b" " * min(size, total - start)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_1_mb_body_is_refused_with_413(
    server: RunningServer, catalogue: GraphQLClient, declared: bool
) -> None:
    megabyte = b'{"query": "{ __typename }", "pad": "' + b"x" * 1_000_000 + b'"}'
    data = megabyte if declared else _chunks(1_000_000)
    status, body = await _post(server.graphql_url, data, {"Content-Type": "application/json"})
    assert status == 413
    assert json.loads(body) == {"errors": [{
        "message": f"Request body is larger than {MAX_BODY_BYTES} bytes.",
        "extensions": {"code": "REQUEST_TOO_LARGE"},
    }]}
    await still_serving(catalogue)


@pytest.mark.parametrize("body", [b'{"query": "{ __typename }"', b"\xff\xfe", b"[1, 2"])
async def test_malformed_json_is_refused_with_400(
    server: RunningServer, catalogue: GraphQLClient, body: bytes
) -> None:
    status, text = await _post(server.graphql_url, body, {"Content-Type": "application/json"})
    assert (status, text) == (400, b"Unable to parse request body as JSON")
    await still_serving(catalogue)


async def test_a_request_over_the_deadline_gets_504_and_leaves_nothing_behind(
    server: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    adjust = {"query": """mutation { adjustStock(input: {sku: "SKU-1", location: "WH-A",
        delta: 5, reason: RESTOCK}) { userErrors { code } } }"""}
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM stock_levels FOR UPDATE")  # the mutation must wait
        status, body = await _post(server.graphql_url, json.dumps(adjust),
                                   {"Content-Type": "application/json", **catalogue.headers})
    assert status == 504
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "TIMEOUT"}
    assert await still_serving(catalogue) == 14  # the cancelled mutation did not commit


async def test_the_deadline_does_not_cut_a_multipart_subscription(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    body = {"query": 'subscription { stockEvents(sku: "SKU-1") { sequence kind } }'}
    async with aiohttp.ClientSession() as session, session.post(
        server.graphql_url, json=body,
        headers={"Accept": 'multipart/mixed;subscriptionSpec="1.0",application/json'},
    ) as response:
        assert response.status == 200
        await asyncio.sleep(TIMEOUT_SECONDS + 0.5)
        await restock(catalogue)
        seen = b""
        async with asyncio.timeout(10):
            while b'"ADJUSTED"' not in seen:
                seen += await response.content.readany()
    assert b'{"sequence":3,"kind":"ADJUSTED"}' in seen


GARBAGE = {
    "transport: subscribe payload not an object": (
        TRANSPORT_WS, '{"type": "subscribe", "id": "1", "payload": "{ __typename }"}',
        "subscribe payload must be an object"),
    "transport: not JSON": (TRANSPORT_WS, "{oops", "WebSocket message must be valid JSON"),
    "transport: a JSON array": (TRANSPORT_WS, "[1, 2]", "Message must be an object with a string type"),
    "transport: complete with an object id": (
        TRANSPORT_WS, '{"type": "complete", "id": {}}', "complete message needs a string id"),
    "legacy: not JSON": (LEGACY_WS, "{oops", "WebSocket message must be valid JSON"),
    "legacy: start payload not an object": (
        LEGACY_WS, '{"type": "start", "id": "1", "payload": 7}', "start payload must be an object"),
    "legacy: null": (LEGACY_WS, "null", "Message must be an object with a string type"),
}


async def _closed_by_garbage(url: str, protocol: str, frame: str) -> tuple[int | None, str | None]:
    async with websockets.connect(url, subprotocols=[Subprotocol(protocol)]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(frame)
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()  # keep-alives until the close
        return ws.close_code, ws.close_reason


@pytest.mark.parametrize(("protocol", "frame", "reason"), GARBAGE.values(), ids=GARBAGE.keys())
async def test_a_garbage_frame_closes_only_its_own_socket(
    server: RunningServer, catalogue: GraphQLClient, protocol: str, frame: str, reason: str
) -> None:
    async with Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[0]) as other, \
            Feed(server.ws_url, EVENTS, {"sku": "SKU-1"}, PROTOCOLS[1]) as legacy:
        assert (await other.next())["stockEvents"]["kind"] == "SNAPSHOT"
        assert (await legacy.next())["stockEvents"]["kind"] == "SNAPSHOT"
        assert await _closed_by_garbage(server.ws_url, protocol, frame) == (4400, reason)
        await restock(catalogue)
        assert (await other.next())["stockEvents"]["kind"] == "ADJUSTED"
        assert (await legacy.next())["stockEvents"]["kind"] == "ADJUSTED"
    await still_serving(catalogue)


async def test_the_limits_hold_over_websocket_and_the_socket_stays_open(
    server: RunningServer,
) -> None:
    async with websockets.connect(server.ws_url, subprotocols=[Subprotocol(TRANSPORT_WS)]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        too_deep = {"query": nest(['__type(name: "Sku")', *["ofType"] * 20])}
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": too_deep}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error"
        assert reply["payload"][0]["extensions"]["limit"] == "depth"
        await ws.send(json.dumps({"type": "subscribe", "id": "2",
                                  "payload": {"query": "{ __typename }"}}))
        assert json.loads(await ws.recv())["payload"]["data"] == {"__typename": "Query"}


def test_introspection_can_be_switched_off() -> None:
    schema = build_schema()
    schema.extensions = (*limit_extensions(**{**LIMITS, "introspection": False}),
                         *schema.extensions)
    refused = schema.execute_sync("{ __schema { queryType { name } } }")
    assert refused.errors and refused.errors[0].extensions == {"code": "INTROSPECTION_DISABLED"}
    assert schema.execute_sync("{ __typename }").data == {"__typename": "Query"}
