"""Incoming stock through real HTTP: expect, receive, cancel, the incoming query, the ledger's
INCOMING/RECEIVED entries, available-to-promise at several dates, every refusal, races."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson
import websockets

from domain.access import Scope
from store import keys
from tests.api.test_mutations import RESERVE, call, codes
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent

INCOMING = "incoming { id sku quantity received status source transferId reference expectedAt location { code } }"
LEVEL = "level { onHand reserved available incoming version location { code } }"
EXPECT = f"""mutation($i: ExpectIncomingInput!) {{ expectIncoming(input: $i) {{
  {INCOMING} {LEVEL} userErrors {{ code field message }} }} }}"""
RECEIVE = f"""mutation($i: ReceiveIncomingInput!) {{ receiveIncoming(input: $i) {{
  {INCOMING} {LEVEL} userErrors {{ code field message }} }} }}"""
CANCEL = f"""mutation($i: CancelIncomingInput!) {{ cancelIncoming(input: $i) {{
  {INCOMING} {LEVEL} userErrors {{ code field message }} }} }}"""
SKU = """query($c: String!, $at: DateTime!, $later: DateTime!) { sku(code: $c) {
  onHand available incoming nextRestockAt
  now: availableToPromise(at: $at) later: availableToPromise(at: $later)
  levels { location { code } incoming } } }"""
EVENTS = """query($c: String!) { stockEvents(sku: $c) {
  sequence kind onHandDelta reservedDelta incomingDelta incomingId transferId
  location { code } level { onHand incoming } } }"""
LIST = """query($sku: String, $location: String, $status: IncomingStatus, $first: Int) {
  incoming(sku: $sku, location: $location, status: $status, first: $first) { id quantity status } }"""

TRANSFER_STATUS = "query($id: ID!) { transfer(id: $id) { status } }"

NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def expect(client: GraphQLClient, quantity: int, days: float, location: str = "WH-A",
                 **extra: Any) -> dict[str, Any]:
    p = await call(client, EXPECT, "expectIncoming", {
        "sku": "SKU-1", "location": location, "quantity": quantity,
        "expectedAt": iso(NOW + timedelta(days=days)), **extra,
    })
    assert p["userErrors"] == [], p
    result: dict[str, Any] = p
    return result


async def figures(client: GraphQLClient, at: datetime, later: datetime) -> dict[str, Any]:
    found: dict[str, Any] = (await client.data(SKU, {"c": "SKU-1", "at": iso(at), "later": iso(later)}))["sku"]
    return found


async def test_expect_receive_cancel_and_the_ledger(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    p = await expect(catalogue, 6, 3, reference="PO-1")
    assert p["incoming"]["status"] == "EXPECTED" and p["incoming"]["source"] == "PURCHASE"
    assert (p["incoming"]["quantity"], p["incoming"]["received"], p["incoming"]["reference"]) == (6, 0, "PO-1")
    assert p["level"]["incoming"] == 6 and p["level"]["onHand"] == 10 and p["level"]["available"] == 10
    first = p["incoming"]["id"]
    second = (await expect(catalogue, 5, 10, location="ST-B"))["incoming"]["id"]

    sku = await figures(catalogue, NOW + timedelta(days=1), NOW + timedelta(days=4))
    assert (sku["available"], sku["incoming"]) == (14, 11)
    assert datetime.fromisoformat(sku["nextRestockAt"]) == NOW + timedelta(days=3)
    assert (sku["now"], sku["later"]) == (14, 20)  # the ST-B stock comes after day 4
    assert {lv["location"]["code"]: lv["incoming"] for lv in sku["levels"]} == {"WH-A": 6, "ST-B": 5}

    p = await call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": first, "quantity": 2})
    assert p["userErrors"] == []
    assert (p["incoming"]["received"], p["incoming"]["status"]) == (2, "EXPECTED")
    assert (p["level"]["onHand"], p["level"]["incoming"], p["level"]["available"]) == (12, 4, 12)
    p = await call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": first})  # the rest
    assert (p["incoming"]["received"], p["incoming"]["status"]) == (6, "RECEIVED")
    assert (p["level"]["onHand"], p["level"]["incoming"]) == (16, 0)
    p = await call(catalogue, CANCEL, "cancelIncoming", {"incomingId": second})
    assert p["userErrors"] == [] and p["incoming"]["status"] == "CANCELLED"
    assert p["level"]["incoming"] == 0 and p["level"]["onHand"] == 4

    sku = await figures(catalogue, NOW, NOW + timedelta(days=30))
    assert (sku["incoming"], sku["nextRestockAt"], sku["now"], sku["later"]) == (0, None, 20, 20)
    events = (await catalogue.data(EVENTS, {"c": "SKU-1"}))["stockEvents"][2:]  # after the two sets
    assert [(e["kind"], e["location"]["code"], e["onHandDelta"], e["incomingDelta"], e["incomingId"],
             e["level"]["onHand"], e["level"]["incoming"], e["transferId"]) for e in events] == [
        ("INCOMING", "WH-A", 0, 6, first, 10, 6, None),
        ("INCOMING", "ST-B", 0, 5, second, 4, 5, None),
        ("RECEIVED", "WH-A", 2, -2, first, 12, 4, None),
        ("RECEIVED", "WH-A", 4, -4, first, 16, 0, None),
        ("INCOMING", "ST-B", 0, -5, second, 4, 0, None),
    ]
    assert [e["sequence"] for e in events] == [3, 4, 5, 6, 7]
    await assert_consistent(pool)


async def test_expecting_at_a_new_level_creates_it_with_nothing_on_hand(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    p = await call(catalogue, EXPECT, "expectIncoming", {
        "sku": "SKU-2", "location": "ST-B", "quantity": 3, "expectedAt": iso(NOW)})
    assert p["userErrors"] == [] and (p["level"]["onHand"], p["level"]["incoming"], p["level"]["version"]) == (0, 3, 1)
    p = await call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": p["incoming"]["id"]})
    assert (p["level"]["onHand"], p["level"]["incoming"], p["level"]["available"]) == (3, 0, 3)
    await assert_consistent(pool)


async def test_refusals_change_nothing(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    open_id = (await expect(catalogue, 4, 2))["incoming"]["id"]
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM stock_events")
    at = iso(NOW)
    cases: list[tuple[str, str, dict[str, Any], list[tuple[str, list[str]]]]] = [
        (EXPECT, "expectIncoming", {"sku": "NOPE", "location": "WH-A", "quantity": 1, "expectedAt": at},
         [("NOT_FOUND", ["input", "sku"])]),
        (EXPECT, "expectIncoming", {"sku": "SKU-1", "location": "NOWHERE", "quantity": 1, "expectedAt": at},
         [("NOT_FOUND", ["input", "location"])]),
        (EXPECT, "expectIncoming", {"sku": "SKU-1", "location": "WH-A", "quantity": 0, "expectedAt": at},
         [("INVALID_QUANTITY", ["input", "quantity"])]),
        (EXPECT, "expectIncoming", {"sku": "SKU-1", "location": "WH-A", "quantity": -3, "expectedAt": at},
         [("INVALID_QUANTITY", ["input", "quantity"])]),
        (EXPECT, "expectIncoming", {"sku": "SKU-1", "location": "WH-A", "quantity": 10**9, "expectedAt": at},
         [("INVALID_QUANTITY", ["input", "quantity"])]),
        (EXPECT, "expectIncoming", {"sku": "bad code!", "location": "WH-A", "quantity": 1, "expectedAt": at},
         [("INVALID_INPUT", ["input", "sku"])]),
        (RECEIVE, "receiveIncoming", {"incomingId": "not-an-id"}, [("INVALID_INPUT", ["input", "incomingId"])]),
        (RECEIVE, "receiveIncoming", {"incomingId": str(uuid.uuid4())}, [("NOT_FOUND", ["input", "incomingId"])]),
        (RECEIVE, "receiveIncoming", {"incomingId": open_id, "quantity": 5},
         [("INVALID_QUANTITY", ["input", "quantity"])]),
        (RECEIVE, "receiveIncoming", {"incomingId": open_id, "quantity": 0},
         [("INVALID_QUANTITY", ["input", "quantity"])]),
        (CANCEL, "cancelIncoming", {"incomingId": "x"}, [("INVALID_INPUT", ["input", "incomingId"])]),
        (CANCEL, "cancelIncoming", {"incomingId": str(uuid.uuid4())}, [("NOT_FOUND", ["input", "incomingId"])]),
    ]
    for query, field, i, expected in cases:
        p = await call(catalogue, query, field, i)
        assert codes(p) == expected, (field, i, p)
        assert p["incoming"] is None and p["level"] is None
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == before
    # settled incoming: INVALID_STATE for both, whichever way it was settled
    await call(catalogue, CANCEL, "cancelIncoming", {"incomingId": open_id})
    received = (await expect(catalogue, 2, 1))["incoming"]["id"]
    await call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": received})
    for gone in (open_id, received):
        for query, field in ((RECEIVE, "receiveIncoming"), (CANCEL, "cancelIncoming")):
            p = await call(catalogue, query, field, {"incomingId": gone})
            assert codes(p) == [("INVALID_STATE", ["input", "incomingId"])], (field, p)
    await assert_consistent(pool)


async def test_a_transfers_incoming_is_not_settled_here(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    shipped = await catalogue.data("""mutation { shipTransfer(input: {from: "WH-A", to: "ST-B",
        lines: [{sku: "SKU-1", quantity: 1}]}) { transfer { id } userErrors { code } } }""")
    transfer_id = shipped["shipTransfer"]["transfer"]["id"]
    listed = (await catalogue.data(LIST, {"location": "ST-B"}))["incoming"]
    assert len(listed) == 1
    for query, field in ((RECEIVE, "receiveIncoming"), (CANCEL, "cancelIncoming")):
        p = await call(catalogue, query, field, {"incomingId": listed[0]["id"]})
        assert codes(p) == [("INVALID_STATE", ["input", "incomingId"])], p
        assert "Transfer" in p["userErrors"][0]["message"]
    assert (await catalogue.data(LIST, {"location": "ST-B"}))["incoming"] == listed  # untouched
    found = await catalogue.data(TRANSFER_STATUS, {"id": transfer_id})
    assert found["transfer"]["status"] == "IN_TRANSIT"
    await assert_consistent(pool)


async def test_idempotency_keys(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    i = {"sku": "SKU-1", "location": "WH-A", "quantity": 3, "expectedAt": iso(NOW), "idempotencyKey": "po-7"}
    first = await call(catalogue, EXPECT, "expectIncoming", i)
    again = await call(catalogue, EXPECT, "expectIncoming", i)
    assert again["incoming"]["id"] == first["incoming"]["id"] and again["level"] == first["level"]
    p = await call(catalogue, EXPECT, "expectIncoming", {**i, "quantity": 4})
    assert codes(p) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    r = {"incomingId": first["incoming"]["id"], "quantity": 1, "idempotencyKey": "rcv-1"}
    one = await call(catalogue, RECEIVE, "receiveIncoming", r)
    two = await call(catalogue, RECEIVE, "receiveIncoming", r)
    assert one == two and one["incoming"]["received"] == 1
    listed = (await catalogue.data(LIST, {"sku": "SKU-1"}))["incoming"]
    assert [(x["quantity"], x["status"]) for x in listed] == [(3, "EXPECTED")]
    await assert_consistent(pool)


async def test_incoming_query_filters_and_orders_newest_first(catalogue: GraphQLClient) -> None:
    a = (await expect(catalogue, 1, 1))["incoming"]["id"]
    b = (await expect(catalogue, 2, 2, location="ST-B"))["incoming"]["id"]
    c = (await expect(catalogue, 3, 3))["incoming"]["id"]
    await call(catalogue, CANCEL, "cancelIncoming", {"incomingId": c})

    async def ids(**filters: Any) -> list[str]:
        return [x["id"] for x in (await catalogue.data(LIST, filters))["incoming"]]

    assert await ids() == [c, b, a]
    assert await ids(location="WH-A") == [c, a]
    assert await ids(status="EXPECTED") == [b, a]
    assert await ids(location="WH-A", status="EXPECTED") == [a]
    assert await ids(sku="SKU-2") == []
    assert await ids(first=1) == [c]
    body = await catalogue.post(LIST, {"first": 501})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_available_to_promise_at_several_dates_overdue_and_by_channel(
    catalogue: GraphQLClient, pool: asyncpg.Pool, server: RunningServer,
) -> None:
    await expect(catalogue, 2, -2)  # overdue: late, not gone
    await expect(catalogue, 3, 5)
    await expect(catalogue, 7, 20, location="ST-B")
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 4, "location": "WH-A"})
    query = """query($at: DateTime!, $ch: String) { sku(code: "SKU-1") {
      available availableToPromise(at: $at, channel: $ch) } }"""

    async def promise(days: float, channel: str | None = None) -> int:
        found = await catalogue.data(query, {"at": iso(NOW + timedelta(days=days)), "ch": channel})
        figure: int = found["sku"]["availableToPromise"]
        return figure

    # available 10 (14 on hand, 4 held); the overdue 2 count from now on, as does earlier
    assert [await promise(d) for d in (-3, -1, 0, 5, 19, 21)] == [10, 12, 12, 15, 15, 22]
    listed = (await catalogue.data(LIST, {"status": "EXPECTED"}))["incoming"]
    assert len(listed) == 3  # the overdue one stays EXPECTED
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO channels (code, name) VALUES ('web', 'Web shop');
               INSERT INTO channel_locations (channel_id, location_id, position)
               SELECT c.id, l.id, 0 FROM channels c, locations l WHERE c.code = 'web' AND l.code = 'WH-A'""")
    assert [await promise(d, "web") for d in (-3, 0, 5, 21)] == [6, 8, 11, 11]
    body = await catalogue.post(query, {"at": iso(NOW), "ch": "nope"})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"  # as available(channel)
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as r:
        text = await r.text()
    assert 'inventory_incoming_overdue{measure="count"} 1.0' in text
    assert 'inventory_incoming_overdue{measure="quantity"} 2.0' in text


