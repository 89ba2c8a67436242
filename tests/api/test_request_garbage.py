"""What an HTTP operation read must be freed when its answer is built, not at the next full
garbage collection: graphql-core's execution context is a reference cycle that holds the
request's context, and with ops/gc_pacing.py full collections come minutes apart (a read-heavy
worker grew ~90 MB/s before Context.release). Both ways through the server: web/fast_path.py
and Strawberry's full path (a browser's request, with Origin)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import pytest

from tests.client import GraphQLClient
from tests.conftest import ADMIN, RunningServer

SKUS = 60
READ = "query($c: [String!]!) { skusByCode(codes: $c) { code onHand levels { available } } }"
ADJUST = """mutation($i: AdjustStockInput!) {
  adjustStock(input: $i) { level { available sku location { code } } userErrors { code } } }"""
ROUNDS = 10


@contextmanager
def cyclic_garbage() -> Iterator[Counter[str]]:
    """Every object the collector finds unreachable while the block runs, by type."""
    found: Counter[str] = Counter()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield found
        gc.collect()
        found.update(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


def domain_values(found: Counter[str]) -> dict[str, int]:
    return {name: n for name, n in found.items() if name.startswith("domain.")}


@pytest.fixture
async def stocked(server: RunningServer) -> list[str]:
    codes = [f"G-{n}" for n in range(SKUS)]
    async with aiohttp.ClientSession() as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await client.data("""mutation { upsertLocation(input: {code: "W", name: "W",
                             kind: WAREHOUSE}) { userErrors { code } } }""")
        for code in codes:
            data = await client.data(
                """mutation($s: UpsertSkuInput!, $i: SetStockInput!) {
                     upsertSku(input: $s) { userErrors { code } }
                     setStock(input: $i) { userErrors { code } } }""",
                {"s": {"code": code, "name": code}, "i": {"sku": code, "location": "W",
                                                          "onHand": 5}})
            assert data["setStock"]["userErrors"] == []
    return codes


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://shop.example"}],
                         ids=["fast path", "full path"])
async def test_reads_and_writes_leave_no_domain_values_to_the_collector(
    server: RunningServer, stocked: list[str], headers: dict[str, str]
) -> None:
    async with aiohttp.ClientSession(headers=headers) as session:
        client = GraphQLClient(server.graphql_url, session, ADMIN)
        await client.data(READ, {"c": stocked})  # warm: plans, prepared statements
        with cyclic_garbage() as found:
            for n in range(ROUNDS):
                data = await client.data(READ, {"c": stocked})
                assert len(data["skusByCode"]) == SKUS
                data = await client.data(ADJUST, {"i": {"sku": stocked[n], "location": "W",
                                                        "delta": 1, "reason": "RESTOCK"}})
                assert data["adjustStock"]["userErrors"] == []
    assert sum(found.values()) > 0, "the collector found nothing at all: the probe is broken"
    assert domain_values(found) == {}, (
        f"domain values left to the collector: {domain_values(found)}; "
        f"most common garbage: {found.most_common(8)}")
