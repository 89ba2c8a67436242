"""API keys and scopes: every mutation needs its scope; revoked keys lose their sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest
import websockets

from domain.access import Scope
from store import keys
from tests.api.test_mutations import ADJUST, COMMIT, EXTEND, RELEASE, RESERVE, RESERVE_LINES, SET
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent

UPSERT_SKU = """mutation($i: UpsertSkuInput!) { upsertSku(input: $i) { userErrors { code } } }"""
UPSERT_LOCATION = """mutation($i: UpsertLocationInput!) { upsertLocation(input: $i) { userErrors { code } } }"""
UPSERT_BUNDLE = """mutation($i: UpsertBundleInput!) { upsertBundle(input: $i) { userErrors { code } } }"""
RID = "00000000-0000-0000-0000-000000000000"
MUTATIONS = [  # (query, field, input, scope it needs)
    (RESERVE, "reserve", {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}, Scope.RESERVE),
    (RESERVE_LINES, "reserveLines", {"lines": [{"sku": "SKU-1", "quantity": 1, "location": "WH-A"}]}, Scope.RESERVE),
    (EXTEND, "extendReservation", {"reservationId": RID, "ttlSeconds": 60}, Scope.RESERVE),
    (COMMIT, "commitReservation", {"reservationId": RID}, Scope.RESERVE),
    (RELEASE, "releaseReservation", {"reservationId": RID}, Scope.RESERVE),
    (ADJUST, "adjustStock", {"sku": "SKU-1", "location": "WH-A", "delta": 1, "reason": "RESTOCK"}, Scope.WRITE),
    (SET, "setStock", {"sku": "SKU-1", "location": "WH-A", "onHand": 99}, Scope.WRITE),
    (UPSERT_SKU, "upsertSku", {"code": "NEW-1", "name": "n"}, Scope.ADMIN),
    (UPSERT_LOCATION, "upsertLocation", {"code": "NEW-L", "name": "n", "kind": "STORE"}, Scope.ADMIN),
    (UPSERT_BUNDLE, "upsertBundle", {"code": "NEW-B", "name": "n", "components": [{"sku": "SKU-1", "quantity": 2}]}, Scope.ADMIN),
]


@pytest.fixture
async def tokens(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        made = {
            "read": await keys.create(conn, "reader", [Scope.READ]),
            "reserve": await keys.create(conn, "checkout", [Scope.READ, Scope.RESERVE]),
            "write": await keys.create(conn, "erp", [Scope.READ, Scope.WRITE]),
            "store-b": await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE, Scope.WRITE], ["ST-B"]),
            "revoked": await keys.create(conn, "old", [Scope.READ, Scope.RESERVE, Scope.WRITE, Scope.ADMIN]),
        }
        await keys.revoke(conn, str(made["revoked"][1].key_id))
    return {name: token for name, (token, _) in made.items()}


@pytest.fixture
async def as_key(server: RunningServer) -> AsyncIterator[object]:
    async with aiohttp.ClientSession() as session:
        def make(token: str | None) -> GraphQLClient:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return GraphQLClient(server.graphql_url, session, headers)
        yield make


async def ledger(pool: asyncpg.Pool) -> list[tuple[int, int]]:
    async with pool.acquire() as conn:
        return [tuple(r) for r in await conn.fetch("SELECT sku_id, sequence FROM stock_events ORDER BY 1, 2")]


async def test_every_mutation_needs_its_scope(catalogue: GraphQLClient, tokens: dict[str, str], as_key, pool: asyncpg.Pool) -> None:  # type: ignore[no-untyped-def]
    before = await ledger(pool)
    for query, field, i, scope in MUTATIONS:
        for token, code in [(None, "UNAUTHENTICATED"), ("inv_nope_nope", "UNAUTHENTICATED"),
                            ("garbage with spaces", "UNAUTHENTICATED"), (tokens["revoked"], "UNAUTHENTICATED"),
                            (tokens["read"], "FORBIDDEN")]:
            body = await as_key(token).post(query, {"i": i})
            assert body["data"] is None, (field, token)
            assert [e["extensions"]["code"] for e in body["errors"]] == [code], (field, token, body)
        allowed = {Scope.RESERVE: "reserve", Scope.WRITE: "write"}.get(scope)
        wrong = "write" if scope is Scope.RESERVE else "reserve"
        body = await as_key(tokens[wrong]).post(query, {"i": i})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (field, body)
        if allowed:
            body = await as_key(tokens[allowed]).post(query, {"i": i})
            assert "errors" not in body, (field, body)
    # nothing but the permitted calls changed stock: one reserve, one cart line, one adjust, one set
    assert len(await ledger(pool)) == len(before) + 4
    await assert_consistent(pool)


async def test_location_bound_key_may_only_touch_its_store(catalogue: GraphQLClient, tokens: dict[str, str], as_key) -> None:  # type: ignore[no-untyped-def]
    pos = as_key(tokens["store-b"])
    body = await pos.post(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await pos.post(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await pos.post(ADJUST, {"i": {"sku": "SKU-1", "location": "WH-A", "delta": -1, "reason": "SALE"}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    held = await catalogue.data(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}})
    body = await pos.post(RELEASE, {"i": {"reservationId": held["reserve"]["reservation"]["id"]}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = await pos.data(RESERVE, {"i": {"sku": "SKU-1", "quantity": 1, "location": "ST-B"}})
    assert ok["reserve"]["userErrors"] == []


async def test_reads_are_anonymous_and_bad_keys_are_refused(catalogue: GraphQLClient, tokens: dict[str, str], as_key) -> None:  # type: ignore[no-untyped-def]
    assert (await as_key(None).data('{ sku(code: "SKU-1") { available } }'))["sku"]["available"] == 14
    body = await as_key(tokens["revoked"]).post('{ sku(code: "SKU-1") { available } }')
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def ws_open(server: RunningServer, token: str) -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}).decode())
    return ws


async def test_revoked_key_loses_its_open_socket_and_sse_feed(
    server: RunningServer, catalogue: GraphQLClient, tokens: dict[str, str], pool: asyncpg.Pool
) -> None:
    refused = await ws_open(server, tokens["revoked"])
    async with asyncio.timeout(5):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await refused.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

    ws = await ws_open(server, tokens["reserve"])
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": 'subscription { stockEvents(sku: "SKU-1") { sequence } }'}}).decode())
    assert orjson.loads(await ws.recv())["type"] == "next"
    async with aiohttp.ClientSession() as session:
        sse = await session.get(f"{server.url}/skus/SKU-1/events",
                                headers={"Authorization": f"Bearer {tokens['reserve']}"})
        assert sse.status == 200
        async with pool.acquire() as conn:
            assert await keys.set_scopes(conn, tokens["reserve"].split("_")[1], [Scope.RESERVE])
        async with asyncio.timeout(5):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            body = await sse.content.read()  # the stream ends
        sse.release()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert b"FORBIDDEN" in body
    # the server keeps serving
    assert (await catalogue.data('{ sku(code: "SKU-1") { available } }'))["sku"]["available"] == 14


async def test_flood_past_the_rate_limit_gets_429_and_a_retry_hint(database_url: str, settings) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    limited = RunningServer(dataclasses.replace(settings, rate_limit_anonymous=20, rate_limit_per_key=50))
    await limited.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def one() -> tuple[int, dict[str, str], bytes]:
                async with session.post(limited.graphql_url, json={"query": "{ locations { code } }"}) as r:
                    return r.status, dict(r.headers), await r.read()
            results = await asyncio.gather(*(one() for _ in range(60)))
            statuses = [s for s, _, _ in results]
            assert statuses.count(200) <= 40 and statuses.count(429) >= 20, statuses
            status, headers, body = next(r for r in results if r[0] == 429)
            assert headers["Retry-After"] == "1"
            assert orjson.loads(body)["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
            # a keyed client has its own budget, and the server keeps serving
            async with session.post(limited.graphql_url, json={"query": "{ locations { code } }"},
                                    headers={"Authorization": "Bearer test-admin-key"}) as r:
                assert r.status == 200
    finally:
        await limited.stop()


async def test_reads_can_be_closed_to_anonymous_callers(settings) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    closed = RunningServer(dataclasses.replace(settings, anonymous_scopes=frozenset()))
    await closed.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(closed.graphql_url, json={"query": "{ locations { code } }"}) as r:
                assert (await r.json())["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            async with session.get(f"{closed.url}/skus/X/events") as r:
                assert r.status == 401
            async with session.post(closed.graphql_url, json={"query": "{ locations { code } }"},
                                    headers={"Authorization": "Bearer test-admin-key"}) as r:
                assert (await r.json())["data"] == {"locations": []}
        ws = await websockets.connect(closed.ws_url, subprotocols=["graphql-transport-ws"])
        await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        async with asyncio.timeout(5):
            with pytest.raises(websockets.ConnectionClosed) as refused:
                await ws.recv()
        assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403
    finally:
        await closed.stop()
