"""deploy/grafana/inventory-dashboard.json is what deploy/grafana/dashboard.py generates, every
panel is scoped by the job/instance variables, and every metric its queries and the alert rules
read is on a real server's /metrics (a process with traffic, an SSE subscriber and a webhook)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml

from domain.model import LocationKind
from service import cataloguing
from service.inventory import Inventory
from tests.alert_checks import CONDITIONAL, ROOT, RULES, exported_names, metric_names, missing
from tests.conftest import ADMIN, ADMIN_KEY, database_name
from tests.integration.test_webhook_delivery import add_endpoint
from tests.processes import ServerProcess
from tests.webhook_receiver import Receiver, new_secret

READ = '{ sku(code: "DASH-1") { code available } }'
GENERATOR = ROOT / "deploy" / "grafana" / "dashboard.py"
ADJUST = """mutation { adjustStock(input: {sku: "DASH-1", location: "W", delta: 5,
            reason: RESTOCK}) { userErrors { code } } }"""


def generator() -> ModuleType:
    pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk is not "
                        "installed (requirements.lock has it)")
    spec = importlib.util.spec_from_file_location("inventory_dashboard", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    module = generator()
    found: dict[str, Any] = json.loads(module.OUTPUT.read_text())
    return found


def queries(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def dashboard_metrics() -> set[str]:
    return {name for expr in queries(dashboard()) for name in metric_names(expr)}


def rule_metrics() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {name for group in groups for rule in group["rules"]
            for name in metric_names(rule["expr"])}


def test_checked_in_json_is_the_generated_one() -> None:
    module = generator()
    assert module.OUTPUT.read_text() == module.render(), "stale: run `make dashboard`"


def test_panels_cover_the_issue_and_follow_the_variables() -> None:
    board = dashboard()
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= names
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"] and 'instance=~"$instance"' in target["expr"]
    used = dashboard_metrics()
    for wanted in ("inventory_graphql_requests_total", "inventory_graphql_request_seconds_bucket",
                   "inventory_reservations_total", "inventory_stock_events_total",
                   "inventory_subscriptions", "inventory_feed_lag_seconds_bucket",
                   "inventory_partner_events_total", "inventory_sink_lag_seconds",
                   "inventory_holds_overdue", "inventory_ingest_dead_lettered_total"):
        assert wanted in used, wanted


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@pytest.fixture
async def server(database_url: str, inventory: Inventory, pool: asyncpg.Pool,
                 receiver: Receiver) -> AsyncIterator[ServerProcess]:
    await cataloguing.upsert_location(inventory, code="W", name="W", kind=LocationKind.WAREHOUSE)
    await cataloguing.upsert_sku(inventory, code="DASH-1", name="DASH-1", low_stock_threshold=0)
    secret = new_secret()
    await add_endpoint(pool, receiver.add("hook", secret), secret)
    process = ServerProcess({
        "DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY, "LOG_LEVEL": "WARNING",
        "FEED_CHANNEL_PREFIX": database_name(database_url),
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true", "WEBHOOK_POLL_INTERVAL": "100ms",
        "PARTNER_SWEEP_INTERVAL": "100ms", "LEDGER_CHECK_INTERVAL": "1s"})
    await process.start()
    try:
        yield process
    finally:
        process.stop()


async def scrape_after_traffic(server: ServerProcess, receiver: Receiver) -> str:
    """/metrics once a query, a stock change seen by an SSE subscriber and its webhook
    delivery have all happened."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(f"{server.url}/skus/DASH-1/events") as stream:
            assert stream.status == 200
            async with session.post(server.graphql_url, json={"query": ADJUST},
                                    headers=ADMIN) as response:
                assert (await response.json())["data"]["adjustStock"]["userErrors"] == []
            async with asyncio.timeout(15):
                async for line in stream.content:
                    if line.startswith(b"event: stock"):
                        break
        await receiver.until(lambda: bool(receiver.delivered("hook")), timeout=15)
        async with session.post(server.graphql_url, json={"query": READ}) as response:
            assert (await response.json())["data"]["sku"]["available"] == 5
        # the receiver has the webhook before the server has settled it (and counted it)
        async with asyncio.timeout(15):
            while True:
                async with session.get(f"{server.url}/metrics") as response:
                    assert response.status == 200
                    text = await response.text()
                if any(line.startswith("inventory_partner_events_total{")
                       and 'sink="webhooks"' in line and 'outcome="delivered"' in line
                       for line in text.splitlines()):
                    return text
                await asyncio.sleep(0.1)


async def test_every_metric_the_dashboard_and_rules_read_is_exported(
    server: ServerProcess, receiver: Receiver,
) -> None:
    exported = exported_names(await scrape_after_traffic(server, receiver))
    used = dashboard_metrics() | rule_metrics()
    assert not missing(used, exported), (
        f"read by the dashboard or the rules, not exported: {sorted(missing(used, exported))}")
    assert set(CONDITIONAL) <= used, "the allow-list holds only names something reads"
    # the checker itself sees a name that is exported nowhere
    assert missing({"inventory_no_such_metric_total"}, exported) == {
        "inventory_no_such_metric_total"}


def test_provisioning_examples_load_a_prometheus_source_and_a_file_provider() -> None:
    provisioning = GENERATOR.parent / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert [s["type"] for s in sources["datasources"]] == ["prometheus"]
    providers = yaml.safe_load((provisioning / "dashboards" / "inventory.yml").read_text())
    assert [(p["type"], bool(p["options"]["path"])) for p in providers["providers"]] == [
        ("file", True)]
    # the dashboard asks for its data source through a variable of that type
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
