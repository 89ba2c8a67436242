"""Holds belong to their key (issue 11, item 5): another key's extend/commit/release is
FORBIDDEN and changes nothing; anonymous holds stay open; reservation ids and references are
shown only to the key that made the change and to admins, on queries, feeds and SSE."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from domain.access import Scope
from settings import Settings
from store import keys
from tests.api.test_mutations import COMMIT, EXTEND, RELEASE, RESERVE_LINES
from tests.api.test_subscriptions import sse_events
from tests.client import GraphQLClient
from tests.conftest import ADMIN_KEY, RunningServer
from tests.ledger_checks import assert_consistent

Maker = Callable[[str | None], GraphQLClient]
RESERVATION = """query($id: ID!) { reservation(id: $id) { id reference status } }"""
EVENTS = """query($sku: String!) { stockEvents(sku: $sku) { sequence kind reservationId reference } }"""
LIVE = """subscription { stockEvents(sku: "SKU-1", afterSequence: 2) {
  sequence kind reservationId reference location { code } } }"""


@pytest.fixture
async def tokens(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        made = {
            "a": await keys.create(conn, "partner-a", [Scope.READ, Scope.RESERVE]),
            "b": await keys.create(conn, "partner-b", [Scope.READ, Scope.RESERVE]),
            "admin": await keys.create(conn, "ops", [Scope.ADMIN]),
        }
    return {name: token for name, (token, _) in made.items()} | {"root": ADMIN_KEY}


@pytest.fixture
async def as_key(server: RunningServer) -> AsyncIterator[Maker]:
    async with aiohttp.ClientSession() as session:
        def make(token: str | None) -> GraphQLClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return GraphQLClient(server.graphql_url, session, headers)
        yield make


QUIET_RESERVE = """mutation($i: ReserveInput!) { reserve(input: $i) {
  reservation { id } userErrors { code } } }"""  # resolves no location: counts stay the feed's


async def reserve(client: GraphQLClient, reference: str | None = None, key: str | None = None,
                  quantity: int = 1) -> str:
    i: dict[str, Any] = {"sku": "SKU-1", "quantity": quantity, "location": "WH-A"}
    if reference is not None:
        i["reference"] = reference
    if key is not None:
        i["idempotencyKey"] = key  # the single-transaction path; without: group commit
    payload = (await client.post(QUIET_RESERVE, {"i": i}))["data"]["reserve"]
    assert payload["userErrors"] == [], payload
    rid: str = payload["reservation"]["id"]
    return rid


async def snapshot(pool: asyncpg.Pool) -> tuple[Any, ...]:
    async with pool.acquire() as conn:
        return (
            [tuple(r) for r in await conn.fetch(
                "SELECT id, status, expires_at FROM reservations ORDER BY id")],
            [tuple(r) for r in await conn.fetch(
                "SELECT sku_id, location_id, on_hand, reserved, version FROM stock_levels ORDER BY 1, 2")],
            await conn.fetchval("SELECT count(*) FROM stock_events"),
        )


CHANGES = [
    (EXTEND, "extendReservation", lambda rid: {"reservationId": rid, "ttlSeconds": 60}),
    (COMMIT, "commitReservation", lambda rid: {"reservationId": rid, "reference": "stolen"}),
    (RELEASE, "releaseReservation", lambda rid: {"reservationId": rid}),
]


async def test_another_keys_hold_is_forbidden_and_nothing_changes(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker, pool: asyncpg.Pool
) -> None:
    a, b = as_key(tokens["a"]), as_key(tokens["b"])
    batched, single = await reserve(a), await reserve(a, key="k-1")
    async with pool.acquire() as conn:
        owners = {r["id"]: r["owner"] for r in await conn.fetch(
            "SELECT id::text AS id, owner FROM reservations")}
        actors = {r["actor"] for r in await conn.fetch(
            "SELECT actor FROM stock_events WHERE kind = 'RESERVED'")}
        a_id = await conn.fetchval("SELECT id FROM api_keys WHERE name = 'partner-a'")
    assert owners[batched] == owners[single] == a_id  # group commit and the single path
    assert actors == {a_id}
    before = await snapshot(pool)
    for rid in (batched, single):
        for query, field, i in CHANGES:
            body = await b.post(query, {"i": i(rid)})
            assert body["data"] is None, (field, body)
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], (field, body)
    assert await snapshot(pool) == before
    # the owner may; an admin key and ADMIN_API_KEY may too
    p = (await a.post(EXTEND, {"i": {"reservationId": batched, "ttlSeconds": 60}}))["data"]
    assert p["extendReservation"]["userErrors"] == []
    p = (await as_key(tokens["admin"]).post(COMMIT, {"i": {"reservationId": batched}}))["data"]
    assert p["commitReservation"]["reservation"]["status"] == "COMMITTED"
    p = (await as_key(tokens["root"]).post(RELEASE, {"i": {"reservationId": single}}))["data"]
    assert p["releaseReservation"]["reservation"]["status"] == "RELEASED"
    third = await reserve(a)
    p = (await a.post(COMMIT, {"i": {"reservationId": third}}))["data"]
    assert p["commitReservation"]["reservation"]["status"] == "COMMITTED"
    # a closed hold of A is still not B's to ask about
    body = await b.post(RELEASE, {"i": {"reservationId": third}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    await assert_consistent(pool)


async def test_cart_holds_belong_to_their_key(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker, pool: asyncpg.Pool
) -> None:
    a, b = as_key(tokens["a"]), as_key(tokens["b"])
    p = (await a.post(RESERVE_LINES, {"i": {"lines": [
        {"sku": "SKU-1", "quantity": 1, "location": "WH-A"},
        {"sku": "SKU-1", "quantity": 1, "location": "ST-B"}]}}))["data"]["reserveLines"]
    assert p["userErrors"] == []
    before = await snapshot(pool)
    for r in p["reservations"]:
        body = await b.post(COMMIT, {"i": {"reservationId": r["id"]}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(pool) == before


@pytest.fixture
def open_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, anonymous_scopes=frozenset({Scope.READ, Scope.RESERVE}))


async def test_anonymous_holds_stay_open_to_anyone_who_may_reserve(
    open_settings: Settings, pool: asyncpg.Pool, tokens: dict[str, str]
) -> None:
    async with RunningServer(open_settings) as server, aiohttp.ClientSession() as session:
        def client(token: str | None) -> GraphQLClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return GraphQLClient(server.graphql_url, session, headers)
        root = client(ADMIN_KEY)
        await root.data("""mutation {
          upsertLocation(input: {code: "WH-A", name: "A", kind: WAREHOUSE}) { userErrors { code } }
          upsertSku(input: {code: "SKU-1", name: "W"}) { userErrors { code } } }""")
        await root.data("""mutation { setStock(input: {sku: "SKU-1", location: "WH-A", onHand: 9}) {
          userErrors { code } } }""")
        anonymous, b = client(None), client(tokens["b"])
        made_anonymously, made_by_root = await reserve(anonymous, "cart-1"), await reserve(root)
        p = (await b.post(COMMIT, {"i": {"reservationId": made_anonymously}}))["data"]
        assert p["commitReservation"]["reservation"]["status"] == "COMMITTED"
        p = (await anonymous.post(RELEASE, {"i": {"reservationId": made_by_root}}))["data"]
        assert p["releaseReservation"]["reservation"]["status"] == "RELEASED"
        # an anonymous caller cannot touch a key's hold either
        keyed = await reserve(b)
        body = await anonymous.post(EXTEND, {"i": {"reservationId": keyed, "ttlSeconds": 60}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # the id of an anonymous hold is its capability: whoever holds it reads it
        found = (await b.data(RESERVATION, {"id": made_anonymously}))["reservation"]
        assert found["reference"] == "cart-1"
    await assert_consistent(pool)


async def test_ids_and_references_shown_only_to_their_key_and_admins(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker
) -> None:
    rid = await reserve(as_key(tokens["a"]), "alice@example.com")
    await reserve(as_key(tokens["root"]), "root-ref")  # made with ADMIN_API_KEY: no owner
    for who, sees_a, sees_root in [
        (None, False, False), ("b", False, False), ("a", True, False),
        ("admin", True, True), ("root", True, True),
    ]:
        client = as_key(tokens[who] if who else None)
        events = (await client.data(EVENTS, {"sku": "SKU-1"}))["stockEvents"]
        held = [e for e in events if e["kind"] == "RESERVED"]
        assert [(e["reservationId"], e["reference"]) for e in held] == [
            (rid, "alice@example.com") if sees_a else (None, None),
            (held[1]["reservationId"], "root-ref") if sees_root else (None, None),
        ], who
        assert sees_root == (held[1]["reservationId"] is not None), who
        found = (await client.data(RESERVATION, {"id": rid}))["reservation"]
        assert found == ({"id": rid, "reference": "alice@example.com", "status": "ACTIVE"}
                         if sees_a else None), who


def _feed(url: str, token: str | None, protocol: str, query: str = LIVE) -> WebsocketsTransport:
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return WebsocketsTransport(url=url, subprotocols=[protocol], init_payload=payload)


async def _first(transport: WebsocketsTransport, query: str, out: asyncio.Queue[Any]) -> None:
    async with Client(transport=transport) as session:
        async for item in session.subscribe(GraphQLRequest(query)):
            await out.put(item["stockEvents"])


@pytest.mark.parametrize("protocol", [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL,
                                      WebsocketsTransport.APOLLO_SUBPROTOCOL])
async def test_live_events_and_sse_hide_other_keys_references(
    server: RunningServer, catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker,
    protocol: str, location_resolutions: list[int],
) -> None:
    viewers = [None, None, "b", "a", "admin"]
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in viewers]
    tasks = [asyncio.create_task(_first(_feed(server.ws_url, tokens[v] if v else None, protocol),
                                        LIVE, q)) for v, q in zip(viewers, queues, strict=True)]
    sse = {v: sse_events(f"{server.url}/skus/SKU-1/events?after=2",
                         {"Authorization": f"Bearer {tokens[v]}"} if v else None)
           for v in (None, "b", "a")}
    try:
        async with asyncio.timeout(20):
            # every subscriber is live once it has the first event (a restock, nothing hidden)
            await catalogue.data("""mutation { adjustStock(input: {sku: "SKU-1", location: "WH-A",
              delta: 1, reason: RESTOCK}) { userErrors { code } } }""")
            firsts = await asyncio.gather(*(q.get() for q in queues))
            assert {e["sequence"] for e in firsts} == {3}
            pending = {v: asyncio.ensure_future(anext(s)) for v, s in sse.items()}
            assert {(await f)["id"] for f in pending.values()} == {"3"}
            resolved = len(location_resolutions)
            rid = await reserve(as_key(tokens["a"]), "order-77")
            seconds = await asyncio.gather(*(q.get() for q in queues))
            sse_data = {v: await anext(s) for v, s in sse.items()}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in sse.values():
            await s.aclose()
    shown = [(e["reservationId"], e["reference"]) for e in seconds]
    assert shown == [(None, None), (None, None), (None, None), (rid, "order-77"), (rid, "order-77")]
    assert all(e["kind"] == "RESERVED" and e["location"] == {"code": "WH-A"} for e in seconds)
    # one execution per visibility: the two anonymous subscribers and b share the redacted one,
    # a and admin the full one (the restock before it: one execution for all five)
    assert resolved == 1
    assert len(location_resolutions) - resolved == 2
    for v, event in sse_data.items():
        assert ('"reference":"order-77"' in event["data"]) == (v == "a"), (v, event)
        assert (rid in event["data"]) == (v == "a"), v


async def test_owners_racing_over_each_others_holds(
    catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker, pool: asyncpg.Pool
) -> None:
    a, b = as_key(tokens["a"]), as_key(tokens["b"])
    holds = {"a": [await reserve(a) for _ in range(5)], "b": [await reserve(b) for _ in range(5)]}
    rng = random.Random(11)
    attempts = [(who, rid, rng.choice([COMMIT, RELEASE]))
                for who in ("a", "b") for rid in holds["a"] + holds["b"]]
    rng.shuffle(attempts)
    clients = {"a": a, "b": b}
    results = await asyncio.gather(*(clients[who].post(q, {"i": {"reservationId": rid}})
                                     for who, rid, q in attempts))
    done: dict[str, int] = {}
    for (who, rid, _), body in zip(attempts, results, strict=True):
        mine = rid in holds[who]
        if not mine:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
            continue
        payload = next(iter(body["data"].values()))
        if payload["userErrors"] == []:
            done[rid] = done.get(rid, 0) + 1
        else:
            assert payload["userErrors"][0]["code"] == "RESERVATION_NOT_ACTIVE"
    assert done == {rid: 1 for rid in holds["a"] + holds["b"]}  # each closed once, by its owner
    await assert_consistent(pool)


@pytest.mark.parametrize("accept", ["text/event-stream",
                                    'multipart/mixed;subscriptionSpec="1.0",application/json'])
async def test_http_subscriptions_hide_other_keys_references(
    server: RunningServer, catalogue: GraphQLClient, tokens: dict[str, str], as_key: Maker,
    accept: str,
) -> None:
    body = {"query": 'subscription { stockEvents(sku: "SKU-1") { kind reservationId reference } }'}
    seen: dict[str, bytes] = {}
    async with aiohttp.ClientSession() as session:
        responses = {who: await session.post(server.graphql_url, json=body, headers={
            "Accept": accept, "Authorization": f"Bearer {tokens[who]}"}) for who in ("a", "b")}
        try:
            async with asyncio.timeout(10):
                for who, response in responses.items():
                    assert response.status == 200
                    seen[who] = b""
                    while b'"SNAPSHOT"' not in seen[who]:
                        seen[who] += await response.content.readany()
                rid = await reserve(as_key(tokens["a"]), "order-9")
                for who, response in responses.items():
                    while b'"RESERVED"' not in seen[who]:
                        seen[who] += await response.content.readany()
        finally:
            for response in responses.values():
                response.close()
    assert b'"reservationId":"%s","reference":"order-9"' % rid.encode() in seen["a"]
    assert b'"kind":"RESERVED","reservationId":null,"reference":null' in seen["b"]
    assert rid.encode() not in seen["b"] and b"order-9" not in seen["b"]
