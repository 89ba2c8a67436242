"""Relayed graphql-transport-ws subscriptions (web/websocket.py): many subscribers of one
document get one execution per event, each under its own id, in the protocol's own format."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets

from tests.api.test_subscriptions import restock
from tests.client import GraphQLClient
from tests.conftest import RunningServer

WITH_LOCATION = """subscription($sku: String!) {
  stockEvents(sku: $sku) { sequence available location { code } } }"""
PLAIN = "subscription($sku: String!) { stockEvents(sku: $sku) { sequence kind } }"
SOCKETS = 12


async def _open(url: str, subscriptions: dict[str, tuple[str, str]]) -> Any:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None)
    await ws.send(orjson.dumps({"type": "connection_init"}).decode())
    assert orjson.loads(await ws.recv()) == {"type": "connection_ack"}
    for id, (query, sku) in subscriptions.items():
        await ws.send(orjson.dumps({"id": id, "type": "subscribe", "payload": {
            "query": query, "variables": {"sku": sku}}}).decode())
    snapshots = [orjson.loads(await ws.recv()) for _ in subscriptions]
    assert sorted(m["id"] for m in snapshots) == sorted(subscriptions)
    for m in snapshots:  # SKU-1 had two changes (the catalogue's setStocks), SKU-2 none
        expected = 2 if subscriptions[m["id"]][1] == "SKU-1" else 0
        assert m["payload"]["data"]["stockEvents"]["sequence"] == expected
    return ws


async def _received(ws: Any, n: int, timeout: float = 10) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await ws.recv() for _ in range(n)]


async def test_one_execution_per_event_and_document_each_subscriber_under_its_own_id(
    server: RunningServer, catalogue: GraphQLClient, location_resolutions: list[int]
) -> None:
    sockets = [
        await _open(server.ws_url, {f"a{n}": (WITH_LOCATION, "SKU-1"), "same": (PLAIN, "SKU-1"),
                                    f"c{n}": (PLAIN, "SKU-2")})
        for n in range(SOCKETS)
    ]
    try:
        await restock(catalogue)
        for n, ws in enumerate(sockets):
            texts = await _received(ws, 2)  # nothing for SKU-2
            by_id = {orjson.loads(t)["id"]: t for t in texts}
            assert orjson.loads(by_id[f"a{n}"]) == {"id": f"a{n}", "type": "next", "payload": {
                "data": {"stockEvents": {"sequence": 3, "available": 15,
                                         "location": {"code": "WH-A"}}}}}
            assert by_id["same"] == ('{"id":"same","type":"next","payload":'
                                     '{"data":{"stockEvents":{"sequence":3,"kind":"ADJUSTED"}}}}')
        assert len(location_resolutions) == 1  # twelve subscribers asked for the location; it was resolved once

        await sockets[0].send(orjson.dumps({"id": "a0", "type": "complete"}).decode())
        await sockets[1].send(orjson.dumps({"id": "same", "type": "complete"}).decode())
        await asyncio.sleep(0.2)
        await restock(catalogue, sku="SKU-2")
        await restock(catalogue)
        for n, ws in enumerate(sockets):
            wanted = {f"c{n}", "same", f"a{n}"} - ({"a0"} if n == 0 else set())
            wanted -= {"same"} if n == 1 else set()
            messages = [orjson.loads(t) for t in await _received(ws, len(wanted))]
            assert {m["id"] for m in messages} == wanted
            assert all(m["type"] == "next" for m in messages)
            sequences = {m["id"]: m["payload"]["data"]["stockEvents"]["sequence"] for m in messages}
            assert sequences.pop(f"c{n}") == 1
            assert set(sequences.values()) == {4}
        with pytest.raises(TimeoutError):  # and nothing else
            await _received(sockets[0], 1, timeout=0.5)
    finally:
        for ws in sockets:
            await ws.close()


async def test_a_relayed_subscription_ends_with_its_socket(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    ws = await _open(server.ws_url, {"1": (PLAIN, "SKU-1")})
    await ws.close()
    streams = server.server.lifespan.state["services"].feed.streams
    async with asyncio.timeout(5):  # the SKU's audience goes with the last subscriber, and its
        # stream too unless the read model keeps it (feed/stream.py `kept`)
        while any(s.audiences or s.watches or s.kept is None for s in streams.values()):
            await asyncio.sleep(0.05)
    ws = await _open(server.ws_url, {"1": (PLAIN, "SKU-1")})
    try:
        await restock(catalogue)
        assert orjson.loads((await _received(ws, 1))[0])["payload"]["data"] == {
            "stockEvents": {"sequence": 3, "kind": "ADJUSTED"}}
    finally:
        await ws.close()
