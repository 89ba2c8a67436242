"""Issue 11's findings at a glance: one row per finding a request (or a short sequence) can
show, what it sends and what must come back; afterwards the ledger is unchanged but for the
table's own setup and the server still answers. The features' own tests go deeper; item 8's
bad inputs have their own table in test_hostile_inputs.py."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from domain.access import Scope
from domain.rules import MAX_FIGURE, Limits
from service import views
from settings import Settings
from store import keys
from tests.api.conftest import set_stock
from tests.api.hostile_checks import (
    JUNK,
    SECRET,
    SPELT,
    Check,
    Table,
    change,
    client_mistake_log,
    codes,
    double_init,
    duplicated,
    held_events,
    metrics_closed,
    named_operation,
    q,
    served,
    slots_kept,
    sse_status,
    subscribed,
    unread,
    user_errors,
    ws_burst,
)
from tests.api.test_caller_limits import post
from tests.api.test_cost import ALIASED
from tests.api.test_hostile_inputs import LONE, LONG, NUL
from tests.api.test_mutations import ADJUST, COMMIT, EXTEND, RELEASE
from tests.api.test_ownership import EVENTS, RESERVATION, reserve, snapshot
from tests.api.test_slow_clients import TIMEOUT_SECONDS, stalled_body
from tests.client import GraphQLClient
from tests.conftest import ADMIN_KEY, RunningServer
from tests.ledger_checks import assert_consistent

LIMIT = 5  # requests/s of the `tight` server, per key and per address
LEVELS = "query($l: String) { sku(code: \"SKU-1\") { levels(location: $l) { onHand } } }"
FOLLOW = "subscription($s: String!) { stockEvents(sku: $s) { sequence } }"
WATCH = "subscription($s: String!) { availability(sku: $s) { available } }"

AT = {"sku": "SKU-1", "location": "ST-B"}
# (finding, what is sent, the check, what must come back)
ROWS: list[tuple[str, str, Check, Any]] = [
    ("limiter reads another header than auth", "valid key + junk Authorization",
     lambda t: duplicated(t, ["Bearer {token}", "Bearer junk"]), (400, "DUPLICATE_AUTHORIZATION")),
    ("empty header then junk served unlimited", "'' + junk Authorization",
     lambda t: duplicated(t, ["", "Bearer junk"]), (400, "DUPLICATE_AUTHORIZATION")),
    ("every junk token its own budget", "30 rotating/malformed tokens in 1 s", served(
        30, lambda t, i: JUNK[i % 5].format(secrets.token_hex(4), secrets.token_hex(8))), LIMIT),
    ("Bearer spellings get fresh budgets", "20 spellings of one key in 1 s", served(
        20, lambda t, i: SPELT[i % 4].format(t.tokens["a"])), LIMIT),
    ("WebSocket operations never counted", "20 subscribe messages on one socket in 1 s",
     ws_burst, {"ok": LIMIT, "RATE_LIMITED": 20 - LIMIT}),
    ("closed sockets keep their feed slot", "graphql-transport-ws init, ack, client close",
     lambda t: slots_kept(t, sse=False), (1, 0)),
    ("SSE failing before streaming keeps its slot", "A: GET /skus/NOPE/events",
     lambda t: slots_kept(t, sse=True), ((404, "NOT_FOUND"), 0)),
    ("legacy connection_init repeatable", "graphql-ws connection_init twice",
     double_init, 4429),
    ("a level overflows Int", "restock WH-A (2^31-11) by 11, MAX_QUANTITY = 2^31-1",
     q(ADJUST, {"i": {**AT, "location": "WH-A", "delta": 11, "reason": "RESTOCK"}}, "root",
       user_errors), ["INVALID_QUANTITY"]),
    ("the SKU total overflows Int", "restock ST-B (4) by 10: the SKU sum passes 2^31-1",
     q(ADJUST, {"i": {**AT, "delta": 10, "reason": "RESTOCK"}}, "root", user_errors),
     ["INVALID_QUANTITY"]),
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
     unread(q(ALIASED, {}, None, lambda b: (b.get("data"), codes(b)))),
     (None, ["QUERY_TOO_COMPLEX"], "no SKU page read")),
    ("slow-body sockets held forever", "Content-Length 300, 100 bytes sent",
     lambda t: stalled_body(t.tight, ""),
     lambda a: a[0].startswith(b"HTTP/1.1 408") and b'"code":"REQUEST_TIMEOUT"' in a[0]),
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
    """Small rates, a short body timeout, /metrics closed to 10.0.0.0/8 or a token."""
    async with RunningServer(dataclasses.replace(
            settings, rate_limit_anonymous=LIMIT, rate_limit_per_key=LIMIT,
            request_timeout_seconds=TIMEOUT_SECONDS, metrics_allow=("10.0.0.0/8",),
            metrics_token="metrics-secret")) as running:
        yield running


async def test_every_finding_has_its_row_and_the_ledger_is_unchanged(
    server: RunningServer, tight: RunningServer, catalogue: GraphQLClient, pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    pages: list[object] = []
    reading = views.sku_page

    async def counted(*args: Any, **kwargs: Any) -> Any:
        pages.append(kwargs.get("limit"))
        return await reading(*args, **kwargs)

    monkeypatch.setattr(views, "sku_page", counted)
    async with pool.acquire() as conn:
        made = {name: await keys.create(conn, name, [Scope.READ, Scope.RESERVE])
                for name in ("a", "b")}
    tokens = {name: token for name, (token, _) in made.items()}
    async with aiohttp.ClientSession() as session:
        t = Table(server, tight, session, tokens | {"root": ADMIN_KEY}, "", caplog, pages,
                  f"key:{made['a'][1].key_id}")
        await set_stock(catalogue, "SKU-1", "WH-A", MAX_FIGURE - 10)  # setup: near Int
        t.hold = await reserve(t.as_key("a"), SECRET)
        await post(session, tight.graphql_url, {"Authorization": f"Bearer {tokens['a']}"})(0)
        before = await snapshot(pool)  # levels, holds, ledger length
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
        assert await snapshot(pool) == before
        await assert_consistent(pool)
        alive = await t.as_key("a").data('{ sku(code: "SKU-1") { available } }')
        assert alive["sku"]["available"] == MAX_FIGURE - 10 + 4 - 1
        assert (await t.as_key("a", tight).data("{ __typename }")) == {"__typename": "Query"}
