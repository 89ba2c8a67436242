"""Transfers through real HTTP: ship, receive with a loss, receive in full, cancel, what the
levels, the incoming and the ledger show after each, every refusal, idempotency, the queries."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.api.conftest import set_stock
from tests.api.test_mutations import RESERVE, call, codes
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent, assert_transfers_consistent

TRANSFER = """transfer { id status from { code } to { code } lines { sku quantity received }
  expectedAt reference createdAt }"""
SHIP = f"""mutation($i: ShipTransferInput!) {{ shipTransfer(input: $i) {{
  {TRANSFER} userErrors {{ code field message }} }} }}"""
RECEIVE = f"""mutation($i: ReceiveTransferInput!) {{ receiveTransfer(input: $i) {{
  {TRANSFER} userErrors {{ code field message }} }} }}"""
CANCEL = f"""mutation($i: CancelTransferInput!) {{ cancelTransfer(input: $i) {{
  {TRANSFER} userErrors {{ code field message }} }} }}"""
LEVELS = """query($c: String!) { sku(code: $c) { onHand available incoming
  levels { location { code } onHand reserved available incoming version } } }"""
EVENTS = """query($c: String!) { stockEvents(sku: $c) { sequence kind onHandDelta incomingDelta
  reason transferId incomingId location { code } level { onHand incoming } } }"""
INCOMING = """query { incoming { id sku quantity received status source transferId expectedAt
  location { code } } }"""
ONE = f"query($id: ID!) {{ {TRANSFER.replace('transfer {', 'transfer(id: $id) {', 1)} }}"
LIST = """query($status: TransferStatus, $location: String, $first: Int) {
  transfers(status: $status, location: $location, first: $first) { id status } }"""

NOW = datetime.now(UTC)


async def ship(client: GraphQLClient, lines: list[tuple[str, int]], source: str = "WH-A",
               to: str = "ST-B", **extra: Any) -> dict[str, Any]:
    p = await call(client, SHIP, "shipTransfer", {
        "from": source, "to": to, "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra})
    assert p["userErrors"] == [], p
    transfer: dict[str, Any] = p["transfer"]
    return transfer


async def levels(client: GraphQLClient, sku: str) -> dict[str, tuple[int, int, int, int]]:
    """(onHand, reserved, available, incoming) per location."""
    found = (await client.data(LEVELS, {"c": sku}))["sku"]["levels"]
    return {lv["location"]["code"]: (lv["onHand"], lv["reserved"], lv["available"], lv["incoming"])
            for lv in found}


async def events(client: GraphQLClient, sku: str, after: int) -> list[tuple[Any, ...]]:
    found = (await client.data(EVENTS, {"c": sku}))["stockEvents"]
    return [(e["kind"], e["location"]["code"], e["onHandDelta"], e["incomingDelta"], e["reason"],
             e["transferId"], e["level"]["onHand"], e["level"]["incoming"])
            for e in found if e["sequence"] > after]


async def test_ship_then_receive_with_a_loss(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    await set_stock(catalogue, "SKU-2", "WH-A", 5)
    due = NOW + timedelta(days=2)
    t = await ship(catalogue, [("SKU-1", 4), ("SKU-2", 3), ("SKU-1", 2)],
                   expectedAt=due.isoformat(), reference="TR-1")
    assert (t["status"], t["from"]["code"], t["to"]["code"], t["reference"]) == (
        "IN_TRANSIT", "WH-A", "ST-B", "TR-1")
    assert datetime.fromisoformat(t["expectedAt"]) == due
    # lines of one SKU summed, in the order of their first line
    assert t["lines"] == [{"sku": "SKU-1", "quantity": 6, "received": 0},
                          {"sku": "SKU-2", "quantity": 3, "received": 0}]
    assert await levels(catalogue, "SKU-1") == {"WH-A": (4, 0, 4, 0), "ST-B": (4, 0, 4, 6)}
    assert await levels(catalogue, "SKU-2") == {"WH-A": (2, 0, 2, 0), "ST-B": (0, 0, 0, 3)}
    incoming = {i["sku"]: i for i in (await catalogue.data(INCOMING))["incoming"]}
    assert {(i["source"], i["transferId"], i["status"], i["location"]["code"], i["quantity"])
            for i in incoming.values()} == {("TRANSFER", t["id"], "EXPECTED", "ST-B", 6),
                                           ("TRANSFER", t["id"], "EXPECTED", "ST-B", 3)}
    assert all(datetime.fromisoformat(i["expectedAt"]) == due for i in incoming.values())

    p = await call(catalogue, RECEIVE, "receiveTransfer", {
        "transferId": t["id"], "lines": [{"sku": "SKU-1", "quantity": 5}]})  # SKU-2: 0 arrived
    assert p["userErrors"] == []
    assert p["transfer"]["status"] == "RECEIVED"
    assert p["transfer"]["lines"] == [{"sku": "SKU-1", "quantity": 6, "received": 5},
                                      {"sku": "SKU-2", "quantity": 3, "received": 0}]
    assert await levels(catalogue, "SKU-1") == {"WH-A": (4, 0, 4, 0), "ST-B": (9, 0, 9, 0)}
    assert await levels(catalogue, "SKU-2") == {"WH-A": (2, 0, 2, 0), "ST-B": (0, 0, 0, 0)}
    closed = [(i["sku"], i["status"], i["received"]) for i in (await catalogue.data(INCOMING))["incoming"]]
    assert sorted(closed) == [("SKU-1", "RECEIVED", 5), ("SKU-2", "RECEIVED", 0)]
    tid = t["id"]
    assert await events(catalogue, "SKU-1", 2) == [  # after the two sets
        ("SHIPPED", "WH-A", -6, 0, "TRANSFER", tid, 4, 0),
        ("INCOMING", "ST-B", 0, 6, None, tid, 4, 6),
        ("RECEIVED", "ST-B", 5, -5, "TRANSFER", tid, 9, 1),
        ("INCOMING", "ST-B", 0, -1, None, tid, 9, 0),  # the loss in transit leaves incoming
    ]
    assert await events(catalogue, "SKU-2", 1) == [
        ("SHIPPED", "WH-A", -3, 0, "TRANSFER", tid, 2, 0),
        ("INCOMING", "ST-B", 0, 3, None, tid, 0, 3),
        ("INCOMING", "ST-B", 0, -3, None, tid, 0, 0),
    ]
    await assert_consistent(pool)


async def test_receive_in_full_and_cancel(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    first = await ship(catalogue, [("SKU-1", 3)])
    assert first["expectedAt"] is None  # the incoming is expected at the time of shipping
    incoming = (await catalogue.data(INCOMING))["incoming"][0]
    assert datetime.fromisoformat(incoming["expectedAt"]) == datetime.fromisoformat(first["createdAt"])
    p = await call(catalogue, RECEIVE, "receiveTransfer", {"transferId": first["id"]})
    assert p["transfer"]["lines"] == [{"sku": "SKU-1", "quantity": 3, "received": 3}]
    assert await levels(catalogue, "SKU-1") == {"WH-A": (7, 0, 7, 0), "ST-B": (7, 0, 7, 0)}

    second = await ship(catalogue, [("SKU-1", 5)], source="ST-B", to="WH-A", reference="back")
    assert await levels(catalogue, "SKU-1") == {"WH-A": (7, 0, 7, 5), "ST-B": (2, 0, 2, 0)}
    p = await call(catalogue, CANCEL, "cancelTransfer", {"transferId": second["id"]})
    assert p["userErrors"] == [] and p["transfer"]["status"] == "CANCELLED"
    assert p["transfer"]["lines"] == [{"sku": "SKU-1", "quantity": 5, "received": 0}]
    assert await levels(catalogue, "SKU-1") == {"WH-A": (7, 0, 7, 0), "ST-B": (7, 0, 7, 0)}
    assert (await events(catalogue, "SKU-1", 6))[-2:] == [
        ("ADJUSTED", "ST-B", 5, 0, "TRANSFER", second["id"], 7, 0),
        ("INCOMING", "WH-A", 0, -5, None, second["id"], 7, 0),
    ]
    statuses = {i["transferId"]: i["status"] for i in (await catalogue.data(INCOMING))["incoming"]}
    assert statuses == {first["id"]: "RECEIVED", second["id"]: "CANCELLED"}
    # settled either way: neither can be received or cancelled again
    for settled in (first["id"], second["id"]):
        for query, field in ((RECEIVE, "receiveTransfer"), (CANCEL, "cancelTransfer")):
            p = await call(catalogue, query, field, {"transferId": settled})
            assert codes(p) == [("INVALID_STATE", ["input", "transferId"])], p
            assert p["transfer"] is None
    await assert_consistent(pool)


async def test_only_available_stock_ships(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    await call(catalogue, RESERVE, "reserve", {"sku": "SKU-1", "quantity": 3, "location": "WH-A"})
    await catalogue.data("""mutation { setStock(input: {sku: "SKU-1", location: "WH-A", onHand: 10,
        safetyStock: 2}) { userErrors { code } } }""")  # available 10 - 3 - 2 = 5
    p = await call(catalogue, SHIP, "shipTransfer", {"from": "WH-A", "to": "ST-B",
                                                     "lines": [{"sku": "SKU-1", "quantity": 6}]})
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "lines", "0", "quantity"])]
    await ship(catalogue, [("SKU-1", 5)])
    assert (await levels(catalogue, "SKU-1"))["WH-A"] == (5, 3, 0, 0)
    await assert_consistent(pool)


REFUSED_SHIPS: list[tuple[dict[str, Any], list[tuple[str, list[str]]]]] = [
    ({"lines": []}, [("INVALID_INPUT", ["input", "lines"])]),
    ({"to": "WH-A"}, [("INVALID_INPUT", ["input", "to"])]),
    ({"from": "NOWHERE"}, [("NOT_FOUND", ["input", "from"])]),
    ({"to": "NOWHERE"}, [("NOT_FOUND", ["input", "to"])]),
    ({"from": "bad code!"}, [("INVALID_INPUT", ["input", "from"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 1},
                {"sku": "NOPE", "quantity": 1}]}, [("NOT_FOUND", ["input", "lines", "2", "sku"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": 0}]}, [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": -2}]}, [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": 10**9}]}, [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),
    ({"lines": [{"sku": "bad code!", "quantity": 1}]}, [("INVALID_INPUT", ["input", "lines", "0", "sku"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": 1}] * 201}, [("INVALID_INPUT", ["input", "lines"])]),
    ({"reference": "x" * 201}, [("INVALID_INPUT", ["input", "reference"])]),
    # every short line named: SKU-1 has 10 at WH-A, SKU-2 none; the line that fits ships not
    ({"lines": [{"sku": "SKU-1", "quantity": 11}, {"sku": "SKU-1", "quantity": 1, },
                {"sku": "SKU-2", "quantity": 1}]},
     [("INSUFFICIENT_STOCK", ["input", "lines", "0", "quantity"]),
      ("INSUFFICIENT_STOCK", ["input", "lines", "2", "quantity"])]),
    ({"lines": [{"sku": "SKU-1", "quantity": 9}, {"sku": "SKU-1", "quantity": 2}]},
     [("INSUFFICIENT_STOCK", ["input", "lines", "0", "quantity"])]),  # summed: 11 > 10
]


@pytest.mark.parametrize("change, expected", REFUSED_SHIPS)
async def test_a_refused_ship_changes_nothing(
    catalogue: GraphQLClient, pool: asyncpg.Pool, change: dict[str, Any],
    expected: list[tuple[str, list[str]]],
) -> None:
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM stock_events")
    i = {"from": "WH-A", "to": "ST-B", "lines": [{"sku": "SKU-1", "quantity": 1}], **change}
    p = await call(catalogue, SHIP, "shipTransfer", i)
    assert codes(p) == expected and p["transfer"] is None, p
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == before
        assert await conn.fetchval("SELECT count(*) FROM transfers") == 0
        assert await conn.fetchval("SELECT count(*) FROM incoming") == 0
    assert await levels(catalogue, "SKU-1") == {"WH-A": (10, 0, 10, 0), "ST-B": (4, 0, 4, 0)}


async def test_refused_receipts_and_cancels_change_nothing(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    t = (await ship(catalogue, [("SKU-1", 4)]))["id"]
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM stock_events")
    cases: list[tuple[str, str, dict[str, Any], list[tuple[str, list[str]]]]] = [
        (RECEIVE, "receiveTransfer", {"transferId": "not-an-id"}, [("NOT_FOUND", ["input", "transferId"])]),
        (RECEIVE, "receiveTransfer", {"transferId": str(uuid.uuid4())}, [("NOT_FOUND", ["input", "transferId"])]),
        (RECEIVE, "receiveTransfer", {"transferId": t, "lines": [{"sku": "SKU-2", "quantity": 1}]},
         [("INVALID_INPUT", ["input", "lines", "0", "sku"])]),
        (RECEIVE, "receiveTransfer", {"transferId": t, "lines": [{"sku": "SKU-1", "quantity": 5}]},
         [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),
        (RECEIVE, "receiveTransfer", {"transferId": t, "lines": [
            {"sku": "SKU-1", "quantity": 3}, {"sku": "SKU-1", "quantity": 2}]},
         [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),  # summed: 5 > 4
        (RECEIVE, "receiveTransfer", {"transferId": t, "lines": [{"sku": "SKU-1", "quantity": -1}]},
         [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]),
        (RECEIVE, "receiveTransfer", {"transferId": t, "lines": [
            {"sku": "NOPE", "quantity": 1}, {"sku": "SKU-1", "quantity": 9}]},
         [("INVALID_INPUT", ["input", "lines", "0", "sku"]),
          ("INVALID_QUANTITY", ["input", "lines", "1", "quantity"])]),
        (CANCEL, "cancelTransfer", {"transferId": "x"}, [("NOT_FOUND", ["input", "transferId"])]),
        (CANCEL, "cancelTransfer", {"transferId": str(uuid.uuid4())}, [("NOT_FOUND", ["input", "transferId"])]),
    ]
    for query, field, i, expected in cases:
        p = await call(catalogue, query, field, i)
        assert codes(p) == expected, (field, i, p)
        assert p["transfer"] is None
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == before
    found = (await catalogue.data(ONE, {"id": t}))["transfer"]
    assert found["status"] == "IN_TRANSIT" and found["lines"][0]["received"] == 0
    await assert_consistent(pool)


async def test_idempotency_keys(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    i = {"from": "WH-A", "to": "ST-B", "lines": [{"sku": "SKU-1", "quantity": 2}],
         "idempotencyKey": "tr-1"}
    first = await call(catalogue, SHIP, "shipTransfer", i)
    again = await call(catalogue, SHIP, "shipTransfer", i)
    assert first["userErrors"] == [] and again == first
    p = await call(catalogue, SHIP, "shipTransfer", {**i, "lines": [{"sku": "SKU-1", "quantity": 3}]})
    assert codes(p) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    assert await levels(catalogue, "SKU-1") == {"WH-A": (8, 0, 8, 0), "ST-B": (4, 0, 4, 2)}
    r = {"transferId": first["transfer"]["id"], "lines": [{"sku": "SKU-1", "quantity": 1}],
         "idempotencyKey": "rcv-1"}
    one = await call(catalogue, RECEIVE, "receiveTransfer", r)
    async with pool.acquire() as conn:
        after_one = await conn.fetchval("SELECT count(*) FROM stock_events")
    two = await call(catalogue, RECEIVE, "receiveTransfer", r)
    assert one == two and one["transfer"]["lines"][0]["received"] == 1
    p = await call(catalogue, RECEIVE, "receiveTransfer", {**r, "lines": None})
    assert codes(p) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == after_one
        assert await conn.fetchval("SELECT count(*) FROM transfers") == 1
    assert await levels(catalogue, "SKU-1") == {"WH-A": (8, 0, 8, 0), "ST-B": (5, 0, 5, 0)}
    await assert_consistent(pool)


async def test_transfer_and_transfers_queries(catalogue: GraphQLClient) -> None:
    await catalogue.data("""mutation { upsertLocation(input: {code: "ST-C", name: "Store C",
        kind: STORE}) { userErrors { code } } }""")
    a = (await ship(catalogue, [("SKU-1", 1)]))["id"]
    b = (await ship(catalogue, [("SKU-1", 1)], source="ST-B", to="ST-C"))["id"]
    c = (await ship(catalogue, [("SKU-1", 1)], to="ST-C"))["id"]
    await call(catalogue, CANCEL, "cancelTransfer", {"transferId": c})
    found = (await catalogue.data(ONE, {"id": b}))["transfer"]
    assert (found["id"], found["from"]["code"], found["to"]["code"], found["lines"]) == (
        b, "ST-B", "ST-C", [{"sku": "SKU-1", "quantity": 1, "received": 0}])
    for missing in ("nope", str(uuid.uuid4())):
        assert (await catalogue.data(ONE, {"id": missing}))["transfer"] is None

    async def ids(**filters: Any) -> list[str]:
        return [t["id"] for t in (await catalogue.data(LIST, filters))["transfers"]]

    assert await ids() == [c, b, a]  # newest first
    assert await ids(status="IN_TRANSIT") == [b, a]
    assert await ids(location="ST-B") == [b, a]  # either end
    assert await ids(location="ST-C", status="CANCELLED") == [c]
    assert await ids(location="NOWHERE") == []
    assert await ids(first=1) == [c]
    for bad in ({"first": 501}, {"first": -1}, {"location": "x" * 201}):
        body = await catalogue.post(LIST, bad)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_ends_are_loaded_in_one_batch(
    catalogue: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        await ship(catalogue, [("SKU-1", 1)])
    await ship(catalogue, [("SKU-1", 1)], source="ST-B", to="WH-A")
    from service import views

    batches: list[list[int]] = []
    original = views.locations_by_id

    async def counting(pool: asyncpg.Pool, ids: list[int]) -> Any:
        batches.append(list(ids))
        return await original(pool, ids)

    monkeypatch.setattr(views, "locations_by_id", counting)
    found = (await catalogue.data("{ transfers { from { code } to { code } } }"))["transfers"]
    assert len(found) == 5 and found[0] == {"from": {"code": "ST-B"}, "to": {"code": "WH-A"}}
    # one batch, of distinct ids; none once the read model holds the locations (the default)
    assert len(batches) <= 1 and all(sorted(b) == sorted(set(b)) for b in batches)


@pytest.mark.parametrize("corruption", [
    "UPDATE transfer_lines SET received = received - 1",
    "UPDATE incoming SET received = received - 1",
    "UPDATE transfers SET status = 'CANCELLED'",
    "UPDATE transfers SET from_location_id = to_location_id, to_location_id = from_location_id",
    "UPDATE incoming SET location_id = (SELECT id FROM locations WHERE code = 'WH-A')",
])
async def test_the_ledger_checks_notice_a_transfer_that_disagrees(
    catalogue: GraphQLClient, pool: asyncpg.Pool, corruption: str
) -> None:
    t = await ship(catalogue, [("SKU-1", 3)])
    await call(catalogue, RECEIVE, "receiveTransfer", {
        "transferId": t["id"], "lines": [{"sku": "SKU-1", "quantity": 2}]})
    await assert_consistent(pool)
    async with pool.acquire() as conn:  # the ledger is append-only: the rest can drift
        await conn.execute(corruption)
    with pytest.raises(AssertionError):
        await assert_transfers_consistent(pool)


async def test_each_change_is_logged_with_its_transfer(
    catalogue: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.inventory")
    t = await ship(catalogue, [("SKU-1", 2)])
    lines = [(r.kind, r.location, r.changes, r.transfer)  # type: ignore[attr-defined]
             for r in caplog.records if r.name == "service.inventory" and r.operation == "shipTransfer"]  # type: ignore[attr-defined]
    assert lines == [("SHIPPED", "WH-A", {"on_hand": -2, "reserved": 0, "incoming": 0}, t["id"]),
                     ("INCOMING", "ST-B", {"on_hand": 0, "reserved": 0, "incoming": 2}, t["id"])]


async def test_a_transfer_without_a_date_is_promised_at_once_and_never_overdue(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    await ship(catalogue, [("SKU-1", 3)])  # expected from the time it ships
    await ship(catalogue, [("SKU-1", 2)], expectedAt=(NOW - timedelta(days=1)).isoformat())
    await ship(catalogue, [("SKU-1", 1)], expectedAt=(NOW + timedelta(days=3)).isoformat())
    query = """query($at: DateTime!) { sku(code: "SKU-1") { available incoming
      availableToPromise(at: $at) } }"""
    # minutes after this test's own shipping (NOW is the module's import time: a full run
    # reaches this test long after it, and the undated transfer is expected from its shipping)
    soon_after = datetime.now(UTC) + timedelta(minutes=5)
    soon = (await catalogue.data(query, {"at": soon_after.isoformat()}))["sku"]
    assert soon == {"available": 8, "incoming": 6, "availableToPromise": 13}
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as r:
        text = await r.text()
    assert 'inventory_incoming_overdue{measure="count"} 1.0' in text  # only the late one
    assert 'inventory_incoming_overdue{measure="quantity"} 2.0' in text


async def test_no_level_is_pushed_past_max_quantity(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    """MAX_QUANTITY (1,000,000 here) bounds incoming at `to` when shipping, onHand at `to`
    when receiving and onHand at `from` when cancelling; each refusal changes nothing."""
    await catalogue.data("""mutation { expectIncoming(input: {sku: "SKU-1", location: "ST-B",
        quantity: 999999, expectedAt: "2030-01-01T00:00:00Z"}) { userErrors { code } } }""")
    p = await call(catalogue, SHIP, "shipTransfer", {"from": "WH-A", "to": "ST-B",
                                                     "lines": [{"sku": "SKU-1", "quantity": 2}]})
    assert codes(p) == [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]
    back = await ship(catalogue, [("SKU-1", 2)], source="ST-B", to="WH-A")
    there = await ship(catalogue, [("SKU-1", 1)])  # ST-B expects 1,000,000 now
    await set_stock(catalogue, "SKU-1", "WH-A", 1_000_000)
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM stock_events")
    p = await call(catalogue, RECEIVE, "receiveTransfer", {"transferId": back["id"]})
    assert codes(p) == [("INVALID_QUANTITY", ["input", "transferId"])]
    p = await call(catalogue, RECEIVE, "receiveTransfer", {
        "transferId": back["id"], "lines": [{"sku": "SKU-1", "quantity": 2}]})
    assert codes(p) == [("INVALID_QUANTITY", ["input", "lines", "0", "quantity"])]
    p = await call(catalogue, CANCEL, "cancelTransfer", {"transferId": there["id"]})
    assert codes(p) == [("INVALID_QUANTITY", ["input", "transferId"])]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == before
    await set_stock(catalogue, "SKU-1", "WH-A", 999_999)
    p = await call(catalogue, RECEIVE, "receiveTransfer", {  # what fits can still be taken in
        "transferId": back["id"], "lines": [{"sku": "SKU-1", "quantity": 1}]})
    assert p["userErrors"] == [] and p["transfer"]["lines"][0]["received"] == 1
    await assert_consistent(pool)


async def test_a_bundle_is_not_shipped(catalogue: GraphQLClient, pool: asyncpg.Pool) -> None:
    """A bundle holds no stock of its own (no level to take from, none to expect at): its
    line is INVALID_INPUT, the other faults are named beside it, and nothing changes."""
    await catalogue.data("""mutation { upsertBundle(input: {code: "KIT-1", name: "Kit",
        components: [{sku: "SKU-1", quantity: 2}]}) { userErrors { code } } }""")
    for source, to in (("WH-A", "ST-B"), ("ST-B", "WH-A")):  # either end first in lock order
        p = await call(catalogue, SHIP, "shipTransfer", {"from": source, "to": to, "lines": [
            {"sku": "SKU-1", "quantity": 1}, {"sku": "KIT-1", "quantity": 1},
            {"sku": "NOPE", "quantity": 1}]})
        assert codes(p) == [("INVALID_INPUT", ["input", "lines", "1", "sku"]),
                            ("NOT_FOUND", ["input", "lines", "2", "sku"])], p
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM transfers") == 0
    assert await levels(catalogue, "SKU-1") == {"WH-A": (10, 0, 10, 0), "ST-B": (4, 0, 4, 0)}
    await assert_consistent(pool)
