"""The operator console (/console) in a real headless Chromium: a setStock made through the API
shows in the live table and in the SKU page's chart and ledger within 3 s; the webhooks tab
shows an endpoint's dead delivery with the admin key and asks before it retries.

Screenshots go to artifacts/; with UPDATE_SCREENSHOTS=1 also to docs/ (the README shows them)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Dialog, Page, async_playwright, expect

from tests.api.conftest import set_stock
from tests.api.test_bundle_reads import hold
from tests.api.test_demo_browser import ARGS, ARTIFACTS, CHROMIUM
from tests.api.test_mutations import ADJUST, call
from tests.api.test_webhooks_api import disabled_endpoint, fanned_out, insert_deliveries, settings
from tests.client import GraphQLClient
from tests.conftest import ADMIN_KEY, RunningServer

__all__ = ["settings"]  # the fixture: webhooks to 127.0.0.1 allowed

DOCS = Path(__file__).resolve().parents[2] / "docs"
LIVE_MS = 3000  # a change must reach the console within this
STOCK = """mutation {
  c: upsertLocation(input: {code: "WH-C", name: "Warehouse C", kind: WAREHOUSE}) { userErrors { code } }
  s3: upsertSku(input: {code: "SKU-3", name: "Sprocket", lowStockThreshold: 4}) { userErrors { code } }
  s4: upsertSku(input: {code: "SKU-4", name: "Flange"}) { userErrors { code } }
}"""
COMMIT = """mutation($i: CommitReservationInput!) { commitReservation(input: $i) {
  userErrors { code } } }"""
EXPECT = """mutation($i: ExpectIncomingInput!) { expectIncoming(input: $i) {
  incoming { id } userErrors { code } } }"""
RECEIVE = """mutation($i: ReceiveIncomingInput!) { receiveIncoming(input: $i) {
  userErrors { code } } }"""

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium at /usr/bin/chromium or `chromium` on PATH"
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def shop(catalogue: GraphQLClient) -> GraphQLClient:
    """The catalogue (SKU-1: WH-A 10, ST-B 4, threshold 3), a third location, two more SKUs."""
    data = await catalogue.data(STOCK)
    assert all(v["userErrors"] == [] for v in data.values())
    for sku, location, on_hand in [("SKU-2", "WH-A", 30), ("SKU-2", "WH-C", 0),
                                   ("SKU-3", "WH-A", 3), ("SKU-3", "ST-B", 12),
                                   ("SKU-4", "WH-C", 50)]:
        await set_stock(catalogue, sku, location, on_hand)
    return catalogue


async def open_console(browser: Browser, server: RunningServer, errors: list[str],
                       requests: list[str], path: str = "") -> Page:
    page = await browser.new_page(viewport={"width": 1180, "height": 720})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{server.url}/console{path}")
    return page


async def shows(page: Page, selector: str, text: str, timeout: float = LIVE_MS) -> None:
    """Polls on a timer: requestAnimationFrame, the default, is throttled in a page not in front."""
    await page.wait_for_function(
        "([s, t]) => { const n = document.querySelector(s); return n && n.textContent.trim() === t }",
        arg=[selector, text], timeout=timeout, polling=10,
    )


def cell(sku: str, location: str, field: str) -> str:
    return f'#stock-rows tr[data-sku="{sku}"][data-location="{location}"] td.{field}'


async def charted(page: Page, on_hand: int, points: int) -> None:
    await page.wait_for_function(
        """([onHand, points]) => { const s = window.consoleState.sku;
             return s && s.chart && s.chart[0].length === points
               && s.chart[1][points - 1] === onHand }""",
        arg=[on_hand, points], timeout=LIVE_MS, polling=10,
    )


async def save(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOCS / name)


async def test_a_set_stock_shows_in_the_table_and_the_chart_within_3_s(
    server: RunningServer, shop: GraphQLClient, browser: Browser
) -> None:
    errors: list[str] = []
    page = await open_console(browser, server, errors, [])
    await shows(page, cell("SKU-1", "WH-A", "onHand"), "10", timeout=10000)
    await shows(page, "#table-live", "live", timeout=10000)
    assert await page.get_attribute('tr[data-sku="SKU-2"][data-location="WH-C"]', "class") == "out"
    assert await page.get_attribute('tr[data-sku="SKU-3"][data-location="WH-A"]', "class") == "low"

    started = time.perf_counter()
    await set_stock(shop, "SKU-1", "WH-A", 25)
    await shows(page, cell("SKU-1", "WH-A", "onHand"), "25")
    table_latency = time.perf_counter() - started
    await hold(shop, "SKU-1", "ST-B", 2)  # ST-B: 4 on hand, 2 reserved, 2 available: low
    await shows(page, cell("SKU-1", "ST-B", "reserved"), "2")
    assert await page.get_attribute('tr[data-sku="SKU-1"][data-location="ST-B"]', "class") == "low"

    # filters: a location, a status, a search
    await page.select_option("#location-filter", "WH-C")
    await expect(page.locator("#stock-rows tr")).to_have_count(2)
    await page.select_option("#status-filter", "OUT_OF_STOCK")
    await expect(page.locator("#stock-rows tr")).to_have_count(1)
    assert await page.get_attribute("#stock-rows tr", "data-sku") == "SKU-2"
    await page.select_option("#location-filter", "")
    await page.select_option("#status-filter", "")
    await page.fill("#search", "sprock")
    await expect(page.locator("#stock-rows tr")).to_have_count(2)
    await page.fill("#search", "")
    await expect(page.locator("#stock-rows tr")).to_have_count(7)
    await shows(page, "#table-live", "live")
    await save(page, "console-table.png")

    # the SKU page: ledger charted, then live
    reservation = await hold(shop, "SKU-1", "WH-A", 3)
    await shop.data(COMMIT, {"i": {"reservationId": reservation}})
    sale = await call(shop, ADJUST, "adjustStock",
                      {"sku": "SKU-1", "location": "ST-B", "delta": -1, "reason": "SALE"})
    assert sale["userErrors"] == []
    expected = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    incoming = (await shop.data(EXPECT, {"i": {"sku": "SKU-1", "location": "WH-A",
                                               "quantity": 6, "expectedAt": expected}}))
    await shop.data(RECEIVE, {"i": {"incomingId": incoming["expectIncoming"]["incoming"]["id"]}})
    # sequences: 1-2 catalogue, 3 set 25, 4 hold, 5 hold, 6 commit, 7 sale, 8 incoming, 9 receipt
    await page.click('#stock-rows tr[data-sku="SKU-1"] a')
    await charted(page, 25 - 3 - 1 + 6 + 4, 9)
    await shows(page, "#sku-live", "live")
    started = time.perf_counter()
    await set_stock(shop, "SKU-1", "WH-A", 40)  # WH-A had 28: onHand 31 -> 43
    await charted(page, 43, 10)
    await shows(page, '#sku-events tr[data-sequence="10"] td:nth-child(3)', "SET")
    chart_latency = time.perf_counter() - started
    markers = await page.evaluate("window.consoleState.sku.chart.slice(3).map("
                                  "(c) => c.filter((v) => v !== null).length)")
    assert markers == [3, 1, 1, 0]  # reservations (2 holds, the commit), the sale, the receipt
    assert await page.text_content('#sku-levels tr[data-location="WH-A"] td.onHand') == "40"
    await save(page, "console-sku.png")
    print(f"\nconsole latency: table {table_latency * 1000:.0f} ms, "
          f"chart {chart_latency * 1000:.0f} ms")
    assert table_latency < LIVE_MS / 1000 and chart_latency < LIVE_MS / 1000
    assert errors == []


async def test_the_webhooks_tab_shows_dead_deliveries_and_asks_before_a_retry(
    server: RunningServer, shop: GraphQLClient, browser: Browser, pool: asyncpg.Pool
) -> None:
    await fanned_out(pool)  # the shop's events go to no endpoint
    endpoint = await disabled_endpoint(shop)
    await insert_deliveries(pool, int(endpoint), ["DELIVERED", "DEAD", "PENDING"])
    errors: list[str] = []
    requests: list[str] = []
    page = await open_console(browser, server, errors, requests, "#/webhooks")
    await expect(page.locator("#webhook-list")).to_contain_text("admin only")
    await page.fill("#key-input", ADMIN_KEY)
    await page.press("#key-input", "Enter")
    card = page.locator(f'article[data-endpoint="{endpoint}"]')
    await expect(card.locator(".dead-count")).to_have_text("1")
    await expect(card.locator(".backlog")).to_have_text("1")
    await expect(card.locator(".last-error")).to_have_text(
        "Last error: HTTP 500 from the endpoint")
    await expect(card.locator(".state")).to_have_text("disabled")
    await expect(card.locator("table.dead tbody tr")).to_have_count(1)
    assert await page.evaluate("sessionStorage.getItem('inventoryConsoleKey')") == ADMIN_KEY
    await save(page, "console-webhooks.png")

    asked: list[str] = []

    async def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda d: answer(d, False))
    await card.locator("button.retry").click()
    async with asyncio.timeout(5):
        while not asked:
            await asyncio.sleep(0.01)
    await page.wait_for_function("!document.querySelector('.message.error')")
    assert "dead deliveries" in asked[0]
    statuses = "SELECT array_agg(status ORDER BY id) FROM webhook_deliveries"
    assert await pool.fetchval(statuses) == ["DELIVERED", "DEAD", "PENDING"]  # declined

    page.once("dialog", lambda d: answer(d, True))
    await card.locator("button.retry").click()
    await expect(card.locator(".dead-count")).to_have_text("0")
    assert await pool.fetchval(statuses) == ["DELIVERED", "PENDING", "PENDING"]
    page.once("dialog", lambda d: answer(d, True))
    await card.locator("button.enable").click()
    await expect(card.locator(".state")).to_have_text("enabled")
    assert len(asked) == 3 and "Re-enable" in asked[2]

    await page.click('nav a[data-tab="stock"]')  # with a key, the feed goes through fetch()
    await shows(page, "#table-live", "live", timeout=10000)
    await set_stock(shop, "SKU-4", "WH-C", 7)
    await shows(page, cell("SKU-4", "WH-C", "onHand"), "7")
    assert not [url for url in requests if ADMIN_KEY in url]  # never in a URL
    assert errors == []
