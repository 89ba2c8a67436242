"""The checks of tests/api/test_hostile_table.py's rows: each sends one hostile request (or a
short sequence) and returns what came back, in a form the table compares."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from multidict import CIMultiDict

from tests.api.test_caller_limits import _ws_answers, burst, post
from tests.api.test_feed_slots import open_feeds, until_no_feeds, ws_init
from tests.api.test_log_and_metric_bounds import metrics_text
from tests.client import GraphQLClient
from tests.conftest import RunningServer

SECRET = "alice@example.com"


@dataclasses.dataclass
class Table:
    """What rows talk to: `server` (MAX_QUANTITY = Int), `tight` (see its fixture), A's hold."""
    server: RunningServer
    tight: RunningServer
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    hold: str
    caplog: pytest.LogCaptureFixture
    pages: list[object]  # every SKU page read from the database (service.views.sku_page)
    owner: str = ""  # A's feed slots in the gatekeeper

    def as_key(self, name: str | None, server: RunningServer | None = None) -> GraphQLClient:
        headers = {"Authorization": f"Bearer {self.tokens[name]}"} if name else {}
        return GraphQLClient((server or self.server).graphql_url, self.session, headers)


Check = Callable[[Table], Awaitable[Any]]


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


def user_errors(body: dict[str, Any]) -> list[str]:
    [payload] = (body.get("data") or {"": {"userErrors": [{"code": str(body)[:200]}]}}).values()
    return [e["code"] for e in payload["userErrors"]]


async def duplicated(t: Table, values: list[str]) -> tuple[int, str]:
    headers = CIMultiDict([("Authorization", v.format(token=t.tokens["a"])) for v in values])
    async with t.session.post(t.tight.graphql_url, json={"query": "{ __typename }"},
                              headers=headers) as r:
        return r.status, codes(orjson.loads(await r.read()))[0]


def served(count: int, header: Callable[[Table, int], str]) -> Check:
    """How many of `count` requests to `tight` in one second (Authorization `header`) pass."""
    async def check(t: Table) -> int:
        async def one(i: int) -> int:
            return await post(t.session, t.tight.graphql_url, {"Authorization": header(t, i)})(i)
        return (await burst(count, one)).count(200)
    return check


JUNK = ["Bearer inv_{}_{}", "Bearer {}{}", "Basic {}{}", "{}", "Bearer inv_{}_{} x"]
SPELT = ["Bearer {}", "bearer  {}", "  BEARER {} ", "Bearer   {}"]


async def ws_burst(t: Table) -> dict[str, int]:
    answers = await _ws_answers(t.tight, "graphql-transport-ws", 20, None)
    return {answer: answers.count(answer) for answer in answers}


async def double_init(t: Table) -> int | None:
    ws = await ws_init(t.server, t.tokens["a"], "graphql-ws")
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
    try:
        async with asyncio.timeout(5):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def subscribed(t: Table, query: str, sku: str) -> list[str]:
    """The codes a graphql-transport-ws subscription ends with (json: lone surrogates too)."""
    protocol = "graphql-transport-ws"
    subprotocols: Any = [protocol]
    async with websockets.connect(t.server.ws_url, subprotocols=subprotocols) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
            "query": query, "variables": {"s": sku}}}))
        found: list[str] = []
        async with asyncio.timeout(5):
            while (message := json.loads(await ws.recv()))["type"] == "next":
                found += codes(message["payload"])  # an error the stream ends with
        if message["type"] == "error":
            found += [e.get("extensions", {}).get("code") for e in message["payload"]]
        return found


async def slots_kept(t: Table, sse: bool) -> tuple[object, int]:
    """A's feed slots while a socket is open (or an SSE request failed), and after it ended."""
    if sse:
        return await sse_status(t, "NOPE", t.tokens["a"]), open_feeds(t.server, t.owner)
    ws = await ws_init(t.server, t.tokens["a"])
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    opened = open_feeds(t.server, t.owner)
    await ws.close()
    await until_no_feeds(t.server, t.owner)
    return opened, open_feeds(t.server, t.owner)


async def sse_status(t: Table, code: str, token: str = "") -> tuple[int, str]:
    async with t.session.get(f"{t.server.url}/skus/{code}/events", headers={
            "Authorization": f"Bearer {token}"} if token else {},
            timeout=aiohttp.ClientTimeout(total=10)) as r:
        text = (await r.content.read(300)).decode(errors="replace")
        return r.status, orjson.loads(text)["error"]["code"] if r.status != 200 else text[:40]


async def named_operation(t: Table) -> bool:
    body: dict[str, object] = {"query": "query Probe4711 { locations { code } }",
                               "operationName": "Probe4711"}
    await post(t.session, t.server.graphql_url, {}, body)(0)
    text = await metrics_text(t.server)
    return "Probe4711" not in text and 'operation="locations"' in text


async def client_mistake_log(t: Table) -> list[str]:
    t.caplog.clear()
    await t.as_key(None).post('mutation { reserve(input: {sku: "SKU-1", quantity: 1, reference: '
                              f'"{SECRET}", idempotencyKey: "idem-{SECRET}"}}) '
                              "{ userErrors { code } } }")
    records = [r for r in t.caplog.records if r.name.startswith(("inventory", "strawberry"))]
    wrong = [r.getMessage()[:100] for r in records if r.levelno > logging.WARNING
             or r.exc_info or r.stack_info or SECRET in r.getMessage()]
    return wrong or [f"{len(records)} lines"]  # the request's line, at most one refusal line


async def metrics_closed(t: Table) -> int:
    async with t.session.get(f"{t.tight.url}/metrics") as r:
        return r.status


def q(query: str, variables: dict[str, Any], key: str | None = "a",
      read: Callable[[dict[str, Any]], Any] = codes) -> Check:
    async def check(t: Table) -> Any:
        return read(await t.as_key(key).post(query, variables))
    return check


def unread(check: Check) -> Check:
    """`check`, and whether it read no SKU page: refused before execution."""
    async def unread_check(t: Table) -> Any:
        before = len(t.pages)
        got = await check(t)
        return (*got, "no SKU page read" if len(t.pages) == before else "SKU pages read")
    return unread_check


def change(query: str, i: Callable[[str], dict[str, Any]]) -> Check:
    async def check(t: Table) -> Any:
        return codes(await t.as_key("b").post(query, {"i": i(t.hold)}))
    return check


def held_events(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(e["reservationId"], e["reference"]) for e in body["data"]["stockEvents"]
            if e["kind"] == "RESERVED"]