async def test_scopes_and_location_binding(catalogue: GraphQLClient, pool: asyncpg.Pool, server: RunningServer) -> None:
    async with pool.acquire() as conn:
        reserve, _ = await keys.create(conn, "checkout", [Scope.READ, Scope.RESERVE])
        store_b, _ = await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE, Scope.WRITE], ["ST-B"])
    at_a = (await expect(catalogue, 2, 1))["incoming"]["id"]
    async with aiohttp.ClientSession() as session:
        anonymous = GraphQLClient(server.graphql_url, session)
        checkout = GraphQLClient(server.graphql_url, session, {"Authorization": f"Bearer {reserve}"})
        pos = GraphQLClient(server.graphql_url, session, {"Authorization": f"Bearer {store_b}"})
        i = {"sku": "SKU-1", "location": "WH-A", "quantity": 1, "expectedAt": iso(NOW)}
        for client, code in ((anonymous, "UNAUTHENTICATED"), (checkout, "FORBIDDEN"), (pos, "FORBIDDEN")):
            for query, variables in ((EXPECT, i), (RECEIVE, {"incomingId": at_a}), (CANCEL, {"incomingId": at_a})):
                body = await client.post(query, {"i": variables})
                assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code, body
        at_b = await call(pos, EXPECT, "expectIncoming", {**i, "location": "ST-B"})
        assert at_b["userErrors"] == []
        p = await call(pos, RECEIVE, "receiveIncoming", {"incomingId": at_b["incoming"]["id"]})
        assert p["userErrors"] == [] and p["incoming"]["status"] == "RECEIVED"
        listed = (await anonymous.data(LIST, {}))["incoming"]
        assert len(listed) == 2  # reads stay open
    await assert_consistent(pool)


