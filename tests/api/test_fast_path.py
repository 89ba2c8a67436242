"""web/fast_path.py answers POST /graphql JSON requests without Starlette's stack and
Strawberry's HTTP view. A client must not be able to tell: every request here goes to a server
with the fast path and to one without it (same database), and status, body and headers must be
the same bytes. Requests the fast path hands on (CORS, batches, extensions, GET, broken JSON)
must still be answered, once, by the full path. GET queries and persisted queries (APQ) are
compared the same way, 304s included."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from settings import Settings
from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SKU = """query($code: String!) { sku(code: $code) { code name available status
  levels { onHand reserved available location { code } } } }"""
RESERVE_UNKNOWN = """mutation { reserve(input: {sku: "NOPE", quantity: 1}) {
  reservation { id } userErrors { code message field } } }"""
DEEP = "{ sku(code: \"SKU-1\") " + "{ levels { location { code } } }" * 1 + " }"
ALIASES = " ".join(f"a{i}: sku(code: \"SKU-1\") {{ code }}" for i in range(40))
TOKENS = "{ " + " ".join(f"a{i}: __typename" for i in range(1100)) + " }"

GRAPHQL_RESPONSE = "application/graphql-response+json"
LOCATIONS = "{ locations { code name kind } }"


def _apq(document: str, version: int = 1) -> dict[str, Any]:
    sha = hashlib.sha256(document.encode()).hexdigest()
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


# (name, body, extra headers): every case is a JSON POST the fast path takes
CASES: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("query", {"query": SKU, "variables": {"code": "SKU-1"}}, {}),
    ("query without variables", {"query": "{ locations { code name } }"}, {}),
    ("unknown SKU is null", {"query": SKU, "variables": {"code": "NOPE"}}, {}),
    ("user error", {"query": RESERVE_UNKNOWN}, {}),
    ("syntax error", {"query": "{ sku(code: "}, {}),
    ("syntax error, graphql-response+json", {"query": "{ sku(code: "},
     {"Accept": GRAPHQL_RESPONSE}),
    ("validation error", {"query": "{ nope }"}, {"Accept": GRAPHQL_RESPONSE}),
    ("variable of the wrong type", {"query": SKU, "variables": {"code": 5}}, {}),
    ("missing variable", {"query": SKU}, {"Accept": f"{GRAPHQL_RESPONSE}, application/json"}),
    ("unknown operation name", {"query": SKU, "operationName": "Nope",
                                "variables": {"code": "SKU-1"}}, {}),
    ("two operations, one chosen", {"query": "query A { locations { code } } "
                                             "query B { __typename }", "operationName": "B"}, {}),
    ("too many aliases", {"query": "{ " + ALIASES + " }"}, {}),
    ("too many tokens", {"query": TOKENS}, {"Accept": GRAPHQL_RESPONSE}),
    ("depth fine", {"query": DEEP}, {}),
    ("without a key", {"query": RESERVE_UNKNOWN}, {"Authorization": ""}),
    ("with a wrong key", {"query": RESERVE_UNKNOWN}, {"Authorization": "Bearer inv_nope_x"}),
    ("accept text/html only", {"query": "{ __typename }"}, {"Accept": "text/html"}),
    ("subscription over plain POST", {"query": "subscription { stockEvents(sku: \"SKU-1\") "
                                               "{ sequence } }"}, {}),
    ("empty query", {"query": ""}, {}),
    ("extensions without a persisted query", {"query": "{ __typename }",
                                              "extensions": {"tracing": False}}, {}),
    ("APQ hash unknown", {"extensions": _apq(LOCATIONS)}, {}),
    ("APQ hash unknown, graphql-response+json", {"extensions": _apq(LOCATIONS)},
     {"Accept": GRAPHQL_RESPONSE}),
    ("APQ hash and document", {"query": LOCATIONS, "extensions": _apq(LOCATIONS)}, {}),
    ("APQ hash only, now known", {"extensions": _apq(LOCATIONS)}, {}),
    ("APQ hash only, null query", {"query": None, "extensions": _apq(LOCATIONS)}, {}),
    ("APQ hash mismatch", {"query": "{ __typename }", "extensions": _apq(LOCATIONS)}, {}),
    ("APQ version 2", {"extensions": _apq(LOCATIONS, version=2)}, {}),
    ("APQ hash not hex", {"extensions": {"persistedQuery": {"version": 1,
                                                             "sha256Hash": "nope"}}}, {}),
    ("APQ over the limits", {"query": TOKENS, "extensions": _apq(TOKENS)}, {}),
    ("APQ over the limits was not stored", {"extensions": _apq(TOKENS)}, {}),
    ("APQ mutation", {"query": RESERVE_UNKNOWN, "extensions": _apq(RESERVE_UNKNOWN)}, {}),
]
# (name, URL parameters, extra headers): GET, on the fast path or handed on
GET_CASES: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("query", {"query": SKU, "variables": json.dumps({"code": "SKU-1"})}, {}),
    ("query without variables", {"query": LOCATIONS}, {}),
    ("anonymous", {"query": LOCATIONS}, {"Authorization": ""}),
    ("syntax error", {"query": "{ sku(code: "}, {"Accept": GRAPHQL_RESPONSE}),
    ("validation error", {"query": "{ nope }"}, {}),
    ("mutation over GET", {"query": RESERVE_UNKNOWN}, {}),
    ("no query", {"operationName": "A"}, {}),
    ("variables null", {"query": SKU, "variables": "null"}, {}),
    ("variables not JSON", {"query": SKU, "variables": "{"}, {}),
    ("APQ hash unknown", {"extensions": json.dumps(_apq(SKU))}, {}),
    ("APQ hash and document", {"query": SKU, "extensions": json.dumps(_apq(SKU)),
                               "variables": json.dumps({"code": "SKU-1"})}, {}),
    ("APQ hash only", {"extensions": json.dumps(_apq(SKU)),
                       "variables": json.dumps({"code": "SKU-1"})}, {}),
    ("APQ mutation", {"extensions": json.dumps(_apq(RESERVE_UNKNOWN))}, {}),
]
IGNORED_HEADERS = {"date", "server"}


@pytest.fixture
async def full_path(settings: Settings, server: RunningServer) -> AsyncIterator[RunningServer]:
    """A second server on the same database, with the fast path off."""
    async with RunningServer(dataclasses.replace(settings, http_fast_path=False)) as running:
        yield running


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
                headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    sent = {**ADMIN, "Content-Type": "application/json", "X-Request-ID": "same-id", **headers}
    sent = {k: v for k, v in sent.items() if v}
    async with session.post(url, data=json.dumps(body), headers=sent) as response:
        kept = {k.lower(): v for k, v in response.headers.items()
                if k.lower() not in IGNORED_HEADERS}
        return response.status, await response.read(), kept


async def test_fast_and_full_paths_answer_byte_for_byte_alike(
    catalogue: GraphQLClient, server: RunningServer, full_path: RunningServer
) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for name, body, headers in CASES:
            fast = await _post(session, server.graphql_url, body, headers)
            full = await _post(session, full_path.graphql_url, body, headers)
            assert fast == full, name
            assert fast[2]["x-request-id"] == "same-id", name
        # a mutation that changes stock, once on each side, from the same state
        reserve = {"query": """mutation { reserve(input: {sku: "SKU-1", quantity: 1,
            location: "ST-B"}) { reservation { quantity status location { code } }
            level { onHand reserved available } userErrors { code } } }"""}
        first = await _post(session, server.graphql_url, reserve, {})
        second = await _post(session, full_path.graphql_url, reserve, {})
    assert first[0] == second[0] == 200
    one, two = json.loads(first[1]), json.loads(second[1])
    assert one["data"]["reserve"]["level"]["reserved"] == 1
    assert two["data"]["reserve"]["level"]["reserved"] == 2
    assert one["data"]["reserve"]["reservation"] == two["data"]["reserve"]["reservation"]


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str],
               headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    sent = {**ADMIN, "X-Request-ID": "same-id", **headers}
    sent = {k: v for k, v in sent.items() if v}
    async with session.get(url, params=params, headers=sent) as response:
        kept = {k.lower(): v for k, v in response.headers.items()
                if k.lower() not in IGNORED_HEADERS}
        return response.status, await response.read(), kept


async def test_gets_and_their_304s_are_alike_on_both_paths(
    catalogue: GraphQLClient, server: RunningServer, full_path: RunningServer
) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for name, params, headers in GET_CASES:
            fast = await _get(session, server.graphql_url, params, headers)
            full = await _get(session, full_path.graphql_url, params, headers)
            assert fast == full, name
        params = {"query": SKU, "variables": json.dumps({"code": "SKU-1"})}
        status, _, seen = await _get(session, server.graphql_url, params, {})
        assert status == 200 and seen["etag"]
        # a 304 after running the query, then one before (web/revalidation.py), then a 200
        for headers in ({"If-None-Match": seen["etag"]}, {"If-None-Match": seen["etag"]},
                        {"If-None-Match": '"other"'}):
            fast = await _get(session, server.graphql_url, params, headers)
            full = await _get(session, full_path.graphql_url, params, headers)
            assert fast == full, headers
        assert fast[0] == 200
        assert (await _get(session, server.graphql_url, params,
                           {"If-None-Match": seen["etag"]}))[:2] == (304, b"")


async def test_what_the_fast_path_hands_on_is_answered_once_by_the_full_path(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    url = server.graphql_url
    async with aiohttp.ClientSession() as session:
        # CORS preflight-free request from a browser page: the full path (no CORS origins
        # configured here, so no Access-Control headers), and still a normal answer
        async with session.post(url, json={"query": "{ __typename }"},
                                headers={"Origin": "http://shop.example"}) as r:
            assert r.status == 200 and (await r.json())["data"] == {"__typename": "Query"}
            assert r.headers["x-request-id"]
        # GET query
        async with session.get(url, params={"query": "{ __typename }"}) as r:
            assert r.status == 200 and (await r.json())["data"] == {"__typename": "Query"}
        # not JSON
        async with session.post(url, data=b"{not json",
                                headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400
        # extensions and a non-object body
        async with session.post(url, json={"query": "{ __typename }", "extensions": {}}) as r:
            assert r.status == 200 and (await r.json())["data"] == {"__typename": "Query"}
        async with session.post(url, json=[{"query": "{ __typename }"}]) as r:
            assert r.status == 400
        # a body over the cap is refused by the fast path with the same 413
        big = {"query": "{ __typename }", "variables": {"pad": "x" * (200 * 1024)}}
        async with session.post(url, json=big) as r:
            assert r.status == 413
            assert (await r.json())["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
        # a mutation handed on (Origin) runs exactly once
        mutation = {"query": """mutation { reserve(input: {sku: "SKU-1", quantity: 1}) {
            level { reserved } userErrors { code } } }"""}
        async with session.post(url, json=mutation,
                                headers={**ADMIN, "Origin": "http://shop.example"}) as r:
            assert (await r.json())["data"]["reserve"]["level"]["reserved"] == 1


async def test_rate_limit_counts_a_request_once_on_either_path(
    settings: Settings,
) -> None:
    async with RunningServer(dataclasses.replace(settings, rate_limit_anonymous=4)) as limited:
        async with aiohttp.ClientSession() as session:
            async def status(headers: dict[str, str]) -> int:
                async with session.post(limited.graphql_url, json={"query": "{ __typename }"},
                                        headers=headers) as r:
                    await r.read()
                    return r.status
            # two fast, two handed on (Origin): four within the budget, the fifth refused,
            # all within one fixed one-second window (retried if the window rolled over)
            for _ in range(5):
                window = int(time.time())
                seen = [await status(h) for h in ({}, {"Origin": "http://a.example"}, {},
                                                   {"Origin": "http://a.example"}, {})]
                if int(time.time()) == window:
                    break
                await asyncio.sleep(1 - time.time() % 1)
            assert seen == [200, 200, 200, 200, 429]


async def test_concurrent_reserves_through_the_fast_path_never_oversell(
    catalogue: GraphQLClient, server: RunningServer
) -> None:
    mutation = {"query": """mutation { reserve(input: {sku: "SKU-1", quantity: 1}) {
        reservation { id } userErrors { code } } }"""}
    async with aiohttp.ClientSession() as session:
        async def one() -> str:
            async with session.post(server.graphql_url, json=mutation, headers=ADMIN) as r:
                body = await r.json()
            payload = body["data"]["reserve"]
            return "held" if payload["reservation"] else payload["userErrors"][0]["code"]
        async with asyncio.timeout(60):
            outcomes = await asyncio.gather(*(one() for _ in range(60)))
    assert outcomes.count("held") == 14  # 10 at WH-A + 4 at ST-B
    assert set(outcomes) == {"held", "INSUFFICIENT_STOCK"}
