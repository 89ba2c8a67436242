"""The metrics added for the alert rules, on real PostgreSQL: the in-server ledger check counts
drifting levels (one instance at a time), overdue holds are read at scrape time, and every HTTP
response is counted by status class, a crash before any answer as 5xx."""

from __future__ import annotations

import time

import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from domain.model import LocationKind
from ops.metrics import LEDGER_DRIFT
from service import cataloguing, overdue_holds, reserving, stocking
from service.inventory import Inventory
from service.ledger_watch import check_once
from store import leases
from tests.conftest import RunningServer
from web.http_metrics import ResponseCounter


async def stocked(inventory: Inventory) -> None:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    for code in ("A", "B"):
        await cataloguing.upsert_sku(inventory, code=code, name=code, low_stock_threshold=0)
        await stocking.set_stock(inventory, sku=code, location="W", on_hand=10,
                                 safety_stock=None, expected_version=None, reference=None)


async def test_ledger_check_counts_drifting_levels(inventory: Inventory,
                                                   pool: asyncpg.Pool) -> None:
    await stocked(inventory)
    before = time.time()
    assert await check_once(pool) == 0
    assert sample("inventory_ledger_drift_levels") == 0
    assert sample("inventory_ledger_check_timestamp_seconds") >= before
    async with pool.acquire() as conn:  # a hand-made change the ledger does not know
        await conn.execute("UPDATE stock_levels SET on_hand = on_hand + 3")
    assert await check_once(pool) == 2
    assert sample("inventory_ledger_drift_levels") == 2


async def test_ledger_check_runs_on_one_instance_at_a_time(inventory: Inventory,
                                                           pool: asyncpg.Pool) -> None:
    await stocked(inventory)
    LEDGER_DRIFT.set(7)
    async with pool.acquire() as other, other.transaction():  # another instance's round
        assert await leases.try_xact_lock(other, leases.LEDGER_CHECK_LOCK)
        assert await check_once(pool) is None
    assert sample("inventory_ledger_drift_levels") == 7  # left as it was
    assert await check_once(pool) == 0


async def test_overdue_holds_are_counted_with_the_oldest_age(inventory: Inventory,
                                                            pool: asyncpg.Pool) -> None:
    await stocked(inventory)
    await overdue_holds.observe(pool)
    assert sample("inventory_holds_overdue", measure="count") == 0
    for code in ("A", "B"):
        outcome = await reserving.reserve(inventory, sku=code, location="W", quantity=1,
                                          ttl=600, reference=None)
        assert outcome.error is None
    async with pool.acquire() as conn:  # as if expiry had stalled for 90 s
        await conn.execute("UPDATE reservations SET expires_at = now() - interval '90 seconds' "
                           "WHERE sku_id = (SELECT id FROM skus WHERE code = 'A')")
    await overdue_holds.observe(pool)
    assert sample("inventory_holds_overdue", measure="count") == 1
    assert 90 <= sample("inventory_holds_overdue", measure="oldest_seconds") < 120


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} is not exported"
    return value


def responses(code: str) -> float:
    return sample("inventory_http_responses_total", code=code)


async def test_http_responses_are_counted_by_class(server: RunningServer) -> None:
    ok, client_errors = responses("2xx"), responses("4xx")
    async with aiohttp.ClientSession() as session:
        async with session.post(server.graphql_url, json={"query": '{ sku(code: "A") { code } }'}) as r:
            assert r.status == 200  # the fast path's answer
        async with session.get(f"{server.url}/no-such-page") as r:
            assert r.status == 404
        async with session.get(f"{server.url}/readyz") as r:
            assert r.status == 200
        assert responses("2xx") == ok + 2
        assert responses("4xx") == client_errors + 1
        async with session.get(f"{server.url}/metrics") as r:
            text = await r.text()
    assert 'inventory_ready{check="database"} 1.0' in text


async def test_an_app_that_raises_before_answering_counts_as_5xx() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    before = responses("5xx")
    with pytest.raises(RuntimeError):
        await ResponseCounter(broken)({"type": "http"}, _nothing, _ignore)
    assert responses("5xx") == before + 1


async def _nothing() -> dict[str, object]:
    return {"type": "http.request", "body": b""}


async def _ignore(message: object) -> None:
    return None
