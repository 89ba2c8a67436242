"""Compiled holds (schema/compiled_holds.py, schema/compiled_payloads.py) answer every hold
shape the suite sends with the normal path's bytes, and every refusal is still refused: two
servers, COMPILED_HOLDS off and on, each on its own database set up alike, get the same
requests in lockstep. Reservation ids
and timestamps differ between two databases, so each side's are replaced by their order of
appearance before the bytes are compared; every other byte must match."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY

from domain.access import Scope
from settings import Settings
from store import keys
from tests.api.conftest import set_stock
from tests.client import GraphQLClient
from tests.conftest import ADMIN, TEMPLATE, RunningServer, _admin, _with_database
from tests.ledger_checks import assert_consistent

ENTRIES = [text.strip() for text in
           (Path(__file__).parent / "hold_shapes.graphql").read_text().split("# ---")[1:]]
INPUTS = {"reserve": "ReserveInput", "reserveLines": "ReserveLinesInput",
          "extendReservation": "ExtendReservationInput",
          "commitReservation": "CommitReservationInput",
          "releaseReservation": "ReleaseReservationInput"}
HOLD = """mutation($i: ReserveInput!) { reserve(input: $i) { reservation { id } } }"""
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
NOPE = "00000000-0000-4000-8000-000000000000"
SETUP = [f"mutation {{ {field} {{ userErrors {{ code }} }} }}" for field in (
    'upsertLocation(input: {code: "WH-A", name: "Warehouse A", kind: WAREHOUSE})',
    'upsertLocation(input: {code: "ST-B", name: "Store B", kind: STORE})',
    'upsertSku(input: {code: "SKU-1", name: "Widget", lowStockThreshold: 3})',
    'upsertSku(input: {code: "SKU-2", name: "Gadget"})')]


def reserve_shape() -> str:
    return next(document for field, document in shapes() if field == "reserve")


def shapes() -> list[tuple[str, str]]:
    """(field, document) of every entry."""
    found = []
    for entry in ENTRIES:
        lines = [line for line in entry.splitlines() if not line.startswith("# ---")]
        field = re.match(r"# field: (\w+)", lines[0])
        if field is None:
            continue
        body = "\n".join(lines[1:])
        name = field[1]
        found.append((name, body if body.startswith("mutation") else
                      f"mutation($i: {INPUTS[name]}!) {{ {name}(input: $i) {body} }}"))
    return found


@dataclasses.dataclass
class Side:
    server: RunningServer
    pool: asyncpg.Pool
    tokens: dict[str, str]
    ids: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    held: list[str] = dataclasses.field(default_factory=list)

    def normalized(self, body: bytes) -> bytes:
        def rename(match: re.Match[bytes]) -> bytes:
            return self.ids.setdefault(match[0], b"<id%d>" % len(self.ids))
        return TIME.sub(b"<time>", UUID.sub(rename, body))


async def _side(settings: Settings, database_url: str, holds: bool) -> AsyncIterator[Side]:
    async with RunningServer(dataclasses.replace(
            settings, database_url=database_url, compiled_holds=holds)) as server, \
            aiohttp.ClientSession() as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        for setup in SETUP:  # one field a request: within a low MAX_QUERY_COST too
            await client.data(setup)
        await set_stock(client, "SKU-1", "WH-A", 100_000)
        await set_stock(client, "SKU-1", "ST-B", 5)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        async with pool.acquire() as conn:
            tokens = {
                "read": (await keys.create(conn, "reader", [Scope.READ]))[0],
                "store-b": (await keys.create(conn, "pos-b", [Scope.READ, Scope.RESERVE],
                                              ["ST-B"]))[0],
                "small": (await keys.create(conn, "small", [Scope.READ, Scope.RESERVE],
                                            rate_limit=2))[0],
            }
        try:
            yield Side(server, pool, tokens)
        finally:
            await pool.close()


@pytest.fixture
async def other_database(pg_url: str) -> AsyncIterator[str]:
    """A second database from the suite's template, for the compiled side."""
    name = f"inv_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    try:
        yield _with_database(pg_url, name)
    finally:
        await _admin(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def sides(settings: Settings, other_database: str) -> AsyncIterator[tuple[Side, Side]]:
    assert settings.database_url
    async for normal in _side(settings, settings.database_url, False):
        async for compiled in _side(settings, other_database, True):
            yield normal, compiled


async def _send(session: aiohttp.ClientSession, side: Side, document: str,
                variables: dict[str, Any], key: str | None) -> tuple[int, bytes]:
    token = {"admin": ADMIN["Authorization"].split()[1], None: None}.get(key, side.tokens.get(
        key or ""))
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(side.server.graphql_url, headers=headers, data=orjson.dumps(
            {"query": document, "variables": variables})) as response:
        body = await response.read()
    for found in UUID.findall(body):
        side.held.append(found.decode())
    return response.status, side.normalized(body)


def _cases(field: str) -> list[tuple[dict[str, Any], str | None, bool]]:
    """(input, key, hold first): the plain case, business failures, refusals."""
    if field == "reserve":
        ok = {"sku": "SKU-1", "quantity": 1, "location": "WH-A", "reference": "c-1"}
        return [(ok, "admin", False), ({**ok, "quantity": 10**6}, "admin", False),
                ({**ok, "quantity": 0}, "admin", False), ({**ok, "sku": "NOPE"}, "admin", False),
                ({"sku": "SKU-1", "quantity": 1}, "admin", False), (ok, None, False),
                (ok, "read", False), (ok, "store-b", False),
                ({**ok, "ttlSeconds": -5}, "admin", False),
                # idempotency: the first result again, then the same key for another input
                ({**ok, "idempotencyKey": "k-1"}, "admin", False),
                ({**ok, "idempotencyKey": "k-1"}, "admin", False),
                ({**ok, "idempotencyKey": "k-1", "quantity": 2}, "admin", False)]
    if field == "reserveLines":
        line = {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}
        return [({"lines": [line]}, "admin", False),
                ({"lines": [{**line, "quantity": 10**6}]}, "admin", False),
                ({"lines": [line]}, None, False), ({"lines": [line]}, "store-b", False)]
    extra = {"ttlSeconds": 120} if field == "extendReservation" else {}
    return [({"reservationId": "HELD", **extra}, "admin", True),
            ({"reservationId": "LAST", **extra}, "admin", False),  # again: not active
            ({"reservationId": "not-an-id", **extra}, "admin", False),
            ({"reservationId": NOPE, **extra}, "admin", False),
            ({"reservationId": "HELD", **extra}, None, True),
            ({"reservationId": "HELD", **extra}, "read", True),
            ({"reservationId": "HELD", **extra}, "store-b", True)]


async def _both(session: aiohttp.ClientSession, sides: tuple[Side, Side], document: str,
                given: dict[str, Any], key: str | None, hold: bool) -> tuple[int, bytes]:
    answers = []
    for side in sides:
        if hold:
            await _send(session, side, HOLD, {"i": {"sku": "SKU-1", "quantity": 1,
                                                    "location": "WH-A"}}, "admin")
        value = {k: side.held[-1] if v in ("HELD", "LAST") else v for k, v in given.items()}
        variables = {"i": value, "more": True} if "$more" in document else {"i": value}
        answers.append(await _send(session, side, document, variables, key))
    assert answers[1] == answers[0], (document, given, key, answers)
    return answers[0]


def _requests() -> float:
    return REGISTRY.get_sample_value("inventory_graphql_requests_total", {
        "operation": "reserve", "type": "mutation", "outcome": "ok"}) or 0


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("inventory_compiled_holds_total", {"outcome": outcome}) or 0


async def test_every_hold_shape_has_the_normal_paths_bytes(sides: tuple[Side, Side]) -> None:
    found = shapes()
    assert len(found) >= 35
    compiled_before = _count("compiled")
    statuses: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for field, document in found:
            for given, key, hold in _cases(field):
                status, body = await _both(session, sides, document, given, key, hold)
                for code in (b"UNAUTHENTICATED", b"FORBIDDEN", b"INSUFFICIENT_STOCK",
                             b"INVALID_INPUT", b"NOT_FOUND", b"RESERVATION_NOT_ACTIVE",
                             b"IDEMPOTENCY_KEY_REUSED"):
                    if code in body:
                        statuses[code.decode()] = statuses.get(code.decode(), 0) + 1
    # every refusal happened on both paths, and the compiled one answered many plainly
    assert {"UNAUTHENTICATED", "FORBIDDEN", "INSUFFICIENT_STOCK", "INVALID_INPUT",
            "RESERVATION_NOT_ACTIVE", "IDEMPOTENCY_KEY_REUSED"} <= statuses.keys(), statuses
    assert _count("compiled") - compiled_before >= 100
    for side in sides:
        await assert_consistent(side.pool)


async def test_a_rate_limited_key_is_refused_on_the_compiled_path(
        sides: tuple[Side, Side]) -> None:
    """Ten at once from a key allowed 2 a second: they span at most two one-second windows,
    so at most four are served; the refusals are alike on both paths."""
    given = {"i": {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}}
    refusals = []
    async with aiohttp.ClientSession() as session:
        for side in sides:
            await _send(session, side, "{ __typename }", {}, "small")  # the key is looked up
            answers = await asyncio.gather(*(_send(session, side, reserve_shape(), given,
                                                   "small") for _ in range(10)))
            assert sum(status == 200 for status, _ in answers) <= 4
            refusals.append({answer for answer in answers if answer[0] == 429})
    assert len(refusals[1]) == 1 and refusals[1] == refusals[0]


async def test_concurrent_compiled_reserves_never_oversell(sides: tuple[Side, Side]) -> None:
    _, compiled = sides
    async with aiohttp.ClientSession() as session:
        client = GraphQLClient(compiled.server.graphql_url, session, ADMIN)
        await set_stock(client, "SKU-2", "WH-A", 20)
        before, requests_before = _count("compiled"), _requests()
        answers = await asyncio.gather(*(client.data(
            """mutation($i: ReserveInput!) { reserve(input: $i) { reservation { id }
               level { available } userErrors { code } } }""",
            {"i": {"sku": "SKU-2", "quantity": 1, "location": "WH-A"}}) for _ in range(60)))
    held = [a for a in answers if a["reserve"]["reservation"] is not None]
    refused = [a for a in answers if a["reserve"]["userErrors"] == [
        {"code": "INSUFFICIENT_STOCK"}]]
    assert len(held) == 20 and len(refused) == 40
    assert sorted(a["reserve"]["level"]["available"] for a in held) == list(range(20))
    assert _count("compiled") - before == 60
    # the operation's metrics (and its log line, from the same extension) as on the normal path
    assert (_requests() - requests_before) >= 60
    await assert_consistent(compiled.pool)


async def test_a_document_over_the_cost_limit_is_refused_on_the_compiled_path(
        settings: Settings, other_database: str) -> None:
    """A reserve selecting more objects than MAX_QUERY_COST allows: refused before it runs,
    with the normal path's bytes, and nothing held."""
    limited = dataclasses.replace(settings, max_query_cost=3)
    document = """mutation($i: ReserveInput!) { reserve(input: $i) {
      reservation { id } level { available } userErrors { code } } }"""  # costs 4
    given = {"i": {"sku": "SKU-1", "quantity": 1, "location": "WH-A"}}
    assert limited.database_url
    answers = []
    async with aiohttp.ClientSession() as session:
        async for normal in _side(limited, limited.database_url, False):
            async for compiled in _side(limited, other_database, True):
                for side in (normal, compiled):
                    answers.append(await _send(session, side, document, given, "admin"))
                    async with side.pool.acquire() as conn:
                        assert await conn.fetchval("SELECT count(*) FROM reservations") == 0
    assert answers[1] == answers[0], answers
    assert b"QUERY_TOO_COMPLEX" in answers[0][1] and b'"limit":"cost"' in answers[0][1], answers
