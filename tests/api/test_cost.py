"""The static query cost through a real server: refused before any SQL runs (QUERY_TOO_COMPLEX),
lower without a key, variables counted, and `extensions.cost` on every answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

PAGE = "skus(first: 500) { edges { node { code name available levels { onHand reserved } } } }"
ALIASED = "{ " + " ".join(f"a{i}: {PAGE}" for i in range(30)) + " }"  # the finding: 4.7 KB
BY_VARIABLE = "query($n: Int) { skus(first: $n) { edges { node { code levels { onHand } } } } }"


@pytest.fixture
async def anonymous(server: RunningServer) -> AsyncIterator[GraphQLClient]:
    async with aiohttp.ClientSession() as session:
        yield GraphQLClient(server.graphql_url, session)


@pytest.fixture
def sku_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every page of SKUs read from the database (service.views.sku_page)."""
    from service import views

    seen: list[int] = []
    original = views.sku_page

    async def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("limit", 0))
        return await original(*args, **kwargs)

    monkeypatch.setattr(views, "sku_page", counting)
    return seen


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert "data" not in body or body["data"] is None, body
    [error] = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def test_thirty_aliased_full_pages_are_refused_before_any_sql(
    anonymous: GraphQLClient, client: GraphQLClient, sku_pages: list[int]
) -> None:
    started = time.perf_counter()
    body = await anonymous.post(ALIASED)
    elapsed = time.perf_counter() - started
    assert refusal(body) == {"code": "QUERY_TOO_COMPLEX", "limit": "cost", "maximum": 5000,
                             "cost": 180030}
    assert body["extensions"]["cost"] == {"requestedQueryCost": 180030, "maximumQueryCost": 5000}
    assert (await client.post(ALIASED))["errors"][0]["extensions"]["maximum"] == 20000
    assert sku_pages == []  # nothing was read
    assert elapsed < 1.5, elapsed  # it took 2.4 s of CPU before the limit (issue 11)


async def test_a_key_may_spend_more_than_an_anonymous_caller(
    anonymous: GraphQLClient, client: GraphQLClient, sku_pages: list[int]
) -> None:
    page = "{ " + PAGE + " }"  # 1 + 500 * (1 + 1 + 10 * 1) = 6,001
    assert refusal(await anonymous.post(page))["cost"] == 6001
    assert sku_pages == []
    answered = await client.post(page)
    assert "errors" not in answered, answered
    assert answered["extensions"]["cost"] == {"requestedQueryCost": 6001,
                                              "maximumQueryCost": 20000}
    assert sku_pages == [501]


async def test_variables_count_and_are_not_cached_as_static(
    anonymous: GraphQLClient, sku_pages: list[int]
) -> None:
    assert refusal(await anonymous.post(BY_VARIABLE, {"n": 500}))["cost"] == 6001
    small = await anonymous.post(BY_VARIABLE, {"n": 10})
    assert small["extensions"]["cost"]["requestedQueryCost"] == 121, small
    assert refusal(await anonymous.post(BY_VARIABLE, {"n": 450}))["cost"] == 5401
    default = await anonymous.post(BY_VARIABLE, {})  # the field's own default: 50
    assert default["extensions"]["cost"]["requestedQueryCost"] == 601, default
    assert sku_pages == [11, 51]


async def test_every_answer_carries_its_cost(anonymous: GraphQLClient,
                                             client: GraphQLClient) -> None:
    read = await anonymous.post('{ sku(code: "none") { code levels(location: "WH-A") { onHand } } }')
    assert read == {"data": {"sku": None},
                    "extensions": {"cost": {"requestedQueryCost": 2, "maximumQueryCost": 5000}}}
    written = await client.post(
        'mutation { upsertSku(input: {code: "C-1", name: "c"}) { sku { code } userErrors { code } } }'
    )
    assert written["extensions"]["cost"]["requestedQueryCost"] == 3, written
    assert written["data"]["upsertSku"]["userErrors"] == []


@pytest.mark.parametrize("headers", [{}, ADMIN])
async def test_a_refused_cost_over_websocket_leaves_the_socket_open(
    server: RunningServer, headers: dict[str, str]
) -> None:
    import json

    import websockets
    from websockets.typing import Subprotocol

    async with websockets.connect(server.ws_url,
                                  subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {
            "Authorization": headers["Authorization"]} if headers else {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": ALIASED}}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error", reply
        assert reply["payload"][0]["extensions"]["limit"] == "cost"
        assert reply["payload"][0]["extensions"]["maximum"] == (20000 if headers else 5000)
        await ws.send(json.dumps({"type": "subscribe", "id": "2",
                                  "payload": {"query": "{ __typename }"}}))
        assert json.loads(await ws.recv())["payload"]["data"] == {"__typename": "Query"}
