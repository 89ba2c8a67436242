"""Issue 11's findings at a glance: one row per finding a request (or a short sequence) can
show, what it sends and what must come back; afterwards the ledger is unchanged but for the
table's own setup and the server still answers. The features' own tests go deeper."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
import websockets
from multidict import CIMultiDict

from domain.access import Scope
from domain.rules import MAX_FIGURE, Limits
from settings import Settings
from store import keys
from tests.api.test_caller_limits import _ws_answers, burst, post
from tests.api.test_cost import ALIASED
from tests.api.test_feed_slots import ws_init
from tests.api.test_hostile_inputs import LONE, LONG, NUL
from tests.api.test_log_and_metric_bounds import metrics_text
from tests.api.test_mutations import COMMIT, EXTEND, RELEASE
from tests.api.test_ownership import EVENTS, RESERVATION, reserve
from tests.api.test_slow_clients import TIMEOUT_SECONDS, stalled_body
from tests.client import GraphQLClient
from tests.conftest import RunningServer
from tests.ledger_checks import assert_consistent

LIMIT = 5  # requests/s of the `tight` server, per key and per address
SECRET = "alice@example.com"
LEVELS = "query($l: String) { sku(code: \"SKU-1\") { levels(location: $l) { onHand } } }"
FOLLOW = "subscription($s: String!) { stockEvents(sku: $s) { sequence } }"
WATCH = "subscription($s: String!) { availability(sku: $s) { available } }"
ADJUST = """mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code } } }"""
SET = """mutation($i: SetStockInput!) { setStock(input: $i) { userErrors { code } } }"""


@dataclasses.dataclass
class Table:
    """What the rows talk to: `server` (MAX_QUANTITY up to Int), `tight` (small rates, a
    short body timeout, /metrics closed to 10.0.0.0/8), the keys and A's hold."""
    server: RunningServer
    tight: RunningServer
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    hold: str
    caplog: pytest.LogCaptureFixture

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


async def junk_tokens(t: Table) -> int:
    junk = ["Bearer inv_{}_{}", "Bearer {}{}", "Basic {}{}", "{}", "Bearer inv_{}_{} x"]

    async def one(i: int) -> int:
        value = junk[i % len(junk)].format(secrets.token_hex(4), secrets.token_hex(8))
        return await post(t.session, t.tight.graphql_url, {"Authorization": value})(i)

    return (await burst(30, one)).count(200)


async def bearer_spellings(t: Table) -> int:
    token = t.tokens["a"]
    spellings = [f"Bearer {token}", f"bearer  {token}", f"  BEARER {token} ", f"Bearer   {token}"]

    async def one(i: int) -> int:
        return await post(t.session, t.tight.graphql_url, {"Authorization": spellings[i % 4]})(i)

    return (await burst(20, one)).count(200)


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
    async with websockets.connect(t.server.ws_url, subprotocols=[  # type: ignore[list-item]
            "graphql-transport-ws"]) as ws:
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


async def sse_status(t: Table, code: str) -> tuple[int, str]:
    async with t.session.get(f"{t.server.url}/skus/{code}/events",
                             timeout=aiohttp.ClientTimeout(total=10)) as r:
        text = (await r.content.read(300)).decode(errors="replace")
        return r.status, orjson.loads(text)["error"]["code"] if r.status != 200 else text[:40]


async def named_operation(t: Table) -> bool:
    body = {"query": "query Probe4711 { locations { code } }", "operationName": "Probe4711"}
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


def change(query: str, i: Callable[[str], dict[str, Any]]) -> Check:
    async def check(t: Table) -> Any:
        return codes(await t.as_key("b").post(query, {"i": i(t.hold)}))
    return check


def held_events(body: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(e["reservationId"], e["reference"]) for e in body["data"]["stockEvents"]
            if e["kind"] == "RESERVED"]