async def test_racing_receives_never_take_more_than_expected(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    incoming_id = (await expect(catalogue, 5, 1))["incoming"]["id"]
    results = await asyncio.gather(*(
        call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": incoming_id, "quantity": 1})
        for _ in range(20)
    ))
    ok = [r for r in results if r["userErrors"] == []]
    refused = sorted({e["code"] for r in results for e in r["userErrors"]})
    assert len(ok) == 5 and refused == ["INVALID_STATE"]
    # partial receipts race a receipt of everything that is open
    incoming_id = (await expect(catalogue, 10, 1))["incoming"]["id"]
    results = await asyncio.gather(
        *(call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": incoming_id, "quantity": 3})
          for _ in range(6)),
        call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": incoming_id}),
    )
    assert all(r["userErrors"] == [] or r["userErrors"][0]["code"] in ("INVALID_QUANTITY", "INVALID_STATE")
               for r in results)
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT received, status FROM incoming WHERE id = $1::uuid", incoming_id)
        on_hand = await conn.fetchval(
            """SELECT on_hand FROM stock_levels l JOIN locations o ON o.id = l.location_id
               JOIN skus s ON s.id = l.sku_id WHERE s.code = 'SKU-1' AND o.code = 'WH-A'""")
    partial = sum(1 for r in results[:6] if r["userErrors"] == [])
    whole = results[6]["userErrors"] == []
    assert partial <= 3 and row["received"] == (10 if whole else 3 * partial)
    assert on_hand == 10 + 5 + row["received"]
    await assert_consistent(pool)


async def test_receives_racing_reserves_and_cancels(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    ids = [(await expect(catalogue, 2, 1))["incoming"]["id"] for _ in range(10)]
    calls = []
    for n, incoming_id in enumerate(ids):
        query, field = (CANCEL, "cancelIncoming") if n % 3 == 0 else (RECEIVE, "receiveIncoming")
        calls.append(call(catalogue, query, field, {"incomingId": incoming_id}))
        calls.append(call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 2, "location": "WH-A"}))
    results = await asyncio.wait_for(asyncio.gather(*calls), timeout=30)  # no deadlock
    assert all(r["userErrors"] == [] or r["userErrors"][0]["code"] == "INSUFFICIENT_STOCK" for r in results)
    held = sum(1 for r in results[1::2] if r["userErrors"] == [])
    async with pool.acquire() as conn:
        level = await conn.fetchrow(
            """SELECT on_hand, reserved, incoming FROM stock_levels l JOIN locations o ON o.id = l.location_id
               JOIN skus s ON s.id = l.sku_id WHERE s.code = 'SKU-1' AND o.code = 'WH-A'""")
    received = sum(1 for n in range(10) if n % 3 != 0)
    assert (level["on_hand"], level["reserved"], level["incoming"]) == (10 + 2 * received, 2 * held, 0)
    assert level["reserved"] <= level["on_hand"]
    await assert_consistent(pool)


async def test_live_subscribers_get_incoming_and_received_events(
    catalogue: GraphQLClient, server: RunningServer,
) -> None:
    ws = await websockets.connect(server.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")])
    try:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query":
            'subscription { stockEvents(sku: "SKU-1") { kind incomingDelta incomingId onHandDelta '
            "level { onHand incoming } } }"}}).decode())
        assert orjson.loads(await ws.recv())["payload"]["data"]["stockEvents"]["kind"] == "SNAPSHOT"
        incoming_id = (await expect(catalogue, 4, 1))["incoming"]["id"]
        await call(catalogue, RECEIVE, "receiveIncoming", {"incomingId": incoming_id, "quantity": 3})
        async with asyncio.timeout(5):
            got = [orjson.loads(await ws.recv())["payload"]["data"]["stockEvents"] for _ in range(2)]
    finally:
        await ws.close()
    assert got == [
        {"kind": "INCOMING", "incomingDelta": 4, "incomingId": incoming_id, "onHandDelta": 0,
         "level": {"onHand": 10, "incoming": 4}},
        {"kind": "RECEIVED", "incomingDelta": -3, "incomingId": incoming_id, "onHandDelta": 3,
         "level": {"onHand": 13, "incoming": 1}},
    ]
