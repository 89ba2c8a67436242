"""A bulk of BULK_MAX_LINES lines with keys and references, passed as variables, goes through
the real HTTP server in one call (its body over MAX_BODY_BYTES); other bodies keep that cap."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from settings import Settings
from tests.api.test_bulk_stock import BULK_ADJUST, BULK_SET, assert_ledger_figures
from tests.client import GraphQLClient
from tests.conftest import RunningServer

MAX_BODY_BYTES = 128 * 1024
MAX_BULK_BODY_BYTES = 1024 * 1024


@pytest.fixture
async def skus(catalogue: GraphQLClient, pool: asyncpg.Pool) -> list[str]:
    codes = [f"ERP-SKU-{n:04d}" for n in range(250)]
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO skus (code, name) SELECT c, c FROM unnest($1::text[]) c",
                           codes)
    return codes


def _lines(skus: list[str], run: str) -> list[dict[str, object]]:
    return [{"sku": skus[n % len(skus)], "location": ("WH-A", "ST-B")[n // len(skus) % 2],
             "delta": 1 + n % 7, "reason": "RESTOCK",
             "idempotencyKey": f"erp-sync-{run}-2026-12-07T21:00:00Z-line-{n:05d}",
             "reference": f"purchase-order-2026-12-{run}-receipt-line-{n:05d}"}
            for n in range(1000)]


async def _post(server: RunningServer, client: GraphQLClient, body: object) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(
        server.graphql_url, data=body,
        headers={"Content-Type": "application/json", **client.headers},
    ) as response:
        return response.status, await response.read()


@pytest.mark.parametrize("atomic", [False, True], ids=["per-line", "atomic"])
async def test_1000_lines_in_one_call(
    server: RunningServer, catalogue: GraphQLClient, skus: list[str], pool: asyncpg.Pool,
    atomic: bool,
) -> None:
    lines = _lines(skus, "a" if atomic else "p")
    body = json.dumps({"query": BULK_ADJUST, "variables": {"i": {"lines": lines,
                                                                  "atomic": atomic}}}).encode()
    assert len(body) > MAX_BODY_BYTES
    started = time.perf_counter()
    status, answer = await _post(server, catalogue, body)
    took = time.perf_counter() - started
    assert status == 200, answer[:300]
    payload = json.loads(answer)["data"]["bulkAdjustStock"]
    assert payload["userErrors"] == []
    assert len(payload["results"]) == 1000
    assert all(r["level"] is not None for r in payload["results"])
    assert took < 5, took
    again = await catalogue.data(BULK_ADJUST, {"i": {"lines": lines, "atomic": atomic}})
    assert again["bulkAdjustStock"]["results"] == payload["results"]  # replayed, not re-applied
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM stock_events WHERE reference LIKE "
                                   "'purchase-order-%'") == 1000
    await assert_ledger_figures(pool)


async def test_an_erp_syncs_10000_levels_in_10_calls(
    catalogue: GraphQLClient, skus: list[str], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("""INSERT INTO locations (code, name, kind)
            SELECT 'L-' || n, 'L-' || n, 'STORE' FROM generate_series(1, 40) n""")
    levels = [(sku, f"L-{n}") for sku in skus for n in range(1, 41)]
    assert len(levels) == 10_000
    for call in range(10):
        chunk = levels[call * 1000:(call + 1) * 1000]
        data = await catalogue.data(BULK_SET, {"i": {"lines": [
            {"sku": sku, "location": where, "onHand": 5, "idempotencyKey": f"s-{sku}-{where}"}
            for sku, where in chunk]}})
        assert data["bulkSetStock"]["userErrors"] == []
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM stock_levels l JOIN locations lo ON lo.id = l.location_id "
            "WHERE lo.code LIKE 'L-%' AND l.on_hand = 5") == 10_000
    await assert_ledger_figures(pool)


async def test_other_bodies_keep_the_cap(
    server: RunningServer, catalogue: GraphQLClient, skus: list[str]
) -> None:
    padded = json.dumps({"query": "{ __typename }", "pad": "x" * 200_000}).encode()
    status, answer = await _post(server, catalogue, padded)
    assert status == 413
    assert f"larger than {MAX_BODY_BYTES} bytes" in answer.decode()
    pad = "x" * 200_000
    for pretender in (  # naming a bulk mutation without being one earns nothing
        {"query": "# bulkSetStock\n{ __typename }", "pad": pad},
        {"query": '{ sku(code: "bulkAdjustStock") { code } }', "pad": pad},
        {"query": BULK_ADJUST + " query Other { __typename }", "operationName": "Other",
         "pad": pad},
        {"query": 'mutation { bulkSetStock(input: {lines: []}) { applied } '
                  'adjustStock(input: {sku: "A", location: "B", delta: 1, reason: RESTOCK}) '
                  '{ level { onHand } } }', "pad": pad},
    ):
        status, answer = await _post(server, catalogue, json.dumps(pretender).encode())
        assert status == 413, pretender["query"]
        assert f"larger than {MAX_BODY_BYTES} bytes" in answer.decode()
    lines = _lines(skus, "x") * 8
    huge = json.dumps({"query": BULK_ADJUST, "variables": {"i": {"lines": lines}}}).encode()
    assert len(huge) > MAX_BULK_BODY_BYTES
    status, _ = await _post(server, catalogue, huge)  # refused by its Content-Length
    assert status == 413

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start:start + 64 * 1024]

    status, answer = await _post(server, catalogue, chunked())
    assert status == 413
    assert f"larger than {MAX_BULK_BODY_BYTES} bytes" in answer.decode()
    over = await catalogue.data(BULK_ADJUST, {"i": {"lines": _lines(skus, "y") + [
        {"sku": "SKU-1", "location": "WH-A", "delta": 1, "reason": "RESTOCK"}]}})
    assert [e["code"] for e in over["bulkAdjustStock"]["userErrors"]] == ["INVALID_INPUT"]


async def test_a_bulk_call_counts_one_request_per_100_lines(
    settings: Settings, catalogue: GraphQLClient, pool: asyncpg.Pool
) -> None:
    ghosts = {"lines": [{"sku": "GHOST", "location": "WH-A", "delta": 1, "reason": "RESTOCK"}
                        for _ in range(1000)]}  # cheap: refused per line, nothing written
    limited = RunningServer(dataclasses.replace(settings, rate_limit_per_key=12))
    async with limited, aiohttp.ClientSession() as session:
        client = GraphQLClient(limited.graphql_url, session, catalogue.headers)
        codes = []
        for _ in range(4):  # 40 requests' worth within two one-second windows of 12 at most
            body = await client.post(BULK_ADJUST, {"i": ghosts})
            codes.append(body["errors"][0]["extensions"]["code"] if "errors" in body
                         else "ok")
    assert "RATE_LIMITED" in codes and "ok" in codes, codes


async def test_the_full_path_reads_a_bulk_body_too(
    server: RunningServer, catalogue: GraphQLClient
) -> None:
    ghosts = [{**line, "sku": "GHOST"} for line in _lines(["X"], "o")]
    body = json.dumps({"query": BULK_ADJUST, "variables": {"i": {"lines": ghosts}}}).encode()
    assert len(body) > MAX_BODY_BYTES
    async with aiohttp.ClientSession() as session, session.post(
        server.graphql_url, data=body, headers={  # an Origin sends it past the fast path
            "Content-Type": "application/json", "Origin": "http://erp.example",
            **catalogue.headers},
    ) as response:
        assert response.status == 200
        payload = (await response.json())["data"]["bulkAdjustStock"]
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"] * 1000