AT = {"sku": "SKU-1", "location": "ST-B"}
# (finding, what is sent, the check, what must come back)
ROWS: list[tuple[str, str, Check, Any]] = [
    ("limiter reads another header than auth", "valid key + junk Authorization",
     lambda t: duplicated(t, ["Bearer {token}", "Bearer junk"]), (400, "DUPLICATE_AUTHORIZATION")),
    ("empty header then junk served unlimited", "'' + junk Authorization",
     lambda t: duplicated(t, ["", "Bearer junk"]), (400, "DUPLICATE_AUTHORIZATION")),
    ("every junk token its own budget", "30 rotating/malformed tokens in 1 s",
     junk_tokens, LIMIT),
    ("Bearer spellings get fresh budgets", "20 spellings of one key in 1 s",
     bearer_spellings, LIMIT),
    ("WebSocket operations never counted", "20 subscribe messages on one socket in 1 s",
     ws_burst, {"ok": LIMIT, "RATE_LIMITED": 20 - LIMIT}),
    ("legacy connection_init repeatable", "graphql-ws connection_init twice",
     double_init, 4429),
    ("a level overflows Int", "adjustStock delta past MAX_QUANTITY at WH-A", q(ADJUST, {"i": {
        **AT, "location": "WH-A", "delta": 11, "reason": "RESTOCK"}}, "root", user_errors),
     ["INVALID_QUANTITY"]),
    ("the SKU total overflows Int", "adjustStock +10 at ST-B, WH-A near 2^31", q(ADJUST, {"i": {
        **AT, "delta": 10, "reason": "RESTOCK"}}, "root", user_errors), ["INVALID_QUANTITY"]),
    ("another key extends A's hold", "B: extendReservation", change(
        EXTEND, lambda r: {"reservationId": r, "ttlSeconds": 60}), ["FORBIDDEN"]),
    ("another key commits A's hold", "B: commitReservation", change(
        COMMIT, lambda r: {"reservationId": r}), ["FORBIDDEN"]),
    ("another key releases A's hold", "B: releaseReservation", change(
        RELEASE, lambda r: {"reservationId": r}), ["FORBIDDEN"]),
    ("reservation(id) shows every hold", "B: reservation(id of A's hold)",
     lambda t: t.as_key("b").data(RESERVATION, {"id": t.hold}), {"reservation": None}),
    ("stockEvents show ids and references", "B: stockEvents(sku)", q(
        EVENTS, {"sku": "SKU-1"}, "b", held_events), [(None, None)]),
    ("...anonymous too", "anonymous: stockEvents(sku)", q(
        EVENTS, {"sku": "SKU-1"}, None, held_events), [(None, None)]),
    ("cheap request, expensive answer", "30 aliased skus(first:500){levels}, anonymous",
     q(ALIASED, {}, None, lambda b: (b.get("data"), codes(b))), (None, ["QUERY_TOO_COMPLEX"])),
    ("slow-body sockets held forever", "Content-Length 300, 100 bytes sent",
     lambda t: stalled_body(t.tight, ""), lambda a: a[0].startswith(b"HTTP/1.1 408")),
    ("operation names become metric labels", "query Probe4711", named_operation, True),
    ("client mistakes log tracebacks and values", "anonymous reserve, reference and key inline",
     client_mistake_log, lambda got: got in (["1 lines"], ["2 lines"])),
    ("/metrics open to anyone", "GET /metrics from 127.0.0.1, no token", metrics_closed, 403),
    ("NUL in Sku.levels(location)", "levels(location: 'a\\0b')",
     q(LEVELS, {"l": NUL}), ["BAD_USER_INPUT"]),
    ("lone surrogate in Sku.levels(location)", "levels(location: 'a\\ud800b')",
     q(LEVELS, {"l": LONE}), ["BAD_USER_INPUT"]),
    ("10 KB Sku.levels(location)", "levels(location: 10 KB)",
     q(LEVELS, {"l": LONG}), ["BAD_USER_INPUT"]),
    ("NUL in stockEvents(sku) subscription", "subscribe stockEvents(sku: 'a\\0b')",
     lambda t: subscribed(t, FOLLOW, NUL), ["BAD_USER_INPUT"]),
    ("lone surrogate in stockEvents(sku)", "subscribe stockEvents(sku: 'a\\ud800b')",
     lambda t: subscribed(t, FOLLOW, LONE), ["BAD_USER_INPUT"]),
    ("NUL in availability(sku)", "subscribe availability(sku: 'a\\0b')",
     lambda t: subscribed(t, WATCH, NUL), ["BAD_USER_INPUT"]),
    ("10 KB availability(sku)", "subscribe availability(sku: 10 KB)",
     lambda t: subscribed(t, WATCH, LONG), ["BAD_USER_INPUT"]),
    ("NUL in the SSE SKU code", "GET /skus/a%00b/events",
     lambda t: sse_status(t, "a%00b"), (400, "BAD_USER_INPUT")),
    ("over-long SSE SKU code", "GET /skus/{201 x A}/events",
     lambda t: sse_status(t, "A" * 201), (400, "BAD_USER_INPUT")),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, limits=Limits(max_quantity=MAX_FIGURE))


