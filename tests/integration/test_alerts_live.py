"""The alert rules in a real Prometheus scraping a real server process (every 1 s, rules every
1 s; a copy of the rules with `for:` cut to 1 s, the expressions unchanged): an idle healthy
server fires nothing; reserves refused INSUFFICIENT_STOCK fire InventoryOversellAttempts; a hold
left past its expiry by a stalled expiry loop fires InventoryHoldsNotExpiring."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from domain.model import LocationKind
from service import cataloguing, stocking
from service.inventory import Inventory
from tests.alert_checks import RULES, binary
from tests.conftest import ADMIN, ADMIN_KEY, database_name
from tests.processes import ServerProcess
from tests.prometheus_server import PrometheusServer

# rate() over the rule's 5 m window: above 1 a second takes more than 300 refusals
REFUSALS = 400
RESERVE = """mutation($n: String!) { reserve(input: {sku: "LAST-ONE", location: "W", quantity: 1,
             reference: $n}) { reservation { id } userErrors { code } } }"""


@pytest.fixture
def extra_env() -> dict[str, str]:
    return {}


@pytest.fixture
def prometheus_binary() -> str:
    return binary("prometheus")  # skips before any server starts


@pytest.fixture
async def server(database_url: str, inventory: Inventory, extra_env: dict[str, str],
                 prometheus_binary: str) -> AsyncIterator[ServerProcess]:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="LAST-ONE", name="The last one",
                                 low_stock_threshold=0)
    await stocking.set_stock(inventory, sku="LAST-ONE", location="W", on_hand=1,
                             safety_stock=None, expected_version=None, reference=None)
    process = ServerProcess({"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY,
                             "FEED_CHANNEL_PREFIX": database_name(database_url),
                             "LEDGER_CHECK_INTERVAL": "1s", "LOG_LEVEL": "WARNING",
                             **extra_env})
    await process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def prometheus(server: ServerProcess, tmp_path: Path,
                     prometheus_binary: str) -> AsyncIterator[PrometheusServer]:
    rules = tmp_path / "inventory.rules.yml"
    rules.write_text(re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>1s", RULES.read_text()))
    async with PrometheusServer(prometheus_binary, tmp_path, [f"127.0.0.1:{server.port}"],
                                rules) as running:
        yield running


async def reserve(session: aiohttp.ClientSession, url: str, n: int) -> str | None:
    """One reserve of the only unit; the refusal's code, or None if it was held."""
    async with session.post(url, json={"query": RESERVE, "variables": {"n": f"r{n}"}},
                            headers=ADMIN) as response:
        body = await response.json()
    errors = body["data"]["reserve"]["userErrors"]
    return str(errors[0]["code"]) if errors else None


@pytest.mark.timeout(180)
async def test_idle_server_fires_nothing_then_refused_reserves_fire_oversell(
    server: ServerProcess, prometheus: PrometheusServer,
) -> None:
    async def scraped() -> bool:
        found = await prometheus.api("query", query='up{job="inventory"} == 1 and on (instance) '
                                     "inventory_ledger_check_timestamp_seconds > 0")
        return bool(found["result"])

    await prometheus.until("the server is scraped, its ledger checked", scraped)
    idle_since = time.time() + 2  # a few scrapes and evaluations of an idle server
    await prometheus.until("every rule group evaluated", lambda: prometheus.evaluated_since(
        idle_since))
    assert await prometheus.alerts() == {}

    async with aiohttp.ClientSession() as session:
        assert await reserve(session, server.graphql_url, 0) is None
        refusals = await asyncio.gather(*(reserve(session, server.graphql_url, n)
                                          for n in range(1, REFUSALS + 1)))
    assert set(refusals) == {"INSUFFICIENT_STOCK"}

    async def oversell_firing() -> bool:
        return (await prometheus.alerts()).get("InventoryOversellAttempts") == "firing"

    started = time.monotonic()
    await prometheus.until("InventoryOversellAttempts firing", oversell_firing, seconds=60)
    firing = {n for n, state in (await prometheus.alerts()).items() if state == "firing"}
    assert firing == {"InventoryOversellAttempts"}
    print(f"InventoryOversellAttempts firing {time.monotonic() - started:.1f} s after the "
          "refusals")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("extra_env", [{"EXPIRY_INTERVAL_MS": "3600000"}])  # one sweep, at start
async def test_a_hold_left_past_its_expiry_fires_holds_not_expiring(
    server: ServerProcess, prometheus: PrometheusServer, pool: asyncpg.Pool,
) -> None:
    async with aiohttp.ClientSession() as session:
        assert await reserve(session, server.graphql_url, 0) is None
    async with pool.acquire() as conn:  # its expiry passed 90 s ago; the loop sleeps for 1 h
        await conn.execute("UPDATE reservations SET expires_at = now() - interval '90 seconds'")

    async def holds_firing() -> bool:
        return (await prometheus.alerts()).get("InventoryHoldsNotExpiring") == "firing"

    await prometheus.until("InventoryHoldsNotExpiring firing", holds_firing, seconds=60)
    found = await prometheus.api("query", query='inventory_holds_overdue{measure="count"}')
    assert [float(r["value"][1]) for r in found["result"]] == [1.0]
