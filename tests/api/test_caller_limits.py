"""One identity, one budget, every transport (issue 11, items 1 and 2): rotating, duplicated and
malformed credentials over HTTP, WebSocket and SSE are limited at the documented rate; a key
may have a rate of its own. Real uvicorn, real PostgreSQL; the counter is in-process (exact)."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import orjson
import pytest
import websockets
from multidict import CIMultiDict

from domain.access import Scope
from service.access import AccessError, Gatekeeper
from settings import Settings
from store import keys
from tests.client import GraphQLClient
from tests.conftest import RunningServer

LIMIT = 5
QUERY = {"query": "{ __typename }"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, rate_limit_anonymous=LIMIT, rate_limit_per_key=LIMIT)


def gatekeeper(server: RunningServer) -> Gatekeeper:
    found: Gatekeeper = server.server.lifespan.state["services"].gatekeeper
    return found


async def burst(count: int, one: Callable[[int], Awaitable[int]]) -> list[int]:
    """`count` calls of `one` at once, all inside one one-second window (retried if not)."""
    for _ in range(5):
        await asyncio.sleep(1 - time.time() % 1 + 0.02)
        window = int(time.time())
        statuses = list(await asyncio.gather(*(one(i) for i in range(count))))
        if int(time.time()) == window:
            return statuses
    pytest.fail("could not fit the burst in one second")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as made:
        yield made


@pytest.fixture
async def token(pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        made, _ = await keys.create(conn, "pos", [Scope.READ])
    return made


def post(session: aiohttp.ClientSession, url: str, headers: CIMultiDict[str] | dict[str, str],
         body: dict[str, object] = QUERY) -> Callable[[int], Awaitable[int]]:
    async def one(_: int) -> int:
        async with session.post(url, json=body, headers=headers) as r:
            await r.read()
            return r.status
    return one


async def test_one_key_spelt_many_ways_shares_one_budget(
    server: RunningServer, session: aiohttp.ClientSession, token: str
) -> None:
    spellings = [f"Bearer {token}", f"bearer  {token}", f"  BEARER {token} ", f"Bearer   {token}"]
    await post(session, server.graphql_url, {"Authorization": spellings[0]})(0)  # met once

    async def one(i: int) -> int:
        return await post(session, server.graphql_url, {"Authorization": spellings[i % 4]})(i)

    statuses = await burst(40, one)
    assert statuses.count(200) == LIMIT and statuses.count(429) == 40 - LIMIT, statuses


@pytest.mark.parametrize("values", [
    ["Bearer {token}", "Bearer junk"], ["", "Bearer junk"], ["Bearer {token}", "Bearer {token}"],
])
async def test_a_duplicated_authorization_header_is_refused(
    server: RunningServer, session: aiohttp.ClientSession, token: str, values: list[str]
) -> None:
    headers = CIMultiDict([("Authorization", v.format(token=token)) for v in values])
    for method, url in [("POST", server.graphql_url), ("GET", f"{server.graphql_url}?query=%7B__typename%7D"),
                        ("GET", f"{server.url}/skus/SKU-1/events")]:
        async with session.request(method, url, json=QUERY if method == "POST" else None,
                                   headers=headers) as r:
            body = orjson.loads(await r.read())
        assert r.status == 400, (method, url)
        code = body["errors"][0]["extensions"]["code"] if "errors" in body else body["error"]["code"]
        assert code == "DUPLICATE_AUTHORIZATION"


async def test_rotating_and_malformed_tokens_spend_the_address_budget(
    server: RunningServer, session: aiohttp.ClientSession
) -> None:
    junk = ["Bearer inv_{}_{}", "Bearer {}{}", "Basic {}{}", "Bearer", "{}", "Bearer inv_{}_{} x"]

    async def one(i: int) -> int:
        value = junk[i % len(junk)].format(secrets.token_hex(4), secrets.token_hex(8))
        return await post(session, server.graphql_url, {"Authorization": value})(i)

    statuses = await burst(60, one)
    assert statuses.count(429) == 60 - LIMIT, statuses


async def test_a_flood_of_unknown_tokens_costs_no_lookups_and_keeps_the_known_keys(
    server: RunningServer, session: aiohttp.ClientSession, token: str
) -> None:
    keeper = gatekeeper(server)
    await post(session, server.graphql_url, {"Authorization": f"Bearer {token}"})(0)
    assert keeper.known(f"Bearer {token}") is not None
    before, started = keeper.lookups, time.monotonic()
    queue = iter(range(10_000))

    async def worker() -> list[int]:
        seen = []
        for _ in queue:
            value = f"Bearer inv_{secrets.token_hex(4)}_{secrets.token_hex(16)}"
            seen.append(await post(session, server.graphql_url, {"Authorization": value})(0))
        return seen

    async with asyncio.timeout(120):
        statuses = [s for found in await asyncio.gather(*(worker() for _ in range(32))) for s in found]
    seconds = time.monotonic() - started
    print(f"10,000 unknown tokens in {seconds:.1f} s: {keeper.lookups - before} lookups, "
          f"{statuses.count(429)} refused")
    # only what the address's budget admitted was looked up: LIMIT a second, not 10,000
    assert keeper.lookups - before <= LIMIT * (seconds + 2), (keeper.lookups - before, seconds)
    assert statuses.count(429) >= 10_000 - LIMIT * (seconds + 2)
    assert keeper.known(f"Bearer {token}") is not None  # not pushed out of the cache
    malformed = keeper.lookups
    for value in ("Bearer x_y", "Bearer inv_x", "Bearer inv__y", "Token inv_x_y"):
        with pytest.raises(AccessError):
            await keeper.principal(value)
    assert keeper.lookups == malformed  # never reach the database


async def test_a_client_behind_the_proxy_cannot_pick_its_address(
    server: RunningServer, session: aiohttp.ClientSession
) -> None:
    """The test client is the trusted proxy (127.0.0.1, uvicorn's default); a client that sends
    its own X-Forwarded-For still has the address the proxy appended (the rightmost)."""
    async def one(i: int) -> int:
        spoof = {"X-Forwarded-For": f"10.9.{i // 250}.{i % 250}, 203.0.113.7"}
        return await post(session, server.graphql_url, spoof)(i)

    statuses = await burst(30, one)
    assert statuses.count(200) == LIMIT, statuses
    other = await post(session, server.graphql_url, {"X-Forwarded-For": "203.0.113.8"})(0)
    assert other == 200  # another client behind the proxy has its own budget


FOLLOW = {"query": 'subscription { stockEvents(sku: "SKU-1") { sequence } }'}


async def _ws_answers(server: RunningServer, protocol: str, count: int, token: str | None) -> list[str]:
    """Each operation's answer: "ok" (served), or the code of its error."""
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    body = FOLLOW if start == "start" else QUERY  # graphql-ws runs subscriptions only
    async with websockets.connect(server.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(orjson.dumps({"type": "connection_init", "payload": payload}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        answers: dict[str, str] = {}

        async def run() -> None:
            for i in range(count):
                await ws.send(orjson.dumps({"id": str(i), "type": start, "payload": body}).decode())
            async with asyncio.timeout(10):
                while len(answers) < count:
                    message = orjson.loads(await ws.recv())
                    if message["type"] in ("next", "data"):
                        answers[message["id"]] = "ok"
                    elif message["type"] == "error":
                        error = message["payload"][0] if isinstance(message["payload"], list) else message["payload"]
                        answers[message["id"]] = error["extensions"]["code"]

        for _ in range(5):
            await asyncio.sleep(1 - time.time() % 1 + 0.02)
            window, answers = int(time.time()), {}
            await run()
            if int(time.time()) == window:
                break
        else:
            pytest.fail("could not fit the burst in one second")
        # the socket stays open: next second it is served again
        await asyncio.sleep(1 - time.time() % 1 + 0.02)
        await ws.send(orjson.dumps({"id": "again", "type": start, "payload": body}).decode())
        async with asyncio.timeout(5):
            while (message := orjson.loads(await ws.recv()))["type"] not in ("next", "data"):
                pass
        assert message["id"] == "again"
        return list(answers.values())


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
@pytest.mark.parametrize("keyed", [False, True])
async def test_each_websocket_operation_counts(
    server: RunningServer, client: GraphQLClient, token: str, protocol: str, keyed: bool
) -> None:
    await client.data('mutation { upsertSku(input: {code: "SKU-1", name: "W"}) { userErrors { code } } }')
    answers = await _ws_answers(server, protocol, 20, token if keyed else None)
    assert answers.count("ok") == LIMIT and answers.count("RATE_LIMITED") == 20 - LIMIT, answers


async def test_sse_requests_count(server: RunningServer, session: aiohttp.ClientSession, client: GraphQLClient) -> None:
    await client.data('mutation { upsertSku(input: {code: "SKU-1", name: "W"}) { userErrors { code } } }')

    async def one(i: int) -> int:
        async with session.get(f"{server.url}/skus/SKU-1/events?access_token=inv_{i}_{i}") as r:
            return r.status

    statuses = await burst(20, one)
    assert statuses.count(429) == 20 - LIMIT, statuses


async def test_a_key_has_a_rate_of_its_own(
    server: RunningServer, session: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        small, _ = await keys.create(conn, "small pos", [Scope.READ], rate_limit=2)
        backend, _ = await keys.create(conn, "checkout", [Scope.READ], rate_limit=0)
        default, _ = await keys.create(conn, "partner", [Scope.READ])
    tokens = {"small": small, "backend": backend, "default": default}
    for made in tokens.values():
        await post(session, server.graphql_url, {"Authorization": f"Bearer {made}"})(0)

    async def one(i: int) -> int:
        name = list(tokens)[i % 3]
        return await post(session, server.graphql_url, {"Authorization": f"Bearer {tokens[name]}"})(i)

    statuses = await burst(60, one)
    admitted = {name: statuses[i::3].count(200) for i, name in enumerate(tokens)}
    assert admitted == {"small": 2, "backend": 20, "default": LIMIT}, admitted


async def test_a_socket_upgraded_with_two_authorization_headers_is_refused(
    server: RunningServer, token: str
) -> None:
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer junk")]
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  additional_headers=headers) as ws:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        async with asyncio.timeout(5):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.parametrize("accept", ["text/event-stream", 'multipart/mixed;subscriptionSpec="1.0",application/json'])
async def test_http_subscriptions_count(
    server: RunningServer, session: aiohttp.ClientSession, client: GraphQLClient, accept: str
) -> None:
    await client.data('mutation { upsertSku(input: {code: "SKU-1", name: "W"}) { userErrors { code } } }')

    async def one(i: int) -> int:
        headers = {"Accept": accept, "Authorization": f"Bearer inv_{i}_{i}"}
        async with session.post(server.graphql_url, json=FOLLOW, headers=headers) as r:
            return r.status

    statuses = await burst(20, one)
    assert statuses.count(429) == 20 - LIMIT, statuses