@pytest.fixture
async def tight(settings: Settings, server: RunningServer) -> AsyncIterator[RunningServer]:
    async with RunningServer(dataclasses.replace(
            settings, rate_limit_anonymous=LIMIT, rate_limit_per_key=LIMIT,
            request_timeout_seconds=TIMEOUT_SECONDS, metrics_allow=("10.0.0.0/8",),
            metrics_token="metrics-secret")) as running:
        yield running


async def levels_and_ledger(pool: asyncpg.Pool) -> tuple[Any, ...]:
    async with pool.acquire() as conn:
        return (
            [tuple(r) for r in await conn.fetch(
                "SELECT sku_id, location_id, on_hand, reserved, version FROM stock_levels "
                "ORDER BY 1, 2")],
            [tuple(r) for r in await conn.fetch(
                "SELECT id, status, expires_at FROM reservations ORDER BY id")],
            await conn.fetchval("SELECT count(*) FROM stock_events"),
        )


async def test_every_finding_has_its_row_and_the_ledger_is_unchanged(
    server: RunningServer, tight: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with pool.acquire() as conn:
        tokens = {name: (await keys.create(conn, name, [Scope.READ, Scope.RESERVE]))[0]
                  for name in ("a", "b")}
    async with aiohttp.ClientSession() as session:
        t = Table(server, tight, session, tokens | {"root": "test-admin-key"}, "", caplog)
        await catalogue.data(SET, {"i": {"sku": "SKU-1", "location": "WH-A",
                                         "onHand": MAX_FIGURE - 10}})  # setup: near Int
        t.hold = await reserve(t.as_key("a"), SECRET)
        await post(session, tight.graphql_url, {"Authorization": f"Bearer {tokens['a']}"})(0)
        before = await levels_and_ledger(pool)
        wrong = []  # every row is tried; all the wrong answers are reported at once
        for finding, sent, check, expected in ROWS:
            try:
                got = await check(t)
            except Exception as error:  # noqa: BLE001 - a row that raises is a wrong answer
                got = f"raised {error!r}"[:200]
            ok = expected(got) if callable(expected) else got == expected
            if not ok:
                wrong.append(f"{finding} ({sent}): expected {expected!r}, got {str(got)[:200]}")
        assert not wrong, "\n".join(wrong)
        assert await levels_and_ledger(pool) == before
        await assert_consistent(pool)
        alive = await t.as_key("a").data('{ sku(code: "SKU-1") { available } }')
        assert alive["sku"]["available"] == MAX_FIGURE - 10 + 4 - 1
        assert (await t.as_key("a", tight).data("{ __typename }")) == {"__typename": "Query"}
