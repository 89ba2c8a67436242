"""Holds of bundles through real HTTP: where a bundle is held (most kits, a named location, a
channel's priority, a bound key's locations), one hold acting on every component from reserve to
commit, release, extend and expiry, carts summing bundle and plain demand, and the refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from domain.access import Scope
from store import keys
from tests.api.conftest import set_stock
from tests.api.test_access import as_key
from tests.api.test_mutations import call, codes
from tests.api.test_ops import run_cli
from tests.api.test_subscriptions import PROTOCOLS, Feed
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_channel_holds, assert_consistent

__all__ = ["as_key"]  # the fixture

UPSERT = """mutation($i: UpsertBundleInput!) { upsertBundle(input: $i) {
  sku { code } userErrors { code field message } } }"""
HOLD = """reservation { id sku quantity status expiresAt location { code } channel { code }
  components { sku quantity } }"""
BUNDLE_LEVEL = "level { sku onHand reserved safetyStock available version location { code } }"
RESERVE = f"""mutation($i: ReserveInput!) {{ reserve(input: $i) {{ {HOLD} {BUNDLE_LEVEL}
  reservations {{ id }} userErrors {{ code field message }} }} }}"""
LINES = """mutation($i: ReserveLinesInput!) { reserveLines(input: $i) {
  reservations { id sku quantity location { code } channel { code } components { sku quantity } }
  userErrors { code field message } } }"""
COMMIT = f"""mutation($i: CommitReservationInput!) {{ commitReservation(input: $i) {{
  {HOLD} {BUNDLE_LEVEL} userErrors {{ code field }} }} }}"""
RELEASE = f"""mutation($i: ReleaseReservationInput!) {{ releaseReservation(input: $i) {{
  {HOLD} {BUNDLE_LEVEL} userErrors {{ code field }} }} }}"""
EXTEND = f"""mutation($i: ExtendReservationInput!) {{ extendReservation(input: $i) {{
  {HOLD} userErrors {{ code field }} }} }}"""
READ = "query($id: ID!) { " + HOLD.replace("reservation {", "reservation(id: $id) {", 1) + " }"
LEVELS = """{ a: sku(code: "SKU-1") { levels { location { code } onHand reserved } }
  b: sku(code: "SKU-2") { levels { location { code } onHand reserved } } }"""
EVENTS = """query($c: String!) { stockEvents(sku: $c, first: 1000) {
  sku kind onHandDelta reservedDelta reservationId location { code } } }"""
KIT = {"code": "KIT", "name": "Kit", "components": [
    {"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 2}]}


@pytest.fixture
async def kit(catalogue: GraphQLClient) -> GraphQLClient:
    """KIT = 1 x SKU-1 + 2 x SKU-2. SKU-1: 10 at WH-A, 4 at ST-B; SKU-2: 6 at WH-A, 8 at
    ST-B; so 3 kits at WH-A and 4 at ST-B."""
    await set_stock(catalogue, "SKU-2", "WH-A", 6)
    await set_stock(catalogue, "SKU-2", "ST-B", 8)
    assert (await call(catalogue, UPSERT, "upsertBundle", KIT))["userErrors"] == []
    return catalogue


async def reserve(client: GraphQLClient, **i: Any) -> Any:
    return await call(client, RESERVE, "reserve", {"sku": "KIT", **i})


async def levels(client: GraphQLClient) -> dict[tuple[str, str], tuple[int, int]]:
    """(SKU, location) -> (onHand, reserved) of both components."""
    data = await client.data(LEVELS)
    return {(sku, lv["location"]["code"]): (lv["onHand"], lv["reserved"])
            for sku, key in (("SKU-1", "a"), ("SKU-2", "b")) for lv in data[key]["levels"]}


async def entries_of(client: GraphQLClient, reservation_id: str) -> list[tuple[Any, ...]]:
    """Every ledger entry of both components carrying the reservation's id, SKU by SKU."""
    found = []
    for sku in ("SKU-1", "SKU-2"):
        for e in (await client.data(EVENTS, {"c": sku}))["stockEvents"]:
            if e["reservationId"] == reservation_id:
                found.append((e["sku"], e["kind"], e["location"]["code"], e["onHandDelta"],
                              e["reservedDelta"]))
    return found


def parts(n: int) -> list[dict[str, Any]]:
    """What n kits hold of each component."""
    return [{"sku": "SKU-1", "quantity": n}, {"sku": "SKU-2", "quantity": 2 * n}]


