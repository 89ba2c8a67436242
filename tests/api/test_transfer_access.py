"""Who may move stock between locations (scope inventory:write; a key bound to locations ships
and cancels only from them, receives only at them), and what the feeds show of a transfer:
its events, with transferId, on a live stockEvents subscription, over SSE and to partners."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson
import websockets

from domain.access import Scope
from feed import cloudevents
from store import keys, ledger
from tests.api.test_mutations import call, codes
from tests.api.test_subscriptions import sse_events
from tests.api.test_transfers import CANCEL, LIST, RECEIVE, SHIP, ship
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent


def ship_input(source: str, to: str, quantity: int = 1) -> dict[str, Any]:
    return {"from": source, "to": to, "lines": [{"sku": "SKU-1", "quantity": quantity}]}


def refused_with(body: dict[str, Any], code: str) -> bool:
    return body["data"] is None and body["errors"][0]["extensions"]["code"] == code


async def test_scopes_and_location_binding(
    catalogue: GraphQLClient, pool: asyncpg.Pool, server: RunningServer
) -> None:
    async with pool.acquire() as conn:
        reserve, _ = await keys.create(conn, "checkout", [Scope.READ, Scope.RESERVE])
        store_b, _ = await keys.create(conn, "pos-b", [Scope.READ, Scope.WRITE], ["ST-B"])
    from_a = (await ship(catalogue, [("SKU-1", 2)]))["id"]  # WH-A -> ST-B, by the admin
    other = (await ship(catalogue, [("SKU-1", 2)]))["id"]
    async with aiohttp.ClientSession() as session:
        anonymous = GraphQLClient(server.graphql_url, session)
        checkout = GraphQLClient(server.graphql_url, session, {"Authorization": f"Bearer {reserve}"})
        pos = GraphQLClient(server.graphql_url, session, {"Authorization": f"Bearer {store_b}"})
        for client, code in ((anonymous, "UNAUTHENTICATED"), (checkout, "FORBIDDEN")):
            for query, variables in ((SHIP, ship_input("WH-A", "ST-B")),
                                     (RECEIVE, {"transferId": from_a}),
                                     (CANCEL, {"transferId": from_a})):
                assert refused_with(await client.post(query, {"i": variables}), code)
        # bound to ST-B: ships only from it, cancels only what left it, receives only there
        assert refused_with(await pos.post(SHIP, {"i": ship_input("WH-A", "ST-B")}), "FORBIDDEN")
        assert refused_with(await pos.post(CANCEL, {"i": {"transferId": from_a}}), "FORBIDDEN")
        from_b = await call(pos, SHIP, "shipTransfer", ship_input("ST-B", "WH-A"))
        assert from_b["userErrors"] == []
        assert refused_with(await pos.post(RECEIVE, {"i": {"transferId": from_b["transfer"]["id"]}}),
                            "FORBIDDEN")
        p = await call(pos, RECEIVE, "receiveTransfer", {"transferId": from_a})
        assert p["userErrors"] == [] and p["transfer"]["status"] == "RECEIVED"
        p = await call(pos, CANCEL, "cancelTransfer", {"transferId": from_b["transfer"]["id"]})
        assert p["userErrors"] == [] and p["transfer"]["status"] == "CANCELLED"
        # an unknown transfer is NOT_FOUND for a bound key too, never a hint of where one is
        p = await call(pos, RECEIVE, "receiveTransfer", {"transferId": str(uuid.uuid4())})
        assert codes(p) == [("NOT_FOUND", ["input", "transferId"])]
        listed = (await anonymous.data(LIST, {}))["transfers"]  # reads stay open
        assert {t["id"] for t in listed} == {from_a, other, from_b["transfer"]["id"]}
    query = "query($id: ID!) { transfer(id: $id) { status } }"
    found = (await catalogue.data(query, {"id": other}))["transfer"]
    assert found == {"status": "IN_TRANSIT"}  # no refused call changed anything
    await assert_consistent(pool)


async def test_live_subscribers_and_sse_see_the_transfer(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    ws = await websockets.connect(server.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")])
    sse = sse_events(f"{server.url}/skus/SKU-1/events")
    try:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query":
            'subscription { stockEvents(sku: "SKU-1") { kind onHandDelta incomingDelta reason '
            "transferId location { code } } }"}}).decode())
        async with asyncio.timeout(10):
            assert orjson.loads(await ws.recv())["payload"]["data"]["stockEvents"]["kind"] == "SNAPSHOT"
            assert (await anext(sse))["event"] == "snapshot"
            transfer = (await ship(catalogue, [("SKU-1", 3)]))["id"]
            got = [orjson.loads(await ws.recv())["payload"]["data"]["stockEvents"] for _ in range(2)]
            streamed = [orjson.loads((await anext(sse))["data"]) for _ in range(2)]
    finally:
        await ws.close()
        await sse.aclose()
    assert got == [
        {"kind": "SHIPPED", "onHandDelta": -3, "incomingDelta": 0, "reason": "TRANSFER",
         "transferId": transfer, "location": {"code": "WH-A"}},
        {"kind": "INCOMING", "onHandDelta": 0, "incomingDelta": 3, "reason": None,
         "transferId": transfer, "location": {"code": "ST-B"}},
    ]
    assert [(e["kind"], e["location"], e["transferId"]) for e in streamed] == [
        ("SHIPPED", "WH-A", transfer), ("INCOMING", "ST-B", transfer)]


async def test_partners_get_the_transfer_as_the_api_answers_it(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    transfer = (await ship(catalogue, [("SKU-1", 2)]))["id"]
    await call(catalogue, RECEIVE, "receiveTransfer", {
        "transferId": transfer, "lines": [{"sku": "SKU-1", "quantity": 1}]})
    query = f"query {{ stockEvents(sku: \"SKU-1\") {{ {cloudevents.STOCK_SELECTION} }} }}"
    answered = (await catalogue.data(query))["stockEvents"]
    async with pool.acquire() as conn:
        entries = await ledger.events_after(conn, "SKU-1", 0, 100)
    assert [cloudevents.stock_fields(e) for e in entries] == answered
    shipped = cloudevents.stock_event(entries[2], "inventory")
    assert shipped["type"] == "inventory.stock.shipped"
    assert shipped["data"]["transferId"] == transfer and shipped["data"]["reason"] == "TRANSFER"
    assert [e.kind.value for e in entries[2:]] == ["SHIPPED", "INCOMING", "RECEIVED", "INCOMING"]
