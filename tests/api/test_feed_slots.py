"""Feed slots are given back on every exit path and every feed counts (issue 11, item 3): tab
churn cannot lock a key out, legacy double init is refused, HTTP subscriptions are capped and
cut on revocation, anonymous feeds are capped per address. Real uvicorn, real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import asyncpg
import orjson
import pytest
import websockets

from domain.access import Scope
from settings import Settings
from store import keys
from tests.client import GraphQLClient
from tests.conftest import RunningServer

CAP = 3
FOLLOW = 'subscription { stockEvents(sku: "SKU-1") { sequence } }'
STREAMING = ["text/event-stream", 'multipart/mixed;subscriptionSpec="1.0",application/json']


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_connections_per_key=CAP, rate_limit_per_key=0,
                               rate_limit_anonymous=0, max_anonymous_feeds_per_address=CAP,
                               request_timeout_seconds=1.0)


@pytest.fixture
async def sku(client: GraphQLClient) -> None:
    await client.data('mutation { upsertSku(input: {code: "SKU-1", name: "W"}) { userErrors { code } } }')


@pytest.fixture
async def made(pool: asyncpg.Pool) -> tuple[str, int]:
    async with pool.acquire() as conn:
        token, key = await keys.create(conn, "storefront", [Scope.READ])
    assert key.key_id is not None
    return token, key.key_id


def open_feeds(server: RunningServer, owner: str) -> int:
    found: int = server.server.lifespan.state["services"].gatekeeper.open_feeds(owner)
    return found


async def ws_init(server: RunningServer, token: str, protocol: str = "graphql-transport-ws"
                  ) -> websockets.ClientConnection:
    ws = await websockets.connect(server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}).decode())
    return ws


async def until_no_feeds(server: RunningServer, owner: str) -> None:
    async with asyncio.timeout(10):
        while open_feeds(server, owner):
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_thousand_closed_sockets_leave_the_key_its_slots(
    server: RunningServer, made: tuple[str, int], protocol: str
) -> None:
    token, key_id = made
    started = time.monotonic()

    async def churn(count: int) -> None:
        for _ in range(count):
            ws = await ws_init(server, token, protocol)
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            await ws.close()

    async with asyncio.timeout(240):
        await asyncio.gather(*(churn(250) for _ in range(CAP - 1)), churn(1000 - 250 * (CAP - 1)))
    await until_no_feeds(server, f"key:{key_id}")
    ws = await ws_init(server, token, protocol)
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    await ws.close()
    print(f"1,000 sockets opened and closed in {time.monotonic() - started:.1f} s")


async def test_sse_requests_that_fail_before_streaming_give_their_slot_back(
    server: RunningServer, made: tuple[str, int], sku: None
) -> None:
    token, key_id = made
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        async def fail(count: int) -> None:
            for i in range(count):
                # unknown; or one the database refuses (and the feed retries until the deadline)
                code = "NUL%00CODE" if i < 2 else "NOPE"
                async with session.get(f"{server.url}/skus/{code}/events", headers=headers) as r:
                    assert r.status == 404 if i >= 2 else r.status in (400, 500, 504), r.status

        async with asyncio.timeout(120):
            await asyncio.gather(*(fail(500) for _ in range(CAP - 1)))
        # and streams the client walks away from
        for _ in range(CAP * 3):
            r = await session.get(f"{server.url}/skus/SKU-1/events", headers=headers)
            assert r.status == 200
            r.close()
        await until_no_feeds(server, f"key:{key_id}")
        async with session.get(f"{server.url}/skus/SKU-1/events", headers=headers) as r:
            assert r.status == 200


async def test_legacy_connection_init_twice_closes_with_4429(server: RunningServer, made: tuple[str, int]) -> None:
    token, key_id = made
    ws = await ws_init(server, token, "graphql-ws")
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}).decode())
    async with asyncio.timeout(5):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    await until_no_feeds(server, f"key:{key_id}")


@pytest.mark.parametrize("accept", STREAMING)
async def test_an_http_subscription_counts_and_ends_when_its_key_is_revoked(
    server: RunningServer, made: tuple[str, int], sku: None, pool: asyncpg.Pool, accept: str
) -> None:
    token, key_id = made
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    async with aiohttp.ClientSession() as session:
        streams = [await session.post(server.graphql_url, json={"query": FOLLOW}, headers=headers)
                   for _ in range(CAP)]
        assert [r.status for r in streams] == [200] * CAP
        assert open_feeds(server, f"key:{key_id}") == CAP
        async with session.post(server.graphql_url, json={"query": FOLLOW}, headers=headers) as r:
            body = orjson.loads(await r.read())
        assert r.status == 429 and body["errors"][0]["extensions"]["code"] == "TOO_MANY_CONNECTIONS"
        ws = await ws_init(server, token)  # the same cap holds sockets
        async with asyncio.timeout(5):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with pool.acquire() as conn:
            assert await keys.revoke(conn, str(key_id))
        started = time.monotonic()
        async with asyncio.timeout(5):
            for r in streams:
                await r.read()  # each stream ends
                r.release()
        assert time.monotonic() - started < 2  # KEY_RECHECK_INTERVAL_MS is 200 here
    await until_no_feeds(server, f"key:{key_id}")


async def test_anonymous_feeds_are_capped_per_address(server: RunningServer, sku: None) -> None:
    async with aiohttp.ClientSession() as session:
        held = []
        for _ in range(CAP):
            r = await session.get(f"{server.url}/skus/SKU-1/events")
            assert r.status == 200
            held.append(r)
        assert open_feeds(server, "ip:127.0.0.1") == CAP
        async with session.get(f"{server.url}/skus/SKU-1/events") as r:
            assert r.status == 429
            assert orjson.loads(await r.read())["error"]["code"] == "TOO_MANY_CONNECTIONS"
        async with session.post(server.graphql_url, json={"query": FOLLOW},
                                headers={"Accept": STREAMING[0]}) as r:
            assert r.status == 429
        other = await session.get(f"{server.url}/skus/SKU-1/events",
                                  headers={"X-Forwarded-For": "203.0.113.9"})
        assert other.status == 200  # another address behind the proxy
        other.close()
        for r in held:
            r.close()
    await until_no_feeds(server, "ip:127.0.0.1")