async def test_a_bundle_is_held_where_the_most_kits_are_every_component_at_once(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    p = await reserve(kit, quantity=2)
    assert p["userErrors"] == []
    hold = p["reservation"]
    assert (hold["sku"], hold["quantity"], hold["status"], hold["location"], hold["components"]) \
        == ("KIT", 2, "ACTIVE", {"code": "ST-B"}, parts(2))
    assert p["reservations"] == [{"id": hold["id"]}]
    # the bundle's derived level there after the hold: min(4/1, 8/2) on hand, min(2/1, 4/2) free
    assert p["level"] == {"sku": "KIT", "onHand": 4, "reserved": 0, "safetyStock": 0,
                          "available": 2, "version": 0, "location": {"code": "ST-B"}}
    assert await levels(kit) == {("SKU-1", "WH-A"): (10, 0), ("SKU-1", "ST-B"): (4, 2),
                                 ("SKU-2", "WH-A"): (6, 0), ("SKU-2", "ST-B"): (8, 4)}
    assert await entries_of(kit, hold["id"]) == [("SKU-1", "RESERVED", "ST-B", 0, 2),
                                                 ("SKU-2", "RESERVED", "ST-B", 0, 4)]
    assert (await kit.data(READ, {"id": hold["id"]}))["reservation"] == hold
    assert (await kit.data('{ sku(code: "KIT") { sequence } }'))["sku"]["sequence"] == 0
    # ST-B has 2 kits left, WH-A 3: three go to WH-A, then no one location has three
    p = await reserve(kit, quantity=3)
    assert p["reservation"]["location"] == {"code": "WH-A"}
    assert p["reservation"]["components"] == parts(3)
    before = await levels(kit)
    p = await reserve(kit, quantity=3)
    assert (p["reservation"], p["reservations"], p["level"]) == (None, [], None)
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    assert "KIT" in p["userErrors"][0]["message"]
    assert await levels(kit) == before
    p = await reserve(kit, quantity=2, location="ST-B")  # named: there or nowhere
    assert p["reservation"]["location"] == {"code": "ST-B"}
    p = await reserve(kit, quantity=1, location="ST-B")
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 3
    await assert_consistent(pool)


async def test_a_tie_goes_to_the_oldest_location(kit: GraphQLClient, pool: asyncpg.Pool) -> None:
    await set_stock(kit, "SKU-2", "ST-B", 6)  # 3 kits at each; WH-A was created first
    p = await reserve(kit, quantity=1)
    assert p["reservation"]["location"] == {"code": "WH-A"}
    await assert_consistent(pool)


async def test_through_a_channel_in_priority_order_within_a_bound_keys_locations(
    kit: GraphQLClient, pool: asyncpg.Pool, as_key: Any
) -> None:
    for code, places in (("app", ["WH-A", "ST-B"]), ("wa", ["WH-A"])):
        data = await kit.data("""mutation($i: UpsertChannelInput!) { upsertChannel(input: $i) {
          userErrors { code } } }""", {"i": {"code": code, "name": code, "locations": places}})
        assert data["upsertChannel"]["userErrors"] == []
    async with pool.acquire() as conn:
        token, _ = await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE], ["ST-B"])
    p = await reserve(as_key(token), quantity=1, channel="app")  # WH-A is not the key's
    assert p["reservation"]["location"] == {"code": "ST-B"}
    p = await reserve(kit, quantity=2, channel="app")  # WH-A first, though ST-B has more
    assert (p["reservation"]["location"], p["reservation"]["channel"]) == (
        {"code": "WH-A"}, {"code": "app"})
    p = await reserve(kit, quantity=2, channel="app")  # WH-A has one left
    assert p["reservation"]["location"] == {"code": "ST-B"}
    p = await reserve(kit, quantity=1, channel="wa", location="ST-B")
    assert codes(p) == [("INVALID_INPUT", ["input", "location"])]
    p = await reserve(kit, quantity=2, channel="wa")
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "quantity"])]
    p = await call(kit, LINES, "reserveLines", {"channel": "app", "lines": [
        {"sku": "KIT", "quantity": 1}, {"sku": "SKU-2", "quantity": 1}]})
    assert [(r["sku"], r["location"]["code"], r["channel"]) for r in p["reservations"]] == [
        ("KIT", "WH-A", {"code": "app"}), ("SKU-2", "ST-B", {"code": "app"})]
    await assert_consistent(pool)
    await assert_channel_holds(pool)


