"""recordSales through real HTTP: holds a sale leaves uncovered moved or shorted newest first
(within their channel, their key's locations, a bundle whole), the stock-count rule, shortfall,
resends out of order and twice, the refusals, and the events in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.access import Scope
from store import keys
from tests.api.conftest import set_stock
from tests.api.test_access import as_key, tokens
from tests.api.test_bundle_holds import KIT, UPSERT, entries_of, levels
from tests.api.test_mutations import call
from tests.client import GraphQLClient
from tests.ledger_checks import assert_consistent

__all__ = ["as_key", "tokens"]  # the fixtures

HOLD = "id sku quantity status location { code } components { sku quantity }"
RECORD = f"""mutation($i: RecordSalesInput!) {{ recordSales(input: $i) {{
  results {{ level {{ sku onHand reserved location {{ code }} }} shortfall
             userErrors {{ code field }} }}
  moved {{ {HOLD} }} shorted {{ {HOLD} }} userErrors {{ code field }} }} }}"""
RESERVE = f"""mutation($i: ReserveInput!) {{ reserve(input: $i) {{
  reservation {{ {HOLD} }} userErrors {{ code }} }} }}"""
COMMIT = """mutation($i: CommitReservationInput!) { commitReservation(input: $i) {
  reservation { status } userErrors { code } } }"""
READ = f"query($id: ID!) {{ reservation(id: $id) {{ {HOLD} }} }}"
EVENTS = """query($c: String!) { stockEvents(sku: $c, first: 1000) { kind onHandDelta
  reservedDelta reservationId reason happenedAt location { code } } }"""


def now(minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def sale(key: str, quantity: int, sku: str = "SKU-1", **more: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "happenedAt": now(), "idempotencyKey": key, **more}


async def record(client: GraphQLClient, *sales: dict[str, Any], location: str = "ST-B") -> Any:
    return await call(client, RECORD, "recordSales", {"location": location, "sales": list(sales)})


async def hold(client: GraphQLClient, quantity: int, sku: str = "SKU-1", **i: Any) -> Any:
    p = await call(client, RESERVE, "reserve",
                   {"sku": sku, "quantity": quantity, "location": "ST-B", **i})
    assert p["userErrors"] == [], p
    return p["reservation"]


async def events(client: GraphQLClient, sku: str = "SKU-1") -> list[tuple[Any, ...]]:
    return [(e["kind"], e["location"]["code"], e["onHandDelta"], e["reservedDelta"],
             e["reservationId"]) for e in (await client.data(EVENTS, {"c": sku}))["stockEvents"]]


async def test_a_sale_moves_the_hold_it_uncovers_to_free_stock_elsewhere(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    h = await hold(catalogue, 3)  # ST-B: 4 on hand, 3 held; WH-A: 10 free
    before = len(await events(catalogue))
    p = await record(catalogue, sale("s1", 2, reference="till-1"))
    assert p["userErrors"] == [] and p["shorted"] == []
    assert p["results"] == [{"level": {"sku": "SKU-1", "onHand": 2, "reserved": 0,
                                       "location": {"code": "ST-B"}},
                             "shortfall": 0, "userErrors": []}]
    assert p["moved"] == [{**h, "location": {"code": "WH-A"}}]
    assert (await events(catalogue))[before:] == [
        ("MOVED", "ST-B", 0, -3, h["id"]), ("RESERVED", "WH-A", 0, 3, h["id"]),
        ("ADJUSTED", "ST-B", -2, 0, None)]
    last = (await catalogue.data(EVENTS, {"c": "SKU-1"}))["stockEvents"][-1]
    assert last["reason"] == "SALE" and last["happenedAt"] is not None
    assert (await catalogue.data(READ, {"id": h["id"]}))["reservation"]["location"] == \
        {"code": "WH-A"}
    assert (await call(catalogue, COMMIT, "commitReservation",
                       {"reservationId": h["id"]}))["reservation"]["status"] == "COMMITTED"
    await assert_consistent(pool)


async def test_a_hold_no_location_can_cover_is_shorted_and_the_shortfall_counted(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    await set_stock(catalogue, "SKU-1", "WH-A", 2)
    h = await hold(catalogue, 3)
    p = await record(catalogue, sale("s1", 3), sale("s2", 5))
    assert p["moved"] == [] and p["shorted"] == [{**h, "status": "SHORTED"}]
    assert [(r["level"]["onHand"], r["level"]["reserved"], r["shortfall"])
            for r in p["results"]] == [(1, 0, 0), (0, 0, 4)]
    assert (await events(catalogue))[-3:] == [
        ("SHORTED", "ST-B", 0, -3, h["id"]), ("ADJUSTED", "ST-B", -3, 0, None),
        ("ADJUSTED", "ST-B", -1, 0, None)]
    assert (await catalogue.data(READ, {"id": h["id"]}))["reservation"]["status"] == "SHORTED"
    c = await call(catalogue, COMMIT, "commitReservation", {"reservationId": h["id"]})
    assert c["userErrors"] == [{"code": "RESERVATION_NOT_ACTIVE"}]
    await assert_consistent(pool)


async def test_newest_hold_goes_first_and_only_as_many_as_needed(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    old, new = await hold(catalogue, 2), await hold(catalogue, 2)
    p = await record(catalogue, sale("s1", 1))
    assert [r["id"] for r in p["moved"]] == [new["id"]]
    assert (await catalogue.data(READ, {"id": old["id"]}))["reservation"]["location"] == \
        {"code": "ST-B"}
    p = await record(catalogue, sale("s2", 1))  # 2 left, 2 held: nothing moves
    assert p["moved"] == [] and p["results"][0]["level"]["reserved"] == 2
    await assert_consistent(pool)


async def test_a_channel_hold_moves_only_within_its_channel(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    for code, places in (("shop", ["ST-B"]), ("app", ["ST-B", "WH-A"])):
        data = await catalogue.data("""mutation($i: UpsertChannelInput!) { upsertChannel(
          input: $i) { userErrors { code } } }""", {"i": {"code": code, "name": code,
                                                          "locations": places}})
        assert data["upsertChannel"]["userErrors"] == []
    app = await hold(catalogue, 2, channel="app")
    shop = await hold(catalogue, 2, channel="shop")
    p = await record(catalogue, sale("s1", 4))
    assert [r["id"] for r in p["shorted"]] == [shop["id"]]  # newest, and only at ST-B
    assert [(r["id"], r["location"]) for r in p["moved"]] == [(app["id"], {"code": "WH-A"})]
    await assert_consistent(pool)


async def test_a_hold_past_its_expiry_is_expired_not_moved(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    lapsed, fresh = await hold(catalogue, 2), await hold(catalogue, 1)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE reservations SET expires_at = now() - interval '1 second' "
                           "WHERE id = $1::uuid", lapsed["id"])
    p = await record(catalogue, sale("x1", 2))  # 2 left, 3 held: the lapsed hold goes first
    assert (p["moved"], p["shorted"]) == ([], [])
    assert p["results"][0]["level"] == {"sku": "SKU-1", "onHand": 2, "reserved": 1,
                                        "location": {"code": "ST-B"}}
    assert (await catalogue.data(READ, {"id": lapsed["id"]}))["reservation"]["status"] == \
        "EXPIRED"
    assert (await catalogue.data(READ, {"id": fresh["id"]}))["reservation"]["location"] == \
        {"code": "ST-B"}
    await assert_consistent(pool)


async def test_a_bound_keys_hold_moves_only_within_its_locations(
    catalogue: GraphQLClient, pool: asyncpg.Pool, as_key: Any
) -> None:
    async with pool.acquire() as conn:
        token, _ = await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE], ["ST-B"])
    h = await hold(as_key(token), 3)
    p = await record(catalogue, sale("s1", 2))
    assert [r["id"] for r in p["shorted"]] == [h["id"]] and p["moved"] == []
    await assert_consistent(pool)


async def test_a_bundle_hold_moves_or_is_shorted_whole(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    await set_stock(catalogue, "SKU-2", "WH-A", 6)
    await set_stock(catalogue, "SKU-2", "ST-B", 8)
    assert (await call(catalogue, UPSERT, "upsertBundle", KIT))["userErrors"] == []
    kit = await hold(catalogue, 2, sku="KIT")  # ST-B: SKU-1 2 of 4, SKU-2 4 of 8
    p = await record(catalogue, sale("s1", 3))
    assert p["moved"] == [{**kit, "location": {"code": "WH-A"}}]
    assert await entries_of(catalogue, kit["id"]) == [
        ("SKU-1", "RESERVED", "ST-B", 0, 2), ("SKU-1", "MOVED", "ST-B", 0, -2),
        ("SKU-1", "RESERVED", "WH-A", 0, 2), ("SKU-2", "RESERVED", "ST-B", 0, 4),
        ("SKU-2", "MOVED", "ST-B", 0, -4), ("SKU-2", "RESERVED", "WH-A", 0, 4)]
    # WH-A now: SKU-1 10 (2 held), SKU-2 6 (4 held); a sale of SKU-2 there leaves no kit room
    p = await record(catalogue, sale("s2", 5, sku="SKU-2"), location="WH-A")
    assert p["shorted"] == [{**kit, "status": "SHORTED", "location": {"code": "WH-A"}}]
    assert await levels(catalogue) == {
        ("SKU-1", "WH-A"): (10, 0), ("SKU-1", "ST-B"): (1, 0),
        ("SKU-2", "WH-A"): (1, 0), ("SKU-2", "ST-B"): (8, 0)}
    await assert_consistent(pool)


async def test_a_sale_before_the_latest_count_takes_nothing(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    h = await hold(catalogue, 3)
    p = await record(catalogue, {**sale("s1", 2), "happenedAt": now(-60)})
    assert p["moved"] == [] and p["results"][0]["shortfall"] == 0
    assert (p["results"][0]["level"]["onHand"], p["results"][0]["level"]["reserved"]) == (4, 3)
    e = (await catalogue.data(EVENTS, {"c": "SKU-1"}))["stockEvents"][-1]
    assert (e["kind"], e["reason"], e["onHandDelta"]) == ("ADJUSTED", "SALE", 0)
    assert datetime.fromisoformat(e["happenedAt"]) < datetime.now(UTC) - timedelta(minutes=59)
    assert (await catalogue.data(READ, {"id": h["id"]}))["reservation"]["status"] == "ACTIVE"
    await assert_consistent(pool)


async def test_a_sale_where_the_server_knew_no_stock_is_all_shortfall(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    p = await record(catalogue, sale("n1", 3, sku="SKU-2"))  # SKU-2 has no level at ST-B
    assert p["results"] == [{"level": {"sku": "SKU-2", "onHand": 0, "reserved": 0,
                                       "location": {"code": "ST-B"}},
                             "shortfall": 3, "userErrors": []}]
    assert await events(catalogue, "SKU-2") == [("ADJUSTED", "ST-B", 0, 0, None)]
    await assert_consistent(pool)


async def test_resent_out_of_order_and_twice_each_sale_counts_once(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    s1, s2, s3 = sale("q1", 1), sale("q2", 2), sale("q3", 1)
    first = await record(catalogue, s2, s1)
    ledger = await events(catalogue)
    again = await record(catalogue, s1, s3, s2)  # the queue resent, out of order, plus one
    assert again["results"][0] == first["results"][1]
    assert again["results"][2] == first["results"][0]
    assert again["results"][1]["level"]["onHand"] == 0
    assert len(await events(catalogue)) == len(ledger) + 1
    p = await record(catalogue, {**s1, "quantity": 3})
    assert p["results"][0]["userErrors"] == [
        {"code": "IDEMPOTENCY_KEY_REUSED", "field": ["input", "sales", "0", "idempotencyKey"]}]
    await assert_consistent(pool)


async def test_bad_sales_are_their_own_errors_and_the_others_count(
    catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    assert (await call(catalogue, UPSERT, "upsertBundle", KIT))["userErrors"] == []
    p = await record(catalogue, sale("b1", 1, sku="NOPE"), sale("b2", 0), sale("b3", 1),
                     sale("b4", 1, sku="KIT"), {**sale("b5", 1), "happenedAt": "2026-01-01T10:00:00"})
    assert [r["userErrors"] for r in p["results"]] == [
        [{"code": "NOT_FOUND", "field": ["input", "sales", "0", "sku"]}],
        [{"code": "INVALID_QUANTITY", "field": ["input", "sales", "1", "quantity"]}], [],
        [{"code": "INVALID_INPUT", "field": ["input", "sales", "3", "sku"]}],
        [{"code": "INVALID_INPUT", "field": ["input", "sales", "4", "happenedAt"]}]]
    assert p["results"][2]["level"]["onHand"] == 3
    assert (await record(catalogue))["userErrors"] == [
        {"code": "INVALID_INPUT", "field": ["input", "sales"]}]
    p = await record(catalogue, sale("b6", 1), location="NOWHERE")
    assert p["results"][0]["userErrors"] == [
        {"code": "NOT_FOUND", "field": ["input", "sales", "0", "location"]}]
    await assert_consistent(pool)


async def test_another_keys_hold_is_moved_but_shown_only_to_its_owner(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Any, pool: asyncpg.Pool
) -> None:
    checkout = as_key(tokens["reserve"])
    h = await hold(checkout, 3)
    p = await record(as_key(tokens["write"]), sale("o1", 2))
    assert (p["moved"], p["results"][0]["level"]["reserved"]) == ([], 0)
    assert (await checkout.data(READ, {"id": h["id"]}))["reservation"]["location"] == \
        {"code": "WH-A"}
    assert (await events(catalogue))[-3:-1] == [  # an admin reads whose hold moved
        ("MOVED", "ST-B", 0, -3, h["id"]), ("RESERVED", "WH-A", 0, 3, h["id"])]
    await assert_consistent(pool)


@pytest.mark.parametrize("who", ["reserve", "store-b"])
async def test_scope_and_location_binding(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Any, who: str
) -> None:
    body = await as_key(tokens[who]).post(
        RECORD, {"i": {"location": "WH-A", "sales": [sale("k1", 1)]}})
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    if who == "store-b":
        p = await record(as_key(tokens[who]), sale("k1", 1))
        assert p["results"][0]["level"]["onHand"] == 3


async def test_a_sale_that_cannot_lock_its_level_is_refused_retryable_and_changes_nothing(
    catalogue: GraphQLClient, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New holds appearing between two statements every time (here: no attempt allowed) give
    SERVICE_UNAVAILABLE, not a traceback, and the resend with the same key applies once."""
    from store import sales as sales_store

    await set_stock(catalogue, "SKU-1", "ST-B", 5)
    monkeypatch.setattr(sales_store, "MAX_LOCKS", 0)
    body = await catalogue.post(RECORD, {"i": {"location": "ST-B", "sales": [sale("c1", 2)]}})
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"], body
    assert (await levels(catalogue))["SKU-1", "ST-B"] == (5, 0)
    monkeypatch.setattr(sales_store, "MAX_LOCKS", 20)
    p = await record(catalogue, sale("c1", 2))
    assert p["results"][0]["level"]["onHand"] == 3
    await assert_consistent(pool)