async def test_commit_takes_every_component_off_on_hand(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    hold = (await reserve(kit, quantity=2, location="ST-B", reference="order-1"))["reservation"]
    p = await call(kit, COMMIT, "commitReservation", {"reservationId": hold["id"]})
    assert p["userErrors"] == []
    assert (p["reservation"]["status"], p["reservation"]["components"]) == ("COMMITTED", parts(2))
    assert p["level"] == {"sku": "KIT", "onHand": 2, "reserved": 0, "safetyStock": 0,
                          "available": 2, "version": 0, "location": {"code": "ST-B"}}
    assert (await levels(kit))[("SKU-1", "ST-B")] == (2, 0)
    assert (await levels(kit))[("SKU-2", "ST-B")] == (4, 0)
    assert await entries_of(kit, hold["id"]) == [
        ("SKU-1", "RESERVED", "ST-B", 0, 2), ("SKU-1", "COMMITTED", "ST-B", -2, -2),
        ("SKU-2", "RESERVED", "ST-B", 0, 4), ("SKU-2", "COMMITTED", "ST-B", -4, -4)]
    again = await call(kit, COMMIT, "commitReservation", {"reservationId": hold["id"]})
    assert codes(again) == [("RESERVATION_NOT_ACTIVE", ["input", "reservationId"])]
    await assert_consistent(pool)


async def test_release_and_extend_act_on_the_one_hold(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    hold = (await reserve(kit, quantity=1, ttlSeconds=60))["reservation"]
    p = await call(kit, EXTEND, "extendReservation",
                   {"reservationId": hold["id"], "ttlSeconds": 3600})
    assert p["userErrors"] == [] and p["reservation"]["expiresAt"] > hold["expiresAt"]
    assert p["reservation"]["components"] == parts(1)
    p = await call(kit, RELEASE, "releaseReservation", {"reservationId": hold["id"]})
    assert (p["reservation"]["status"], p["reservation"]["components"]) == ("RELEASED", parts(1))
    assert (p["level"]["onHand"], p["level"]["available"]) == (4, 4)
    assert all(reserved == 0 for _, reserved in (await levels(kit)).values())
    assert await entries_of(kit, hold["id"]) == [
        ("SKU-1", "RESERVED", "ST-B", 0, 1), ("SKU-1", "RELEASED", "ST-B", 0, -1),
        ("SKU-2", "RESERVED", "ST-B", 0, 2), ("SKU-2", "RELEASED", "ST-B", 0, -2)]
    await assert_consistent(pool)


async def test_expiry_frees_every_component(
    server: RunningServer, kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    hold = (await reserve(kit, quantity=2, location="WH-A"))["reservation"]
    async with Feed(server.ws_url, """subscription { stockEvents(sku: "SKU-2") {
            kind reservedDelta } }""", {}, PROTOCOLS[0]) as feed:
        assert (await feed.next())["stockEvents"]["kind"] == "SNAPSHOT"
        await pool.execute("UPDATE reservations SET expires_at = now() WHERE id = $1::uuid",
                           hold["id"])
        assert (await feed.next())["stockEvents"] == {"kind": "EXPIRED", "reservedDelta": -4}
    assert (await kit.data(READ, {"id": hold["id"]}))["reservation"]["status"] == "EXPIRED"
    assert await entries_of(kit, hold["id"]) == [
        ("SKU-1", "RESERVED", "WH-A", 0, 2), ("SKU-1", "EXPIRED", "WH-A", 0, -2),
        ("SKU-2", "RESERVED", "WH-A", 0, 4), ("SKU-2", "EXPIRED", "WH-A", 0, -4)]
    assert all(reserved == 0 for _, reserved in (await levels(kit)).values())
    await assert_consistent(pool)


async def test_changing_the_bundle_leaves_its_holds_as_they_were(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    hold = (await reserve(kit, quantity=2, location="ST-B"))["reservation"]
    p = await call(kit, UPSERT, "upsertBundle", {**KIT, "components": [
        {"sku": "SKU-1", "quantity": 3}]})
    assert p["userErrors"] == []
    assert (await kit.data(READ, {"id": hold["id"]}))["reservation"]["components"] == parts(2)
    assert (await levels(kit))[("SKU-2", "ST-B")] == (8, 4)
    p = await call(kit, COMMIT, "commitReservation", {"reservationId": hold["id"]})
    assert p["reservation"]["components"] == parts(2)  # what was held, not the new make-up
    assert await levels(kit) == {("SKU-1", "WH-A"): (10, 0), ("SKU-1", "ST-B"): (2, 0),
                                 ("SKU-2", "WH-A"): (6, 0), ("SKU-2", "ST-B"): (4, 0)}
    # its level now: the new make-up (3 x SKU-1) over what is left at ST-B
    assert (p["level"]["onHand"], p["level"]["available"]) == (0, 0)
    p = await reserve(kit, quantity=3)  # new holds take the new make-up: WH-A has 10 SKU-1
    assert (p["reservation"]["location"], p["reservation"]["components"]) == (
        {"code": "WH-A"}, [{"sku": "SKU-1", "quantity": 9}])
    await assert_consistent(pool)


async def test_a_cart_sums_bundle_and_plain_demand_per_component_and_location(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    # each line alone fits (4 and 5 of SKU-2's 8 at ST-B); together they do not
    before = await levels(kit)
    p = await call(kit, LINES, "reserveLines", {"lines": [
        {"sku": "KIT", "quantity": 2, "location": "ST-B"},
        {"sku": "SKU-2", "quantity": 5, "location": "ST-B"},
        {"sku": "SKU-1", "quantity": 1}]})
    assert p["reservations"] == []
    assert codes(p) == [("INSUFFICIENT_STOCK", ["input", "lines", "0", "quantity"]),
                        ("INSUFFICIENT_STOCK", ["input", "lines", "1", "quantity"])]
    assert await levels(kit) == before
    p = await call(kit, LINES, "reserveLines", {"lines": [
        {"sku": "KIT", "quantity": 2, "location": "ST-B"},
        {"sku": "SKU-2", "quantity": 4, "location": "ST-B"},
        {"sku": "SKU-1", "quantity": 1}]})  # ST-B's SKU-1 is down to 2: WH-A has the most
    assert p["userErrors"] == []
    assert [(r["sku"], r["quantity"], r["location"]["code"], r["components"])
            for r in p["reservations"]] == [("KIT", 2, "ST-B", parts(2)),
                                            ("SKU-2", 4, "ST-B", []), ("SKU-1", 1, "WH-A", [])]
    assert await levels(kit) == {("SKU-1", "WH-A"): (10, 1), ("SKU-1", "ST-B"): (4, 2),
                                 ("SKU-2", "WH-A"): (6, 0), ("SKU-2", "ST-B"): (8, 8)}
    assert await entries_of(kit, p["reservations"][0]["id"]) == [
        ("SKU-1", "RESERVED", "ST-B", 0, 2), ("SKU-2", "RESERVED", "ST-B", 0, 4)]
    # a line without a location sees what the lines before it took: no kit left at ST-B
    p = await call(kit, LINES, "reserveLines", {"lines": [{"sku": "KIT", "quantity": 1}]})
    assert p["reservations"][0]["location"] == {"code": "WH-A"}
    await assert_consistent(pool)


async def test_a_cart_line_without_location_picks_after_the_others(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    # alone, a kit goes to ST-B (4 kits against 3); the SKU-2 line leaves it 1
    p = await call(kit, LINES, "reserveLines", {"lines": [
        {"sku": "KIT", "quantity": 2}, {"sku": "SKU-2", "quantity": 6, "location": "ST-B"}]})
    assert [r["location"]["code"] for r in p["reservations"]] == ["WH-A", "ST-B"]
    await assert_consistent(pool)


async def test_bundles_hold_no_stock_of_their_own(kit: GraphQLClient, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        ledger = await conn.fetchval("SELECT count(*) FROM stock_events")
    p = await reserve(kit, quantity=1, allowSplit=True)
    assert (p["reservations"], codes(p)) == ([], [("INVALID_INPUT", ["input", "allowSplit"])])
    cases = [
        ("""mutation($i: AdjustStockInput!) { adjustStock(input: $i) {
           level { onHand } userErrors { code field message } } }""", "adjustStock",
         {"sku": "KIT", "location": "WH-A", "delta": 5, "reason": "RESTOCK"}),
        ("""mutation($i: SetStockInput!) { setStock(input: $i) {
           level { onHand } userErrors { code field message } } }""", "setStock",
         {"sku": "KIT", "location": "WH-A", "onHand": 5}),
        ("""mutation($i: ExpectIncomingInput!) { expectIncoming(input: $i) {
           incoming { id } userErrors { code field message } } }""", "expectIncoming",
         {"sku": "KIT", "location": "WH-A", "quantity": 5, "expectedAt": "2030-01-01T00:00:00Z"}),
    ]
    for query, field, i in cases:
        p = await call(kit, query, field, i)
        assert codes(p) == [("INVALID_INPUT", ["input", "sku"])], field
        message = p["userErrors"][0]["message"]
        assert "bundle" in message and "SKU-1" in message and "SKU-2" in message, message
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events") == ledger
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 0
        assert await conn.fetchval("SELECT count(*) FROM incoming") == 0
    await assert_consistent(pool)


async def test_another_keys_bundle_hold_is_forbidden(
    kit: GraphQLClient, pool: asyncpg.Pool, as_key: Any
) -> None:
    async with pool.acquire() as conn:
        mine, _ = await keys.create(conn, "shop", [Scope.READ, Scope.RESERVE])
        theirs, _ = await keys.create(conn, "other", [Scope.READ, Scope.RESERVE])
    hold = (await reserve(as_key(mine), quantity=1))["reservation"]
    for query, i in ((COMMIT, {"reservationId": hold["id"]}),
                     (RELEASE, {"reservationId": hold["id"]}),
                     (EXTEND, {"reservationId": hold["id"], "ttlSeconds": 60})):
        body = await as_key(theirs).post(query, {"i": i})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    assert (await levels(kit))[("SKU-2", "ST-B")] == (8, 2)
    p = await call(as_key(mine), COMMIT, "commitReservation", {"reservationId": hold["id"]})
    assert p["userErrors"] == [] and p["reservation"]["components"] == parts(1)
    await assert_consistent(pool)


async def test_an_idempotent_retry_returns_the_same_bundle_hold(
    kit: GraphQLClient, pool: asyncpg.Pool
) -> None:
    first = await reserve(kit, quantity=2, idempotencyKey="order-9")
    again = await reserve(kit, quantity=2, idempotencyKey="order-9")
    assert first == again and first["reservation"]["components"] == parts(2)
    assert first["level"]["sku"] == "KIT"
    reused = await reserve(kit, quantity=1, idempotencyKey="order-9")
    assert codes(reused) == [("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])]
    i = {"reservationId": first["reservation"]["id"], "idempotencyKey": "c-9"}
    committed = await call(kit, COMMIT, "commitReservation", i)
    assert await call(kit, COMMIT, "commitReservation", i) == committed
    assert committed["reservation"]["components"] == parts(2)
    assert (await levels(kit))[("SKU-2", "ST-B")] == (4, 0)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reservations") == 1
    await assert_consistent(pool)


async def test_the_drift_check_counts_bundle_holds_at_their_components(
    kit: GraphQLClient, pool: asyncpg.Pool, database_url: str
) -> None:
    await reserve(kit, quantity=2, location="ST-B")
    await reserve(kit, quantity=1, location="WH-A")
    await call(kit, RESERVE, "reserve", {"sku": "SKU-2", "quantity": 1, "location": "ST-B"})
    # the CLI in a thread: the server shares this event loop and must keep answering
    checked = await asyncio.to_thread(run_cli, database_url, "check")
    assert checked.returncode == 0, checked.stdout  # 4 + 1 of SKU-2 held at ST-B, 2 at WH-A
    async with pool.acquire() as conn:
        await conn.execute("""UPDATE stock_levels SET reserved = 0 WHERE location_id =
                              (SELECT id FROM locations WHERE code = 'ST-B')""")
    found = await asyncio.to_thread(run_cli, database_url, "check")
    assert found.returncode == 1
    assert "SKU-2@ST-B: onHand 8 (ledger 8), reserved 0 (ACTIVE reservations 5" in found.stdout
    assert "SKU-1@ST-B: onHand 4 (ledger 4), reserved 0 (ACTIVE reservations 2" in found.stdout
    repaired = await asyncio.to_thread(run_cli, database_url, "check", "--repair")
    assert repaired.returncode == 0, repaired.stdout
    assert await levels(kit) == {("SKU-1", "WH-A"): (10, 1), ("SKU-1", "ST-B"): (4, 2),
                                 ("SKU-2", "WH-A"): (6, 2), ("SKU-2", "ST-B"): (8, 5)}
    await assert_consistent(pool)
